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

/* proto_by_thread_order, decode: the oldest request this thread read whole and nobody decoded. */
static __always_inline int proto_decode_by_thread_order(struct lsk_thread *t, __u32 pid, __u32 tid, __u64 self)
{
	struct ls_req_key k = { .pid = pid };
	struct lsk_req *r;

	if (t->dq_head == t->dq_tail)
		return 0;
	k.conn = t->dq[t->dq_head & (FIFO - 1)].conn;
	k.stream = t->dq[t->dq_head & (FIFO - 1)].stream;
	t->dq_head++;
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

/* proto_by_thread_order, encode: waits on its thread for the next response that starts there. */
static __always_inline void proto_encode_by_thread_order(struct lsk_thread *t, __u64 self)
{
	__u32 tail = t->eq_tail;

	if (tail - t->eq_head >= FIFO) {
		t->eq_head = tail - FIFO + 1;
		count(LS_CNT_PROTO_UNMATCHED);
	}
	t->eq[tail & (FIFO - 1)] = self;
	t->eq_tail = tail + 1;
}

/* An outermost decode or encode returned on thread (or goroutine g) t after self ns. */
__noinline int ls_proto_return(struct lsk_thread *t, __u32 kind, __u64 self, __u64 pid_tid, __u64 g)
{
	__u32 pid = pid_tid >> 32, tid = (__u32)pid_tid;

	if (!t)
		return 0;
	if (proto_by_goroutine_stream(pid, g, kind, self))
		return 0;
	if (kind == LS_KIND_DECODE) {
		if (!proto_decode_by_thread_order(t, pid, tid, self) && !proto_decode_by_handler_thread(t, pid, tid, self))
			count(LS_CNT_PROTO_UNMATCHED);
		return 0;
	}
	if (!proto_encode_current(t, pid, self) && !proto_encode_by_handler_thread(t, pid, tid, self))
		proto_encode_by_thread_order(t, self);
	return 0;
}
