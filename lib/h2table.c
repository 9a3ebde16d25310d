#include "h2table.h"
#include "elfsym.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>

#define CTX_READ   0x80     /* bytes of the context read: up to the counter */
#define RING_MAX   65536    /* ring slots nghttp2 could need for the largest table (entries take >= 32 bytes) */
#define TABLE_CAP  (1u << 21)
#define ATTEMPTS   8

/* An endbr64 first is skipped. */
static const uint8_t *code_at(const struct ls_elf *e, const char *name, size_t len)
{
	struct ls_elf_sym sym;
	const uint8_t *c;

	if (ls_elf_find(e, name, &sym) || !(c = ls_elf_code(e, sym.vaddr, len + 4)))
		return NULL;
	if (c[0] == 0xf3 && c[1] == 0x0f && c[2] == 0x1e && c[3] == 0xfa)
		c += 4;
	return c;
}

/* mov disp8(%rdi),%rax; ret: the field an accessor returns. */
static int field_getter(const struct ls_elf *e, const char *name, uint32_t *off)
{
	const uint8_t *c = code_at(e, name, 5);

	if (!c || c[0] != 0x48 || c[1] != 0x8b || c[2] != 0x47 || c[4] != 0xc3)
		return -ENOENT;
	*off = c[3];
	return 0;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The session accessor: add/lea of the inflater's offset to %rdi and a jump, or the field read inlined. */
static int infl_offset(const struct ls_elf *e, uint32_t size_off, uint32_t *off)
{
	const uint8_t *c = code_at(e, "nghttp2_session_get_hd_inflate_dynamic_table_size", 8);

	if (!c)
		return -ENOENT;
	if (c[0] == 0x48 && c[1] == 0x81 && c[2] == 0xc7)          /* add $imm32,%rdi */
		*off = le32(c + 3);
	else if (c[0] == 0x48 && c[1] == 0x83 && c[2] == 0xc7)     /* add $imm8,%rdi */
		*off = c[3];
	else if (c[0] == 0x48 && c[1] == 0x8d && c[2] == 0xbf)     /* lea disp32(%rdi),%rdi */
		*off = le32(c + 3);
	else if (c[0] == 0x48 && c[1] == 0x8b && c[2] == 0x87 && c[7] == 0xc3 && le32(c + 3) >= size_off)
		*off = le32(c + 3) - size_off;                      /* mov disp32(%rdi),%rax; ret */
	else
		return -ENOENT;
	return *off < 0x100000 ? 0 : -ENOENT;
}

static const uint8_t *find(const uint8_t *c, size_t n, const uint8_t *pat, size_t plen)
{
	for (size_t i = 0; i + plen <= n; i++)
		if (!memcmp(c + i, pat, plen))
			return c + i;
	return NULL;
}

/*
 * get_table_entry: the ring (buffer at 0, mask at 8, first at 0x10) indexed as
 * buffer[(first + i) & mask], then the entry's nghttp2_nv at a constant offset.
 */
static int entry_layout(const struct ls_elf *e, uint32_t *nv_off)
{
	static const uint8_t first[] = { 0x48, 0x03, 0x77, 0x10 }, mask[] = { 0x48, 0x23, 0x77, 0x08 },
			     buf[] = { 0x48, 0x8b, 0x07 };
	const size_t n = 128;
	const uint8_t *c = code_at(e, "nghttp2_hd_inflate_get_table_entry", n);

	if (!c || !find(c, n, first, sizeof(first)) || !find(c, n, mask, sizeof(mask)) || !find(c, n, buf, sizeof(buf)))
		return -ENOENT;
	/* mov (%rax,%rsi,8),%reg; add $imm8,%reg */
	for (size_t i = 0; i + 8 <= n; i++) {
		uint8_t reg = (c[i + 2] >> 3) & 7;

		if (c[i] == 0x48 && c[i + 1] == 0x8b && (c[i + 2] & 0xc7) == 0x04 && c[i + 3] == 0xf0 &&
		    c[i + 4] == 0x48 && c[i + 5] == 0x83 && c[i + 6] == (0xc0 | reg)) {
			*nv_off = c[i + 7];
			return 0;
		}
	}
	return -ENOENT;
}

int ls_h2_layout(const struct ls_elf *e, struct ls_h2_layout *out, char *why, size_t whylen)
{
	uint32_t size_off, max_off;

	memset(out, 0, sizeof(*out));
	if (field_getter(e, "nghttp2_hd_inflate_get_dynamic_table_size", &size_off) ||
	    field_getter(e, "nghttp2_hd_inflate_get_max_dynamic_table_size", &max_off)) {
		snprintf(why, whylen, "nghttp2's table size accessors are not of the known shape");
		return -ENOENT;
	}
	/* The context this reads: a ring of four words, the allocator, then the sizes. */
	if (size_off != 0x28 || max_off != size_off + 8) {
		snprintf(why, whylen, "nghttp2's table context has another layout (size at %#x, limit at %#x)", size_off,
			 max_off);
		return -ENOENT;
	}
	if (infl_offset(e, size_off, &out->infl_off)) {
		snprintf(why, whylen, "where nghttp2_session keeps its inflater is not known (accessor of another shape)");
		return -ENOENT;
	}
	if (entry_layout(e, &out->nv_off)) {
		snprintf(why, whylen, "nghttp2's table entries have another layout (get_table_entry of another shape)");
		return -ENOENT;
	}
	out->max_off = max_off;
	out->seq_off = max_off + 8;
	return 0;
}

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
