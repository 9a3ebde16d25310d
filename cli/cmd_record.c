/* latscope record: a one-shot CPU (and off-CPU) profile of a process: folded stacks, SVG flame graph or pprof. */
#include "cli.h"
#include "catalog.h"
#include "flamegraph.h"
#include "pprof.h"
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
	"                       [--off-cpu] [--threshold DURATION] [--call-graph fp|dwarf] [--stack-size BYTES] [-v]\n"
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
	"      --only-slow        keep only samples taken while the thread's request was over the threshold\n"
	"      --by-phase         root every stack at its request phase ([phase:app], [phase:tls_in], ...)\n"
	"      --off-cpu          also record where threads block, weighted by blocked microseconds\n"
	"  -t, --threshold DUR    slow-request threshold for --only-slow (default 10ms)\n"
	"      --call-graph MODE  user stacks by frame pointers (fp, default: cheap, stops in code built\n"
	"                         without them) or by DWARF call frame information (dwarf: the top of\n"
	"                         the stack is copied at each sample and unwound by latscope)\n"
	"      --stack-size BYTES user stack copied per sample with --call-graph dwarf (default 16k, max 65528;\n"
	"                         suffix k for KiB)\n"
	"      --placement P      where the phase probes go: auto (default), entry, callsite (see probes -v)\n"
	"      --phases LIST      attach only what these phases need (tls,h2,proto,net; default all)\n"
	"  -v, --verbose          more diagnostics\n"
	"\n"
	"exit status: 0 success, 1 runtime error, 2 usage error\n";

struct rec_opts {
	int only_slow, by_phase, offcpu;
	unsigned int hz;
	const char *outputs[4], *format;
	size_t noutputs;
};

/* One output line being assembled: the folded stack and its weight. */
struct line {
	char *stack;
	uint64_t value;
};

struct lines {
	struct line *v;
	size_t n, cap;
};

static int lines_add(struct lines *l, char *stack, uint64_t value)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 1024;
		struct line *nv = realloc(l->v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
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
	return strcmp(((const struct line *)a)->stack, ((const struct line *)b)->stack);
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

/* Where the profile goes besides the folded lines: the pprof builder, when writing pprof. */
struct rec_ctx {
	struct ls_session *s;
	struct ls_symbolizer *sym;
	const struct rec_opts *o;
	struct ls_pprof *pp;
	uint64_t period_ns;
};

static void unknown_name(const struct ls_sym *f, char *out, size_t len)
{
	const char *path = f->mapping ? f->mapping->path : NULL, *mod = path ? strrchr(path, '/') : NULL;

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

/* Root-first folded stack for one aggregated sample (and its pprof sample); NULL when out of memory. */
static char *fold(struct rec_ctx *x, const struct ls_stack_sample *smp, int offcpu, uint64_t value)
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
	ls_session_stack(x->s, smp->key.ustack, uips, LS_STACK_DEPTH, &nu);
	ls_session_stack(x->s, smp->key.kstack, kips, LS_STACK_DEPTH, &nk);
	/* A stack is the sampled address, then return addresses. */
	if ((nu && ls_symbolize(x->sym, &usrc, uips, nu, LS_SYM_ADDR_STACK, &ur)) ||
	    (nk && ls_symbolize(x->sym, &ksrc, kips, nk, LS_SYM_ADDR_STACK, &kr)))
		goto fail;
	if (offcpu)
		put_frame(&buf, &len, &cap, "[off-cpu]", "");
	if (x->o->by_phase) {
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
	if (x->pp) {
		int64_t values[3] = { offcpu ? 0 : (int64_t)value, offcpu ? 0 : (int64_t)(value * x->period_ns),
				      offcpu ? (int64_t)value : 0 };
		const char *labels[4] = { "phase", phase, "slow", smp->key.slow ? "yes" : NULL };

		if ((kr && pprof_locations(x->pp, kr->syms + kskip, nk - kskip, 1, locs, &nlocs)) ||
		    (ur && pprof_locations(x->pp, ur->syms, nu, 0, locs, &nlocs)) ||
		    ls_pprof_sample(x->pp, locs, nlocs, values, labels, 2))
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

static int collect(struct rec_ctx *x, int offcpu, struct lines *out, uint64_t *total)
{
	struct ls_stack_sample *v = NULL;
	size_t n = 0;
	int ret;

	ret = ls_session_samples(x->s, offcpu, &v, &n);
	if (ret)
		return ret;
	for (size_t i = 0; i < n; i++) {
		uint64_t value = offcpu ? v[i].value / 1000 : v[i].value; /* off-CPU weight: microseconds */
		char *stack;

		if (x->o->only_slow && !v[i].key.slow)
			continue;
		if (!value)
			continue;
		/* pprof takes the off-CPU time in nanoseconds. */
		stack = fold(x, &v[i], offcpu, offcpu ? v[i].value : value);
		if (!stack || lines_add(out, stack, value)) {
			free(stack);
			free(v);
			return -ENOMEM;
		}
		*total += value;
	}
	free(v);
	return 0;
}

/* Identical stacks (different stack ids, same names) merge into one line. */
static size_t merge(struct lines *l)
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

static int write_folded(FILE *f, const struct lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		fprintf(f, "%s %llu\n", l->v[i].stack, (unsigned long long)l->v[i].value);
	return ferror(f) ? -EIO : 0;
}

static const char *format_of(const struct rec_opts *o, const char *output)
{
	const char *dot;

	if (o->format)
		return o->format;
	if (!output || !(dot = strrchr(output, '.')))
		return "folded";
	if (!strcmp(dot, ".folded") || !strcmp(dot, ".txt"))
		return "folded";
	if (!strcmp(dot, ".svg"))
		return "svg";
	if (!strcmp(dot, ".pb") || !strcmp(dot, ".pprof") || (!strcmp(dot, ".gz") && dot - output >= 3 &&
							       !strncmp(dot - 3, ".pb", 3)))
		return "pprof";
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
	struct rec_ctx x = { 0 };
	struct timespec wall;
	uint64_t wall_start;
	struct lines lines = { 0 };
	uint64_t threshold = 10000000, start, deadline, stopped, total = 0, offtotal = 0;
	int dwarf = 0, stack_size_set = 0;
	unsigned int stack_size = LS_USTACK_DEF;
	struct ls_unwind_stats us = { 0 };
	char unwound[LS_ERR_LEN + 256] = "";
	char *end;
	const char *fmt;
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
	if (o.format && o.noutputs > 1) {
		cli_error("--format with several outputs: each takes its format from its extension");
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < (o.noutputs ? o.noutputs : 1); i++) {
		const char *path = o.noutputs ? o.outputs[i] : NULL;

		fmt = format_of(&o, path);
		if (strcmp(fmt, "folded") != 0 && strcmp(fmt, "svg") != 0 && strcmp(fmt, "pprof") != 0) {
			cli_error("%s: unknown output format '%s' (folded, svg, pprof)", path ? path : "-", fmt);
			return EXIT_USAGE;
		}
		want_pprof |= !strcmp(fmt, "pprof");
	}
	cli_install_signals();
	so.threshold_ns = threshold;
	so.sample_hz = o.hz;
	so.offcpu = o.offcpu;
	so.ustack_size = dwarf ? stack_size : 0;
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
	if (c.verbose)
		fprintf(stderr, "latscope: sampling pid %d at %u Hz, user stacks by %s\n", (int)c.pids[0], o.hz,
			dwarf ? "DWARF unwinding" : "frame pointers");
	start = ls_now_ns();
	clock_gettime(CLOCK_REALTIME, &wall);
	wall_start = (uint64_t)wall.tv_sec * 1000000000ull + (uint64_t)wall.tv_nsec;
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
	/* What the user-space unwinder made of the samples, and what never reached it. */
	if (dwarf && !ls_session_unwind_stats(s, &us))
		snprintf(unwound, sizeof(unwound),
			 "dwarf: %llu unwound, %llu to the start, %llu truncated, %llu cut at %d frames, %llu unwound without their process, %llu dropped (buffer full), %llu stack copies ended at the stack's end",
			 (unsigned long long)us.samples, (unsigned long long)us.complete, (unsigned long long)us.truncated,
			 (unsigned long long)us.maxdepth, LS_STACK_DEPTH, (unsigned long long)us.noproc,
			 (unsigned long long)ls_session_counter(s, LS_CNT_USTACK_DROPS),
			 (unsigned long long)ls_session_counter(s, LS_CNT_USTACK_SHORT));
	x = (struct rec_ctx){ .s = s, .sym = sym, .o = &o, .period_ns = 1000000000ull / o.hz };
	if (want_pprof) {
		char comment[256];
		struct ls_pprof_opts po = {
			.sz = sizeof(po), .ntypes = 3,
			.types = { "samples", "cpu", "off_cpu" }, .units = { "count", "nanoseconds", "nanoseconds" },
			.period_type = "cpu", .period_unit = "nanoseconds", .period = (int64_t)x.period_ns,
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
		x.pp = pp;
	}
	if (collect(&x, 0, &lines, &total) || (o.offcpu && collect(&x, 1, &lines, &offtotal))) {
		cli_error("collecting the profile: %s", ls_session_error(s)[0] ? ls_session_error(s) : "out of memory");
		ret = EXIT_RUNTIME;
		goto cleanup;
	}
	merge(&lines);
	for (size_t i = 0; i < (o.noutputs ? o.noutputs : 1); i++) {
		const char *path = o.noutputs ? o.outputs[i] : NULL, *f = format_of(&o, path);
		int bad;

		if (path && !(out = fopen(path, "we"))) {
			cli_error("%s: %s", path, strerror(errno));
			ret = EXIT_RUNTIME;
			goto cleanup;
		}
		if (!strcmp(f, "svg")) {
			char title[128], sub[1024];
			struct ls_flame_opts fo = { .sz = sizeof(fo), .title = title, .subtitle = sub, .unit = "samples" };
			struct ls_folded *fl = calloc(lines.n ? lines.n : 1, sizeof(*fl));

			snprintf(title, sizeof(title), "latscope record: pid %d%s%s", (int)c.pids[0],
				 o.by_phase ? ", by phase" : "", o.only_slow ? ", slow requests only" : "");
			snprintf(sub, sizeof(sub), "%.1f s at %u Hz: %llu samples%s, %llu stacks lost, %llu records dropped%s%.400s",
				 (double)(stopped - start) / 1e9, o.hz, (unsigned long long)total,
				 o.offcpu ? " + off-CPU microseconds" : "",
				 (unsigned long long)ls_session_counter(s, LS_CNT_STACK_LOST),
				 (unsigned long long)ls_session_counter(s, LS_CNT_RB_DROPS), unwound[0] ? "; " : "", unwound);
			for (size_t k = 0; fl && k < lines.n; k++) {
				fl[k].stack = lines.v[k].stack;
				fl[k].value = lines.v[k].value;
			}
			bad = !fl || ls_flamegraph_write(out, fl, lines.n, &fo);
			free(fl);
		} else if (!strcmp(f, "pprof")) {
			bad = ls_pprof_write(pp, out) != 0;
		} else {
			bad = write_folded(out, &lines) != 0;
		}
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
	if (dwarf) {
		fprintf(stderr, "latscope: %s\n", unwound);
		if ((us.truncated || us.noproc) && us.last_error[0])
			fprintf(stderr, "latscope: last unwind stopped because: %s\n", us.last_error);
	}
cleanup:
	for (size_t i = 0; i < lines.n; i++)
		free(lines.v[i].stack);
	free(lines.v);
	ls_pprof_free(pp);
	ls_symbolizer_free(sym);
	ls_session_free(s);
	return ret;
}

int cli_write_flamegraph(struct ls_session *s, const char *path, const char *title, char *err, size_t errlen)
{
	struct rec_opts o = { .by_phase = 1 };
	struct lines lines = { 0 };
	struct ls_folded *fl = NULL;
	struct ls_symbolizer *sym = NULL;
	struct rec_ctx x;
	uint64_t total = 0;
	FILE *out = NULL;
	char sub[256];
	int ret = -ENOMEM;

	if (ls_symbolizer_new(NULL, &sym)) {
		snprintf(err, errlen, "out of memory");
		goto cleanup;
	}
	x = (struct rec_ctx){ .s = s, .sym = sym, .o = &o };
	if (collect(&x, 0, &lines, &total)) {
		snprintf(err, errlen, "collecting the profile: %s", ls_session_error(s)[0] ? ls_session_error(s) : "out of memory");
		goto cleanup;
	}
	merge(&lines);
	fl = calloc(lines.n ? lines.n : 1, sizeof(*fl));
	if (!fl) {
		snprintf(err, errlen, "out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < lines.n; i++) {
		fl[i].stack = lines.v[i].stack;
		fl[i].value = lines.v[i].value;
	}
	snprintf(sub, sizeof(sub), "%llu samples, by phase", (unsigned long long)total);
	out = fopen(path, "we");
	if (!out) {
		ret = -errno;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto cleanup;
	}
	ret = ls_flamegraph_write(out, fl, lines.n, &(struct ls_flame_opts){ .sz = sizeof(struct ls_flame_opts),
									      .title = title, .subtitle = sub,
									      .unit = "samples" });
	if (fclose(out) && !ret)
		ret = -EIO;
	if (ret)
		snprintf(err, errlen, "%s: write failed", path);
cleanup:
	free(fl);
	for (size_t i = 0; i < lines.n; i++)
		free(lines.v[i].stack);
	free(lines.v);
	ls_symbolizer_free(sym);
	return ret;
}
