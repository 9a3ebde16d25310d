/* Finding processes by name, for targets named rather than numbered (export --comm). */
#ifndef LS_PROCSCAN_H
#define LS_PROCSCAN_H

#include <stddef.h>
#include <sys/types.h>

/*
 * The live processes whose comm is name (compared on the kernel's 15
 * characters), in ascending pid order, the caller's own excluded: the first
 * max in out[], their count in *n. Returns how many matched in all (more
 * than *n when out was too small), or -errno when /proc cannot be read.
 */
long ls_procs_by_comm(const char *name, pid_t *out, size_t max, size_t *n);

#endif
