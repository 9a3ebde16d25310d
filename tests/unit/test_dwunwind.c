/*
 * DWARF unwinding of a copied stack, on this very process: a known call chain
 * compiled without frame pointers captures its registers and the top of its
 * stack the way the sampler does, and lib/dwunwind must walk it back through
 * every caller to _start; lib/ustacks must aggregate repeated stacks.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <linux/types.h>
#include "latscope.h"
#include "dwunwind.h"
#include "symbolizer.h"
#include "ustacks.h"
#include "util.h"
#include "check.h"
#include "selfstack.h"



#define NOFP __attribute__((noinline, optimize("omit-frame-pointer")))

static uint64_t regs[LS_UREGS];
static uint8_t stack[LS_USTACK_DEF];
static size_t stack_size;

/* Registers in DWARF order, read in one asm statement so rip and rsp agree. */
static NOFP void capture(void)
{
	SELFSTACK_REGS(regs);
	stack_size = copy_stack(regs[LS_UREG_SP], stack, sizeof(stack));
	__asm__ volatile("");
}

/* Local arrays give each frame a size of its own, so a wrong CFA shows. */
NOFP void chain_c(int n) { volatile char pad[40]; pad[0] = (char)n; capture(); __asm__ volatile("" : : "r"(pad)); }
NOFP void chain_b(int n) { volatile char pad[200]; pad[0] = (char)n; chain_c(n + 1); __asm__ volatile("" : : "r"(pad)); }
NOFP void chain_a(int n) { volatile char pad[24]; pad[0] = (char)n; chain_b(n + 1); __asm__ volatile("" : : "r"(pad)); }

int main(void)
{
	static const char *const want[] = { "capture", "chain_c", "chain_b", "chain_a", "main" };
	struct ls_dwunwind *u = ls_dwunwind_new();
	struct ls_symbolizer *ps = NULL;
	struct ls_sym_result *r = NULL;
	const struct ls_sym_src src = { .kind = LS_SYM_SRC_PROCESS, .pid = getpid() };
	const char *fr[LS_STACK_DEPTH] = { 0 };
	struct ls_ustore *st = ls_ustore_new();
	uint64_t ips[LS_STACK_DEPTH], got_ips[LS_STACK_DEPTH];
	char err[LS_ERR_LEN];
	size_t n = 0, m = 0, k, i;
	enum ls_unwind_end end;
	int match = 1, has_start = 0;

	if (!u || ls_symbolizer_new(NULL, &ps) || !st) {
		printf("not ok - setup\n");
		return 1;
	}
	chain_a(0);
	CHECK(stack_size >= 256, "copied %zu bytes of this thread's stack", stack_size);
	end = ls_dwunwind_stack(u, getpid(), gettid(), regs, stack, stack_size, ips, LS_STACK_DEPTH, &n, err);
	CHECK(end == LS_UNWIND_COMPLETE, "the unwind reached the outermost frame (end %d: %s)", (int)end, err);
	if (ls_symbolize(ps, &src, ips, n, LS_SYM_ADDR_STACK, &r) == 0)
		for (i = 0; i < r->n; i++)
			fr[i] = r->syms[i].func;
	for (i = 0; i < n; i++)
		printf("  #%zu 0x%llx %s\n", i, (unsigned long long)ips[i], fr[i] ? fr[i] : "?");
	for (i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		match &= i < n && fr[i] && !strcmp(fr[i], want[i]);
	CHECK(match, "frames 0-4 are capture, chain_c, chain_b, chain_a, main (no frame pointers in the chain)");
	for (i = 0; i < n; i++)
		has_start |= fr[i] && !strcmp(fr[i], "_start");
	CHECK(has_start && n >= 7, "it goes on through libc to _start (%zu frames)", n);

	/* A copy cut short ends the walk early, and says so. */
	end = ls_dwunwind_stack(u, getpid(), gettid(), regs, stack, 64, ips, LS_STACK_DEPTH, &m, err);
	CHECK(end == LS_UNWIND_TRUNCATED && m >= 1 && m < n, "a 64-byte copy stops early: %zu frames, end %d, \"%s\"", m, (int)end, err);

	/* Cut at the caller's limit. */
	end = ls_dwunwind_stack(u, getpid(), gettid(), regs, stack, stack_size, ips, 3, &m, err);
	CHECK(end == LS_UNWIND_MAXDEPTH && m == 3, "asked for 3 frames: 3, flagged as cut");

	/* Aggregation: the same stack and tags twice is one entry of 2; another phase is another entry. */
	{
		struct ls_sample_key a = { .pid = 7, .kstack = -1, .phase = 1 }, b = a, c = a;
		struct ls_stack_sample *v = NULL;
		size_t nv = 0;
		uint64_t two = 0;

		c.phase = 2;
		ls_ustore_count(st, &a, ips, 3, 1);
		ls_ustore_count(st, &b, ips, 3, 1);
		ls_ustore_count(st, &c, ips, 3, 1);
		CHECK(a.ustack == b.ustack && a.ustack == c.ustack && a.ustack >= LS_USTACK_ID_BASE,
		      "one interned id for one stack (%d)", a.ustack);
		ls_ustore_samples(st, &v, &nv);
		for (i = 0; i < nv; i++)
			if (v[i].key.phase == 1)
				two = v[i].value;
		CHECK(nv == 2 && two == 2, "two aggregated entries, the repeated one counted twice (%zu entries)", nv);
		k = 0;
		CHECK(!ls_ustore_stack(st, a.ustack, got_ips, LS_STACK_DEPTH, &k) && k == 3 && !memcmp(got_ips, ips, 3 * 8),
		      "the interned stack reads back as stored");
		CHECK(ls_ustore_stack(st, a.ustack + 1, got_ips, LS_STACK_DEPTH, &k) == -ENOENT, "an unknown id is -ENOENT");
		free(v);
	}
	ls_ustore_free(st);
	ls_sym_result_free(r);
	ls_symbolizer_free(ps);
	ls_dwunwind_free(u);
	return failures ? 1 : 0;
}
