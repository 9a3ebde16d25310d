/* The readers of a running session: records, statistics, samples, stacks, counters. */
#include "session_int.h"
#include "ustacks.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "latscope.skel.h"

#define SWEEP_EVERY_NS 2000000000ull
#define SWEEP_AGE_NS   2000000000ull
#define SWEEP_RESET_NS 1000000000ull

enum stale { LIVE, ORPHANED, RESET };

/*
 * A request that will never finish: its connection is gone from the kernel (SSL_free ran)
 * and it began long enough ago, or the client reset its stream (NO_ERROR: it had its
 * response) long enough ago that the write of that response would have been walked.
 */
static enum stale stale(struct ls_session *s, const struct ls_req_key *k, void *val, uint64_t now, uint64_t reset_age)
{
	struct ls_conn_key ck = { .conn = k->conn, .pid = k->pid };
	uint64_t head[2]; /* struct lsk_req's first fields: start, reset_at */

	if (bpf_map__lookup_elem(s->skel->maps.reqs, k, sizeof(*k), val, bpf_map__value_size(s->skel->maps.reqs), 0))
		return LIVE;
	memcpy(head, val, sizeof(head));
	if (head[1] && head[1] <= now && now - head[1] >= reset_age)
		return RESET;
	/* Its connection looked up only for a request old enough: most are not, one lookup each. */
	if (!head[0] || head[0] >= now || now - head[0] <= SWEEP_AGE_NS)
		return LIVE;
	return bpf_map__lookup_elem(s->skel->maps.conns, &ck, sizeof(ck), val, bpf_map__value_size(s->skel->maps.conns),
				    0) != 0 ? ORPHANED : LIVE;
}

static void sweep_one(struct ls_session *s, int fd, const struct ls_req_key *k, enum stale why)
{
	if (why == LIVE || bpf_map_delete_elem(fd, k))
		return;
	if (why == RESET)
		s->reset_swept++;
	else
		s->swept++;
}

/*
 * Requests that never finish: of connections that ended before their response (a client
 * gone mid-request; nothing in the kernel can find them at SSL_free), and of streams the
 * client reset saying it had its response when none was seen. Deleted here, at most every
 * 2 s, a while after; counted.
 */
static void sweep_requests(struct ls_session *s, uint64_t reset_age)
{
	struct ls_req_key key, next, *prev = NULL;
	size_t vsz = bpf_map__value_size(s->skel->maps.reqs), csz = bpf_map__value_size(s->skel->maps.conns);
	void *val = malloc(vsz > csz ? vsz : csz);
	int fd = bpf_map__fd(s->skel->maps.reqs);
	uint64_t now = ls_now_ns();
	enum stale why = LIVE;

	if (!val)
		return;
	/* A key is deleted once the walk has moved past it: from a deleted key it would start over. */
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		sweep_one(s, fd, &key, why);
		key = next;
		prev = &key;
		why = stale(s, &key, val, now, reset_age);
	}
	sweep_one(s, fd, &key, why);
	free(val);
}

void ls_session_sweep_resets(struct ls_session *s)
{
	if (s->skel)
		sweep_requests(s, 0);
}

int ls_session_poll(struct ls_session *s, int timeout_ms)
{
	uint64_t now = ls_now_ns();
	int n, m;

	if (!s->rb)
		return ls_err(s->err, EINVAL, "session not started");
	if (s->skel && now - s->last_sweep >= SWEEP_EVERY_NS) {
		s->last_sweep = now;
		sweep_requests(s, SWEEP_RESET_NS);
	}
	/*
	 * Records come without wake-ups (but for a joined connection's decoder state, read from the
	 * target on arrival): the wait usually runs to its timeout, then everything is drained.
	 */
	n = ring_buffer__poll(s->rb, ls_duty_wait_ms(s, timeout_ms));
	if (n < 0 && n != -EINTR)
		return ls_err(s->err, -n, "ring buffer poll: %s", strerror(-n));
	m = ring_buffer__consume(s->rb);
	if (m < 0 && m != -EINTR)
		return ls_err(s->err, -m, "ring buffer consume: %s", strerror(-m));
	{
		struct ls_costs c;

		if (ls_calib_bg_take(s->calib, &c)) {
			ls_placements_recost(s->place, &c);
			ls_session_entry_costs(s);
			ls_duty_rebase(s);
		}
	}
	/* The overhead budget's step, after the records: a window that closes here starts its gap after them. */
	ls_duty_step(s);
	return (n > 0 ? n : 0) + (m > 0 ? m : 0);
}

static int read_aggregate(struct ls_session *s, struct bpf_map *map, struct ls_stack_sample **out, size_t *n)
{
	struct ls_sample_key key, next, *prev = NULL;
	struct ls_stack_sample *v = NULL;
	size_t cnt = 0, cap = 0;
	int fd = bpf_map__fd(map);

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		__u64 val;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &val))
			continue; /* removed meanwhile */
		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : 1024;
			struct ls_stack_sample *nv = realloc(v, ncap * sizeof(*nv));

			if (!nv) {
				free(v);
				return ls_err(s->err, ENOMEM, "out of memory");
			}
			v = nv;
			cap = ncap;
		}
		v[cnt].key = key;
		v[cnt].value = val;
		cnt++;
	}
	*out = v;
	*n = cnt;
	return 0;
}

/* Frame-pointer stacks taken where the sampled code had no frame set up: put back the caller the walk skipped. */
static int fix_leaves(struct ls_session *s, struct ls_stack_sample *v, size_t n)
{
	uint64_t ips[LS_STACK_DEPTH];

	for (size_t i = 0; i < n; i++) {
		struct ls_sample_key *k = &v[i].key;
		size_t depth;

		if (!k->ra || !s->ustore || ls_session_stack(s, k->ustack, ips, LS_STACK_DEPTH, &depth)) {
			k->ra = 0;
			k->ra_slot = 0;
			continue;
		}
		if (ls_ustore_fix_leaf(s->ustore, k, ips, depth) < 0)
			return ls_err(s->err, ENOMEM, "out of memory");
	}
	return 0;
}

int ls_session_samples(struct ls_session *s, int offcpu, struct ls_stack_sample **out, size_t *n)
{
	int ret;

	*out = NULL;
	*n = 0;
	if (!s->skel)
		return ls_err(s->err, EINVAL, "session not started");
	if (s->rs)
		return ls_sagg_list(s->agg[offcpu ? 1 : 0], out, n) ? ls_err(s->err, ENOMEM, "out of memory") : 0;
	ret = read_aggregate(s, offcpu ? s->skel->maps.offcpu : s->skel->maps.samples, out, n);
	if (!ret)
		ret = fix_leaves(s, *out, *n);
	if (!ret && !offcpu && s->ustore && ls_ustore_samples(s->ustore, out, n))
		ret = ls_err(s->err, ENOMEM, "out of memory");
	return ret;
}

int ls_session_bpf_time(struct ls_session *s, struct ls_bpf_time *out)
{
	memset(out, 0, sizeof(*out));
	if (!s->bpf)
		return -EINVAL;
	if (s->stats_fd < 0)
		return -(s->stats_err ? s->stats_err : ENOTSUP);
	return ls_bpf_prog_time(s->bpf, out);
}

int ls_session_request_stacks(struct ls_session *s, const struct ls_request *q, struct ls_req_stacks *out)
{
	if (!s->rs)
		return -ENOENT;
	return ls_rstacks_of(s->rs, q, out);
}

int ls_session_take_samples(struct ls_session *s, int offcpu, struct ls_stack_sample **out, size_t *n)
{
	struct ls_stack_sample *v = NULL;
	size_t k = 0, cnt = 0;
	int fd, ret;

	*out = NULL;
	*n = 0;
	if (!s->skel)
		return ls_err(s->err, EINVAL, "session not started");
	fd = bpf_map__fd(offcpu ? s->skel->maps.offcpu : s->skel->maps.samples);
	ret = read_aggregate(s, offcpu ? s->skel->maps.offcpu : s->skel->maps.samples, &v, &cnt);
	if (ret)
		return ret;
	/*
	 * Each entry taken with its value at the moment it goes: what the kernel
	 * adds later starts a new entry, left for the next take.
	 */
	for (size_t i = 0; i < cnt; i++) {
		__u64 val;

		if (bpf_map_lookup_and_delete_elem(fd, &v[i].key, &val))
			continue;
		v[k].key = v[i].key;
		v[k++].value = val;
	}
	*out = v;
	*n = k;
	/* The callers a frame-pointer walk skipped at a leaf, put back as for ls_session_samples. */
	return fix_leaves(s, v, k);
}

size_t ls_session_trim_stacks(struct ls_session *s, size_t keep)
{
	__u32 key, next, *prev = NULL, *ids = NULL;
	size_t n = 0, cap = 0, gone = 0;
	int fd;

	if (!s->skel)
		return 0;
	fd = bpf_map__fd(s->skel->maps.stacks);
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		if (n == cap) {
			__u32 *nv = realloc(ids, (cap = cap ? cap * 2 : 1024) * sizeof(*nv));

			if (!nv)
				break;
			ids = nv;
		}
		ids[n++] = next;
		key = next;
		prev = &key;
	}
	for (size_t i = 0; n > keep && i < n; i++)
		gone += bpf_map_delete_elem(fd, &ids[i]) == 0;
	free(ids);
	return gone;
}

int ls_session_unwind_stats(struct ls_session *s, struct ls_unwind_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!s->ustore)
		return -ENOENT;
	ls_ustore_stats(s->ustore, out);
	return 0;
}

int ls_session_stack(struct ls_session *s, int32_t id, uint64_t *ips, size_t max, size_t *n)
{
	__u64 buf[LS_STACK_DEPTH];
	__u32 key = (__u32)id;
	size_t k = 0;

	*n = 0;
	if (!s->skel)
		return ls_err(s->err, EINVAL, "session not started");
	if (id < 0)
		return -ENOENT;
	if (id >= LS_USTACK_ID_BASE)
		return s->ustore ? ls_ustore_stack(s->ustore, id, ips, max, n) : -ENOENT;
	if (bpf_map_lookup_elem(bpf_map__fd(s->skel->maps.stacks), &key, buf))
		return errno == ENOENT ? -ENOENT : ls_err(s->err, errno, "reading stack %d: %s", id, strerror(errno));
	while (k < LS_STACK_DEPTH && k < max && buf[k]) {
		ips[k] = buf[k];
		k++;
	}
	*n = k;
	return 0;
}

int ls_session_stats(struct ls_session *s, unsigned int probe, struct ls_stats *out)
{
	struct ls_stats *per = s->statbuf;
	__u32 key = probe;

	memset(out, 0, sizeof(*out));
	if (!s->skel)
		return ls_err(s->err, EINVAL, "session not started");
	if (bpf_map__lookup_elem(s->skel->maps.stats, &key, sizeof(key), per,
				 sizeof(*per) * (size_t)s->ncpus, 0))
		return ls_err(s->err, errno, "reading statistics: %s", strerror(errno));
	for (int c = 0; c < s->ncpus; c++) {
		out->calls += per[c].calls;
		out->ok += per[c].ok;
		out->fail += per[c].fail;
		out->bytes += per[c].bytes;
		out->dur_sum_ns += per[c].dur_sum_ns;
		out->nested += per[c].nested;
		if (per[c].dur_max_ns > out->dur_max_ns)
			out->dur_max_ns = per[c].dur_max_ns;
		for (int b = 0; b < LS_HIST_BUCKETS; b++)
			out->hist[b] += per[c].hist[b];
	}
	return 0;
}

int ls_session_phase_stats(struct ls_session *s, pid_t pid, unsigned int phase, struct ls_phase_stats *out)
{
	struct ls_phase_stats *per = s->phase_buf;
	__u32 key;
	size_t slot;

	memset(out, 0, sizeof(*out));
	if (!s->skel)
		return ls_err(s->err, EINVAL, "session not started");
	for (slot = 0; slot < s->npids && s->pids[slot] != pid; slot++)
		;
	if (slot == s->npids || phase >= LS_PH_SLOTS)
		return ls_err(s->err, EINVAL, "pid %d is not a target", (int)pid);
	key = (__u32)(slot * LS_PH_SLOTS + phase);
	if (bpf_map__lookup_elem(s->skel->maps.phase_stats, &key, sizeof(key), per, sizeof(*per) * (size_t)s->ncpus, 0))
		return ls_err(s->err, errno, "reading phase statistics: %s", strerror(errno));
	for (int c = 0; c < s->ncpus; c++) {
		out->count += per[c].count;
		out->sum_ns += per[c].sum_ns;
		if (per[c].max_ns > out->max_ns)
			out->max_ns = per[c].max_ns;
		for (int b = 0; b < LS_HIST_BUCKETS; b++)
			out->hist[b] += per[c].hist[b];
	}
	return 0;
}

uint64_t ls_session_open_window(struct ls_session *s)
{
	uint64_t now = ls_now_ns();

	if (s->skel)
		s->skel->bss->window_lo = now;
	return now;
}

uint64_t ls_session_stop_sampling(struct ls_session *s)
{
	uint64_t now = ls_now_ns();

	if (s->skel) {
		s->skel->bss->window_hi = now;
		s->skel->data->sampling = 0;
	}
	return now;
}

int ls_session_set_threshold(struct ls_session *s, uint64_t ns)
{
	s->threshold_ns = ns;
	if (s->skel)
		s->skel->data->threshold_ns = ns;
	return 0;
}

uint64_t ls_session_counter(struct ls_session *s, enum ls_counter which)
{
	__u64 vals[256] = { 0 }, sum = 0;
	__u32 key = which;

	if (!s->skel || s->ncpus > 256)
		return 0;
	if (bpf_map__lookup_elem(s->skel->maps.counters, &key, sizeof(key), vals, sizeof(__u64) * (size_t)s->ncpus, 0))
		return 0;
	for (int c = 0; c < s->ncpus; c++)
		sum += vals[c];
	/* Resets are counted where they are read, a client's NO_ERROR without a response where it is forgotten. */
	return sum + (which == LS_CNT_REQ_RESET ? s->reset_swept : 0);
}

/* Whether target i is still the process it was when the session began. */
static int target_alive(const struct ls_session *s, size_t i)
{
	struct ls_proc_info info;
	char err[LS_ERR_LEN];

	if (ls_proc_info(s->pids[i], &info, err))
		return 0;
	return info.start_ticks == s->pid_start[i];
}

size_t ls_session_alive(struct ls_session *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->npids; i++) {
		__u32 key = (__u32)s->pids[i];

		if (!(s->gone & (1u << i)) && target_alive(s, i)) {
			n++;
			continue;
		}
		/* A process that reuses the pid is not traced: the kernel hooks must not take it for the target. */
		if (!(s->gone & (1u << i)) && s->skel)
			bpf_map__delete_elem(s->skel->maps.targets, &key, sizeof(key), 0);
		s->gone |= 1u << i;
	}
	return n;
}

enum ls_khook ls_session_khook(const struct ls_session *s) { return s->khook; }
const char *ls_session_khook_report(const struct ls_session *s) { return s->khook_report; }
size_t ls_session_nprobes(const struct ls_session *s) { return s->nuprobes; }
const char *ls_session_error(const struct ls_session *s) { return s->err; }

const struct ls_placements *ls_session_placements(const struct ls_session *s) { return s->place; }

const struct ls_site *ls_session_sites(const struct ls_session *s, size_t *n)
{
	*n = s->nsites;
	return s->sites;
}


uint64_t ls_session_swept(const struct ls_session *s)
{
	return s->swept;
}
