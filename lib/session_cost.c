/* What the library probes cost the targets: hits times the per-hit costs measured at start, plus the programs. */
#include "session_int.h"

#include <string.h>

#include <bpf/libbpf.h>

#include "latscope.skel.h"

unsigned int ls_session_probe_call_cost(struct ls_session *s, unsigned int probe, unsigned int *hits_per_call,
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
		*hits_per_call = pl->used == LS_PLACE_CALLSITE && pl->nok ? 2 + (pl->entry_probe ? 2 : 0) :
				 pl->ret_kind == LS_RET_NONE ? 1 : 2;
		*placement = pl->used != LS_PLACE_CALLSITE ? "entry" : pl->entry_probe ? "callsite+entry" : "callsite";
		return pl->call_cost_ns;
	}
	return 0;
}

void ls_session_entry_costs(struct ls_session *s)
{
	const struct ls_placements *pls = ls_session_placements(s);
	const struct ls_site *sites;
	size_t n;

	if (!s->skel)
		return;
	sites = ls_session_sites(s, &n);
	for (size_t i = 0; i < n; i++) {
		const struct ls_placement *pl = ls_placement_of(pls, i);
		unsigned int p = sites[i].entry->probe;

		if (sites[i].found && pl && p < LS_PROBE_MAX)
			s->skel->bss->entry_hit_ns[p] = pl->entry_insn.cost_ns;
	}
}

void ls_session_probe_cost(struct ls_session *s, struct ls_probe_cost *out)
{
	const struct ls_costs *costs = ls_placements_costs(ls_session_placements(s));
	unsigned int prog = costs ? costs->ns[LS_COST_K_PROGRAM] : 0;

	memset(out, 0, sizeof(*out));
	for (unsigned int p = 0; p < LS_PROBE_COUNT; p++) {
		unsigned int per_call, hits;
		const char *place;
		struct ls_stats st;

		/* Probes without a site cost nothing: their statistics are not read (a step reads these often). */
		per_call = ls_session_probe_call_cost(s, p, &hits, &place);
		if (!hits || ls_session_stats(s, p, &st) || st.calls == 0)
			continue;
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
