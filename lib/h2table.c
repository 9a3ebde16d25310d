#include "h2table.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>

#define CTX_READ   0x80     /* bytes of the context read: up to the counter */
#define RING_MAX   65536    /* ring slots nghttp2 could need for the largest table (entries take >= 32 bytes) */
#define TABLE_CAP  65536    /* the largest table size limit read: nghttp2's default is 4096 */
#define ATTEMPTS   8

int ls_h2_read_pid(void *ctx, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = { .iov_base = buf, .iov_len = len };
	struct iovec remote = { .iov_base = (void *)(uintptr_t)addr, .iov_len = len };
	ssize_t n = process_vm_readv(*(pid_t *)ctx, &local, 1, &remote, 1, 0);

	return n == (ssize_t)len ? 0 : n < 0 ? -errno : -EFAULT;
}

const char *ls_h2t_status_str(unsigned int status)
{
	switch (status) {
	case LS_H2T_OK:
		return "read";
	case LS_H2T_UNREADABLE:
		return "the target's memory could not be read";
	case LS_H2T_CHANGING:
		return "the table changed under every read";
	case LS_H2T_INVALID:
		return "what was read is no nghttp2 table";
	case LS_H2T_TOO_LARGE:
		return "the table is larger than latscope copies";
	case LS_H2T_NO_LAYOUT:
		return "the target's nghttp2 layout is unknown";
	}
	return "?";
}

struct ctx_view {
	uint64_t buffer, mask, first, len, bufsize, bufsize_max;
	uint32_t next_seq;
};

static int read_ctx(ls_h2_read_fn rd, void *ctx, uint64_t at, const struct ls_h2_layout *l, struct ctx_view *v)
{
	uint8_t raw[CTX_READ];
	uint64_t w[6];

	memset(v, 0, sizeof(*v)); /* compared whole, padding too */
	if (l->seq_off + 4 > sizeof(raw) || rd(ctx, at, raw, l->seq_off + 4))
		return -EFAULT;
	memcpy(w, raw, sizeof(w));
	v->buffer = w[0];
	v->mask = w[1];
	v->first = w[2];
	v->len = w[3];
	memcpy(&v->bufsize, raw + l->max_off - 8, 8);
	memcpy(&v->bufsize_max, raw + l->max_off, 8);
	memcpy(&v->next_seq, raw + l->seq_off, 4);
	return 0;
}

/* HPACK integer with an n-bit prefix (RFC 7541 5.1); 0 when it does not fit. */
static size_t put_int(uint8_t *p, size_t room, uint8_t first, unsigned int n, uint64_t v)
{
	uint64_t lim = (1u << n) - 1;
	size_t k = 0;

	if (!room)
		return 0;
	if (v < lim) {
		p[0] = first | (uint8_t)v;
		return 1;
	}
	p[k++] = first | (uint8_t)lim;
	for (v -= lim; v >= 128; v >>= 7) {
		if (k >= room)
			return 0;
		p[k++] = (uint8_t)(v & 0x7f) | 0x80;
	}
	if (k >= room)
		return 0;
	p[k++] = (uint8_t)v;
	return k;
}

/* A string literal, not Huffman-coded, read from the target. */
static int put_str(ls_h2_read_fn rd, void *ctx, struct ls_h2table_rec *out, uint64_t addr, uint64_t len)
{
	size_t room = sizeof(out->data) - out->len, k = put_int(out->data + out->len, room, 0, 7, len);

	if (!k || len > room - k)
		return LS_H2T_TOO_LARGE;
	if (len && rd(ctx, addr, out->data + out->len + k, len))
		return LS_H2T_UNREADABLE;
	out->len += (uint32_t)(k + len);
	return LS_H2T_OK;
}

/* One attempt: the status; the context read before, to be compared with one read after. */
static int rebuild(ls_h2_read_fn rd, void *ctx, const struct ctx_view *v, const struct ls_h2_layout *l, uint32_t seq,
		   struct ls_h2table_rec *out)
{
	uint32_t skip = v->next_seq - seq;
	uint64_t total = 0;
	int st;

	out->len = 0;
	out->entries = 0;
	out->table_max = (uint32_t)v->bufsize_max;
	if (v->mask >= RING_MAX || (v->mask & (v->mask + 1)) || v->len > v->mask + 1 || v->bufsize > v->bufsize_max ||
	    skip > (1u << 30))
		return LS_H2T_INVALID;
	if (v->bufsize_max > TABLE_CAP)
		return LS_H2T_TOO_LARGE;
	/* Oldest first: the entry of index i was inserted as next_seq - 1 - i. */
	for (uint64_t i = v->len; i-- > skip;) {
		uint64_t ent, nv[4]; /* name, value, namelen, valuelen */

		if (rd(ctx, v->buffer + ((v->first + i) & v->mask) * 8, &ent, sizeof(ent)) ||
		    rd(ctx, ent + l->nv_off, nv, sizeof(nv)))
			return LS_H2T_UNREADABLE;
		total += nv[2] + nv[3] + 32;
		if (nv[2] > v->bufsize_max || nv[3] > v->bufsize_max || total > v->bufsize_max)
			return LS_H2T_INVALID;
		if (out->len >= sizeof(out->data))
			return LS_H2T_TOO_LARGE;
		out->data[out->len++] = 0x40; /* literal with incremental indexing, new name */
		if ((st = put_str(rd, ctx, out, nv[0], nv[2])) || (st = put_str(rd, ctx, out, nv[1], nv[3])))
			return st;
		out->entries++;
	}
	return LS_H2T_OK;
}

void ls_h2_table(ls_h2_read_fn rd, void *ctx, uint64_t session, const struct ls_h2_layout *l, uint32_t seq,
		 struct ls_h2table_rec *out)
{
	uint64_t at = session + l->infl_off;
	struct ctx_view a, b;
	int st = LS_H2T_CHANGING;

	out->len = 0;
	out->entries = 0;
	out->table_max = 0;
	if (!l->seq_off) {
		out->status = LS_H2T_NO_LAYOUT;
		return;
	}
	for (int i = 0; i < ATTEMPTS; i++) {
		if (read_ctx(rd, ctx, at, l, &a)) {
			st = LS_H2T_UNREADABLE;
			break;
		}
		st = rebuild(rd, ctx, &a, l, seq, out);
		if (read_ctx(rd, ctx, at, l, &b)) {
			st = LS_H2T_UNREADABLE;
			break;
		}
		/* Unchanged: no insertion and no resize ran while the entries were read. */
		if (!memcmp(&a, &b, sizeof(a)))
			break;
		st = LS_H2T_CHANGING;
	}
	out->status = (uint16_t)st;
	if (st != LS_H2T_OK) {
		out->len = 0;
		out->entries = 0;
	}
}
