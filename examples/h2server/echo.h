/* The latscope.example.Echo service: method table, injected costs, request decoding and
 * reply encoding. Knows gRPC message framing but nothing about HTTP/2 or TLS. */
#ifndef H2SERVER_ECHO_H
#define H2SERVER_ECHO_H

#include <stddef.h>
#include <stdint.h>

#define ECHO_NMETHODS       3
#define ECHO_MAX_SLEEP_MS   60000
#define ECHO_MAX_BURN_MS    10000
#define ECHO_MAX_BLOCK_MS   10000
#define ECHO_MAX_SPIN_US    1000000
#define ECHO_MAX_RESP_BYTES (64u << 20)
#define ECHO_MAX_REQ_BYTES  (64u << 20)

/* gRPC status codes the server answers with. */
enum grpc_status {
	GRPC_OK = 0,
	GRPC_INVALID_ARGUMENT = 3,
	GRPC_RESOURCE_EXHAUSTED = 8,
	GRPC_UNIMPLEMENTED = 12,
	GRPC_INTERNAL = 13,
};

/* Costs of one call; in overrides, -1 means "not given on the command line". */
struct echo_costs {
	int64_t sleep_ms;
	int64_t burn_ms;
	int64_t resp_bytes;
	int64_t block_ms; /* sleep in the handler itself: the worker's event loop stops meanwhile */
	int64_t spin_us;  /* CPU in the handler, in microseconds: a request's own work */
};

struct echo_method {
	const char *name;           /* "Slow" */
	const char *path;           /* "/latscope.example.Echo/Slow" */
	struct echo_costs defaults; /* used when the request leaves a field at zero */
};

extern const struct echo_method echo_methods[ECHO_NMETHODS];

/* Read-only after echo_service_init and the overrides are set: shared by all workers. */
struct echo_service {
	struct echo_costs overrides[ECHO_NMETHODS];
	const uint8_t *zeros; /* ECHO_MAX_RESP_BYTES zero bytes, the source of every payload */
};

/* What a decoded call asks for: an error status, or a reply after sleep_ms. */
struct echo_call {
	enum grpc_status status;
	const char *message; /* grpc-message when status != GRPC_OK */
	uint32_t sleep_ms;
	uint32_t resp_bytes;
	uint64_t values_count;
	int64_t values_sum;
};

int echo_service_init(struct echo_service *svc, char *err, size_t errlen);
void echo_service_fini(struct echo_service *svc);

/* Parse "Slow:sleep=20,burn=0,resp=100" into svc's overrides. Returns 0 or -1 with err set. */
int echo_set_override(struct echo_service *svc, const char *spec, char *err, size_t errlen);

/* Index into echo_methods of the method an HTTP/2 :path names, or -1. */
int echo_method_by_path(const char *path);

/* Decode one length-prefixed gRPC request for method, burn its CPU cost, and fill call. */
void echo_call_run(const struct echo_service *svc, int method, const uint8_t *body, size_t len,
		   struct echo_call *call);

/* Encode call's reply as one length-prefixed gRPC message into a new malloc'd buffer.
 * Returns 0 or -1 (out of memory). */
int echo_reply_encode(const struct echo_service *svc, const struct echo_call *call,
		      uint8_t **out, size_t *out_len);

/* Spin on the CPU for ms milliseconds; a named frame for profiler tests. Returns noise. */
uint64_t burn_cpu(uint64_t ms);
/* Spin on the CPU for us microseconds (the spin cost). Returns noise. */
uint64_t spin_cpu(uint64_t us);
/* Block the calling thread for ms milliseconds in nanosleep (the block cost). */
void block_handler(uint64_t ms);

#endif
