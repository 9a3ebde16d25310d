/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The HTTP/2 walk: frames of each TLS plaintext buffer, followed with bpf/h2split.h.
 * Part of bpf/latscope.bpf.c (one object, one skeleton): included from there, in order.
 */

/* ---- HTTP/2 framing ------------------------------------------------------------ */

struct ls_batch_ent {
	__u32 stream;
	__u32 flags; /* bit 0: END_STREAM seen, bit 1: HEADERS opened it */
	__u64 bytes;
};

struct ls_walk {
	/* input */
	const __u8 *buf;
	__u32 len;
	__u32 pid;
	__u64 conn;
	__u64 start;     /* entry time of the call that carried the buffer */
	__u16 hd_flags;  /* LS_HD_OUT, LS_HD_JOINED */
	__u8 out;
	__u8 _pad;
	/* state */
	__u32 off;
	__u32 nbatch;
	__u32 opened;    /* requests this buffer started */
	__u32 finished;  /* requests this buffer ended */
	__u64 queue;     /* how long its bytes waited in the socket before the call began */
	struct ls_batch_ent batch[BATCH_MAX];
};

struct ls_attrib;

/*
 * What bpf_loop callbacks work on. It lives on the stack: the verifier passes
 * only stack pointers as loop context, and pointers kept in map values would
 * lose their type.
 */
struct ls_loop {
	struct ls_walk *w;
	struct ls_attrib *a;
	struct ls_conn *c;
	struct ls_h2dir *d;
	struct ls_thread *t;
};

static __always_inline void batch_add(struct ls_walk *w, __u32 stream, __u32 flags, __u64 bytes)
{
	__u32 i = w->nbatch - 1;

	/* Frames of one stream are usually adjacent: try the last entry first. */
	barrier_var(i);
	if (i < BATCH_MAX && w->batch[i].stream == stream) {
		w->batch[i].flags |= flags;
		w->batch[i].bytes += bytes;
		return;
	}
	for (i = 0; i < BATCH_MAX; i++) {
		if (i >= w->nbatch)
			break;
		barrier_var(i);
		if (i >= BATCH_MAX)
			break;
		if (w->batch[i].stream == stream) {
			w->batch[i].flags |= flags;
			w->batch[i].bytes += bytes;
			return;
		}
	}
	i = w->nbatch;
	barrier_var(i);
	if (i >= BATCH_MAX) {
		count(LS_CNT_BATCH_FULL);
		return;
	}
	w->batch[i].stream = stream;
	w->batch[i].flags = flags;
	w->batch[i].bytes = bytes;
	w->nbatch++;
}

/* Copy part of a header block to user space, which owns HPACK. */
static __always_inline void emit_headers(struct ls_walk *w, __u32 stream, const __u8 *src, __u32 len, __u16 flags)
{
	__u32 zero = 0, n = len;
	struct ls_headers *h;

	if (!emit_requests)
		return;
	h = bpf_map_lookup_elem(&hd_scratch, &zero);
	if (!h)
		return;
	if (n >= LS_HD_MAX) {
		n = LS_HD_MAX - 1;
		flags |= LS_HD_TRUNC;
	}
	h->type = LS_REC_HEADERS;
	h->flags = flags | w->hd_flags;
	h->pid = w->pid;
	h->stream = stream;
	h->conn = w->conn;
	barrier_var(n);
	n &= LS_HD_MAX - 1; /* a no-op after the clamp, and the bound the verifier needs */
	if (n && bpf_probe_read_user(h->data, n, src))
		return;
	h->len = n;
	if (bpf_ringbuf_output(&events, h, offsetof(struct ls_headers, data) + n, rb_flags()))
		count(LS_CNT_RB_DROPS);
}

static __always_inline void open_request(struct ls_walk *w, __u32 stream)
{
	struct ls_req_key k = { .conn = w->conn, .pid = w->pid, .stream = stream };
	struct ls_req *r;

	if (bpf_map_lookup_elem(&reqs, &k))
		return;
	if (bpf_map_update_elem(&reqs, &k, &zero_req, BPF_NOEXIST)) {
		count(LS_CNT_REQ_TABLE_FULL);
		return;
	}
	r = bpf_map_lookup_elem(&reqs, &k);
	if (r) {
		/* The request starts when its bytes reached the socket; the wait before the read is queue. */
		r->start = w->start - w->queue;
		r->ph[LS_PH_QUEUE] = w->queue;
		w->opened++;
	}
}

/* The frame splitter (bpf/h2split.h) walks a buffer of the loop's direction; its events act here. */
#define H2S_CTX struct ls_loop
#define H2S_BUF(L) ((L)->w->buf)
#define H2S_LEN(L) ((L)->w->len)
#define H2S_OFF(L) ((L)->w->off)
#define H2S_DIR(L) ((L)->d)
#include "h2split.h"

static __always_inline void h2s_on_frame(struct ls_loop *L, const struct h2s_frame *f)
{
	struct ls_walk *w = L->w;

	/*
	 * Headers on a connection whose preface was never seen (in either
	 * direction: a server may send SETTINGS before reading the client's
	 * preface): latscope joined it mid-flight, without its HPACK context.
	 */
	if (f->type == H2_HEADERS && !L->c->is_h2 && !(L->c->flags & LS_RQ_JOINED)) {
		L->c->flags |= LS_RQ_JOINED;
		w->hd_flags |= LS_HD_JOINED;
	}
	if (!f->stream)
		return;
	if (f->type == H2_HEADERS || f->type == H2_CONTINUATION) {
		if (f->type == H2_HEADERS && !w->out && (f->stream & 1))
			open_request(w, f->stream);
		batch_add(w, f->stream, ((f->flags & H2_F_END_STREAM) ? 1 : 0) | (f->type == H2_HEADERS ? 2 : 0), 0);
	} else if (f->type == H2_DATA) {
		batch_add(w, f->stream, (f->flags & H2_F_END_STREAM) ? 1 : 0, f->len);
	} else if (f->type == H2_RST_STREAM) {
		struct ls_req_key k = { .conn = w->conn, .pid = w->pid, .stream = f->stream };

		bpf_map_delete_elem(&reqs, &k);
	}
}

static __always_inline void h2s_on_rest(struct ls_loop *L, const struct ls_h2dir *d, __u32 n, int last)
{
	if (d->cur_stream)
		batch_add(L->w, d->cur_stream, last && (d->cur_flags & H2_F_END_STREAM) ? 1 : 0, 0);
}

static __always_inline void h2s_on_block(struct ls_loop *L, __u32 stream, __u32 off, __u32 len, __u16 flags)
{
	emit_headers(L->w, stream, L->w->buf + off, len, flags);
}

static __always_inline void h2s_on_preface(struct ls_loop *L)
{
	L->c->is_h2 = 1;
}

static __always_inline void h2s_on_desync(struct ls_loop *L)
{
	count(LS_CNT_H2_DESYNC);
	L->c->flags |= LS_RQ_JOINED;
}

/* Follow the frames of one buffer of a connection direction; fills w->batch. */
static __always_inline void walk_buffer(struct ls_loop *L)
{
	if (L->c->flags & LS_RQ_JOINED)
		L->w->hd_flags |= LS_HD_JOINED;
	h2s_walk(L);
}
