#include "cfaexpr.h"

#include <dwarf.h>

#include <linux/types.h>
#include "latscope.h"

/*
 * A CFA given as an expression, evaluated at pc where it comes to the stack pointer plus
 * a constant: 1 with that constant in *off, 0 otherwise. Such are the PLT stubs' rules
 * (sp + 8, plus 8 once the stub has pushed its relocation index: a test of pc's low bits).
 * Each value on the stack is k * sp + c, k 0 or 1; an operation that would need sp's value
 * gives up.
 */
int ls_cfa_expr_sp(const Dwarf_Op *ops, size_t nops, uint64_t pc, int64_t *off)
{
	uint64_t c[8]; /* unsigned: wraps where a stranger's expression overflows */
	int k[8], n = 0;

	for (size_t i = 0; i < nops; i++) {
		const Dwarf_Op *o = &ops[i];
		unsigned int a = o->atom;
		uint64_t x, y;

		if ((a >= DW_OP_breg0 && a <= DW_OP_breg31) || a == DW_OP_bregx) {
			unsigned int reg = a == DW_OP_bregx ? (unsigned int)o->number : a - DW_OP_breg0;
			uint64_t add = a == DW_OP_bregx ? o->number2 : o->number;

			if (n == 8 || (reg != LS_UREG_SP && reg != 16))
				return 0;
			k[n] = reg == LS_UREG_SP;
			c[n++] = reg == LS_UREG_SP ? add : pc + add;
			continue;
		}
		if ((a >= DW_OP_lit0 && a <= DW_OP_lit31) || a == DW_OP_const1u || a == DW_OP_const1s ||
		    a == DW_OP_const2u || a == DW_OP_const2s || a == DW_OP_const4u || a == DW_OP_const4s ||
		    a == DW_OP_const8u || a == DW_OP_const8s || a == DW_OP_constu || a == DW_OP_consts) {
			if (n == 8)
				return 0;
			k[n] = 0;
			c[n++] = a >= DW_OP_lit0 && a <= DW_OP_lit31 ? (uint64_t)(a - DW_OP_lit0) : o->number;
			continue;
		}
		if (a == DW_OP_plus_uconst) {
			if (!n)
				return 0;
			c[n - 1] += o->number;
			continue;
		}
		if (n < 2)
			return 0;
		x = c[n - 2];
		y = c[n - 1];
		if (a == DW_OP_plus || a == DW_OP_minus) {
			int kk = a == DW_OP_plus ? k[n - 2] + k[n - 1] : k[n - 2] - k[n - 1];

			if (kk < 0 || kk > 1)
				return 0;
			k[n - 2] = kk;
			c[n - 2] = a == DW_OP_plus ? x + y : x - y;
			n--;
			continue;
		}
		if (k[n - 2] || k[n - 1])
			return 0;
		switch (a) {
		case DW_OP_and: x &= y; break;
		case DW_OP_or: x |= y; break;
		case DW_OP_mul: x *= y; break;
		case DW_OP_shl: x = y > 63 ? 0 : x << y; break;
		case DW_OP_shr: x = y > 63 ? 0 : x >> y; break;
		/* DWARF compares signed. */
		case DW_OP_ge: x = (int64_t)x >= (int64_t)y; break;
		case DW_OP_gt: x = (int64_t)x > (int64_t)y; break;
		case DW_OP_le: x = (int64_t)x <= (int64_t)y; break;
		case DW_OP_lt: x = (int64_t)x < (int64_t)y; break;
		case DW_OP_eq: x = x == y; break;
		case DW_OP_ne: x = x != y; break;
		default: return 0;
		}
		c[n - 2] = x;
		n--;
	}
	if (n != 1 || k[0] != 1)
		return 0;
	*off = (int64_t)c[0];
	return 1;
}
