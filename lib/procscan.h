/* Finding processes by what they are rather than by number (export --comm, --exe, --cgroup). */
#ifndef LS_PROCSCAN_H
#define LS_PROCSCAN_H

#include <stddef.h>
#include <sys/types.h>

/* What a process must be to match: every criterion given (NULL: any). */
struct ls_proc_match {
	const char *comm;   /* its name, compared on the kernel's 15 characters */
	const char *exe;    /* its executable's path, as /proc/PID/exe reads */
	const char *cgroup; /* a cgroup v2 path ("/system.slice/x.service"): the process's, or one above it */
};

/*
 * The live user processes that match m, in ascending pid order, the caller's
 * own excluded: the first max in out[], their count in *n. Returns how many
 * matched in all (more than *n when out was too small), or -errno when /proc
 * cannot be read.
 */
long ls_procs_find(const struct ls_proc_match *m, pid_t *out, size_t max, size_t *n);

#endif
