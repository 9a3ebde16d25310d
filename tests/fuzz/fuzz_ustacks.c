/*
 * libFuzzer target for the user-stack records the BPF sampler sends in
 * --call-graph dwarf mode: lib/ustacks (record checks, interning, counting)
 * and lib/dwunwind (libdwfl unwinding of the copied stack with the registers
 * of the record). Input: records, each after its 16-bit little-endian size.
 *
 * The unwinder looks at the record's process. So as not to look at other
 * processes of the machine, a record's pid is rewritten: 0 is this process
 * (the unwinder then walks real CFI with whatever registers and stack bytes
 * the record holds), anything else a pid that does not exist.
 *
 * A record whose instruction pointer is below 64 is in fuzz_fp_frame, a
 * function of this target with known CFI (the frame address is rbp + 16 past
 * its prologue, 4 bytes in): such records unwind alike in every run, whatever
 * the address layout, as regression inputs must.
 *
 * Seed: with LS_FUZZ_USTACK_SEED set to a file name, the target first writes
 * a real sample of its own thread there (registers and top of stack, as the
 * sampler takes them) before the corpus is read, so that it unwinds in the
 * very process that fuzzes it.
 */
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/types.h>
#include "latscope.h"
#include "session.h"
#include "ustacks.h"
#include "../unit/selfstack.h"

#define NOPROC_PID 0x7ffffff0 /* above any pid_max */
#define SEED_STACK 16384

static union {
	struct ls_ustack r;
	uint8_t b[sizeof(struct ls_ustack) + LS_USTACK_MAX];
} rec;

static uint64_t seed_regs[LS_UREGS];

void fuzz_fp_frame(void);
__asm__(".text\n"
	".globl fuzz_fp_frame\n"
	".type fuzz_fp_frame, @function\n"
	"fuzz_fp_frame:\n"
	".cfi_startproc\n"
	"push %rbp\n"
	".cfi_def_cfa_offset 16\n"
	".cfi_offset %rbp, -16\n"
	"mov %rsp, %rbp\n"
	".cfi_def_cfa_register %rbp\n"
	"nop\n"
	"pop %rbp\n"
	".cfi_def_cfa %rsp, 8\n"
	"ret\n"
	".cfi_endproc\n"
	".size fuzz_fp_frame, .-fuzz_fp_frame\n");

/* Registers in DWARF order, read in one asm statement so that rip and rsp agree (as tests/unit/test_dwunwind). */
static __attribute__((noinline)) void capture(void)
{
	SELFSTACK_REGS(seed_regs);
}

/* One record after its 16-bit size. */
static void put_record(FILE *f, const struct ls_ustack *r, const uint8_t *stack)
{
	uint16_t len = (uint16_t)(sizeof(*r) + r->size);

	if (fwrite(&len, 2, 1, f) != 1 || fwrite(r, sizeof(*r), 1, f) != 1 || fwrite(stack, 1, r->size, f) != r->size)
		exit(2);
}

/*
 * A sample of this thread, here, as the sampler takes one: twice (the same
 * stack, counted twice), with only 64 bytes of its stack (a short copy), as
 * if taken one call deeper in fuzz_fp_frame, and as from a process that does
 * not exist.
 */
static void write_seed(const char *path)
{
	static uint8_t stack[16 + SEED_STACK];
	struct ls_ustack r = { .type = LS_REC_USTACK, .phase = 1, .pid = 0, .tid = 1, .kstack = -1, .ts_ns = 1,
			       .flags = LS_US_SLOW_FIRST, .age_ns = 5000000 };
	FILE *f;

	capture();
	memcpy(r.regs, seed_regs, sizeof(r.regs));
	r.size = (__u32)copy_stack(seed_regs[LS_UREG_SP], stack + 16, SEED_STACK);
	f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(2);
	}
	put_record(f, &r, stack + 16);
	r.flags = 0;
	put_record(f, &r, stack + 16);
	/* Called from here: the frame's saved rbp and return address below the stack, rbp pointing at them. */
	memcpy(stack, &seed_regs[6], 8);
	memcpy(stack + 8, &seed_regs[LS_UREG_IP], 8);
	r.regs[LS_UREG_SP] = r.regs[6] = seed_regs[LS_UREG_SP] - 16;
	r.regs[LS_UREG_IP] = 4;
	r.size += 16;
	put_record(f, &r, stack);
	memcpy(r.regs, seed_regs, sizeof(r.regs));
	r.size = 64;
	put_record(f, &r, stack + 16);
	r.pid = 7;
	put_record(f, &r, stack + 16);
	if (fclose(f)) {
		perror(path);
		exit(2);
	}
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *seed = getenv("LS_FUZZ_USTACK_SEED");

	(void)argc;
	(void)argv;
	if (seed)
		write_seed(seed);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ls_ustore *st = ls_ustore_new();
	struct ls_stack_sample *v = NULL;
	struct ls_unwind_stats stats;
	size_t off = 0, n = 0;

	if (!st)
		return 0;
	while (off + 2 <= size) {
		struct ls_slow_stack slow;
		uint16_t len;
		int ret;

		memcpy(&len, data + off, 2);
		off += 2;
		if (len > size - off)
			len = (uint16_t)(size - off);
		memcpy(rec.b, data + off, len);
		off += len;
		if (len >= offsetof(struct ls_ustack, tid))
			rec.r.pid = rec.r.pid ? NOPROC_PID : (__u32)getpid();
		if (len >= offsetof(struct ls_ustack, size) && rec.r.regs[LS_UREG_IP] < 64)
			rec.r.regs[LS_UREG_IP] += (uintptr_t)fuzz_fp_frame;
		ret = ls_ustore_add(st, rec.b, len, &slow);
		if (ret == 1 && (slow.type != LS_REC_SLOW_STACK || slow.ustack < LS_USTACK_ID_BASE))
			abort();
	}
	/* Every counted sample's stack can be read back. */
	if (ls_ustore_samples(st, &v, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			uint64_t ips[LS_STACK_DEPTH];
			size_t k;

			if (ls_ustore_stack(st, v[i].key.ustack, ips, LS_STACK_DEPTH, &k) || !k)
				abort();
		}
	}
	free(v);
	ls_ustore_stats(st, &stats);
	if (stats.samples != stats.complete + stats.truncated + stats.maxdepth + stats.noproc)
		abort();
	ls_ustore_free(st);
	return 0;
}
