/*
 * A CFA rule given as a DWARF expression (DW_CFA_def_cfa_expression), evaluated at one
 * address where it comes to the stack pointer plus a constant: the rule of PLT stubs.
 */
#ifndef LS_CFAEXPR_H
#define LS_CFAEXPR_H

#include <stddef.h>
#include <stdint.h>

#include <elfutils/libdw.h>

/*
 * ops as libdw gives them (dwarf_frame_cfa()), pc the address the rule is read at (the
 * return-address register, 16, reads as pc). 1 with the constant in *off when the
 * expression is sp + *off, 0 for anything else (another register, sp scaled, an operation
 * it does not know, a malformed stack). Any ops are safe: a stranger's file gives them.
 */
int ls_cfa_expr_sp(const Dwarf_Op *ops, size_t nops, uint64_t pc, int64_t *off);

#endif
