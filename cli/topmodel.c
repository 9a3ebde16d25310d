/* latscope top's model: session records and counters in, one immutable snapshot per interval out. */
#include "top.h"
#include "cli.h"
#include "catalog.h"
#include "hist.h"
#include "procmaps.h"
#include "symbolizer.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <sys/resource.h>

#define RECENT 512 /* requests per row the phase bar's p99 request is chosen from */

struct recent_req {
	uint64_t total_ns;
	uint64_t phase_ns[LS_PHASE_COUNT];
};

/* What the model keeps per pid x method between snapshots. */
struct row_state {
	pid_t pid;
	char method[LS_METHOD_LEN];
	uint64_t iv_count, iv_errors, iv_max;
	__u64 iv_hist[LS_HIST_BUCKETS];
	struct recent_req recent[RECENT];
	size_t nrecent, recent_next;
	struct top_slowreq slow[TOP_SLOW_KEEP]; /* ring, slow_next is the oldest */
	size_t nslow, slow_next;
	uint64_t slow_count;
	struct top_quant last_iv;  /* the last interval with requests */
};

struct top_model {
	struct ls_reqs *reqs;
	struct row_state **rows;
	size_t nrows, caprows;
	struct row_state *last;   /* the row the previous request went to: most records repeat it */
	pid_t pids[LS_SESSION_MAX_PIDS];
	size_t npids;
	struct ls_phase_stats prev_total[LS_SESSION_MAX_PIDS]; /* kernel totals at the previous snapshot */
	struct ls_phase_stats cur_total;
	uint64_t t_start, t_prev, t_reset;
	double cpu_prev;          /* own CPU seconds at the previous snapshot */
	uint64_t probe_prev_ns;   /* the probes' cost to the targets so far, at the previous snapshot */
	uint64_t tcpu_prev_ns;    /* the targets' CPU time at the previous snapshot */
	uint64_t bytes_prev, bytes_in_prev; /* the budget's traffic (all, inside windows) at the previous one */
	const char *counter_prev;  /* what counted it then (ls_duty_stats.traffic_counter) */
	uint64_t seq;
	uint64_t threshold_ns;
	struct ls_symbolizer *sym;
	struct top_stack stacks[TOP_STACKS];
	size_t nstacks;
	int stacks_any;
	int alive[LS_SESSION_MAX_PIDS];
	char comm[LS_SESSION_MAX_PIDS][64];
};

static double own_cpu_s(void)
{
	struct rusage ru;

	if (getrusage(RUSAGE_SELF, &ru))
		return 0;
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
	       (double)ru.ru_stime.tv_usec / 1e6;
}

int top_model_new(const pid_t *pids, size_t npids, struct top_model **out)
{
	struct top_model *m;
	int ret;

	*out = NULL;
	if (npids > LS_SESSION_MAX_PIDS)
		return -EINVAL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	ret = ls_reqs_new(&m->reqs);
	if (ret)
		goto cleanup;
	ret = ls_symbolizer_new(NULL, &m->sym);
	if (ret) {
		m->sym = NULL;
		goto cleanup;
	}
	memcpy(m->pids, pids, npids * sizeof(*pids));
	m->npids = npids;
	for (size_t i = 0; i < npids; i++) {
		struct ls_proc_info info;
		char err[LS_ERR_LEN];

		m->alive[i] = 1;
		if (ls_proc_info(pids[i], &info, err) == 0)
			snprintf(m->comm[i], sizeof(m->comm[i]), "%s", info.comm);
		else
			snprintf(m->comm[i], sizeof(m->comm[i]), "?");
	}
	m->t_start = m->t_prev = m->t_reset = ls_now_ns();
	m->cpu_prev = own_cpu_s();
	*out = m;
	return 0;
cleanup:
	top_model_free(m);
	return ret;
}

void top_model_free(struct top_model *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->nrows; i++)
		free(m->rows[i]);
	free(m->rows);
	ls_reqs_free(m->reqs);
	ls_symbolizer_free(m->sym);
	free(m);
}

static struct row_state *row_get(struct top_model *m, pid_t pid, const char *method)
{
	struct row_state *r;

	if (m->last && m->last->pid == pid && !strcmp(m->last->method, method))
		return m->last;
	for (size_t i = 0; i < m->nrows; i++)
		if (m->rows[i]->pid == pid && !strcmp(m->rows[i]->method, method))
			return m->last = m->rows[i];
	if (m->nrows == m->caprows) {
		size_t ncap = m->caprows ? m->caprows * 2 : 16;
		struct row_state **nv = realloc(m->rows, ncap * sizeof(*nv));

		if (!nv)
			return NULL;
		m->rows = nv;
		m->caprows = ncap;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return NULL;
	r->pid = pid;
	snprintf(r->method, sizeof(r->method), "%s", method);
	m->rows[m->nrows++] = r;
	return m->last = r;
}

int top_model_feed(struct top_model *m, const void *rec, size_t size)
{
	const struct ls_request *q;
	struct ls_req_view v;
	struct row_state *r;
	struct recent_req *rr;
	int ret;

	ret = ls_reqs_feed(m->reqs, rec, size, &v);
	if (ret <= 0)
		return ret;
	q = v.rec;
	r = row_get(m, (pid_t)q->pid, v.method);
	if (!r)
		return -ENOMEM;
	r->iv_count++;
	r->iv_errors += v.error ? 1 : 0;
	if (q->total_ns > r->iv_max)
		r->iv_max = q->total_ns;
	r->iv_hist[ls_hist_bucket(q->total_ns)]++;
	rr = &r->recent[r->recent_next];
	rr->total_ns = q->total_ns;
	memcpy(rr->phase_ns, q->phase_ns, sizeof(rr->phase_ns));
	r->recent_next = (r->recent_next + 1) % RECENT;
	if (r->nrecent < RECENT)
		r->nrecent++;
	if (q->flags & LS_RQ_SLOW) {
		struct top_slowreq *s = &r->slow[r->slow_next];

		s->start_ns = q->start_ns;
		s->total_ns = q->total_ns;
		s->stream = q->stream;
		s->status = v.grpc_status >= 0 ? v.grpc_status : v.status;
		memcpy(s->phase_ns, q->phase_ns, sizeof(s->phase_ns));
		r->slow_next = (r->slow_next + 1) % TOP_SLOW_KEEP;
		if (r->nslow < TOP_SLOW_KEEP)
			r->nslow++;
		r->slow_count++;
	}
	return 0;
}

/* The CPU time the live targets used so far. */
static uint64_t targets_cpu_ns(const struct top_model *m)
{
	return ls_procs_cpu_ns(m->pids, m->npids);
}

void top_model_started(struct top_model *m)
{
	m->t_start = m->t_prev = m->t_reset = ls_now_ns();
	m->cpu_prev = own_cpu_s();
	m->probe_prev_ns = 0;
	m->tcpu_prev_ns = targets_cpu_ns(m);
}

/* What the probes cost the targets over the interval, as a share of the CPU they used (they pay for the traps). */
static void probe_share(struct top_model *m, struct ls_session *s, struct top_snap *snap)
{
	struct ls_probe_cost pc;
	struct ls_duty_stats d;
	uint64_t cost, tcpu = targets_cpu_ns(m);

	snap->budget = ls_session_duty(s, &d) == 0;
	snap->duty = d.duty;
	snap->sampled_share = d.sampled_share;
	snap->traffic_share = d.traffic_share;
	/*
	 * The interval's own share of the traffic inside windows: what its counts stand for. In
	 * the interval where the budget changed counters the totals changed units: the whole
	 * session's share stands for it.
	 */
	if (m->counter_prev && d.traffic_counter && strcmp(m->counter_prev, d.traffic_counter) != 0)
		snap->iv_traffic_share = d.traffic_share;
	else
		snap->iv_traffic_share = d.bytes_all > m->bytes_prev && d.bytes_in >= m->bytes_in_prev ?
						 (double)(d.bytes_in - m->bytes_in_prev) / (double)(d.bytes_all - m->bytes_prev) : 0;
	m->counter_prev = d.traffic_counter;
	m->bytes_prev = d.bytes_all;
	m->bytes_in_prev = d.bytes_in;
	ls_session_probe_cost(s, &pc);
	cost = pc.trap_ns + pc.prog_ns;
	snap->probe_measured = pc.prog_measured;
	snap->probe_pct = tcpu > m->tcpu_prev_ns && cost >= m->probe_prev_ns ?
				  100.0 * (double)(cost - m->probe_prev_ns) / (double)(tcpu - m->tcpu_prev_ns) : 0;
	m->probe_prev_ns = cost;
	m->tcpu_prev_ns = tcpu;
}

void top_model_set_threshold(struct top_model *m, uint64_t ns)
{
	m->threshold_ns = ns;
}

void top_model_reset(struct top_model *m)
{
	ls_reqs_reset(m->reqs);
	for (size_t i = 0; i < m->nrows; i++)
		free(m->rows[i]);
	m->nrows = 0;
	m->last = NULL;
	m->nstacks = 0;
	m->t_reset = ls_now_ns();
}

static void quantiles(const __u64 *hist, struct top_quant *q)
{
	q->p50 = ls_hist_quantile(hist, LS_HIST_BUCKETS, 0.50);
	q->p90 = ls_hist_quantile(hist, LS_HIST_BUCKETS, 0.90);
	q->p99 = ls_hist_quantile(hist, LS_HIST_BUCKETS, 0.99);
	/* A bucket's midpoint can lie past the largest value in it. */
	if (q->max && q->p50 > q->max)
		q->p50 = q->max;
	if (q->max && q->p90 > q->max)
		q->p90 = q->max;
	if (q->max && q->p99 > q->max)
		q->p99 = q->max;
}

static int by_total(const void *a, const void *b)
{
	const struct recent_req *x = *(const struct recent_req *const *)a, *y = *(const struct recent_req *const *)b;

	return x->total_ns < y->total_ns ? -1 : x->total_ns > y->total_ns;
}

/* The request at the 99th percentile (nearest rank) of the recent ones. */
static void p99_bar(const struct row_state *st, struct top_row *row)
{
	const struct recent_req *sorted[RECENT];
	size_t rank;

	if (!st->nrecent)
		return;
	for (size_t i = 0; i < st->nrecent; i++)
		sorted[i] = &st->recent[i];
	qsort(sorted, st->nrecent, sizeof(sorted[0]), by_total);
	rank = (st->nrecent * 99 + 99) / 100;
	if (rank < 1)
		rank = 1;
	row->bar_total = sorted[rank - 1]->total_ns;
	memcpy(row->bar_ns, sorted[rank - 1]->phase_ns, sizeof(row->bar_ns));
}

/* Log-spaced bins between the smallest and largest total seen, from the fine histogram. */
static void coarse_hist(const __u64 *hist, struct top_row *row)
{
	int lo = -1, hi = -1;
	double step, a, b;

	for (int i = 0; i < LS_HIST_BUCKETS; i++)
		if (hist[i]) {
			if (lo < 0)
				lo = i;
			hi = i;
		}
	if (lo < 0)
		return;
	a = (double)(ls_hist_lower((unsigned)lo) ? ls_hist_lower((unsigned)lo) : 1);
	b = (double)(ls_hist_lower((unsigned)hi) + ls_hist_width((unsigned)hi));
	step = (b / a > 1.0) ? pow(b / a, 1.0 / TOP_HIST_BINS) : 1.0;
	if (step < 1.0001) {
		row->hist[0].lo = (uint64_t)a;
		row->hist[0].hi = (uint64_t)b;
		for (int i = lo; i <= hi; i++)
			row->hist[0].count += hist[i];
		row->nhist = 1;
		return;
	}
	row->nhist = TOP_HIST_BINS;
	for (int k = 0; k < TOP_HIST_BINS; k++) {
		row->hist[k].lo = (uint64_t)(a * pow(step, k));
		row->hist[k].hi = k == TOP_HIST_BINS - 1 ? (uint64_t)b : (uint64_t)(a * pow(step, k + 1));
	}
	for (int i = lo; i <= hi; i++) {
		uint64_t mid = ls_hist_lower((unsigned)i) + ls_hist_width((unsigned)i) / 2;
		int k = 0;

		while (k < TOP_HIST_BINS - 1 && mid >= row->hist[k].hi)
			k++;
		row->hist[k].count += hist[i];
	}
}

static void fill_row(struct row_state *st, const struct ls_method_stats *ms, double iv_s, double cum_s, int alive,
		     struct top_row *row)
{
	row->pid = st->pid;
	snprintf(row->method, sizeof(row->method), "%s", st->method);
	row->iv.count = st->iv_count;
	row->iv.errors = st->iv_errors;
	row->iv.rps = iv_s > 0 ? (double)st->iv_count / iv_s : 0;
	row->iv.max = st->iv_max;
	quantiles(st->iv_hist, &row->iv);
	/* An exited target's rows keep showing what it last did. */
	if (st->iv_count)
		st->last_iv = row->iv;
	else if (!alive)
		row->iv = st->last_iv;
	row->slow = st->slow_count;
	if (ms) {
		row->cum.count = ms->count;
		row->cum.errors = ms->errors;
		row->cum.rps = cum_s > 0 ? (double)ms->count / cum_s : 0;
		row->cum.max = ms->total_max;
		quantiles(ms->total_hist, &row->cum);
		for (int p = 0; p < LS_PHASE_COUNT; p++) {
			row->phase_p50[p] = ls_hist_quantile(ms->phase_hist[p], LS_HIST_BUCKETS, 0.50);
			row->phase_p99[p] = ls_hist_quantile(ms->phase_hist[p], LS_HIST_BUCKETS, 0.99);
			row->phase_share[p] = ms->total_sum ? (double)ms->phase_sum[p] / (double)ms->total_sum : 0;
		}
		coarse_hist(ms->total_hist, row);
	}
	p99_bar(st, row);
	for (size_t i = 0; i < st->nslow; i++)
		row->slowreq[i] = st->slow[(st->slow_next + TOP_SLOW_KEEP - 1 - i) % TOP_SLOW_KEEP];
	row->nslowreq = st->nslow;
}

static int by_pid_method(const void *a, const void *b)
{
	const struct top_row *x = a, *y = b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return strcmp(x->method, y->method);
}

static int by_samples(const void *a, const void *b)
{
	const struct ls_stack_sample *x = a, *y = b;

	if (x->value != y->value)
		return x->value > y->value ? -1 : 1;
	if (x->key.pid != y->key.pid)
		return x->key.pid < y->key.pid ? -1 : 1;
	return x->key.ustack < y->key.ustack ? -1 : x->key.ustack > y->key.ustack;
}

static void frame_text(const struct ls_sym *f, int kernel, char *out, size_t len)
{
	const char *path = f->mapping ? f->mapping->path : NULL, *mod = path ? strrchr(path, '/') : NULL;

	if (f->func)
		snprintf(out, len, "%s%s", f->func, kernel ? " [k]" : "");
	else
		snprintf(out, len, "[unknown in %s]", mod ? mod + 1 : path ? path : "?");
}

#define STACK_CANDIDATES 32 /* stack ids symbolized per snapshot: ids that differ only by return address merge by name */

static int same_stack(const struct top_stack *a, const struct top_stack *b)
{
	if (a->pid != b->pid || a->phase != b->phase || a->nframes != b->nframes)
		return 0;
	for (size_t i = 0; i < a->nframes; i++)
		if (strcmp(a->frames[i], b->frames[i]))
			return 0;
	return 1;
}

static int by_stack_samples(const void *a, const void *b)
{
	const struct top_stack *x = a, *y = b;

	if (x->samples != y->samples)
		return x->samples > y->samples ? -1 : 1;
	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return x->nframes && y->nframes ? strcmp(x->frames[0], y->frames[0]) : 0;
}

/* Name one aggregated sample's stacks, innermost frame first (kernel frames, then user). */
static void name_stack(struct top_model *m, struct ls_session *s, const struct ls_stack_sample *v, struct top_stack *st)
{
	const struct ls_sym_src ksrc = { .kind = LS_SYM_SRC_KERNEL }, usrc = { .kind = LS_SYM_SRC_PROCESS, .pid = (pid_t)v->key.pid };
	uint64_t ips[LS_STACK_DEPTH];
	struct ls_sym_result *r = NULL;
	size_t nu = 0, nk = 0;

	st->pid = (pid_t)v->key.pid;
	st->phase = v->key.phase;
	st->samples = v->value;
	st->nframes = 0;
	if (ls_session_stack(s, v->key.kstack, ips, LS_STACK_DEPTH, &nk) == 0 && nk &&
	    ls_symbolize(m->sym, &ksrc, ips, nk, LS_SYM_ADDR_STACK, &r) == 0) {
		for (size_t j = 0; j < r->n && st->nframes < TOP_STACK_FRAMES; j++) {
			const char *fn = r->syms[j].func;

			/* The innermost kernel frames of a sample are the sampling machinery itself. */
			if (fn && (!strncmp(fn, "bpf_", 4) || !strncmp(fn, "__bpf_", 6) || !strncmp(fn, "perf_", 5)))
				continue;
			frame_text(&r->syms[j], 1, st->frames[st->nframes++], TOP_FRAME_LEN);
		}
	}
	ls_sym_result_free(r);
	r = NULL;
	if (ls_session_stack(s, v->key.ustack, ips, LS_STACK_DEPTH, &nu) == 0 && nu &&
	    ls_symbolize(m->sym, &usrc, ips, nu, LS_SYM_ADDR_STACK, &r) == 0) {
		for (size_t j = 0; j < r->n && st->nframes < TOP_STACK_FRAMES; j++)
			frame_text(&r->syms[j], 0, st->frames[st->nframes++], TOP_FRAME_LEN);
	}
	ls_sym_result_free(r);
	if (!st->nframes)
		snprintf(st->frames[st->nframes++], TOP_FRAME_LEN, "[no stack]");
}

/*
 * The stacks with the most CPU samples taken inside slow requests, named.
 * Only the few that can be shown get symbolized; a dead target keeps the last ones.
 */
static void hot_stacks(struct top_model *m, struct ls_session *s)
{
	struct ls_stack_sample *v = NULL;
	struct top_stack *cand = NULL;
	size_t n = 0, k = 0, nc = 0;

	if (ls_session_samples(s, 0, &v, &n))
		return;
	cand = calloc(STACK_CANDIDATES, sizeof(*cand));
	if (!cand)
		goto cleanup;
	for (size_t i = 0; i < n; i++)
		if (v[i].key.slow && v[i].value)
			v[k++] = v[i];
	/* Work that finishes before the threshold never samples as slow: then show every request's. */
	m->stacks_any = !k;
	for (size_t i = 0; i < n && m->stacks_any; i++)
		if (v[i].key.phase < LS_PHASE_COUNT && v[i].value)
			v[k++] = v[i];
	if (k)
		qsort(v, k, sizeof(*v), by_samples);
	for (size_t i = 0, tried = 0; i < k && tried < STACK_CANDIDATES; i++) {
		size_t j;

		if (!ls_proc_alive((pid_t)v[i].key.pid))
			continue;
		tried++;
		name_stack(m, s, &v[i], &cand[nc]);
		for (j = 0; j < nc && !same_stack(&cand[j], &cand[nc]); j++)
			;
		if (j < nc)
			cand[j].samples += cand[nc].samples;
		else
			nc++;
	}
	qsort(cand, nc, sizeof(*cand), by_stack_samples);
	m->nstacks = nc < TOP_STACKS ? nc : TOP_STACKS;
	memcpy(m->stacks, cand, m->nstacks * sizeof(*cand));
cleanup:
	free(cand);
	free(v);
}

struct top_snap *top_model_snapshot(struct top_model *m, struct ls_session *s)
{
	static const double qs[2] = { 0.50, 0.99 };
	const struct ls_method_stats *const *ms;
	struct top_snap *snap;
	__u64 *iv_total = NULL;
	uint64_t now = ls_now_ns(), iv_errors = 0;
	double iv_s, cum_s, cpu = own_cpu_s();
	size_t nms = 0, any_alive = 0;

	snap = calloc(1, sizeof(*snap));
	iv_total = calloc(LS_HIST_BUCKETS, sizeof(*iv_total));
	if (!snap || !iv_total)
		goto fail;
	iv_s = (double)(now - m->t_prev) / 1e9;
	cum_s = (double)(now - m->t_reset) / 1e9;
	snap->seq = ++m->seq;
	snap->now_ns = now;
	snap->uptime_s = (double)(now - m->t_start) / 1e9;
	snap->interval_s = iv_s;
	snap->khook = ls_khook_name(ls_session_khook(s));
	snap->threshold_ns = m->threshold_ns;
	snap->cpu_pct = iv_s > 0 ? 100.0 * (cpu - m->cpu_prev) / iv_s : 0;
	probe_share(m, s, snap);
	snap->dropped = ls_session_counter(s, LS_CNT_RB_DROPS);
	snap->samples = ls_session_counter(s, LS_CNT_SAMPLES);
	snap->stacks_lost = ls_session_counter(s, LS_CNT_STACK_LOST);
	snap->ntargets = m->npids;
	for (size_t i = 0; i < m->npids; i++) {
		struct ls_phase_stats *cur = &m->cur_total;

		if (m->alive[i])
			m->alive[i] = ls_proc_alive(m->pids[i]);
		any_alive += m->alive[i] ? 1 : 0;
		snap->targets[i].pid = m->pids[i];
		snap->targets[i].alive = m->alive[i];
		snprintf(snap->targets[i].comm, sizeof(snap->targets[i].comm), "%s", m->comm[i]);
		if (ls_session_phase_stats(s, m->pids[i], LS_PH_TOTAL, cur))
			continue;
		snap->iv_count += cur->count - m->prev_total[i].count;
		for (int b = 0; b < LS_HIST_BUCKETS; b++)
			iv_total[b] += cur->hist[b] - m->prev_total[i].hist[b];
		m->prev_total[i] = *cur;
	}
	snap->rps = iv_s > 0 ? (double)snap->iv_count / iv_s : 0;
	/* Under a budget that cycled: the whole interval's rate, from the share of its traffic traced. */
	snap->rps_est = snap->budget && snap->iv_traffic_share > 0 ? snap->rps / snap->iv_traffic_share : -1;
	snap->p50 = ls_hist_quantile(iv_total, LS_HIST_BUCKETS, qs[0]);
	snap->p99 = ls_hist_quantile(iv_total, LS_HIST_BUCKETS, qs[1]);

	ms = ls_reqs_methods(m->reqs, &nms);
	snap->rows = calloc(m->nrows ? m->nrows : 1, sizeof(*snap->rows));
	if (!snap->rows)
		goto fail;
	for (size_t i = 0; i < m->nrows; i++) {
		struct row_state *st = m->rows[i];
		const struct ls_method_stats *found = NULL;

		for (size_t j = 0; ms && j < nms && !found; j++)
			if (ms[j]->pid == st->pid && !strcmp(ms[j]->method, st->method))
				found = ms[j];
		int alive = 1;

		for (size_t j = 0; j < m->npids; j++)
			if (m->pids[j] == st->pid)
				alive = m->alive[j];
		fill_row(st, found, iv_s, cum_s, alive, &snap->rows[i]);
		iv_errors += st->iv_errors;
		st->iv_count = st->iv_errors = st->iv_max = 0;
		memset(st->iv_hist, 0, sizeof(st->iv_hist));
	}
	snap->nrows = m->nrows;
	qsort(snap->rows, snap->nrows, sizeof(*snap->rows), by_pid_method);
	{
		uint64_t named = 0;

		for (size_t i = 0; i < snap->nrows; i++)
			named += snap->rows[i].iv.count;
		snap->error_rate = named ? (double)iv_errors / (double)named : 0;
	}
	if (any_alive)
		hot_stacks(m, s);
	memcpy(snap->stacks, m->stacks, sizeof(snap->stacks));
	snap->nstacks = m->nstacks;
	snap->stacks_any = m->stacks_any;
	m->t_prev = now;
	m->cpu_prev = cpu;
	free(iv_total);
	return snap;
fail:
	free(iv_total);
	top_snap_free(snap);
	errno = ENOMEM;
	return NULL;
}

void top_snap_free(struct top_snap *snap)
{
	if (!snap)
		return;
	free(snap->rows);
	free(snap);
}
