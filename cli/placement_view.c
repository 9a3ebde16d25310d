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
