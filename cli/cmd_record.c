/* latscope record: a one-shot CPU (and off-CPU) profile of a process, as folded stacks. */
#include "cli.h"
#include "catalog.h"
#include "profile.h"
#include "procsym.h"
#include "ustacks.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char usage_text[] =
	"usage: latscope record -p PID [-d DURATION] [-F HZ] [-o FILE] [--only-slow] [--by-phase]\n"
	"                       [--off-cpu] [--threshold DURATION] [--call-graph fp|dwarf] [--stack-size BYTES] [-v]\n"
	"\n"
	"Samples the target's threads on every CPU (software cpu-clock, kernel and\n"
	"user stacks) for DURATION (default 10s) and writes the profile as folded\n"
	"stacks (\"root;...;leaf count\", one per line, for any flame-graph tool).\n"
	"\n"
	"  -p, --pid PID          target process (repeatable, up to 8)\n"
	"  -d, --duration DUR     how long to sample (default 10s)\n"
	"  -F, --freq HZ          samples per second per CPU (default 99)\n"
	"  -o, --output FILE      where to write (default: stdout); format from the extension:\n"
	"                         .folded (or .txt), .svg (interactive flame graph)\n"
	"      --format F         folded or svg\n"
	"      --only-slow        keep only samples taken while the thread's request was over the threshold\n"
	"      --by-phase         root every stack at its request phase ([phase:app], [phase:tls_in], ...)\n"
	"      --off-cpu          also record where threads block, weighted by blocked microseconds\n"
	"  -t, --threshold DUR    slow-request threshold for --only-slow (default 10ms)\n"
	"      --call-graph MODE  user stacks by frame pointers (fp, default: cheap, stops in code built\n"
	"                         without them) or by DWARF call frame information (dwarf: the top of\n"
	"                         the stack is copied at each sample and unwound by latscope)\n"
	"      --stack-size BYTES user stack copied per sample with --call-graph dwarf (default 16k, max 65528;\n"
	"                         suffix k for KiB)\n"
	"  -v, --verbose          more diagnostics\n"
	"\n"
	"exit status: 0 success, 1 runtime error, 2 usage error\n";

struct rec_opts {
	int only_slow, by_phase, offcpu;
	unsigned int hz;
	const char *output, *format;
};

/* The session's stacks: kernel stack-map ids and user-space unwound ones alike. */
static int session_stack(void *ctx, int32_t id, uint64_t *ips, size_t max, size_t *n)
{
	return ls_session_stack(ctx, id, ips, max, n);
}

static int collect(struct ls_session *s, struct procsym *ps, const struct rec_opts *o, int offcpu, struct profile *out,
		   uint64_t *total)
{
	struct profile_opts po = { .only_slow = o->only_slow, .by_phase = o->by_phase };
	struct ls_stack_sample *v = NULL;
	size_t n = 0;
	int ret;

	ret = ls_session_samples(s, offcpu, &v, &n);
	if (!ret)
		ret = profile_add(out, v, n, offcpu, session_stack, s, ps, &po, total);
	free(v);
	return ret;
}

static const char *format_of(const struct rec_opts *o)
{
	const char *dot;

	if (o->format)
		return o->format;
	if (!o->output || !(dot = strrchr(o->output, '.')))
		return "folded";
	if (!strcmp(dot, ".folded") || !strcmp(dot, ".txt"))
		return "folded";
	if (!strcmp(dot, ".svg"))
		return "svg";
	return dot + 1;
}

int cmd_record(int argc, char **argv)
{
	enum { OPT_ONLY_SLOW = 3000, OPT_BY_PHASE, OPT_OFFCPU, OPT_FORMAT, OPT_CALL_GRAPH, OPT_STACK_SIZE };
	static const struct option longopts[] = {
		CLI_COMMON_LONG,
		{ "freq", required_argument, NULL, 'F' },
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, OPT_FORMAT },
		{ "only-slow", no_argument, NULL, OPT_ONLY_SLOW },
		{ "by-phase", no_argument, NULL, OPT_BY_PHASE },
		{ "off-cpu", no_argument, NULL, OPT_OFFCPU },
		{ "threshold", required_argument, NULL, 't' },
		{ "call-graph", required_argument, NULL, OPT_CALL_GRAPH },
		{ "stack-size", required_argument, NULL, OPT_STACK_SIZE },
		{ 0 },
	};
	struct cli_common c = { 0 };
	struct rec_opts o = { .hz = 99 };
	struct ls_session_opts so = { .sz = sizeof(so), .requests = 1, .attach_uprobes = 1 };
	struct ls_session *s = NULL;
	struct procsym *ps = NULL;
	struct profile lines = { 0 };
	uint64_t threshold = 10000000, start, deadline, stopped, total = 0, offtotal = 0;
	char *end;
	const char *fmt;
	FILE *out = stdout;
	int opt, ret = EXIT_OK, tty = isatty(STDERR_FILENO), dwarf = 0, stack_size_set = 0;
	unsigned int stack_size = LS_USTACK_DEF;
	struct ls_unwind_stats us = { 0 };
	char unwound[LS_ERR_LEN + 256] = "";
	long v;

	c.duration_ns = 10000000000ull;
	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT "F:o:t:", longopts, NULL)) != -1) {
		int r = cli_common_opt(&c, opt, optarg);

		if (r == 1)
			continue;
		switch (opt) {
		case 'h':
			fputs(usage_text, stdout);
			return EXIT_OK;
		case 'F':
			v = strtol(optarg, &end, 10);
			if (*end || v < 1 || v > 10000) {
				cli_error("invalid frequency '%s' (1..10000 Hz)", optarg);
				return EXIT_USAGE;
			}
			o.hz = (unsigned int)v;
			continue;
		case 'o':
			o.output = optarg;
			continue;
		case OPT_FORMAT:
			o.format = optarg;
			continue;
		case OPT_ONLY_SLOW:
			o.only_slow = 1;
			continue;
		case OPT_BY_PHASE:
			o.by_phase = 1;
			continue;
		case OPT_OFFCPU:
			o.offcpu = 1;
			continue;
		case OPT_CALL_GRAPH:
			if (strcmp(optarg, "fp") != 0 && strcmp(optarg, "dwarf") != 0) {
				cli_error("invalid call graph mode '%s' (fp, dwarf)", optarg);
				return EXIT_USAGE;
			}
			dwarf = !strcmp(optarg, "dwarf");
			continue;
		case OPT_STACK_SIZE:
			v = strtol(optarg, &end, 10);
			if (*end == 'k' || *end == 'K') {
				v *= 1024;
				end++;
			}
			if (*end || v < 64 || v > LS_USTACK_MAX) {
				cli_error("invalid stack size '%s' (64..%d bytes)", optarg, LS_USTACK_MAX);
				return EXIT_USAGE;
			}
			stack_size = (unsigned int)v;
			stack_size_set = 1;
			continue;
		case 't':
			if (ls_parse_duration(optarg, &threshold)) {
				cli_error("invalid threshold '%s'", optarg);
				return EXIT_USAGE;
			}
			continue;
		}
		if (r == 0)
			fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	if (cli_need_pids(&c, argc, argv, "record", usage_text))
		return EXIT_USAGE;
	if (stack_size_set && !dwarf) {
		cli_error("--stack-size needs --call-graph dwarf (frame-pointer walks copy no stack)");
		return EXIT_USAGE;
	}
	fmt = format_of(&o);
	if (strcmp(fmt, "folded") != 0 && strcmp(fmt, "svg") != 0) {
		cli_error("%s: unknown output format '%s' (folded, svg)", o.output ? o.output : "-", fmt);
		return EXIT_USAGE;
	}
	cli_install_signals();
	so.threshold_ns = threshold;
	so.sample_hz = o.hz;
	so.offcpu = o.offcpu;
	so.ustack_size = dwarf ? stack_size : 0;
	if (cli_session_start(&c, &so, &s))
		return EXIT_RUNTIME;
	if (c.verbose)
		fprintf(stderr, "latscope: sampling pid %d at %u Hz, user stacks by %s\n", (int)c.pids[0], o.hz,
			dwarf ? "DWARF unwinding" : "frame pointers");
	start = ls_now_ns();
	deadline = start + c.duration_ns;
	while (!cli_stop) {
		uint64_t now = ls_now_ns();

		if (now >= deadline)
			break;
		/* Request records keep the per-thread phase state current; their content is not needed here. */
		if (ls_session_poll(s, 100) < 0) {
			cli_error("%s", ls_session_error(s));
			ret = EXIT_RUNTIME;
			goto cleanup;
		}
		if (tty)
			fprintf(stderr, "\rlatscope: recording pid %d at %u Hz: %.0fs left, %llu samples ", (int)c.pids[0],
				o.hz, (double)(deadline - now) / 1e9,
				(unsigned long long)ls_session_counter(s, LS_CNT_SAMPLES));
		if (ls_session_alive(s) == 0) {
			fprintf(stderr, "%slatscope: pid %d exited\n", tty ? "\n" : "", (int)c.pids[0]);
			break;
		}
	}
	if (tty)
		fputc('\n', stderr);
	/* The profile covers the duration: no sample is added while it is read. Those still in the ring buffer count. */
	ls_session_stop_sampling(s);
	stopped = ls_now_ns();
	if (dwarf && ls_session_poll(s, 0) < 0) {
		cli_error("%s", ls_session_error(s));
		ret = EXIT_RUNTIME;
		goto cleanup;
	}
	ps = procsym_new();
	if (!ps || collect(s, ps, &o, 0, &lines, &total) || (o.offcpu && collect(s, ps, &o, 1, &lines, &offtotal))) {
		cli_error("collecting the profile: %s", ls_session_error(s)[0] ? ls_session_error(s) : "out of memory");
		ret = EXIT_RUNTIME;
		goto cleanup;
	}
	profile_merge(&lines);
	/* What the user-space unwinder made of the samples, and what never reached it. */
	if (dwarf && !ls_session_unwind_stats(s, &us))
		snprintf(unwound, sizeof(unwound),
			 "dwarf: %llu unwound, %llu to the start, %llu truncated, %llu cut at %d frames, %llu unwound without their process, %llu dropped (buffer full), %llu stack copies ended at the stack's end",
			 (unsigned long long)us.samples, (unsigned long long)us.complete, (unsigned long long)us.truncated,
			 (unsigned long long)us.maxdepth, LS_STACK_DEPTH, (unsigned long long)us.noproc,
			 (unsigned long long)ls_session_counter(s, LS_CNT_USTACK_DROPS),
			 (unsigned long long)ls_session_counter(s, LS_CNT_USTACK_SHORT));
	if (o.output && !(out = fopen(o.output, "we"))) {
		cli_error("%s: %s", o.output, strerror(errno));
		ret = EXIT_RUNTIME;
		goto cleanup;
	}
	if (!strcmp(fmt, "svg")) {
		char title[128], sub[1024];
		int bad;

		snprintf(title, sizeof(title), "latscope record: pid %d%s%s", (int)c.pids[0],
			 o.by_phase ? ", by phase" : "", o.only_slow ? ", slow requests only" : "");
		snprintf(sub, sizeof(sub), "%.1f s at %u Hz: %llu samples%s, %llu stacks lost, %llu records dropped%s%.400s",
			 (double)(stopped - start) / 1e9, o.hz, (unsigned long long)total,
			 o.offcpu ? " + off-CPU microseconds" : "",
			 (unsigned long long)ls_session_counter(s, LS_CNT_STACK_LOST),
			 (unsigned long long)ls_session_counter(s, LS_CNT_RB_DROPS), unwound[0] ? "; " : "", unwound);
		bad = profile_write_svg(out, &lines, title, sub, "samples") != 0;
		if ((out != stdout && fclose(out)) || bad) {
			cli_error("%s: write failed", o.output ? o.output : "stdout");
			ret = EXIT_RUNTIME;
		}
	} else if (profile_write_folded(out, &lines) || (out != stdout && fclose(out))) {
		cli_error("%s: write failed", o.output ? o.output : "stdout");
		ret = EXIT_RUNTIME;
	}
	if (out != stdout)
		out = NULL;
	if (o.offcpu)
		fprintf(stderr, "latscope: %.3fs blocked (off-CPU, in microseconds in the profile)\n", (double)offtotal / 1e6);
	fprintf(stderr, "latscope: %llu CPU samples%s in %zu stacks, %.1fs at %u Hz, %llu stacks lost%s%s\n",
		(unsigned long long)total, o.only_slow ? " (slow requests only)" : "", lines.n,
		(double)(stopped - start) / 1e9, o.hz, (unsigned long long)ls_session_counter(s, LS_CNT_STACK_LOST),
		o.output ? " -> " : "", o.output ? o.output : "");
	if (dwarf) {
		fprintf(stderr, "latscope: %s\n", unwound);
		if ((us.truncated || us.noproc) && us.last_error[0])
			fprintf(stderr, "latscope: last unwind stopped because: %s\n", us.last_error);
	}
cleanup:
	profile_clear(&lines);
	procsym_free(ps);
	ls_session_free(s);
	return ret;
}
