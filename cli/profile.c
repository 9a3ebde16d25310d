#include "profile.h"
#include "catalog.h"
#include "flamegraph.h"
#include "pprof.h"
#include "symbolizer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

int profile_add_line(struct profile *l, char *stack, uint64_t value)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 1024;
		struct profile_line *nv = realloc(l->v, ncap * sizeof(*nv));

		if (!nv) {
			free(stack);
			return -ENOMEM;
		}
		l->v = nv;
		l->cap = ncap;
	}
	l->v[l->n].stack = stack;
	l->v[l->n].value = value;
	l->n++;
	return 0;
}

static int by_stack(const void *a, const void *b)
{
	return strcmp(((const struct profile_line *)a)->stack, ((const struct profile_line *)b)->stack);
}

/* Append one frame name, with the folded format's separators made safe. */
static void put_frame(char **buf, size_t *len, size_t *cap, const char *name, const char *suffix)
{
	size_t need = strlen(name) + strlen(suffix) + 2;

	if (*len + need >= *cap) {
		size_t ncap = (*cap + need) * 2;
		char *nb = realloc(*buf, ncap);

		if (!nb)
			return;
		*buf = nb;
		*cap = ncap;
	}
	if (*len)
		(*buf)[(*len)++] = ';';
	for (const char *p = name; *p; p++)
		(*buf)[(*len)++] = (*p == ';' || *p == '\n' || *p == ' ') ? '_' : *p;
	for (const char *p = suffix; *p; p++)
		(*buf)[(*len)++] = *p;
	(*buf)[*len] = '\0';
}

static void unknown_name(const struct ls_sym *f, char *out, size_t len)
{
	const char *path = f->mapping ? f->mapping->path : NULL, *mod = path ? strrchr(path, '/') : NULL;

	/* Generated code the JIT named nowhere (the symbolizer's reason says why). */
	if (path && path[0] == '[' && strcmp(path, "[vdso]") && strcmp(path, "[vsyscall]")) {
		snprintf(out, len, "[jit]");
		return;
	}

	snprintf(out, len, "[unknown in %s]", mod ? mod + 1 : path ? path : "?");
}

/* Every frame of a stack, root first: inlined calls become frames of their own. */
static void put_stack(char **buf, size_t *len, size_t *cap, const struct ls_sym *syms, size_t n, const char *suffix)
{
	char name[512];

	for (size_t i = n; i-- > 0;) {
		const struct ls_sym *f = &syms[i];

		if (!f->func) {
			unknown_name(f, name, sizeof(name));
			put_frame(buf, len, cap, name, suffix);
			continue;
		}
		for (size_t k = f->nframes; k-- > 0;)
			put_frame(buf, len, cap, f->frames[k].func, suffix);
	}
}

/* The pprof locations of a stack (leaf first) appended to locs. */
static int pprof_locations(struct ls_pprof *pp, const struct ls_sym *syms, size_t n, int kernel, uint64_t *locs,
			   size_t *nlocs)
{
	struct ls_pprof_line lines[64];
	char name[512];

	for (size_t i = 0; i < n; i++) {
		const struct ls_sym *f = &syms[i];
		const struct ls_sym_mapping *m = f->mapping;
		uint64_t map = 0, loc;
		size_t nl = 0;

		if (m)
			map = kernel ? ls_pprof_mapping(pp, 0xffff800000000000ull, ~0ull, 0, m->path, "")
				     : ls_pprof_mapping(pp, m->start, m->end, m->file_offset, m->path, m->build_id);
		if (!f->func) {
			unknown_name(f, name, sizeof(name));
			lines[nl++] = (struct ls_pprof_line){ .func = name };
		}
		for (size_t k = 0; k < f->nframes && nl < 64; k++)
			lines[nl++] = (struct ls_pprof_line){ f->frames[k].func, f->frames[k].file, f->frames[k].line };
		loc = ls_pprof_location(pp, map, f->addr, lines, nl);
		if (!loc)
			return -ENOMEM;
		locs[(*nlocs)++] = loc;
	}
	return 0;
}

/* Root-first folded stack for one aggregated sample (and its pprof sample, of value); NULL when out of memory. */
static char *fold(profile_stack_fn stack, void *ctx, struct ls_symbolizer *sym, const struct ls_stack_sample *smp,
		  const struct profile_opts *o, int offcpu, uint64_t value)
{
	uint64_t uips[LS_STACK_DEPTH], kips[LS_STACK_DEPTH], locs[2 * LS_STACK_DEPTH];
	struct ls_sym_src usrc = { .kind = LS_SYM_SRC_PROCESS, .pid = (pid_t)smp->key.pid };
	struct ls_sym_src ksrc = { .kind = LS_SYM_SRC_KERNEL };
	struct ls_sym_result *ur = NULL, *kr = NULL;
	size_t nu = 0, nk = 0, len = 0, cap = 256, nlocs = 0, kskip = 0;
	char *buf = malloc(cap), name[512];
	const char *phase = smp->key.phase < LS_PHASE_COUNT ? ls_phase_name(smp->key.phase) : "none";

	if (!buf)
		return NULL;
	buf[0] = '\0';
	/* A stack evicted or never captured folds as no frames. */
	if (stack(ctx, smp->key.ustack, uips, LS_STACK_DEPTH, &nu))
		nu = 0;
	if (stack(ctx, smp->key.kstack, kips, LS_STACK_DEPTH, &nk))
		nk = 0;
	/* A stack is the sampled address, then return addresses. */
	if ((nu && ls_symbolize(sym, &usrc, uips, nu, LS_SYM_ADDR_STACK, &ur)) ||
	    (nk && ls_symbolize(sym, &ksrc, kips, nk, LS_SYM_ADDR_STACK, &kr)))
		goto fail;
	if (offcpu)
		put_frame(&buf, &len, &cap, "[off-cpu]", "");
	if (o->by_phase) {
		snprintf(name, sizeof(name), "[phase:%s]", phase);
		put_frame(&buf, &len, &cap, name, "");
	}
	if (!nu && !nk)
		put_frame(&buf, &len, &cap, "[no stack]", "");
	if (ur)
		put_stack(&buf, &len, &cap, ur->syms, nu, "");
	/* The innermost kernel frames of a sched_switch stack are the tracing machinery itself. */
	while (kr && kskip < nk && kr->syms[kskip].func &&
	       (!strncmp(kr->syms[kskip].func, "bpf_", 4) || !strncmp(kr->syms[kskip].func, "__bpf_", 6)))
		kskip++;
	if (kr)
		put_stack(&buf, &len, &cap, kr->syms + kskip, nk - kskip, "_[k]");
	if (o->pp) {
		int64_t values[3] = { offcpu ? 0 : (int64_t)value, offcpu ? 0 : (int64_t)(value * o->period_ns),
				      offcpu ? (int64_t)value : 0 };
		const char *labels[4] = { "phase", phase, "slow", smp->key.slow ? "yes" : NULL };

		if ((kr && pprof_locations(o->pp, kr->syms + kskip, nk - kskip, 1, locs, &nlocs)) ||
		    (ur && pprof_locations(o->pp, ur->syms, nu, 0, locs, &nlocs)) ||
		    ls_pprof_sample(o->pp, locs, nlocs, values, labels, 2))
			goto fail;
	}
	ls_sym_result_free(ur);
	ls_sym_result_free(kr);
	return buf;
fail:
	ls_sym_result_free(ur);
	ls_sym_result_free(kr);
	free(buf);
	return NULL;
}

int profile_add(struct profile *out, const struct ls_stack_sample *v, size_t n, int offcpu, profile_stack_fn stack,
		void *ctx, struct ls_symbolizer *sym, const struct profile_opts *o, uint64_t *total)
{
	for (size_t i = 0; i < n; i++) {
		uint64_t value = offcpu ? v[i].value / 1000 : v[i].value; /* off-CPU weight: microseconds */
		char *line;

		if (o->only_slow && !v[i].key.slow)
			continue;
		if (!value)
			continue;
		/* pprof takes the off-CPU time in nanoseconds. */
		line = fold(stack, ctx, sym, &v[i], o, offcpu, offcpu ? v[i].value : value);
		if (!line || profile_add_line(out, line, value))
			return -ENOMEM;
		*total += value;
	}
	return 0;
}

/* Identical stacks (different stack ids, same names) merge into one line. */
size_t profile_merge(struct profile *l)
{
	size_t k = 0;

	qsort(l->v, l->n, sizeof(*l->v), by_stack);
	for (size_t i = 0; i < l->n; i++) {
		if (k && !strcmp(l->v[k - 1].stack, l->v[i].stack)) {
			l->v[k - 1].value += l->v[i].value;
			free(l->v[i].stack);
			continue;
		}
		l->v[k++] = l->v[i];
	}
	l->n = k;
	return k;
}

int profile_write_folded(FILE *f, const struct profile *l)
{
	for (size_t i = 0; i < l->n; i++)
		fprintf(f, "%s %llu\n", l->v[i].stack, (unsigned long long)l->v[i].value);
	return ferror(f) ? -EIO : 0;
}

int profile_write_svg(FILE *f, const struct profile *l, const char *title, const char *subtitle, const char *unit)
{
	struct ls_flame_opts fo = { .sz = sizeof(fo), .title = title, .subtitle = subtitle, .unit = unit };
	struct ls_folded *fl = calloc(l->n ? l->n : 1, sizeof(*fl));
	int ret;

	if (!fl)
		return -ENOMEM;
	for (size_t i = 0; i < l->n; i++) {
		fl[i].stack = l->v[i].stack;
		fl[i].value = l->v[i].value;
	}
	ret = ls_flamegraph_write(f, fl, l->n, &fo);
	free(fl);
	return ret;
}

void profile_clear(struct profile *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i].stack);
	free(l->v);
	memset(l, 0, sizeof(*l));
}
