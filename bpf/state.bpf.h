/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Maps and per-thread state shared by every program, and small helpers.
 * Part of bpf/latscope.bpf.c (one object, one skeleton): included from there, in order.
 *
 * Structs of the kernel side alone are named lsk_*; what crosses to user space
 * is named ls_* and lives in bpf/latscope.h (and bpf/h2split.h, shared with
 * user space's tests).
 */

/* ---- Maps ------------------------------------------------------------------- */

/* Processes under observation: tgid -> slot (0 .. LS_MAX_TARGETS-1). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LS_MAX_TARGETS);
	__type(key, __u32);
	__type(value, __u32);
} targets SEC(".maps");

/* One probed library call in flight on a thread. */
struct lsk_call {
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
	__u64 net_after; /* kernel receive time that began at or after arrival (Go's park before it is not) */
	__u64 rx_start;  /* when the kernel receive that read the bytes of arrival began (net_after is from it on) */
};

/* Decodes/encodes waiting to be matched with their request, per thread: one epoll round of
 * 4 connections x 10 streams must fit. A power of two. */
#define FIFO 64

struct lsk_pending {
	__u64 conn;
	__u32 stream;
	__u32 _pad;
};

#define FIN_MAX 8 /* responses written to a memory BIO, waiting for the thread's kernel send */

struct lsk_thread {
	__u32 depth;
	__u8 slow_seen;  /* the threshold crossing of req_start's request was captured */
	__u8 decodes;    /* outermost decodes on this thread, up to 255 */
	__u8 _pad0[2];
	__u64 last_conn; /* the TLS connection this thread touched last */
	__u64 req_start; /* start of the request this thread last began reading, 0 when it finished */
	/*
	 * Requests completed by this thread's reads, in order: each outermost
	 * decode belongs to the oldest. Encodes, in order: each response that
	 * starts on this thread takes the oldest.
	 */
	__u32 dq_head, dq_tail, eq_head, eq_tail;
	struct lsk_pending dq[FIFO];
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
	__u32 encoded; /* this thread ran an outermost encode (see proto_decode_by_thread_order) */
	__u64 dec_fp;  /* the decode returning now: its message's last bytes (msg_fp_at), 0: unknown */
	/*
	 * HTTP/2 output of nghttp2's mem_send, probed at its entry only (ls_h2o_open):
	 * from the first call of a run to the thread's next write, less the probed
	 * calls that returned in between; the session, and the thread's voluntary
	 * context switches when the run began. The later calls' traps are taken
	 * off at the end (ls_h2o_close): h2o_mark is where the last hit's program
	 * ended (moved on by the probed calls since), h2o_gap the shortest time from
	 * a mark to the next hit, h2o_later how many hits followed the first.
	 */
	__u64 h2o_start, h2o_child, h2o_sess, h2o_nvcsw, h2o_mark, h2o_gap;
	__u32 h2o_later, h2o_probe;
	struct lsk_pending fin[FIN_MAX];
	struct lsk_call c[STACK_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u32); /* tid */
	__type(value, struct lsk_thread);
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
#define ENCODERS 16 /* power of two */

struct lsk_pair {
	__u64 dec, enc;
	__u32 tid, seq;
	__u8 claimed, ready;
	__u8 _pad[6];
};

struct lsk_pairs {
	__u32 tail;         /* seq of the newest call */
	__u32 rhead, rtail; /* ready: calls in the order their encode ended */
	__u32 bio;          /* the target serves memory-BIO connections */
	struct lsk_pair p[PAIRS];
	__u32 ready[PAIRS];
	/*
	 * Threads that encoded without holding a call (gRPC Python's workers), in
	 * order: a response another thread starts for them (the transport handed
	 * the write over) takes the oldest encode still waiting among these.
	 */
	__u32 ehead, etail;
	__u32 etid[ENCODERS];
	/* Requests in the order their headers came, by any thread (see ls_take_read_whole). */
	__u32 rqhead, rqtail;
	struct lsk_pending rq[FIFO];
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LS_MAX_TARGETS);
	__type(key, __u32);
	__type(value, struct lsk_pairs);
} proto_pairs SEC(".maps");

struct lsk_conn {
	struct ls_h2dir in, out;
	__u64 pend_h2_out;          /* HTTP/2 output time not yet handed to a write */
	__u32 pend_in[PEND_MAX];    /* streams read but not yet through HTTP/2 processing */
	__u32 npend_in;
	__u32 flags;                /* LS_RQ_JOINED */
	__u8 is_h2;                 /* HTTP/2 framing recognised */
	__u8 proto;                 /* LS_PROTO_H1 once its bytes say HTTP/1 (bpf/http1.bpf.h) */
	__u8 seq_sent;              /* LS_REC_H2SEQ sent: once per joined connection */
	__u8 _pad[1];
	__u32 blocks_in;            /* request header blocks sent to user space */
	struct ls_h1dir h1in, h1out; /* HTTP/1 framing per direction (bpf/h1split.h) */
};

/* Targets whose nghttp2 decoder user space reads after a join: pid -> where its counter is. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, LS_MAX_TARGETS);
	__type(key, __u32);
	__type(value, struct ls_h2_infl);
} h2_infl SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct ls_conn_key);
	__type(value, struct lsk_conn);
} conns SEC(".maps");

/* nghttp2_session * -> the TLS connection it runs on (learnt on its thread). */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, __u64);
} sessions SEC(".maps");

struct lsk_req {
	__u64 start;     /* first: user space's sweep reads it (ls_session_poll()) */
	__u64 reset_at;  /* second, read there too: when the client reset the stream, 0: not */
	__u64 ph[LS_PHASE_COUNT];
	__u64 bytes_in, bytes_out;
	__u16 shared;
	__u16 flags;
	__u32 serve_tid; /* the thread that decoded it: its handler's, for per-request stacks */
	__u64 serve_g;   /* Go: the goroutine serving the stream */
	__u64 msg_fp;    /* memory BIOs: its message's last bytes (msg_fp_at), 0: unknown */
	__u16 status;    /* HTTP/1: the response's status code */
	__u16 _pad[3];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ls_req_key);
	__type(value, struct lsk_req);
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
struct lsk_sys_call {
	__u64 ts;
	__s32 fd;
	__u32 nr;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct lsk_sys_call);
} sys_calls SEC(".maps");

/* A kernel tcp_sendmsg/tcp_recvmsg in flight (kprobe/fentry variants). */
struct lsk_net_call {
	__u64 ts;
	__u64 sk;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct lsk_net_call);
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

/*
 * The test switch reject_features: a program of a group named there reads
 * through a plain number, which every verifier refuses, so tests see a real
 * rejection. Dead code otherwise (the verifier knows the read-only value).
 */
#define LS_REJECT_IF(feature)                                                      \
	do {                                                                       \
		if (reject_features & (1u << (feature)))                           \
			return *(volatile int *)(unsigned long)reject_features;    \
	} while (0)

/* Zeroed templates for new map entries (too large to build on the stack). */
static struct lsk_thread zero_thread;
static struct lsk_conn zero_conn;
static struct lsk_req zero_req;

/* ---- Small helpers ------------------------------------------------------------ */

static __always_inline __u32 *target_slot(__u32 tgid)
{
	return bpf_map_lookup_elem(&targets, &tgid);
}

static __always_inline struct lsk_pairs *pairs_of(__u32 pid)
{
	__u32 *slot = target_slot(pid);
	__u32 key = slot ? *slot : 0;

	return slot ? bpf_map_lookup_elem(&proto_pairs, &key) : NULL;
}

/* Append a request to a queue of requests; past FIFO the oldest, never decoded, is forgotten. */
static __always_inline void push_read(struct lsk_pending *q, __u32 *head, __u32 *tail, __u64 conn, __u32 stream)
{
	__u32 t = *tail;

	if (t - *head >= FIFO)
		*head = t - FIFO + 1;
	q[t & (FIFO - 1)].conn = conn;
	q[t & (FIFO - 1)].stream = stream;
	*tail = t + 1;
}

static __always_inline void count(__u32 which)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &which);

	if (c)
		*c += 1;
}

/* A histogram bucket, as a global function: its branches are verified once, not at every caller. */
__noinline int ls_bucket(__u64 v)
{
	return (int)ls_hist_bucket(v);
}

static __always_inline void hist_add(__u64 *hist, __u64 v)
{
	__u64 b = (__u32)ls_bucket(v);

	if (b >= LS_HIST_BUCKETS)
		b = LS_HIST_BUCKETS - 1;
	/* The check the verifier sees must be on the register that indexes. */
	barrier_var(b);
	if (b < LS_HIST_BUCKETS)
		hist[b]++;
}

/* One call of probe: its statistics. */
__noinline int ls_account(__u32 probe, int ok, __u64 bytes, __u64 dur)
{
	struct ls_stats *st = bpf_map_lookup_elem(&stats, &probe);

	if (!st)
		return 0;
	st->calls++;
	if (!ok) {
		st->fail++;
		return 0;
	}
	st->ok++;
	st->bytes += bytes;
	st->dur_sum_ns += dur;
	if (dur > st->dur_max_ns)
		st->dur_max_ns = dur;
	hist_add(st->hist, dur);
	return 0;
}

/* A call seen but not timed: its bytes count, its duration does not. */
static __always_inline void ls_account_bytes(__u32 probe, __u64 bytes)
{
	struct ls_stats *st = bpf_map_lookup_elem(&stats, &probe);

	if (!st)
		return;
	st->calls++;
	st->ok++;
	st->bytes += bytes;
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

static __always_inline struct lsk_call *top(struct lsk_thread *t)
{
	__u32 i = t->depth - 1;

	barrier_var(i);
	if (i >= STACK_MAX)
		return NULL;
	return &t->c[i];
}


/* ---- grpc-go: which request a handler goroutine serves ------------------------------ */

struct lsk_gkey {
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
	__type(key, struct lsk_gkey);
	__type(value, __u64);
} go_transports SEC(".maps");

/* A handler goroutine -> the request (connection, stream) whose transport stream it serves. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct lsk_gkey);
	__type(value, struct ls_req_key);
} go_serving SEC(".maps");


/* ---- Go: per-goroutine call stacks, entry after the stack check, uprobes on RETs ---- */

/* Goroutines move between threads: their calls are kept per goroutine. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct lsk_gkey);
	__type(value, struct lsk_thread);
} gthreads SEC(".maps");

/* The goroutine a thread last entered a probed Go function with: kernel time on the thread is its. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct lsk_gkey);
} gcur SEC(".maps");


/* What a TLS return hands to the HTTP/2 walk program (per CPU, read right after the tail call). */
struct lsk_handoff {
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
	__type(value, struct lsk_handoff);
} handoff SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} tails SEC(".maps");
