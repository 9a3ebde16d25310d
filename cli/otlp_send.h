/*
 * Sending slow requests' spans to an OTLP/HTTP endpoint (JSON, URL/v1/traces)
 * from a thread of its own, so that a slow collector never stalls the agent's
 * loop: a bounded queue (what does not fit is dropped and counted), batches
 * every second or every OTLP_BATCH spans, retries with backoff when the
 * collector says it is busy (429, 502, 503, 504) or cannot be reached.
 */
#ifndef LS_OTLP_SEND_H
#define LS_OTLP_SEND_H

#include <stdint.h>

#include "otlp.h"

#define OTLP_QUEUE 1024
#define OTLP_BATCH 128

struct otlp_sender;

struct otlp_stats {
	uint64_t sent;        /* spans of requests the collector accepted */
	uint64_t queue_full;  /* requests dropped: the queue was full */
	uint64_t rejected;    /* dropped: the collector refused them (4xx but 429) */
	uint64_t failed;      /* dropped: still busy or unreachable after every retry */
	uint64_t retries;
};

/* A log line from the sender's thread: event and message. */
typedef void (*otlp_log_fn)(void *ctx, const char *event, const char *msg);

/* endpoint: the collector's base URL ("http://127.0.0.1:4318"). 0, or -errno (the cause logged). */
int otlp_sender_new(const char *endpoint, otlp_log_fn log, void *ctx, struct otlp_sender **out);

/* Queue one request (copied): its span and the process it ran in. */
void otlp_sender_add(struct otlp_sender *s, const struct ls_otlp_span *sp, const char *service, const char *exe_name,
		     int pid);

void otlp_sender_stats(struct otlp_sender *s, struct otlp_stats *out);

/*
 * Send what is queued and stop the thread: each batch gets one try of at
 * most 2 s, and none once one failed. NULL is a no-op.
 */
/* Send what is queued (one try, within 5 s) and stop the thread. NULL is a no-op. */
void otlp_sender_free(struct otlp_sender *s);

#endif
