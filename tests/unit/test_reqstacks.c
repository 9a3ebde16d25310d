/*
 * Per-request stacks (lib/reqstacks.c) on records as the kernel sends them: an event loop
 * thread serving two requests that overlap, a thread serving one at a time with the
 * back-to-back skew, a goroutine whose thread changes, blocks straddling a request's edges
 * and blocks under the floor, and samples claimed once for the aggregate.
 */
#include "reqstacks.h"
#include "check.h"

#include <stdlib.h>
#include <string.h>

#define MS 1000000ull
#define US 1000ull
#define PID 100

static void sample(struct ls_rstacks *r, uint32_t tid, uint64_t g, uint64_t ts, int32_t ustack)
{
	struct ls_sample_rec e = { .type = LS_REC_SAMPLE, .pid = PID, .tid = tid, .ustack = ustack, .kstack = -1,
				   .ts_ns = ts, .g = g, .phase = LS_PH_APP };

	ls_rstacks_add(r, &e, sizeof(e));
}

static void block_woken(struct ls_rstacks *r, uint32_t tid, uint64_t g, uint64_t a, uint64_t b, int32_t ustack,
			int preempted, uint64_t wake)
{
	struct ls_offcpu_rec e = { .type = LS_REC_OFFCPU, .pid = PID, .tid = tid, .ustack = ustack, .kstack = 7,
				   .start_ns = a, .end_ns = b, .g = g, .flags = preempted ? LS_OFF_PREEMPTED : 0,
				   .wake_ns = wake };

	ls_rstacks_add(r, &e, sizeof(e));
}

static void block(struct ls_rstacks *r, uint32_t tid, uint64_t g, uint64_t a, uint64_t b, int32_t ustack, int preempted)
{
	struct ls_offcpu_rec e = { .type = LS_REC_OFFCPU, .pid = PID, .tid = tid, .ustack = ustack, .kstack = 7,
				   .start_ns = a, .end_ns = b, .g = g, .flags = preempted ? LS_OFF_PREEMPTED : 0 };

	ls_rstacks_add(r, &e, sizeof(e));
}

static struct ls_request req(uint32_t tid, uint32_t serve_tid, uint64_t g, uint64_t start, uint64_t total)
{
	struct ls_request q = { .type = LS_REC_REQUEST, .pid = PID, .tid = tid, .serve_tid = serve_tid, .serve_g = g,
				.start_ns = start, .total_ns = total, .shared = 1, .flags = LS_RQ_SLOW };

	return q;
}

static uint64_t value_of(const struct ls_stack_sample *v, size_t n, int32_t ustack)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].key.ustack == ustack)
			return v[i].value;
	return 0;
}

struct claimed {
	uint64_t on, off;
};

static int count_claim(void *ctx, const struct ls_sample_key *k, int offcpu, uint64_t value)
{
	struct claimed *c = ctx;

	(void)k;
	if (offcpu)
		c->off += value;
	else
		c->on += value;
	return 0;
}

static void thread_model(void)
{
	struct ls_rstacks *r;
	struct ls_req_stacks st;
	struct ls_request a, b;
	struct claimed c = { 0 };

	if (ls_rstacks_new(&r))
		abort();
	/* Request a on thread 10 from 100 ms to 120 ms: 15 samples in stack 1, 2 in stack 2. */
	for (int i = 0; i < 15; i++)
		sample(r, 10, 0, 100 * MS + (uint64_t)i * MS, 1);
	sample(r, 10, 0, 116 * MS, 2);
	sample(r, 10, 0, 117 * MS, 2);
	/* Another thread's samples in the same time, and thread 10's just outside it. */
	sample(r, 11, 0, 105 * MS, 3);
	sample(r, 10, 0, 99 * MS, 4);
	sample(r, 10, 0, 121 * MS, 4);
	/* A 4 ms block straddling the start (only 2 ms inside), a 3 ms preemption, a 4 ms block
	 * woken 1 ms before it ran again, and three under the floor. */
	block(r, 10, 0, 98 * MS, 102 * MS, 5, 0);
	block(r, 10, 0, 110 * MS, 113 * MS, 6, 1);
	block_woken(r, 10, 0, 104 * MS, 108 * MS, 9, 0, 107 * MS);
	for (int i = 0; i < 3; i++)
		block(r, 10, 0, 114 * MS + (uint64_t)i * 100 * US, 114 * MS + (uint64_t)i * 100 * US + 20 * US, 8, 0);

	a = req(10, 10, 0, 100 * MS, 20 * MS);
	CHECK(ls_rstacks_of(r, &a, &st) == 0, "stacks of a request found");
	CHECK(st.tid == 10 && st.g == 0, "by its thread (%u)", st.tid);
	CHECK(st.on_samples == 17 && st.non == 2 && st.on[0].key.ustack == 1 && st.on[0].value == 15,
	      "its 17 samples, heaviest stack first (%llu, %zu stacks)", (unsigned long long)st.on_samples, st.non);
	CHECK(value_of(st.off, st.noff, 5) == 2 * MS && value_of(st.off, st.noff, 9) == 3 * MS && st.off_blocks == 2,
	      "blocks clipped to the request and to their wake-up (%llu, %llu ns)",
	      (unsigned long long)value_of(st.off, st.noff, 5), (unsigned long long)value_of(st.off, st.noff, 9));
	CHECK(value_of(st.off, st.noff, 6) == 0, "a preemption is no block (%llu ns)",
	      (unsigned long long)value_of(st.off, st.noff, 6));
	CHECK(st.off_ns == 9 * MS + 60 * US, "all the time off CPU (%llu ns)", (unsigned long long)st.off_ns);
	CHECK(st.short_blocks == 3 && st.short_ns == 60 * US, "blocks under the floor summed (%llu, %llu ns)",
	      (unsigned long long)st.short_blocks, (unsigned long long)st.short_ns);
	CHECK(st.preempted_ns == 4 * MS, "runnable: the preemption and the wait after a wake-up (%llu ns)",
	      (unsigned long long)st.preempted_ns);
	CHECK(!st.shared && !st.truncated, "alone on its thread, nothing lost");
	ls_req_stacks_clear(&st);
	ls_rstacks_note(r, &a);

	/* b started 20 us before a ended (the back-to-back skew): not shared. */
	b = req(10, 10, 0, 120 * MS - 20 * US, 5 * MS);
	ls_rstacks_of(r, &b, &st);
	CHECK(!st.shared, "back to back on one thread: not shared");
	ls_req_stacks_clear(&st);
	/* b overlapping most of a: an event loop at work on both. */
	b = req(10, 10, 0, 104 * MS, 14 * MS);
	ls_rstacks_of(r, &b, &st);
	CHECK(st.shared, "overlapping another request of its thread: shared");
	ls_req_stacks_clear(&st);
	/* One read carried several streams of it. */
	b = req(10, 10, 0, 200 * MS, 5 * MS);
	b.shared = 3;
	ls_rstacks_of(r, &b, &st);
	CHECK(st.shared, "its read carried other streams: shared");
	ls_req_stacks_clear(&st);

	/* Claimed once: a second request over the same time gets nothing more. */
	ls_rstacks_claim(r, &a, count_claim, &c);
	CHECK(c.on == 17 && c.off == 9 * MS + 60 * US, "claim: a's samples and off-CPU ns (%llu, %llu)",
	      (unsigned long long)c.on, (unsigned long long)c.off);
	memset(&c, 0, sizeof(c));
	b = req(10, 10, 0, 104 * MS, 14 * MS);
	ls_rstacks_claim(r, &b, count_claim, &c);
	CHECK(c.on == 0 && c.off == 0, "claim: nothing twice (%llu, %llu)", (unsigned long long)c.on,
	      (unsigned long long)c.off);
	ls_rstacks_free(r);
}

static void goroutine_model(void)
{
	struct ls_rstacks *r;
	struct ls_req_stacks st;
	struct ls_request q;
	uint64_t g = 0xc000123400;

	if (ls_rstacks_new(&r))
		abort();
	/* The goroutine runs on thread 20, then 21; thread 20 later runs another goroutine. */
	for (int i = 0; i < 5; i++)
		sample(r, 20, g, 10 * MS + (uint64_t)i * MS, 1);
	for (int i = 5; i < 10; i++)
		sample(r, 21, g, 10 * MS + (uint64_t)i * MS, 1);
	sample(r, 20, g + 0x100, 16 * MS, 2);
	block(r, 21, g, 20 * MS, 40 * MS, 3, 0);
	/* Its request finished on the writer goroutine's thread 22. */
	q = req(22, 0, g, 10 * MS, 31 * MS);
	ls_rstacks_of(r, &q, &st);
	CHECK(st.g == g && st.on_samples == 10 && st.non == 1, "by goroutine across threads (%llu samples)",
	      (unsigned long long)st.on_samples);
	CHECK(value_of(st.off, st.noff, 3) == 20 * MS, "its block (%llu ns)", (unsigned long long)value_of(st.off, st.noff, 3));
	CHECK(!st.shared, "a goroutine serves one stream");
	ls_req_stacks_clear(&st);
	ls_rstacks_free(r);
}

static void aggregate(void)
{
	struct ls_sagg *a;
	struct ls_stack_sample *v = NULL;
	size_t n = 0;
	struct ls_sample_key k = { .pid = PID, .ustack = 1, .kstack = -1 }, slow = k;

	slow.slow = 1;
	if (ls_sagg_new(&a))
		abort();
	/* Enough keys to grow the table a few times. */
	for (int i = 0; i < 5000; i++) {
		struct ls_sample_key x = k;

		x.ustack = 1000 + i;
		ls_sagg_add(a, &x, 2);
	}
	ls_sagg_add(a, &k, 10);
	ls_sagg_add(a, &k, -4);
	ls_sagg_add(a, &slow, 4);
	ls_sagg_list(a, &v, &n);
	CHECK(n == 5002, "every non-zero key listed (%zu)", n);
	for (size_t i = 0; i < n; i++) {
		if (v[i].key.ustack == 1)
			CHECK(v[i].value == (v[i].key.slow ? 4u : 6u), "moved to the slow side: %s %llu",
			      v[i].key.slow ? "slow" : "other", (unsigned long long)v[i].value);
	}
	free(v);
	ls_sagg_free(a);
}

int main(void)
{
	thread_model();
	goroutine_model();
	aggregate();
	return failures ? 1 : 0;
}
