/*
 * One name per address, for callers that want no more: a thin layer over
 * symbolizer.h (which has inline chains, file:line, mappings and the
 * return-address rule). Not thread-safe: one handle per thread.
 */
#ifndef LS_PROCSYM_H
#define LS_PROCSYM_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct procsym;

struct procsym_frame {
	const char *func;    /* function name, or NULL when unresolved */
	uint64_t offset;     /* address - function start */
	const char *module;  /* object path ("[kernel]" for the kernel), or NULL */
	const char *reason;  /* why func is NULL */
};

/* A new handle, or NULL with errno set. */
struct procsym *procsym_new(void);
void procsym_free(struct procsym *ps);

/*
 * Resolve n user addresses of pid (exact addresses; func is the containing
 * function). Strings stay valid until procsym_free(). The process's mappings
 * are read on first use and kept: call this while the process lives. 0 or -errno.
 */
int procsym_user(struct procsym *ps, pid_t pid, const uint64_t *addrs, size_t n, struct procsym_frame *out);

/* Resolve n kernel addresses through /proc/kallsyms (loaded once). 0 or -errno. */
int procsym_kernel(struct procsym *ps, const uint64_t *addrs, size_t n, struct procsym_frame *out);

#endif
