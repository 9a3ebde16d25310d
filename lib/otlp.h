/*
 * Slow requests as OpenTelemetry traces, in OTLP/JSON (the body of a POST to
 * /v1/traces): per request one SERVER span named after its method, with the
 * semantic conventions' attributes, and one INTERNAL child span per non-zero
 * phase, laid end to end inside it in request order. A request that carried
 * a W3C traceparent keeps its trace id and has its span as parent, so that
 * latscope's span joins the application's trace; others get a random trace.
 */
#ifndef LS_OTLP_H
#define LS_OTLP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "requests.h"

/* What a batch's spans ran in (the OTLP resource). */
struct ls_otlp_resource {
	const char *service;  /* service.name */
	const char *host;     /* host.name */
	const char *exe_name; /* process.executable.name */
	pid_t pid;            /* process.pid */
};

/* One request, copied out of its ls_req_view: it outlives the feed. */
struct ls_otlp_span {
	char trace_id[33], span_id[17], parent_id[17]; /* lowercase hex; parent_id "" when none */
	char phase_id[LS_PHASE_COUNT][17];
	char method[LS_METHOD_LEN];                    /* as ls_req_view names it */
	char http_method[16];
	int grpc, status, grpc_status;
	int http1;                                     /* HTTP/1.1, not HTTP/2 */
	uint64_t start_unix_ns, total_ns;
	uint64_t phase_ns[LS_PHASE_COUNT];
	unsigned int resource;                         /* index into the batch's resources */
};

/*
 * Fill sp from a finished request; realtime_off_ns turns its monotonic start
 * into Unix time (CLOCK_REALTIME - CLOCK_MONOTONIC). New span ids are random.
 */
void ls_otlp_span_from(struct ls_otlp_span *sp, const struct ls_req_view *v, uint64_t realtime_off_ns,
		       unsigned int resource);

/* Write one ExportTraceServiceRequest, one resourceSpans per resource that has spans. */
void ls_otlp_write(FILE *f, const struct ls_otlp_resource *res, size_t nres, const struct ls_otlp_span *spans,
		   size_t n);

#endif
