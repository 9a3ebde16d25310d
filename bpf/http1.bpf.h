/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * HTTP/1.x over TLS: a connection whose first plaintext says HTTP/1 is walked
 * here instead of as HTTP/2. Each request is a "stream" numbered by its place
 * on the connection (1, 2, ...); responses come in the order of their requests
 * (pipelining included), so the n-th response is request n's. The framing
 * (bpf/h1split.h) finds where messages start and end; the walk puts them in
 * the same batch as HTTP/2 streams, and requests.bpf.h times and finishes them
 * the same way. Request lines go to user space as LS_HD_HTTP1 fragments; the
 * status code is read here, from the response's start line.
 * Part of bpf/latscope.bpf.c (one object, one skeleton): included from there, in order.
 */

#define LS_PROTO_H1 1    /* struct lsk_conn.proto: HTTP/1 */
#define LS_PROTO_OTHER 2 /* not HTTP/1 (HTTP/2, or not recognised): the HTTP/2 walk's */
#define H1_CHUNK 64      /* bytes read from the target at once */
#define H1_UNITS_MAX 4096 /* head bytes and body skips one buffer may take; past it the direction is lost */
#define H1_LINE_MAX 512  /* request-line bytes sent per buffer */
#define H1S_F_ORPHAN 0x80 /* response: to a request never seen (attached mid-flight) */

struct lsk_h1walk {
	struct ls_h1dir d;  /* copy of the direction's state */
	__u64 in_heads;     /* responses: the requests' HEAD bits (struct ls_h1dir.heads) */
	__u32 in_seq;       /* responses: requests started so far (none runs past them) */
	__u32 off;          /* next byte of the buffer */
	__u32 chunk_off;    /* where chunk[] starts in the buffer */
	__u32 have;         /* bytes in chunk[] */
	__u32 line_at;      /* requests: where the start line began in this buffer */
	__u32 cur;          /* the message the bytes belong to, 0: none */
	__u8 out;
	__u8 _pad[7];
	__u8 chunk[H1_CHUNK];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lsk_h1walk);
} h1_scratch SEC(".maps");

/* The first bytes of a connection's first buffer say whether it is HTTP/1: a method token and a space. */
static __always_inline int h1_looks_like(const __u8 *p, __u32 n, int out)
{
	int i;

	if (n < 5)
		return 0;
	if (out)
		return p[0] == 'H' && p[1] == 'T' && p[2] == 'T' && p[3] == 'P' && p[4] == '/';
	/* "PRI * HTTP/2.0" is HTTP/2's preface: PRI is a token too, but never followed by " *". */
	if (p[0] == 'P' && p[1] == 'R' && p[2] == 'I' && p[3] == ' ')
		return 0;
#pragma unroll
	for (i = 0; i < 8; i++) {
		if (i >= (int)n)
			return 0;
		if (p[i] == ' ')
			return i >= 3;
		if (p[i] < 'A' || p[i] > 'Z')
			return 0;
	}
	return 0;
}

/* Decide a connection's protocol from its first buffer; 1 when it is HTTP/1. */
static __always_inline int h1_detect(struct lsk_walk *w, struct lsk_conn *c)
{
	__u8 p[8] = {};
	__u32 n = w->len < 8 ? w->len : 8;

	if (c->proto)
		return c->proto == LS_PROTO_H1;
	barrier_var(n);
	if (c->is_h2 || n < 5 || n > 8 || bpf_probe_read_user(p, n, (const void *)w->buf))
		goto other;
	if (!h1_looks_like(p, n, w->out)) {
		/* A server's first write may come before any read (HTTP/2's SETTINGS): only a read decides. */
		if (w->out)
			return 0;
		goto other;
	}
	c->proto = LS_PROTO_H1;
	return 1;
other:
	if (!w->out)
		c->proto = LS_PROTO_OTHER;
	return 0;
}

static __always_inline struct lsk_req *h1_req(struct lsk_walk *w, __u32 seq)
{
	struct ls_req_key k = { .conn = w->conn, .pid = w->pid, .stream = seq };

	return bpf_map_lookup_elem(&reqs, &k);
}

/* The request line (or its part in this buffer) up to end, to user space. */
static __always_inline void h1_emit_line(struct lsk_walk *w, struct lsk_h1walk *h, __u32 end, __u32 flags)
{
	__u32 n = end > h->line_at ? end - h->line_at : 0;

	if (h->d.flags & H1S_F_LINE_CONT)
		flags |= LS_HD_CONT;
	if (n > H1_LINE_MAX) {
		n = H1_LINE_MAX;
		flags |= LS_HD_TRUNC;
	}
	ls_emit_headers(w, h->cur, h->line_at, n, flags | LS_HD_HTTP1);
}

/* A message starts: a request opens, a response takes the oldest request not yet answered. */
static __always_inline void h1_start(struct lsk_walk *w, struct lsk_h1walk *h)
{
	struct lsk_req *r;
	__u32 seq;

	if (!h->out) {
		struct ls_req_key k = { .conn = w->conn, .pid = w->pid };

		seq = ++h->d.seq;
		h->cur = seq;
		/*
		 * A number opens once per connection: an entry already there is a request of an
		 * earlier connection at this address that never got its response.
		 */
		k.stream = seq;
		bpf_map_delete_elem(&reqs, &k);
		ls_open_request(w, seq);
		r = h1_req(w, seq);
		if (r)
			r->flags |= LS_RQ_HTTP1;
		ls_batch_add(w, seq, 0, 0);
		return;
	}
	if (h->d.flags & H1S_F_INTERIM) {
		/* The final response after a 1xx: the same request's. */
		h->d.flags &= ~H1S_F_INTERIM;
		h->cur = h->d.seq;
	} else if (h->d.seq < h->in_seq) {
		h->cur = ++h->d.seq;
	} else {
		h->cur = 0;
	}
	if (!h->cur) {
		h->d.flags |= H1S_F_ORPHAN;
		return;
	}
	if (h->in_heads & (1ULL << (h->cur & 63)))
		h->d.flags |= H1S_F_NOBODY;
	ls_batch_add(w, h->cur, LS_BATCH_HEADERS, 0);
}

/* What one byte's events do to the walk; pos is the byte's place in the buffer. */
__noinline int ls_h1_event(struct lsk_walk *w, struct lsk_h1walk *h, __u32 ev, __u32 pos)
{
	struct lsk_req *r;

	if (!w || !h)
		return 0;
	if (ev & H1S_E_BAD) {
		count(LS_CNT_H1_DESYNC);
		return 0;
	}
	if (ev & H1S_E_START) {
		h->line_at = pos;
		h1_start(w, h);
	}
	if ((ev & H1S_E_LINE_END) && h->cur) {
		if (!h->out) {
			__u64 bit = 1ULL << (h->cur & 63);

			h->d.heads = (h->d.flags & H1S_F_HEAD) ? h->d.heads | bit : h->d.heads & ~bit;
			h1_emit_line(w, h, pos, LS_HD_END);
			h->d.flags &= ~H1S_F_LINE_CONT;
		} else if ((r = h1_req(w, h->cur))) {
			r->status = h->d.status;
		}
	}
	if ((ev & H1S_E_END) && h->cur)
		ls_batch_add(w, h->cur, LS_BATCH_END_STREAM, 0);
	return 0;
}

/* Bytes of chunk[] from at up to the next LF or the chunk's end. */
__noinline int ls_h1_to_lf(struct lsk_h1walk *h, __u32 at)
{
	__u32 i;

	if (!h)
		return 0;
	for (i = 0; i < H1_CHUNK; i++) {
		__u32 j = at + i;

		if (j >= h->have || h->chunk[j & (H1_CHUNK - 1)] == '\n')
			break;
	}
	return (int)i;
}

/* One step of the walk: a body skip, bytes up to a line's end, or one head byte. 1 when the buffer is done. */
__noinline int ls_h1_unit(struct lsk_walk *w, struct lsk_h1walk *h)
{
	__u32 len, at, n;
	int ev = 0;
	__u8 st;

	if (!w || !h)
		return 1;
	len = w->len;
	st = h->d.state;
	if (h->off >= len || st == H1S_LOST || st == H1S_GONE)
		return 1;
	if (st == H1S_EOF) {
		if (h->cur)
			ls_batch_add(w, h->cur, 0, len - h->off);
		h->off = len;
		return 1;
	}
	if (st == H1S_BODY) {
		n = (__u32)h1s_body(&h->d, len - h->off, &ev);
		h->off += n;
		if (h->cur)
			ls_batch_add(w, h->cur, (ev & H1S_E_END) ? LS_BATCH_END_STREAM : 0, n);
		return 0;
	}
	at = h->off - h->chunk_off;
	if (h->off < h->chunk_off || at >= h->have) {
		/* 64-bit: the verifier bounds the read's size by 64-bit comparisons. */
		__u64 rd = len - h->off;

		if (rd > H1_CHUNK)
			rd = H1_CHUNK;
		barrier_var(rd);
		if (rd < 1 || rd > H1_CHUNK || bpf_probe_read_user(h->chunk, rd, (const void *)(w->buf + h->off)))
			return 1;
		h->chunk_off = h->off;
		h->have = (__u32)rd;
		at = 0;
	}
	/* Bytes that only lead to the line's end: skipped in one step (most of a head is such). */
	if (h1s_skippable(&h->d, h->out)) {
		n = ls_h1_to_lf(h, at);
		if (n) {
			if (h1s_skip(&h->d, n) & H1S_E_BAD) {
				count(LS_CNT_H1_DESYNC);
				return 1;
			}
			h->off += n;
			return 0;
		}
	}
	ev = h1s_byte(&h->d, h->chunk[at & (H1_CHUNK - 1)], h->out);
	h->off++;
	if (ev)
		ls_h1_event(w, h, (__u32)ev, h->off - 1);
	return 0;
}

struct lsk_h1_ctx {
	struct lsk_walk *w;
	struct lsk_h1walk *h;
};

static long h1_unit_cb(__u32 i, void *ctx)
{
	struct lsk_h1_ctx *x = ctx;

	(void)i;
	return ls_h1_unit(x->w, x->h) ? 1 : 0;
}

/* The end of a buffer: a request line that runs on, a response delimited by close. */
static __always_inline void h1_buffer_end(struct lsk_walk *w, struct lsk_h1walk *h)
{
	__u8 st = h->d.state;

	if (h->off < w->len && st != H1S_LOST && st != H1S_GONE) {
		/* More head bytes than one walk reads: not HTTP/1 as followed here. */
		h->d.state = H1S_LOST;
		count(LS_CNT_H1_DESYNC);
		return;
	}
	if (st == H1S_LINE && !h->out && h->cur) {
		h1_emit_line(w, h, w->len, 0);
		h->d.flags |= H1S_F_LINE_CONT;
	}
	if (st == H1S_EOF) {
		/* No length: the response ends with the connection; taken as whole with this write. */
		if (h->cur)
			ls_batch_add(w, h->cur, LS_BATCH_END_STREAM, 0);
		h->d.state = H1S_IDLE;
	}
}

/*
 * The buffer at the start of a walk: a lost direction resynchronises when it
 * starts a message; a message running on from the last buffer is carried by it.
 */
static __always_inline int h1_buffer_start(struct lsk_walk *w, struct lsk_h1walk *h)
{
	__u8 c0 = 0;

	if (h->d.state == H1S_GONE)
		return 0;
	if (h->d.state == H1S_LOST) {
		if (bpf_probe_read_user(&c0, 1, (const void *)w->buf) || !h1s_starts(c0, h->out))
			return 0;
		h->d.state = H1S_IDLE;
		h->d.flags = 0;
	}
	h->cur = 0;
	if (h->d.state != H1S_IDLE && !(h->d.flags & H1S_F_ORPHAN))
		h->cur = h->d.seq;
	if (h->cur)
		ls_batch_add(w, h->cur, 0, 0);
	return 1;
}

/* Walk the scratch's buffer of conn c (NULL: w's, looked up) if it is HTTP/1; 0 when it is not (the HTTP/2 walk's). */
__noinline int ls_h1_walk(struct lsk_walk *w, struct lsk_conn *c)
{
	struct ls_conn_key ck = {};
	struct lsk_h1_ctx x;
	struct lsk_h1walk *h;
	__u32 zero = 0;

	/* The syscall reader passes none: w names it. */
	if (w && !c) {
		ck.conn = w->conn;
		ck.pid = w->pid;
		c = bpf_map_lookup_elem(&conns, &ck);
	}
	if (!w || !c || !h1_detect(w, c))
		return 0;
	h = bpf_map_lookup_elem(&h1_scratch, &zero);
	if (!h)
		return 1;
	h->out = w->out;
	h->d = w->out ? c->h1out : c->h1in;
	h->in_seq = c->h1in.seq;
	h->in_heads = c->h1in.heads;
	h->off = 0;
	h->chunk_off = 0;
	h->have = 0;
	h->line_at = 0;
	if (h1_buffer_start(w, h)) {
		x.w = w;
		x.h = h;
		bpf_loop(H1_UNITS_MAX, h1_unit_cb, &x, 0);
		h1_buffer_end(w, h);
	}
	if (w->out)
		c->h1out = h->d;
	else
		c->h1in = h->d;
	return 1;
}
