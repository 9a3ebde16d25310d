/*
 * CFA expressions as the PLT stubs' unwind rules give them, evaluated at each address of a
 * stub, and expressions that are not the stack pointer plus a constant: the rule ld writes
 * for a lazy .plt (sp + 8, 8 more from the stub's 11th byte, after its push), the one for
 * .plt with IBT (from the 10th), and what must give up.
 */
#include <dwarf.h>
#include <string.h>

#include "cfaexpr.h"
#include "check.h"

#define OP(a) { .atom = (a) }
#define OPN(a, n) { .atom = (a), .number = (Dwarf_Word)(n) }

/* DW_OP_breg7 8; DW_OP_breg16 0; DW_OP_lit15; DW_OP_and; DW_OP_litK; DW_OP_ge; DW_OP_lit3; DW_OP_shl; DW_OP_plus */
static void plt_rule(Dwarf_Op *ops, unsigned int k)
{
	const Dwarf_Op r[9] = { OPN(DW_OP_breg7, 8), OPN(DW_OP_breg16, 0), OP(DW_OP_lit15), OP(DW_OP_and),
				OP(DW_OP_lit0 + k), OP(DW_OP_ge), OP(DW_OP_lit3), OP(DW_OP_shl), OP(DW_OP_plus) };

	memcpy(ops, r, sizeof(r));
}

int main(void)
{
	Dwarf_Op ops[9];
	int64_t off;
	int bad = 0;

	/* A stub at 0x3030 (16-aligned as ld lays them), every byte of it. */
	plt_rule(ops, 11);
	for (uint64_t pc = 0x3030; pc < 0x3040; pc++) {
		int64_t want = pc - 0x3030 >= 11 ? 16 : 8;

		off = -1;
		bad += !ls_cfa_expr_sp(ops, 9, pc, &off) || off != want;
	}
	CHECK(!bad, "lazy .plt stub: sp + 8 for bytes 0-10, sp + 16 from byte 11 (%d of 16 wrong)", bad);
	plt_rule(ops, 10);
	bad = 0;
	for (uint64_t pc = 0x1000; pc < 0x1010; pc++) {
		off = -1;
		bad += !ls_cfa_expr_sp(ops, 9, pc, &off) || off != (pc - 0x1000 >= 10 ? 16 : 8);
	}
	CHECK(!bad, "IBT .plt stub: sp + 16 from byte 10 (%d of 16 wrong)", bad);

	{
		const Dwarf_Op sp[] = { OPN(DW_OP_breg7, 24) };
		const Dwarf_Op uconst[] = { OPN(DW_OP_breg7, 8), OPN(DW_OP_plus_uconst, 32) };
		const Dwarf_Op minus[] = { OPN(DW_OP_breg7, 0), OPN(DW_OP_const1u, 8), OP(DW_OP_minus) };

		CHECK(ls_cfa_expr_sp(sp, 1, 0, &off) && off == 24, "breg7 24: sp + 24 (%lld)", (long long)off);
		CHECK(ls_cfa_expr_sp(uconst, 2, 0, &off) && off == 40, "breg7 8, plus_uconst 32: sp + 40 (%lld)",
		      (long long)off);
		CHECK(ls_cfa_expr_sp(minus, 3, 0, &off) && off == -8, "breg7 0, const1u 8, minus: sp - 8 (%lld)",
		      (long long)off);
	}
	{
		const Dwarf_Op fp[] = { OPN(DW_OP_breg6, 16) };
		const Dwarf_Op twice[] = { OPN(DW_OP_breg7, 0), OPN(DW_OP_breg7, 0), OP(DW_OP_plus) };
		const Dwarf_Op gone[] = { OPN(DW_OP_breg7, 0), OPN(DW_OP_breg7, 0), OP(DW_OP_minus) };
		const Dwarf_Op masked[] = { OPN(DW_OP_breg7, 0), OP(DW_OP_lit15), OP(DW_OP_and) };
		const Dwarf_Op deref[] = { OPN(DW_OP_breg7, 8), OP(DW_OP_deref) };
		const Dwarf_Op under[] = { OP(DW_OP_plus) };
		const Dwarf_Op left[] = { OPN(DW_OP_breg7, 8), OP(DW_OP_lit1) };
		Dwarf_Op deep[12];

		for (int i = 0; i < 12; i++)
			deep[i] = (Dwarf_Op)OP(DW_OP_lit1);
		CHECK(!ls_cfa_expr_sp(fp, 1, 0, &off), "breg6 (the frame pointer): not sp-relative");
		CHECK(!ls_cfa_expr_sp(twice, 3, 0, &off), "sp + sp: gives up");
		CHECK(!ls_cfa_expr_sp(gone, 3, 0, &off), "sp - sp (a constant): not sp-relative");
		CHECK(!ls_cfa_expr_sp(masked, 3, 0, &off), "sp & 15 (needs sp's value): gives up");
		CHECK(!ls_cfa_expr_sp(deref, 2, 0, &off), "deref (reads memory): gives up");
		CHECK(!ls_cfa_expr_sp(under, 1, 0, &off), "plus on an empty stack: gives up");
		CHECK(!ls_cfa_expr_sp(left, 2, 0, &off), "two values left: gives up");
		CHECK(!ls_cfa_expr_sp(deep, 12, 0, &off), "more than 8 values deep: gives up");
		CHECK(!ls_cfa_expr_sp(NULL, 0, 0, &off), "no operation: gives up");
	}
	return failures ? 1 : 0;
}
