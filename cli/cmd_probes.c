/* latscope probes: what would be attached to a process, and what is missing and why. */
#include "cli.h"
#include "callgraph.h"
#include "jsonw.h"
#include "procmaps.h"
#include "feature.h"
#include "verifier.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

static const char usage_text[] =
	"usage: latscope probes -p PID [-p PID...] [--json] [--kernel-hook auto|fentry|kprobe|tracepoint]\n"
	"                       [--placement auto|entry|callsite] [--phases tls,h2,proto,net] [-v]\n"
	"       latscope probes --verifier [--json] [--btf FILE]\n"
	"\n"
	"Lists every catalog probe for each process: the object and file offset it\n"
	"resolves to, or why it is missing; and the kernel hook latscope would use\n"
	"for tcp_sendmsg/tcp_recvmsg, with the result of each variant it tried.\n"
	"Nothing is attached to the process.\n"
	"\n"
	"With --verifier (no -p): loads every BPF program latscope has, alone, in each\n"
	"configuration that changes its code, and prints what the kernel's verifier\n"
	"made of it: instructions, processed instructions, states, time, and the share\n"
	"of the kernel's limit. Exit status 1 when a program is rejected or over\n"
	"latscope's budget (200,000 processed instructions, 8 states per instruction);\n"
	"-vv writes the whole verifier log of each such program to stderr.\n"
	"\n"
	"  -p, --pid PID        target process (repeatable)\n"
	"      --json           one JSON object per process\n"
	"      --kernel-hook H  force a kernel hook variant\n"
	"      --btf FILE       kernel BTF to use instead of /sys/kernel/btf/vmlinux\n"
	"      --placement P    where library probes go: at the function (entry), at its\n"
	"                       direct call sites (callsite), or call sites where the entry\n"
	"                       would be single-stepped and every call is seen (auto, default)\n"
	"      --phases LIST    only the probes of these phases (default: all)\n"
	"  -v, --verbose        also each probe's placement: the instruction under every\n"
	"                       probe, its class (trampoline, emulated, single-step) and\n"
	"                       expected cost, and every table's capacity (-vv: libbpf\n"
	"                       diagnostics)\n"
	"\n"
	"exit status: 0 success, 1 runtime error, 2 usage error\n";

static const char *khook_target(enum ls_khook h, int send)
{
	switch (h) {
	case LS_KHOOK_FENTRY: return send ? "fentry/fexit tcp_sendmsg" : "fentry/fexit tcp_recvmsg";
	case LS_KHOOK_KPROBE: return send ? "kprobe/kretprobe tcp_sendmsg" : "kprobe/kretprobe tcp_recvmsg";
	case LS_KHOOK_TRACEPOINT:
		return send ? "tracepoint sock:sock_send_length (from syscall entry)"
			    : "tracepoint sock:sock_recv_length (from syscall entry)";
	default: return "none";
	}
}

static const char *feature_state(const struct ls_feat_status *st)
{
	return st->state == LS_FEAT_ON ? "loaded" : st->state == LS_FEAT_FAILED ? "failed" : "not needed";
}

/* One site's placement: the instruction under each probe, its class and cost, the call sites. */
static void json_placement(struct jw *w, struct ls_session *s, const struct ls_placement *pl)
{
	jw_kstr(w, "placement", ls_place_mode_name(pl->used));
	jw_kbool(w, "entry_probe", pl->entry_probe);
	jw_kstr(w, "entry_insn", pl->entry_insn.text);
	jw_kstr(w, "entry_class", ls_insn_class_name(pl->entry_insn.cls));
	jw_ku64(w, "entry_cost_ns", pl->entry_insn.cost_ns);
	jw_ku64(w, "expected_call_ns", pl->call_cost_ns);
	jw_kstr(w, "why", pl->why);
	jw_key(w, "callsites");
	jw_arr(w);
	for (size_t k = 0; k < pl->ncs; k++) {
		const struct ls_callsite *cs = &pl->cs[k];

		jw_obj(w);
		jw_kstr(w, "object", ls_placements_obj_path(ls_session_placements(s), cs->obj));
		jw_ku64(w, "call_vaddr", cs->call_vaddr);
		jw_kbool(w, "ok", cs->ok);
		if (cs->ok) {
			jw_ku64(w, "return_vaddr", cs->ret_vaddr);
			jw_kstr(w, "return_insn", cs->ret_insn.text);
			jw_kstr(w, "return_class", ls_insn_class_name(cs->ret_insn.cls));
			jw_kstr(w, "result_reg", ls_reg_name(cs->ret_reg));
		} else {
			jw_kstr(w, "reason", cs->reason);
		}
		jw_obj_end(w);
	}
	jw_arr_end(w);
}

static void json_site(struct jw *w, struct ls_session *s, const struct ls_site *site, size_t i)
{
	jw_obj(w);
	jw_kstr(w, "symbol", site->symbol);
	jw_kstr(w, "library", site->entry->library);
	jw_kstr(w, "phase", site->entry->phase);
	jw_kbool(w, "found", site->found);
	if (site->path[0])
		jw_kstr(w, "path", site->path);
	if (site->found) {
		const struct ls_placement *pl = ls_placement_of(ls_session_placements(s), i);

		jw_ku64(w, "offset", site->offset);
		jw_ku64(w, "vaddr", site->vaddr);
		jw_kstr(w, "return_probe", (site->entry->flags & LS_CAT_RETPROBE) ? "uretprobe" : "none");
		if (pl)
			json_placement(w, s, pl);
	}
	if (site->found && (site->entry->flags & LS_CAT_GO)) {
		jw_ku64(w, "ret_sites", site->nrets);
		jw_kbool(w, "entry_after_stack_check", site->after_check);
		jw_kstr(w, "go_version", site->go_version);
		jw_kstr(w, "symbols", site->symbols ? site->symbols : "");
	}
	if (site->found && site->has_offsets)
		jw_kstr(w, "offsets", site->offsets_from);
	else
		jw_kstr(w, "reason", site->reason);
	jw_obj_end(w);
}

static void print_json(struct ls_session *s, pid_t pid, int net)
{
	const struct ls_site *sites;
	struct ls_proc_info info;
	char err[LS_ERR_LEN];
	const char *line;
	struct jw w;
	size_t n;

	ls_proc_info(pid, &info, err);
	sites = ls_session_sites(s, &n);
	jw_init(&w, stdout);
	jw_obj(&w);
	jw_kstr(&w, "type", "probes");
	jw_ki64(&w, "pid", pid);
	jw_kstr(&w, "comm", info.comm);
	jw_kstr(&w, "kernel_hook", ls_khook_name(ls_session_khook(s)));
	jw_key(&w, "kernel_hook_tried");
	jw_arr(&w);
	for (line = ls_session_khook_report(s); *line;) {
		size_t len = strcspn(line, "\n");
		char buf[512];
		const char *colon;

		snprintf(buf, sizeof(buf), "%.*s", (int)len, line);
		colon = strstr(buf, ": ");
		if (colon) {
			buf[colon - buf] = '\0';
			jw_obj(&w);
			jw_kstr(&w, "hook", buf);
			jw_kstr(&w, "result", colon + 2);
			jw_obj_end(&w);
		}
		line += len + (line[len] == '\n');
	}
	jw_arr_end(&w);
	jw_key(&w, "features");
	jw_arr(&w);
	for (int f = 0; f < LS_FEAT_COUNT; f++) {
		const struct ls_feat_status *st = ls_session_feature(s, (enum ls_feature)f);

		jw_obj(&w);
		jw_kstr(&w, "name", ls_feature_name((enum ls_feature)f));
		jw_kstr(&w, "state", feature_state(st));
		if (st->state == LS_FEAT_FAILED) {
			jw_kstr(&w, "program", st->prog);
			jw_kstr(&w, "reason", st->reason);
		}
		jw_obj_end(&w);
	}
	jw_arr_end(&w);
	cli_paths_json(&w, s, pid);
	jw_key(&w, "probes");
	jw_arr(&w);
	for (size_t i = 0; i < n; i++)
		if (sites[i].pid == pid)
			json_site(&w, s, &sites[i], i);
	for (int send = 1; send >= 0; send--) {
		jw_obj(&w);
		jw_kstr(&w, "symbol", send ? "tcp_sendmsg" : "tcp_recvmsg");
		jw_kstr(&w, "library", "kernel");
		jw_kstr(&w, "phase", "net");
		jw_kbool(&w, "found", net);
		jw_kstr(&w, "hook", khook_target(ls_session_khook(s), send));
		if (!net)
			jw_kstr(&w, "reason", "not attached: phase net not requested (--phases)");
		jw_obj_end(&w);
	}
	jw_arr_end(&w);
	jw_obj_end(&w);
}

static void print_plain(struct ls_session *s, pid_t pid, int net)
{
	const struct ls_site *sites;
	struct ls_proc_info info;
	char err[LS_ERR_LEN];
	const char *rep, *line;
	size_t n;

	ls_proc_info(pid, &info, err);
	sites = ls_session_sites(s, &n);
	printf("pid %d (%s)\n", (int)pid, info.comm);
	printf("kernel hook: %s\n", ls_khook_name(ls_session_khook(s)));
	rep = ls_session_khook_report(s);
	for (line = rep; *line;) {
		size_t len = strcspn(line, "\n");

		printf("  tried %.*s\n", (int)len, line);
		line += len + (line[len] == '\n');
	}
	printf("features:\n");
	for (int f = 0; f < LS_FEAT_COUNT; f++) {
		const struct ls_feat_status *st = ls_session_feature(s, (enum ls_feature)f);

		printf("  %-9s %-10s %s", ls_feature_name((enum ls_feature)f), feature_state(st),
		       ls_feature_what((enum ls_feature)f));
		if (st->state == LS_FEAT_FAILED)
			printf(": off, %s%s%s", st->prog, st->prog[0] ? ": " : "", st->reason);
		printf("\n");
	}
	printf("protocol paths:\n");
	cli_print_paths(stdout, s, pid, "  ");
	printf("\n%-18s %-6s %-8s %-10s %s\n", "PROBE", "PHASE", "STATUS", "OFFSET", "WHERE");
	for (size_t i = 0; i < n; i++) {
		const struct ls_site *site = &sites[i];

		if (site->pid != pid)
			continue;
		if (site->found)
			printf("%-18s %-6s %-8s 0x%-8llx %s\n", site->symbol, site->entry->phase, "found",
			       (unsigned long long)site->offset, site->path);
		else
			printf("%-18s %-6s %-8s %-10s %s\n", site->symbol, site->entry->phase, "missing", "-",
			       site->reason);
	}
	for (int send = 1; send >= 0; send--)
		printf("%-18s %-6s %-8s %-10s %s\n", send ? "tcp_sendmsg" : "tcp_recvmsg", "net", net ? "found" : "missing", "-",
		       net ? khook_target(ls_session_khook(s), send) : "not attached: phase net not requested (--phases)");
}

/* One row per program and configuration; returns how many were rejected or over the budget. */
/* One row per program and configuration; returns how many were rejected or over the budget. */
static int print_verifier(const struct ls_verifier_prog *v, size_t n, int json)
{
	struct jw w;
	int bad = 0;

	if (json) {
		jw_init(&w, stdout);
		jw_obj(&w);
		jw_kstr(&w, "type", "verifier");
		jw_ku64(&w, "limit", LS_VERIFIER_LIMIT);
		jw_ku64(&w, "budget_insns", LS_VERIFIER_BUDGET_INSNS);
		jw_ku64(&w, "budget_states_per_insn", LS_VERIFIER_BUDGET_STATES);
		jw_key(&w, "programs");
		jw_arr(&w);
	} else {
		printf("%-16s %-8s %-8s %7s %10s %6s %7s %7s %9s %6s  %s\n", "PROGRAM", "CONFIG", "FEATURE", "INSNS",
		       "PROCESSED", "STATES", "PEAK", "TOTAL", "TIME(us)", "LIMIT", "VERDICT");
	}
	for (size_t i = 0; i < n; i++) {
		const struct ls_verifier_prog *p = &v[i];
		int ok = ls_verifier_within_budget(p);
		const char *verdict = !p->verified ? "not loadable here" : !p->loaded ? "rejected" : ok ? "ok" : "over budget";

		/* A program type this kernel refuses before verifying (fentry without trampolines) is not a failure. */
		if (p->verified && !ok)
			bad++;
		if (!json) {
			printf("%-16s %-8s %-8s %7u %10u %6u %7u %7u %9llu %5.1f%%  %s", p->name, p->config, p->feature, p->insns,
			       p->processed, p->max_states, p->peak_states, p->total_states, (unsigned long long)p->verify_us,
			       100.0 * p->processed / LS_VERIFIER_LIMIT, verdict);
			if (!p->loaded)
				printf(": %s", p->reason);
			printf("\n");
			continue;
		}
		jw_obj(&w);
		jw_kstr(&w, "name", p->name);
		jw_kstr(&w, "config", p->config);
		jw_kstr(&w, "section", p->section);
		jw_kstr(&w, "feature", p->feature);
		jw_ku64(&w, "insns", p->insns);
		jw_ku64(&w, "processed_insns", p->processed);
		jw_ku64(&w, "max_states_per_insn", p->max_states);
		jw_ku64(&w, "total_states", p->total_states);
		jw_ku64(&w, "peak_states", p->peak_states);
		jw_ku64(&w, "verification_us", p->verify_us);
		jw_kdbl(&w, "limit_share", "%.4f", (double)p->processed / LS_VERIFIER_LIMIT);
		jw_kbool(&w, "verified", p->verified);
		jw_kbool(&w, "loaded", p->loaded);
		jw_kbool(&w, "within_budget", ok);
		if (!p->loaded)
			jw_kstr(&w, "reason", p->reason);
		jw_obj_end(&w);
	}
	if (json) {
		jw_arr_end(&w);
		jw_ki64(&w, "failed", bad);
		jw_obj_end(&w);
	}
	return bad;
}

static void print_full_log(void *ctx, const struct ls_verifier_prog *p, const char *log)
{
	(void)ctx;
	fprintf(stderr, "---- verifier log of %s (%s) ----\n%s---- end of %s (%s) ----\n", p->name, p->config, log, p->name,
		p->config);
}

static int run_verifier(const struct cli_common *c)
{
	struct ls_verifier_prog *v = NULL;
	char err[LS_ERR_LEN];
	size_t n = 0;
	int bad;

	if (ls_verifier_run(c->btf_path, c->verbose >= 2 ? print_full_log : NULL, NULL, &v, &n, err)) {
		cli_error("%s", err);
		return EXIT_RUNTIME;
	}
	bad = print_verifier(v, n, c->json);
	free(v);
	if (bad)
		cli_error("%d program%s rejected or over the verifier budget", bad, bad == 1 ? "" : "s");
	return bad ? EXIT_RUNTIME : EXIT_OK;
}

/* How record's default (--call-graph auto) would take this process's stacks, per object. */
static void print_callgraph(pid_t pid)
{
	struct ls_cg_obj *objs;
	struct ls_xranges x;
	unsigned int over;
	char err[LS_ERR_LEN], path[256];
	size_t n;

	if (ls_callgraph_ranges(pid, &x, &objs, &n, &over, err)) {
		printf("call graph: %s\n", cli_term_str(path, sizeof(path), err));
		return;
	}
	printf("call graph (record --call-graph auto), per object:\n");
	for (size_t i = 0; i < n; i++)
		printf("  %-60s %-20s %s\n", cli_term_str(path, sizeof(path), objs[i].path),
		       objs[i].fp.keeps_fp ? "frame pointers" : "DWARF (stack copy)", objs[i].fp.why);
	if (over)
		printf("  %u executable ranges beyond the profiler's table of %d: taken as frame-pointer code\n", over,
		       LS_XRANGES);
	free(objs);
}

#define OPT_VERIFIER 2000

int cmd_probes(int argc, char **argv)
{
	static const struct option longopts[] = { CLI_COMMON_LONG, { "verifier", no_argument, NULL, OPT_VERIFIER }, { 0 } };
	int verifier = 0;
	struct cli_common c = { 0 };
	struct ls_session_opts so = { .sz = sizeof(so) };
	struct ls_session *s = NULL;
	int opt;

	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT, longopts, NULL)) != -1) {
		int r = cli_common_opt(&c, opt, optarg);

		if (r == 1)
			continue;
		if (opt == OPT_VERIFIER) {
			verifier = 1;
			continue;
		}
		if (opt == 'h') {
			fputs(usage_text, stdout);
			return EXIT_OK;
		}
		if (r == 0)
			fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	if (verifier) {
		if (c.npids || optind < argc) {
			cli_error("--verifier takes no process (it loads no probe into one)");
			fputs(usage_text, stderr);
			return EXIT_USAGE;
		}
		return run_verifier(&c);
	}
	if (cli_need_pids(&c, argc, argv, "probes", usage_text))
		return EXIT_USAGE;
	if (cli_session_start(&c, &so, &s))
		return EXIT_RUNTIME;
	for (size_t i = 0; i < c.npids; i++) {
		if (c.json)
			print_json(s, c.pids[i], !c.phases || (c.phases & LS_PHASES_NET));
		else
		{
			print_plain(s, c.pids[i], !c.phases || (c.phases & LS_PHASES_NET));
			if (c.verbose) {
				cli_print_placements(stdout, s, c.pids[i]);
				print_callgraph(c.pids[i]);
			}
		}
	}
	if (c.verbose)
		cli_print_maps(stdout, s, NULL, c.json);
	ls_session_free(s);
	return EXIT_OK;
}
