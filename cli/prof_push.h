/*
 * Pushing profiles from a thread of its own, to Pyroscope (its push API,
 * push.v1.PusherService/Push, first, and, when the server does not have it
 * (404), its older /ingest?format=pprof from then on) or to Parca (its
 * profile store's WriteRaw, gRPC). A bounded queue (what does not fit is
 * dropped and counted); retries with backoff while the server is busy or
 * unreachable.
 */
#ifndef LS_PROF_PUSH_H
#define LS_PROF_PUSH_H

#include <stddef.h>
#include <stdint.h>

#include "pyro.h"

enum prof_dest { PROF_PYROSCOPE, PROF_PARCA };

#define PROF_QUEUE 16

struct prof_pusher;

struct prof_stats {
	uint64_t pushed, queue_full, rejected, failed, retries;
	int legacy; /* the server has only /ingest */
};

typedef void (*prof_log_fn)(void *ctx, const char *event, const char *msg);

/* url: the server's base URL ("http://pyroscope:4040", "http://parca:7070"). 0 or -errno (the cause logged). */
int prof_pusher_new(enum prof_dest dest, const char *url, prof_log_fn log, void *ctx, struct prof_pusher **out);

/* Queue one profile (gzipped pprof, copied) of the interval [from_s, until_s) (Unix seconds). */
void prof_pusher_add(struct prof_pusher *p, const struct ls_pyro_series *s, const uint8_t *pprof, size_t len,
		     uint64_t from_s, uint64_t until_s, unsigned int hz);

void prof_pusher_stats(struct prof_pusher *p, struct prof_stats *out);

/* Push what is queued (one short try each, none once one failed) and stop. NULL is a no-op. */
void prof_pusher_free(struct prof_pusher *p);

#endif
