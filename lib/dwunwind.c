#include "dwunwind.h"
#include "cfaexpr.h"
#include "util.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <dwarf.h>
#include <elfutils/libdwfl.h>

#define MAX_PROCS 16
#define REREPORT_NS 1000000000ull /* at most one maps refresh per process and second */

struct proc {
	pid_t pid;
	Dwfl *dwfl;
	uint64_t reported_ns;
};

/* The sample being unwound: what the thread callbacks serve. */
struct sample {
	pid_t tid;
	const uint64_t *regs;
	const uint8_t *stack;
	uint64_t sp;
	size_t size;
	uint64_t missed; /* first address read outside the copy, 0 if none */
};

struct walk {
	uint64_t *ips;
	size_t max, n;
};

struct ls_dwunwind {
	struct proc procs[MAX_PROCS];
	size_t nprocs;
	struct sample cur;
	char *debuginfo_path;
	Dwfl_Callbacks cb;
};

static pid_t next_thread(Dwfl *dwfl, void *arg, void **thread_argp)
{
	(void)dwfl;
	(void)arg;
	(void)thread_argp;
	return 0; /* threads are only ever asked for by id */
}

static bool get_thread(Dwfl *dwfl, pid_t tid, void *arg, void **thread_argp)
{
	struct ls_dwunwind *u = arg;

	(void)dwfl;
	*thread_argp = u;
	return tid == u->cur.tid;
}

/* Stack words come from the copy; anything else was not captured. */
static bool memory_read(Dwfl *dwfl, Dwarf_Addr addr, Dwarf_Word *result, void *arg)
{
	struct ls_dwunwind *u = arg;

	(void)dwfl;
	/* addr comes from the sample's registers: "addr - sp + 8" may wrap around. */
	if (addr < u->cur.sp || addr - u->cur.sp > u->cur.size || u->cur.size - (addr - u->cur.sp) < sizeof(*result)) {
		if (!u->cur.missed)
			u->cur.missed = addr;
		return false;
	}
	memcpy(result, u->cur.stack + (addr - u->cur.sp), sizeof(*result));
	return true;
}

static bool set_initial_registers(Dwfl_Thread *thread, void *arg)
{
	struct ls_dwunwind *u = arg;
	Dwarf_Word regs[LS_UREGS];

	for (int i = 0; i < LS_UREGS; i++)
		regs[i] = u->cur.regs[i];
	if (!dwfl_thread_state_registers(thread, 0, LS_UREGS, regs))
		return false;
	dwfl_thread_state_register_pc(thread, u->cur.regs[LS_UREG_IP]);
	return true;
}

static const Dwfl_Thread_Callbacks thread_cb = {
	.next_thread = next_thread,
	.get_thread = get_thread,
	.memory_read = memory_read,
	.set_initial_registers = set_initial_registers,
};

struct ls_dwunwind *ls_dwunwind_new(void)
{
	struct ls_dwunwind *u = calloc(1, sizeof(*u));

	if (!u)
		return NULL;
	u->cb.find_elf = dwfl_linux_proc_find_elf;
	u->cb.find_debuginfo = dwfl_standard_find_debuginfo;
	u->cb.debuginfo_path = &u->debuginfo_path;
	return u;
}

static void proc_drop(struct ls_dwunwind *u, size_t i)
{
	dwfl_end(u->procs[i].dwfl);
	u->procs[i] = u->procs[--u->nprocs];
}

void ls_dwunwind_free(struct ls_dwunwind *u)
{
	if (!u)
		return;
	while (u->nprocs)
		proc_drop(u, 0);
	free(u);
}

void ls_dwunwind_forget(struct ls_dwunwind *u, pid_t pid)
{
	for (size_t i = 0; i < u->nprocs; i++) {
		if (u->procs[i].pid == pid) {
			proc_drop(u, i);
			return;
		}
	}
}

static int report_maps(Dwfl *dwfl, pid_t pid)
{
	int ret;

	dwfl_report_begin(dwfl);
	ret = dwfl_linux_proc_report(dwfl, pid);
	if (dwfl_report_end(dwfl, NULL, NULL) != 0 && !ret)
		ret = -1;
	return ret;
}

/* The process's libdwfl session, made on first use. NULL with err filled when it cannot be. */
static struct proc *proc_get(struct ls_dwunwind *u, pid_t pid, char *err)
{
	struct proc *p = NULL;
	Dwfl *dwfl;
	int ret;

	for (size_t i = 0; i < u->nprocs; i++)
		if (u->procs[i].pid == pid)
			return &u->procs[i];
	dwfl = dwfl_begin(&u->cb);
	if (!dwfl) {
		ls_err(err, ENOMEM, "pid %d: libdwfl: %s", (int)pid, dwfl_errmsg(-1));
		return NULL;
	}
	ret = report_maps(dwfl, pid);
	if (ret) {
		ls_err(err, ret > 0 ? ret : EINVAL, "pid %d: reading its mappings: %s", (int)pid,
		       ret > 0 ? strerror(ret) : dwfl_errmsg(-1));
		goto cleanup;
	}
	if (!dwfl_attach_state(dwfl, NULL, pid, &thread_cb, u)) {
		ls_err(err, EINVAL, "pid %d: libdwfl attach: %s", (int)pid, dwfl_errmsg(-1));
		goto cleanup;
	}
	/* Full: the oldest session goes (its process most likely exited). */
	if (u->nprocs == MAX_PROCS)
		proc_drop(u, 0);
	p = &u->procs[u->nprocs++];
	p->pid = pid;
	p->dwfl = dwfl;
	p->reported_ns = ls_now_ns();
	dwfl = NULL;
cleanup:
	dwfl_end(dwfl);
	return p;
}

static int on_frame(Dwfl_Frame *state, void *arg)
{
	struct walk *w = arg;
	Dwarf_Addr pc;
	bool activation;

	if (!dwfl_frame_pc(state, &pc, &activation))
		return DWARF_CB_ABORT;
	if (w->n == w->max)
		return DWARF_CB_ABORT;
	/* Kept as the return address, as a frame-pointer walk reports it: the symbolizer applies pc-1. */
	w->ips[w->n++] = pc;
	return DWARF_CB_OK;
}

enum ls_unwind_end ls_dwunwind_stack(struct ls_dwunwind *u, pid_t pid, pid_t tid, const uint64_t *regs,
				     const void *stack, size_t size, uint64_t *ips, size_t max, size_t *n, char *err)
{
	struct walk w = { .ips = ips, .max = max };
	struct proc *p;
	int ret;

	*n = 0;
	err[0] = '\0';
	p = proc_get(u, pid, err);
	if (!p) {
		if (max) {
			ips[0] = regs[LS_UREG_IP];
			*n = 1;
		}
		return LS_UNWIND_NOPROC;
	}
	/* An address in no known module: a library mapped since the last look. */
	if (!dwfl_addrmodule(p->dwfl, regs[LS_UREG_IP]) && ls_now_ns() - p->reported_ns > REREPORT_NS) {
		report_maps(p->dwfl, pid);
		p->reported_ns = ls_now_ns();
	}
	u->cur.tid = tid;
	u->cur.regs = regs;
	u->cur.stack = stack;
	u->cur.sp = regs[LS_UREG_SP];
	u->cur.size = size;
	u->cur.missed = 0;
	ret = dwfl_getthread_frames(p->dwfl, tid, on_frame, &w);
	u->cur.stack = NULL;
	*n = w.n;
	if (w.n == 0 && max) {
		ips[0] = regs[LS_UREG_IP];
		*n = 1;
	}
	/* libdwfl takes a return address it cannot read for the end of the stack: that is a short copy. */
	if (ret == 0 && u->cur.missed) {
		ls_err(err, ERANGE, "stack copy too short: read at sp+%lld, %zu bytes copied",
		       (long long)(u->cur.missed - u->cur.sp), size);
		return LS_UNWIND_TRUNCATED;
	}
	if (ret == 0)
		return LS_UNWIND_COMPLETE;
	if (w.n == max)
		return LS_UNWIND_MAXDEPTH;
	ls_err(err, EINVAL, "%s", dwfl_errmsg(-1));
	return LS_UNWIND_TRUNCATED;
}

/* The slot of the return address below a CFA of sp + off (the word just under the CFA). */
static int sp_slot(int64_t off)
{
	return off >= 8 && off % 8 == 0 && off / 8 <= LS_RA_WORDS ? (int)(off / 8 - 1) : LS_RA_UNKNOWN;
}

/* The CFA rule at pc in one CFI table: LS_RA_* or the slot. */
static int cfa_slot(Dwarf_CFI *cfi, Dwarf_Addr pc)
{
	Dwarf_Frame *frame = NULL;
	Dwarf_Op *ops;
	size_t nops;
	int64_t off;
	int ret = LS_RA_UNKNOWN;

	if (!cfi || dwarf_cfi_addrframe(cfi, pc, &frame) != 0)
		return LS_RA_UNKNOWN;
	if (dwarf_frame_cfa(frame, &ops, &nops) == 0 && nops == 1) {
		/* A register-plus-offset rule comes as DW_OP_bregx (reg, offset) or DW_OP_bregN (offset). */
		Dwarf_Word reg = ops[0].atom == DW_OP_bregx ? ops[0].number : (Dwarf_Word)(ops[0].atom - DW_OP_breg0);

		off = (int64_t)(ops[0].atom == DW_OP_bregx ? ops[0].number2 : ops[0].number);
		if (ops[0].atom == DW_OP_bregx || (ops[0].atom >= DW_OP_breg0 && ops[0].atom <= DW_OP_breg31)) {
			if (reg == 6)
				ret = LS_RA_FRAMED;
			else if (reg == LS_UREG_SP)
				ret = sp_slot(off);
		}
	} else if (nops > 1 && ls_cfa_expr_sp(ops, nops, pc, &off)) {
		ret = sp_slot(off);
	}
	free(frame);
	return ret;
}

int ls_dwunwind_ra_slot(struct ls_dwunwind *u, pid_t pid, uint64_t pc)
{
	char err[LS_ERR_LEN];
	struct proc *p = proc_get(u, pid, err);
	Dwarf_Addr bias = 0;
	Dwfl_Module *mod;
	Dwarf_CFI *cfi;
	int ret;

	if (!p)
		return LS_RA_UNKNOWN;
	mod = dwfl_addrmodule(p->dwfl, pc);
	if (!mod && ls_now_ns() - p->reported_ns > REREPORT_NS) {
		report_maps(p->dwfl, pid);
		p->reported_ns = ls_now_ns();
		mod = dwfl_addrmodule(p->dwfl, pc);
	}
	if (!mod)
		return LS_RA_UNKNOWN;
	cfi = dwfl_module_eh_cfi(mod, &bias);
	ret = cfa_slot(cfi, pc - bias);
	if (ret == LS_RA_UNKNOWN) {
		cfi = dwfl_module_dwarf_cfi(mod, &bias);
		ret = cfa_slot(cfi, pc - bias);
	}
	return ret;
}
