#include "gofunc.h"
#include "util.h"

#include <capstone/capstone.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

int ls_go_func(const struct ls_elf *e, uint64_t vaddr, uint64_t size, struct ls_go_func *out, char *err)
{
	const uint8_t *code;
	cs_insn *insn = NULL;
	csh h;
	size_t n;
	int ret = 0, seen_check = 0;

	memset(out, 0, sizeof(*out));
	out->entry = vaddr;
	if (!size || size > (1 << 20))
		return ls_err(err, EINVAL, "function at 0x%llx has no usable size", (unsigned long long)vaddr);
	code = ls_elf_code(e, vaddr, size);
	if (!code)
		return ls_err(err, ENOENT, "function at 0x%llx is outside the file's code", (unsigned long long)vaddr);
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK)
		return ls_err(err, ENOMEM, "capstone: cannot open an x86-64 disassembler");
	n = cs_disasm(h, code, size, vaddr, 0, &insn);
	if (!n) {
		ret = ls_err(err, EINVAL, "function at 0x%llx: cannot disassemble", (unsigned long long)vaddr);
		goto cleanup;
	}
	for (size_t i = 0; i < n; i++) {
		const cs_insn *in = &insn[i];

		/*
		 * The prologue compares SP with the goroutine's stack guard and
		 * branches to morestack, which re-enters the function from the top.
		 * The first push after that branch is past the check, and push is
		 * emulated by the kernel rather than single-stepped.
		 */
		if (i < 6 && !out->after_check) {
			if (in->id == X86_INS_CMP && strstr(in->op_str, "r14"))
				seen_check = 1;
			else if (seen_check && in->id == X86_INS_PUSH && !strcmp(in->op_str, "rbp")) {
				out->entry = in->address;
				out->after_check = 1;
			} else if (seen_check == 1 && (in->id == X86_INS_JBE || in->id == X86_INS_JB)) {
				/*
				 * Without a push (Go 1.17+ saves rbp with a mov), the
				 * stack check's branch is the cheapest place: the kernel
				 * emulates a conditional jump, while the cmp before it
				 * (and the sub after it) are single-stepped, ~20x the
				 * cost. It fires again when morestack restarts the
				 * function; go_enter drops that repeat.
				 */
				out->entry = in->address;
				out->on_branch = 1;
				seen_check = 2;
			}
		}
		if (in->id == X86_INS_RET) {
			if (out->nrets == LS_GO_MAX_RETS) {
				ret = ls_err(err, E2BIG, "function at 0x%llx has more than %d RET instructions",
					     (unsigned long long)vaddr, LS_GO_MAX_RETS);
				goto cleanup;
			}
			out->rets[out->nrets++] = in->address;
		}
	}
	if (!out->nrets)
		ret = ls_err(err, ENOENT, "function at 0x%llx: no RET found", (unsigned long long)vaddr);
cleanup:
	if (insn)
		cs_free(insn, n);
	cs_close(&h);
	return ret;
}

int ls_go_version(const struct ls_elf *e, char *buf, size_t len)
{
	return ls_elf_go_version(e, buf, len);
}
