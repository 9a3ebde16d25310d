/*
 * export's continuous profiles: every interval, the CPU samples (and off-CPU
 * time) the session gathered are taken out of the kernel's tables, folded per
 * target into a pprof as `record` writes it (samples labelled phase and slow)
 * and queued for Pyroscope (cli/pyro_push.c).
 */
#ifndef LS_EXPORT_PROFILE_H
#define LS_EXPORT_PROFILE_H

#include <stdint.h>
#include <sys/types.h>

#include "pyro_push.h"
#include "session.h"

struct export_profiler;

struct profile_target {
	pid_t pid;
	const char *service, *comm;
};

/* hz: the session's sampling rate; offcpu: it also records off-CPU time. 0 or -errno (logged). */
int export_profiler_new(const char *url, unsigned int hz, int offcpu, pyro_log_fn log, void *ctx,
			struct export_profiler **out);

/* Push the interval since the last call (or since start) for each target. */
void export_profiler_push(struct export_profiler *p, struct ls_session *s, const struct profile_target *t, size_t n);

void export_profiler_stats(struct export_profiler *p, struct pyro_stats *out);

void export_profiler_free(struct export_profiler *p);

#endif
