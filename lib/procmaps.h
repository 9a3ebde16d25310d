/* A target process: identity, and the ELF objects it has mapped. */
#ifndef LS_PROCMAPS_H
#define LS_PROCMAPS_H

#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#define LS_PATH_LEN 4096

struct ls_proc_info {
	pid_t pid;
	char comm[64];
	char exe[LS_PATH_LEN];   /* as the target sees it */
	int kernel_thread;       /* no user address space */
	int zombie;
	uint64_t start_ticks;    /* when it started (clock ticks after boot): a pid reused later differs */
};

/* One file mapped with execute permission (an executable or a shared library). */
struct ls_object {
	char path[LS_PATH_LEN];      /* as in /proc/PID/maps */
	char open_path[LS_PATH_LEN]; /* /proc/PID/root/<path>: valid across mount namespaces */
	uint64_t inode;
	uint64_t dev;
	int is_main;                 /* the process's executable */
	int deleted;                 /* "(deleted)": replaced on disk since it was mapped */
};

/* Fill info for pid. Returns 0, -ESRCH (no such process) or another -errno; err says why. */
int ls_proc_info(pid_t pid, struct ls_proc_info *info, char *err);

/* The children of pid's threads now (up to max, in out); 0 when it has none or is gone. */
size_t ls_proc_children(pid_t pid, pid_t *out, size_t max);

/* 1 while pid exists and is not a zombie, 0 otherwise. */
int ls_proc_alive(pid_t pid);

/* CPU time pid has used so far (user + system, all threads), in ns. 0 or -errno. */
int ls_proc_cpu_ns(pid_t pid, uint64_t *ns);
/* The CPU time the processes that are still alive used so far, summed, in ns. */
uint64_t ls_procs_cpu_ns(const pid_t *pids, size_t n);

/*
 * Time the threads of the processes still alive have spent runnable but waiting for a CPU
 * (the scheduler's run delay, /proc/PID/task/TID/schedstat), summed over their threads that
 * exist now, in ns; at most LS_DELAY_MAX_TASKS threads a process are read. 0 when unknown.
 */
#define LS_DELAY_MAX_TASKS 4096
uint64_t ls_procs_run_delay_ns(const pid_t *pids, size_t n);

/*
 * Bytes pid has moved through read and write calls so far (/proc/PID/io rchar + wchar, all
 * threads): sockets read and written with read(2)/write(2) and their vector forms, files too;
 * not recv/send. 0 or -errno.
 */
int ls_proc_io_bytes(pid_t pid, uint64_t *bytes);
/* The same summed over the processes still alive: 0, or -errno when none could be read. */
int ls_procs_io_bytes(const pid_t *pids, size_t n, uint64_t *bytes);

/*
 * The executable-mapped ELF objects of pid, de-duplicated, main executable
 * first, then in address order. *objs is malloc'ed; free() it.
 */
int ls_proc_objects(pid_t pid, struct ls_object **objs, size_t *n, char *err);

/*
 * What ls_proc_objects does with pid's maps file, on the lines of f (the
 * text of a /proc/PID/maps), exe being pid's executable. For maps read
 * elsewhere (fmemopen for a buffer) and for tests.
 */
int ls_maps_objects(FILE *f, pid_t pid, const char *exe, struct ls_object **objs, size_t *n, char *err);

#endif
