/*
 * Where each probe goes, and what it costs. A function whose first
 * instruction the kernel would single-step is observed from its callers
 * instead: an entry probe on each direct `call` to it (emulated; the arguments
 * are in their registers) and a return probe on the first emulated
 * instruction of the block the call returns into, where the result is still
 * in a register. Only where that is provably the same thing: the caller is
 * disassembled whole, and a call site is refused when a branch can enter the
 * span between the call and the return site, when an indirect jump makes its
 * blocks uncertain, or when the result cannot be followed. Calls this cannot
 * see (function pointers, tail calls, refused sites) keep the function's own
 * entry probe, which skips the calls a call site already recorded.
 */
#ifndef LS_PLACEMENT_H
#define LS_PLACEMENT_H

#include <stddef.h>
#include <stdint.h>

#include "discover.h"
#include "insnclass.h"

enum ls_place_mode {
	LS_PLACE_AUTO = 0,  /* call sites where the entry would be single-stepped and every call is seen */
	LS_PLACE_ENTRY,     /* function entry + return probe everywhere */
	LS_PLACE_CALLSITE,  /* call sites wherever possible, entry probe kept for what they cannot see */
};

enum ls_ret_kind {
	LS_RET_NONE = 0,
	LS_RET_URETPROBE,   /* return trampoline */
	LS_RET_SITES,       /* uprobes on every RET (Go) */
};

#define LS_PLACE_MAX_CALLSITES 64

struct ls_callsite {
	int ok;                 /* probed here */
	size_t obj;             /* index of the caller object (ls_placements_object) */
	uint64_t call_vaddr, call_offset;
	uint64_t ret_vaddr, ret_offset; /* return site, in the same object */
	uint64_t func_start, func_end;  /* the caller function, from its unwind entry */
	unsigned int ret_reg;   /* enum ls_reg holding the result at the return site */
	struct ls_insn call_insn, ret_insn;
	char reason[192];       /* why refused */
};

struct ls_placement {
	enum ls_place_mode used;    /* LS_PLACE_ENTRY or LS_PLACE_CALLSITE */
	int entry_probe;            /* the function's own entry probe is attached */
	enum ls_ret_kind ret_kind;  /* return side of the entry probe */
	struct ls_insn entry_insn;  /* the instruction under the entry probe */
	unsigned int ret_cost_ns;   /* one return of the entry placement */
	unsigned int rets_cost_ns;  /* the alternative not taken (RET sites for C, 0 for Go) */
	unsigned int call_cost_ns;  /* expected probe cost of one call with the placement in use */
	size_t ncs, nok;
	struct ls_callsite *cs;
	char why[256];              /* why this placement, and why the entry probe stays */
};

struct ls_placements;

/*
 * Place every found site (sites[i] -> placement i). Reads the target's mapped
 * objects again (a site's callers may be in any of them). 0 or -errno.
 */
int ls_place(const struct ls_site *sites, size_t nsites, enum ls_place_mode mode, const struct ls_costs *costs,
	     struct ls_placements **out, char *err);
const struct ls_placement *ls_placement_of(const struct ls_placements *p, size_t site);
/* The caller object of a call site: path as the target sees it, and one to open. */
const char *ls_placements_obj_path(const struct ls_placements *p, size_t obj);
const char *ls_placements_obj_open_path(const struct ls_placements *p, size_t obj);
/* The costs per hit the placement used (measured here, or the fallback table). */
const struct ls_costs *ls_placements_costs(const struct ls_placements *p);
/* Costs re-measured: every placement's cost per call from them (the choices made stay). */
void ls_placements_recost(struct ls_placements *p, const struct ls_costs *costs);
void ls_placements_free(struct ls_placements *p);

/*
 * A call-site-only placement sees the callers that were mapped when it was
 * made. 1 (and the object's path) when pid has since mapped an executable
 * object that was not analysed, while some function is probed at call sites
 * only; 0 otherwise.
 */
int ls_placements_new_object(const struct ls_placements *p, pid_t pid, char *path, size_t len);
/*
 * 1 when pid maps a library of the catalog (libssl, libnghttp2, ...) that it did not
 * map when the probes were placed (dlopen after attach): its path in path. Its
 * functions are not probed.
 */
int ls_placements_new_library(const struct ls_placements *p, pid_t pid, char *path, size_t len);

int ls_place_mode_parse(const char *s, enum ls_place_mode *out);
const char *ls_place_mode_name(enum ls_place_mode m);
/* "rax", "rsi", ... for an enum ls_reg. */
const char *ls_reg_name(unsigned int r);

#endif
