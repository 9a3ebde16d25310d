/* Copying this process's own stack, as the BPF side copies a target's (test_dwunwind, fuzz_ustacks). */
#ifndef LS_TEST_SELFSTACK_H
#define LS_TEST_SELFSTACK_H

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <unistd.h>

/* The stack from sp up, page by page through /proc/self/mem, to where its mapping ends. */
static size_t copy_stack(uint64_t sp, uint8_t *out, size_t want)
{
	int fd = open("/proc/self/mem", O_RDONLY);
	size_t got = 0;

	while (fd >= 0 && got < want) {
		size_t chunk = 4096 - ((sp + got) & 4095);
		ssize_t r;

		if (chunk > want - got)
			chunk = want - got;
		r = pread(fd, out + got, chunk, (off_t)(sp + got));
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	if (fd >= 0)
		close(fd);
	return got;
}

/*
 * Registers in DWARF order into r (uint64_t[17]), in one asm statement so that rip and
 * rsp agree: used inside the function whose frame is to be unwound.
 */
#define SELFSTACK_REGS(r)                                                                        \
	__asm__ volatile("mov %%rax, 0(%0)\n\tmov %%rdx, 8(%0)\n\tmov %%rcx, 16(%0)\n\tmov %%rbx, 24(%0)\n\t"    \
			 "mov %%rsi, 32(%0)\n\tmov %%rdi, 40(%0)\n\tmov %%rbp, 48(%0)\n\tmov %%rsp, 56(%0)\n\t"   \
			 "mov %%r8, 64(%0)\n\tmov %%r9, 72(%0)\n\tmov %%r10, 80(%0)\n\tmov %%r11, 88(%0)\n\t"    \
			 "mov %%r12, 96(%0)\n\tmov %%r13, 104(%0)\n\tmov %%r14, 112(%0)\n\tmov %%r15, 120(%0)\n\t" \
			 "lea 0(%%rip), %%rax\n\tmov %%rax, 128(%0)\n\t"                                        \
			 :                                                                              \
			 : "r"(r)                                                                       \
			 : "rax", "memory")

#endif
