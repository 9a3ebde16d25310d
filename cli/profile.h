/*
 * A profile as folded stacks: aggregated samples (kernel frame-pointer
 * stacks or user-space unwound ones) symbolized, folded root first, merged,
 * and written as collapsed lines or an SVG flame graph; optionally also added
 * to a pprof profile as they are folded. The one implementation `record`,
 * the top view's flame graph and the post-processing benchmark all run.
 */
#ifndef LS_PROFILE_H
#define LS_PROFILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "session.h"

struct ls_symbolizer;
struct ls_pprof;

struct profile_line {
	char *stack;    /* "root;...;leaf", kernel frames suffixed "_[k]" */
	uint64_t value;
};

struct profile {
	struct profile_line *v;
	size_t n, cap;
};

struct profile_opts {
	int only_slow;          /* keep samples taken while a request was over the threshold */
	int by_phase;           /* root each stack at its request phase */
	struct ls_pprof *pp;    /* also add every sample here (NULL: folded lines only) */
	uint64_t period_ns;     /* with pp: CPU time one on-CPU sample stands for */
};

/* Where a sample's stack ids are resolved to addresses (innermost first); 0 or -errno. */
typedef int (*profile_stack_fn)(void *ctx, int32_t id, uint64_t *ips, size_t max, size_t *n);

/*
 * Fold n aggregated samples into p (off-CPU ones weighted in microseconds),
 * symbolized through sym: inlined calls are frames of their own, unresolved
 * addresses "[unknown in OBJECT]". Adds their weight to *total. 0 or -ENOMEM;
 * the lines folded before a failure stay in p.
 */
int profile_add(struct profile *p, const struct ls_stack_sample *v, size_t n, int offcpu, profile_stack_fn stack,
		void *ctx, struct ls_symbolizer *sym, const struct profile_opts *o, uint64_t *total);

/* Append one line; p takes stack (malloc'ed) over, also on failure. 0 or -ENOMEM. */
int profile_add_line(struct profile *p, char *stack, uint64_t value);

/* Sort by stack and merge identical lines; returns the line count. */
size_t profile_merge(struct profile *p);

int profile_write_folded(FILE *f, const struct profile *p);
int profile_write_svg(FILE *f, const struct profile *p, const char *title, const char *subtitle, const char *unit);

/* Free the lines; p is empty again. */
void profile_clear(struct profile *p);

#endif
