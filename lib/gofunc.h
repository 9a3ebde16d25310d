/*
 * Go functions, for probing without uretprobes: where the body starts after
 * the stack-growth check, and every RET. Go's runtime moves goroutine stacks
 * and checks return addresses, so a uretprobe's rewritten return address
 * crashes it; uprobes on the RET instructions see the same returns safely.
 */
#ifndef LS_GOFUNC_H
#define LS_GOFUNC_H

#include <stddef.h>
#include <stdint.h>

#include "elfsym.h"

#define LS_GO_MAX_RETS 32

struct ls_go_func {
	uint64_t entry;       /* probe address for the entry: after the stack check when found */
	int after_check;      /* 1 when entry skips the prologue's stack check (no double entry via morestack) */
	int on_branch;        /* 1 when entry is the stack check's conditional branch (emulated, not single-stepped) */
	uint64_t rets[LS_GO_MAX_RETS];
	size_t nrets;
};

/* Analyse the function at vaddr (size bytes) of e. 0, or -errno with err set. */
int ls_go_func(const struct ls_elf *e, uint64_t vaddr, uint64_t size, struct ls_go_func *out, char *err);

/* The Go version the binary was built with ("go1.19.8"), from its build info. 0 or -ENOENT. */
int ls_go_version(const struct ls_elf *e, char *buf, size_t len);

#endif
