/* latscope trace: stream slow requests (or every call) of a process, then summarise. */
#include "cli.h"
#include "catalog.h"
#include "hist.h"
#include "requests.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <string.h>

static const char usage_text[] =
	"usage: latscope trace -p PID [-p PID...] [-d DURATION] [--threshold DURATION] [--all]\n"
	"                      [--calls] [--json] [--no-records] [--kernel-hook auto|fentry|kprobe|tracepoint]\n"
	"                      [--placement auto|entry|callsite] [--phases tls,h2,proto,net] [-v]\n"
	"\n"
	"Attaches to running processes and prints every request slower than the\n"
	"threshold with its phases (net_in, tls_in, h2_in, decode, app, encode,\n"
	"h2_out, tls_out, net_out, queue), which add up to its total. Runs for\n"
	"DURATION, until SIGINT/SIGTERM, or until every target exits; then prints a\n"
	"summary per method and per probe.\n"
	"\n"
	"  -p, --pid PID          target process (repeatable, up to 8)\n"
	"  -d, --duration DUR     stop after DUR (250us, 500ms, 10s, 2m; a bare number is seconds)\n"
	"  -t, --threshold DUR    a request at least this long is slow (default 10ms)\n"
	"  -a, --all              print every request, not only slow ones\n"
	"      --calls            also print every TLS call and kernel send/receive\n"
	"      --json             one JSON object per line, each with a \"type\"\n"
	"      --no-records       summary only (histograms are kept in the kernel)\n"
	"      --kernel-hook H    force a kernel hook variant (fails if it cannot attach)\n"
	"      --btf FILE         kernel BTF to use instead of /sys/kernel/btf/vmlinux\n"
	"      --placement P      library probes at the function (entry), at its direct call\n"
	"                         sites (callsite), or call sites where they avoid a single-step\n"
	"                         and see every call (auto, default); see latscope probes -v\n"
	"      --phases LIST      attach only what these phases need (tls,h2,proto,net; default all)\n"
	"  -v, --verbose          show the kernel hook choice and missing probes (-vv: libbpf diagnostics)\n"
	"\n"
	"exit status: 0 success (also when the target exits), 1 runtime error, 2 usage error\n";

struct trace_ctx {
	int json, calls, all;
	uint64_t t0;
	uint64_t printed;
	int out_err;
	struct ls_reqs *reqs;
	int feed_err;
};

static void print_call(struct trace_ctx *t, const struct ls_event *e)
{
	const char *probe = ls_probe_name(e->probe);
	char d[32], sp[32], fd[16] = "-";

	if (t->json) {
		if (e->type == LS_REC_CALL) {
			printf("{\"type\":\"call\",\"probe\":\"%s\",\"pid\":%u,\"tid\":%u,\"conn\":\"0x%llx\"", probe,
			       e->pid, e->tid, (unsigned long long)e->conn);
			if (e->flags & LS_F_FD_KNOWN)
				printf(",\"fd\":%d", e->fd);
			printf(",\"bytes\":%llu,\"dur_ns\":%llu,\"ts_ns\":%llu", (unsigned long long)e->bytes,
			       (unsigned long long)e->dur_ns, (unsigned long long)e->ts_ns);
			if (e->flags & LS_F_HANDSHAKE)
				printf(",\"handshake\":true,\"handshake_span_ns\":%llu", (unsigned long long)e->span_ns);
			printf("}\n");
		} else {
			printf("{\"type\":\"net\",\"probe\":\"%s\",\"dir\":\"%s\",\"pid\":%u,\"tid\":%u,\"sock\":\"0x%llx\"",
			       probe, e->probe == LS_PROBE_NET_SEND ? "send" : "recv", e->pid, e->tid,
			       (unsigned long long)e->conn);
			if (e->flags & LS_F_FD_KNOWN)
				printf(",\"fd\":%d", e->fd);
			printf(",\"bytes\":%llu,\"dur_ns\":%llu,\"ts_ns\":%llu}\n", (unsigned long long)e->bytes,
			       (unsigned long long)e->dur_ns, (unsigned long long)e->ts_ns);
		}
		return;
	}
	if (e->flags & LS_F_FD_KNOWN)
		snprintf(fd, sizeof(fd), "%d", e->fd);
	if (t->printed++ % 40 == 0)
		printf("%-12s %-7s %-7s %-17s %-18s %5s %9s %9s\n", "TIME(s)", "PID", "TID", "PROBE", "CONN", "FD",
		       "BYTES", "DUR");
	printf("%-12.6f %-7u %-7u %-17s 0x%-16llx %5s %9llu %9s", (double)(e->ts_ns - t->t0) / 1e9, e->pid, e->tid,
	       probe, (unsigned long long)e->conn, fd, (unsigned long long)e->bytes, cli_fmt_ns(e->dur_ns, d, sizeof(d)));
	if (e->flags & LS_F_HANDSHAKE)
		printf("  handshake done, %s since first attempt", cli_fmt_ns(e->span_ns, sp, sizeof(sp)));
	putchar('\n');
}

static void print_request(struct trace_ctx *t, const struct ls_req_view *v)
{
	const struct ls_request *q = v->rec;
	char a[32];

	if (t->json) {
		printf("{\"type\":\"request\",\"pid\":%u,\"tid\":%u,\"conn\":\"0x%llx\",\"stream\":%u,\"method\":", q->pid,
		       q->tid, (unsigned long long)q->conn, q->stream);
		cli_json_str(stdout, v->method);
		if (v->method_reason) {
			printf(",\"method_reason\":");
			cli_json_str(stdout, v->method_reason);
		}
		if (v->method_from)
			printf(",\"method_from\":\"%s\"", v->method_from);
		if (v->http_method[0])
			printf(",\"http_method\":\"%s\"", v->http_method);
		if (v->status >= 0)
			printf(",\"status\":%d", v->status);
		else
			printf(",\"status\":null");
		if (v->grpc_status >= 0)
			printf(",\"grpc_status\":%d", v->grpc_status);
		printf(",\"error\":%s,\"slow\":%s,\"start_ns\":%llu,\"total_ns\":%llu,\"phases\":{", v->error ? "true" : "false",
		       (q->flags & LS_RQ_SLOW) ? "true" : "false", (unsigned long long)q->start_ns,
		       (unsigned long long)q->total_ns);
		for (int p = 0; p < LS_PHASE_COUNT; p++)
			printf("%s\"%s\":%llu", p ? "," : "", ls_phase_name((unsigned)p), (unsigned long long)q->phase_ns[p]);
		printf("},\"shared\":%u,\"bytes_in\":%llu,\"bytes_out\":%llu", q->shared, (unsigned long long)q->bytes_in,
		       (unsigned long long)q->bytes_out);
		if (q->flags & LS_RQ_OVERLAP)
			printf(",\"overlap\":true");
		/* How phases were tied to this request where no fd or session said so. */
		if (q->flags & (LS_RQ_PROTO_FIFO | LS_RQ_PROTO_STREAM | LS_RQ_PROTO_WRITER | LS_RQ_NET_THREAD)) {
			const char *sep = "";

			printf(",\"matched\":[");
			if (q->flags & LS_RQ_PROTO_STREAM)
				printf("%s\"proto_by_goroutine_stream\"", sep), sep = ",";
			else if (q->flags & LS_RQ_PROTO_WRITER)
				printf("%s\"proto_by_handler_thread\"", sep), sep = ",";
			else if (q->flags & LS_RQ_PROTO_FIFO)
				printf("%s\"proto_by_thread_order\"", sep), sep = ",";
			if (q->flags & LS_RQ_NET_THREAD)
				printf("%s\"net_by_thread_time\"", sep);
			printf("]");
		}
		printf("}\n");
		return;
	}
	if (t->printed++ % 40 == 0)
		printf("%-12s %-7s %-6s %-32s %6s %9s  %s\n", "TIME(s)", "PID", "STREAM", "METHOD", "STATUS", "TOTAL",
		       "PHASES (non-zero)");
	printf("%-12.6f %-7u %-6u %-32.64s %6d %9s ", (double)(q->start_ns - t->t0) / 1e9, q->pid, q->stream, v->method,
	       v->grpc_status >= 0 ? v->grpc_status : v->status, cli_fmt_ns(q->total_ns, a, sizeof(a)));
	for (int p = 0; p < LS_PHASE_COUNT; p++)
		if (q->phase_ns[p])
			printf(" %s=%s", ls_phase_name((unsigned)p), cli_fmt_ns(q->phase_ns[p], a, sizeof(a)));
	if (q->shared > 1)
		printf(" shared=%u", q->shared);
	if (v->method_reason)
		printf("  [%s]", v->method_reason);
	putchar('\n');
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
			print_call(t, rec);
		break;
	case LS_REC_HEADERS:
	case LS_REC_METHOD:
	case LS_REC_REQUEST:
		r = ls_reqs_feed(t->reqs, rec, size, &v);
		if (r < 0) {
			t->feed_err = -r;
			return -1;
		}
		if (r == 1 && (t->all || (v.rec->flags & LS_RQ_SLOW)))
			print_request(t, &v);
		break;
	}
	if (ferror(stdout)) {
		t->out_err = errno ? errno : EIO;
		return -1;
	}
	return 0;
}

static void summary_methods(struct trace_ctx *t, int json)
{
	const struct ls_method_stats *const *m;
	char b[6][32];
	size_t n;

	m = ls_reqs_methods(t->reqs, &n);
	if (json)
		printf(",\"methods\":[");
	else if (n)
		printf("\n%-7s %-36s %8s %9s %6s %9s %9s %9s %9s\n", "PID", "METHOD", "COUNT", "RPS", "ERRORS", "P50", "P90",
		       "P99", "MAX");
	for (size_t i = 0; i < n; i++) {
		const struct ls_method_stats *s = m[i];
		double span = s->last_ns > s->first_ns ? (double)(s->last_ns - s->first_ns) / 1e9 : 0;
		double rps = span > 0 ? (double)s->count / span : 0;
		uint64_t p50 = ls_hist_quantile(s->total_hist, LS_HIST_BUCKETS, 0.50);
		uint64_t p90 = ls_hist_quantile(s->total_hist, LS_HIST_BUCKETS, 0.90);
		uint64_t p99 = ls_hist_quantile(s->total_hist, LS_HIST_BUCKETS, 0.99);

		if (json) {
			printf("%s{\"pid\":%d,\"method\":", i ? "," : "", (int)s->pid);
			cli_json_str(stdout, s->method);
			printf(",\"count\":%llu,\"rps\":%.1f,\"errors\":%llu,\"slow\":%llu,\"p50_ns\":%llu,\"p90_ns\":%llu,"
			       "\"p99_ns\":%llu,\"max_ns\":%llu,\"phases\":{",
			       (unsigned long long)s->count, rps, (unsigned long long)s->errors,
			       (unsigned long long)s->slow, (unsigned long long)p50, (unsigned long long)p90,
			       (unsigned long long)p99, (unsigned long long)s->total_max);
			for (int p = 0; p < LS_PHASE_COUNT; p++)
				printf("%s\"%s\":{\"p50_ns\":%llu,\"p99_ns\":%llu,\"share\":%.4f}", p ? "," : "",
				       ls_phase_name((unsigned)p),
				       (unsigned long long)ls_hist_quantile(s->phase_hist[p], LS_HIST_BUCKETS, 0.5),
				       (unsigned long long)ls_hist_quantile(s->phase_hist[p], LS_HIST_BUCKETS, 0.99),
				       s->total_sum ? (double)s->phase_sum[p] / (double)s->total_sum : 0.0);
			printf("}}");
			continue;
		}
		printf("%-7d %-36.36s %8llu %9.1f %6llu %9s %9s %9s %9s\n", (int)s->pid, s->method,
		       (unsigned long long)s->count, rps, (unsigned long long)s->errors, cli_fmt_ns(p50, b[0], 32),
		       cli_fmt_ns(p90, b[1], 32), cli_fmt_ns(p99, b[2], 32), cli_fmt_ns(s->total_max, b[3], 32));
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
	if (json)
		printf("]");
}

static void summary(struct ls_session *s, struct trace_ctx *t, const struct cli_common *c, uint64_t elapsed_ns,
		    const char *end_reason)
{
	static struct ls_stats st;         /* 8.7 KiB each: kept off the stack */
	static struct ls_phase_stats ps;
	/* Handshakes run inside a read or write have no call of their own: the kernel counts them. */
	uint64_t drops = ls_session_counter(s, LS_CNT_RB_DROPS), handshakes = ls_session_counter(s, LS_CNT_HS_IN_IO);
	uint64_t ovh_hits = 0, ovh_ns = 0, nreq = 0;
	int json = c->json, first = 1;
	char a[32], b[32], d[32];

	if (json)
		printf("{\"type\":\"summary\",\"duration_ns\":%llu,\"kernel_hook\":\"%s\",\"end\":\"%s\",\"probes\":[",
		       (unsigned long long)elapsed_ns, ls_khook_name(ls_session_khook(s)), end_reason);
	else
		printf("\nsummary: %.2fs, kernel hook %s, %s\n%-26s %10s %10s %10s %14s %10s %10s %10s %8s %9s\n",
		       (double)elapsed_ns / 1e9, ls_khook_name(ls_session_khook(s)), end_reason, "PROBE", "CALLS",
		       "OK", "FAIL", "BYTES", "P50", "P99", "MAX", "HITS", "EST/CALL");
	for (unsigned int p = 0; p < LS_PROBE_COUNT; p++) {
		uint64_t p50, p99;
		unsigned int per_call, hits_per_call;
		const char *place;

		if (ls_session_stats(s, p, &st) || st.calls == 0)
			continue;
		per_call = cli_probe_call_cost(s, p, &hits_per_call, &place);
		ovh_hits += st.calls * hits_per_call;
		ovh_ns += st.calls * per_call;
		if (p == LS_PROBE_SSL_DO_HANDSHAKE || p == LS_PROBE_SSL_ACCEPT || p == LS_PROBE_SSL_CONNECT)
			handshakes += st.ok;
		p50 = ls_hist_quantile(st.hist, LS_HIST_BUCKETS, 0.50);
		p99 = ls_hist_quantile(st.hist, LS_HIST_BUCKETS, 0.99);
		if (json) {
			printf("%s{\"probe\":\"%s\",\"calls\":%llu,\"ok\":%llu,\"fail\":%llu,\"nested\":%llu,\"bytes\":%llu,"
			       "\"p50_ns\":%llu,\"p99_ns\":%llu,\"max_ns\":%llu",
			       first ? "" : ",", ls_probe_name(p), (unsigned long long)st.calls, (unsigned long long)st.ok,
			       (unsigned long long)st.fail, (unsigned long long)st.nested, (unsigned long long)st.bytes,
			       (unsigned long long)p50, (unsigned long long)p99, (unsigned long long)st.dur_max_ns);
			if (hits_per_call)
				printf(",\"placement\":\"%s\",\"hits\":%llu,\"est_cost_ns_per_call\":%u}", place,
				       (unsigned long long)(st.calls * hits_per_call), per_call);
			else
				printf("}");
		} else {
			char e[32] = "-", h[24] = "-";

			if (hits_per_call) {
				snprintf(h, sizeof(h), "%llu", (unsigned long long)(st.calls * hits_per_call));
				cli_fmt_ns(per_call, e, sizeof(e));
			}
			printf("%-26s %10llu %10llu %10llu %14llu %10s %10s %10s %8s %9s\n", ls_probe_name(p),
			       (unsigned long long)st.calls, (unsigned long long)st.ok, (unsigned long long)st.fail,
			       (unsigned long long)st.bytes, cli_fmt_ns(p50, a, sizeof(a)), cli_fmt_ns(p99, b, sizeof(b)),
			       cli_fmt_ns(st.dur_max_ns, d, sizeof(d)), h, e);
		}
		first = 0;
	}
	if (json) {
		static const struct { enum ls_counter c; const char *name; } counters[] = {
			{ LS_CNT_RB_WAKEUPS, "ring_wakeups" }, { LS_CNT_STALE, "stale_calls" },
			{ LS_CNT_DEPTH, "stack_overflow" }, { LS_CNT_H2_DESYNC, "h2_desync" },
			{ LS_CNT_REQ_UNMATCHED, "unmatched_responses" }, { LS_CNT_REQ_TABLE_FULL, "request_table_full" },
			{ LS_CNT_BATCH_FULL, "batch_full" }, { LS_CNT_PROTO_UNMATCHED, "proto_unmatched" },
			{ LS_CNT_SAMPLES, "samples" }, { LS_CNT_STACK_LOST, "stacks_lost" },
			{ LS_CNT_HS_IN_IO, "handshakes_in_io" },
		};

		printf("],\"handshakes\":%llu,\"dropped\":%llu,\"unnamed_requests\":%llu,\"counters\":{",
		       (unsigned long long)handshakes, (unsigned long long)drops,
		       (unsigned long long)ls_reqs_unnamed(t->reqs));
		for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
			printf("%s\"%s\":%llu", i ? "," : "", counters[i].name,
			       (unsigned long long)ls_session_counter(s, counters[i].c));
		printf("},\"requests\":[");
	}
	else
		printf("handshakes completed: %llu, records dropped: %llu%s\n", (unsigned long long)handshakes,
		       (unsigned long long)drops, drops ? " (ring buffer full: the counts and histograms are still exact)" : "");
	/* Per-process totals from the kernel's histograms: exact even when records were dropped. */
	for (size_t i = 0; i < c->npids; i++) {
		if (ls_session_phase_stats(s, c->pids[i], LS_PH_TOTAL, &ps))
			continue;
		if (json) {
			printf("%s{\"pid\":%d,\"count\":%llu,\"p50_ns\":%llu,\"p99_ns\":%llu,\"max_ns\":%llu}", i ? "," : "",
			       (int)c->pids[i], (unsigned long long)ps.count,
			       (unsigned long long)ls_hist_quantile(ps.hist, LS_HIST_BUCKETS, 0.5),
			       (unsigned long long)ls_hist_quantile(ps.hist, LS_HIST_BUCKETS, 0.99),
			       (unsigned long long)ps.max_ns);
		} else if (ps.count) {
			printf("pid %d: %llu requests, p50 %s, p99 %s, max %s\n", (int)c->pids[i],
			       (unsigned long long)ps.count, cli_fmt_ns(ls_hist_quantile(ps.hist, LS_HIST_BUCKETS, 0.5), a, 32),
			       cli_fmt_ns(ls_hist_quantile(ps.hist, LS_HIST_BUCKETS, 0.99), b, 32),
			       cli_fmt_ns(ps.max_ns, d, 32));
		}
	}
	if (json)
		printf("]");
	for (size_t i = 0; i < c->npids; i++)
		if (ls_session_phase_stats(s, c->pids[i], LS_PH_TOTAL, &ps) == 0)
			nreq += ps.count;
	/* What the library probes cost the targets, from each one's placement (see `probes -v`). */
	if (json) {
		printf(",\"probe_hits\":%llu,\"probe_est_ns\":%llu", (unsigned long long)ovh_hits, (unsigned long long)ovh_ns);
		if (nreq)
			printf(",\"probe_hits_per_request\":%.2f,\"probe_est_ns_per_request\":%.0f", (double)ovh_hits / (double)nreq,
			       (double)ovh_ns / (double)nreq);
	} else if (ovh_hits) {
		printf("library probes: %llu hits, estimated %s of probe time", (unsigned long long)ovh_hits,
		       cli_fmt_ns(ovh_ns, a, sizeof(a)));
		if (nreq)
			printf(" (%.1f hits, %s per request)", (double)ovh_hits / (double)nreq,
			       cli_fmt_ns(ovh_ns / nreq, b, sizeof(b)));
		printf("; per probe placement and cost: latscope probes -v\n");
	}
	summary_methods(t, json);
	if (json)
		printf("}\n");
	fflush(stdout);
}

int cmd_trace(int argc, char **argv)
{
	enum { OPT_NO_RECORDS = 2000, OPT_CALLS };
	static const struct option longopts[] = {
		CLI_COMMON_LONG,
		{ "no-records", no_argument, NULL, OPT_NO_RECORDS },
		{ "calls", no_argument, NULL, OPT_CALLS },
		{ "threshold", required_argument, NULL, 't' },
		{ "all", no_argument, NULL, 'a' },
		{ 0 },
	};
	struct cli_common c = { 0 };
	struct ls_session_opts so = { .sz = sizeof(so), .records = 0, .requests = 1, .attach_uprobes = 1 };
	struct trace_ctx t = { 0 };
	struct ls_session *s = NULL;
	const char *end_reason = "interrupted";
	uint64_t start, deadline = 0, threshold = 10000000, last_maps_check = 0;
	int newobj_warned = 0;
	int opt, ret = EXIT_OK, no_records = 0;

	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT "t:a", longopts, NULL)) != -1) {
		int r = cli_common_opt(&c, opt, optarg);

		if (r == 1)
			continue;
		switch (opt) {
		case 'h':
			fputs(usage_text, stdout);
			return EXIT_OK;
		case OPT_NO_RECORDS:
			no_records = 1;
			continue;
		case OPT_CALLS:
			t.calls = 1;
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
	/* Signals first: an interrupt during attach must still detach everything. */
	cli_install_signals();
	if (ls_reqs_new(&t.reqs)) {
		cli_error("out of memory");
		return EXIT_RUNTIME;
	}
	t.json = c.json;
	so.on_event = on_event;
	so.ctx = &t;
	so.records = t.calls && !no_records;
	so.requests = !no_records;
	so.threshold_ns = threshold;
	if (cli_session_start(&c, &so, &s)) {
		ret = EXIT_RUNTIME;
		goto cleanup;
	}
	if (c.verbose)
		fprintf(stderr, "latscope: kernel hook %s; %zu uprobes attached\n%s",
			ls_khook_name(ls_session_khook(s)), ls_session_nprobes(s), ls_session_khook_report(s));
	if (ls_session_nprobes(s) == 0)
		cli_warn("no TLS or HTTP/2 library found in the target%s: only kernel network timing will show",
			 c.npids > 1 ? "s" : "");
	start = ls_now_ns();
	t.t0 = start;
	if (c.duration_ns)
		deadline = start + c.duration_ns;
	while (!cli_stop) {
		uint64_t now = ls_now_ns();
		int wait = 50, n;

		if (deadline && now >= deadline) {
			end_reason = "duration reached";
			break;
		}
		if (deadline && (deadline - now) / 1000000 < (uint64_t)wait)
			wait = (int)((deadline - now) / 1000000) + 1;
		n = ls_session_poll(s, wait);
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
		/* An object mapped after attach (dlopen) may call what is probed at call sites only. */
		if (now - last_maps_check >= 2000000000ull) {
			last_maps_check = now;
			for (size_t i = 0; i < c.npids && !newobj_warned; i++) {
				char path[LS_PATH_LEN];

				if (ls_placements_new_object(ls_session_placements(s), c.pids[i], path, sizeof(path))) {
					cli_warn("pid %d mapped %s after latscope attached: its calls to functions probed at call "
						 "sites only are not seen (restart latscope, or use --placement entry)",
						 (int)c.pids[i], path);
					newobj_warned = 1;
				}
			}
		}
		if (ls_session_alive(s) == 0) {
			for (size_t i = 0; i < c.npids; i++)
				fprintf(stderr, "latscope: pid %d exited\n", (int)c.pids[i]);
			end_reason = "target exited";
			break;
		}
	}
	/* Whatever is still in the ring buffer belongs to this run. */
	if (!t.out_err)
		ls_session_poll(s, 0);
	if (!t.out_err && ret == EXIT_OK)
		summary(s, &t, &c, ls_now_ns() - start, end_reason);
cleanup:
	ls_session_free(s);
	ls_reqs_free(t.reqs);
	return ret;
}
