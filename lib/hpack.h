/*
 * HPACK for one direction of one connection: the header fields latscope keeps
 * (:path, :method, :status, grpc-status, traceparent) out of each header block, through
 * libnghttp2's public inflater. Every other field is decoded (the dynamic
 * table needs it) and dropped.
 */
#ifndef LS_HPACK_H
#define LS_HPACK_H

#include <stddef.h>
#include <stdint.h>

/* Which fields a block carried (struct ls_hpack_fields.have). */
#define LS_HPACK_PATH        (1u << 0)
#define LS_HPACK_METHOD      (1u << 1)
#define LS_HPACK_STATUS      (1u << 2)
#define LS_HPACK_GRPC_STATUS (1u << 3)
#define LS_HPACK_TRACEPARENT (1u << 4)

/* W3C trace context: "00-" 32 hex "-" 16 hex "-" 2 hex. */
#define LS_TRACEPARENT_LEN 55

struct ls_hpack_fields {
	unsigned int have;
	char path[256];  /* cut to fit, NUL-terminated; bytes as sent (escape them before printing) */
	char method[16];
	int status;      /* 0..999, -1 when the value is not a number in that range */
	int grpc_status; /* 0..999, -1 likewise */
	char traceparent[LS_TRACEPARENT_LEN + 1]; /* only a well-formed version 00 value, lowercase hex */
};

struct ls_hpack;

/* A decoder with an empty dynamic table; NULL when out of memory. */
struct ls_hpack *ls_hpack_new(void);
void ls_hpack_free(struct ls_hpack *d);

/*
 * Decode block (len bytes); end_headers when it is the last piece of its
 * header block. 0, or -EPROTO when the block is not valid HPACK (the
 * decoder is then unusable: the connection's state is lost).
 */
int ls_hpack_block(struct ls_hpack *d, const uint8_t *block, size_t len, int end_headers, struct ls_hpack_fields *out);

/*
 * Give a new decoder a table read from elsewhere: its size limit, then entries
 * (literals with incremental indexing, oldest first). 0, or -EPROTO / -ENOMEM.
 */
int ls_hpack_seed(struct ls_hpack *d, uint32_t table_max, const uint8_t *entries, size_t len);

#endif
