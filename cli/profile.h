/*
 * A profile as folded stacks: aggregated samples (kernel frame-pointer
 * stacks or user-space unwound ones) symbolized, folded root first, merged,
 * and written as collapsed lines or an SVG flame graph. What `record` and
 * the post-processing benchmark share.
 */
#ifndef LS_PROFILE_H
#define LS_PROFILE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "procsym.h"
#include "session.h"

struct profile_line {
	char *stack;    /* "root;...;leaf", kernel frames suffixed "_[k]" */
	uint64_t value;
};

struct profile {
	struct profile_line *v;
	size_t n, cap;
};

struct profile_opts {
	int only_slow;  /* keep samples taken while a request was over the threshold */
	int by_phase;   /* root each stack at its request phase */
};

/* Where a sample's stack ids are resolved to addresses (innermost first); 0 or -errno. */
typedef int (*profile_stack_fn)(void *ctx, int32_t id, uint64_t *ips, size_t max, size_t *n);

/* Fold n aggregated samples into p (off-CPU ones weighted in microseconds); adds their weight to *total. 0 or -ENOMEM. */
int profile_add(struct profile *p, const struct ls_stack_sample *v, size_t n, int offcpu, profile_stack_fn stack,
		void *ctx, struct procsym *ps, const struct profile_opts *o, uint64_t *total);

/* Sort by stack and merge identical lines; returns the line count. */
size_t profile_merge(struct profile *p);

int profile_write_folded(FILE *f, const struct profile *p);
int profile_write_svg(FILE *f, const struct profile *p, const char *title, const char *subtitle, const char *unit);

/* Free the lines; p is empty again. */
void profile_clear(struct profile *p);

#endif
