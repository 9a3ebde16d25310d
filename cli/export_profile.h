/*
 * export's continuous profiles: every interval, the CPU samples (and off-CPU
 * time) the session gathered are taken out of the kernel's tables, folded per
 * target into a pprof as `record` writes it (samples labelled phase and slow)
 * and queued for Pyroscope and/or Parca (cli/prof_push.c).
 */
#ifndef LS_EXPORT_PROFILE_H
#define LS_EXPORT_PROFILE_H

#include <stdint.h>
#include <sys/types.h>

#include "prof_push.h"
#include "session.h"

struct export_profiler;

struct profile_target {
	pid_t pid;
	const char *service, *comm;
};

/*
 * pyroscope, parca: the servers' URLs (NULL: not that one); hz: the session's
 * sampling rate; offcpu: it also records off-CPU time. 0 or -errno (logged).
 */
int export_profiler_new(const char *pyroscope, const char *parca, unsigned int hz, int offcpu, prof_log_fn log,
			void *ctx, struct export_profiler **out);

/* Push the interval since the last call (or since start) for each target. */
void export_profiler_push(struct export_profiler *p, struct ls_session *s, const struct profile_target *t, size_t n);

/* What was pushed to dest, and dropped; 0, or -ENOENT when dest is not pushed to. */
int export_profiler_stats(struct export_profiler *p, enum prof_dest dest, struct prof_stats *out);

void export_profiler_free(struct export_profiler *p);

#endif
