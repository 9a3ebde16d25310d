#include "export_profile.h"
#include "pprof.h"
#include "profile.h"
#include "symbolizer.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Past this many stacks in the kernel's table it is emptied (16384 fit). */
#define STACKS_KEEP 8192

struct export_profiler {
	struct prof_pusher *push[2]; /* by enum prof_dest; NULL: not pushed to */
	struct ls_symbolizer *sym;
	unsigned int hz;
	int offcpu;
	uint64_t last_s;        /* Unix seconds: the interval's start */
};

static uint64_t unix_s(void)
{
	return (uint64_t)time(NULL);
}

static int session_stack(void *ctx, int32_t id, uint64_t *ips, size_t max, size_t *n)
{
	return ls_session_stack(ctx, id, ips, max, n);
}

int export_profiler_new(const char *pyroscope, const char *parca, unsigned int hz, int offcpu, prof_log_fn log,
			void *ctx, struct export_profiler **out)
{
	struct export_profiler *p = calloc(1, sizeof(*p));
	int r = 0;

	*out = NULL;
	if (!p)
		return -ENOMEM;
	p->hz = hz;
	p->offcpu = offcpu;
	p->last_s = unix_s();
	if (ls_symbolizer_new(NULL, &p->sym)) {
		free(p);
		return -ENOMEM;
	}
	if (pyroscope)
		r = prof_pusher_new(PROF_PYROSCOPE, pyroscope, log, ctx, &p->push[PROF_PYROSCOPE]);
	if (!r && parca)
		r = prof_pusher_new(PROF_PARCA, parca, log, ctx, &p->push[PROF_PARCA]);
	if (r) {
		export_profiler_free(p);
		return r;
	}
	*out = p;
	return 0;
}

/* The samples of pid among v[0..n), moved to the front; how many. */
static size_t only_pid(struct ls_stack_sample *v, size_t n, pid_t pid)
{
	size_t k = 0;

	for (size_t i = 0; i < n; i++) {
		if ((pid_t)v[i].key.pid != pid)
			continue;
		struct ls_stack_sample t = v[k];

		v[k++] = v[i];
		v[i] = t;
	}
	return k;
}

/* One target's samples as a gzipped pprof, queued under name. */
static void push_one(struct export_profiler *p, struct ls_session *s, const struct profile_target *t,
		     struct ls_stack_sample *v, size_t n, int offcpu, const char *name, uint64_t until)
{
	struct ls_pprof_opts po = {
		.sz = sizeof(po), .ntypes = 3,
		.types = { "samples", "cpu", "off_cpu" }, .units = { "count", "nanoseconds", "nanoseconds" },
		.period_type = "cpu", .period_unit = "nanoseconds", .period = (int64_t)(1000000000ull / p->hz),
		.time_nanos = (int64_t)(p->last_s * 1000000000ull),
		.duration_nanos = (int64_t)((until - p->last_s) * 1000000000ull),
		.default_type = offcpu ? 2 : 1,
	};
	struct profile_opts fo = { .period_ns = 1000000000ull / p->hz };
	struct ls_pyro_series ser = { name, t->service, t->comm, NULL, (int)t->pid };
	struct profile lines = { 0 };
	char *buf = NULL;
	size_t len = 0;
	uint64_t total = 0;
	FILE *f;

	if (!n || ls_pprof_new(&po, &fo.pp))
		return;
	f = open_memstream(&buf, &len);
	if (f && !profile_add(&lines, v, n, offcpu, session_stack, s, p->sym, &fo, &total) && !ls_pprof_write(fo.pp, f) &&
	    !fclose(f)) {
		for (int d = 0; d < 2; d++)
			if (p->push[d])
				prof_pusher_add(p->push[d], &ser, (const uint8_t *)buf, len, p->last_s, until, p->hz);
	} else if (f) {
		fclose(f);
	}
	free(buf);
	profile_clear(&lines);
	ls_pprof_free(fo.pp);
}

void export_profiler_push(struct export_profiler *p, struct ls_session *s, const struct profile_target *t, size_t n)
{
	uint64_t until = unix_s();

	for (int off = 0; off <= p->offcpu; off++) {
		struct ls_stack_sample *v = NULL;
		size_t nv = 0;

		if (ls_session_take_samples(s, off, &v, &nv))
			continue;
		for (size_t i = 0; i < n; i++) {
			size_t k = only_pid(v, nv, t[i].pid);

			push_one(p, s, &t[i], v, k, off, off ? "latscope_off_cpu" : "process_cpu", until);
		}
		free(v);
	}
	ls_session_trim_stacks(s, STACKS_KEEP);
	if (until > p->last_s)
		p->last_s = until;
}

int export_profiler_stats(struct export_profiler *p, enum prof_dest dest, struct prof_stats *out)
{
	if (!p->push[dest])
		return -ENOENT;
	prof_pusher_stats(p->push[dest], out);
	return 0;
}

void export_profiler_free(struct export_profiler *p)
{
	if (!p)
		return;
	for (int d = 0; d < 2; d++)
		prof_pusher_free(p->push[d]);
	ls_symbolizer_free(p->sym);
	free(p);
}
