/* latscope trace: stream what a process's TLS and network calls do, then summarise. */
#include "cli.h"
#include "catalog.h"
#include "hist.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <string.h>

static const char usage_text[] =
	"usage: latscope trace -p PID [-p PID...] [-d DURATION] [--json] [--no-records]\n"
	"                      [--kernel-hook auto|fentry|kprobe|tracepoint] [-v]\n"
	"\n"
	"Attaches to running processes and prints one line per TLS call (SSL_read,\n"
	"SSL_write, handshakes) and per kernel TCP send/receive. Runs for DURATION,\n"
	"until SIGINT/SIGTERM, or until every target exits; then prints a summary\n"
	"with per-probe counts, latency p50/p99/max and dropped records.\n"
	"\n"
	"  -p, --pid PID        target process (repeatable)\n"
	"  -d, --duration DUR   stop after DUR (250us, 500ms, 10s, 2m; a bare number is seconds)\n"
	"      --json           one JSON object per line, each with a \"type\"\n"
	"      --no-records     summary only (histograms are kept in the kernel)\n"
	"      --kernel-hook H  force a kernel hook variant (fails if it cannot attach)\n"
	"      --btf FILE       kernel BTF to use instead of /sys/kernel/btf/vmlinux\n"
	"  -v, --verbose        show the kernel hook choice and missing probes (-vv: libbpf diagnostics)\n"
	"\n"
	"exit status: 0 success (also when the target exits), 1 runtime error, 2 usage error\n";

struct trace_ctx {
	int json;
	uint64_t t0;
	uint64_t printed;
	int out_err;
};

static int on_event(void *ctxp, const struct ls_event *e)
{
	struct trace_ctx *t = ctxp;
	const char *probe = ls_probe_name(e->probe);
	char d[32], sp[32];

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
	} else {
		char fd[16] = "-";

		if (e->flags & LS_F_FD_KNOWN)
			snprintf(fd, sizeof(fd), "%d", e->fd);
		if (t->printed++ % 40 == 0)
			printf("%-12s %-7s %-7s %-17s %-18s %5s %9s %9s\n", "TIME(s)", "PID", "TID", "PROBE", "CONN", "FD",
			       "BYTES", "DUR");
		printf("%-12.6f %-7u %-7u %-17s 0x%-16llx %5s %9llu %9s", (double)(e->ts_ns - t->t0) / 1e9, e->pid,
		       e->tid, probe, (unsigned long long)e->conn, fd, (unsigned long long)e->bytes,
		       cli_fmt_ns(e->dur_ns, d, sizeof(d)));
		if (e->flags & LS_F_HANDSHAKE)
			printf("  handshake done, %s since first attempt", cli_fmt_ns(e->span_ns, sp, sizeof(sp)));
		putchar('\n');
	}
	if (ferror(stdout)) {
		t->out_err = errno ? errno : EIO;
		return -1;
	}
	return 0;
}

static void summary(struct ls_session *s, int json, uint64_t elapsed_ns, const char *end_reason)
{
	static struct ls_stats st; /* 8.7 KiB: kept off the stack */
	uint64_t drops = ls_session_counter(s, LS_CNT_RB_DROPS), handshakes = 0;
	char a[32], b[32], c[32];
	int first = 1;

	if (json)
		printf("{\"type\":\"summary\",\"duration_ns\":%llu,\"kernel_hook\":\"%s\",\"end\":\"%s\",\"probes\":[",
		       (unsigned long long)elapsed_ns, ls_khook_name(ls_session_khook(s)), end_reason);
	else
		printf("\nsummary: %.2fs, kernel hook %s, %s\n%-17s %10s %10s %10s %14s %10s %10s %10s\n",
		       (double)elapsed_ns / 1e9, ls_khook_name(ls_session_khook(s)), end_reason, "PROBE", "CALLS",
		       "OK", "FAIL", "BYTES", "P50", "P99", "MAX");
	for (unsigned int p = 0; p < LS_PROBE_COUNT; p++) {
		uint64_t p50, p99;

		if (ls_session_stats(s, p, &st) || st.calls == 0)
			continue;
		if (p == LS_PROBE_SSL_DO_HANDSHAKE || p == LS_PROBE_SSL_ACCEPT || p == LS_PROBE_SSL_CONNECT)
			handshakes += st.ok;
		p50 = ls_hist_quantile(st.hist, LS_HIST_BUCKETS, 0.50);
		p99 = ls_hist_quantile(st.hist, LS_HIST_BUCKETS, 0.99);
		if (json) {
			printf("%s{\"probe\":\"%s\",\"calls\":%llu,\"ok\":%llu,\"fail\":%llu,\"nested\":%llu,\"bytes\":%llu,"
			       "\"p50_ns\":%llu,\"p99_ns\":%llu,\"max_ns\":%llu}",
			       first ? "" : ",", ls_probe_name(p), (unsigned long long)st.calls, (unsigned long long)st.ok,
			       (unsigned long long)st.fail, (unsigned long long)st.nested, (unsigned long long)st.bytes,
			       (unsigned long long)p50, (unsigned long long)p99, (unsigned long long)st.dur_max_ns);
		} else {
			printf("%-17s %10llu %10llu %10llu %14llu %10s %10s %10s\n", ls_probe_name(p),
			       (unsigned long long)st.calls, (unsigned long long)st.ok, (unsigned long long)st.fail,
			       (unsigned long long)st.bytes, cli_fmt_ns(p50, a, sizeof(a)), cli_fmt_ns(p99, b, sizeof(b)),
			       cli_fmt_ns(st.dur_max_ns, c, sizeof(c)));
		}
		first = 0;
	}
	if (json)
		printf("],\"handshakes\":%llu,\"dropped\":%llu}\n", (unsigned long long)handshakes,
		       (unsigned long long)drops);
	else
		printf("handshakes completed: %llu, records dropped: %llu%s\n", (unsigned long long)handshakes,
		       (unsigned long long)drops, drops ? " (ring buffer full: counts above are still exact)" : "");
	fflush(stdout);
}

int cmd_trace(int argc, char **argv)
{
	enum { OPT_NO_RECORDS = 2000 };
	static const struct option longopts[] = { CLI_COMMON_LONG, { "no-records", no_argument, NULL, OPT_NO_RECORDS }, { 0 } };
	struct cli_common c = { 0 };
	struct ls_session_opts so = { .sz = sizeof(so), .records = 1, .attach_uprobes = 1 };
	struct trace_ctx t = { 0 };
	struct ls_session *s = NULL;
	const struct ls_site *sites;
	char err[LS_ERR_LEN];
	const char *end_reason = "interrupted";
	uint64_t start, deadline = 0;
	size_t nsites;
	int opt, ret = EXIT_OK;

	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT, longopts, NULL)) != -1) {
		int r = cli_common_opt(&c, opt, optarg);

		if (r == 1)
			continue;
		if (opt == 'h') {
			fputs(usage_text, stdout);
			return EXIT_OK;
		}
		if (opt == OPT_NO_RECORDS) {
			so.records = 0;
			continue;
		}
		if (r == 0)
			fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	if (optind < argc || !c.npids) {
		cli_error(optind < argc ? "unexpected argument '%s'" : "%s", optind < argc ? argv[optind] : "trace needs -p PID");
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	/* Signals first: an interrupt during attach must still detach everything. */
	cli_install_signals();
	t.json = c.json;
	so.pids = c.pids;
	so.npids = c.npids;
	so.khook = c.khook;
	so.btf_path = c.btf_path;
	so.on_event = on_event;
	so.ctx = &t;
	if (ls_session_new(&so, &s, err)) {
		cli_error("%s", err);
		return EXIT_RUNTIME;
	}
	sites = ls_session_sites(s, &nsites);
	for (size_t i = 0; i < nsites; i++)
		if (!sites[i].found && c.verbose)
			cli_warn("pid %d: %s: %s", (int)sites[i].pid, sites[i].entry->symbol, sites[i].reason);
	if (ls_session_start(s)) {
		cli_error("%s", ls_session_error(s));
		ret = EXIT_RUNTIME;
		goto cleanup;
	}
	if (c.verbose)
		fprintf(stderr, "latscope: kernel hook %s; %zu uprobes attached\n%s",
			ls_khook_name(ls_session_khook(s)), ls_session_nprobes(s), ls_session_khook_report(s));
	if (ls_session_nprobes(s) == 0)
		cli_warn("no TLS library found in the target%s: only kernel network records will show",
			 c.npids > 1 ? "s" : "");
	start = ls_now_ns();
	t.t0 = start;
	if (c.duration_ns)
		deadline = start + c.duration_ns;
	while (!cli_stop) {
		uint64_t now = ls_now_ns();
		int wait = 100, n;

		if (deadline && now >= deadline) {
			end_reason = "duration reached";
			break;
		}
		if (deadline && (deadline - now) / 1000000 < (uint64_t)wait)
			wait = (int)((deadline - now) / 1000000) + 1;
		n = ls_session_poll(s, wait);
		if (n < 0) {
			cli_error("%s", ls_session_error(s));
			ret = EXIT_RUNTIME;
			break;
		}
		if (t.out_err) {
			end_reason = "output closed";
			break;
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
	if (!t.out_err)
		summary(s, c.json, ls_now_ns() - start, end_reason);
cleanup:
	ls_session_free(s);
	return ret;
}
