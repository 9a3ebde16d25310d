/*
 * nghttp2's HPACK decoder table, read from a target's memory: how request
 * headers are named again on a connection latscope joined mid-flight (at
 * attach, or after a gap of the overhead budget).
 *
 * The layout comes from the library's own code, not from a version table:
 * nghttp2_session_get_hd_inflate_dynamic_table_size adds the inflater's offset
 * in the session, nghttp2_hd_inflate_get_dynamic_table_size and _get_max_
 * read the table's size fields, and nghttp2_hd_inflate_get_table_entry shows
 * the ring buffer and where an entry keeps its name and value. The insertion
 * counter follows the size limit (nghttp2_hd_context: hd_table,
 * mem, hd_table_bufsize, hd_table_bufsize_max, next_seq).
 */
#ifndef LS_H2TABLE_H
#define LS_H2TABLE_H

#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "latscope.h"

struct ls_elf;

struct ls_h2_layout {
	uint32_t infl_off;   /* the inflater's table context in nghttp2_session */
	uint32_t seq_off;    /* its insertion counter, from the context */
	uint32_t max_off;    /* its table size limit, from the context */
	uint32_t nv_off;     /* an entry's nghttp2_nv (name, value, namelen, valuelen) */
};

/* The layout of the nghttp2 in e; 0, or -ENOENT with why (code not of the known shape). */
int ls_h2_layout(const struct ls_elf *e, struct ls_h2_layout *out, char *why, size_t whylen);

/* Read len bytes at addr of the target; 0 or -errno. */
typedef int (*ls_h2_read_fn)(void *ctx, uint64_t addr, void *buf, size_t len);

/* process_vm_readv of pid (ctx: a pid_t *). */
int ls_h2_read_pid(void *ctx, uint64_t addr, void *buf, size_t len);

/*
 * Rebuild the table the session's decoder had when its counter was seq:
 * fills out's status, table_max, entries, len and data (the rest is the
 * caller's). Entries inserted since are left out; entries evicted since are
 * missing at the old end (a header that refers to one fails to decode).
 */
void ls_h2_table(ls_h2_read_fn rd, void *ctx, uint64_t session, const struct ls_h2_layout *l, uint32_t seq,
		 struct ls_h2table_rec *out);

const char *ls_h2t_status_str(unsigned int status);

#endif
