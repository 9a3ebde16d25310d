/* latscope trace: stream slow requests (or every call) of a process, then summarise. */
#include "cli.h"
#include "catalog.h"
#include "feature.h"
#include "hist.h"
#include "procmaps.h"
#include "requests.h"
#include "jsonw.h"
#include "symbolizer.h"
#include "trace_stacks.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage_text[] =
	"usage: latscope trace -p PID [-p PID...] [-d DURATION] [--threshold DURATION] [--all]\n"
	"                      [--calls] [--json|--format F] [--no-records] [--kernel-hook auto|fentry|kprobe|tracepoint]\n"
	"                      [--placement auto|entry|callsite] [--phases tls,h2,proto,net] [--stacks] [--overhead PCT|off] [-v]\n"
	"\n"
	"Attaches to running processes and prints every request slower than the\n"
	"threshold with its phases (below), which add up to its total. Runs for\n"
	"DURATION, until SIGINT/SIGTERM, or until every target exits; then prints a\n"
	"summary per method and per probe.\n"
	"\n"
	"  -p, --pid PID          target process (repeatable, up to 8)\n"
	"  -d, --duration DUR     stop after DUR (250us, 500ms, 10s, 2m; a bare number is seconds)\n"
	"  -t, --threshold DUR    a request at least this long is slow (default 10ms)\n"
	"  -a, --all              print every request, not only slow ones\n"
	"      --calls            also print every TLS call and kernel send/receive\n"
	"      --json             one JSON object per line, each with a \"type\" (--format json)\n"
	"      --format F         text (default) or json\n"
	"      --no-records       the per-probe summary only (its histograms are kept in the kernel);\n"
	"                         requests are not followed, so none is counted\n"
	"      --stacks           under each slow request, its own stacks: CPU samples (997 Hz) of the\n"
	"                         thread or goroutine that served it, and where it blocked, for how long\n"
	"      --kernel-hook H    force a kernel hook variant (fails if it cannot attach)\n"
	"      --btf FILE         kernel BTF to use instead of /sys/kernel/btf/vmlinux\n"
	"      --placement P      library probes at the function (entry), at its direct call\n"
	"                         sites (callsite), or call sites where they avoid a single-step\n"
	"                         and see every call (auto, default); see latscope probes -v\n"
	"      --phases LIST      attach only what these phases need (tls,h2,proto,net; default all)\n"
	CLI_OVERHEAD_HELP
	"  -v, --verbose          show the kernel hook choice and missing probes, and at the end every\n"
	"                         table's capacity, occupancy and losses (-vv: libbpf diagnostics)\n"
	"\n"
	"exit status: 0 success (also when the target exits), 1 runtime error, 2 usage error\n";

/* The usage, then the phases from the phase table. */
static void help(FILE *f)
{
	const struct ls_phase_info *ph;
	size_t n;

	fputs(usage_text, f);
	fputs("\nphases, in request order:\n", f);
	ph = ls_phases(&n);
	for (size_t i = 0; i < n; i++)
		fprintf(f, "  %-8s %s\n", ph[i].name, ph[i].help);
}

struct trace_ctx;

/* A probe's line of the summary. */
struct probe_row {
	unsigned int probe;
	struct ls_stats st;
	unsigned int per_call, hits_per_call; /* estimated probe cost and hits per call (0: not attached) */
	const char *place;
	uint64_t per_req;   /* what this probe costs per request: its traps and programs */
};

/* Per-process totals from the kernel's histograms: exact even when records were dropped. */
struct pid_row {
	pid_t pid;
	int ok;
	uint64_t count, p50, p99, max;
};

/* What the summary says, gathered once for either output. */
struct trace_summary {
	uint64_t elapsed_ns;
	const char *khook, *end;
	struct probe_row *rows;
	size_t nrows;
	struct pid_row pids[MAX_PIDS];
	size_t npids;
	uint64_t handshakes, drops, unnamed, hits, est_ns, nreq;
	uint64_t hd_tables, hd_tables_failed; /* joined connections' HPACK tables read from the targets */
	uint64_t trap_ns;        /* of est_ns: the probes' traps, from the per-hit costs (costs_how) */
	const char *costs_how;   /* how the per-hit costs were obtained, in one line */
	int bpf_measured;        /* est_ns holds the uprobe programs' run time as the kernel measured it */
	struct ls_bpf_time bpf;  /* latscope's programs, measured (bpf_measured) */
	uint64_t target_cpu_ns; /* CPU the targets used during the run (they also pay for the probes' traps) */
	uint64_t counters[LS_CNT_MAX];
	int budget;               /* an overhead budget was set: duty holds how it went */
	int unfollowed;           /* --no-records: no request was followed (counts would read 0) */
	struct ls_duty_stats duty;
	struct ls_session *tables; /* -v: every table's occupancy, else NULL */
};

/* An output of trace: plain text or JSON lines. */
struct trace_sink {
	void (*call)(struct trace_ctx *t, const struct ls_event *e);
	void (*request)(struct trace_ctx *t, const struct ls_req_view *v);
	void (*summary)(struct trace_ctx *t, const struct trace_summary *s);
};

struct trace_ctx {
	const struct trace_sink *out;
	int calls, all;
	uint64_t t0;
	uint64_t t0_unix;        /* the wall-clock time at t0 (ns since the epoch): maps records' start_ns */
	uint64_t cpu0[MAX_PIDS]; /* each target's CPU time when the run began */
	uint64_t printed;
	int out_err;
	int unfollowed;          /* --no-records: requests are not followed, nothing counts them */
	struct ls_reqs *reqs;
	int feed_err;
	/* --stacks */
	int stacks;
	struct ls_session *s;
	struct ls_symbolizer *sym;
	struct trace_stacks cur; /* the stacks of the request being printed (cur.st NULL: none) */
	struct ls_req_stacks cur_st;
};

#define TRACE_STACKS_HZ 997     /* per CPU: ~15 samples in 15 ms of CPU; a prime, not in step with periodic work */
#define TRACE_STACKS_TEXT 5     /* stacks of each kind under a request's line */
#define TRACE_STACKS_JSON 20    /* stacks of each kind in a request's object */

/* The summary's counters, by name (JSON). */
static const struct {
	enum ls_counter c;
	const char *name;
} counter_names[] = {
	{ LS_CNT_RB_WAKEUPS, "ring_wakeups" }, { LS_CNT_STALE, "stale_calls" },
	{ LS_CNT_DEPTH, "stack_overflow" }, { LS_CNT_H2_DESYNC, "h2_desync" },
	{ LS_CNT_REQ_UNMATCHED, "unmatched_responses" }, { LS_CNT_REQ_TABLE_FULL, "request_table_full" },
	{ LS_CNT_BATCH_FULL, "batch_full" }, { LS_CNT_PROTO_UNMATCHED, "proto_unmatched" },
	{ LS_CNT_SAMPLES, "samples" }, { LS_CNT_STACK_LOST, "stacks_lost" },
	{ LS_CNT_HS_IN_IO, "handshakes_in_io" }, { LS_CNT_THREAD_FULL, "thread_table_full" },
	{ LS_CNT_TABLE_FULL, "per_thread_table_full" }, { LS_CNT_REQ_DROPS, "request_records_dropped" },
	{ LS_CNT_THREAD_EXITS, "thread_exits" }, { LS_CNT_CONN_FREED, "tls_objects_freed" },
	{ LS_CNT_H1_DESYNC, "h1_desync" },
	{ LS_CNT_REQ_OUTSIDE, "requests_outside_window" },
	{ LS_CNT_H2C_CONNS, "h2c_connections" }, { LS_CNT_SIO_IOV_CUT, "syscall_iovecs_cut" },
	{ LS_CNT_H1_PLAIN_CONNS, "http1_plain_connections" },
	{ LS_CNT_SSL_FD_WRONG, "tls_socket_corrected" }, { LS_CNT_H2O_DROPPED, "h2_out_spans_dropped" },
	{ LS_CNT_REQ_RESET, "requests_reset" },
};

/* How phases were tied to a request where no fd or session said so, by name. */
static const struct {
	unsigned int flag;
	const char *name;
} matched_names[] = {
	{ LS_RQ_PROTO_STREAM, "proto_by_goroutine_stream" },
	{ LS_RQ_PROTO_WRITER, "proto_by_handler_thread" },
	{ LS_RQ_PROTO_FIFO, "proto_by_thread_order" },
	{ LS_RQ_NET_THREAD, "net_by_thread_time" },
};

/* ---- Plain text ---------------------------------------------------------------- */

static void text_call(struct trace_ctx *t, const struct ls_event *e)
{
	char d[32], sp[32], fd[16] = "-";

	if (e->flags & LS_F_FD_KNOWN)
		snprintf(fd, sizeof(fd), "%d", e->fd);
	if (t->printed++ % 40 == 0)
		printf("%-12s %-7s %-7s %-17s %-18s %5s %9s %9s\n", "TIME(s)", "PID", "TID", "PROBE", "CONN", "FD",
		       "BYTES", "DUR");
	printf("%-12.6f %-7u %-7u %-17s 0x%-16llx %5s %9llu %9s", (double)(e->ts_ns - t->t0) / 1e9, e->pid, e->tid,
	       ls_probe_name(e->probe), (unsigned long long)e->conn, fd, (unsigned long long)e->bytes,
	       cli_fmt_ns(e->dur_ns, d, sizeof(d)));
	if (e->flags & LS_F_HANDSHAKE)
		printf("  handshake done, %s since first attempt", cli_fmt_ns(e->span_ns, sp, sizeof(sp)));
	putchar('\n');
}

static void text_request(struct trace_ctx *t, const struct ls_req_view *v)
{
	const struct ls_request *q = v->rec;
	char a[32], method[LS_METHOD_LEN * 4 + 1], reason[512];

	/* The method and the reason come from the target's clients: no control character reaches the terminal. */
	cli_term_str(method, sizeof(method), v->method);
	if (t->printed++ % 40 == 0)
		printf("%-12s %-7s %-6s %-32s %6s %9s  %s\n", "TIME(s)", "PID", "STREAM", "METHOD", "STATUS", "TOTAL",
		       "PHASES (non-zero)");
	printf("%-12.6f %-7u %-6u %-32.64s %6d %9s ", (double)(q->start_ns - t->t0) / 1e9, q->pid, q->stream, method,
	       v->grpc_status >= 0 ? v->grpc_status : v->status, cli_fmt_ns(q->total_ns, a, sizeof(a)));
	for (int p = 0; p < LS_PHASE_COUNT; p++)
		if (q->phase_ns[p])
			printf(" %s=%s", ls_phase_name((unsigned)p), cli_fmt_ns(q->phase_ns[p], a, sizeof(a)));
	if (q->shared > 1)
		printf(" shared=%u", q->shared);
	if (v->method_reason)
		printf("  [%s]", cli_term_str(reason, sizeof(reason), v->method_reason));
	putchar('\n');
	if (t->cur.st)
		trace_stacks_text(&t->cur, TRACE_STACKS_TEXT);
}

static void text_methods(struct trace_ctx *t)
{
	const struct ls_method_stats *const *m;
	char b[6][32], method[LS_METHOD_LEN * 4 + 1];
	size_t n;

	m = ls_reqs_methods(t->reqs, &n);
	if (n)
		printf("\n%-7s %-36s %8s %9s %6s %9s %9s %9s %9s\n", "PID", "METHOD", "COUNT", "RPS", "ERRORS", "P50", "P90",
		       "P99", "MAX");
	for (size_t i = 0; i < n; i++) {
		const struct ls_method_stats *s = m[i];
		double span = s->last_ns > s->first_ns ? (double)(s->last_ns - s->first_ns) / 1e9 : 0;
		double rps = span > 0 ? (double)s->count / span : 0;

		printf("%-7d %-36.36s %8llu %9.1f %6llu %9s %9s %9s %9s\n", (int)s->pid,
		       cli_term_str(method, sizeof(method), s->method), (unsigned long long)s->count, rps,
		       (unsigned long long)s->errors,
		       cli_fmt_ns(ls_hist_quantile(s->total_hist, LS_HIST_BUCKETS, 0.50), b[0], 32),
		       cli_fmt_ns(ls_hist_quantile(s->total_hist, LS_HIST_BUCKETS, 0.90), b[1], 32),
		       cli_fmt_ns(ls_hist_quantile(s->total_hist, LS_HIST_BUCKETS, 0.99), b[2], 32),
		       cli_fmt_ns(s->total_max, b[3], 32));
		printf("        %-10s %9s %9s %7s\n", "phase", "p50", "p99", "share");
		for (int p = 0; p < LS_PHASE_COUNT; p++) {
			if (!s->phase_sum[p])
				continue;
			printf("        %-10s %9s %9s %6.1f%%\n", ls_phase_name((unsigned)p),
			       cli_fmt_ns(ls_hist_quantile(s->phase_hist[p], LS_HIST_BUCKETS, 0.5), b[4], 32),
			       cli_fmt_ns(ls_hist_quantile(s->phase_hist[p], LS_HIST_BUCKETS, 0.99), b[5], 32),
			       100.0 * (double)s->phase_sum[p] / (double)s->total_sum);
		}
	}
}

static int by_per_req(const void *a, const void *b)
{
	uint64_t x = (*(const struct probe_row *const *)a)->per_req, y = (*(const struct probe_row *const *)b)->per_req;

	return x < y ? 1 : x > y ? -1 : 0;
}

/* The probes that cost the targets most per request: where a cheaper placement or fewer phases would pay. */
static void costliest(const struct trace_summary *s)
{
	const struct probe_row *by[LS_PROBE_COUNT];
	size_t n = 0;
	char a[32];

	for (size_t i = 0; i < s->nrows && n < LS_PROBE_COUNT; i++)
		if (s->rows[i].per_req)
			by[n++] = &s->rows[i];
	if (!n)
		return;
	qsort(by, n, sizeof(by[0]), by_per_req);
	printf("costliest probes per request:");
	for (size_t i = 0; i < n && i < 3; i++)
		printf("%s %s %s", i ? "," : "", ls_probe_name(by[i]->probe), cli_fmt_ns(by[i]->per_req, a, sizeof(a)));
	putchar('\n');
}

/* Requests started inside windows and counted, or abandoned at a window's close, over the share of time traced. */
static double estimated_requests(const struct trace_summary *s)
{
	double share = s->duty.traffic_share > 0 ? s->duty.traffic_share : s->duty.sampled_share;

	if (share <= 0)
		share = 1;

	return (double)(s->nreq + s->duty.abandoned) / share;
}

/* How the overhead budget went: what share of the time was traced and what the probes cost. */
static void text_budget(const struct trace_summary *s)
{
	const struct ls_duty_stats *d = &s->duty;

	if (!s->budget) {
		printf("overhead budget off: traced 100%% of the time\n");
		return;
	}
	printf("overhead budget %.1f%%: traced %.0f%% of the time, %.0f%% of the targets' traffic (%llu windows, duty now "
	       "%.0f%%); probes cost %.1f%% measured per hit, %.1f%% charged with the in-situ measure (%.1f%% while attached); "
	       "latscope's own record handling %.1f%% (%.1f%% charged: what no idle CPU covered)\n", 100 * d->budget,
	       100 * d->sampled_share, 100 * d->traffic_share, (unsigned long long)d->windows, 100 * d->duty,
	       100 * d->overhead, 100 * d->charged, 100 * d->overhead_on,
	       d->denom_ns ? 100.0 * (double)d->self_ns / (double)d->denom_ns : 0.0,
	       d->denom_ns ? 100.0 * (double)d->self_charged_ns / (double)d->denom_ns : 0.0);
	if (d->windows && s->unfollowed)
		printf("requests: not followed (--no-records); per window attach %.2fms, detach %.2fms\n",
		       d->attaches ? d->attach_ns / 1e6 / (double)d->attaches : 0.0,
		       d->detaches ? d->detach_ns / 1e6 / (double)d->detaches : 0.0);
	else if (d->windows)
		printf("requests: %llu observed (%llu unnamed), estimated %.0f for the whole time; %llu abandoned at a "
		       "window's close; per window attach %.2fms, detach %.2fms\n", (unsigned long long)s->nreq,
		       (unsigned long long)s->unnamed, estimated_requests(s), (unsigned long long)d->abandoned,
		       d->attaches ? d->attach_ns / 1e6 / (double)d->attaches : 0.0,
		       d->detaches ? d->detach_ns / 1e6 / (double)d->detaches : 0.0);
	if (d->khook_cycled)
		printf("kernel hooks off in %llu gaps too: traffic counted by the targets' read/write bytes\n",
		       (unsigned long long)d->khook_cycled);
	else if (d->khook_stays)
		printf("kernel hooks stay on in the gaps: %s\n", d->khook_stays);
	if (d->pace_windows >= 0)
		printf("the targets' traffic per second from a window's open to its detach's end: %.0f%% of the gaps'; "
		       "%.1f%% of the run's lost by it, measured\n", 100 * d->pace_windows, 100 * d->pace_lost);
	if (d->failed)
		printf("duty cycling stopped, the probes stay attached: %s\n", d->failed);
}

/* A probe whose calls are counted but not timed (an entry probe only): no durations to show. */
static int untimed(const struct probe_row *r)
{
	for (size_t i = 0; i < LS_HIST_BUCKETS; i++)
		if (r->st.hist[i])
			return 0;
	return 1;
}

/* key: v, or null where the probe does not see it (not 0, which would read as measured). */
static void ku64_seen(struct jw *w, const char *key, int seen, uint64_t v)
{
	if (seen) {
		jw_ku64(w, key, v);
		return;
	}
	jw_key(w, key);
	jw_null(w);
}

static void text_summary(struct trace_ctx *t, const struct trace_summary *s)
{
	char a[32], b[32], d[32];
	int wname = 26; /* the probe column: as wide as its longest name (Go's are long) */

	for (size_t i = 0; i < s->nrows; i++) {
		size_t len = strlen(ls_probe_name(s->rows[i].probe));

		if (len > (size_t)wname && len < 128)
			wname = (int)len;
	}
	printf("\nsummary: %.2fs, kernel hook %s, %s\n%-*s %10s %10s %10s %14s %10s %10s %10s %8s %9s\n",
	       (double)s->elapsed_ns / 1e9, s->khook, s->end, wname, "PROBE", "CALLS", "OK", "FAIL", "BYTES", "P50", "P99",
	       "MAX", "HITS", "EST/CALL");
	for (size_t i = 0; i < s->nrows; i++) {
		const struct probe_row *r = &s->rows[i];
		char e[32] = "-", h[24] = "-", y[24] = "-";
		int timed = !untimed(r);

		/* An entry probe alone sees no result: no bytes (mem_send), unless it counted some. */
		if (timed || r->st.bytes)
			snprintf(y, sizeof(y), "%llu", (unsigned long long)r->st.bytes);
		if (r->hits_per_call) {
			snprintf(h, sizeof(h), "%llu", (unsigned long long)(r->st.calls * r->hits_per_call));
			cli_fmt_ns(r->per_call, e, sizeof(e));
		}
		snprintf(a, sizeof(a), "-");
		snprintf(b, sizeof(b), "-");
		snprintf(d, sizeof(d), "-");
		if (timed) {
			cli_fmt_ns(ls_hist_quantile(r->st.hist, LS_HIST_BUCKETS, 0.50), a, 32);
			cli_fmt_ns(ls_hist_quantile(r->st.hist, LS_HIST_BUCKETS, 0.99), b, 32);
			cli_fmt_ns(r->st.dur_max_ns, d, 32);
		}
		printf("%-*s %10llu %10llu %10llu %14s %10s %10s %10s %8s %9s\n", wname, ls_probe_name(r->probe),
		       (unsigned long long)r->st.calls, (unsigned long long)r->st.ok, (unsigned long long)r->st.fail, y, a,
		       b, d, h, e);
	}
	printf("handshakes completed: %llu, records dropped: %llu%s\n", (unsigned long long)s->handshakes,
	       (unsigned long long)s->drops, s->drops ? " (ring buffer full: the counts and histograms are still exact)" : "");
	for (size_t i = 0; i < s->npids; i++)
		if (s->pids[i].ok && s->pids[i].count)
			printf("pid %d: %llu requests, p50 %s, p99 %s, max %s\n", (int)s->pids[i].pid,
			       (unsigned long long)s->pids[i].count, cli_fmt_ns(s->pids[i].p50, a, 32),
			       cli_fmt_ns(s->pids[i].p99, b, 32), cli_fmt_ns(s->pids[i].max, d, 32));
	if (s->counters[LS_CNT_REQ_RESET])
		printf("requests reset before their response ended (RST_STREAM: a client that gave up, a server that "
		       "refused): %llu, not in the requests above\n", (unsigned long long)s->counters[LS_CNT_REQ_RESET]);
	text_budget(s);
	/* What the library probes cost the targets, from each one's placement (see `probes -v`). */
	if (s->hits) {
		printf("library probes: %llu hits, estimated %s of probe time", (unsigned long long)s->hits,
		       cli_fmt_ns(s->est_ns, a, sizeof(a)));
		if (s->nreq)
			printf(" (%.1f hits, %s per request)", (double)s->hits / (double)s->nreq,
			       cli_fmt_ns(s->est_ns / s->nreq, b, sizeof(b)));
		if (s->target_cpu_ns)
			printf(", %.1f%% of the CPU time the targets used", 100.0 * (double)s->est_ns / (double)s->target_cpu_ns);
		printf(" (traps %s at the per-hit costs %s; programs %s%s); per probe placement and cost: "
		       "latscope probes -v\n", cli_fmt_ns(s->trap_ns, a, sizeof(a)), s->costs_how,
		       cli_fmt_ns(s->est_ns - s->trap_ns, b, sizeof(b)),
		       s->bpf_measured ? " as the kernel measured them" : " from the fallback table");
	}
	if (s->bpf_measured)
		printf("latscope's BPF programs: %llu runs, %s (kernel-measured; all programs, kernel hooks and samplers "
		       "included)\n", (unsigned long long)s->bpf.runs, cli_fmt_ns(s->bpf.run_ns, d, sizeof(d)));
	costliest(s);
	text_methods(t);
}

static const struct trace_sink text_sink = { text_call, text_request, text_summary };

/* ---- JSON lines ---------------------------------------------------------------- */

static void json_call(struct trace_ctx *t, const struct ls_event *e)
{
	struct jw w;

	(void)t;
	jw_init(&w, stdout);
	jw_obj(&w);
	if (e->type == LS_REC_CALL) {
		jw_kstr(&w, "type", "call");
		jw_kstr(&w, "probe", ls_probe_name(e->probe));
		jw_ku64(&w, "pid", e->pid);
		jw_ku64(&w, "tid", e->tid);
		jw_khex(&w, "conn", e->conn);
	} else {
		jw_kstr(&w, "type", "net");
		jw_kstr(&w, "probe", ls_probe_name(e->probe));
		jw_kstr(&w, "dir", ls_probe_net_dir(e->probe));
		jw_ku64(&w, "pid", e->pid);
		jw_ku64(&w, "tid", e->tid);
		jw_khex(&w, "sock", e->conn);
	}
	if (e->flags & LS_F_FD_KNOWN)
		jw_ki64(&w, "fd", e->fd);
	jw_ku64(&w, "bytes", e->bytes);
	jw_ku64(&w, "dur_ns", e->dur_ns);
	jw_ku64(&w, "ts_ns", e->ts_ns);
	if (e->type == LS_REC_CALL && (e->flags & LS_F_HANDSHAKE)) {
		jw_kbool(&w, "handshake", 1);
		jw_ku64(&w, "handshake_span_ns", e->span_ns);
	}
	jw_obj_end(&w);
}

static void json_request(struct trace_ctx *t, const struct ls_req_view *v)
{
	const struct ls_request *q = v->rec;
	struct jw w;

	jw_init(&w, stdout);
	jw_obj(&w);
	jw_kstr(&w, "type", "request");
	jw_ku64(&w, "pid", q->pid);
	jw_ku64(&w, "tid", q->tid);
	jw_khex(&w, "conn", q->conn);
	jw_ku64(&w, "stream", q->stream);
	jw_kstr(&w, "protocol", v->protocol);
	jw_kstr(&w, "method", v->method);
	if (v->method_reason)
		jw_kstr(&w, "method_reason", v->method_reason);
	if (v->method_from)
		jw_kstr(&w, "method_from", v->method_from);
	if (v->http_method[0])
		jw_kstr(&w, "http_method", v->http_method);
	jw_key(&w, "status");
	if (v->status >= 0)
		jw_i64(&w, v->status);
	else
		jw_null(&w);
	if (v->grpc_status >= 0)
		jw_ki64(&w, "grpc_status", v->grpc_status);
	jw_kbool(&w, "error", v->error);
	jw_kbool(&w, "slow", q->flags & LS_RQ_SLOW);
	jw_ku64(&w, "start_ns", q->start_ns);
	jw_ku64(&w, "total_ns", q->total_ns);
	jw_key(&w, "phases");
	jw_obj(&w);
	for (int p = 0; p < LS_PHASE_COUNT; p++)
		jw_ku64(&w, ls_phase_name((unsigned)p), q->phase_ns[p]);
	jw_obj_end(&w);
	jw_ku64(&w, "shared", q->shared);
	jw_ku64(&w, "bytes_in", q->bytes_in);
	jw_ku64(&w, "bytes_out", q->bytes_out);
	if (q->flags & LS_RQ_OVERLAP)
		jw_kbool(&w, "overlap", 1);
	if (q->flags & (LS_RQ_PROTO_FIFO | LS_RQ_PROTO_STREAM | LS_RQ_PROTO_WRITER | LS_RQ_NET_THREAD)) {
		int proto_named = 0;

		jw_key(&w, "matched");
		jw_arr(&w);
		/* One protobuf strategy per request (the first that applies), then the kernel time's. */
		for (size_t i = 0; i < sizeof(matched_names) / sizeof(matched_names[0]); i++) {
			int proto = matched_names[i].flag != LS_RQ_NET_THREAD;

			if (!(q->flags & matched_names[i].flag) || (proto && proto_named))
				continue;
			proto_named |= proto;
			jw_str(&w, matched_names[i].name);
		}
		jw_arr_end(&w);
	}
	if (t->cur.st)
		trace_stacks_json(&w, &t->cur, 1000000000ull / TRACE_STACKS_HZ, TRACE_STACKS_JSON);
	jw_obj_end(&w);
}

static void json_methods(struct trace_ctx *t, struct jw *w)
{
	const struct ls_method_stats *const *m;
	size_t n;

	m = ls_reqs_methods(t->reqs, &n);
	jw_key(w, "methods");
	jw_arr(w);
	for (size_t i = 0; i < n; i++) {
		const struct ls_method_stats *s = m[i];
		double span = s->last_ns > s->first_ns ? (double)(s->last_ns - s->first_ns) / 1e9 : 0;

		jw_obj(w);
		jw_ki64(w, "pid", s->pid);
		jw_kstr(w, "method", s->method);
		jw_ku64(w, "count", s->count);
		jw_kdbl(w, "rps", "%.1f", span > 0 ? (double)s->count / span : 0);
		jw_ku64(w, "errors", s->errors);
		jw_ku64(w, "slow", s->slow);
		jw_ku64(w, "p50_ns", ls_hist_quantile(s->total_hist, LS_HIST_BUCKETS, 0.50));
		jw_ku64(w, "p90_ns", ls_hist_quantile(s->total_hist, LS_HIST_BUCKETS, 0.90));
		jw_ku64(w, "p99_ns", ls_hist_quantile(s->total_hist, LS_HIST_BUCKETS, 0.99));
		jw_ku64(w, "max_ns", s->total_max);
		jw_key(w, "phases");
		jw_obj(w);
		for (int p = 0; p < LS_PHASE_COUNT; p++) {
			jw_key(w, ls_phase_name((unsigned)p));
			jw_obj(w);
			jw_ku64(w, "p50_ns", ls_hist_quantile(s->phase_hist[p], LS_HIST_BUCKETS, 0.5));
			jw_ku64(w, "p99_ns", ls_hist_quantile(s->phase_hist[p], LS_HIST_BUCKETS, 0.99));
			jw_kdbl(w, "share", "%.4f", s->total_sum ? (double)s->phase_sum[p] / (double)s->total_sum : 0.0);
			jw_obj_end(w);
		}
		jw_obj_end(w);
		jw_obj_end(w);
	}
	jw_arr_end(w);
}

/* The overhead budget's account (see text_budget). */
static void json_budget(struct jw *w, const struct trace_summary *s)
{
	const struct ls_duty_stats *d = &s->duty;

	jw_kdbl(w, "sampled_share", "%.4f", s->budget ? d->sampled_share : 1.0);
	jw_kdbl(w, "sampled_traffic_share", "%.4f", s->budget ? d->traffic_share : 1.0);
	if (s->unfollowed) {
		jw_key(w, "requests_estimated");
		jw_str(w, NULL);
	} else {
		jw_kdbl(w, "requests_estimated", "%.0f", s->budget ? estimated_requests(s) : (double)s->nreq);
	}
	jw_key(w, "overhead");
	jw_obj(w);
	if (!s->budget) {
		jw_kbool(w, "budget", 0);
		jw_obj_end(w);
		return;
	}
	jw_kdbl(w, "budget_pct", "%.2f", 100 * d->budget);
	jw_kdbl(w, "measured_pct", "%.3f", 100 * d->overhead);
	jw_kdbl(w, "charged_pct", "%.3f", 100 * d->charged);
	jw_kdbl(w, "attached_pct", "%.3f", 100 * d->overhead_on);
	jw_kdbl(w, "attached_in_situ_pct", "%.3f", 100 * d->overhead_situ);
	jw_kdbl(w, "duty", "%.4f", d->duty);
	jw_kdbl(w, "duty_min", "%.4f", d->duty_min);
	jw_ku64(w, "cost_ns", d->cost_ns);
	jw_ku64(w, "self_ns", d->self_ns);
	jw_ku64(w, "self_charged_ns", d->self_charged_ns);
	jw_ku64(w, "detach_charged_in_situ_ns", d->detach_situ_ns);
	jw_ku64(w, "wait_charged_in_situ_ns", d->delay_situ_ns);
	jw_ku64(w, "pace_charged_in_situ_ns", d->pace_situ_ns);
	if (d->pace_windows >= 0) {
		jw_kdbl(w, "pace_in_windows", "%.4f", d->pace_windows);
		jw_kdbl(w, "traffic_lost_pct", "%.3f", 100 * d->pace_lost);
		jw_ku64(w, "pace_idle_windows", d->pace_idle_windows);
	}
	jw_ku64(w, "denominator_ns", d->denom_ns);
	jw_ku64(w, "windows", d->windows);
	jw_ku64(w, "abandoned_at_window_close", d->abandoned);
	jw_ku64(w, "emergency_cuts", d->emergency);
	jw_ku64(w, "gaps", d->gaps);
	jw_ku64(w, "attach_ns", d->attach_ns);
	jw_ku64(w, "attaches", d->attaches);
	jw_ku64(w, "detach_ns", d->detach_ns);
	jw_ku64(w, "detaches", d->detaches);
	jw_ku64(w, "syscall_reader_gaps", d->sio_cycled);
	jw_ku64(w, "kernel_hook_gaps", d->khook_cycled);
	jw_kstr(w, "traffic_counter", d->traffic_counter);
	if (d->khook_stays)
		jw_kstr(w, "kernel_hook_stays", d->khook_stays);
	if (d->failed)
		jw_kstr(w, "failed", d->failed);
	jw_obj_end(w);
}

static void json_summary(struct trace_ctx *t, const struct trace_summary *s)
{
	struct jw w;

	jw_init(&w, stdout);
	jw_obj(&w);
	jw_kstr(&w, "type", "summary");
	jw_ku64(&w, "duration_ns", s->elapsed_ns);
	/* The run's start on both clocks: a record's start_ns (monotonic) + unix_ns - monotonic_ns is its wall-clock time. */
	jw_key(&w, "started");
	jw_obj(&w);
	jw_ku64(&w, "monotonic_ns", t->t0);
	jw_ku64(&w, "unix_ns", t->t0_unix);
	jw_obj_end(&w);
	jw_kstr(&w, "kernel_hook", s->khook);
	jw_kstr(&w, "end", s->end);
	jw_key(&w, "probes");
	jw_arr(&w);
	for (size_t i = 0; i < s->nrows; i++) {
		const struct probe_row *r = &s->rows[i];
		int timed = !untimed(r);

		jw_obj(&w);
		jw_kstr(&w, "probe", ls_probe_name(r->probe));
		jw_ku64(&w, "calls", r->st.calls);
		jw_ku64(&w, "ok", r->st.ok);
		jw_ku64(&w, "fail", r->st.fail);
		jw_ku64(&w, "nested", r->st.nested);
		ku64_seen(&w, "bytes", timed || r->st.bytes, r->st.bytes);
		ku64_seen(&w, "p50_ns", timed, ls_hist_quantile(r->st.hist, LS_HIST_BUCKETS, 0.50));
		ku64_seen(&w, "p99_ns", timed, ls_hist_quantile(r->st.hist, LS_HIST_BUCKETS, 0.99));
		ku64_seen(&w, "max_ns", timed, r->st.dur_max_ns);
		if (r->hits_per_call) {
			jw_kstr(&w, "placement", r->place);
			jw_ku64(&w, "hits", r->st.calls * r->hits_per_call);
			jw_ku64(&w, "est_cost_ns_per_call", r->per_call);
			jw_ku64(&w, "est_cost_ns_per_request", r->per_req);
		}
		jw_obj_end(&w);
	}
	jw_arr_end(&w);
	jw_ku64(&w, "handshakes", s->handshakes);
	jw_ku64(&w, "dropped", s->drops);
	jw_ku64(&w, "unnamed_requests", s->unnamed);
	jw_ku64(&w, "hpack_tables_read", s->hd_tables);
	jw_ku64(&w, "hpack_tables_unused", s->hd_tables_failed);
	jw_key(&w, "counters");
	jw_obj(&w);
	for (size_t i = 0; i < sizeof(counter_names) / sizeof(counter_names[0]); i++)
		jw_ku64(&w, counter_names[i].name, s->counters[counter_names[i].c]);
	jw_obj_end(&w);
	jw_key(&w, "requests");
	jw_arr(&w);
	for (size_t i = 0; i < s->npids; i++) {
		if (!s->pids[i].ok || s->unfollowed)
			continue;
		jw_obj(&w);
		jw_ki64(&w, "pid", s->pids[i].pid);
		jw_ku64(&w, "count", s->pids[i].count);
		jw_ku64(&w, "p50_ns", s->pids[i].p50);
		jw_ku64(&w, "p99_ns", s->pids[i].p99);
		jw_ku64(&w, "max_ns", s->pids[i].max);
		jw_obj_end(&w);
	}
	jw_arr_end(&w);
	json_budget(&w, s);
	jw_ku64(&w, "probe_hits", s->hits);
	jw_ku64(&w, "probe_est_ns", s->est_ns);
	jw_ku64(&w, "probe_trap_est_ns", s->trap_ns);
	jw_kstr(&w, "probe_costs", s->costs_how);
	jw_kbool(&w, "bpf_time_measured", s->bpf_measured);
	if (s->bpf_measured) {
		jw_ku64(&w, "bpf_uprobe_ns", s->bpf.uprobe_ns);
		jw_ku64(&w, "bpf_uprobe_runs", s->bpf.uprobe_runs);
		jw_ku64(&w, "bpf_run_ns", s->bpf.run_ns);
		jw_ku64(&w, "bpf_runs", s->bpf.runs);
	}
	jw_ku64(&w, "target_cpu_ns", s->target_cpu_ns);
	if (s->target_cpu_ns)
		jw_kdbl(&w, "probe_est_share_of_target_cpu", "%.4f", (double)s->est_ns / (double)s->target_cpu_ns);
	if (s->nreq) {
		jw_kdbl(&w, "probe_hits_per_request", "%.2f", (double)s->hits / (double)s->nreq);
		jw_kdbl(&w, "probe_est_ns_per_request", "%.0f", (double)s->est_ns / (double)s->nreq);
	}
	json_methods(t, &w);
	if (s->tables)
		cli_maps_json(&w, s->tables, t->reqs);
	jw_obj_end(&w);
}

static const struct trace_sink json_sink = { json_call, json_request, json_summary };

/* The outputs of trace, by --format name (--json is "json"). */
static const struct {
	const char *name;
	const struct trace_sink *sink;
} trace_formats[] = {
	{ "text", &text_sink },
	{ "json", &json_sink },
};

static const struct trace_sink *trace_format(const char *name)
{
	for (size_t i = 0; i < sizeof(trace_formats) / sizeof(trace_formats[0]); i++)
		if (!strcmp(trace_formats[i].name, name))
			return trace_formats[i].sink;
	return NULL;
}

/* A request to print, with its own stacks when it is slow and --stacks asked for them. */
static int print_request(struct trace_ctx *t, const struct ls_req_view *v)
{
	int slow = v->rec->flags & LS_RQ_SLOW;

	if (t->stacks && slow) {
		if (ls_session_request_stacks(t->s, v->rec, &t->cur_st) ||
		    trace_stacks_fold(t->s, t->sym, &t->cur_st, &t->cur)) {
			t->feed_err = ENOMEM;
			return -1;
		}
	}
	t->out->request(t, v);
	if (t->cur.st) {
		trace_stacks_clear(&t->cur);
		ls_req_stacks_clear(&t->cur_st);
	}
	return 0;
}

static int on_event(void *ctxp, const void *rec, size_t size)
{
	struct trace_ctx *t = ctxp;
	const struct ls_rec_hdr *h = rec;
	struct ls_req_view v;
	int r;

	switch (h->type) {
	case LS_REC_CALL:
	case LS_REC_NET:
		if (t->calls && size >= sizeof(struct ls_event))
			t->out->call(t, rec);
		break;
	case LS_REC_HEADERS:
	case LS_REC_METHOD:
	case LS_REC_GAP:
	case LS_REC_H2TABLE:
	case LS_REC_REQUEST:
		r = ls_reqs_feed(t->reqs, rec, size, &v);
		if (r < 0) {
			t->feed_err = -r;
			return -1;
		}
		if (r == 1 && (t->all || (v.rec->flags & LS_RQ_SLOW)) && print_request(t, &v))
			return -1;
		break;
	}
	if (ferror(stdout)) {
		t->out_err = errno ? errno : EIO;
		return -1;
	}
	return 0;
}

/* Gather the summary from the session and hand it to the output. */
static void summary(struct ls_session *s, struct trace_ctx *t, const struct cli_common *c, uint64_t elapsed_ns,
		    const char *end_reason)
{
	static struct ls_phase_stats ps; /* 8.7 KiB: kept off the stack */
	struct trace_summary sum = { .elapsed_ns = elapsed_ns, .khook = ls_khook_name(ls_session_khook(s)),
				     .end = end_reason, .tables = c->verbose ? s : NULL, .unfollowed = t->unfollowed };
	struct ls_probe_cost pc;
	uint64_t cpu;

	sum.rows = calloc(LS_PROBE_COUNT, sizeof(*sum.rows));
	for (unsigned int p = 0; sum.rows && p < LS_PROBE_COUNT; p++) {
		struct probe_row *r = &sum.rows[sum.nrows];

		if (ls_session_stats(s, p, &r->st) || r->st.calls == 0)
			continue;
		r->probe = p;
		r->per_call = ls_session_probe_call_cost(s, p, &r->hits_per_call, &r->place);
		if (ls_probe_is_handshake(p))
			sum.handshakes += r->st.ok;
		sum.nrows++;
	}
	/* Handshakes run inside a read or write have no call of their own: the kernel counts them. */
	sum.handshakes += ls_session_counter(s, LS_CNT_HS_IN_IO);
	sum.drops = ls_session_counter(s, LS_CNT_RB_DROPS);
	sum.unnamed = ls_reqs_unnamed(t->reqs);
	ls_reqs_tables(t->reqs, &sum.hd_tables, &sum.hd_tables_failed);
	for (size_t i = 0; i < sizeof(counter_names) / sizeof(counter_names[0]); i++)
		sum.counters[counter_names[i].c] = ls_session_counter(s, counter_names[i].c);
	for (size_t i = 0; i < c->npids && i < MAX_PIDS; i++) {
		struct pid_row *pr = &sum.pids[sum.npids++];

		pr->pid = c->pids[i];
		if (ls_proc_cpu_ns(c->pids[i], &cpu) == 0 && cpu > t->cpu0[i])
			sum.target_cpu_ns += cpu - t->cpu0[i];
		if (ls_session_phase_stats(s, c->pids[i], LS_PH_TOTAL, &ps))
			continue;
		pr->ok = 1;
		pr->count = ps.count;
		pr->p50 = ls_hist_quantile(ps.hist, LS_HIST_BUCKETS, 0.5);
		pr->p99 = ls_hist_quantile(ps.hist, LS_HIST_BUCKETS, 0.99);
		pr->max = ps.max_ns;
		sum.nreq += ps.count;
	}
	sum.budget = ls_session_duty(s, &sum.duty) == 0;
	ls_session_probe_cost(s, &pc);
	sum.hits = pc.hits;
	sum.trap_ns = pc.trap_ns;
	sum.costs_how = ls_placements_costs(ls_session_placements(s))->how;
	sum.est_ns = pc.trap_ns + pc.prog_ns;
	sum.bpf_measured = pc.prog_measured;
	sum.bpf = pc.bpf;
	for (size_t i = 0; sum.nreq && i < sum.nrows; i++) {
		struct probe_row *r = &sum.rows[i];
		double per_call = (r->per_call >= pc.prog_table_ns ? r->per_call - pc.prog_table_ns : 0) +
				  pc.prog_per_hit_ns * r->hits_per_call;

		r->per_req = (uint64_t)((double)r->st.calls * per_call / (double)sum.nreq);
	}
	t->out->summary(t, &sum);
	fflush(stdout);
	free(sum.rows);
}

/*
 * Read the kernel's symbols and the targets' objects now, before attaching: the first slow
 * request is then printed as fast as the next ones, and the reading is not charged to it.
 */
static void stacks_warm_up(struct ls_symbolizer *sym, const struct cli_common *c)
{
	static const uint64_t kaddr = 0xffffffff81000000ull;
	struct ls_sym_src ksrc = { .kind = LS_SYM_SRC_KERNEL };
	struct ls_sym_result *r = NULL;

	if (ls_symbolize(sym, &ksrc, &kaddr, 1, LS_SYM_ADDR_EXACT, &r) == 0)
		ls_sym_result_free(r);
	for (size_t i = 0; i < c->npids; i++)
		ls_symbolizer_add_process(sym, c->pids[i]);
}

/* --stacks degrades to what loaded: say which half is missing, and why. */
static void stacks_features(struct ls_session *s)
{
	static const struct {
		enum ls_feature f;
		const char *what;
	} need[] = { { LS_FEAT_SAMPLER, "on-CPU samples" }, { LS_FEAT_OFFCPU, "off-CPU intervals" } };

	for (size_t i = 0; i < sizeof(need) / sizeof(need[0]); i++) {
		const struct ls_feat_status *st = ls_session_feature(s, need[i].f);

		if (st->state == LS_FEAT_FAILED)
			cli_warn("--stacks: no %s (%s: %s)", need[i].what, ls_feature_name(need[i].f), st->reason);
	}
}

int cmd_trace(int argc, char **argv)
{
	enum { OPT_NO_RECORDS = 2000, OPT_CALLS, OPT_FORMAT, OPT_STACKS };
	static const struct option longopts[] = {
		CLI_COMMON_LONG,
		{ "no-records", no_argument, NULL, OPT_NO_RECORDS },
		{ "calls", no_argument, NULL, OPT_CALLS },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "threshold", required_argument, NULL, 't' },
		{ "all", no_argument, NULL, 'a' },
		{ "stacks", no_argument, NULL, OPT_STACKS },
		{ 0 },
	};
	struct cli_common c = { 0 };
	struct ls_session_opts so = { .sz = sizeof(so), .records = 0, .requests = 1, .attach_uprobes = 1 };
	struct trace_ctx t = { 0 };
	struct ls_session *s = NULL;
	const char *end_reason = "interrupted";
	uint64_t start, deadline = 0, threshold = 10000000;
	struct cli_watch watch = { 0 };
	int opt, ret = EXIT_OK, no_records = 0, stacks = 0;

	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT "t:a", longopts, NULL)) != -1) {
		int r = cli_common_opt(&c, opt, optarg);

		if (r == 1)
			continue;
		switch (opt) {
		case 'h':
			help(stdout);
			return EXIT_OK;
		case OPT_NO_RECORDS:
			no_records = 1;
			continue;
		case OPT_FORMAT:
			t.out = trace_format(optarg);
			if (!t.out) {
				cli_error("unknown output format '%s' (text, json)", optarg);
				return EXIT_USAGE;
			}
			continue;
		case OPT_CALLS:
			t.calls = 1;
			continue;
		case OPT_STACKS:
			stacks = 1;
			continue;
		case 'a':
			t.all = 1;
			continue;
		case 't':
			if (ls_parse_duration(optarg, &threshold)) {
				cli_error("invalid threshold '%s' (examples: 500us, 10ms, 1s)", optarg);
				return EXIT_USAGE;
			}
			continue;
		}
		if (r == 0)
			fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	if (cli_need_pids(&c, argc, argv, "trace", usage_text))
		return EXIT_USAGE;
	if (stacks && no_records) {
		cli_error("--stacks shows each slow request's stacks: it needs the request records (--no-records is off)");
		return EXIT_USAGE;
	}
	/* Signals first: an interrupt during attach must still detach everything. */
	cli_install_signals();
	if (ls_reqs_new(&t.reqs)) {
		cli_error("out of memory");
		return EXIT_RUNTIME;
	}
	if (!t.out)
		t.out = c.json ? &json_sink : &text_sink;
	so.on_event = on_event;
	so.ctx = &t;
	so.records = t.calls && !no_records;
	so.requests = !no_records;
	t.unfollowed = no_records;
	so.threshold_ns = threshold;
	if (stacks) {
		so.sample_hz = TRACE_STACKS_HZ;
		so.offcpu = 1;
		so.offcpu_inflight_only = 1;
		so.request_stacks = 1;
		/* Stacks as record takes them by default: frame pointers where the code keeps them, a copy to unwind elsewhere. */
		so.ustack_size = LS_USTACK_DEF;
		so.cg_auto = 1;
		t.stacks = 1;
		if (ls_symbolizer_new(NULL, &t.sym)) {
			cli_error("out of memory");
			ret = EXIT_RUNTIME;
			goto cleanup;
		}
		stacks_warm_up(t.sym, &c);
	}
	if (cli_session_start(&c, &so, &s)) {
		ret = EXIT_RUNTIME;
		goto cleanup;
	}
	t.s = s;
	if (stacks)
		stacks_features(s);
	/* The targets as attached: what changes from here on is said. */
	cli_watch_targets(&watch, s, &c, ls_now_ns());
	if (c.verbose)
		fprintf(stderr, "latscope: kernel hook %s; %zu uprobes attached\n%s",
			ls_khook_name(ls_session_khook(s)), ls_session_nprobes(s), ls_session_khook_report(s));
	for (size_t i = 0; c.verbose && i < c.npids; i++) {
		fprintf(stderr, "latscope: pid %d protocol paths:\n", (int)c.pids[i]);
		cli_print_paths(stderr, s, c.pids[i], "latscope:   ");
	}
	if (ls_session_nprobes(s) == 0)
		cli_warn("no TLS or HTTP/2 library found in the target%s: only kernel network timing will show",
			 c.npids > 1 ? "s" : "");
	{
		struct timespec rt;

		start = ls_now_ns();
		clock_gettime(CLOCK_REALTIME, &rt);
		t.t0_unix = (uint64_t)rt.tv_sec * 1000000000ull + (uint64_t)rt.tv_nsec;
	}
	t.t0 = start;
	for (size_t i = 0; i < c.npids; i++)
		ls_proc_cpu_ns(c.pids[i], &t.cpu0[i]);
	if (c.duration_ns)
		deadline = start + c.duration_ns;
	while (!cli_stop) {
		uint64_t now = ls_now_ns();
		int n;

		if (deadline && now >= deadline) {
			end_reason = "duration reached";
			break;
		}
		n = cli_poll(s, deadline, 50);
		if (t.feed_err) {
			cli_error("request assembly: %s", strerror(t.feed_err));
			ret = EXIT_RUNTIME;
			break;
		}
		if (n < 0) {
			cli_error("%s", ls_session_error(s));
			ret = EXIT_RUNTIME;
			break;
		}
		if (t.out_err) {
			end_reason = "output closed";
			break;
		}
		/* What changed in the targets since attach that latscope does not follow: said once. */
		cli_watch_targets(&watch, s, &c, now);
		if (ls_session_alive(s) == 0) {
			for (size_t i = 0; i < c.npids; i++)
				fprintf(stderr, "latscope: pid %d exited\n", (int)c.pids[i]);
			end_reason = "target exited";
			break;
		}
	}
	/* Whatever is still in the ring buffer belongs to this run; so do the streams just reset. */
	if (!t.out_err) {
		ls_session_poll(s, 0);
		ls_session_sweep_resets(s);
	}
	if (!t.out_err && ret == EXIT_OK)
		summary(s, &t, &c, ls_now_ns() - start, end_reason);
	if (!t.out_err && ret == EXIT_OK && c.verbose && t.out != &json_sink)
		cli_print_maps(stderr, s, t.reqs, 0);
cleanup:
	ls_session_free(s);
	ls_reqs_free(t.reqs);
	ls_symbolizer_free(t.sym);
	trace_stacks_forget();
	return ret;
}
