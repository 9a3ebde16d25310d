/*
 * Per-request stacks (trace --stacks): the CPU samples and off-CPU intervals
 * the kernel sends one by one are kept for a while, and a finished request
 * takes those of the thread (or goroutine) that served it while it was in
 * flight. Bounded: the newest LS_RSTACKS_KEEP samples and intervals; a
 * request older than what is kept says so (truncated).
 */
#ifndef LS_REQSTACKS_H
#define LS_REQSTACKS_H

#include <stddef.h>
#include <stdint.h>

#include <linux/types.h>
#include "latscope.h"
#include "session.h"

#define LS_RSTACKS_KEEP   65536 /* samples, and off-CPU intervals, kept (each) */
#define LS_RSTACKS_REQS   4096  /* finished requests kept to tell whether a thread served several at once */
#define LS_RSTACKS_FLOOR  50000 /* ns: shorter off-CPU intervals are summed, not listed */
#define LS_RSTACKS_SKEW   50000 /* ns: back-to-back requests on one thread may overlap this much */
#define LS_SAGG_MAX       262144 /* keys of an aggregate; a new key past them is counted, not kept */

struct ls_rstacks;

/* What one request's thread (or goroutine) did while the request was in flight. */
struct ls_req_stacks {
	struct ls_stack_sample *on;  /* value: samples; one entry per distinct (ustack, kstack) */
	size_t non;
	struct ls_stack_sample *off; /* value: ns blocked inside the request, up to the wake-up (intervals >= the floor) */
	size_t noff;
	uint64_t on_samples;         /* sum of on[].value */
	uint64_t off_ns;             /* off CPU inside the request: blocked and waiting for a CPU, all intervals */
	uint64_t off_blocks;         /* intervals listed in off[] */
	uint64_t short_ns, short_blocks; /* intervals under the floor, summed */
	uint64_t preempted_ns;       /* of off_ns: runnable, waiting for a CPU (preempted, or woken and not yet run) */
	uint32_t tid;                /* the thread whose samples these are (0 with goroutine) */
	uint64_t g;                  /* the goroutine whose samples these are (0: by thread) */
	int shared;                  /* the thread worked on other requests meanwhile */
	int truncated;               /* the request began before the oldest sample kept */
};

int ls_rstacks_new(struct ls_rstacks **out);
void ls_rstacks_free(struct ls_rstacks *r);

/* Keep an LS_REC_SAMPLE or LS_REC_OFFCPU record. 1 if it was one, 0 if not, -EINVAL if too short. */
int ls_rstacks_add(struct ls_rstacks *r, const void *rec, size_t size);

/*
 * The stacks of a finished request: those of the thread or goroutine that
 * served it, and whether that one finished other requests that overlapped
 * this one (see ls_rstacks_note). Fills *out; free it with
 * ls_req_stacks_clear. 0 or -ENOMEM.
 */
int ls_rstacks_of(struct ls_rstacks *r, const struct ls_request *q, struct ls_req_stacks *out);

/* Remember a finished request (every one, slow or not, after ls_rstacks_of) for the sharing of later ones. */
void ls_rstacks_note(struct ls_rstacks *r, const struct ls_request *q);

/*
 * Give a finished request the samples and off-CPU time of its worker inside its time that
 * no request claimed before: fn(ctx, key, offcpu, value) for each (value: 1 sample, or the
 * ns of an interval inside the request). A sample an event loop took while serving several
 * slow requests goes to the first that finishes. 0, or fn's non-zero return.
 */
typedef int (*ls_rstacks_claim_fn)(void *ctx, const struct ls_sample_key *k, int offcpu, uint64_t value);
int ls_rstacks_claim(struct ls_rstacks *r, const struct ls_request *q, ls_rstacks_claim_fn fn, void *ctx);

/*
 * An aggregate of samples (or off-CPU ns) by key, in user space: what the kernel's maps
 * hold when it aggregates. Grows as needed.
 */
struct ls_sagg;
int ls_sagg_new(struct ls_sagg **out);
void ls_sagg_free(struct ls_sagg *a);
/* Add v (negative: take away) to key k's value; a new key past LS_SAGG_MAX is counted lost. 0 or -ENOMEM. */
int ls_sagg_add(struct ls_sagg *a, const struct ls_sample_key *k, int64_t v);
/* Values not kept: their key would have been past LS_SAGG_MAX. */
uint64_t ls_sagg_lost(const struct ls_sagg *a);
/* The non-zero entries, appended to *out (malloc'ed, *n entries). 0 or -ENOMEM. */
int ls_sagg_list(const struct ls_sagg *a, struct ls_stack_sample **out, size_t *n);
void ls_req_stacks_clear(struct ls_req_stacks *s);

#endif
