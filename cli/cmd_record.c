/* latscope record: a one-shot CPU (and off-CPU) profile of a process: folded stacks, SVG flame graph or pprof. */
#include "cli.h"
#include "callgraph.h"
#include "catalog.h"
#include "pprof.h"
#include "profile.h"
#include "symbolizer.h"
#include "ustacks.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char usage_text[] =
	"usage: latscope record -p PID [-d DURATION] [-F HZ] [-o FILE] [--only-slow] [--by-phase]\n"
	"                       [--off-cpu] [--threshold DURATION] [--call-graph auto|fp|dwarf] [--stack-size BYTES] [--overhead PCT|off] [-v]\n"
	"\n"
	"Samples the target's threads on every CPU (software cpu-clock, kernel and\n"
	"user stacks) for DURATION (default 10s) and writes the profile as folded\n"
	"stacks (\"root;...;leaf count\", one per line, for any flame-graph tool).\n"
	"\n"
	"  -p, --pid PID          target process (repeatable, up to 8)\n"
	"  -d, --duration DUR     how long to sample (default 10s)\n"
	"  -F, --freq HZ          samples per second per CPU (default 99)\n"
	"  -o, --output FILE      where to write (default: stdout; repeat for several formats of one\n"
	"                         recording); format from the extension:\n"
	"                         .folded (or .txt), .svg (interactive flame graph), .pb.gz (pprof)\n"
	"      --format F         folded, svg or pprof\n"
	"      --only-slow        keep only what slow requests' own workers did while they ran (as trace\n"
	"                         --stacks finds them)\n"
	"      --by-phase         root every stack at its request phase ([phase:app], [phase:tls_in], ...)\n"
	"      --off-cpu          also record where threads block, weighted by blocked microseconds\n"
	"  -t, --threshold DUR    slow-request threshold for --only-slow (default 10ms)\n"
	"      --call-graph MODE  how user stacks are taken: auto (default) per object, frame pointers\n"
	"                         where its code keeps them and a stack copy unwound by its CFI where\n"
	"                         not; fp (frame pointers only: cheapest, stops in code built without\n"
	"                         them); dwarf (the top of the stack copied at every sample)\n"
	"      --stack-size BYTES user stack copied per sample with auto or dwarf (default 16k, max 65528;\n"
	"                         suffix k for KiB)\n"
	"      --placement P      where the phase probes go: auto (default), entry, callsite (see probes -v)\n"
	"      --phases LIST      attach only what these phases need (tls,h2,proto,net; default all)\n"
	CLI_OVERHEAD_HELP
	"  -v, --verbose          more diagnostics\n"
	"\n"
	"exit status: 0 success, 1 runtime error, 2 usage error\n";

struct rec_opts {
	int only_slow, by_phase, offcpu;
	unsigned int hz;
	const char *outputs[4], *format;
	size_t noutputs;
};

/*
 * Per object, how its stacks were taken (auto: frame pointers or the stack
 * copy; fp and dwarf: one way for all), and how the frame-pointer walks'
 * leaf fix went. Objects taken as the rest are only listed with -v.
 */
static void print_callgraph(struct ls_session *s, int cg_auto, int verbose)
{
	unsigned int overflow;
	struct ls_unwind_stats us;
	size_t n;
	const struct ls_cg_obj *o = ls_session_callgraph(s, &n, &overflow);

	for (size_t i = 0; cg_auto && i < n; i++) {
		char path[256];

		if (!verbose && o[i].fp.keeps_fp && o[i].path[0] != '/')
			continue;
		cli_term_str(path, sizeof(path), o[i].path);
		fprintf(stderr, "latscope: pid %d: %s: %s (%s)\n", (int)o[i].pid, path,
			o[i].fp.keeps_fp ? "frame pointers" : "DWARF (stack copy)", o[i].fp.why);
	}
	if (overflow)
		fprintf(stderr, "latscope: %u executable ranges beyond the profiler's table of %d: taken as frame-pointer code\n",
			overflow, LS_XRANGES);
	if (!ls_session_unwind_stats(s, &us) && (us.leaf_fixed || us.leaf_framed || us.leaf_unknown))
		fprintf(stderr,
			"latscope: frame-pointer stacks at code without its frame: %llu with the caller put back from the stack, %llu with the frame set up, %llu undecided (by aggregated stack)\n",
			(unsigned long long)us.leaf_fixed, (unsigned long long)us.leaf_framed,
			(unsigned long long)us.leaf_unknown);
}

static int session_stack(void *ctx, int32_t id, uint64_t *ips, size_t max, size_t *n)
{
	return ls_session_stack(ctx, id, ips, max, n);
}

/* The session's on-CPU (or off-CPU) samples folded into out. 0 or -errno. */
static int collect(struct ls_session *s, struct ls_symbolizer *sym, const struct profile_opts *po, int offcpu,
		   struct profile *out, uint64_t *total)
{
	struct ls_stack_sample *v = NULL;
	size_t n = 0;
	int ret;

	ret = ls_session_samples(s, offcpu, &v, &n);
	if (ret)
		return ret;
	ret = profile_add(out, v, n, offcpu, session_stack, s, sym, po, total);
	free(v);
	return ret;
}

/* What every output format gets to write one recording. */
struct rec_out {
	const struct profile *lines;
	struct ls_pprof *pp;
	const char *title, *subtitle;
};

static int write_folded(FILE *f, const struct rec_out *r)
{
	return profile_write_folded(f, r->lines);
}

static int write_svg(FILE *f, const struct rec_out *r)
{
	return profile_write_svg(f, r->lines, r->title, r->subtitle, "samples");
}

static int write_pprof(FILE *f, const struct rec_out *r)
{
	return ls_pprof_write(r->pp, f);
}

/* The output formats: a name for --format, the extensions that choose it, its writer. */
static const struct rec_format {
	const char *name;
	const char *exts[4];
	int pprof; /* needs the pprof builder fed while the samples are folded */
	int (*write)(FILE *f, const struct rec_out *r);
} formats[] = {
	{ "folded", { ".folded", ".txt" }, 0, write_folded },
	{ "svg", { ".svg" }, 0, write_svg },
	{ "pprof", { ".pb.gz", ".pb", ".pprof" }, 1, write_pprof },
};

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n > k && !strcmp(s + n - k, suffix);
}

/*
 * The format of one output: --format, else its extension, else folded. NULL
 * when unknown, with *unknown set to the name or extension that was not one.
 */
static const struct rec_format *format_of(const struct rec_opts *o, const char *output, const char **unknown)
{
	const char *dot = output ? strrchr(output, '.') : NULL;

	*unknown = o->format ? o->format : dot ? dot + 1 : NULL;
	for (size_t i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
		if (o->format) {
			if (!strcmp(o->format, formats[i].name))
				return &formats[i];
			continue;
		}
		for (size_t e = 0; output && e < 4 && formats[i].exts[e]; e++)
			if (ends_with(output, formats[i].exts[e]))
				return &formats[i];
	}
	return !o->format && !dot ? &formats[0] : NULL;
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
		{ "call-graph", required_argument, NULL, OPT_CALL_GRAPH },
		{ "stack-size", required_argument, NULL, OPT_STACK_SIZE },
		{ "threshold", required_argument, NULL, 't' },
		{ 0 },
	};
	struct cli_common c = { 0 };
	struct rec_opts o = { .hz = 99 };
	struct ls_session_opts so = { .sz = sizeof(so), .requests = 1, .attach_uprobes = 1 };
	struct ls_session *s = NULL;
	struct ls_symbolizer *sym = NULL;
	struct ls_pprof *pp = NULL;
	struct profile_opts fo = { 0 };
	struct timespec wall;
	uint64_t wall_start;
	struct profile lines = { 0 };
	uint64_t threshold = 10000000, start, deadline, stopped, total = 0, offtotal = 0;
	int dwarf = 0, cg_auto = 1, stack_size_set = 0;
	unsigned int stack_size = LS_USTACK_DEF;
	struct ls_unwind_stats us = { 0 };
	char unwound[LS_ERR_LEN + 256] = "";
	char *end;
	int want_pprof = 0;
	FILE *out = stdout;
	int opt, ret = EXIT_OK, tty = isatty(STDERR_FILENO);
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
			if (o.noutputs == 4) {
				cli_error("at most 4 outputs (-o)");
				return EXIT_USAGE;
			}
			o.outputs[o.noutputs++] = optarg;
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
			if (strcmp(optarg, "auto") != 0 && strcmp(optarg, "fp") != 0 && strcmp(optarg, "dwarf") != 0) {
				cli_error("invalid call graph mode '%s' (auto, fp, dwarf)", optarg);
				return EXIT_USAGE;
			}
			cg_auto = !strcmp(optarg, "auto");
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
	if (stack_size_set && !dwarf && !cg_auto) {
		cli_error("--stack-size needs --call-graph auto or dwarf (frame-pointer walks copy no stack)");
		return EXIT_USAGE;
	}
	if (o.format && o.noutputs > 1) {
		cli_error("--format with several outputs: each takes its format from its extension");
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < (o.noutputs ? o.noutputs : 1); i++) {
		const char *path = o.noutputs ? o.outputs[i] : NULL, *unknown;
		const struct rec_format *fmt = format_of(&o, path, &unknown);

		if (!fmt) {
			cli_error("%s: unknown output format '%s' (folded, svg, pprof)", path ? path : "-", unknown);
			return EXIT_USAGE;
		}
		want_pprof |= fmt->pprof;
	}
	cli_install_signals();
	so.threshold_ns = threshold;
	so.sample_hz = o.hz;
	so.offcpu = o.offcpu;
	/* --only-slow takes each slow request's own samples, as trace --stacks finds them. */
	so.request_stacks = o.only_slow;
	so.ustack_size = dwarf || cg_auto ? stack_size : 0;
	so.cg_auto = cg_auto;
	dwarf |= cg_auto; /* stack copies to unwind, and their report */
	/*
	 * Mappings read (and objects opened) before recording, so that neither a target gone
	 * by the end nor the time this takes changes the profile.
	 */
	if (ls_symbolizer_new(NULL, &sym)) {
		cli_error("out of memory");
		return EXIT_RUNTIME;
	}
	for (size_t i = 0; i < c.npids; i++)
		ls_symbolizer_add_process(sym, c.pids[i]);
	if (cli_session_start(&c, &so, &s)) {
		ret = EXIT_RUNTIME;
		goto cleanup;
	}
	if (ls_session_feature(s, LS_FEAT_SAMPLER)->state != LS_FEAT_ON) {
		cli_error("cannot record: no CPU samples (feature sampler off, see above)");
		ret = EXIT_RUNTIME;
		goto cleanup;
	}
	if (c.verbose)
		fprintf(stderr, "latscope: sampling pid %d at %u Hz, user stacks by %s\n", (int)c.pids[0], o.hz,
			cg_auto ? "frame pointers or DWARF unwinding, per object" : dwarf ? "DWARF unwinding" : "frame pointers");
	start = ls_session_open_window(s);
	clock_gettime(CLOCK_REALTIME, &wall);
	wall_start = (uint64_t)wall.tv_sec * 1000000000ull + (uint64_t)wall.tv_nsec;
	deadline = start + c.duration_ns;
	while (!cli_stop) {
		uint64_t now = ls_now_ns();

		if (now >= deadline)
			break;
		/* Request records keep the per-thread phase state current; their content is not needed here. */
		if (cli_poll(s, deadline, 100) < 0) {
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
	stopped = ls_session_stop_sampling(s);
	if (dwarf && ls_session_poll(s, 0) < 0) {
		cli_error("%s", ls_session_error(s));
		ret = EXIT_RUNTIME;
		goto cleanup;
	}
	/* What the user-space unwinder made of the samples, and what never reached it. */
	if (dwarf && !ls_session_unwind_stats(s, &us))
		snprintf(unwound, sizeof(unwound),
			 "dwarf: %llu unwound, %llu to the start, %llu truncated, %llu cut at %d frames, %llu unwound without their process, %llu dropped (buffer full), %llu stack copies ended at the stack's end",
			 (unsigned long long)us.samples, (unsigned long long)us.complete, (unsigned long long)us.truncated,
			 (unsigned long long)us.maxdepth, LS_STACK_DEPTH, (unsigned long long)us.noproc,
			 (unsigned long long)ls_session_counter(s, LS_CNT_USTACK_DROPS),
			 (unsigned long long)ls_session_counter(s, LS_CNT_USTACK_SHORT));
	fo = (struct profile_opts){ .only_slow = o.only_slow, .by_phase = o.by_phase, .period_ns = 1000000000ull / o.hz };
	if (want_pprof) {
		char comment[256];
		struct ls_pprof_opts po = {
			.sz = sizeof(po), .ntypes = 3,
			.types = { "samples", "cpu", "off_cpu" }, .units = { "count", "nanoseconds", "nanoseconds" },
			.period_type = "cpu", .period_unit = "nanoseconds", .period = (int64_t)fo.period_ns,
			.time_nanos = (int64_t)wall_start, .duration_nanos = (int64_t)(stopped - start),
			.default_type = 1,
			.comment = comment,
		};

		snprintf(comment, sizeof(comment), "latscope record: pid %d, %u Hz%s%s%s, %llu stacks lost", (int)c.pids[0], o.hz,
			 o.offcpu ? ", off-CPU" : "", o.by_phase ? ", by phase" : "", o.only_slow ? ", slow requests only" : "",
			 (unsigned long long)ls_session_counter(s, LS_CNT_STACK_LOST));
		if (ls_pprof_new(&po, &pp)) {
			cli_error("out of memory");
			ret = EXIT_RUNTIME;
			goto cleanup;
		}
		fo.pp = pp;
	}
	if (collect(s, sym, &fo, 0, &lines, &total) || (o.offcpu && collect(s, sym, &fo, 1, &lines, &offtotal))) {
		cli_error("collecting the profile: %s", ls_session_error(s)[0] ? ls_session_error(s) : "out of memory");
		ret = EXIT_RUNTIME;
		goto cleanup;
	}
	profile_merge(&lines);
	for (size_t i = 0; i < (o.noutputs ? o.noutputs : 1); i++) {
		const char *path = o.noutputs ? o.outputs[i] : NULL, *unknown;
		const struct rec_format *fmt = format_of(&o, path, &unknown);
		char title[128], sub[1024];
		struct rec_out ro = { .lines = &lines, .pp = pp, .title = title, .subtitle = sub };
		int bad;

		if (path && !(out = fopen(path, "we"))) {
			cli_error("%s: %s", path, strerror(errno));
			ret = EXIT_RUNTIME;
			goto cleanup;
		}
		snprintf(title, sizeof(title), "latscope record: pid %d%s%s", (int)c.pids[0], o.by_phase ? ", by phase" : "",
			 o.only_slow ? ", slow requests only" : "");
		snprintf(sub, sizeof(sub), "%.1f s at %u Hz: %llu samples%s, %llu stacks lost, %llu records dropped%s%.400s",
			 (double)(stopped - start) / 1e9, o.hz, (unsigned long long)total,
			 o.offcpu ? " + off-CPU microseconds" : "", (unsigned long long)ls_session_counter(s, LS_CNT_STACK_LOST),
			 (unsigned long long)ls_session_counter(s, LS_CNT_RB_DROPS), unwound[0] ? "; " : "", unwound);
		bad = fmt->write(out, &ro) != 0;
		if ((out != stdout && fclose(out)) || bad) {
			cli_error("%s: write failed", path ? path : "stdout");
			ret = EXIT_RUNTIME;
		}
		out = stdout;
	}
	if (o.offcpu)
		fprintf(stderr, "latscope: %.3fs blocked (off-CPU, in microseconds in the profile)\n", (double)offtotal / 1e6);
	fprintf(stderr, "latscope: %llu CPU samples%s in %zu stacks, %.1fs at %u Hz, %llu stacks lost%s%s\n",
		(unsigned long long)total, o.only_slow ? " (slow requests only)" : "", lines.n,
		(double)(stopped - start) / 1e9, o.hz, (unsigned long long)ls_session_counter(s, LS_CNT_STACK_LOST),
		o.noutputs ? " -> " : "", o.noutputs ? o.outputs[0] : "");
	print_callgraph(s, cg_auto, c.verbose);
	for (size_t i = 0; i < c.npids; i++) {
		const char *why = ls_symbolizer_jit_reason(sym, c.pids[i]);
		char msg[600];

		if (why && strstr(why, "without symbols"))
			fprintf(stderr, "latscope: pid %d: frames [jit]: %s\n", (int)c.pids[i], cli_term_str(msg, sizeof(msg), why));
	}
	if (dwarf) {
		fprintf(stderr, "latscope: %s\n", unwound);
		if ((us.truncated || us.noproc) && us.last_error[0])
			fprintf(stderr, "latscope: last unwind stopped because: %s\n", us.last_error);
	}
cleanup:
	profile_clear(&lines);
	ls_pprof_free(pp);
	ls_symbolizer_free(sym);
	ls_session_free(s);
	return ret;
}

int cli_write_flamegraph(struct ls_session *s, const char *path, const char *title, char *err, size_t errlen)
{
	const struct profile_opts po = { .by_phase = 1 };
	struct profile lines = { 0 };
	struct ls_symbolizer *sym = NULL;
	uint64_t total = 0;
	FILE *out = NULL;
	char sub[256];
	int ret = -ENOMEM;

	if (ls_symbolizer_new(NULL, &sym)) {
		snprintf(err, errlen, "out of memory");
		goto cleanup;
	}
	if (collect(s, sym, &po, 0, &lines, &total)) {
		snprintf(err, errlen, "collecting the profile: %s", ls_session_error(s)[0] ? ls_session_error(s) : "out of memory");
		goto cleanup;
	}
	profile_merge(&lines);
	snprintf(sub, sizeof(sub), "%llu samples, by phase", (unsigned long long)total);
	out = fopen(path, "we");
	if (!out) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto cleanup;
	}
	ret = profile_write_svg(out, &lines, title, sub, "samples");
	if (fclose(out) && !ret)
		ret = -EIO;
	if (ret)
		snprintf(err, errlen, "%s: write failed", path);
cleanup:
	profile_clear(&lines);
	ls_symbolizer_free(sym);
	return ret;
}
