// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * latscope's kernel side.
 *
 * Library uprobes (TLS, HTTP/2) push and pop a per-thread call stack, so every
 * call's self time is known exclusive of the probed calls nested inside it and
 * of the kernel network time it spent. HTTP/2 frames are followed in the TLS
 * plaintext of each connection; the streams a call carried receive its time as
 * a phase of their request. A request ends when the buffer carrying its
 * END_STREAM has been handed to the kernel; its record and the per-process
 * phase histograms are produced here. Header blocks go to user space, which
 * owns HPACK. Policy and formatting live in user space.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "latscope.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by user space before load. */
const volatile __u32 rb_wakeup_bytes = 4 << 20; /* wake the consumer past this fill */
const volatile __u8 emit_calls = 1;             /* per-call TLS and net records */
const volatile __u8 emit_requests = 1;          /* per-request records */
const volatile __u64 stale_ns = 10ULL * 1000000000ULL;
const volatile __u8 offcpu_all_threads = 1;   /* 0: only threads working on a request */
/* Features compiled out by the verifier when unused (older verifiers have less room). */
const volatile __u8 track_proto = 1;          /* decode/encode probes are attached */
const volatile __u8 track_thread_req = 1;     /* the profiler needs each thread's current request */
/* Live-tunable: requests at or over it are flagged slow. */
__u64 threshold_ns = 10 * 1000000ULL;

#define STACK_MAX 6
#define FRAMES_MAX 512  /* frame headers followed per buffer */
#define BATCH_MAX 128   /* streams one buffer can carry */
#define PEND_MAX 16     /* streams waiting for their HTTP/2 processing time */

#define H2_DATA 0
#define H2_HEADERS 1
#define H2_RST_STREAM 3
#define H2_CONTINUATION 9
#define H2_F_END_STREAM 0x1
#define H2_F_END_HEADERS 0x4
#define H2_F_PADDED 0x8
#define H2_F_PRIORITY 0x20

#define LS_RQ_RESP_STARTED (1u << 15) /* internal: response HEADERS seen */
#define LS_RQ_DEC_QUEUED   (1u << 14) /* internal: waiting in the memory-BIO decode queue */

/* ---- Maps ------------------------------------------------------------------- */

/* Processes under observation: tgid -> slot (0 .. LS_MAX_TARGETS-1). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LS_MAX_TARGETS);
	__type(key, __u32);
	__type(value, __u32);
} targets SEC(".maps");

/* One probed library call in flight on a thread. */
struct ls_call {
	__u64 start;
	__u64 child_ns;  /* time in nested probed calls of another kind, and in the kernel */
	__u64 net_ns;    /* kernel network time inside this call */
	__u64 obj;       /* SSL * or nghttp2_session * */
	__u64 buf;
	__u64 aux;       /* _ex: size_t *done; mem_send: const uint8_t **data */
	__u64 sp;        /* stack pointer at entry: its return comes back at sp + 8 */
	__u32 cookie;
	__s32 fd;
};

/* Decodes/encodes waiting to be matched with their request, per thread: one epoll round of
 * 4 connections x 10 streams must fit. A power of two. */
#define FIFO 64

struct ls_pending {
	__u64 conn;
	__u32 stream;
	__u32 bio;  /* read through a memory BIO (gRPC C++): see cur_conn */
};

#define FIN_MAX 8 /* responses written to a memory BIO, waiting for the thread's kernel send */

struct ls_thread {
	__u32 depth;
	__u8 slow_seen;  /* the threshold crossing of req_start's request was captured */
	__u8 _pad0[3];
	__u64 last_conn; /* the TLS connection this thread touched last */
	__u64 req_start; /* start of the request this thread last began reading, 0 when it finished */
	/*
	 * Requests completed by this thread's reads, in order: each outermost
	 * decode belongs to the oldest. Encodes, in order: each response that
	 * starts on this thread takes the oldest.
	 */
	__u32 dq_head, dq_tail, eq_head, eq_tail;
	struct ls_pending dq[FIFO];
	__u64 eq[FIFO];
	/*
	 * TLS over memory BIOs (gRPC C++): the kernel receive comes before the TLS read
	 * that decrypts it, and the send after the TLS write, on the same thread.
	 * Receive time outside any TLS call waits here for the thread's next TLS read;
	 * responses complete in plaintext wait in fin for the thread's next send.
	 */
	__u64 pend_net_in, pend_net_in_start;
	/*
	 * A memory-BIO server (gRPC C++) decodes a request and encodes its replies (a
	 * server stream has several) on one handler thread: encodes there go to the
	 * request that thread decoded last, while it runs.
	 */
	__u64 cur_conn;
	__u32 cur_stream;
	__u32 nfin;
	struct ls_pending fin[FIN_MAX];
	struct ls_call c[STACK_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32); /* tid */
	__type(value, struct ls_thread);
} threads SEC(".maps");

/*
 * Requests complete on memory-BIO connections (gRPC C++), per target slot, in order.
 * gRPC reads on a polling thread and decodes on whichever handler thread takes the
 * call: a decode with none of its own thread's requests takes the oldest here.
 */
struct ls_bio_queue {
	__u32 head, tail;
	struct ls_pending q[FIFO];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LS_MAX_TARGETS);
	__type(key, __u32);
	__type(value, struct ls_bio_queue);
} bio_queue SEC(".maps");

/* Following the HTTP/2 framing of one direction of a connection. */
struct ls_h2dir {
	__u32 skip;        /* payload bytes of the current frame still to come */
	__u32 cur_stream;
	__u8 cur_type;
	__u8 cur_flags;
	__u8 hdr_have;     /* bytes of a split frame header collected in hdr */
	__u8 started;      /* a buffer has been seen in this direction */
	__u8 desync;
	__u8 hdr[9];
	__u8 cont_skip;    /* header-block prefix bytes (pad length, priority) still to skip */
	__u8 cont_pad;     /* padding that trails the current header block */
};

struct ls_conn_key {
	__u64 conn;
	__u32 pid;
	__u32 _pad;
};

struct ls_conn {
	struct ls_h2dir in, out;
	__u64 pend_h2_out;          /* HTTP/2 output time not yet handed to a write */
	__u32 pend_in[PEND_MAX];    /* streams read but not yet through HTTP/2 processing */
	__u32 npend_in;
	__u32 flags;                /* LS_RQ_JOINED */
	__u8 is_h2;                 /* HTTP/2 framing recognised */
	__u8 _pad[7];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct ls_conn_key);
	__type(value, struct ls_conn);
} conns SEC(".maps");

/* nghttp2_session * -> the TLS connection it runs on (learnt on its thread). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} sessions SEC(".maps");

struct ls_req_key {
	__u64 conn;
	__u32 pid;
	__u32 stream;
};

struct ls_req {
	__u64 start;
	__u64 ph[LS_PHASE_COUNT];
	__u64 bytes_in, bytes_out;
	__u16 shared;
	__u16 flags;
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ls_req_key);
	__type(value, struct ls_req);
} reqs SEC(".maps");

/* SSL * -> socket fd learnt from a syscall made inside one of its calls. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __s32);
} ssl_fds SEC(".maps");

/* SSL * -> time of the first handshake call. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u64);
} hs_start SEC(".maps");

/* The socket syscall a thread is in. */
struct ls_sys_call {
	__u64 ts;
	__s32 fd;
	__u32 nr;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct ls_sys_call);
} sys_calls SEC(".maps");

/* A kernel tcp_sendmsg/tcp_recvmsg in flight (kprobe/fentry variants). */
struct ls_net_call {
	__u64 ts;
	__u64 sk;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct ls_net_call);
} net_calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LS_PROBE_MAX);
	__type(key, __u32);
	__type(value, struct ls_stats);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LS_MAX_TARGETS * LS_PH_SLOTS);
	__type(key, __u32);
	__type(value, struct ls_phase_stats);
} phase_stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LS_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

/* Scratch space for variable-length records (too large for the BPF stack). */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ls_headers);
} hd_scratch SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 16 << 20);
} events SEC(".maps");

/* Zeroed templates for new map entries (too large to build on the stack). */
static struct ls_thread zero_thread;
static struct ls_conn zero_conn;
static struct ls_req zero_req;

/* ---- Small helpers ------------------------------------------------------------ */

static __always_inline __u32 *target_slot(__u32 tgid)
{
	return bpf_map_lookup_elem(&targets, &tgid);
}

static __always_inline void count(__u32 which)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &which);

	if (c)
		*c += 1;
}

static __always_inline void hist_add(__u64 *hist, __u64 v)
{
	__u64 b = ls_hist_bucket(v);

	/* One register for the check and the index, or the verifier loses the bound. */
	barrier_var(b);
	if (b >= LS_HIST_BUCKETS)
		b = LS_HIST_BUCKETS - 1;
	hist[b]++;
}

static __always_inline void account(__u32 probe, int ok, __u64 bytes, __u64 dur)
{
	struct ls_stats *st = bpf_map_lookup_elem(&stats, &probe);

	if (!st)
		return;
	st->calls++;
	if (!ok) {
		st->fail++;
		return;
	}
	st->ok++;
	st->bytes += bytes;
	st->dur_sum_ns += dur;
	if (dur > st->dur_max_ns)
		st->dur_max_ns = dur;
	hist_add(st->hist, dur);
}

/*
 * Records are published without a wake-up; the consumer polls on a timer.
 * Only a buffer filling up forces one, so a burst is not lost to latency.
 */
static __always_inline __u64 rb_flags(void)
{
	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= rb_wakeup_bytes) {
		count(LS_CNT_RB_WAKEUPS);
		return BPF_RB_FORCE_WAKEUP;
	}
	return BPF_RB_NO_WAKEUP;
}

static __always_inline struct ls_event *reserve_event(void)
{
	struct ls_event *e;

	if (!emit_calls)
		return NULL;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(LS_CNT_RB_DROPS);
		return NULL;
	}
	__builtin_memset(e, 0, sizeof(*e));
	return e;
}

static __always_inline struct ls_call *top(struct ls_thread *t)
{
	__u32 i = t->depth - 1;

	barrier_var(i);
	if (i >= STACK_MAX)
		return NULL;
	return &t->c[i];
}

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
	char head[24];   /* the first bytes of a direction: the client preface? */
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
		r->start = w->start;
		w->opened++;
	}
}

/* A complete frame header: act on it, then skip its payload. */
static __always_inline int on_frame(struct ls_loop *L, const __u8 *h, __u32 pay_off)
{
	struct ls_walk *w = L->w;
	struct ls_h2dir *d = L->d;
	__u32 flen = ((__u32)h[0] << 16) | ((__u32)h[1] << 8) | h[2];
	__u8 type = h[3], flags = h[4];
	__u32 stream = (((__u32)h[5] << 24) | ((__u32)h[6] << 16) | ((__u32)h[7] << 8) | h[8]) & 0x7fffffff;
	__u32 avail = pay_off < w->len ? w->len - pay_off : 0;

	/* A frame longer than any peer would send means the walk lost the framing. */
	if (flen > (1 << 24) - 1 || type > 0x20) {
		d->desync = 1;
		count(LS_CNT_H2_DESYNC);
		return 1;
	}
	if (avail > flen)
		avail = flen;
	/*
	 * Headers on a connection whose preface was never seen (in either
	 * direction: a server may send SETTINGS before reading the client's
	 * preface): latscope joined it mid-flight, without its HPACK context.
	 */
	if (type == H2_HEADERS && !L->c->is_h2 && !(L->c->flags & LS_RQ_JOINED)) {
		L->c->flags |= LS_RQ_JOINED;
		w->hd_flags |= LS_HD_JOINED;
	}
	if (stream) {
		if (type == H2_HEADERS || type == H2_CONTINUATION) {
			__u32 skip = 0, pad = 0;
			__u16 hf = (flags & H2_F_END_HEADERS) && avail == flen ? LS_HD_END : 0;

			if (type == H2_HEADERS) {
				if (flags & H2_F_PADDED) {
					__u8 p = 0;

					/* A pad length not in this buffer: the block cannot be delimited. */
					if (avail < 1 || bpf_probe_read_user(&p, 1, w->buf + pay_off))
						hf |= LS_HD_TRUNC;
					pad = p;
					skip = 1;
				}
				if (flags & H2_F_PRIORITY)
					skip += 5;
				if (!w->out && (stream & 1))
					open_request(w, stream);
			} else {
				hf |= LS_HD_CONT;
			}
			/*
			 * Every block fragment is sent, even an empty one: it tells user
			 * space a new block starts on this stream. Padding trails the block;
			 * a block cut by the buffer end carries none yet.
			 */
			if (avail == flen && flen >= skip + pad)
				emit_headers(w, stream, w->buf + pay_off + skip, flen - skip - pad, hf);
			else if (avail > skip)
				emit_headers(w, stream, w->buf + pay_off + skip, avail - skip, hf);
			else
				emit_headers(w, stream, w->buf, 0, hf);
			if (avail < flen) {
				d->cont_skip = avail < skip ? skip - avail : 0;
				d->cont_pad = pad;
			}
			batch_add(w, stream, ((flags & H2_F_END_STREAM) ? 1 : 0) | (type == H2_HEADERS ? 2 : 0), 0);
		} else if (type == H2_DATA) {
			batch_add(w, stream, (flags & H2_F_END_STREAM) ? 1 : 0, flen);
		} else if (type == H2_RST_STREAM) {
			struct ls_req_key k = { .conn = w->conn, .pid = w->pid, .stream = stream };

			bpf_map_delete_elem(&reqs, &k);
		}
	}
	w->off = pay_off + flen;
	if (w->off > w->len) {
		d->skip = w->off - w->len;
		d->cur_type = type;
		d->cur_flags = flags;
		d->cur_stream = stream;
	}
	return 0;
}

static long walk_one(__u32 i, void *ctx)
{
	struct ls_loop *L = ctx;
	struct ls_walk *w = L->w;
	struct ls_h2dir *d = L->d;
	__u8 h[9];

	if (d->desync || w->off >= w->len)
		return 1;
	if (w->len - w->off < 9) {
		/* A frame header split across buffers: keep its first bytes. */
		__u32 n = w->len - w->off;

		if (n > 8)
			return 1;
		barrier_var(n);
		n &= 15; /* the verifier's bound; n <= 8 already */
		if (n > 8)
			return 1;
		if (n && bpf_probe_read_user(d->hdr, n, w->buf + w->off))
			return 1;
		d->hdr_have = n;
		w->off = w->len;
		return 1;
	}
	if (bpf_probe_read_user(h, 9, w->buf + w->off))
		return 1;
	return on_frame(L, h, w->off + 9);
}

static const char preface[24] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

static __always_inline int is_preface(const char *head)
{
	int i;

#pragma unroll
	for (i = 0; i < 24; i++)
		if (head[i] != preface[i])
			return 0;
	return 1;
}

/* Follow the frames of one buffer of a connection direction; fills w->batch. */
static __always_inline void walk_buffer(struct ls_loop *L)
{
	struct ls_walk *w = L->w;
	struct ls_conn *c = L->c;
	struct ls_h2dir *d = L->d;

	w->off = 0;
	if (!d->started) {
		d->started = 1;
		if (w->len >= 24 && !bpf_probe_read_user(w->head, 24, w->buf) &&
		    is_preface(w->head)) {
			w->off = 24;
			c->is_h2 = 1;
		}
	}
	if (c->flags & LS_RQ_JOINED)
		w->hd_flags |= LS_HD_JOINED;
	if (d->desync)
		return;
	/* The payload of a frame that started in an earlier buffer. */
	if (d->skip) {
		__u32 n = d->skip < w->len ? d->skip : w->len;

		if (d->cur_stream && (d->cur_type == H2_HEADERS || d->cur_type == H2_CONTINUATION)) {
			__u16 hf = LS_HD_CONT;
			__u32 lead = d->cont_skip < n ? d->cont_skip : n, len = n - lead;
			__u32 pad = n == d->skip ? d->cont_pad : 0;

			if (n == d->skip && (d->cur_flags & H2_F_END_HEADERS))
				hf |= LS_HD_END;
			d->cont_skip -= lead;
			if (pad > len)
				hf |= LS_HD_TRUNC;
			else
				len -= pad;
			emit_headers(w, d->cur_stream, w->buf + lead, len, hf);
		}
		if (d->cur_stream)
			batch_add(w, d->cur_stream, n == d->skip && (d->cur_flags & H2_F_END_STREAM) ? 1 : 0, 0);
		d->skip -= n;
		w->off = n;
	}
	/* The rest of a frame header split across buffers. */
	if (d->hdr_have && w->off < w->len) {
		__u8 h[9] = {};
		__u32 have = d->hdr_have, need = 9 - have;

		if (have > 8)
			return;
		__builtin_memcpy(h, d->hdr, 8);
		if (w->len - w->off < need) {
			d->desync = 1; /* pathological: a header split over three buffers */
			return;
		}
		barrier_var(have);
		have &= 15; /* 1..8 already: the bound for the verifier */
		need = 9 - have;
		barrier_var(need);
		need &= 15;
		if (need < 1 || need > 8)
			return;
		if (bpf_probe_read_user(&h[9 - need], need, w->buf + w->off))
			return;
		d->hdr_have = 0;
		if (on_frame(L, h, w->off + need))
			return;
	}
	bpf_loop(FRAMES_MAX, walk_one, L, 0);
	if (w->off < w->len && !d->desync && !d->hdr_have) {
		d->desync = 1;
		count(LS_CNT_H2_DESYNC);
	}
	if (d->desync) {
		/* Resynchronise at the next buffer: writers flush whole frames most of the time. */
		d->desync = 0;
		d->skip = 0;
		d->hdr_have = 0;
		c->flags |= LS_RQ_JOINED;
	}
}

/* ---- Requests -------------------------------------------------------------------- */

struct ls_attrib {
	__u64 self_ns;
	__u64 net_ns;
	__u64 h2_ns;
	__u64 now;
	__u32 tid;
	__u32 bio;  /* the TLS call had no socket: kernel time is matched by thread and time */
};

struct ls_scratch {
	struct ls_walk w;
	struct ls_attrib a;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ls_scratch);
} walk_scratch SEC(".maps");

static __always_inline struct ls_scratch *scratch(void)
{
	__u32 zero = 0;
	struct ls_scratch *sc = bpf_map_lookup_elem(&walk_scratch, &zero);

	if (sc) {
		__builtin_memset(&sc->a, 0, sizeof(sc->a));
		sc->w.off = 0;
		sc->w.nbatch = 0;
		sc->w.opened = 0;
		sc->w.finished = 0;
		sc->w.hd_flags = 0;
	}
	return sc;
}

static __always_inline void finish_request(struct ls_req_key *k, struct ls_req *r, __u64 now, __u32 tid,
					   __u32 conn_flags)
{
	__u32 *slot = target_slot(k->pid);
	__u64 total = now - r->start, sum = 0;
	struct ls_request *rec;
	__u32 base, i;

	for (i = 0; i < LS_PHASE_COUNT; i++)
		if (i != LS_PH_APP)
			sum += r->ph[i];
	if (sum > total) {
		r->ph[LS_PH_APP] = 0;
		r->flags |= LS_RQ_OVERLAP;
	} else {
		r->ph[LS_PH_APP] = total - sum;
	}
	if (total >= threshold_ns)
		r->flags |= LS_RQ_SLOW;
	if (slot) {
		base = (*slot % LS_MAX_TARGETS) * LS_PH_SLOTS;
		for (i = 0; i < LS_PH_SLOTS; i++) {
			__u32 key = base + i;
			struct ls_phase_stats *ps = bpf_map_lookup_elem(&phase_stats, &key);
			__u64 v;

			if (!ps)
				continue;
			v = i < LS_PHASE_COUNT ? r->ph[i & 15] : total;
			ps->count++;
			ps->sum_ns += v;
			if (v > ps->max_ns)
				ps->max_ns = v;
			hist_add(ps->hist, v);
		}
	}
	if (emit_requests) {
		rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
		if (rec) {
			rec->type = LS_REC_REQUEST;
			rec->flags = (r->flags & ~(LS_RQ_RESP_STARTED | LS_RQ_DEC_QUEUED)) | (conn_flags & LS_RQ_JOINED);
			rec->pid = k->pid;
			rec->tid = tid;
			rec->stream = k->stream;
			rec->conn = k->conn;
			rec->start_ns = r->start;
			rec->total_ns = total;
			for (i = 0; i < LS_PHASE_COUNT; i++)
				rec->phase_ns[i] = r->ph[i];
			rec->bytes_in = r->bytes_in;
			rec->bytes_out = r->bytes_out;
			rec->shared = r->shared;
			__builtin_memset(rec->_pad, 0, sizeof(rec->_pad));
			bpf_ringbuf_submit(rec, rb_flags());
		} else {
			count(LS_CNT_RB_DROPS);
		}
	}
	bpf_map_delete_elem(&reqs, k);
}

/* Give one stream of a buffer its share of the call that carried it. */
static long attrib_one(__u32 i, void *ctx)
{
	struct ls_loop *L = ctx;
	struct ls_attrib *a = L->a;
	struct ls_walk *w = L->w;
	struct ls_conn *c = L->c;
	struct ls_batch_ent *b;
	struct ls_req_key k = {};
	struct ls_req *r;

	if (i >= w->nbatch)
		return 1;
	barrier_var(i);
	if (i >= BATCH_MAX)
		return 1;
	b = &w->batch[i];
	k.conn = w->conn;
	k.pid = w->pid;
	k.stream = b->stream;
	r = bpf_map_lookup_elem(&reqs, &k);
	if (!r) {
		if (w->out)
			count(LS_CNT_REQ_UNMATCHED);
		return 0;
	}
	if (w->nbatch > r->shared)
		r->shared = w->nbatch;
	if (a->bio)
		r->flags |= LS_RQ_NET_THREAD;
	if (!w->out) {
		r->ph[LS_PH_TLS_IN] += a->self_ns;
		r->ph[LS_PH_NET_IN] += a->net_ns;
		r->bytes_in += b->bytes;
		/*
		 * A request on a memory BIO whose message started: the next decode in the process
		 * without one of its own is its. gRPC decodes a message once it is whole, which
		 * may be before END_STREAM.
		 */
		if (track_proto && a->bio && ((b->flags & 1) || b->bytes) && !(r->flags & LS_RQ_DEC_QUEUED)) {
			r->flags |= LS_RQ_DEC_QUEUED;
			__u32 *slot = target_slot(w->pid);
			__u32 key = slot ? *slot : 0;
			struct ls_bio_queue *q = slot ? bpf_map_lookup_elem(&bio_queue, &key) : NULL;

			if (q) {
				__u32 tail = q->tail;

				if (tail - q->head >= FIFO)
					q->head = tail - FIFO + 1;
				q->q[tail & (FIFO - 1)].conn = k.conn;
				q->q[tail & (FIFO - 1)].stream = k.stream;
				q->q[tail & (FIFO - 1)].bio = 1;
				q->tail = tail + 1;
			}
		} else if (track_proto && !a->bio && (b->flags & 1) && L->t) {
			/* A complete request: the next decode on this thread is its. */
			struct ls_thread *t = L->t;
			__u32 tail = t->dq_tail;

			if (tail - t->dq_head >= FIFO)
				t->dq_head = tail - FIFO + 1; /* never decoded: forget the oldest */
			t->dq[tail & (FIFO - 1)].conn = k.conn;
			t->dq[tail & (FIFO - 1)].stream = k.stream;
			t->dq[tail & (FIFO - 1)].bio = a->bio;
			t->dq_tail = tail + 1;
		}
		/* The HTTP/2 library processes these bytes next. */
		__u32 n = c->npend_in;

		barrier_var(n);
		if (n < PEND_MAX) {
			c->pend_in[n] = b->stream;
			c->npend_in = n + 1;
		}
		return 0;
	}
	/* A response starting here was encoded just before, on this thread. */
	if (track_proto && (b->flags & 2) && !(r->flags & LS_RQ_RESP_STARTED)) {
		struct ls_thread *t = L->t;

		r->flags |= LS_RQ_RESP_STARTED;
		if (t && t->eq_head != t->eq_tail) {
			r->ph[LS_PH_ENCODE] += t->eq[t->eq_head & (FIFO - 1)];
			r->flags |= LS_RQ_PROTO_FIFO;
			t->eq_head++;
		}
	}
	r->ph[LS_PH_TLS_OUT] += a->self_ns;
	r->ph[LS_PH_NET_OUT] += a->net_ns;
	r->ph[LS_PH_H2_OUT] += a->h2_ns;
	r->bytes_out += b->bytes;
	if (b->flags & 1) {
		struct ls_thread *t = L->t;
		__u32 n = t ? t->nfin : FIN_MAX;

		/* In a memory BIO the response has not reached the kernel yet: its send on this thread ends it. */
		barrier_var(n);
		if (a->bio && n < FIN_MAX) {
			t->fin[n].conn = k.conn;
			t->fin[n].stream = k.stream;
			t->nfin = n + 1;
		} else {
			finish_request(&k, r, a->now, a->tid, c->flags);
		}
		w->finished++;
	}
	return 0;
}

/* HTTP/2 input processing time goes to the streams read since the last such call. */
static long h2in_one(__u32 i, void *ctx)
{
	struct ls_loop *L = ctx;
	struct ls_attrib *a = L->a;
	struct ls_req_key k = {};
	struct ls_req *r;

	if (i >= L->c->npend_in)
		return 1;
	barrier_var(i);
	if (i >= PEND_MAX)
		return 1;
	k.conn = L->w->conn;
	k.pid = L->w->pid;
	k.stream = L->c->pend_in[i];
	r = bpf_map_lookup_elem(&reqs, &k);
	if (r) {
		/* Only what happened since the request began is its time (a blocking reader may have waited before). */
		__u64 since = a->now > r->start ? a->now - r->start : 0;

		r->ph[LS_PH_H2_IN] += a->self_ns < since ? a->self_ns : since;
	}
	return 0;
}

static __always_inline struct ls_conn *get_conn(__u32 pid, __u64 id)
{
	struct ls_conn_key k = { .conn = id, .pid = pid };
	struct ls_conn *c = bpf_map_lookup_elem(&conns, &k);

	if (c)
		return c;
	bpf_map_update_elem(&conns, &k, &zero_conn, BPF_NOEXIST);
	return bpf_map_lookup_elem(&conns, &k);
}

/* A TLS read or write moved plaintext: follow its frames and attribute the call. */
static __always_inline void tls_data(__u32 pid, __u32 tid, struct ls_thread *t, struct ls_call *cl, int out,
				     __u64 bytes, __u64 self, __u64 now, __u32 bio)
{
	__u64 start = cl->start, net_in = 0;

	struct ls_scratch *sc;
	struct ls_walk *w;
	struct ls_attrib *a;
	struct ls_conn *c;
	struct ls_loop L;

	if (!emit_requests)
		return;
	/*
	 * The kernel receive this thread made just before decrypting is these bytes' network
	 * time; it waits for the first read that carries stream frames (a record of
	 * connection frames may come first).
	 */
	if (bio && !out && t && t->pend_net_in && now - t->pend_net_in_start < stale_ns) {
		net_in = t->pend_net_in;
		if (t->pend_net_in_start < start)
			start = t->pend_net_in_start;
	}
	c = get_conn(pid, cl->obj);
	sc = scratch();
	if (!c || !sc)
		return;
	w = &sc->w;
	a = &sc->a;
	L.w = w;
	L.a = a;
	L.c = c;
	L.d = out ? &c->out : &c->in;
	L.t = t;
	w->buf = (const __u8 *)cl->buf;
	w->len = bytes > 0x7fffffff ? 0x7fffffff : (__u32)bytes;
	w->pid = pid;
	w->conn = cl->obj;
	w->start = start;
	w->out = out;
	w->hd_flags = out ? LS_HD_OUT : 0;
	walk_buffer(&L);
	if (!w->nbatch)
		return;
	if (net_in) {
		t->pend_net_in = 0;
		t->pend_net_in_start = 0;
	}
	a->self_ns = self;
	a->net_ns = cl->net_ns + net_in;
	a->now = now;
	a->tid = tid;
	a->bio = bio;
	if (out) {
		a->h2_ns = c->pend_h2_out;
		c->pend_h2_out = 0;
	}
	bpf_loop(BATCH_MAX, attrib_one, &L, 0);
}

/* ---- Library calls: one entry and one return program for every catalog entry ------ */

/*
 * Push a probed call on its thread's (or goroutine's) call stack. ret_sp is the
 * stack pointer its return will show, 0 when returns are matched by probe id.
 */
static __always_inline int call_enter(struct ls_thread *t, __u32 pid, __u32 cookie, __u64 obj, __u64 buf,
				      __u64 aux, __u64 ret_sp, __u64 now)
{
	struct ls_call *cl, *parent;
	__u32 d;

	/*
	 * A frame at or above this call's stack position cannot still be running:
	 * its return was missed (attached mid-call, longjmp). Drop it, or it would
	 * pose as this call's parent.
	 */
	for (int i = 0; i < STACK_MAX; i++) {
		parent = top(t);
		if (!parent || ((!ret_sp || parent->sp > ret_sp) && now - parent->start < stale_ns))
			break;
		t->depth--;
		count(LS_CNT_STALE);
	}
	/* Deeper calls go unrecorded; their returns match no frame and are ignored. */
	if (t->depth >= STACK_MAX) {
		count(LS_CNT_DEPTH);
		return 0;
	}
	parent = top(t);
	/* HTTP/2 output that reaches a nested TLS write: its time so far belongs to that write's streams. */
	if (parent && LS_COOKIE_KIND(parent->cookie) == LS_KIND_H2_OUT && LS_COOKIE_KIND(cookie) == LS_KIND_TLS_WRITE) {
		__u64 *conn_id = bpf_map_lookup_elem(&sessions, &parent->obj);
		__u64 self = now - parent->start - parent->child_ns;
		struct ls_conn *c = get_conn(pid, obj);

		if (!conn_id)
			bpf_map_update_elem(&sessions, &parent->obj, &obj, BPF_ANY);
		if (c && parent->start + parent->child_ns <= now)
			c->pend_h2_out += self;
		parent->start = now;
		parent->child_ns = 0;
	}
	d = t->depth;
	if (d >= STACK_MAX)
		return 0;
	cl = &t->c[d];
	cl->start = now;
	cl->child_ns = 0;
	cl->net_ns = 0;
	cl->obj = obj;
	cl->buf = buf;
	cl->aux = aux;
	cl->cookie = cookie;
	cl->sp = ret_sp;
	cl->fd = -1;
	t->depth = d + 1;
	if (LS_COOKIE_KIND(cookie) == LS_KIND_TLS_HANDSHAKE) {
		struct ls_conn_key ck = { .conn = obj, .pid = pid };

		/* A new connection may reuse a freed connection's address: forget what the old one left. */
		if (bpf_map_update_elem(&hs_start, &obj, &now, BPF_NOEXIST) == 0) {
			bpf_map_delete_elem(&conns, &ck);
			bpf_map_delete_elem(&ssl_fds, &obj);
		}
	}
	return 0;
}

static __always_inline struct ls_thread *thread_state(void *map, void *key)
{
	struct ls_thread *t = bpf_map_lookup_elem(map, key);

	if (t)
		return t;
	bpf_map_update_elem(map, key, &zero_thread, BPF_NOEXIST);
	return bpf_map_lookup_elem(map, key);
}

SEC("uprobe")
int BPF_KPROBE(probe_enter, void *obj, void *buf, __u64 num, void *aux)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id, cookie = (__u32)bpf_get_attach_cookie(ctx);
	struct ls_thread *t;

	if (!target_slot(id >> 32))
		return 0;
	t = thread_state(&threads, &tid);
	if (!t)
		return 0;
	/* mem_send's result pointer is its second argument. */
	if (LS_COOKIE_CONV(cookie) == LS_ARG_H2_MEM_SEND)
		aux = buf;
	/* A C++ function returning a class in memory: its first argument is the result slot. */
	if (LS_COOKIE_CONV(cookie) == LS_ARG_SRET_OBJ)
		obj = buf;
	/* At a function's entry the return address is on the stack: the return pops it. */
	return call_enter(t, id >> 32, cookie, (__u64)obj, (__u64)buf, (__u64)aux, PT_REGS_SP(ctx) + 8,
			  bpf_ktime_get_ns());
}

/* Pop the call frame d (already matched to this return) and account for it. */
/* What a TLS return hands to the HTTP/2 walk program (per CPU, read right after the tail call). */
struct ls_handoff {
	__u64 g;      /* goroutine for Go calls, 0 for threads */
	__u32 pid, tid;
	__u32 d;      /* the returned call's frame index */
	__u32 out;
	__u64 bytes, self, now;
	__u32 bio;    /* no socket fd known for the SSL object: a memory BIO */
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ls_handoff);
} handoff SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} tails SEC(".maps");

/*
 * tls selects the half compiled in: TLS calls (1) or HTTP/2 and protobuf calls
 * (0). Each return program carries one half, which keeps each within what
 * older verifiers accept; the loader attaches the matching one.
 */
static __always_inline int call_return(void *ctx, struct ls_thread *t, __u32 d, long ret, __u32 pid, __u32 tid,
				       __u64 now, const int tls, __u64 g)
{
	__u64 total, self, bytes = 0, span = 0;
	struct ls_call *cl, *parent;
	__u32 probe, conv, kind, flags = 0;
	struct ls_event *e;
	__s32 fd;
	int ok;

	barrier_var(d);
	if (d >= STACK_MAX)
		return 0;
	t->depth = d;
	cl = &t->c[d];
	probe = LS_COOKIE_PROBE(cl->cookie);
	conv = LS_COOKIE_CONV(cl->cookie);
	kind = LS_COOKIE_KIND(cl->cookie);
	total = now - cl->start;
	self = total > cl->child_ns ? total - cl->child_ns : 0;
	parent = top(t);
	if (parent) {
		/* gRPC lifecycle calls nest (end_write inside start_batch) but are not one operation. */
		if (LS_COOKIE_KIND(parent->cookie) == kind && kind != LS_KIND_GRPC) {
			/* Same kind nested (SSL_accept -> SSL_do_handshake): the outer call owns it. */
			parent->child_ns += cl->child_ns;
			parent->net_ns += cl->net_ns;
			if (cl->fd >= 0 && parent->fd < 0)
				parent->fd = cl->fd;
			if (probe < LS_PROBE_MAX) {
				struct ls_stats *st = bpf_map_lookup_elem(&stats, &probe);

				if (st)
					st->nested++;
			}
			return 0;
		}
		parent->child_ns += total;
	}

	switch (conv) {
	case LS_ARG_SSL_RW_EX:
		ret = (int)ret;
		ok = ret == 1;
		if (ok && cl->aux)
			bpf_probe_read_user(&bytes, sizeof(bytes), (void *)cl->aux);
		break;
	case LS_ARG_SSL_HS:
		ret = (int)ret;
		ok = ret == 1;
		break;
	case LS_ARG_GO_RW:
		ok = ret > 0;
		bytes = ok ? (__u64)ret : 0;
		break;
	case LS_ARG_GO_ERR:
		ok = ret == 0;
		break;
	case LS_ARG_GO_ANY:
	case LS_ARG_SRET_OBJ:
	case LS_ARG_ANY:
		ok = 1;
		break;
	case LS_ARG_INT_ZERO_OK:
		ok = (int)ret == 0;
		break;
	case LS_ARG_SSL_RW:
		/* The result is a C int: the upper half of the register is not part of it. */
		ret = (int)ret;
		ok = ret > 0;
		bytes = ok ? (__u64)ret : 0;
		break;
	case LS_ARG_PTR_RESULT:
		ok = ret != 0;
		break;
	case LS_ARG_SIZE_RESULT:
		ok = 1;
		bytes = (__u64)ret;
		break;
	case LS_ARG_BOOL_RESULT:
		ok = (ret & 0xff) != 0;
		break;
	default: /* nghttp2: ssize_t or int, negative on error */
		ok = ret >= 0;
		bytes = ok ? (__u64)ret : 0;
		break;
	}
	if (kind == LS_KIND_TLS_HANDSHAKE && ok) {
		__u64 *t0 = bpf_map_lookup_elem(&hs_start, &cl->obj);

		flags |= LS_F_HANDSHAKE;
		if (t0) {
			span = now - *t0;
			bpf_map_delete_elem(&hs_start, &cl->obj);
		}
	}
	if (probe >= LS_PROBE_MAX)
		return 0;
	account(probe, ok, bytes, total);

	if (tls) {
		fd = cl->fd;
		if (fd >= 0) {
			bpf_map_update_elem(&ssl_fds, &cl->obj, &fd, BPF_ANY);
		} else {
			__s32 *known = bpf_map_lookup_elem(&ssl_fds, &cl->obj);

			if (known)
				fd = *known;
		}
		if (fd >= 0)
			flags |= LS_F_FD_KNOWN;
		t->last_conn = cl->obj;
		if (ok && (bytes || (flags & LS_F_HANDSHAKE))) {
			e = reserve_event();
			if (e) {
				e->type = LS_REC_CALL;
				e->probe = probe;
				e->pid = pid;
				e->tid = tid;
				e->fd = fd;
				e->ts_ns = now;
				e->dur_ns = total;
				e->conn = cl->obj;
				e->ret = ret;
				e->bytes = bytes;
				e->span_ns = span;
				e->flags = flags;
				bpf_ringbuf_submit(e, rb_flags());
			}
		}
		/*
		 * The HTTP/2 walk of the plaintext runs in its own program, reached by
		 * a tail call: each program stays within what older verifiers accept.
		 */
		if (ok && bytes && kind != LS_KIND_TLS_HANDSHAKE && emit_requests) {
			__u32 zero = 0;
			struct ls_handoff *h = bpf_map_lookup_elem(&handoff, &zero);

			if (!h)
				return 0;
			h->g = g;
			h->pid = pid;
			h->tid = tid;
			h->d = d;
			h->out = kind == LS_KIND_TLS_WRITE;
			h->bio = fd < 0 && !g;
			h->bytes = bytes;
			h->self = self;
			h->now = now;
			bpf_tail_call(ctx, &tails, 0);
		}
		return 0;
	}

	if (!ok || !emit_requests)
		return 0;
	if (kind == LS_KIND_DECODE) {
		struct ls_req_key k = {};
		struct ls_req *r = NULL;
		__u32 bio = 0;

		k.pid = pid;
		if (t->dq_head != t->dq_tail) {
			k.conn = t->dq[t->dq_head & (FIFO - 1)].conn;
			k.stream = t->dq[t->dq_head & (FIFO - 1)].stream;
			bio = t->dq[t->dq_head & (FIFO - 1)].bio;
			t->dq_head++;
			r = bpf_map_lookup_elem(&reqs, &k);
		} else {
			__u32 *slot = target_slot(pid);
			__u32 key = slot ? *slot : 0;
			struct ls_bio_queue *q = slot ? bpf_map_lookup_elem(&bio_queue, &key) : NULL;

			/*
			 * Two CPUs may take the same entry (no atomics on every verifier): one
			 * already decoded is skipped, so each request still gets one decode.
			 */
			for (int i = 0; q && i < 4 && q->head != q->tail; i++) {
				__u32 h = q->head;

				q->head = h + 1;
				k.conn = q->q[h & (FIFO - 1)].conn;
				k.stream = q->q[h & (FIFO - 1)].stream;
				bio = 1;
				r = bpf_map_lookup_elem(&reqs, &k);
				if (r && !r->ph[LS_PH_DECODE])
					break;
				r = NULL;
			}
		}
		if (r) {
			r->ph[LS_PH_DECODE] += self;
			r->flags |= LS_RQ_PROTO_FIFO;
			t->cur_conn = bio ? k.conn : 0;
			t->cur_stream = k.stream;
		} else {
			count(LS_CNT_PROTO_UNMATCHED);
		}
		return 0;
	}
	if (kind == LS_KIND_ENCODE) {
		__u32 tail = t->eq_tail;

		if (t->cur_conn) {
			struct ls_req_key k = { .conn = t->cur_conn, .pid = pid, .stream = t->cur_stream };
			struct ls_req *r = bpf_map_lookup_elem(&reqs, &k);

			t->cur_conn = r ? t->cur_conn : 0;
			if (r) {
				r->ph[LS_PH_ENCODE] += self;
				r->flags |= LS_RQ_PROTO_FIFO;
			} else {
				/*
				 * Finished already: another thread took this thread's call first, and
				 * the decodes were matched in the wrong order. Counted, never guessed.
				 */
				count(LS_CNT_PROTO_UNMATCHED);
			}
			return 0;
		}

		if (tail - t->eq_head >= FIFO) {
			t->eq_head = tail - FIFO + 1;
			count(LS_CNT_PROTO_UNMATCHED);
		}
		t->eq[tail & (FIFO - 1)] = self;
		t->eq_tail = tail + 1;
		return 0;
	}
	if (kind == LS_KIND_H2_IN) {
		struct ls_scratch *sc = scratch();
		__u64 *known = bpf_map_lookup_elem(&sessions, &cl->obj);
		/* HTTP/2 input follows the TLS read on its thread: that read names the connection. */
		__u64 conn_id = t->last_conn ? t->last_conn : known ? *known : 0;
		struct ls_conn *c;

		if (!conn_id)
			return 0;
		if (!known || *known != conn_id)
			bpf_map_update_elem(&sessions, &cl->obj, &conn_id, BPF_ANY);
		c = get_conn(pid, conn_id);
		if (!c || !c->npend_in || !sc)
			return 0;
		struct ls_loop L = { .w = &sc->w, .a = &sc->a, .c = c, .d = &c->in, .t = t };

		sc->w.conn = conn_id;
		sc->w.pid = pid;
		sc->a.self_ns = self;
		sc->a.now = now;
		bpf_loop(PEND_MAX, h2in_one, &L, 0);
		c->npend_in = 0;
	} else if (kind == LS_KIND_H2_OUT) {
		__u64 *known = bpf_map_lookup_elem(&sessions, &cl->obj);
		__u64 conn_id = known ? *known : t->last_conn;
		struct ls_conn *c;

		if (!conn_id)
			return 0;
		c = get_conn(pid, conn_id);
		if (c)
			c->pend_h2_out += self;
	}
	return 0;
}

/* Match a uretprobe to its entry by stack pointer; returns the frame index or -1. */
static __always_inline int match_return(struct ls_thread *t, __u64 sp)
{
	__u32 d;

	/*
	 * Frames deeper than this return lost theirs (attached mid-call,
	 * longjmp) and are dropped; a return whose entry was never recorded
	 * matches nothing and is ignored.
	 */
	for (int i = 0; i < STACK_MAX; i++) {
		struct ls_call *tc = top(t);

		if (!tc || tc->sp >= sp)
			break;
		t->depth--;
		count(LS_CNT_STALE);
	}
	d = t->depth - 1;
	barrier_var(d);
	if (d >= STACK_MAX || t->c[d].sp != sp)
		return -1;
	return (int)d;
}

SEC("uretprobe")
int BPF_KRETPROBE(probe_exit, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct ls_thread *t = bpf_map_lookup_elem(&threads, &tid);
	int d;

	if (!t || (d = match_return(t, PT_REGS_SP(ctx))) < 0)
		return 0;
	return call_return(ctx, t, (__u32)d, ret, id >> 32, tid, bpf_ktime_get_ns(), 1, 0);
}

SEC("uretprobe")
int BPF_KRETPROBE(probe_exit_lib, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct ls_thread *t = bpf_map_lookup_elem(&threads, &tid);
	int d;

	if (!t || (d = match_return(t, PT_REGS_SP(ctx))) < 0)
		return 0;
	return call_return(ctx, t, (__u32)d, ret, id >> 32, tid, bpf_ktime_get_ns(), 0, 0);
}

/* ---- Go: per-goroutine call stacks, entry after the stack check, uprobes on RETs ---- */

struct ls_gkey {
	__u32 pid;
	__u32 _pad;
	__u64 g;   /* the goroutine (R14 in Go's register ABI) */
};

/* Goroutines move between threads: their calls are kept per goroutine. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct ls_gkey);
	__type(value, struct ls_thread);
} gthreads SEC(".maps");

/* The goroutine a thread last entered a probed Go function with: kernel time on the thread is its. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct ls_gkey);
} gcur SEC(".maps");

SEC("uprobe")
int go_enter(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id, cookie = (__u32)bpf_get_attach_cookie(ctx);
	struct ls_gkey key = { .pid = id >> 32, .g = ctx->r14 };
	struct ls_thread *t;
	struct ls_call *cl;

	if (!target_slot(id >> 32) || !key.g)
		return 0;
	t = thread_state(&gthreads, &key);
	if (!t)
		return 0;
	/* Entered again before returning: morestack restarted it (when the probe is not past the check). */
	cl = top(t);
	if (cl && LS_COOKIE_PROBE(cl->cookie) == LS_COOKIE_PROBE(cookie))
		return 0;
	bpf_map_update_elem(&gcur, &tid, &key, BPF_ANY);
	return call_enter(t, key.pid, cookie, ctx->ax, ctx->bx, ctx->cx, 0, bpf_ktime_get_ns());
}

static __always_inline int go_return(struct pt_regs *ctx, const int tls)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 probe = LS_COOKIE_PROBE(bpf_get_attach_cookie(ctx));
	struct ls_gkey key = { .pid = id >> 32, .g = ctx->r14 };
	struct ls_thread *t = bpf_map_lookup_elem(&gthreads, &key);
	__u32 d;

	if (!t)
		return 0;
	/* Calls above this one on the goroutine's stack lost their returns. */
	for (int i = 0; i < STACK_MAX; i++) {
		struct ls_call *tc = top(t);

		if (!tc || LS_COOKIE_PROBE(tc->cookie) == probe)
			break;
		t->depth--;
		count(LS_CNT_STALE);
	}
	d = t->depth - 1;
	barrier_var(d);
	if (d >= STACK_MAX || LS_COOKIE_PROBE(t->c[d].cookie) != probe)
		return 0;
	return call_return(ctx, t, d, (long)ctx->ax, key.pid, (__u32)id, bpf_ktime_get_ns(), tls, key.g);
}

SEC("uprobe")
int go_ret(struct pt_regs *ctx)
{
	return go_return(ctx, 1);
}

SEC("uprobe")
int go_ret_lib(struct pt_regs *ctx)
{
	return go_return(ctx, 0);
}

/* Tail-called by a TLS read or write return: follow its frames and attribute the call to their streams. */
SEC("uprobe")
int tls_walk(struct pt_regs *ctx)
{
	__u32 zero = 0, d;
	struct ls_handoff *h = bpf_map_lookup_elem(&handoff, &zero);
	struct ls_gkey key = {};
	struct ls_scratch *sc;
	struct ls_thread *t;
	struct ls_call *cl;

	if (!h)
		return 0;
	if (h->g) {
		key.pid = h->pid;
		key.g = h->g;
		t = bpf_map_lookup_elem(&gthreads, &key);
	} else {
		t = bpf_map_lookup_elem(&threads, &h->tid);
	}
	d = h->d;
	barrier_var(d);
	if (!t || d >= STACK_MAX)
		return 0;
	cl = &t->c[d];
	tls_data(h->pid, h->tid, t, cl, h->out, h->bytes, h->self, h->now, h->bio);
	/* Which request this thread works on: what the profiler tags its samples with. */
	sc = track_thread_req ? bpf_map_lookup_elem(&walk_scratch, &zero) : NULL;
	if (sc && !h->out && sc->w.opened && !t->req_start) {
		t->req_start = cl->start;
		t->slow_seen = 0;
	} else if (sc && h->out && sc->w.finished) {
		t->req_start = 0;
	}
	return 0;
}

/* The call stack kernel work on this thread belongs to: the thread's, or its current goroutine's. */
static __always_inline struct ls_thread *cur_thread(__u32 tid)
{
	struct ls_thread *t = bpf_map_lookup_elem(&threads, &tid);
	struct ls_gkey *k;

	if (t)
		return t;
	k = bpf_map_lookup_elem(&gcur, &tid);
	return k ? bpf_map_lookup_elem(&gthreads, k) : NULL;
}

/* ---- Socket syscalls: fd of a TLS call, start of a tracepoint-timed send/recv ---- */

static __always_inline int is_sock_io(long nr)
{
	switch (nr) {
	case 0:   /* read */
	case 1:   /* write */
	case 19:  /* readv */
	case 20:  /* writev */
	case 44:  /* sendto */
	case 45:  /* recvfrom */
	case 46:  /* sendmsg */
	case 47:  /* recvmsg */
	case 299: /* recvmmsg */
	case 307: /* sendmmsg */
		return 1;
	}
	return 0;
}

SEC("raw_tp/sys_enter")
int sys_enter(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	long nr = (long)ctx->args[1];
	struct pt_regs *regs = (struct pt_regs *)ctx->args[0];
	struct ls_sys_call sc = {};
	struct ls_thread *t;
	struct ls_call *cl;

	if (!is_sock_io(nr) || !target_slot(id >> 32))
		return 0;
	sc.ts = bpf_ktime_get_ns();
	sc.fd = (__s32)PT_REGS_PARM1_CORE_SYSCALL(regs);
	sc.nr = (__u32)nr;
	bpf_map_update_elem(&sys_calls, &tid, &sc, BPF_ANY);
	t = cur_thread(tid);
	if (!t)
		return 0;
	cl = top(t);
	if (cl && cl->fd < 0)
		cl->fd = sc.fd;
	return 0;
}

struct ls_fin_ctx {
	struct ls_thread *t;
	__u64 dur, now;
	__u32 tid, pid;
};

/* A response written to a memory BIO reached the kernel: its send is its net_out, and it ends here. */
static long fin_one(__u32 i, void *ctx)
{
	struct ls_fin_ctx *f = ctx;
	struct ls_req_key k = {};
	struct ls_conn_key ck = {};
	struct ls_conn *c;
	struct ls_req *r;

	if (i >= f->t->nfin || i >= FIN_MAX)
		return 1;
	barrier_var(i);
	if (i >= FIN_MAX)
		return 1;
	k.conn = f->t->fin[i].conn;
	k.stream = f->t->fin[i].stream;
	k.pid = f->pid;
	r = bpf_map_lookup_elem(&reqs, &k);
	if (!r)
		return 0;
	ck.conn = k.conn;
	ck.pid = k.pid;
	c = bpf_map_lookup_elem(&conns, &ck);
	r->ph[LS_PH_NET_OUT] += f->dur;
	finish_request(&k, r, f->now, f->tid, c ? c->flags : 0);
	return 0;
}

static __always_inline void net_done(__u32 probe, __u64 sk, __u64 t0, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	__u64 now = bpf_ktime_get_ns(), dur = now - t0;
	struct ls_sys_call *sc;
	struct ls_thread *t;
	struct ls_event *e;
	__s32 fd = -1;

	sc = bpf_map_lookup_elem(&sys_calls, &tid);
	if (sc && sc->ts <= t0)
		fd = sc->fd;
	account(probe, ret > 0, ret > 0 ? (__u64)ret : 0, dur);
	/* Kernel time inside a library call is that call's network phase, not its own. */
	t = cur_thread(tid);
	if (t) {
		struct ls_call *cl = top(t);
		__u32 k = cl ? LS_COOKIE_KIND(cl->cookie) : 0;

		if (cl && cl->start <= t0) {
			cl->net_ns += dur;
			cl->child_ns += dur;
		}
		/* Outside a TLS call: the kernel side of TLS over memory BIOs, matched by thread and time. */
		if (k != LS_KIND_TLS_READ && k != LS_KIND_TLS_WRITE && k != LS_KIND_TLS_HANDSHAKE && ret > 0) {
			if (probe == LS_PROBE_NET_RECV) {
				if (!t->pend_net_in)
					t->pend_net_in_start = t0;
				t->pend_net_in += dur;
			} else if (t->nfin && emit_requests) {
				struct ls_fin_ctx f = { .t = t, .dur = dur, .now = now, .tid = tid, .pid = id >> 32 };

				bpf_loop(FIN_MAX, fin_one, &f, 0);
				t->nfin = 0;
			}
		}
	}
	if (ret <= 0)
		return;
	e = reserve_event();
	if (!e)
		return;
	e->type = LS_REC_NET;
	e->probe = probe;
	e->pid = id >> 32;
	e->tid = tid;
	e->fd = fd;
	e->ts_ns = now;
	e->dur_ns = dur;
	e->conn = sk;
	e->ret = ret;
	e->bytes = (__u64)ret;
	e->flags = fd >= 0 ? LS_F_FD_KNOWN : 0;
	bpf_ringbuf_submit(e, rb_flags());
}

/* ---- Variant 3: tracepoints. Start = the socket syscall's entry. ---------- */

static __always_inline int tp_sock(__u32 probe, struct sock *sk, int ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct ls_sys_call *sc;

	if (!target_slot(id >> 32))
		return 0;
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	sc = bpf_map_lookup_elem(&sys_calls, &tid);
	if (!sc)
		return 0;
	net_done(probe, (__u64)sk, sc->ts, ret);
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(tp_send, struct sock *sk, int ret, int flags)
{
	return tp_sock(LS_PROBE_NET_SEND, sk, ret);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(tp_recv, struct sock *sk, int ret, int flags)
{
	/* MSG_PEEK leaves the data queued: not a receive. */
	if (flags & 2)
		return 0;
	return tp_sock(LS_PROBE_NET_RECV, sk, ret);
}

/* ---- Variants 1 and 2: fentry/fexit and kprobe/kretprobe on tcp_*msg ------ */

static __always_inline int net_enter(struct sock *sk)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct ls_net_call nc;

	if (!target_slot(id >> 32))
		return 0;
	nc.ts = bpf_ktime_get_ns();
	nc.sk = (__u64)sk;
	bpf_map_update_elem(&net_calls, &tid, &nc, BPF_ANY);
	return 0;
}

static __always_inline int net_exit(__u32 probe, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct ls_net_call *nc = bpf_map_lookup_elem(&net_calls, &tid);
	struct ls_net_call copy;

	if (!nc)
		return 0;
	copy = *nc;
	bpf_map_delete_elem(&net_calls, &tid);
	net_done(probe, copy.sk, copy.ts, ret);
	return 0;
}

SEC("kprobe/tcp_sendmsg")
int BPF_KPROBE(kp_send, struct sock *sk)
{
	return net_enter(sk);
}

SEC("kretprobe/tcp_sendmsg")
int BPF_KRETPROBE(kr_send, int ret)
{
	return net_exit(LS_PROBE_NET_SEND, ret);
}

SEC("kprobe/tcp_recvmsg")
int BPF_KPROBE(kp_recv, struct sock *sk)
{
	return net_enter(sk);
}

SEC("kretprobe/tcp_recvmsg")
int BPF_KRETPROBE(kr_recv, int ret)
{
	return net_exit(LS_PROBE_NET_RECV, ret);
}

SEC("fentry/tcp_sendmsg")
int BPF_PROG(fe_send, struct sock *sk)
{
	return net_enter(sk);
}

SEC("fexit/tcp_sendmsg")
int fx_send(void *ctx)
{
	__u64 ret = 0;

	bpf_get_func_ret(ctx, &ret);
	return net_exit(LS_PROBE_NET_SEND, (int)ret);
}

SEC("fentry/tcp_recvmsg")
int BPF_PROG(fe_recv, struct sock *sk)
{
	return net_enter(sk);
}

SEC("fexit/tcp_recvmsg")
int fx_recv(void *ctx)
{
	__u64 ret = 0;

	bpf_get_func_ret(ctx, &ret);
	return net_exit(LS_PROBE_NET_RECV, (int)ret);
}

/* ---- Profiler: CPU samples, threshold crossings, off-CPU time ------------------ */

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, LS_STACK_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ls_sample_key);
	__type(value, __u64);
} samples SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ls_sample_key);
	__type(value, __u64);
} offcpu SEC(".maps");

struct ls_offstart {
	__u64 ts;
	struct ls_sample_key key;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct ls_offstart);
} offstart SEC(".maps");

static __always_inline __u8 kind_phase(__u32 kind)
{
	switch (kind) {
	case LS_KIND_TLS_READ: return LS_PH_TLS_IN;
	case LS_KIND_TLS_WRITE: return LS_PH_TLS_OUT;
	case LS_KIND_H2_IN: return LS_PH_H2_IN;
	case LS_KIND_H2_OUT: return LS_PH_H2_OUT;
	case LS_KIND_DECODE: return LS_PH_DECODE;
	case LS_KIND_ENCODE: return LS_PH_ENCODE;
	}
	return LS_PH_OTHER;
}

/* The phase a thread is in right now, and whether its request is over the threshold. */
static __always_inline void thread_phase(__u32 tid, __u64 now, struct ls_sample_key *k, struct ls_thread **tp)
{
	struct ls_thread *t = bpf_map_lookup_elem(&threads, &tid);
	struct ls_call *cl;

	*tp = t;
	k->phase = LS_PH_OTHER;
	k->slow = 0;
	if (!t)
		return;
	cl = top(t);
	if (cl)
		k->phase = kind_phase(LS_COOKIE_KIND(cl->cookie));
	/* Inside a gRPC lifecycle call, or between probed calls: the application's time. */
	if ((!cl || k->phase == LS_PH_OTHER) && t->req_start) {
		k->phase = LS_PH_APP;
	}
	if (t->req_start && now - t->req_start >= threshold_ns)
		k->slow = 1;
}

static __always_inline void stack_ids(void *ctx, struct ls_sample_key *k)
{
	k->ustack = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	k->kstack = bpf_get_stackid(ctx, &stacks, 0);
	if (k->ustack < 0 && k->kstack < 0)
		count(LS_CNT_STACK_LOST);
}

SEC("perf_event")
int on_cpu_sample(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id, pid = id >> 32;
	__u64 now = bpf_ktime_get_ns(), one = 1, *cnt;
	struct ls_sample_key k = {};
	struct ls_thread *t;

	if (!pid || !target_slot(pid))
		return 0;
	count(LS_CNT_SAMPLES);
	k.pid = pid;
	thread_phase(tid, now, &k, &t);
	stack_ids(ctx, &k);
	cnt = bpf_map_lookup_elem(&samples, &k);
	if (cnt)
		__sync_fetch_and_add(cnt, 1);
	else if (bpf_map_update_elem(&samples, &k, &one, BPF_NOEXIST))
		count(LS_CNT_SAMPLE_LOST);
	/* The first sample after a request crosses the threshold shows what it is doing then. */
	if (k.slow && t && !t->slow_seen && emit_requests) {
		struct ls_slow_stack *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);

		t->slow_seen = 1;
		if (!r) {
			count(LS_CNT_RB_DROPS);
			return 0;
		}
		r->type = LS_REC_SLOW_STACK;
		r->phase = k.phase;
		r->pid = pid;
		r->tid = tid;
		r->ustack = k.ustack;
		r->kstack = k.kstack;
		r->_pad = 0;
		r->ts_ns = now;
		r->age_ns = now - t->req_start;
		bpf_ringbuf_submit(r, rb_flags());
	}
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u32 prev_pid = BPF_CORE_READ(prev, tgid), next_tid = BPF_CORE_READ(next, pid);
	__u64 now = bpf_ktime_get_ns();
	struct ls_offstart *os;

	/* Going off CPU: remember where (prev is the current task here). */
	if (prev_pid && target_slot(prev_pid)) {
		struct ls_offstart o = {};
		struct ls_thread *t;
		__u32 prev_tid = BPF_CORE_READ(prev, pid);

		o.ts = now;
		o.key.pid = prev_pid;
		thread_phase(prev_tid, now, &o.key, &t);
		if (offcpu_all_threads || (t && t->req_start)) {
			stack_ids(ctx, &o.key);
			bpf_map_update_elem(&offstart, &prev_tid, &o, BPF_ANY);
		}
	}
	/* Coming back: the time in between is blocked time of that stack. */
	os = bpf_map_lookup_elem(&offstart, &next_tid);
	if (os) {
		__u64 delta = now - os->ts, *v;
		struct ls_sample_key k = os->key;

		bpf_map_delete_elem(&offstart, &next_tid);
		v = bpf_map_lookup_elem(&offcpu, &k);
		if (v)
			__sync_fetch_and_add(v, delta);
		else
			bpf_map_update_elem(&offcpu, &k, &delta, BPF_NOEXIST);
	}
	return 0;
}
