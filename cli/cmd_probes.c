/* latscope probes: what would be attached to a process, and what is missing and why. */
#include "cli.h"
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
	"                       expected cost (-vv: libbpf diagnostics)\n"
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

static void print_json(struct ls_session *s, pid_t pid, int net)
{
	const struct ls_site *sites;
	struct ls_proc_info info;
	char err[LS_ERR_LEN];
	const char *rep, *line;
	size_t n;
	int first = 1;

	ls_proc_info(pid, &info, err);
	sites = ls_session_sites(s, &n);
	printf("{\"type\":\"probes\",\"pid\":%d,\"comm\":", (int)pid);
	jw_string(stdout, info.comm);
	printf(",\"kernel_hook\":\"%s\",\"kernel_hook_tried\":[", ls_khook_name(ls_session_khook(s)));
	rep = ls_session_khook_report(s);
	for (line = rep; *line;) {
		size_t len = strcspn(line, "\n");
		char buf[512];
		const char *colon;

		snprintf(buf, sizeof(buf), "%.*s", (int)len, line);
		colon = strstr(buf, ": ");
		if (colon) {
			printf("%s{\"hook\":\"%.*s\",\"result\":", first ? "" : ",", (int)(colon - buf), buf);
			jw_string(stdout, colon + 2);
			printf("}");
			first = 0;
		}
		line += len + (line[len] == '\n');
	}
	printf("],\"features\":[");
	for (int f = 0; f < LS_FEAT_COUNT; f++) {
		const struct ls_feat_status *st = ls_session_feature(s, (enum ls_feature)f);

		printf("%s{\"name\":\"%s\",\"state\":\"%s\"", f ? "," : "", ls_feature_name((enum ls_feature)f),
		       feature_state(st));
		if (st->state == LS_FEAT_FAILED) {
			printf(",\"program\":");
			jw_string(stdout, st->prog);
			printf(",\"reason\":");
			jw_string(stdout, st->reason);
		}
		printf("}");
	}
	printf("],\"probes\":[");
	first = 1;
	for (size_t i = 0; i < n; i++) {
		const struct ls_site *site = &sites[i];

		if (site->pid != pid)
			continue;
		printf("%s{\"symbol\":\"%s\",\"library\":\"%s\",\"phase\":\"%s\",\"found\":%s", first ? "" : ",",
		       site->symbol, site->entry->library, site->entry->phase, site->found ? "true" : "false");
		if (site->path[0]) {
			printf(",\"path\":");
			jw_string(stdout, site->path);
		}
		if (site->found)
			printf(",\"offset\":%llu,\"vaddr\":%llu,\"return_probe\":\"%s\"",
			       (unsigned long long)site->offset, (unsigned long long)site->vaddr,
			       (site->entry->flags & LS_CAT_RETPROBE) ? "uretprobe" : "none");
		if (site->found) {
			const struct ls_placement *pl = ls_placement_of(ls_session_placements(s), i);

			if (pl) {
				printf(",\"placement\":\"%s\",\"entry_probe\":%s,\"entry_insn\":", ls_place_mode_name(pl->used),
				       pl->entry_probe ? "true" : "false");
				jw_string(stdout, pl->entry_insn.text);
				printf(",\"entry_class\":\"%s\",\"entry_cost_ns\":%u,\"expected_call_ns\":%u,\"why\":",
				       ls_insn_class_name(pl->entry_insn.cls), pl->entry_insn.cost_ns, pl->call_cost_ns);
				jw_string(stdout, pl->why);
				printf(",\"callsites\":[");
				for (size_t k = 0; k < pl->ncs; k++) {
					const struct ls_callsite *cs = &pl->cs[k];

					printf("%s{\"object\":", k ? "," : "");
					jw_string(stdout, ls_placements_obj_path(ls_session_placements(s), cs->obj));
					printf(",\"call_vaddr\":%llu,\"ok\":%s", (unsigned long long)cs->call_vaddr,
					       cs->ok ? "true" : "false");
					if (cs->ok)
						printf(",\"return_vaddr\":%llu,\"return_insn\":\"%s\",\"return_class\":\"%s\",\"result_reg\":\"%s\"",
						       (unsigned long long)cs->ret_vaddr, cs->ret_insn.text,
						       ls_insn_class_name(cs->ret_insn.cls), ls_reg_name(cs->ret_reg));
					else {
						printf(",\"reason\":");
						jw_string(stdout, cs->reason);
					}
					printf("}");
				}
				printf("]");
			}
		}
		if (site->found && (site->entry->flags & LS_CAT_GO))
			printf(",\"ret_sites\":%zu,\"entry_after_stack_check\":%s,\"go_version\":\"%s\",\"symbols\":\"%s\"",
			       site->nrets, site->after_check ? "true" : "false", site->go_version,
			       site->symbols ? site->symbols : "");
		if (site->found && site->has_offsets)
			printf(",\"offsets\":\"%s\"", site->offsets_from);
		else {
			printf(",\"reason\":");
			jw_string(stdout, site->reason);
		}
		printf("}");
		first = 0;
	}
	for (int send = 1; send >= 0; send--) {
		printf(",{\"symbol\":\"%s\",\"library\":\"kernel\",\"phase\":\"net\",\"found\":%s,\"hook\":\"%s\"",
		       send ? "tcp_sendmsg" : "tcp_recvmsg", net ? "true" : "false", khook_target(ls_session_khook(s), send));
		printf("%s}", net ? "" : ",\"reason\":\"not attached: phase net not requested (--phases)\"");
	}
	printf("]}\n");
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
static int print_verifier(const struct ls_verifier_prog *v, size_t n, int json)
{
	int bad = 0;

	if (json)
		printf("{\"type\":\"verifier\",\"limit\":%u,\"budget_insns\":%u,\"budget_states_per_insn\":%u,\"programs\":[",
		       LS_VERIFIER_LIMIT, LS_VERIFIER_BUDGET_INSNS, LS_VERIFIER_BUDGET_STATES);
	else
		printf("%-16s %-8s %-8s %7s %10s %6s %7s %7s %9s %6s  %s\n", "PROGRAM", "CONFIG", "FEATURE", "INSNS",
		       "PROCESSED", "STATES", "PEAK", "TOTAL", "TIME(us)", "LIMIT", "VERDICT");
	for (size_t i = 0; i < n; i++) {
		const struct ls_verifier_prog *p = &v[i];
		int ok = ls_verifier_within_budget(p);
		const char *verdict = !p->verified ? "not loadable here" : !p->loaded ? "rejected" : ok ? "ok" : "over budget";

		/* A program type this kernel refuses before verifying (fentry without trampolines) is not a failure. */
		if (p->verified && !ok)
			bad++;
		if (json) {
			printf("%s{\"name\":\"%s\",\"config\":\"%s\",\"section\":", i ? "," : "", p->name, p->config);
			jw_string(stdout, p->section);
			printf(",\"feature\":\"%s\",\"insns\":%u,\"processed_insns\":%u,\"max_states_per_insn\":%u,"
			       "\"total_states\":%u,\"peak_states\":%u,\"verification_us\":%llu,\"limit_share\":%.4f,"
			       "\"verified\":%s,\"loaded\":%s,\"within_budget\":%s",
			       p->feature, p->insns, p->processed, p->max_states, p->total_states, p->peak_states,
			       (unsigned long long)p->verify_us, (double)p->processed / LS_VERIFIER_LIMIT,
			       p->verified ? "true" : "false", p->loaded ? "true" : "false", ok ? "true" : "false");
			if (!p->loaded) {
				printf(",\"reason\":");
				jw_string(stdout, p->reason);
			}
			printf("}");
		} else {
			printf("%-16s %-8s %-8s %7u %10u %6u %7u %7u %9llu %5.1f%%  %s", p->name, p->config, p->feature, p->insns,
			       p->processed, p->max_states, p->peak_states, p->total_states, (unsigned long long)p->verify_us,
			       100.0 * p->processed / LS_VERIFIER_LIMIT, verdict);
			if (!p->loaded)
				printf(": %s", p->reason);
			printf("\n");
		}
	}
	if (json)
		printf("],\"failed\":%d}\n", bad);
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
			if (c.verbose)
				cli_print_placements(stdout, s, c.pids[i]);
		}
	}
	ls_session_free(s);
	return EXIT_OK;
}
