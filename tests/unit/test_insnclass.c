/*
 * Which instructions the kernel emulates under a uprobe, which it
 * single-steps: byte sequences as compilers emit them (the first instructions
 * of Debian's SSL_read, SSL_do_handshake, nghttp2_session_mem_send, a call
 * site, its return block) against the decisions of arch/x86/kernel/uprobes.c.
 */
#include <stdio.h>
#include <string.h>

#include <linux/types.h>
#include "insnclass.h"
#include "check.h"



static const struct {
	const char *what;
	unsigned char bytes[16];
	unsigned int len;
	enum ls_insn_class cls;
	unsigned int cost;
} cases[] = {
	{ "sub $0x18,%rsp (SSL_read's first instruction)", { 0x48, 0x83, 0xec, 0x18 }, 4, LS_INSN_SSTEP, LS_COST_SSTEP_NS },
	{ "push %rbx (SSL_do_handshake)", { 0x53 }, 1, LS_INSN_EMULATED, LS_COST_PUSH_NS },
	{ "push %rbp", { 0x55 }, 1, LS_INSN_EMULATED, LS_COST_PUSH_NS },
	{ "push %r15 (nghttp2_session_mem_recv)", { 0x41, 0x57 }, 2, LS_INSN_EMULATED, LS_COST_PUSH_NS },
	{ "push %ax (operand-size prefix: not the emulated form)", { 0x66, 0x50 }, 2, LS_INSN_SSTEP, LS_COST_SSTEP_NS },
	{ "nopl 0x0(%rax,%rax,1) (nop5: the 6.18 trampoline)", { 0x0f, 0x1f, 0x44, 0x00, 0x00 }, 5, LS_INSN_TRAMPOLINE, LS_COST_TRAMPOLINE_NS },
	{ "nop", { 0x90 }, 1, LS_INSN_EMULATED, LS_COST_JUMP_NS },
	{ "xchg %eax,%r8d (0x90 with REX.B is no nop)", { 0x41, 0x90 }, 2, LS_INSN_SSTEP, LS_COST_SSTEP_NS },
	{ "call rel32 (a call site)", { 0xe8, 0x5e, 0xd5, 0xfe, 0xff }, 5, LS_INSN_EMULATED, LS_COST_CALL_NS },
	{ "callw rel16 (16-bit override: refused by the kernel)", { 0x66, 0xe8, 0x00, 0x00 }, 4, LS_INSN_SSTEP, LS_COST_SSTEP_NS },
	{ "jle rel8 (a return block's branch)", { 0x7e, 0x32 }, 2, LS_INSN_EMULATED, LS_COST_JUMP_NS },
	{ "jle rel32", { 0x0f, 0x8e, 0xb0, 0x00, 0x00, 0x00 }, 6, LS_INSN_EMULATED, LS_COST_JUMP_NS },
	{ "jmp rel8", { 0xeb, 0x10 }, 2, LS_INSN_EMULATED, LS_COST_JUMP_NS },
	{ "jmp rel32", { 0xe9, 0x10, 0x00, 0x00, 0x00 }, 5, LS_INSN_EMULATED, LS_COST_JUMP_NS },
	{ "jmp *0x1234(%rip) (a PLT stub: indirect, single-stepped)", { 0xff, 0x25, 0x34, 0x12, 0x00, 0x00 }, 6, LS_INSN_SSTEP, LS_COST_SSTEP_NS },
	{ "ret", { 0xc3 }, 1, LS_INSN_SSTEP, LS_COST_RET_NS },
	{ "endbr64", { 0xf3, 0x0f, 0x1e, 0xfa }, 4, LS_INSN_SSTEP, LS_COST_SSTEP_NS },
	{ "cltq (after a call)", { 0x48, 0x98 }, 2, LS_INSN_SSTEP, LS_COST_SSTEP_NS },
	{ "test %eax,%eax (after a call)", { 0x85, 0xc0 }, 2, LS_INSN_SSTEP, LS_COST_SSTEP_NS },
	{ "mov %fs:0x28,%rax", { 0x64, 0x48, 0x8b, 0x04, 0x25, 0x28, 0x00, 0x00, 0x00 }, 9, LS_INSN_SSTEP, LS_COST_SSTEP_NS },
};

int main(void)
{
	struct ls_insn in;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		unsigned char buf[16];
		int r;

		/* Whatever follows the instruction must not change its class. */
		memset(buf, 0xcc, sizeof(buf));
		memcpy(buf, cases[i].bytes, cases[i].len);
		r = ls_insn_classify(buf, sizeof(buf), 0x1000, NULL, &in);
		CHECK(r == 0 && in.len == cases[i].len && in.cls == cases[i].cls && in.cost_ns == cases[i].cost,
		      "%s: %s (\"%s\", %u bytes, %u ns)", cases[i].what, ls_insn_class_name(in.cls), in.text, in.len,
		      in.cost_ns);
	}
	CHECK(ls_insn_classify((const unsigned char *)"\x06", 1, 0, NULL, &in) != 0, "undecodable bytes are an error");
	return failures ? 1 : 0;
}
