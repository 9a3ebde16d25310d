/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Requests: attributing each call's time to the streams it carried, finishing
 * them, and the HTTP/2 walk program a TLS return tail-calls.
 * Part of bpf/latscope.bpf.c (one object, one skeleton): included from there, in order.
 * The heavy steps are global functions: each is verified once, not once per
 * path of the loop that calls it.
 */

/* A request's last byte was handed to the kernel: its app time, histograms, record; then it goes. */
__noinline int ls_finish_request(const struct ls_req_key *kp, struct lsk_req *r, __u64 now, __u32 tid, __u32 conn_flags)
{
	struct ls_req_key k;
	struct ls_request *rec;
	__u64 total, sum = 0;
	__u32 *slot, base, i;

	if (!kp || !r)
		return 0;
	k = *kp;
	if (r->start < req_lo || (req_hi && r->start >= req_hi)) {
		/* Started outside the sampling window: kept out so that the sample is unbiased. */
		count(LS_CNT_REQ_OUTSIDE);
		bpf_map_delete_elem(&reqs, &k);
		return 0;
	}
	slot = target_slot(k.pid);
	total = now - r->start;

	/* Unrolled, like every short loop here: a loop keeps one verifier state per iteration at its head. */
#pragma unroll
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
#pragma unroll
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
			rec->flags = (r->flags & ~LS_RQ_INTERNAL) | (conn_flags & LS_RQ_JOINED);
			rec->pid = k.pid;
			rec->tid = tid;
			rec->stream = k.stream;
			rec->conn = k.conn;
			rec->start_ns = r->start;
			rec->total_ns = total;
#pragma unroll
			for (i = 0; i < LS_PHASE_COUNT; i++)
				rec->phase_ns[i] = r->ph[i];
			rec->bytes_in = r->bytes_in;
			rec->bytes_out = r->bytes_out;
			rec->shared = r->shared;
			rec->status = r->status;
			__builtin_memset(rec->_pad, 0, sizeof(rec->_pad));
			rec->serve_tid = r->serve_tid;
			rec->_pad2 = 0;
			rec->serve_g = r->serve_g;
			bpf_ringbuf_submit(rec, rb_flags());
		} else {
			count(LS_CNT_RB_DROPS);
			count(LS_CNT_REQ_DROPS);
		}
	}
	bpf_map_delete_elem(&reqs, &k);
	return 0;
}

/*
 * A response of a memory-BIO server starts (its HEADERS written by thread t):
 * the call waiting on t when t has one, else the oldest encoded call no
 * response took yet; its decode and encode are the request's, and later
 * encodes on its thread (more messages of a server stream) follow.
 */
struct lsk_skip {
	struct lsk_pairs *pq;
};

/* The ready queue's front past calls already taken (their own threads took most). */
static long skip_taken(__u32 i, void *ctx)
{
	struct lsk_pairs *pq = ((struct lsk_skip *)ctx)->pq;
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

__noinline int ls_claim_pair(__u32 pid, struct lsk_thread *t, struct lsk_req *r, const struct ls_req_key *k)
{
	struct lsk_pairs *pq = pairs_of(pid);
	struct lsk_thread *owner = t;
	struct lsk_pair *p = NULL;
	struct lsk_skip sk;

	if (!pq || !r || !k)
		return 0;
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
	if (!p)
		return 0;
	p->claimed = 1;
	r->serve_tid = p->tid;
	r->ph[LS_PH_DECODE] += p->dec;
	r->ph[LS_PH_ENCODE] += p->enc;
	r->flags |= LS_RQ_PROTO_WRITER;
	if (owner && owner->pair_seq == p->seq) {
		owner->cur_conn = k->conn;
		owner->cur_stream = k->stream;
	}
	return 1;
}

/*
 * A memory-BIO response started by a thread with no encode of its own: the
 * oldest encode still waiting among the threads that encoded without a call
 * (proto_pairs.etid). Unrolled, not a bpf_loop: one stack frame less under
 * the walk, whose frames older verifiers add up to at most 512 bytes.
 */
__noinline int ls_take_orphan_encode(__u32 pid, struct lsk_req *r)
{
	struct lsk_pairs *pq = pairs_of(pid);

	if (!r || !pq)
		return 0;
#pragma unroll
	for (int i = 0; i < ENCODERS; i++) {
		struct lsk_thread *e;
		__u32 h, tid;

		if (pq->ehead == pq->etail)
			return 0;
		h = pq->ehead++;
		tid = pq->etid[h & (ENCODERS - 1)];
		e = bpf_map_lookup_elem(&threads, &tid);
		if (!e || e->eq_head == e->eq_tail)
			continue;
		r->ph[LS_PH_ENCODE] += e->eq[e->eq_head & (FIFO - 1)];
		r->flags |= LS_RQ_PROTO_FIFO;
		e->eq_head++;
		return 1;
	}
	return 0;
}

/* Stream i of the walk's batch: its share of the read that carried it. */
static __always_inline void attrib_in(struct lsk_walk *w, struct lsk_conn *c, struct lsk_thread *t, struct lsk_req *r,
				      struct lsk_batch_ent *b)
{
	__u32 n;

	r->ph[LS_PH_TLS_IN] += w->self_ns;
	r->ph[LS_PH_NET_IN] += w->net_ns;
	if (b->msg_fp)
		r->msg_fp = b->msg_fp;
	r->bytes_in += b->bytes;
	/* Decodes in a memory-BIO server wait on their handler thread for their response (see proto_pairs). */
	if (track_proto && w->bio && !(r->flags & LS_RQ_DEC_QUEUED)) {
		struct lsk_pairs *pq = pairs_of(w->pid);

		r->flags |= LS_RQ_DEC_QUEUED;
		/* In the order requests opened, for the decodes of a polling thread (ls_take_read_whole). */
		if (pq) {
			pq->bio = 1;
			push_read(pq->rq, &pq->rqhead, &pq->rqtail, w->conn, b->stream);
		}
	}
	/*
	 * A complete request: the next decode on this thread is its (see
	 * proto_decode_by_thread_order). Once: a DATA frame that spans reads
	 * shows its END_STREAM at its header and again at its last byte.
	 */
	if (track_proto && (b->flags & LS_BATCH_END_STREAM) && !(r->flags & LS_RQ_READ_WHOLE)) {
		r->flags |= LS_RQ_READ_WHOLE;
		if (t && !w->bio)
			push_read(t->dq, &t->dq_head, &t->dq_tail, w->conn, b->stream);
	}
	/* The HTTP/2 library processes these bytes next. */
	n = c->npend_in;
	barrier_var(n);
	if (n < PEND_MAX) {
		c->pend_in[n] = b->stream;
		c->npend_in = n + 1;
	}
}

/* Stream i of the walk's batch: its share of the write that carried it; END_STREAM finishes it. */
static __always_inline void attrib_out(struct lsk_walk *w, struct lsk_conn *c, struct lsk_thread *t, struct lsk_req *r,
				       struct lsk_batch_ent *b, const struct ls_req_key *k)
{
	/* A response starting here was encoded just before, on this thread. */
	if (track_proto && (b->flags & LS_BATCH_HEADERS) && !(r->flags & LS_RQ_RESP_STARTED)) {
		/* A memory-BIO call held with its decode; else (or none held) this thread's oldest encode. */
		int claimed = w->bio && ls_claim_pair(w->pid, t, r, k);

		r->flags |= LS_RQ_RESP_STARTED;
		if (!claimed && t && t->eq_head != t->eq_tail) {
			r->ph[LS_PH_ENCODE] += t->eq[t->eq_head & (FIFO - 1)];
			r->flags |= LS_RQ_PROTO_FIFO;
			t->eq_head++;
		} else if (!claimed && w->bio && !ls_take_orphan_encode(w->pid, r)) {
			count(LS_CNT_PROTO_UNMATCHED);
		}
	}
	r->ph[LS_PH_TLS_OUT] += w->self_ns;
	r->ph[LS_PH_NET_OUT] += w->net_ns;
	r->ph[LS_PH_H2_OUT] += w->h2_ns;
	r->bytes_out += b->bytes;
	if (b->flags & LS_BATCH_END_STREAM) {
		__u32 n = t ? t->nfin : FIN_MAX;

		r->flags |= LS_RQ_RESP_ENDED;

		/* In a memory BIO the response has not reached the kernel yet: its send on this thread ends it. */
		barrier_var(n);
		if (w->bio && t && n < FIN_MAX) {
			t->fin[n].conn = k->conn;
			t->fin[n].stream = k->stream;
			t->nfin = n + 1;
		} else {
			ls_finish_request(k, r, w->now, w->tid, w->conn_flags);
		}
		w->finished++;
	}
}

/* Give stream i of the walk's batch its share of the call that carried it. 1 past the last. */
__noinline int ls_attrib_stream(struct lsk_walk *w, struct lsk_conn *c, struct lsk_thread *t, __u32 i)
{
	struct ls_req_key k = {};
	struct lsk_batch_ent *b;
	struct lsk_req *r;

	if (!w || !c || i >= w->nbatch)
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
		/* A reset alone: of a stream that ended before. */
		if (w->out && b->flags != LS_BATCH_RESET)
			count(LS_CNT_REQ_UNMATCHED);
		return 0;
	}
	if (w->nbatch > r->shared)
		r->shared = w->nbatch;
	if (w->bio)
		r->flags |= LS_RQ_NET_THREAD;
	if (w->out)
		attrib_out(w, c, t, r, b, &k);
	else
		attrib_in(w, c, t, r, b);
	/*
	 * The server reset the stream (ls_reset): before its response ended, there is no
	 * response to time: forgotten, counted. After it (finished above, or waiting for its
	 * send), the reset only tells the client to stop sending: the request stands. (Finished
	 * above, r is gone: not read again.)
	 */
	if ((b->flags & LS_BATCH_RESET) && w->out && !(b->flags & LS_BATCH_END_STREAM) && !(r->flags & LS_RQ_RESP_ENDED)) {
		count(LS_CNT_REQ_RESET);
		bpf_map_delete_elem(&reqs, &k);
	}
	return 0;
}

/* bpf_loop's context for the attribution: pointers to map values (the verifier wants it on the stack). */
struct lsk_attrib_ctx {
	struct lsk_walk *w;
	struct lsk_conn *c;
	struct lsk_thread *t;
};

static long attrib_cb(__u32 i, void *ctx)
{
	struct lsk_attrib_ctx *ac = ctx;

	if (ac->t)
		return ls_attrib_stream(ac->w, ac->c, ac->t, i) ? 1 : 0;
	return ls_attrib_stream(ac->w, ac->c, NULL, i) ? 1 : 0;
}

/*
 * The walk found streams in a buffer whose call's times are in w: give each its share.
 * HTTP/2 output time waiting on the connection goes with the write that carries it.
 */
static __always_inline void attrib_batch(struct lsk_walk *w, struct lsk_conn *c, struct lsk_thread *t, __u32 out)
{
	struct lsk_attrib_ctx ac = { .w = w, .c = c, .t = t };

	if (out) {
		w->h2_ns = c->pend_h2_out;
		c->pend_h2_out = 0;
	}
	bpf_loop(BATCH_MAX, attrib_cb, &ac, 0);
}

static __always_inline struct lsk_conn *get_conn(__u32 pid, __u64 id)
{
	struct ls_conn_key k = { .conn = id, .pid = pid };
	struct lsk_conn *c = bpf_map_lookup_elem(&conns, &k);

	if (c)
		return c;
	/* A plaintext connection's entry is made by its reads and goes at its close(): only those make it. */
	if (id & LS_SIO_CONN_BIT)
		return NULL;
	bpf_map_update_elem(&conns, &k, &zero_conn, BPF_NOEXIST);
	return bpf_map_lookup_elem(&conns, &k);
}

/* HTTP/2 input processing time goes to the streams read since the last such call. */
struct lsk_h2in_ctx {
	struct lsk_conn *c;
	struct ls_req_key k;
	__u64 self, now;
};

static long h2in_cb(__u32 i, void *ctx)
{
	struct lsk_h2in_ctx *x = ctx;
	struct lsk_conn *c = x->c;
	struct lsk_req *r;

	if (i >= c->npend_in)
		return 1;
	barrier_var(i);
	if (i >= PEND_MAX)
		return 1;
	x->k.stream = c->pend_in[i];
	r = bpf_map_lookup_elem(&reqs, &x->k);
	if (r) {
		/* Only what happened since the request began is its time (a blocking reader may have waited before). */
		__u64 since = x->now > r->start ? x->now - r->start : 0;

		r->ph[LS_PH_H2_IN] += x->self < since ? x->self : since;
	}
	return 0;
}

__noinline int ls_h2_in_return(struct lsk_conn *c, __u32 pid, __u64 conn_id, __u64 self, __u64 now)
{
	struct lsk_h2in_ctx x = { .c = c, .k = { .conn = conn_id, .pid = pid }, .self = self, .now = now };

	if (!c)
		return 0;
	bpf_loop(PEND_MAX, h2in_cb, &x, 0);
	c->npend_in = 0;
	return 0;
}

/*
 * Go's reader goroutine calls crypto/tls's Read before the next request comes and parks
 * inside it: the request starts when its bytes reached the socket, not when the read
 * began, and the wait leaves the call's own time (the park is no kernel time). Between
 * the arrival and the receive that read the bytes (rx) the goroutine waited for the
 * scheduler to run it again: the bytes sat in the socket, which is queue, not TLS; from
 * rx on, the receives' time (net_after) is the call's kernel time and the rest its own.
 * Without such a receive (rx before the arrival), the call's kernel time can exceed what
 * followed the arrival (a receive that found nothing before the park, long under
 * emulation): then only the receive time that began after the arrival stays. A frame of
 * its own: 6.1 allows 512 bytes of stack for the whole call chain.
 */
__noinline int ls_read_waited(struct lsk_walk *w, __u64 arrival, __u64 net_after, __u64 rx, __u64 now)
{
	__u64 idle, after;

	if (!w || arrival <= w->start || arrival > now)
		return 0;
	if (rx >= arrival && rx <= now) {
		after = now - rx;
		w->net_ns = net_after < after ? net_after : after;
		w->self_ns = after - w->net_ns;
		w->queue = rx - arrival;
		w->start = rx;
		return 0;
	}
	idle = arrival - w->start;
	after = now - arrival;
	if (w->self_ns > idle) {
		w->self_ns -= idle;
	} else {
		w->net_ns = net_after < after ? net_after : after;
		w->self_ns = after - w->net_ns;
	}
	w->start = arrival;
	return 0;
}

/* LS_HD_SEQWAIT when user space reads the target's nghttp2 table after a join, else 0 (a frame of its own). */
__noinline int ls_h2_readable(__u32 pid)
{
	return bpf_map_lookup_elem(&h2_infl, &pid) ? LS_HD_SEQWAIT : 0;
}

/* A TLS read or write moved plaintext (the handoff says which): follow its frames and attribute the call. */
__noinline int ls_tls_data(struct lsk_handoff *h, struct lsk_thread *t)
{
	struct ls_h2dir *dir;
	struct lsk_walk *w;
	struct lsk_call *cl;
	struct lsk_conn *c;
	__u64 start, net_in = 0;
	__u32 d;

	if (!h || !t || !emit_requests)
		return 0;
	d = h->d;
	barrier_var(d);
	if (d >= STACK_MAX)
		return 0;
	cl = &t->c[d];
	start = cl->start;
	/*
	 * The kernel receive this thread made just before decrypting is these bytes' network
	 * time; it waits for the first read that carries stream frames (a record of
	 * connection frames may come first).
	 */
	if (h->bio && !h->out && t->pend_net_in && h->now - t->pend_net_in_start < stale_ns) {
		net_in = t->pend_net_in;
		if (t->pend_net_in_start < start)
			start = t->pend_net_in_start;
	}
	c = get_conn(h->pid, cl->obj);
	w = scratch();
	if (!c || !w)
		return 0;
	w->start = start;
	w->self_ns = h->self;
	w->net_ns = cl->net_ns + net_in;
	w->queue = !h->out && cl->arrival && cl->arrival < w->start ? w->start - cl->arrival : 0;
	if (!h->out && h->g)
		ls_read_waited(w, cl->arrival, cl->net_after, cl->rx_start, h->now);
	dir = h->out ? &c->out : &c->in;
	w->buf = cl->buf;
	w->len = h->bytes > 0x7fffffff ? 0x7fffffff : (__u32)h->bytes;
	w->pid = h->pid;
	w->conn = cl->obj;
	w->out = h->out;
	w->hd_flags = h->out ? LS_HD_OUT : 0;
	w->is_h2 = c->is_h2;
	w->conn_flags = c->flags;
	w->dir = *dir;
	w->bio = h->bio; /* the walk reads memory-BIO requests' message ends (msg_fp_at) */
	/* A joined connection whose decoder user space can read: its blocks wait for LS_REC_H2SEQ. */
	if (!h->out && !c->is_h2 && !c->seq_sent)
		w->seqwait = ls_h2_readable(h->pid);
	/* An HTTP/1 connection's buffer is walked by bpf/http1.bpf.h, any other's as HTTP/2. */
	if (!ls_h1_walk(w, c)) {
		ls_h2_walk(w);
		*dir = w->dir;
		c->is_h2 = w->is_h2;
		c->blocks_in += w->blocks_in;
	}
	c->flags = w->conn_flags;
	if (!w->nbatch) {
		/*
		 * A write of connection frames only (the server's SETTINGS at the start, a
		 * WINDOW_UPDATE, a PING's ACK): the HTTP/2 output time before it made those,
		 * and would otherwise land on the next response's streams.
		 */
		if (h->out)
			c->pend_h2_out = 0;
		return 0;
	}
	if (net_in) {
		t->pend_net_in = 0;
		t->pend_net_in_start = 0;
	}
	w->now = h->now;
	w->tid = h->tid;
	attrib_batch(w, c, t, h->out);
	return 0;
}

/* Tail-called by a TLS read or write return: follow its frames and attribute the call to their streams. */
SEC("uprobe")
int tls_walk(struct pt_regs *ctx)
{
	__u32 zero = 0, d;
	struct lsk_handoff *h = bpf_map_lookup_elem(&handoff, &zero);
	struct lsk_gkey key = {};
	struct lsk_thread *t;
	struct lsk_walk *w;
	__u64 start;

	LS_REJECT_IF(LS_FEAT_WALK);
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
	start = t->c[d].start;
	ls_tls_data(h, t);
	/* Which request this thread works on: what the profiler tags its samples with. */
	w = track_thread_req ? bpf_map_lookup_elem(&walk_scratch, &zero) : NULL;
	if (w && !h->out && w->opened && !t->req_start) {
		t->req_start = start;
		t->slow_seen = 0;
	} else if (w && h->out && w->finished) {
		t->req_start = 0;
	}
	return 0;
}
