/*
 * Pushing profiles to Pyroscope from a thread of its own: its push API
 * (push.v1.PusherService/Push) first, and, when the server does not have it
 * (404), its older /ingest?format=pprof from then on. A bounded queue (what
 * does not fit is dropped and counted); retries with backoff while the server
 * is busy or unreachable.
 */
#ifndef LS_PYRO_PUSH_H
#define LS_PYRO_PUSH_H

#include <stddef.h>
#include <stdint.h>

#include "pyro.h"

#define PYRO_QUEUE 16

struct pyro_pusher;

struct pyro_stats {
	uint64_t pushed, queue_full, rejected, failed, retries;
	int legacy; /* the server has only /ingest */
};

typedef void (*pyro_log_fn)(void *ctx, const char *event, const char *msg);

/* url: the server's base URL ("http://pyroscope:4040"). 0 or -errno (the cause logged). */
int pyro_pusher_new(const char *url, pyro_log_fn log, void *ctx, struct pyro_pusher **out);

/* Queue one profile (gzipped pprof, copied) of the interval [from_s, until_s) (Unix seconds). */
void pyro_pusher_add(struct pyro_pusher *p, const struct ls_pyro_series *s, const uint8_t *pprof, size_t len,
		     uint64_t from_s, uint64_t until_s, unsigned int hz);

void pyro_pusher_stats(struct pyro_pusher *p, struct pyro_stats *out);

/* Push what is queued (one short try each, none once one failed) and stop. NULL is a no-op. */
void pyro_pusher_free(struct pyro_pusher *p);

#endif
