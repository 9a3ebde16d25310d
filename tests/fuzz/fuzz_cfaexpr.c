/*
 * libFuzzer target for lib/cfaexpr: a CFA expression, as a stranger's .eh_frame can make
 * libdw hand it over, evaluated at an address. Input: the address (8 bytes, little-endian),
 * then operations of 17 bytes each (the opcode, then its two operands, 8 bytes each), at
 * most 64. A result must be the same for the same input, and an expression of one
 * DW_OP_breg7 must come back as its operand.
 */
#include <dwarf.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfaexpr.h"

#define MAX_OPS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	Dwarf_Op ops[MAX_OPS];
	uint64_t pc = 0;
	int64_t off = 0, again = 0;
	size_t n = 0;
	int r;

	if (size < 8)
		return 0;
	memcpy(&pc, data, 8);
	for (size_t at = 8; at + 17 <= size && n < MAX_OPS; at += 17, n++) {
		memset(&ops[n], 0, sizeof(ops[n]));
		ops[n].atom = data[at];
		memcpy(&ops[n].number, data + at + 1, 8);
		memcpy(&ops[n].number2, data + at + 9, 8);
	}
	r = ls_cfa_expr_sp(n ? ops : NULL, n, pc, &off);
	if (r != ls_cfa_expr_sp(n ? ops : NULL, n, pc, &again) || (r && off != again))
		abort();
	if (n == 1 && ops[0].atom == DW_OP_breg7 && (!r || off != (int64_t)ops[0].number))
		abort();
	return 0;
}
