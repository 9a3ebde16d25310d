/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Requests: opening, attributing each call's time to the streams it carried, finishing.
 * Part of bpf/latscope.bpf.c (one object, one skeleton): included from there, in order.
 */

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
