/*
 * User stacks from a copy of the stack top and the registers at a sample,
 * unwound with the call frame information of the mapped objects
 * (.eh_frame, .debug_frame) through libdwfl, as `perf --call-graph dwarf`
 * does. One libdwfl session per process, kept: its modules are reported from
 * /proc/PID/maps on first use and again when an address falls outside every
 * known module (a library loaded since). Not thread-safe.
 */
#ifndef LS_DWUNWIND_H
#define LS_DWUNWIND_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/types.h>
#include "latscope.h"

struct ls_dwunwind;

/* How one unwind ended. */
enum ls_unwind_end {
	LS_UNWIND_COMPLETE = 0,  /* reached the outermost frame (the thread's start) */
	LS_UNWIND_TRUNCATED,     /* stopped early: stack copy too short, no CFI, unreadable memory */
	LS_UNWIND_MAXDEPTH,      /* more frames than asked for */
	LS_UNWIND_NOPROC,        /* no session for the process (it exited, or its maps are unreadable) */
};

/* A new unwinder, or NULL with errno set. */
struct ls_dwunwind *ls_dwunwind_new(void);
void ls_dwunwind_free(struct ls_dwunwind *u);

/*
 * Unwind one sample of thread tid in process pid: regs in DWARF numbering
 * (LS_UREGS), stack the size bytes copied from regs[LS_UREG_SP] up. Writes
 * up to max addresses, innermost first (the sampled ip, then return
 * addresses, like a frame-pointer walk), to ips and their count to *n, and
 * returns how the walk ended. err (LS_ERR_LEN) says why for anything but
 * LS_UNWIND_COMPLETE.
 */
enum ls_unwind_end ls_dwunwind_stack(struct ls_dwunwind *u, pid_t pid, pid_t tid, const uint64_t *regs,
				     const void *stack, size_t size, uint64_t *ips, size_t max, size_t *n, char *err);

/*
 * Where the return address of the code at pc (an exact instruction address
 * of pid) lies, from its CFI: the word at sp + 8 * slot when the rule there
 * is CFA = rsp + 8 * (slot + 1) (no frame set up), LS_RA_FRAMED when the
 * CFA follows the frame pointer (the frame is set up: a frame-pointer walk
 * already has the caller), LS_RA_UNKNOWN when there is no CFI or another rule.
 */
#define LS_RA_FRAMED  (-1)
#define LS_RA_UNKNOWN (-2)
int ls_dwunwind_ra_slot(struct ls_dwunwind *u, pid_t pid, uint64_t pc);

/* Drop the cached session of pid (it exited). */
void ls_dwunwind_forget(struct ls_dwunwind *u, pid_t pid);

#endif
