/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Protobuf decode and encode: which request each belongs to. Nothing in a
 * decode or encode call names its request; each strategy below is one way to
 * tell, and each names itself in the request's "matched" list (user space).
 * Part of bpf/latscope.bpf.c (one object, one skeleton): included from there, in order.
 */

/* proto_by_goroutine_stream: a grpc-go handler goroutine serves the stream its transport bound it to. */
static __always_inline int proto_by_goroutine_stream(__u32 pid, __u64 g, __u32 kind, __u64 self)
{
	struct lsk_gkey gk = { .pid = pid, .g = g };
	struct ls_req_key *rk;
	struct lsk_req *r;

	if (!g)
		return 0;
	rk = bpf_map_lookup_elem(&go_serving, &gk);
	if (!rk)
		return 0;
	r = bpf_map_lookup_elem(&reqs, rk);
	if (r) {
		r->ph[kind == LS_KIND_DECODE ? LS_PH_DECODE : LS_PH_ENCODE] += self;
		r->flags |= LS_RQ_PROTO_STREAM;
		r->serve_g = g;
	} else {
		count(LS_CNT_PROTO_UNMATCHED);
	}
	return 1;
}

#define DECODER_MIN 3 /* decodes without an encode that make a memory-BIO thread a reader-decoder */

/* The oldest of a queue of requests read whole, into k; 0 when there is none. */
static __always_inline int pop_read(struct lsk_pending *q, __u32 *head, __u32 tail, struct ls_req_key *k)
{
	__u32 h = *head;

	if (h == tail)
		return 0;
	k->conn = q[h & (FIFO - 1)].conn;
	k->stream = q[h & (FIFO - 1)].stream;
	*head = h + 1;
	return 1;
}

struct lsk_rqscan {
	struct ls_req_key k; /* its pid: the target's */
	__u64 fp;    /* the decode's message fingerprint, 0: unknown */
	__u32 lead;  /* entries at the head already taken or gone */
	__u32 first; /* 1 + the position of the oldest entry read whole */
	__u32 found; /* 1 + the position of the oldest entry read whole with the decode's fingerprint */
};

/*
 * One entry of ls_take_read_whole's scan, n places past the head; 1 ends it.
 * A global function: the verifier checks it once, not once per state of the loop.
 */
__noinline int ls_scan_read_whole(struct lsk_rqscan *s, __u32 n)
{
	/* Looked up again: a pointer read from *s would be a plain number to the verifier. */
	struct lsk_pairs *pq = s ? pairs_of(s->k.pid) : NULL;
	struct ls_req_key k = {}; /* on the stack: older verifiers take no map key in other memory */
	struct lsk_pending *e;
	struct lsk_req *r;

	if (!pq || pq->rqhead + (__u32)n == pq->rqtail)
		return 1;
	e = &pq->rq[(pq->rqhead + (__u32)n) & (FIFO - 1)];
	s->k.conn = k.conn = e->conn;
	s->k.stream = k.stream = e->stream;
	k.pid = s->k.pid;
	r = e->conn ? bpf_map_lookup_elem(&reqs, &k) : NULL;
	if (!r)
		e->conn = 0; /* taken, or its request is gone */
	if (!e->conn) {
		s->lead += s->lead == (__u32)n;
		return 0;
	}
	if (!(r->flags & LS_RQ_READ_WHOLE))
		return 0; /* its message is still coming: a later one decodes first */
	if (!s->first)
		s->first = (__u32)n + 1;
	if (!s->fp || r->msg_fp != s->fp)
		return !s->fp; /* without a fingerprint the oldest is it */
	s->found = (__u32)n + 1;
	return 1;
}

static long scan_read_whole(__u64 n, void *arg)
{
	return ls_scan_read_whole(arg, (__u32)n) ? 1 : 0;
}

/*
 * Memory BIOs: the request a decode belongs to, into k (conn, stream): among
 * those whose message was read whole and that nobody decoded yet, in the order
 * requests opened, the oldest whose message ends as the decode's (fp, its
 * last bytes), else the oldest. 0 when there is none. Entries at the head
 * already taken are dropped.
 */
__noinline int ls_take_read_whole(struct lsk_pairs *pq, struct ls_req_key *k, __u64 fp)
{
	struct lsk_rqscan s = {};
	struct lsk_pending *e;
	__u32 pos;

	if (!pq || !k)
		return 0;
	s.k.pid = k->pid;
	s.fp = fp;
	bpf_loop(FIFO, scan_read_whole, &s, 0);
	pos = s.found ? s.found : s.first;
	if (!pos) {
		pq->rqhead += s.lead;
		return 0;
	}
	pos--;
	e = &pq->rq[(pq->rqhead + pos) & (FIFO - 1)];
	k->conn = e->conn;
	k->stream = e->stream;
	e->conn = 0;
	pq->rqhead += s.lead + (pos == s.lead);
	return 1;
}

/*
 * proto_by_thread_order, decode: the oldest request this thread read whole and
 * nobody decoded. In a memory-BIO server a handler thread decodes calls other
 * threads read (proto_by_handler_thread) and encodes their replies; a thread
 * that decodes again and again and never encodes (gRPC Python's polling thread,
 * which hands calls to worker threads when their headers come) decodes the
 * oldest request the process read whole, in the order requests opened. Every
 * decode there takes one, to stay in step.
 */
__noinline int ls_decode_by_thread_order(struct lsk_thread *t, __u32 pid, __u32 tid, __u64 self)
{
	struct ls_req_key k = { .pid = pid };
	struct lsk_pairs *pq = pairs_of(pid);
	struct lsk_req *r;

	if (!t)
		return 0;
	if (pq && pq->bio) {
		int took = ls_take_read_whole(pq, &k, t->dec_fp);

		if (t->encoded || t->decodes < DECODER_MIN)
			return 0;
		/*
		 * A reader-decoder holds no call of its own: its first decodes, held
		 * before it showed what it is, belong to calls it handed on, and a
		 * response it writes for a worker must not take one of them.
		 */
		if (t->pair_seq) {
			struct lsk_pair *p = &pq->p[t->pair_seq & (PAIRS - 1)];

			if (p->seq == t->pair_seq && !p->claimed) {
				p->claimed = 1;
				count(LS_CNT_PROTO_UNMATCHED);
			}
			t->pair_seq = 0;
		}
		if (!took) {
			count(LS_CNT_PROTO_UNMATCHED);
			return 1;
		}
		k.pid = pid;
	} else if (!pop_read(t->dq, &t->dq_head, t->dq_tail, &k)) {
		return 0;
	}
	r = bpf_map_lookup_elem(&reqs, &k);
	if (r) {
		r->ph[LS_PH_DECODE] += self;
		r->flags |= LS_RQ_PROTO_FIFO;
		r->serve_tid = tid;
	} else {
		count(LS_CNT_PROTO_UNMATCHED);
	}
	return 1;
}

/* proto_by_handler_thread, decode: a memory-BIO server's new call on this thread, held until its response starts. */
static __always_inline int proto_decode_by_handler_thread(struct lsk_thread *t, __u32 pid, __u32 tid, __u64 self)
{
	struct lsk_pairs *pq = pairs_of(pid);
	struct lsk_pair *p;
	__u32 seq;

	if (!pq || !pq->bio)
		return 0;
	seq = pq->tail + 1;
	p = &pq->p[seq & (PAIRS - 1)];
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
	return 1;
}

/* proto_by_handler_thread, encode: more messages of the response this thread's call started. */
static __always_inline int proto_encode_current(struct lsk_thread *t, __u32 pid, __u64 self)
{
	struct ls_req_key k = { .conn = t->cur_conn, .pid = pid, .stream = t->cur_stream };
	struct lsk_req *r;

	if (!t->cur_conn)
		return 0;
	r = bpf_map_lookup_elem(&reqs, &k);
	t->cur_conn = r ? t->cur_conn : 0;
	if (r) {
		r->ph[LS_PH_ENCODE] += self;
		r->flags |= LS_RQ_PROTO_WRITER;
	} else {
		/* Its request finished already: counted, never given to another. */
		count(LS_CNT_PROTO_UNMATCHED);
	}
	return 1;
}

/* proto_by_handler_thread, encode: a memory-BIO call's first encode waits with its decode, in the order encodes end. */
static __always_inline int proto_encode_by_handler_thread(struct lsk_thread *t, __u32 pid, __u32 tid, __u64 self)
{
	struct lsk_pairs *pq;
	struct lsk_pair *p;
	__u32 rt;

	if (!t->pair_seq)
		return 0;
	pq = pairs_of(pid);
	p = pq ? &pq->p[t->pair_seq & (PAIRS - 1)] : NULL;
	if (!pq || !p || p->seq != t->pair_seq || p->claimed || p->tid != tid) {
		count(LS_CNT_PROTO_UNMATCHED);
		return 1;
	}
	p->enc += self;
	if (p->ready)
		return 1;
	rt = pq->rtail;
	p->ready = 1;
	if (rt - pq->rhead >= PAIRS)
		pq->rhead = rt - PAIRS + 1;
	pq->ready[rt & (PAIRS - 1)] = p->seq;
	pq->rtail = rt + 1;
	return 1;
}

/*
 * proto_by_thread_order, encode: waits on its thread for the next response that
 * starts there. In a memory-BIO server a thread that encodes without holding a
 * call (gRPC Python's workers) serves one call at a time and starts its response
 * right after the encode unless the transport hands the write to another thread:
 * an encode still waiting when the thread encodes again lost its response, and
 * must not be given to the next one.
 */
__noinline int ls_encode_by_thread_order(struct lsk_thread *t, __u32 pid, __u32 tid, __u64 self)
{
	struct lsk_pairs *pq = pairs_of(pid);
	__u32 tail;

	if (!t)
		return 0;
	tail = t->eq_tail;
	if (pq && pq->bio) {
		__u32 e = pq->etail;

		if (t->eq_head != tail) {
			t->eq_head = tail;
			count(LS_CNT_PROTO_UNMATCHED);
		}
		if (e - pq->ehead >= ENCODERS)
			pq->ehead = e - ENCODERS + 1;
		pq->etid[e & (ENCODERS - 1)] = tid;
		pq->etail = e + 1;
	}
	if (tail - t->eq_head >= FIFO) {
		t->eq_head = tail - FIFO + 1;
		count(LS_CNT_PROTO_UNMATCHED);
	}
	t->eq[tail & (FIFO - 1)] = self;
	t->eq_tail = tail + 1;
	return 0;
}

/* An outermost decode or encode returned on thread (or goroutine g) t after self ns. */
__noinline int ls_proto_return(struct lsk_thread *t, __u32 kind, __u64 self, __u64 pid_tid, __u64 g)
{
	__u32 pid = pid_tid >> 32, tid = (__u32)pid_tid;

	if (!t)
		return 0;
	if (kind == LS_KIND_ENCODE)
		t->encoded = 1;
	else if (t->decodes < 255)
		t->decodes++;
	if (proto_by_goroutine_stream(pid, g, kind, self))
		return 0;
	if (kind == LS_KIND_DECODE) {
		if (!ls_decode_by_thread_order(t, pid, tid, self) && !proto_decode_by_handler_thread(t, pid, tid, self))
			count(LS_CNT_PROTO_UNMATCHED);
		return 0;
	}
	if (!proto_encode_current(t, pid, self) && !proto_encode_by_handler_thread(t, pid, tid, self))
		ls_encode_by_thread_order(t, pid, tid, self);
	return 0;
}
