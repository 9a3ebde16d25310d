/*
 * The user-space side of --call-graph dwarf: each sample record is unwound
 * (lib/dwunwind) and aggregated by its stacks, phase and slow flag, the way
 * the kernel aggregates frame-pointer samples, so a profile reads the same
 * either way. Unwound stacks are interned and get ids at or above
 * LS_USTACK_ID_BASE, apart from the kernel's stack-map ids. Not thread-safe.
 */
#ifndef LS_USTACKS_H
#define LS_USTACKS_H

#include <stddef.h>
#include <stdint.h>

#include "session.h"
#include "util.h"

#define LS_USTACK_ID_BASE (1 << 30)

struct ls_ustore;

struct ls_unwind_stats {
	uint64_t samples;   /* records unwound */
	uint64_t complete;  /* reached the outermost frame */
	uint64_t truncated; /* stopped early (see last_error) */
	uint64_t maxdepth;  /* deeper than LS_STACK_DEPTH frames: cut */
	uint64_t noproc;    /* the process could not be looked at: only the sampled ip kept */
	uint64_t bad;       /* malformed records */
	char last_error[LS_ERR_LEN]; /* why the last truncated walk stopped */
	/* Frame-pointer stacks with a return address candidate (ls_ustore_fix_leaf), by aggregated entry. */
	uint64_t leaf_fixed;   /* the sampled code had no frame set up: its caller put back */
	uint64_t leaf_framed;  /* its frame was set up: the walk was right */
	uint64_t leaf_unknown; /* no CFI, another rule, or the candidate is not at the slot the CFI says */
};

/* A new store, or NULL with errno set. */
struct ls_ustore *ls_ustore_new(void);
void ls_ustore_free(struct ls_ustore *st);

/*
 * Unwind and count one LS_REC_USTACK record. Returns 1 when it is the first
 * sample of a request over the threshold (*slow then holds the stacks, as
 * the kernel sends them in frame-pointer mode), 0, or -errno.
 */
int ls_ustore_add(struct ls_ustore *st, const void *rec, size_t size, struct ls_slow_stack *slow);
/* The same, and *key is the sample's key with its unwound stack interned (key->ustack). */
int ls_ustore_add_key(struct ls_ustore *st, const void *rec, size_t size, struct ls_slow_stack *slow,
		      struct ls_sample_key *key);

/* Count one already unwound sample (ips innermost first); key->ustack is set from them. 0 or -ENOMEM. */
int ls_ustore_count(struct ls_ustore *st, struct ls_sample_key *key, const uint64_t *ips, size_t n, uint64_t value);

/*
 * A frame-pointer stack (ips, innermost first, ips[0] the sampled address)
 * with a return address candidate in key->ra: when the CFI at ips[0] says
 * the frame was not set up and puts the return address at key->ra_slot,
 * the caller the walk skipped goes back in (never twice), the result is
 * interned and key->ustack names it. key->ra and ra_slot are cleared either
 * way. 1 when a frame was put back, 0 when not, -ENOMEM.
 */
int ls_ustore_fix_leaf(struct ls_ustore *st, struct ls_sample_key *key, const uint64_t *ips, size_t n);

/* Append the aggregated samples to *v (realloc'ed; *n entries). 0 or -ENOMEM. */
int ls_ustore_samples(const struct ls_ustore *st, struct ls_stack_sample **v, size_t *n);

/* The addresses of an interned stack, innermost first. 0 or -ENOENT. */
int ls_ustore_stack(const struct ls_ustore *st, int32_t id, uint64_t *ips, size_t max, size_t *n);

void ls_ustore_stats(const struct ls_ustore *st, struct ls_unwind_stats *out);

/* Drop the unwinder's state of a process that exited. */
void ls_ustore_forget(struct ls_ustore *st, pid_t pid);

#endif
