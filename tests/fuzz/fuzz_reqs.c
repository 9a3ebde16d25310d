/*
 * libFuzzer target for the user-space request path: arbitrary sequences of
 * header-block fragments (any flags, streams, split points, bytes), joined
 * connections' HPACK tables (as records, and read from a target memory made of the
 * input by lib/h2table.c) and request records go through HPACK decoding and per-method aggregation, with expiry
 * rounds between them (ls_reqs_expire). Nothing may
 * crash, leak or read out of bounds, whatever the kernel side hands over.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <linux/types.h>
#include "latscope.h"
#include "h2table.h"
#include "requests.h"

/* A target's memory for ls_h2_table(): the record's bytes from address 0; beyond them reads fail. */
struct image {
	const uint8_t *p;
	size_t len;
};

static int rd_image(void *ctx, uint64_t addr, void *buf, size_t len)
{
	const struct image *m = ctx;

	if (addr > m->len || len > m->len - addr)
		return -14;
	memcpy(buf, m->p + addr, len);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct ls_headers h;
	struct ls_reqs *r;
	struct ls_req_view v;
	size_t off = 0;

	if (ls_reqs_new(&r))
		return 0;
	/* Each record: kind, flags, stream (low byte), connection (low byte), length, bytes. */
	while (off + 5 <= size) {
		uint8_t kind = data[off], flags = data[off + 1], stream = data[off + 2], conn = data[off + 3];
		size_t len = data[off + 4];

		off += 5;
		if (len > size - off)
			len = size - off;
		if (kind & 1) {
			struct ls_request q;

			memset(&q, 0, sizeof(q));
			q.type = LS_REC_REQUEST;
			q.pid = 1;
			q.conn = conn;
			q.stream = stream;
			q.total_ns = len * 1000;
			q.phase_ns[LS_PH_APP] = len * 1000;
			ls_reqs_feed(r, &q, sizeof(q), &v);
		} else if ((kind & 0x18) == 0x18) {
			struct ls_method_rec m;

			/* A server-decoded method, with a length that may lie. */
			memset(&m, 0, sizeof(m));
			m.type = LS_REC_METHOD;
			m.pid = 1;
			m.conn = conn;
			m.stream = stream;
			m.len = (__u16)(len + (flags & 0x80 ? 200 : 0));
			memcpy(m.name, data + off, len < sizeof(m.name) ? len : sizeof(m.name));
			ls_reqs_feed(r, &m, (kind & 2) ? sizeof(m) - 1 : sizeof(m), &v);
		} else if ((kind & 0x58) == 0x48) {
			static struct ls_h2table_rec t;
			/* nghttp2 1.52's layout, the session at 0: the table is read from the bytes, then fed. */
			static const struct ls_h2_layout l = { .infl_off = 0, .seq_off = 0x38, .max_off = 0x30, .nv_off = 0x18 };
			struct image m = { data + off, len };

			memset(&t, 0, offsetof(struct ls_h2table_rec, data));
			ls_h2_table(rd_image, &m, 0, &l, flags, &t);
			t.type = LS_REC_H2TABLE;
			t.pid = 1;
			t.conn = conn;
			t.blocks = stream & 3;
			ls_reqs_feed(r, &t, offsetof(struct ls_h2table_rec, data) + t.len, &v);
		} else if ((kind & 0x58) == 0x50) {
			static struct ls_h2table_rec t;

			/* A joined connection's table: any status, block count, limit and entries. */
			memset(&t, 0, offsetof(struct ls_h2table_rec, data));
			t.type = LS_REC_H2TABLE;
			t.status = flags & 7;
			t.pid = 1;
			t.conn = conn;
			t.blocks = stream & 3;
			t.table_max = (uint32_t)(flags >> 3) << (stream >> 4);
			t.len = (__u32)len;
			memcpy(t.data, data + off, len);
			ls_reqs_feed(r, &t, offsetof(struct ls_h2table_rec, data) + len - ((kind & 2) && len ? 1 : 0), &v);
		} else {
			memset(&h, 0, offsetof(struct ls_headers, data));
			h.type = LS_REC_HEADERS;
			h.pid = 1;
			h.conn = conn;
			h.stream = stream;
			h.flags = (__u16)(flags | ((kind & 0x40) ? LS_HD_SEQWAIT : 0));
			h.len = (__u32)len;
			memcpy(h.data, data + off, len);
			/* A record may also arrive shorter than its header claims. */
			ls_reqs_feed(r, &h, offsetof(struct ls_headers, data) + len - ((kind & 2) && len ? 1 : 0), &v);
		}
		off += len;
		if (kind & 4) {
			size_t n;

			ls_reqs_methods(r, &n);
		}
		if (kind == 0xfe)
			ls_reqs_reset(r);
		/* An expiry round between any two records: connections forgotten or trimmed mid-stream. */
		if ((kind & 0xe0) == 0xe0)
			ls_reqs_expire(r, flags & 3);
	}
	ls_reqs_free(r);
	return 0;
}
