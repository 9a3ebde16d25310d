#include "cli.h"
#include "calibrate.h"
#include "uprobe_multi.h"
#include "jsonw.h"
#include "feature.h"
#include "util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <getopt.h>

volatile sig_atomic_t cli_stop;
int cli_verbose;

static void on_signal(int sig)
{
	(void)sig;
	cli_stop = 1;
}

void cli_install_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* A closed output pipe ends the run through EPIPE, with cleanup, not by a signal. */
	signal(SIGPIPE, SIG_IGN);
}

void (*cli_log_sink)(const char *level, const char *msg);

static void say(const char *level, const char *prefix, const char *fmt, va_list ap)
{
	char msg[2048];

	if (cli_log_sink) {
		vsnprintf(msg, sizeof(msg), fmt, ap);
		cli_log_sink(level, msg);
		return;
	}
	fputs(prefix, stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void cli_error(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say("error", "latscope: ", fmt, ap);
	va_end(ap);
}

void cli_warn(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	say("warning", "latscope: warning: ", fmt, ap);
	va_end(ap);
}

int cli_common_opt(struct cli_common *c, int opt, const char *arg)
{
	char *end;
	long v;

	switch (opt) {
	case 'p':
		errno = 0;
		v = strtol(arg, &end, 10);
		if (errno || *end || v <= 0 || v > 0x7fffffff) {
			cli_error("invalid pid '%s'", arg);
			return -1;
		}
		if (c->npids == MAX_PIDS) {
			cli_error("too many pids (at most %d)", MAX_PIDS);
			return -1;
		}
		c->pids[c->npids++] = (pid_t)v;
		return 1;
	case 'd':
		if (ls_parse_duration(arg, &c->duration_ns) || c->duration_ns == 0) {
			cli_error("invalid duration '%s' (examples: 250us, 500ms, 10s, 2m)", arg);
			return -1;
		}
		return 1;
	case 'v':
		c->verbose++;
		cli_verbose = c->verbose;
		return 1;
	case CLI_OPT_JSON:
		c->json = 1;
		return 1;
	case CLI_OPT_KHOOK:
		if (ls_khook_parse(arg, &c->khook)) {
			cli_error("invalid kernel hook '%s' (fentry, kprobe, tracepoint or auto)", arg);
			return -1;
		}
		return 1;
	case CLI_OPT_BTF:
		c->btf_path = arg;
		return 1;
	case CLI_OPT_PLACEMENT:
		if (ls_place_mode_parse(arg, &c->placement)) {
			cli_error("invalid placement '%s' (entry, callsite or auto)", arg);
			return -1;
		}
		return 1;
	case CLI_OPT_OVERHEAD:
		if (cli_parse_overhead(arg, &c->overhead_pct)) {
			cli_error("invalid overhead budget '%s' (a percentage in (0, 100], or off)", arg);
			return -1;
		}
		c->overhead_set = 1;
		return 1;
	case CLI_OPT_PHASES:
		if (ls_phases_parse(arg, &c->phases)) {
			cli_error("invalid phases '%s' (a comma-separated subset of tls,h2,proto,net, or all)", arg);
			return -1;
		}
		return 1;
	}
	return 0;
}

int cli_parse_overhead(const char *arg, double *pct)
{
	char *end;
	double v;

	if (!strcmp(arg, "off")) {
		*pct = 0;
		return 0;
	}
	errno = 0;
	v = strtod(arg, &end);
	if (end == arg || errno || (*end && strcmp(end, "%")) || !(v > 0 && v <= 100))
		return -EINVAL;
	*pct = v;
	return 0;
}

int cli_need_pids(const struct cli_common *c, int argc, char **argv, const char *cmd, const char *usage)
{
	if (optind < argc)
		cli_error("unexpected argument '%s'", argv[optind]);
	else if (!c->npids)
		cli_error("%s needs -p PID", cmd);
	else
		return 0;
	fputs(usage, stderr);
	return EXIT_USAGE;
}

/*
 * LATSCOPE_TEST_REJECT=http2,sampler,...: a test switch that makes the
 * verifier reject those feature groups' programs, to check that the rest
 * works without them.
 */
static unsigned int test_rejects(void)
{
	const char *env = getenv("LATSCOPE_TEST_REJECT");
	char buf[256], *save = NULL;
	unsigned int mask = 0;

	if (!env || !*env)
		return 0;
	snprintf(buf, sizeof(buf), "%s", env);
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		enum ls_feature f;

		if (ls_feature_parse(tok, &f) == 0)
			mask |= 1u << f;
		else
			cli_warn("LATSCOPE_TEST_REJECT: no feature named '%s'", tok);
	}
	return mask;
}

/* One line per feature the kernel refused: which, what it costs, the program and the reason. */
static void warn_features(struct ls_session *s, int verbose)
{
	for (int f = 0; f < LS_FEAT_COUNT; f++) {
		const struct ls_feat_status *st = ls_session_feature(s, (enum ls_feature)f);

		if (st->state != LS_FEAT_FAILED)
			continue;
		cli_warn("feature %s off (no %s): %s%s%s%s", ls_feature_name((enum ls_feature)f),
			 ls_feature_what((enum ls_feature)f), st->prog, st->prog[0] ? ": " : "", st->reason,
			 st->log && verbose < 2 ? " (-vv shows the verifier's log)" : "");
		if (st->log && verbose >= 2)
			fprintf(stderr, "---- verifier log of %s ----\n%s---- end of %s ----\n", st->prog, st->log, st->prog);
	}
}

int cli_session_start(const struct cli_common *c, struct ls_session_opts *so, struct ls_session **out)
{
	static struct ls_costs costs; /* referenced by the session's placements while it lives */
	const struct ls_site *sites;
	char err[LS_ERR_LEN];
	uint64_t t0;
	size_t n;

	*out = NULL;
	so->pids = c->pids;
	so->npids = c->npids;
	so->khook = c->khook;
	so->btf_path = c->btf_path;
	so->placement = c->placement;
	so->phases = c->phases;
	so->reject_features = test_rejects();
	so->overhead_pct = CLI_OVERHEAD_DEF;
	if (c->overhead_set)
		so->overhead_pct = c->overhead_pct;
	else if (getenv("LATSCOPE_OVERHEAD") && cli_parse_overhead(getenv("LATSCOPE_OVERHEAD"), &so->overhead_pct)) {
		cli_error("invalid LATSCOPE_OVERHEAD '%s' (a percentage in (0, 100], or off)", getenv("LATSCOPE_OVERHEAD"));
		return EXIT_RUNTIME;
	}
	/* LATSCOPE_TEST_COST_SCALE=F: a test switch, every measured cost taken F times (a cost gone stale). */
	if (getenv("LATSCOPE_TEST_COST_SCALE"))
		ls_calibrate_scale(strtod(getenv("LATSCOPE_TEST_COST_SCALE"), NULL));
	/*
	 * What a probe hit costs on this machine: placement chooses by it, and every cost printed is it.
	 * The time printed is the measurement's own: the kernel's features, read from its BTF first
	 * (and remembered for the session), are not part of it.
	 */
	ls_kernel_has_uprobe_multi("/sys/kernel/btf/vmlinux");
	t0 = ls_now_ns();
	if (geteuid() == 0 && ls_calibrate(&costs, err) == 0) {
		so->costs = &costs;
		if (c->verbose)
			cli_calibration_print(stderr, &costs, ls_now_ns() - t0);
	} else if (c->verbose && geteuid() == 0) {
		cli_warn("probe costs not measured (%s): placement uses the fallback table", err);
	}
	if (ls_session_new(so, out, err)) {
		cli_error("%s", err);
		return EXIT_RUNTIME;
	}
	sites = ls_session_sites(*out, &n);
	for (size_t i = 0; c->verbose && i < n; i++)
		if (!sites[i].found)
			cli_warn("pid %d: %s: %s", (int)sites[i].pid, sites[i].entry->symbol, sites[i].reason);
	if (ls_session_start(*out)) {
		cli_error("%s", ls_session_error(*out));
		ls_session_free(*out);
		*out = NULL;
		return EXIT_RUNTIME;
	}
	warn_features(*out, c->verbose);
	return 0;
}

void cli_calibration_print(FILE *f, const struct ls_costs *c, uint64_t took_ns)
{
	fprintf(f, "%sprobe cost per hit, %s", took_ns ? "latscope: " : "  ", c->measured ? "measured here" : c->how);
	if (took_ns)
		fprintf(f, " in %.0f ms", (double)took_ns / 1e6);
	fputc(':', f);
	for (int k = 0; k < LS_COST_KINDS; k++)
		if (k != LS_COST_K_PROGRAM)
			fprintf(f, " %s %.2fus", ls_cost_kind_name((enum ls_cost_kind)k), c->ns[k] / 1e3);
	fputc('\n', f);
}

int cli_poll(struct ls_session *s, uint64_t due, int max_wait_ms)
{
	uint64_t now = ls_now_ns();
	int wait = max_wait_ms;

	if (due && due <= now)
		wait = 0;
	else if (due && (due - now) / 1000000 < (uint64_t)wait)
		wait = (int)((due - now) / 1000000) + 1;
	return ls_session_poll(s, wait);
}

const char *cli_fmt_ns(uint64_t ns, char *buf, size_t len)
{
	if (ns < 1000)
		snprintf(buf, len, "%lluns", (unsigned long long)ns);
	else if (ns < 1000000)
		snprintf(buf, len, "%.1fus", (double)ns / 1e3);
	else if (ns < 1000000000)
		snprintf(buf, len, "%.2fms", (double)ns / 1e6);
	else
		snprintf(buf, len, "%.2fs", (double)ns / 1e9);
	return buf;
}

const char *cli_term_str(char *out, size_t len, const char *s)
{
	size_t k = 0;

	if (!len)
		return out;
	for (const unsigned char *p = (const unsigned char *)s; *p;) {
		int n = jw_utf8_len(p);

		/* Printable UTF-8 passes; C0 and C1 controls, DEL and broken sequences become \xNN. */
		if (n > 1 && !(p[0] == 0xc2 && p[1] < 0xa0)) {
			if (k + (size_t)n >= len)
				break;
			memcpy(out + k, p, (size_t)n);
			k += (size_t)n;
			p += n;
			continue;
		}
		if (*p < 0x20 || *p >= 0x7f || *p == '\\') {
			if (k + 4 >= len)
				break;
			if (*p == '\\')
				k += (size_t)snprintf(out + k, len - k, "\\\\");
			else
				k += (size_t)snprintf(out + k, len - k, "\\x%02x", *p);
		} else {
			if (k + 1 >= len)
				break;
			out[k++] = (char)*p;
		}
		p++;
	}
	out[k] = '\0';
	return out;
}
