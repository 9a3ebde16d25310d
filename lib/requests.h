/*
 * Request assembly in user space: header blocks from the kernel go through a
 * per-connection HPACK decoder to name each stream (:path, :status,
 * grpc-status); finished requests are joined with their names and aggregated
 * per process and method. Not thread-safe: one thread feeds it.
 */
#ifndef LS_REQUESTS_H
#define LS_REQUESTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/types.h>
#include "latscope.h"

struct ls_reqs;

#define LS_METHOD_LEN 256

/* The assembly's bounds (DESIGN.md, "Limits"). */
#define LS_REQS_BLOCK_MAX   (64 * 1024) /* one header block: longer ones are not decoded */
#define LS_REQS_STREAMS_MAX 4096        /* named streams kept per connection */
#define LS_REQS_METHODS_MAX 4096        /* distinct pid x method rows; the rest go to "(other)" */

/* A finished request as the CLI shows it. Strings live until the next ls_reqs_feed(). */
struct ls_req_view {
	const struct ls_request *rec;
	const char *method;        /* ":path", or "?" when unknown */
	const char *method_reason; /* why the method is unknown; NULL when known */
	const char *method_from;   /* "hpack" (latscope's decoder) or "operateHeaders" (the server's); NULL when unknown */
	const char *http_method;   /* ":method" ("GET", "POST"), "" when unknown */
	const char *traceparent;   /* the request's W3C traceparent, "" when absent or malformed */
	const char *protocol;      /* "h2" or "http/1.1" */
	int status;                /* ":status", -1 when not seen */
	int grpc_status;           /* "grpc-status", -1 when absent */
	int error;                 /* status >= 500 or grpc-status != 0 */
};

struct ls_method_stats {
	pid_t pid;
	char method[LS_METHOD_LEN];
	uint64_t count, errors, slow;
	uint64_t first_ns, last_ns;       /* start of the first request, end of the last */
	uint64_t total_sum, total_max;
	uint64_t phase_sum[LS_PHASE_COUNT];
	__u64 total_hist[LS_HIST_BUCKETS];
	__u64 phase_hist[LS_PHASE_COUNT][LS_HIST_BUCKETS];
};

int ls_reqs_new(struct ls_reqs **out);
void ls_reqs_free(struct ls_reqs *r);

/*
 * Feed one ring-buffer record (struct ls_headers, ls_method_rec or ls_request; others
 * are ignored). Returns 1 and fills *view when the record finished a request,
 * 0 otherwise, or -errno.
 */
int ls_reqs_feed(struct ls_reqs *r, const void *rec, size_t size, struct ls_req_view *view);

/* Per pid x method statistics, sorted by pid then method. Valid until the next feed or reset. */
const struct ls_method_stats *const *ls_reqs_methods(struct ls_reqs *r, size_t *n);

/* Forget the statistics (connections and their decoders stay). */
void ls_reqs_reset(struct ls_reqs *r);

/*
 * End a round and forget the connections not used during the last keep
 * rounds (their HPACK contexts and streams): nothing says when a connection
 * closes, so a long run calls this now and then to stay bounded. A forgotten
 * connection that comes back is taken as joined mid-flight (its requests
 * unnamed until the names it sends are literal again). The others give back
 * their stream table when no stream is open and their header block buffers
 * when no block is being assembled. Returns how many were forgotten.
 */
size_t ls_reqs_expire(struct ls_reqs *r, unsigned int keep);

/* Requests whose stream was never seen opening (their headers were dropped or came before attach). */
uint64_t ls_reqs_unnamed(const struct ls_reqs *r);
/* Tables of joined connections read from the target (LS_REC_H2TABLE): that named again, that could not. */
void ls_reqs_tables(const struct ls_reqs *r, uint64_t *used, uint64_t *failed);
/* Connections whose HPACK contexts and stream names are held now (not yet ended). */
size_t ls_reqs_live_conns(const struct ls_reqs *r);

#endif
