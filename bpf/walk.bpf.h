/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The HTTP/2 walk: frames of each TLS plaintext buffer, followed with bpf/h2split.h.
 * Part of bpf/latscope.bpf.c (one object, one skeleton): included from there, in order.
 *
 * Everything one walk touches lives in one per-CPU scratch value (struct
 * ls_walk), the direction's framing state copied in and out, so that each
 * step is a global function the verifier checks once, whatever the loop
 * around it: a bpf_loop callback is explored until its states converge,
 * and a large inlined body multiplies that work by every path through it.
 */

struct lsk_batch_ent {
	__u32 stream;
	__u32 flags; /* LS_BATCH_* */
	__u64 bytes;
	__u64 msg_fp; /* the last whole DATA frame's end (msg_fp_at), 0: none */
};

struct lsk_walk {
	/* input */
	__u64 buf;       /* the plaintext, in the target */
	__u32 len;
	__u32 pid;
	__u64 conn;
	__u64 start;     /* entry time of the call that carried the buffer */
	__u16 hd_flags;  /* LS_HD_OUT, LS_HD_JOINED */
	__u8 out;
	__u8 is_h2;      /* copy of the connection's: the preface was seen */
	__u32 conn_flags; /* copy of the connection's LS_RQ_JOINED */
	__u16 seqwait;   /* LS_HD_SEQWAIT on its request blocks, or 0 */
	__u16 _pad;
	__u32 blocks_in; /* request header blocks sent */
	struct ls_h2dir dir; /* copy of the direction's framing state */
	/* what the call that carried it spent: its share goes to each stream */
	__u64 self_ns;
	__u64 net_ns;
	__u64 h2_ns;
	__u64 now;
	__u32 tid;
	__u32 bio;       /* the TLS call had no socket: kernel time is matched by thread and time */
	/* state */
	__u32 off;
	__u32 nbatch;
	__u32 opened;    /* requests this buffer started */
	__u32 finished;  /* requests this buffer ended */
	__u64 queue;     /* how long its bytes waited in the socket before the call began */
	__u64 fp_read;   /* msg_fp_at()'s bytes for the next ls_batch_add(), here rather than on the stack */
	struct lsk_batch_ent batch[BATCH_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lsk_walk);
} walk_scratch SEC(".maps");

/* This CPU's walk, reset for a new buffer. */
static __always_inline struct lsk_walk *scratch(void)
{
	__u32 zero = 0;
	struct lsk_walk *w = bpf_map_lookup_elem(&walk_scratch, &zero);

	if (w) {
		w->self_ns = w->net_ns = w->h2_ns = w->now = 0;
		w->tid = w->bio = 0;
		w->off = 0;
		w->fp_read = 0;
		w->nbatch = 0;
		w->opened = 0;
		w->finished = 0;
		w->hd_flags = 0;
		w->seqwait = 0;
		w->blocks_in = 0;
	}
	return w;
}

/* Looking for a stream in the batch (a bpf_loop callback: its context lives on the stack). */
struct lsk_find_ctx {
	struct lsk_walk *w;
	__u32 stream;
	__u32 at; /* its index, or BATCH_MAX */
};

static long find_stream_cb(__u32 i, void *ctx)
{
	struct lsk_find_ctx *f = ctx;
	struct lsk_walk *w = f->w;

	if (i >= w->nbatch)
		return 1;
	barrier_var(i);
	if (i >= BATCH_MAX)
		return 1;
	if (w->batch[i].stream != f->stream)
		return 0;
	f->at = i;
	return 1;
}

/* The stream's entry of this buffer's batch: flags or'ed in, bytes added. */
__noinline int ls_batch_add(struct lsk_walk *w, __u32 stream, __u32 flags, __u64 bytes)
{
	struct lsk_find_ctx f = { .w = w, .stream = stream, .at = BATCH_MAX };
	__u32 i, n;

	if (!w)
		return 0;
	n = w->nbatch;
	/* Frames of one stream are usually adjacent: try the last entry first. */
	i = n - 1;
	barrier_var(i);
	if (i < BATCH_MAX && w->batch[i].stream == stream)
		goto found;
	bpf_loop(BATCH_MAX, find_stream_cb, &f, 0);
	i = f.at;
	if (i < BATCH_MAX)
		goto found;
	i = n;
	barrier_var(i);
	if (i >= BATCH_MAX) {
		count(LS_CNT_BATCH_FULL);
		return 0;
	}
	w->batch[i].stream = stream;
	w->batch[i].flags = 0;
	w->batch[i].bytes = 0;
	w->batch[i].msg_fp = 0;
	w->nbatch = i + 1;
found:
	barrier_var(i);
	if (i >= BATCH_MAX)
		return 0;
	w->batch[i].flags |= flags;
	w->batch[i].bytes += bytes;
	if (w->fp_read)
		w->batch[i].msg_fp = w->fp_read;
	w->fp_read = 0;
	return 0;
}

/*
 * A request's message as its decode will know it: the last 8 bytes of a DATA
 * payload that ends at end in this buffer (8 or more of its bytes here), else
 * 0. The last DATA frame's is the message's (one message: a unary call).
 * Memory-BIO servers whose decodes run apart from their reads (gRPC Python)
 * tell requests apart by it (ls_take_read_whole).
 */
static __always_inline void msg_fp_at(struct lsk_walk *w, __u32 end, __u32 here)
{
	w->fp_read = 0;
	if (here < sizeof(w->fp_read) || end < sizeof(w->fp_read) || end > w->len || w->out || !w->bio || !track_proto)
		return;
	if (bpf_probe_read_user(&w->fp_read, sizeof(w->fp_read), (void *)(w->buf + end - sizeof(w->fp_read))))
		w->fp_read = 0;
}

/* Copy part of a header block (len bytes at off of the buffer) to user space, which owns HPACK. */
__noinline int ls_emit_headers(struct lsk_walk *w, __u32 stream, __u32 off, __u32 len, __u32 flags)
{
	__u32 zero = 0, n = len;
	struct ls_headers *h;

	if (!w || !emit_requests)
		return 0;
	h = bpf_map_lookup_elem(&hd_scratch, &zero);
	if (!h)
		return 0;
	if (n >= LS_HD_MAX) {
		n = LS_HD_MAX - 1;
		flags |= LS_HD_TRUNC;
	}
	h->type = LS_REC_HEADERS;
	h->flags = (__u16)(flags | w->hd_flags);
	h->pid = w->pid;
	h->stream = stream;
	h->conn = w->conn;
	barrier_var(n);
	n &= LS_HD_MAX - 1; /* a no-op after the clamp, and the bound the verifier needs */
	if (n && bpf_probe_read_user(h->data, n, (const void *)(w->buf + off)))
		return 0;
	h->len = n;
	if (!w->out) {
		/* A preface in this buffer: the connection starts here, its table with it. */
		h->flags |= w->is_h2 ? 0 : w->seqwait;
		w->blocks_in += (flags & LS_HD_END) ? 1 : 0;
	}
	if (bpf_ringbuf_output(&events, h, offsetof(struct ls_headers, data) + n, rb_flags()))
		count(LS_CNT_RB_DROPS);
	return 0;
}

/* A HEADERS frame from the client opens its stream's request (once). */
__noinline int ls_open_request(struct lsk_walk *w, __u32 stream)
{
	struct ls_req_key k = {};
	struct lsk_req *r;

	if (!w)
		return 0;
	k.conn = w->conn;
	k.pid = w->pid;
	k.stream = stream;
	if (bpf_map_lookup_elem(&reqs, &k))
		return 0;
	if (bpf_map_update_elem(&reqs, &k, &zero_req, BPF_NOEXIST)) {
		count(LS_CNT_REQ_TABLE_FULL);
		return 0;
	}
	r = bpf_map_lookup_elem(&reqs, &k);
	if (r) {
		/* The request starts when its bytes reached the socket; the wait before the read is queue. */
		r->start = w->start - w->queue;
		r->ph[LS_PH_QUEUE] = w->queue;
		w->opened++;
	}
	return 0;
}

/*
 * A RST_STREAM frame of a stream with a request open. A client's is acted on here: the
 * walk's attribution of a read ends no request, so no order is owed. One that gives up
 * (CANCEL, any error) ends the request, counted; NO_ERROR says the client has its
 * response, whose write may not have been walked yet (its bytes reach the client before
 * the call returns): marked, and user space's sweep forgets it a while later if no
 * response ended it (ls_session_poll()). A flood of resets takes no place in the batch
 * and leaves nothing behind. The server's is acted on after the walk, in its stream's
 * turn (LS_BATCH_RESET): a server may end a response and reset the stream in one write
 * (grpc-go does when the client had not half-closed). Its own frame, a leaf: the walk's
 * deepest calls stay as they were (older verifiers add their frames up to 512 bytes).
 */
__noinline __u32 ls_reset(struct lsk_walk *w, __u32 stream, __u32 pay_off, __u32 avail)
{
	struct ls_req_key k = {};
	struct lsk_req *r;
	__u32 code = 0; /* NO_ERROR, also when the code is in the next buffer */

	if (!w)
		return 0;
	k.conn = w->conn;
	k.pid = w->pid;
	k.stream = stream;
	r = bpf_map_lookup_elem(&reqs, &k);
	if (!r)
		return 0;
	if (w->out)
		return LS_BATCH_RESET;
	if (avail >= 4 && bpf_probe_read_user(&code, sizeof(code), (const void *)(w->buf + pay_off)))
		code = 0;
	if (r->flags & LS_RQ_RESP_ENDED)
		return 0;
	if (code) {
		count(LS_CNT_REQ_RESET);
		bpf_map_delete_elem(&reqs, &k);
	} else if (!r->reset_at) {
		r->reset_at = bpf_ktime_get_ns();
	}
	return 0;
}

/* The frame splitter (bpf/h2split.h) walks the scratch's buffer; its events act here. */
static __always_inline void ls_walk_frames(struct lsk_walk *w);
struct lsk_h2hdr {
	__u8 b[9];
};
__noinline int ls_h2_frame(struct lsk_walk *w, const struct lsk_h2hdr *h, __u32 pay_off);
#define H2S_CTX struct lsk_walk
#define H2S_BUF(L) ((const __u8 *)(L)->buf)
#define H2S_LEN(L) ((L)->len)
#define H2S_OFF(L) ((L)->off)
#define H2S_DIR(L) (&(L)->dir)
#define H2S_FRAMES(L) ls_walk_frames(L)
#define H2S_FRAME(L, d, h, off) ls_h2_frame(L, (const struct lsk_h2hdr *)(h), off)
#include "h2split.h"

static __always_inline void h2s_on_frame(struct lsk_walk *w, const struct h2s_frame *f)
{
	/*
	 * Headers on a connection whose preface was never seen (in either
	 * direction: a server may send SETTINGS before reading the client's
	 * preface): latscope joined it mid-flight, without its HPACK context.
	 */
	if (f->type == H2_HEADERS && !w->is_h2 && !(w->conn_flags & LS_RQ_JOINED)) {
		w->conn_flags |= LS_RQ_JOINED;
		w->hd_flags |= LS_HD_JOINED;
	}
	if (!f->stream)
		return;
	if (f->type == H2_HEADERS || f->type == H2_CONTINUATION) {
		if (f->type == H2_HEADERS && !w->out && (f->stream & 1))
			ls_open_request(w, f->stream);
		ls_batch_add(w, f->stream, ((f->flags & H2_F_END_STREAM) ? LS_BATCH_END_STREAM : 0) |
						   (f->type == H2_HEADERS ? LS_BATCH_HEADERS : 0), 0);
	} else if (f->type == H2_DATA) {
		if (f->avail == f->len)
			msg_fp_at(w, f->pay_off + f->len, f->len);
		ls_batch_add(w, f->stream, (f->flags & H2_F_END_STREAM) ? LS_BATCH_END_STREAM : 0, f->len);
	} else if (f->type == H2_RST_STREAM) {
		__u32 fl = ls_reset(w, f->stream, f->pay_off, f->avail);

		if (fl)
			ls_batch_add(w, f->stream, fl, 0);
	}
}

static __always_inline void h2s_on_rest(struct lsk_walk *w, const struct ls_h2dir *d, __u32 n, int last)
{
	if (d->cur_stream) {
		if (last && d->cur_type == H2_DATA)
			msg_fp_at(w, n, n);
		ls_batch_add(w, d->cur_stream, last && (d->cur_flags & H2_F_END_STREAM) ? LS_BATCH_END_STREAM : 0, 0);
	}
}

static __always_inline void h2s_on_block(struct lsk_walk *w, __u32 stream, __u32 off, __u32 len, __u16 flags)
{
	ls_emit_headers(w, stream, off, len, flags);
}

static __always_inline void h2s_on_preface(struct lsk_walk *w)
{
	w->is_h2 = 1;
}

static __always_inline void h2s_on_desync(struct lsk_walk *w)
{
	count(LS_CNT_H2_DESYNC);
	w->conn_flags |= LS_RQ_JOINED;
}

/* A frame header read whole: report the frame, skip its payload. */
__noinline int ls_h2_frame(struct lsk_walk *w, const struct lsk_h2hdr *h, __u32 pay_off)
{
	if (!w || !h)
		return 1;
	return h2s_frame(w, &w->dir, h->b, pay_off);
}

/* One frame: verified once, however many the loop runs. */
__noinline int ls_h2_step(struct lsk_walk *w)
{
	if (!w)
		return 1;
	return h2s_step(w);
}

/* bpf_loop's context must be on the stack: it carries the scratch pointer. */
struct lsk_walk_ctx {
	struct lsk_walk *w;
};

static long walk_frame_cb(__u32 i, void *ctx)
{
	(void)i;
	return ls_h2_step(((struct lsk_walk_ctx *)ctx)->w) ? 1 : 0;
}

static __always_inline void ls_walk_frames(struct lsk_walk *w)
{
	struct lsk_walk_ctx wc = { .w = w };

	bpf_loop(H2S_FRAMES_MAX, walk_frame_cb, &wc, 0);
}

/* Follow the frames of the scratch's buffer; fills w->batch. */
__noinline int ls_h2_walk(struct lsk_walk *w)
{
	if (!w)
		return 0;
	if (w->conn_flags & LS_RQ_JOINED)
		w->hd_flags |= LS_HD_JOINED;
	h2s_walk(w);
	return 0;
}
