#include "insnclass.h"

#include <capstone/capstone.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

static int is_legacy_prefix(uint8_t b)
{
	switch (b) {
	case 0xf0: case 0xf2: case 0xf3: case 0x2e: case 0x36: case 0x3e:
	case 0x26: case 0x64: case 0x65: case 0x66: case 0x67:
		return 1;
	}
	return 0;
}

/*
 * The decisions of arch/x86/kernel/uprobes.c, from the bytes: which
 * instructions branch_setup_xol_ops() and push_setup_xol_ops() emulate, and
 * the nop5 that 6.18 optimises into a trampoline call.
 */
static enum ls_insn_class byte_class(const uint8_t *c, size_t len, enum ls_cost_kind *cost)
{
	size_t i = 0;
	int has66 = 0, nlegacy = 0;
	uint8_t rex = 0, op;

	while (i < len && i < 14 && is_legacy_prefix(c[i])) {
		has66 |= c[i] == 0x66;
		nlegacy++;
		i++;
	}
	if (i < len && (c[i] & 0xf0) == 0x40)
		rex = c[i++];
	if (i >= len)
		return LS_INSN_UNKNOWN;
	op = c[i];
	if (!nlegacy && !rex && len >= 5 && !memcmp(c, "\x0f\x1f\x44\x00\x00", 5)) {
		*cost = LS_COST_K_TRAMPOLINE;
		return LS_INSN_TRAMPOLINE;
	}
	/* push %reg: only the plain one-byte form, or with REX.B alone (r8-r15). */
	if (op >= 0x50 && op <= 0x57 && !nlegacy && (!rex || rex == 0x41)) {
		*cost = LS_COST_K_PUSH;
		return LS_INSN_EMULATED;
	}
	/* nop (0x90, not xchg with r8) is emulated as a jump of zero. */
	if (op == 0x90 && !(rex & 1)) {
		*cost = LS_COST_K_JUMP;
		return LS_INSN_EMULATED;
	}
	/* Relative branches; 16-bit operand overrides are refused by the kernel. */
	if (has66)
		return LS_INSN_SSTEP;
	if (op == 0xe8) {
		*cost = LS_COST_K_CALL;
		return LS_INSN_EMULATED;
	}
	if (op == 0xe9 || op == 0xeb || (op >= 0x70 && op <= 0x7f) ||
	    (op == 0x0f && i + 1 < len && c[i + 1] >= 0x80 && c[i + 1] <= 0x8f)) {
		*cost = LS_COST_K_JUMP;
		return LS_INSN_EMULATED;
	}
	if (op == 0xc3 || op == 0xc2) {
		*cost = LS_COST_K_RET;
		return LS_INSN_SSTEP;
	}
	return LS_INSN_SSTEP;
}

static const struct ls_costs fallback = {
	.ns = {
		[LS_COST_K_TRAMPOLINE] = LS_COST_TRAMPOLINE_NS, [LS_COST_K_JUMP] = LS_COST_JUMP_NS,
		[LS_COST_K_PUSH] = LS_COST_PUSH_NS, [LS_COST_K_CALL] = LS_COST_CALL_NS,
		[LS_COST_K_SSTEP] = LS_COST_SSTEP_NS, [LS_COST_K_RET] = LS_COST_RET_NS,
		[LS_COST_K_URETPROBE] = LS_COST_URETPROBE_NS, [LS_COST_K_PROGRAM] = LS_COST_PROGRAM_NS,
	},
	.measured = 0,
	.how = "fallback table (measured on another machine of this kind, not here)",
};

const struct ls_costs *ls_costs_fallback(void)
{
	return &fallback;
}

const char *ls_cost_kind_name(enum ls_cost_kind k)
{
	static const char *const names[LS_COST_KINDS] = {
		[LS_COST_K_TRAMPOLINE] = "trampoline", [LS_COST_K_JUMP] = "jump", [LS_COST_K_PUSH] = "push",
		[LS_COST_K_CALL] = "call", [LS_COST_K_SSTEP] = "single-step", [LS_COST_K_RET] = "ret",
		[LS_COST_K_URETPROBE] = "uretprobe", [LS_COST_K_PROGRAM] = "program",
	};

	return k < LS_COST_KINDS ? names[k] : "?";
}

int ls_insn_classify(const uint8_t *code, size_t len, uint64_t vaddr, const struct ls_costs *costs,
		     struct ls_insn *out)
{
	cs_insn *insn = NULL;
	csh h;
	size_t n;

	memset(out, 0, sizeof(*out));
	if (!code || !len)
		return -EINVAL;
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK)
		return -ENOMEM;
	cs_option(h, CS_OPT_SYNTAX, CS_OPT_SYNTAX_ATT);
	n = cs_disasm(h, code, len < 16 ? len : 16, vaddr, 1, &insn);
	if (n == 1) {
		out->len = insn[0].size;
		snprintf(out->text, sizeof(out->text), "%.15s%s%.46s", insn[0].mnemonic, insn[0].op_str[0] ? " " : "",
			 insn[0].op_str);
		cs_free(insn, n);
	}
	cs_close(&h);
	if (!out->len)
		return -EINVAL;
	out->kind = LS_COST_K_SSTEP;
	out->cls = byte_class(code, out->len, &out->kind);
	out->cost_ns = (costs ? costs : &fallback)->ns[out->kind];
	if (out->cls == LS_INSN_UNKNOWN)
		return -EINVAL;
	return 0;
}

const char *ls_insn_class_name(enum ls_insn_class c)
{
	switch (c) {
	case LS_INSN_TRAMPOLINE: return "trampoline";
	case LS_INSN_EMULATED: return "emulated";
	case LS_INSN_SSTEP: return "single-step";
	default: return "?";
	}
}
