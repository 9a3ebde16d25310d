/*
 * --call-graph auto: per object, whether its code keeps frame pointers, and
 * per target the table of its executable ranges the profiler consults
 * (struct ls_xranges): a frame-pointer walk where the sampled code keeps
 * them, a stack copy unwound with the CFI where it does not.
 */
#ifndef LS_CALLGRAPH_H
#define LS_CALLGRAPH_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/types.h>
#include "latscope.h"
#include "procmaps.h"

/* How an object's functions begin: how many were looked at, how many set up a frame. */
struct ls_fp_check {
	unsigned int funcs;  /* functions whose first bytes were read */
	unsigned int framed; /* of them, those starting with push %rbp; mov %rsp,%rbp */
	int keeps_fp;        /* the object is walked by frame pointers */
	char why[64];        /* "Go code", "12 of 900 functions set up a frame", ... */
};

/* One executable object of a target and the unwinding chosen for it. */
struct ls_cg_obj {
	pid_t pid;
	char path[LS_PATH_LEN]; /* as the target sees it; "[anonymous]" for generated code, "[vdso]" */
	struct ls_fp_check fp;
};

/*
 * Look at the entries of up to LS_FP_CHECK_MAX function symbols of the ELF
 * file at path. Go binaries keep frame pointers by the toolchain's ABI; an
 * object without function symbols is taken as keeping none. 0 or -errno (err).
 */
#define LS_FP_CHECK_MAX 4096
int ls_fp_check_file(const char *path, struct ls_fp_check *out, char *err);

/*
 * The executable ranges of pid (at most LS_XRANGES; *overflow counts those
 * left out) with the nofp bits, and its objects with their verdicts
 * (*objs malloc'ed, *nobjs entries). 0 or -errno (err).
 */
int ls_callgraph_ranges(pid_t pid, struct ls_xranges *x, struct ls_cg_obj **objs, size_t *nobjs, unsigned int *overflow,
			char *err);

#endif
