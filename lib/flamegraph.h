/*
 * Self-contained interactive SVG flame graphs from folded stacks: hover for
 * name, samples and share; click to zoom into a frame, click the root (or
 * press Escape) to reset; a search box highlights matching frames and shows
 * their share. No external references. Deterministic output.
 */
#ifndef LS_FLAMEGRAPH_H
#define LS_FLAMEGRAPH_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct ls_folded {
	const char *stack;  /* "root;child;leaf", kernel frames suffixed "_[k]" */
	uint64_t value;
};

struct ls_flame_opts {
	size_t sz;          /* sizeof(struct ls_flame_opts) */
	const char *title;  /* first line: what was profiled */
	const char *subtitle; /* second line: duration, rate, drops */
	const char *unit;   /* "samples" or "us" */
	unsigned int width; /* pixels (default 1200) */
};

/*
 * Write lines (sorted by stack, identical stacks merged) as an SVG document.
 * Frames narrower than 0.1 px are left out; every drawn frame's width is
 * value/total of the image width. 0, or -errno.
 */
int ls_flamegraph_write(FILE *f, const struct ls_folded *lines, size_t n, const struct ls_flame_opts *opts);

#endif
