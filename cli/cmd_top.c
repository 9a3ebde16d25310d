/* latscope top: a live, top-style view of a process's requests, refreshed every interval. */
#include "cli.h"
#include "top.h"
#include "tui.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage_text[] =
	"usage: latscope top -p PID [-p PID...] [-i INTERVAL] [--threshold DURATION] [-F HZ]\n"
	"                    [--batch [-n COUNT]] [--json] [--kernel-hook auto|fentry|kprobe|tracepoint] [--overhead PCT|off] [-v]\n"
	"\n"
	"A live view of the target's requests, one row per pid and method: rate,\n"
	"errors, p50/p90/p99/max over the last interval and a bar of where the p99\n"
	"request's time went, phase by phase. Enter shows a row's phases, latency\n"
	"histogram, last slow requests and the hot stacks of slow requests; h lists\n"
	"every key. The target exiting keeps its last data on screen.\n"
	"\n"
	"  -p, --pid PID          target process (repeatable, up to 8)\n"
	"  -i, --interval DUR     refresh interval (default 1s)\n"
	"  -t, --threshold DUR    a request at least this long is slow (default 10ms; 't' changes it live)\n"
	"  -F, --freq HZ          CPU samples per second per CPU for the hot stacks (default 49, 0: none)\n"
	"  -b, --batch            no screen: print snapshots as plain text (no escape codes)\n"
	"  -n, --count N          with --batch: stop after N snapshots (default: until interrupted)\n"
	"      --json             with --batch: one JSON object per snapshot and line\n"
	"  -d, --duration DUR     stop after DUR\n"
	"      --kernel-hook H    force a kernel hook variant (fails if it cannot attach)\n"
	"      --btf FILE         kernel BTF to use instead of /sys/kernel/btf/vmlinux\n"
	CLI_OVERHEAD_HELP
	"  -v, --verbose          show the kernel hook choice and missing probes\n"
	"\n"
	"Without a terminal on stdin and stdout, --batch is needed. The screen needs 80x24 or more;\n"
	"NO_COLOR (or a terminal without colours) draws it without colour.\n"
	"\n"
	"exit status: 0 success (also when the target exits), 1 runtime error, 2 usage error\n";

struct top_run {
	struct top_model *model;
	int feed_err;
};

static int on_event(void *ctxp, const void *rec, size_t size)
{
	struct top_run *r = ctxp;
	int ret = top_model_feed(r->model, rec, size);

	if (ret < 0) {
		r->feed_err = -ret;
		return -1;
	}
	return 0;
}

static size_t nalive(const struct top_snap *snap)
{
	size_t n = 0;

	for (size_t i = 0; i < snap->ntargets; i++)
		n += snap->targets[i].alive ? 1 : 0;
	return n;
}

/* "pid 123 exited" for every target that did, or "" */
static void exited_text(const struct top_snap *snap, char *buf, size_t len)
{
	size_t pos = 0;

	buf[0] = '\0';
	for (size_t i = 0; snap && i < snap->ntargets && pos + 1 < len; i++)
		if (!snap->targets[i].alive)
			pos += (size_t)snprintf(buf + pos, len - pos, "%spid %d exited", pos ? ", " : "",
						(int)snap->targets[i].pid);
}

/* Drain records until the next snapshot is due; -1 on a session error (printed by the caller). */
static int poll_until(struct ls_session *s, struct top_run *run, uint64_t due, int max_wait_ms)
{
	return cli_poll(s, due, max_wait_ms) < 0 || run->feed_err ? -1 : 0;
}

static int run_batch(struct ls_session *s, struct top_run *run, uint64_t interval, uint64_t count, uint64_t deadline,
		     int json)
{
	uint64_t due = ls_now_ns() + interval, printed = 0;

	while (!cli_stop && (!count || printed < count)) {
		struct top_snap *snap;

		if (poll_until(s, run, due, 100))
			return -1;
		if (ls_now_ns() < due && !(deadline && ls_now_ns() >= deadline))
			continue;
		snap = top_model_snapshot(run->model, s);
		if (!snap)
			return -1;
		if (json)
			top_print_json(stdout, snap);
		else
			top_print_text(stdout, snap);
		printed++;
		due += interval;
		if (!nalive(snap) || (deadline && ls_now_ns() >= deadline)) {
			top_snap_free(snap);
			break;
		}
		top_snap_free(snap);
		if (ferror(stdout))
			break;
	}
	return 0;
}

static int run_screen(struct ls_session *s, struct top_run *run, uint64_t interval, uint64_t deadline,
		      uint64_t *threshold, pid_t pid0)
{
	struct top_snap *shown = NULL;
	struct tui *t = NULL;
	char status[512] = "", note[384] = "", ex[256];
	uint64_t due = ls_now_ns() + interval, flames = 0;
	int paused = 0, frozen = 0, ret = 0, dirty = 1;

	ret = tui_open(tui_want_colour(), &t);
	if (ret) {
		cli_error("cannot open the terminal: %s", strerror(-ret));
		return -1;
	}
	/* A first, empty frame at once: the header shows the session is attached. */
	shown = top_model_snapshot(run->model, s);
	while (!cli_stop && !(deadline && ls_now_ns() >= deadline)) {
		enum tui_action a;
		const char *text;

		if (poll_until(s, run, frozen ? ls_now_ns() + 50000000 : due, 50)) {
			ret = -1;
			break;
		}
		if (!frozen && ls_now_ns() >= due) {
			struct top_snap *snap = top_model_snapshot(run->model, s);

			due += interval;
			if (snap && !paused) {
				top_snap_free(shown);
				shown = snap;
				dirty = 1;
			} else {
				top_snap_free(snap);
			}
			/* Every target gone: nothing new will come, the last data stays on screen. */
			if (shown && !nalive(shown))
				frozen = 1;
		}
		while ((a = tui_key(t, &text)) != TUI_NONE) {
			uint64_t ns;
			char b[32];

			dirty = 1;
			switch (a) {
			case TUI_QUIT:
				goto done;
			case TUI_PAUSE:
				paused = !paused;
				snprintf(note, sizeof(note), "%s", paused ? "paused (data is still collected; p resumes)" : "");
				break;
			case TUI_RESET:
				top_model_reset(run->model);
				snprintf(note, sizeof(note), "statistics reset");
				break;
			case TUI_THRESHOLD:
				if (ls_parse_duration(text, &ns) || !ns) {
					snprintf(note, sizeof(note), "invalid threshold '%s' (examples: 500us, 10ms, 1s)", text);
					break;
				}
				ls_session_set_threshold(s, ns);
				top_model_set_threshold(run->model, ns);
				*threshold = ns;
				snprintf(note, sizeof(note), "threshold now %s", cli_fmt_ns(ns, b, sizeof(b)));
				break;
			case TUI_FLAME: {
				char path[128], title[128], err[256];
				time_t now = time(NULL);
				struct tm tm;

				localtime_r(&now, &tm);
				snprintf(path, sizeof(path), "latscope-top-%d-%04d%02d%02d-%02d%02d%02d-%llu.svg", (int)pid0,
					 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
					 (unsigned long long)++flames);
				snprintf(title, sizeof(title), "latscope top: pid %d, CPU samples by phase", (int)pid0);
				if (cli_write_flamegraph(s, path, title, err, sizeof(err)))
					snprintf(note, sizeof(note), "flame graph: %s", err);
				else
					snprintf(note, sizeof(note), "flame graph written to %s", path);
				break;
			}
			default:
				break;
			}
		}
		if (dirty) {
			exited_text(shown, ex, sizeof(ex));
			snprintf(status, sizeof(status), "%s%s%s%s", ex, ex[0] ? "; last data kept, q quits" : "",
				 ex[0] && note[0] ? "  |  " : "", note);
			tui_draw(t, shown, status);
			dirty = 0;
		}
	}
done:
	tui_close(t);
	top_snap_free(shown);
	return ret;
}

int cmd_top(int argc, char **argv)
{
	static const struct option longopts[] = {
		CLI_COMMON_LONG,
		{ "interval", required_argument, NULL, 'i' },
		{ "threshold", required_argument, NULL, 't' },
		{ "freq", required_argument, NULL, 'F' },
		{ "batch", no_argument, NULL, 'b' },
		{ "count", required_argument, NULL, 'n' },
		{ 0 },
	};
	struct cli_common c = { 0 };
	struct ls_session_opts so = { .sz = sizeof(so), .requests = 1, .attach_uprobes = 1 };
	struct ls_session *s = NULL;
	struct top_run run = { 0 };
	uint64_t interval = 1000000000ull, threshold = 10000000ull, count = 0, deadline = 0;
	int opt, ret = EXIT_OK, batch = 0, r;
	unsigned int hz = 49;
	char *end;
	long v;

	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT "i:t:F:bn:", longopts, NULL)) != -1) {
		r = cli_common_opt(&c, opt, optarg);
		if (r == 1)
			continue;
		switch (opt) {
		case 'h':
			fputs(usage_text, stdout);
			return EXIT_OK;
		case 'i':
			if (ls_parse_duration(optarg, &interval) || interval < 100000000ull) {
				cli_error("invalid interval '%s' (at least 100ms; examples: 500ms, 1s, 2s)", optarg);
				return EXIT_USAGE;
			}
			continue;
		case 't':
			if (ls_parse_duration(optarg, &threshold) || !threshold) {
				cli_error("invalid threshold '%s' (examples: 500us, 10ms, 1s)", optarg);
				return EXIT_USAGE;
			}
			continue;
		case 'F':
			v = strtol(optarg, &end, 10);
			if (*end || v < 0 || v > 10000) {
				cli_error("invalid frequency '%s' (0..10000 Hz)", optarg);
				return EXIT_USAGE;
			}
			hz = (unsigned int)v;
			continue;
		case 'b':
			batch = 1;
			continue;
		case 'n':
			v = strtol(optarg, &end, 10);
			if (*end || v < 1) {
				cli_error("invalid count '%s' (a number of snapshots, 1 or more)", optarg);
				return EXIT_USAGE;
			}
			count = (uint64_t)v;
			continue;
		}
		if (r == 0)
			fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	if (cli_need_pids(&c, argc, argv, "top", usage_text))
		return EXIT_USAGE;
	if ((count || c.json) && !batch) {
		cli_error("%s needs --batch", count ? "-n" : "--json");
		return EXIT_USAGE;
	}
	if (!batch && (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO))) {
		cli_error("top needs a terminal on stdin and stdout (use --batch -n N for plain text)");
		return EXIT_USAGE;
	}
	if (!batch && tui_check_terminal()) {
		const char *term = getenv("TERM");

		cli_error("terminal type '%s': unknown to terminfo (set TERM, or use --batch)", term ? term : "");
		return EXIT_USAGE;
	}
	cli_install_signals();
	r = top_model_new(c.pids, c.npids, &run.model);
	if (r) {
		cli_error("%s", strerror(-r));
		return EXIT_RUNTIME;
	}
	top_model_set_threshold(run.model, threshold);
	so.on_event = on_event;
	so.ctx = &run;
	so.threshold_ns = threshold;
	so.sample_hz = hz;
	/* Hot stacks of slow requests: the samples of each slow request's own worker, as trace --stacks. */
	so.request_stacks = 1;
	/* Stacks as record takes them: frame pointers where the code keeps them, a copy to unwind elsewhere. */
	so.ustack_size = LS_USTACK_DEF;
	so.cg_auto = 1;
	if (cli_session_start(&c, &so, &s)) {
		ret = EXIT_RUNTIME;
		goto cleanup;
	}
	if (c.verbose)
		fprintf(stderr, "latscope: kernel hook %s; %zu uprobes attached\n", ls_khook_name(ls_session_khook(s)),
			ls_session_nprobes(s));
	top_model_started(run.model);
	if (c.duration_ns)
		deadline = ls_now_ns() + c.duration_ns;
	if (batch)
		r = run_batch(s, &run, interval, count, deadline, c.json);
	else
		r = run_screen(s, &run, interval, deadline, &threshold, c.pids[0]);
	if (r) {
		if (run.feed_err)
			cli_error("request assembly: %s", strerror(run.feed_err));
		else if (ls_session_error(s)[0])
			cli_error("%s", ls_session_error(s));
		ret = EXIT_RUNTIME;
	}
cleanup:
	ls_session_free(s);
	top_model_free(run.model);
	return ret;
}
