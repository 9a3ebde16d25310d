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
#include "h2split.h"

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
const volatile __u32 ustack_size = 0;         /* --call-graph dwarf: user stack bytes per sample (0: frame pointers) */
/* Live-tunable: requests at or over it are flagged slow. */
__u64 threshold_ns = 10 * 1000000ULL;
/* Live-tunable: CPU samples are taken (cleared when a profile's duration is over). */
__u8 sampling = 1;
/* Live-tunable: off-CPU time counts only inside [window_lo, window_hi] (0: unbounded). */
__u64 window_lo = 0, window_hi = 0;

#define STACK_MAX 6
#define BATCH_MAX 128   /* streams one buffer can carry */
#define PEND_MAX 16     /* streams waiting for their HTTP/2 processing time */

#define LS_RQ_RESP_STARTED (1u << 15) /* internal: response HEADERS seen */
#define LS_RQ_DEC_QUEUED   (1u << 14) /* internal: its memory-BIO target noted in proto_pairs */

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
	__u64 arrival;   /* when the last byte its kernel receives read reached the socket, 0: unknown */
};

/* Decodes/encodes waiting to be matched with their request, per thread: one epoll round of
 * 4 connections x 10 streams must fit. A power of two. */
#define FIFO 64

struct ls_pending {
	__u64 conn;
	__u32 stream;
	__u32 _pad;
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
	 * server stream has several) on one handler thread: once the call's response
	 * started (claim_pair), the thread's further encodes go to that request while
	 * it runs.
	 */
	__u64 cur_conn;
	__u32 cur_stream;
	__u32 nfin;
	__u32 pair_seq; /* memory BIOs: this thread's call in proto_pairs (0: none) */
	__u32 _pad1;
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
 * Memory-BIO servers (gRPC C++): the thread that decodes a request is the
 * thread that takes its call, not the one that read it, and nothing names the
 * request there. A handler thread's decode and encode wait here, as one call,
 * until a response starts: written by that same thread (the call's write runs
 * inline in its grpc_call_start_batch), the response is that call's; written
 * by another thread (a busy transport hands the write to the thread holding
 * it), it is the oldest call encoded and not yet claimed. Per target slot.
 */
#define PAIRS 64

struct ls_pair {
	__u64 dec, enc;
	__u32 tid, seq;
	__u8 claimed, ready;
	__u8 _pad[6];
};

struct ls_pairs {
	__u32 tail;         /* seq of the newest call */
	__u32 rhead, rtail; /* ready: calls in the order their encode ended */
	__u32 bio;          /* the target serves memory-BIO connections */
	struct ls_pair p[PAIRS];
	__u32 ready[PAIRS];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LS_MAX_TARGETS);
	__type(key, __u32);
	__type(value, struct ls_pairs);
} proto_pairs SEC(".maps");

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

static __always_inline struct ls_pairs *pairs_of(__u32 pid)
{
	__u32 *slot = target_slot(pid);
	__u32 key = slot ? *slot : 0;

	return slot ? bpf_map_lookup_elem(&proto_pairs, &key) : NULL;
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

/*
 * A response of a memory-BIO server starts (its HEADERS written by thread t):
 * the call waiting on t when t has one, else the oldest encoded call no
 * response took yet; its decode and encode are the request's, and later
 * encodes on its thread (more messages of a server stream) follow.
 */
struct ls_skip {
	struct ls_pairs *pq;
};

/* The ready queue's front past calls already taken (their own threads took most). */
static long skip_taken(__u32 i, void *ctx)
{
	struct ls_pairs *pq = ((struct ls_skip *)ctx)->pq;
	__u32 s;

	(void)i;
	if (pq->rhead == pq->rtail)
		return 1;
	s = pq->ready[pq->rhead & (PAIRS - 1)];
	if (pq->p[s & (PAIRS - 1)].seq == s && !pq->p[s & (PAIRS - 1)].claimed)
		return 1;
	pq->rhead++;
	return 0;
}

static __always_inline void claim_pair(__u32 pid, struct ls_thread *t, struct ls_req *r, const struct ls_req_key *k)
{
	struct ls_pairs *pq = pairs_of(pid);
	struct ls_thread *owner = t;
	struct ls_pair *p = NULL;
	struct ls_skip sk;

	if (!pq)
		return;
	/* Several responses in one write: the writer's own comes first (it opened the write). */
	if (t && t->pair_seq) {
		p = &pq->p[t->pair_seq & (PAIRS - 1)];
		if (p->seq != t->pair_seq || p->claimed)
			p = NULL;
	}
	if (!p) {
		sk.pq = pq;
		bpf_loop(PAIRS, skip_taken, &sk, 0);
		if (pq->rhead != pq->rtail) {
			__u32 s = pq->ready[pq->rhead & (PAIRS - 1)];

			pq->rhead++;
			p = &pq->p[s & (PAIRS - 1)];
			owner = bpf_map_lookup_elem(&threads, &p->tid);
		}
	}
	if (!p) {
		count(LS_CNT_PROTO_UNMATCHED);
		return;
	}
	p->claimed = 1;
	r->ph[LS_PH_DECODE] += p->dec;
	r->ph[LS_PH_ENCODE] += p->enc;
	r->flags |= LS_RQ_PROTO_WRITER;
	if (owner && owner->pair_seq == p->seq) {
		owner->cur_conn = k->conn;
		owner->cur_stream = k->stream;
	}
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
		/* Decodes in a memory-BIO server wait on their handler thread for their response (see proto_pairs). */
		if (track_proto && a->bio && !(r->flags & LS_RQ_DEC_QUEUED)) {
			struct ls_pairs *pq = pairs_of(w->pid);

			r->flags |= LS_RQ_DEC_QUEUED;
			if (pq)
				pq->bio = 1;
		} else if (track_proto && !a->bio && (b->flags & 1) && L->t) {
			/* A complete request: the next decode on this thread is its. */
			struct ls_thread *t = L->t;
			__u32 tail = t->dq_tail;

			if (tail - t->dq_head >= FIFO)
				t->dq_head = tail - FIFO + 1; /* never decoded: forget the oldest */
			t->dq[tail & (FIFO - 1)].conn = k.conn;
			t->dq[tail & (FIFO - 1)].stream = k.stream;
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
		if (a->bio) {
			claim_pair(w->pid, t, r, &k);
		} else if (t && t->eq_head != t->eq_tail) {
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
	w->queue = !out && cl->arrival && cl->arrival < start ? start - cl->arrival : 0;
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

/* ---- grpc-go: which request a handler goroutine serves ------------------------------ */

struct ls_gkey {
	__u32 pid;
	__u32 _pad;
	__u64 g;   /* the goroutine (R14 in Go's register ABI), or another Go pointer */
};

/* Struct offsets of each traced Go binary (per pid), set by the loader. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LS_MAX_TARGETS);
	__type(key, __u32);
	__type(value, struct ls_go_offsets);
} go_offs SEC(".maps");

/* grpc-go *http2Server -> the TLS connection its reader goroutine reads (learnt at operateHeaders). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct ls_gkey);
	__type(value, __u64);
} go_transports SEC(".maps");

/* A handler goroutine -> the request (connection, stream) whose transport stream it serves. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct ls_gkey);
	__type(value, struct ls_req_key);
} go_serving SEC(".maps");

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
	cl->arrival = 0;
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

/* Entry of a library call, at the function (callsite = 0) or at a direct call to it (1). */
static __always_inline int lib_enter(struct pt_regs *ctx, void *obj, void *buf, void *aux, const int callsite)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id, cookie = (__u32)bpf_get_attach_cookie(ctx);
	/* At a call site the return address is not pushed yet: the return shows this stack pointer. */
	__u64 ret_sp = PT_REGS_SP(ctx) + (callsite ? 0 : 8);
	struct ls_thread *t;
	struct ls_call *cl;

	if (!target_slot(id >> 32))
		return 0;
	t = thread_state(&threads, &tid);
	if (!t)
		return 0;
	/* The function's own entry, reached from a probed call site: that probe recorded this call. */
	cl = top(t);
	if (!callsite && cl && cl->sp == ret_sp && LS_COOKIE_PROBE(cl->cookie) == LS_COOKIE_PROBE(cookie))
		return 0;
	/* mem_send's result pointer is its second argument. */
	if (LS_COOKIE_CONV(cookie) == LS_ARG_H2_MEM_SEND)
		aux = buf;
	/* A C++ function returning a class in memory: its first argument is the result slot. */
	if (LS_COOKIE_CONV(cookie) == LS_ARG_SRET_OBJ)
		obj = buf;
	return call_enter(t, id >> 32, cookie, (__u64)obj, (__u64)buf, (__u64)aux, ret_sp, bpf_ktime_get_ns());
}

SEC("uprobe")
int BPF_KPROBE(probe_enter, void *obj, void *buf, __u64 num, void *aux)
{
	return lib_enter(ctx, obj, buf, aux, 0);
}

/* A direct call to a probed function: the arguments are already in their registers. */
SEC("uprobe")
int BPF_KPROBE(cs_enter, void *obj, void *buf, __u64 num, void *aux)
{
	return lib_enter(ctx, obj, buf, aux, 1);
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
	/* On a grpc-go handler goroutine: the request is the one whose transport stream it serves. */
	if (g && (kind == LS_KIND_DECODE || kind == LS_KIND_ENCODE)) {
		struct ls_gkey gk = { .pid = pid, .g = g };
		struct ls_req_key *rk = bpf_map_lookup_elem(&go_serving, &gk);

		if (rk) {
			struct ls_req *r = bpf_map_lookup_elem(&reqs, rk);

			if (r) {
				r->ph[kind == LS_KIND_DECODE ? LS_PH_DECODE : LS_PH_ENCODE] += self;
				r->flags |= LS_RQ_PROTO_STREAM;
			} else {
				count(LS_CNT_PROTO_UNMATCHED);
			}
			return 0;
		}
	}
	if (kind == LS_KIND_DECODE) {
		struct ls_req_key k = {};
		struct ls_pairs *pq;

		k.pid = pid;
		if (t->dq_head != t->dq_tail) {
			struct ls_req *r;

			k.conn = t->dq[t->dq_head & (FIFO - 1)].conn;
			k.stream = t->dq[t->dq_head & (FIFO - 1)].stream;
			t->dq_head++;
			r = bpf_map_lookup_elem(&reqs, &k);
			if (r) {
				r->ph[LS_PH_DECODE] += self;
				r->flags |= LS_RQ_PROTO_FIFO;
			} else {
				count(LS_CNT_PROTO_UNMATCHED);
			}
			return 0;
		}
		/* A memory-BIO server: a new call on this thread, held until its response starts. */
		pq = pairs_of(pid);
		if (pq && pq->bio) {
			__u32 seq = pq->tail + 1;
			struct ls_pair *p = &pq->p[seq & (PAIRS - 1)];

			if (p->seq && !p->claimed)
				count(LS_CNT_PROTO_UNMATCHED); /* a call no response took */
			p->dec = self;
			p->enc = 0;
			p->tid = tid;
			p->seq = seq;
			p->claimed = 0;
			p->ready = 0;
			pq->tail = seq;
			t->pair_seq = seq;
			t->cur_conn = 0;
			return 0;
		}
		count(LS_CNT_PROTO_UNMATCHED);
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
				r->flags |= LS_RQ_PROTO_WRITER;
			} else {
				/* Its request finished already: counted, never given to another. */
				count(LS_CNT_PROTO_UNMATCHED);
			}
			return 0;
		}
		/* A memory-BIO call's first encode: it waits with the decode, in the order encodes end. */
		if (t->pair_seq) {
			struct ls_pairs *pq = pairs_of(pid);
			struct ls_pair *p = pq ? &pq->p[t->pair_seq & (PAIRS - 1)] : NULL;

			if (pq && p && p->seq == t->pair_seq && !p->claimed && p->tid == tid) {
				p->enc += self;
				if (!p->ready) {
					__u32 rt = pq->rtail;

					p->ready = 1;
					if (rt - pq->rhead >= PAIRS)
						pq->rhead = rt - PAIRS + 1;
					pq->ready[rt & (PAIRS - 1)] = p->seq;
					pq->rtail = rt + 1;
				}
			} else {
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

		/*
		 * A mem_send that had nothing to send served no stream: its time would
		 * land on the next response, possibly one whose request still waited
		 * in the socket then (counted as its queue).
		 */
		if (!conn_id || (conv == LS_ARG_H2_MEM_SEND && !bytes))
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

/*
 * The register a return site reads the result from (the caller may have moved
 * it out of rax). Every load has a constant offset: the verifier refuses a
 * context access at a computed one, which is what a switch compiles to.
 */
static __always_inline long result_reg(struct pt_regs *ctx)
{
	__u32 r = LS_COOKIE_RET_REG(bpf_get_attach_cookie(ctx));
	long v = ctx->ax;

#define PICK(idx, field) do { long x = ctx->field; barrier_var(x); if (r == (idx)) v = x; } while (0)
	PICK(LS_REG_RBX, bx);
	PICK(LS_REG_RCX, cx);
	PICK(LS_REG_RDX, dx);
	PICK(LS_REG_RSI, si);
	PICK(LS_REG_RDI, di);
	PICK(LS_REG_RBP, bp);
	PICK(LS_REG_R8, r8);
	PICK(LS_REG_R9, r9);
	PICK(LS_REG_R10, r10);
	PICK(LS_REG_R11, r11);
	PICK(LS_REG_R12, r12);
	PICK(LS_REG_R13, r13);
	PICK(LS_REG_R14, r14);
	PICK(LS_REG_R15, r15);
#undef PICK
	return v;
}

/*
 * The first emulated instruction after a probed call site returns: the stack
 * pointer is back to the call's, so the frame matches as a uretprobe's would.
 */
static __always_inline int lib_return_site(struct pt_regs *ctx, const int tls)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct ls_thread *t = bpf_map_lookup_elem(&threads, &tid);
	int d;

	if (!t || (d = match_return(t, PT_REGS_SP(ctx))) < 0)
		return 0;
	return call_return(ctx, t, (__u32)d, result_reg(ctx), id >> 32, tid, bpf_ktime_get_ns(), tls, 0);
}

SEC("uprobe")
int cs_exit(struct pt_regs *ctx)
{
	return lib_return_site(ctx, 1);
}

SEC("uprobe")
int cs_exit_lib(struct pt_regs *ctx)
{
	return lib_return_site(ctx, 0);
}

/* ---- Go: per-goroutine call stacks, entry after the stack check, uprobes on RETs ---- */

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

	if (!t || !key.g)
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
	/* At a RET the result is in rax; at a call site's return site, where the caller moved it. */
	return call_return(ctx, t, d, result_reg(ctx), key.pid, (__u32)id, bpf_ktime_get_ns(), tls, key.g);
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

/*
 * grpc-go's transport decoded a HEADERS frame (operateHeaders, on the
 * connection's reader goroutine): the MetaHeadersFrame carries the decoded
 * fields, so :path is read from them; no HPACK state is needed, which names
 * streams of connections latscope joined mid-flight too. The reader
 * goroutine's last TLS read names the connection; the transport is
 * remembered so that handler goroutines find it from their stream.
 */
static __always_inline int grpc_headers(struct pt_regs *ctx, const struct ls_go_offsets *off, struct ls_gkey *key)
{
	struct ls_thread *gt = bpf_map_lookup_elem(&gthreads, key);
	struct ls_gkey tk = { .pid = key->pid, .g = ctx->ax };
	__u64 conn, hf = 0, fields = 0, nfields = 0;
	struct ls_method_rec *rec;
	__u32 sid = 0;

	if (!gt || !(conn = gt->last_conn))
		return 0;
	bpf_map_update_elem(&go_transports, &tk, &conn, BPF_ANY);
	if (bpf_probe_read_user(&hf, sizeof(hf), (void *)(ctx->bx + off->mhf_headers)) || !hf ||
	    bpf_probe_read_user(&sid, sizeof(sid), (void *)(hf + off->hf_frame_header + off->fh_stream_id)) ||
	    bpf_probe_read_user(&fields, sizeof(fields), (void *)(ctx->bx + off->mhf_fields)) ||
	    bpf_probe_read_user(&nfields, sizeof(nfields), (void *)(ctx->bx + off->mhf_fields + 8)))
		return 0;
	/* Pseudo-headers come first: :path is among the first few fields. */
	for (__u32 i = 0; i < 8 && i < nfields; i++) {
		__u64 f = fields + (__u64)i * off->field_size, name[2] = {}, val[2] = {};
		char nm[5] = {};
		__u32 n;

		if (bpf_probe_read_user(name, sizeof(name), (void *)(f + off->field_name)) || name[1] != 5 ||
		    bpf_probe_read_user(nm, sizeof(nm), (void *)name[0]) ||
		    nm[0] != ':' || nm[1] != 'p' || nm[2] != 'a' || nm[3] != 't' || nm[4] != 'h')
			continue;
		if (bpf_probe_read_user(val, sizeof(val), (void *)(f + off->field_value)) || !val[1])
			return 0;
		rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
		if (!rec) {
			count(LS_CNT_RB_DROPS);
			return 0;
		}
		n = val[1] < LS_METHOD_REC_MAX - 1 ? (__u32)val[1] : LS_METHOD_REC_MAX - 1;
		rec->type = LS_REC_METHOD;
		rec->len = (__u16)n;
		rec->pid = key->pid;
		rec->stream = sid;
		rec->_pad = 0;
		rec->conn = conn;
		if (bpf_probe_read_user(rec->name, n & (LS_METHOD_REC_MAX - 1), (void *)val[0]))
			rec->len = 0;
		bpf_ringbuf_submit(rec, rb_flags());
		return 0;
	}
	return 0;
}

/* grpc-go entries that are not timed: a handler goroutine taking a stream, the transport's headers. */
SEC("uprobe")
int go_grpc_enter(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, cookie = (__u32)bpf_get_attach_cookie(ctx);
	struct ls_gkey key = { .pid = pid, .g = ctx->r14 };
	const struct ls_go_offsets *off;
	struct ls_gkey tk = { .pid = pid };
	struct ls_req_key rk = { .pid = pid };
	__u64 stream, bx, di, *conn;
	__u32 probe = LS_COOKIE_PROBE(cookie);

	if (!target_slot(pid) || !key.g || !(off = bpf_map_lookup_elem(&go_offs, &pid)))
		return 0;
	/* Handlers are counted at their RETs: an entry fires again when morestack restarts the function. */
	if (probe < LS_PROBE_MAX && LS_COOKIE_KIND(cookie) == LS_KIND_GO_HEADERS)
		account(probe, 1, 0, 0);
	if (!emit_requests)
		return 0;
	if (LS_COOKIE_CONV(cookie) == LS_ARG_GO_HEADERS)
		return grpc_headers(ctx, off, &key);
	/* Both registers read as they are: the verifier refuses a computed offset into the context. */
	bx = ctx->bx;
	di = ctx->di;
	barrier_var(bx);
	barrier_var(di);
	stream = LS_COOKIE_CONV(cookie) == LS_ARG_GO_STREAM_BX ? bx : di;
	if (bpf_probe_read_user(&rk.stream, sizeof(rk.stream), (void *)(stream + off->stream_id)) ||
	    bpf_probe_read_user(&tk.g, sizeof(tk.g), (void *)(stream + off->stream_st + 8)))
		return 0;
	conn = bpf_map_lookup_elem(&go_transports, &tk);
	if (!conn)
		return 0;
	rk.conn = *conn;
	bpf_map_update_elem(&go_serving, &key, &rk, BPF_ANY);
	return 0;
}

/* A handler returned (RET sites of processUnaryRPC/processStreamingRPC): the goroutine serves no stream. */
SEC("uprobe")
int go_grpc_ret(struct pt_regs *ctx)
{
	struct ls_gkey key = { .pid = bpf_get_current_pid_tgid() >> 32, .g = ctx->r14 };
	__u32 probe = LS_COOKIE_PROBE(bpf_get_attach_cookie(ctx));

	if (!target_slot(key.pid))
		return 0;
	if (probe < LS_PROBE_MAX)
		account(probe, 1, 0, 0);
	bpf_map_delete_elem(&go_serving, &key);
	return 0;
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

/* ---- Queue: when received bytes reached the socket ------------------------------ */

#define RX_RING 8 /* arrivals remembered per socket */

/* A target's TCP socket: rcv_nxt after each data-ready, and when. */
struct ls_rx {
	__u32 head;
	__u32 isn;         /* rcv_nxt - bytes_received: which connection at this address the stamps are of */
	__u32 seq[RX_RING];
	__u64 ts[RX_RING];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* struct sock * */
	__type(value, struct ls_rx);
} rx_socks SEC(".maps");

static struct ls_rx zero_rx;

/*
 * A socket's initial receive sequence (+1), constant for the connection: a freed
 * socket's address is soon another connection's, whose stamps must not mix.
 */
static __always_inline __u32 rx_isn(struct sock *sk, __u32 nxt)
{
	return nxt - (__u32)BPF_CORE_READ((struct tcp_sock *)sk, bytes_received);
}

/* Forget the stamps of a previous connection at the same address. */
static __always_inline void rx_reset(struct ls_rx *rx, __u32 isn)
{
	rx->head = 0;
	rx->isn = isn;
	for (int i = 0; i < RX_RING; i++)
		rx->ts[i] = 0;
}

/* New bytes are readable on sk (softirq, any task's context): stamp them if sk is a target's. */
static __always_inline int data_ready(struct sock *sk)
{
	__u64 key = (__u64)sk;
	struct ls_rx *rx = bpf_map_lookup_elem(&rx_socks, &key);
	__u32 nxt, h, isn;

	if (!rx)
		return 0;
	nxt = BPF_CORE_READ((struct tcp_sock *)sk, rcv_nxt);
	isn = rx_isn(sk, nxt);
	if (rx->isn != isn)
		rx_reset(rx, isn);
	h = rx->head;
	if (rx->ts[(h - 1) & (RX_RING - 1)] && rx->seq[(h - 1) & (RX_RING - 1)] == nxt)
		return 0;
	rx->seq[h & (RX_RING - 1)] = nxt;
	rx->ts[h & (RX_RING - 1)] = bpf_ktime_get_ns();
	rx->head = h + 1;
	return 0;
}

/*
 * A receive on sk just returned: when did the last byte it read arrive? The
 * earliest data-ready whose rcv_nxt covers it (a later one when the ring has
 * moved on, which only makes the queue shorter). 0 when unknown; a socket seen
 * for the first time starts being stamped.
 */
static __always_inline __u64 rx_arrival(__u64 sk)
{
	struct ls_rx *rx = bpf_map_lookup_elem(&rx_socks, &sk);
	__u64 best = 0;
	__u32 end, isn;

	if (!rx) {
		bpf_map_update_elem(&rx_socks, &sk, &zero_rx, BPF_NOEXIST);
		return 0;
	}
	/* Stamps of another connection (this address was freed and reused): none of ours yet. */
	isn = rx_isn((struct sock *)sk, BPF_CORE_READ((struct tcp_sock *)sk, rcv_nxt));
	if (rx->isn != isn) {
		rx_reset(rx, isn);
		return 0;
	}
	end = BPF_CORE_READ((struct tcp_sock *)sk, copied_seq);
	for (int i = 0; i < RX_RING; i++) {
		__u64 ts = rx->ts[i];

		if (ts && (__s32)(rx->seq[i] - end) >= 0 && (!best || ts < best))
			best = ts;
	}
	return best;
}

/* The tracepoint's record (its layout has been stable since it appeared): no CO-RE, so it loads anywhere. */
struct ls_tp_data_ready {
	__u64 common;
	const void *skaddr;
	__u16 family;
	__u16 protocol;
};

SEC("tracepoint/sock/sk_data_ready")
int tp_ready(struct ls_tp_data_ready *ctx)
{
	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	return data_ready((struct sock *)ctx->skaddr);
}

SEC("kprobe/sock_def_readable")
int BPF_KPROBE(kp_ready, struct sock *sk)
{
	return data_ready(sk);
}

SEC("fentry/sock_def_readable")
int BPF_PROG(fe_ready, struct sock *sk)
{
	return data_ready(sk);
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
	__u64 arrival = 0;
	__s32 fd = -1;

	sc = bpf_map_lookup_elem(&sys_calls, &tid);
	if (sc && sc->ts <= t0)
		fd = sc->fd;
	account(probe, ret > 0, ret > 0 ? (__u64)ret : 0, dur);
	if (probe == LS_PROBE_NET_RECV && ret > 0)
		arrival = rx_arrival(sk);
	/* Kernel time inside a library call is that call's network phase, not its own. */
	t = cur_thread(tid);
	if (t) {
		struct ls_call *cl = top(t);
		__u32 k = cl ? LS_COOKIE_KIND(cl->cookie) : 0;

		if (cl && cl->start <= t0) {
			cl->net_ns += dur;
			cl->child_ns += dur;
			if (arrival > cl->arrival)
				cl->arrival = arrival;
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

/*
 * --call-graph dwarf scratch: one slot per CPU (user space sizes it), as the
 * record is larger than a per-CPU map value may be. A perf_event program
 * does not nest on its CPU, so a slot has one writer at a time. The slack
 * past LS_USTACK_MAX lets the copy loop's bounds be simple for the verifier.
 */
struct ls_ustack_buf {
	struct pt_regs regs;
	struct ls_ustack rec;
	__u8 data[LS_USTACK_MAX + 4096]; /* follows rec without padding: rec is a multiple of 8 bytes */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct ls_ustack_buf);
} ustack_buf SEC(".maps");

#define PAGE_SZ 4096

/*
 * Copy the top of the user stack page by page: a read across into an
 * unmapped page fails as a whole, and the main thread's stack often ends
 * closer to its stack pointer than the size asked for.
 */
static __always_inline __u32 copy_ustack(struct ls_ustack_buf *b, __u64 sp, __u64 want)
{
	__u64 got = 0;

	for (int i = 0; i < LS_USTACK_MAX / PAGE_SZ + 2; i++) {
		__u64 chunk = PAGE_SZ - ((sp + got) & (PAGE_SZ - 1)), off = got;

		if (got >= want)
			break;
		if (chunk > want - got)
			chunk = want - got;
		/* Masks the verifier can follow: chunk in [0, PAGE_SZ], off in [0, LS_USTACK_MAX]. */
		barrier_var(chunk);
		chunk &= 2 * PAGE_SZ - 1;
		if (chunk > PAGE_SZ)
			break;
		barrier_var(off);
		off &= 0x1ffff;
		if (off > LS_USTACK_MAX)
			break;
		if (bpf_probe_read_user(b->data + off, (__u32)chunk, (void *)(sp + got))) {
			count(LS_CNT_USTACK_SHORT);
			break;
		}
		got += chunk;
	}
	return (__u32)got;
}

/*
 * A function under a uretprobe returns to the kernel's trampoline: its
 * return address slot on the stack holds the trampoline's address, which no
 * object's CFI describes. The kernel keeps the real one per task; put it
 * back in the copy so the unwind goes on through the caller.
 */
static __always_inline void fix_uretprobes(struct ls_ustack_buf *b, struct task_struct *task, __u64 sp, __u64 got)
{
	struct return_instance *ri = BPF_CORE_READ(task, utask, return_instances);

	for (int i = 0; i < STACK_MAX + 2 && ri; i++) {
		__u64 at = BPF_CORE_READ(ri, stack), orig = BPF_CORE_READ(ri, orig_ret_vaddr), off;

		ri = BPF_CORE_READ(ri, next);
		if (at < sp || at + 8 > sp + got)
			continue;
		off = at - sp;
		barrier_var(off);
		off &= 0x1ffff;
		if (off > LS_USTACK_MAX - 8)
			continue;
		*(__u64 *)(b->data + off) = orig;
	}
}

/* A DWARF-mode sample: registers and stack copy to user space, which unwinds and aggregates it. */
static __always_inline void emit_ustack(void *ctx, const struct ls_sample_key *k, struct ls_thread *t, __u32 tid,
					__u64 now)
{
	__u32 cpu = bpf_get_smp_processor_id(), size;
	struct ls_ustack_buf *b = bpf_map_lookup_elem(&ustack_buf, &cpu);
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *ur = (struct pt_regs *)bpf_task_pt_regs(task);
	__u32 want = ustack_size;

	if (!b)
		return;
	/* The registers the thread had in user mode: at the sample, or at its kernel entry. */
	if (bpf_probe_read_kernel(&b->regs, sizeof(b->regs), ur)) {
		count(LS_CNT_STACK_LOST);
		return;
	}
	b->rec.type = LS_REC_USTACK;
	b->rec.phase = k->phase;
	b->rec.slow = k->slow;
	b->rec.pid = k->pid;
	b->rec.tid = tid;
	b->rec.kstack = bpf_get_stackid(ctx, &stacks, 0);
	b->rec.ts_ns = now;
	b->rec.age_ns = t && t->req_start ? now - t->req_start : 0;
	b->rec.flags = 0;
	if (k->slow && t && !t->slow_seen && emit_requests) {
		t->slow_seen = 1;
		b->rec.flags |= LS_US_SLOW_FIRST;
	}
	b->rec.regs[0] = b->regs.ax;
	b->rec.regs[1] = b->regs.dx;
	b->rec.regs[2] = b->regs.cx;
	b->rec.regs[3] = b->regs.bx;
	b->rec.regs[4] = b->regs.si;
	b->rec.regs[5] = b->regs.di;
	b->rec.regs[6] = b->regs.bp;
	b->rec.regs[7] = b->regs.sp;
	b->rec.regs[8] = b->regs.r8;
	b->rec.regs[9] = b->regs.r9;
	b->rec.regs[10] = b->regs.r10;
	b->rec.regs[11] = b->regs.r11;
	b->rec.regs[12] = b->regs.r12;
	b->rec.regs[13] = b->regs.r13;
	b->rec.regs[14] = b->regs.r14;
	b->rec.regs[15] = b->regs.r15;
	b->rec.regs[16] = b->regs.ip;
	if (want > LS_USTACK_MAX)
		want = LS_USTACK_MAX;
	size = copy_ustack(b, b->regs.sp, want);
	fix_uretprobes(b, task, b->regs.sp, size);
	b->rec.size = size;
	barrier_var(size);
	if (size > LS_USTACK_MAX)
		return;
	if (bpf_ringbuf_output(&events, &b->rec, sizeof(b->rec) + size, rb_flags()))
		count(LS_CNT_USTACK_DROPS);
}

SEC("perf_event")
int on_cpu_sample(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id, pid = id >> 32;
	__u64 now = bpf_ktime_get_ns(), one = 1, *cnt;
	struct ls_sample_key k = {};
	struct ls_thread *t;

	if (!pid || !sampling || !target_slot(pid))
		return 0;
	count(LS_CNT_SAMPLES);
	k.pid = pid;
	thread_phase(tid, now, &k, &t);
	if (ustack_size) {
		emit_ustack(ctx, &k, t, tid, now);
		return 0;
	}
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
	if (prev_pid && target_slot(prev_pid) && !(window_hi && now >= window_hi)) {
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
		/* Only what falls inside the recording's window (a block may straddle its edges). */
		__u64 end = window_hi && now > window_hi ? window_hi : now;
		__u64 begin = os->ts > window_lo ? os->ts : window_lo;
		__u64 delta = end > begin ? end - begin : 0, *v;
		struct ls_sample_key k = os->key;

		bpf_map_delete_elem(&offstart, &next_tid);
		if (!delta)
			return 0;
		v = bpf_map_lookup_elem(&offcpu, &k);
		if (v)
			__sync_fetch_and_add(v, delta);
		else
			bpf_map_update_elem(&offcpu, &k, &delta, BPF_NOEXIST);
	}
	return 0;
}
