/*
 * What a uprobe costs on the instruction it replaces. The x86 kernel emulates
 * a few instructions in the breakpoint handler (relative jumps, jcc, calls,
 * one-byte push of a register, nop; arch/x86/kernel/uprobes.c), 6.18 turns a
 * probed 5-byte nop into a call to a trampoline, and every other instruction
 * is single-stepped out of line: a second trap, ten times the cost.
 */
#ifndef LS_INSNCLASS_H
#define LS_INSNCLASS_H

#include <stddef.h>
#include <stdint.h>

enum ls_insn_class {
	LS_INSN_UNKNOWN = 0,
	LS_INSN_TRAMPOLINE,  /* nop5: rewritten into a call to the uprobe trampoline */
	LS_INSN_EMULATED,    /* the breakpoint handler executes it itself */
	LS_INSN_SSTEP,       /* copied out of line and single-stepped */
};

/* Costs per hit measured once on one machine of this kind (kernel 6.18, 2 vCPU), empty program: the fallback table. */
#define LS_COST_TRAMPOLINE_NS 460
#define LS_COST_JUMP_NS       460  /* jcc, jmp, nop */
#define LS_COST_PUSH_NS       670
#define LS_COST_CALL_NS       710
#define LS_COST_SSTEP_NS      9400
#define LS_COST_RET_NS        10200 /* ret: single-stepped */
#define LS_COST_URETPROBE_NS  900   /* the uretprobe return trampoline (return side only) */
/* latscope's own work per probed call (call stack, histogram), entry and return together. */
#define LS_COST_PROGRAM_NS    550

/* What a probe hit costs, by what the kernel does with the probed instruction. */
enum ls_cost_kind {
	LS_COST_K_TRAMPOLINE = 0, /* nop5 turned into a call */
	LS_COST_K_JUMP,           /* jcc, jmp, nop: emulated */
	LS_COST_K_PUSH,           /* push %reg: emulated */
	LS_COST_K_CALL,           /* call rel32: emulated */
	LS_COST_K_SSTEP,          /* anything else: single-stepped out of line */
	LS_COST_K_RET,            /* ret: single-stepped */
	LS_COST_K_URETPROBE,      /* the uretprobe return trampoline (return side only) */
	LS_COST_K_PROGRAM,        /* latscope's own work per probed call (not measured: the fallback's) */
	LS_COST_KINDS,
};

/* Cost per hit of each kind, in ns: measured here (ls_calibrate) or the fallback table. */
struct ls_costs {
	unsigned int ns[LS_COST_KINDS];
	int measured;   /* 1: measured on this machine by ls_calibrate */
	char how[160];  /* how they were obtained, in one line */
};

/* The fallback table (measured once on another machine of this kind). */
const struct ls_costs *ls_costs_fallback(void);
/* "trampoline", "jump", ... */
const char *ls_cost_kind_name(enum ls_cost_kind k);

struct ls_insn {
	enum ls_insn_class cls;
	enum ls_cost_kind kind;
	unsigned int len;        /* instruction length, 0 when not decoded */
	unsigned int cost_ns;    /* expected cost of one hit of an empty program */
	char text[64];           /* "sub $0x18,%rsp"-like disassembly (cut to fit) */
};

/*
 * Classify the instruction at code (len bytes available, at vaddr); its cost
 * from costs (NULL: the fallback table). 0, or -EINVAL when it does not decode.
 */
int ls_insn_classify(const uint8_t *code, size_t len, uint64_t vaddr, const struct ls_costs *costs,
		     struct ls_insn *out);

/* "trampoline", "emulated", "single-step", "?" */
const char *ls_insn_class_name(enum ls_insn_class c);

#endif
