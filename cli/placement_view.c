/* How probes are placed and what they cost, for `probes -v` and `trace`'s summary. */
#include "cli.h"
#include "placement.h"
#include "util.h"

#include <string.h>

static const char *us(unsigned int ns, char *buf, size_t len)
{
	snprintf(buf, len, "%.2fus", (double)ns / 1e3);
	return buf;
}

void cli_print_placements(FILE *f, struct ls_session *s, pid_t pid)
{
	const struct ls_placements *pls = ls_session_placements(s);
	const struct ls_costs *c;
	const struct ls_site *sites;
	char a[32], b[32];
	size_t n;

	sites = ls_session_sites(s, &n);
	c = ls_placements_costs(pls);
	fprintf(f, "\nplacement (cost per hit of an empty program: %s; latscope's own work adds ~%s per call, not measured):\n",
		c->how, us(c->ns[LS_COST_K_PROGRAM], a, sizeof(a)));
	cli_calibration_print(f, c, 0);
	for (size_t i = 0; i < n; i++) {
		const struct ls_site *site = &sites[i];
		const struct ls_placement *pl = ls_placement_of(pls, i);

		if (site->pid != pid || !site->found || !pl)
			continue;
		fprintf(f, "%s  %s+0x%llx\n", site->entry->symbol, ls_base_name(site->path), (unsigned long long)site->vaddr);
		fprintf(f, "  entry      %-28s %-11s %s%s\n", pl->entry_insn.text, ls_insn_class_name(pl->entry_insn.cls),
			us(pl->entry_insn.cost_ns, a, sizeof(a)), pl->entry_probe ? "" : "  (not probed)");
		if (pl->ret_kind == LS_RET_URETPROBE)
			fprintf(f, "  return     %-28s %-11s %s%s (a RET site would be single-stepped: %s)\n", "uretprobe",
				"trampoline", us(pl->ret_cost_ns, a, sizeof(a)), pl->entry_probe ? "" : "  (not probed)",
				us(pl->rets_cost_ns, b, sizeof(b)));
		else if (pl->ret_kind == LS_RET_SITES)
			fprintf(f, "  return     %-28s %-11s %s (Go: never a uretprobe)\n", "RET sites", "single-step",
				us(pl->ret_cost_ns, a, sizeof(a)));
		for (size_t k = 0; k < pl->ncs; k++) {
			const struct ls_callsite *cs = &pl->cs[k];
			const char *obj = ls_base_name(ls_placements_obj_path(pls, cs->obj));

			if (!cs->ok) {
				fprintf(f, "  callsite   %s+0x%llx refused, falls back to the entry probe: %s\n", obj,
					(unsigned long long)cs->call_vaddr, cs->reason);
				continue;
			}
			fprintf(f, "  callsite   %s+0x%llx %-17s %-11s %s\n", obj, (unsigned long long)cs->call_vaddr,
				cs->call_insn.text, ls_insn_class_name(cs->call_insn.cls), us(cs->call_insn.cost_ns, a, sizeof(a)));
			fprintf(f, "    return   %s+0x%llx %-17s %-11s %s  result in %s\n", obj, (unsigned long long)cs->ret_vaddr,
				cs->ret_insn.text, ls_insn_class_name(cs->ret_insn.cls), us(cs->ret_insn.cost_ns, a, sizeof(a)),
				ls_reg_name(cs->ret_reg));
		}
		fprintf(f, "  placement  %s: %s\n", ls_place_mode_name(pl->used), pl->why);
		fprintf(f, "  expected   %s per call\n", us(pl->call_cost_ns, a, sizeof(a)));
	}
}

unsigned int cli_probe_call_cost(struct ls_session *s, unsigned int probe, unsigned int *hits_per_call,
				 const char **placement)
{
	const struct ls_placements *pls = ls_session_placements(s);
	const struct ls_site *sites;
	size_t n;

	*hits_per_call = 0;
	*placement = "none";
	sites = ls_session_sites(s, &n);
	for (size_t i = 0; i < n; i++) {
		const struct ls_placement *pl = ls_placement_of(pls, i);

		if (!sites[i].found || !pl || sites[i].entry->probe != probe)
			continue;
		*hits_per_call = pl->used == LS_PLACE_CALLSITE && pl->nok ? 2 + (pl->entry_probe ? 2 : 0) : 2;
		*placement = pl->used != LS_PLACE_CALLSITE ? "entry" : pl->entry_probe ? "callsite+entry" : "callsite";
		return pl->call_cost_ns;
	}
	return 0;
}

void cli_probe_cost(struct ls_session *s, struct cli_probe_cost *out)
{
	const struct ls_costs *costs = ls_placements_costs(ls_session_placements(s));
	unsigned int prog = costs ? costs->ns[LS_COST_K_PROGRAM] : 0;

	memset(out, 0, sizeof(*out));
	for (unsigned int p = 0; p < LS_PROBE_COUNT; p++) {
		unsigned int per_call, hits;
		const char *place;
		struct ls_stats st;

		if (ls_session_stats(s, p, &st) || st.calls == 0)
			continue;
		per_call = cli_probe_call_cost(s, p, &hits, &place);
		out->calls += st.calls;
		out->hits += st.calls * hits;
		if (per_call >= prog) {
			out->trap_ns += st.calls * (per_call - prog);
			out->prog_ns += st.calls * prog;
		}
	}
	/* The programs' own time as the kernel measured it, when it does. */
	out->prog_table_ns = prog;
	out->prog_per_hit_ns = out->hits ? (double)out->prog_ns / (double)out->hits : prog / 2.0;
	out->prog_measured = ls_session_bpf_time(s, &out->bpf) == 0;
	if (out->prog_measured) {
		out->prog_ns = out->bpf.uprobe_ns;
		if (out->bpf.uprobe_runs)
			out->prog_per_hit_ns = (double)out->bpf.uprobe_ns / (double)out->bpf.uprobe_runs;
	}
}
