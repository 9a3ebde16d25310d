/*
 * Request metrics in Prometheus' text exposition format (0.0.4), named and
 * labelled after OpenTelemetry's semantic conventions as Prometheus spells
 * them: rpc_server_call_duration_seconds for gRPC,
 * http_server_request_duration_seconds for other HTTP/2 requests, and
 * latscope_request_phase_duration_seconds{phase} with the same labels.
 * Histograms use gRPC's latency buckets (10us .. 100s). Bounded: at most
 * max_methods distinct methods (routes) per service, the rest folded into
 * "_OTHER", and at most max_series series, the rest counted and not kept.
 * Not thread-safe: one thread feeds it.
 */
#ifndef LS_PROMEXP_H
#define LS_PROMEXP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "requests.h"

struct ls_prom;

#define LS_PROM_BUCKETS 40          /* finite upper bounds; +Inf is implied */
#define LS_PROM_OTHER "_OTHER"      /* the method of requests past the cap, or unnamed */

struct ls_prom_opts {
	size_t sz;                /* sizeof(struct ls_prom_opts) */
	unsigned int max_methods; /* distinct methods per service (0: 500) */
	unsigned int max_series;  /* series kept in all (0: 1000) */
};

struct ls_prom_stats {
	uint64_t requests;  /* observed */
	uint64_t folded;    /* counted under LS_PROM_OTHER as their service had max_methods already */
	uint64_t unnamed;   /* counted under LS_PROM_OTHER as their method was unknown */
	uint64_t lost;      /* not counted: max_series reached, or out of memory */
	uint64_t series;
};

int ls_prom_new(const struct ls_prom_opts *opts, struct ls_prom **out);
void ls_prom_free(struct ls_prom *p);

/* Count one finished request of service (the service_name label); one that cannot be kept is counted as lost. 0. */
int ls_prom_add(struct ls_prom *p, const char *service, const struct ls_req_view *v);

/* Write every request histogram family (HELP, TYPE, then its series). */
void ls_prom_write(const struct ls_prom *p, FILE *f);

void ls_prom_stats(const struct ls_prom *p, struct ls_prom_stats *out);

/* The upper bound of bucket i (< LS_PROM_BUCKETS) in ns, and as the le label writes it. */
uint64_t ls_prom_bound_ns(unsigned int i);
const char *ls_prom_bound_str(unsigned int i);

/*
 * Write s as a label value's inside: backslash, double quote and line feed
 * escaped as the format says; other control characters, DEL and bytes that
 * are not valid UTF-8 as %XX, so that what a client sent can neither break
 * the format nor make its UTF-8 invalid.
 */
void ls_prom_label(FILE *f, const char *s);

/* gRPC's name of a status code ("OK", "UNAVAILABLE"); "UNKNOWN" when out of range. */
const char *ls_grpc_code_name(int code);

#endif
