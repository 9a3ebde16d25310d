/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Library calls: one entry and one return program for every catalog entry.
 * Part of bpf/latscope.bpf.c (one object, one skeleton): included from there, in order.
 */

/* ---- Library calls: one entry and one return program for every catalog entry ------ */

/*
 * Push a probed call on its thread's (or goroutine's) call stack. ret_sp is the
 * stack pointer its return will show, 0 when returns are matched by probe id.
 */
static __always_inline int call_enter(struct lsk_thread *t, __u32 pid, __u32 cookie, __u64 obj, __u64 buf,
				      __u64 aux, __u64 ret_sp, __u64 now)
{
	struct lsk_call *cl, *parent;
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
		struct lsk_conn *c = get_conn(pid, obj);

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
	cl->net_after = 0;
	cl->rx_start = 0;
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

/* A connection at obj ended or starts afresh: user space forgets what it decoded of the last one there. */
static __always_inline void emit_fresh(__u32 pid, __u64 obj)
{
	struct ls_headers *h = bpf_ringbuf_reserve(&events, offsetof(struct ls_headers, data), 0);

	if (!h) {
		count(LS_CNT_RB_DROPS);
		return;
	}
	h->type = LS_REC_HEADERS;
	h->flags = LS_HD_FRESH;
	h->pid = pid;
	h->stream = 0;
	h->len = 0;
	h->conn = obj;
	bpf_ringbuf_submit(h, rb_flags());
}

static __always_inline struct lsk_thread *thread_state(void *map, void *key)
{
	struct lsk_thread *t = bpf_map_lookup_elem(map, key);

	if (t)
		return t;
	bpf_map_update_elem(map, key, &zero_thread, BPF_NOEXIST);
	t = bpf_map_lookup_elem(map, key);
	if (!t)
		count(LS_CNT_THREAD_FULL);
	return t;
}

/*
 * An SSL object or nghttp2 session is freed: what its address keys belongs to a
 * connection that ended. Forgotten now, not when the address is reused, so that
 * the tables hold live connections only.
 */
static __always_inline int obj_freed(__u32 pid, __u32 kind, __u64 obj)
{
	struct ls_conn_key ck = { .conn = obj, .pid = pid };

	if (kind == LS_KIND_H2_FREE) {
		bpf_map_delete_elem(&sessions, &obj);
		return 0;
	}
	bpf_map_delete_elem(&conns, &ck);
	bpf_map_delete_elem(&ssl_fds, &obj);
	bpf_map_delete_elem(&hs_start, &obj);
	count(LS_CNT_CONN_FREED);
	/* User space frees the connection's HPACK contexts and stream names too. */
	if (emit_requests)
		emit_fresh(pid, obj);
	return 0;
}

/*
 * nghttp2 is about to apply input of a connection joined mid-flight: where its decoder's
 * insertion counter stands, once per join (user space rebuilds the table from it).
 */
__noinline int ls_h2_seq(__u32 pid, __u64 sess, __u64 last_conn)
{
	struct ls_conn_key ck = { .pid = pid };
	struct ls_h2_infl *off = bpf_map_lookup_elem(&h2_infl, &pid);
	struct ls_h2seq_rec *e;
	struct lsk_conn *c;
	__u64 *known;
	__u32 seq;

	if (!off || !emit_requests)
		return 0;
	known = bpf_map_lookup_elem(&sessions, &sess);
	ck.conn = known ? *known : last_conn;
	if (!ck.conn || (ck.conn & LS_SIO_CONN_BIT))
		return 0;
	c = bpf_map_lookup_elem(&conns, &ck);
	if (!c || c->is_h2 || c->seq_sent)
		return 0;
	c->seq_sent = 1;
	if (bpf_probe_read_user(&seq, sizeof(seq), (const void *)(sess + off->seq_off)))
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(LS_CNT_RB_DROPS);
		return 0;
	}
	e->type = LS_REC_H2SEQ;
	e->_pad = 0;
	e->pid = pid;
	e->conn = ck.conn;
	e->session = sess;
	e->seq = seq;
	e->blocks = c->blocks_in;
	/*
	 * User space reads the table from the target when this record arrives: woken now, not at
	 * its next poll, so that a connection about to close is still there to read (once per
	 * joined connection and window: a rare wake-up).
	 */
	count(LS_CNT_RB_WAKEUPS);
	bpf_ringbuf_submit(e, BPF_RB_FORCE_WAKEUP);
	return 0;
}

/*
 * nghttp2's mem_send is probed at its entry only. A server calls it until it
 * returns 0 (a frame or so a call, the last call finding nothing) and then
 * writes what it gathered: its HTTP/2 output time is the span from the run's
 * first call to the thread's next write, less the probed calls that returned in
 * between. A return probe would cost every call a second hit, the last one
 * for nothing. A run the thread slept in (a call found nothing to send and the
 * thread waited for work), or that a read or the thread's return to its event
 * loop's wait (sys_enter) ended, is no output time: dropped.
 */
static __always_inline __u64 thread_nvcsw(void)
{
	struct task_struct *task = bpf_get_current_task_btf();

	return BPF_CORE_READ(task, nvcsw);
}

__noinline int ls_h2o_open(struct lsk_thread *t, __u32 probe, __u64 sess, __u64 now)
{
	__u64 nv = thread_nvcsw();

	if (!t)
		return 0;
	ls_account_bytes(probe, 0);
	if (t->h2o_start && t->h2o_sess == sess && t->h2o_nvcsw == nv) {
		/*
		 * A later call of the run: its hit lies inside the span. Its cost is not
		 * output time: this program's own, timed here, and the trap's, taken off
		 * when the run ends. The time since the last hit's program holds one
		 * trap: the shortest such gap bounds what a trap can have cost.
		 */
		__u64 gap = now > t->h2o_mark ? now - t->h2o_mark : 0, end;

		if (!t->h2o_later || gap < t->h2o_gap)
			t->h2o_gap = gap;
		t->h2o_later++;
		end = bpf_ktime_get_ns();
		t->h2o_child += end - now;
		t->h2o_mark = end;
		return 0;
	}
	if (t->h2o_start)
		count(LS_CNT_H2O_DROPPED);
	t->h2o_start = now;
	t->h2o_child = 0;
	t->h2o_sess = sess;
	t->h2o_nvcsw = nv;
	t->h2o_later = 0;
	t->h2o_probe = probe;
	t->h2o_mark = bpf_ktime_get_ns();
	return 0;
}

/* What an entry hit of probe p costs outside its program, as measured at start, at most bound. */
static __always_inline __u64 entry_hit_within(__u32 p, __u64 bound)
{
	__u64 c;

	if (p >= LS_PROBE_MAX)
		return 0;
	/* Keeps the mask: the compiler would drop it after the test, and the verifier needs it. */
	barrier_var(p);
	c = entry_hit_ns[p & (LS_PROBE_MAX - 1)];
	return c < bound ? c : bound;
}

/*
 * The thread writes to conn from end on (conn 0: it reads): its run of mem_send calls ends.
 * trap: the probe whose entry hit came just before end (a TLS write's), LS_PROBE_MAX for none.
 */
__noinline int ls_h2o_close(struct lsk_thread *t, __u32 pid, __u64 conn, __u64 end, __u32 trap)
{
	__u64 sess, start, *known;
	struct lsk_conn *c;

	if (!t || !t->h2o_start)
		return 0;
	/*
	 * The later hits' traps at their cost measured at start, but never more than
	 * the shortest gap between two hits: a cost that was measured high, or that
	 * fell since, would otherwise take the whole span and more.
	 */
	if (t->h2o_later)
		t->h2o_child += entry_hit_within(t->h2o_probe, t->h2o_gap) * t->h2o_later;
	/* The write's own trap, within the time since the last hit. */
	if (end > t->h2o_mark)
		t->h2o_child += entry_hit_within(trap, end - t->h2o_mark);
	start = t->h2o_start + t->h2o_child;
	sess = t->h2o_sess;
	t->h2o_start = 0;
	if (!conn || end < start || thread_nvcsw() != t->h2o_nvcsw) {
		count(LS_CNT_H2O_DROPPED);
		return 0;
	}
	known = bpf_map_lookup_elem(&sessions, &sess);
	if (!known)
		bpf_map_update_elem(&sessions, &sess, &conn, BPF_ANY);
	c = get_conn(pid, conn);
	if (c)
		c->pend_h2_out += end - start;
	return 0;
}

/* Entry of a library call, at the function (callsite = 0) or at a direct call to it (1). */
static __always_inline int lib_enter(struct pt_regs *ctx, void *obj, void *buf, void *aux, const int callsite)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id, cookie = (__u32)bpf_get_attach_cookie(ctx);
	/* At a call site the return address is not pushed yet: the return shows this stack pointer. */
	__u64 ret_sp = PT_REGS_SP(ctx) + (callsite ? 0 : 8);
	struct lsk_thread *t;
	struct lsk_call *cl;

	if (!target_slot(id >> 32))
		return 0;
	/* Frees are not timed: no frame, and a return probe (at a call site) finds none. */
	if (LS_COOKIE_KIND(cookie) == LS_KIND_TLS_FREE || LS_COOKIE_KIND(cookie) == LS_KIND_H2_FREE)
		return obj_freed(id >> 32, LS_COOKIE_KIND(cookie), (__u64)obj);
	t = thread_state(&threads, &tid);
	if (!t)
		return 0;
	/* The function's own entry, reached from a probed call site: that probe recorded this call. */
	cl = top(t);
	if (!callsite && cl && cl->sp == ret_sp && LS_COOKIE_PROBE(cl->cookie) == LS_COOKIE_PROBE(cookie))
		return 0;
	if (LS_COOKIE_CONV(cookie) == LS_ARG_H2_MEM_SEND)
		return ls_h2o_open(t, LS_COOKIE_PROBE(cookie), (__u64)obj, bpf_ktime_get_ns());
	if (t->h2o_start) {
		if (LS_COOKIE_KIND(cookie) == LS_KIND_TLS_WRITE)
			ls_h2o_close(t, id >> 32, (__u64)obj, bpf_ktime_get_ns(), LS_COOKIE_PROBE(cookie));
		else if (LS_COOKIE_KIND(cookie) == LS_KIND_TLS_READ || LS_COOKIE_KIND(cookie) == LS_KIND_H2_IN)
			ls_h2o_close(t, id >> 32, 0, 0, LS_PROBE_MAX);
	}
	if (LS_COOKIE_CONV(cookie) == LS_ARG_H2_MEM_RECV)
		ls_h2_seq(id >> 32, (__u64)obj, t->last_conn);
	/* A C++ function returning a class in memory: its first argument is the result slot. */
	if (LS_COOKIE_CONV(cookie) == LS_ARG_SRET_OBJ)
		obj = buf;
	return call_enter(t, id >> 32, cookie, (__u64)obj, (__u64)buf, (__u64)aux, ret_sp, bpf_ktime_get_ns());
}

SEC("uprobe")
int BPF_KPROBE(probe_enter, void *obj, void *buf, __u64 num, void *aux)
{
	LS_REJECT_IF(LS_FEAT_CALLS);
	return lib_enter(ctx, obj, buf, aux, 0);
}

/* A direct call to a probed function: the arguments are already in their registers. */
SEC("uprobe")
int BPF_KPROBE(cs_enter, void *obj, void *buf, __u64 num, void *aux)
{
	return lib_enter(ctx, obj, buf, aux, 1);
}


/*
 * A returned call nested in a call of the same kind (SSL_accept ->
 * SSL_do_handshake) belongs to the outer one: 1 when folded into parent.
 * Otherwise its time is the parent's child time.
 */
static __always_inline int fold_into_parent(struct lsk_call *parent, struct lsk_call *cl, __u32 kind, __u32 probe,
					    __u64 total)
{
	/* A handshake's first step (SSL_clear) is the TLS work of the call around it: its time stays there. */
	if (!parent || kind == LS_KIND_TLS_FRESH)
		return 0;
	/* gRPC lifecycle calls nest (end_write inside start_batch) but are not one operation. */
	if (LS_COOKIE_KIND(parent->cookie) != kind || kind == LS_KIND_GRPC) {
		parent->child_ns += total;
		return 0;
	}
	parent->child_ns += cl->child_ns;
	parent->net_ns += cl->net_ns;
	if (cl->fd >= 0 && parent->fd < 0)
		parent->fd = cl->fd;
	if (probe < LS_PROBE_MAX) {
		struct ls_stats *st = bpf_map_lookup_elem(&stats, &probe);

		if (st)
			st->nested++;
	}
	return 1;
}

/* What one return knows of its call, for the halves below. */
/*
 * A decode returned ret: protobuf's _InternalParse returns where the message
 * ended, in the caller's buffer or in its context's copy of the message's last
 * bytes; those bytes tell which request it was (t->dec_fp, see msg_fp_at).
 */
__noinline int ls_parse_end(struct lsk_thread *t, __u32 probe, __u32 conv, __u64 ret)
{
	if (!t)
		return 0;
	t->dec_fp = 0;
	if (probe == LS_PROBE_PB_PARSE && conv == LS_ARG_PTR_RESULT && ret > sizeof(t->dec_fp))
		bpf_probe_read_user(&t->dec_fp, sizeof(t->dec_fp), (void *)(ret - sizeof(t->dec_fp)));
	return 0;
}

struct lsk_ret {
	__u64 total, self, bytes, span, now, g;
	long ret;
	__u32 pid, tid, d, probe, kind, conv, flags;
};

/*
 * A call's result: whether it succeeded (returned) and how many bytes it moved
 * (r->bytes), by its calling convention (r->conv); r->ret becomes the result
 * proper. A global function: the paths of the switch end here.
 */
__noinline int ls_call_result(struct lsk_ret *r, __u64 aux)
{
	__u64 *bytes;
	long ret;
	int ok;

	if (!r)
		return 0;
	ret = r->ret;
	bytes = &r->bytes;

	switch (r->conv) {
	case LS_ARG_SSL_RW_EX:
		ret = (int)ret;
		ok = ret == 1;
		if (ok && aux)
			bpf_probe_read_user(bytes, sizeof(*bytes), (void *)aux);
		break;
	case LS_ARG_SSL_HS:
		ret = (int)ret;
		ok = ret == 1;
		break;
	case LS_ARG_GO_RW:
		ok = ret > 0;
		*bytes = ok ? (__u64)ret : 0;
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
		*bytes = ok ? (__u64)ret : 0;
		break;
	case LS_ARG_PTR_RESULT:
		ok = ret != 0;
		break;
	case LS_ARG_SIZE_RESULT:
		ok = 1;
		*bytes = (__u64)ret;
		break;
	case LS_ARG_BOOL_RESULT:
		ok = (ret & 0xff) != 0;
		break;
	default: /* nghttp2: ssize_t or int, negative on error */
		ok = ret >= 0;
		*bytes = ok ? (__u64)ret : 0;
		break;
	}
	r->ret = ret;
	return ok;
}

/*
 * Over memory BIOs, a handshake step or a read that met the peer's close took the
 * kernel's bytes for TLS itself (handshake records, a close alert): they are no
 * request's network time. (A read merely waiting for more of a record keeps them.)
 */
static __always_inline void tls_bio_idle(struct lsk_thread *t, struct lsk_call *cl, struct lsk_ret *r)
{
	if (r->kind == LS_KIND_TLS_HANDSHAKE || (r->kind == LS_KIND_TLS_READ &&
	    ((r->conv == LS_ARG_SSL_RW && r->ret == 0) || bpf_map_lookup_elem(&hs_start, &cl->obj)))) {
		t->pend_net_in = 0;
		t->pend_net_in_start = 0;
	}
}

/* A TLS call returned: its record, its socket, and (with plaintext) the HTTP/2 walk by tail call. */
static __always_inline int tls_return(void *ctx, struct lsk_thread *t, struct lsk_call *cl, struct lsk_ret *r, int ok)
{
	struct ls_event *e;
	__s32 fd = cl->fd;

	if (fd >= 0) {
		bpf_map_update_elem(&ssl_fds, &cl->obj, &fd, BPF_ANY);
	} else {
		__s32 *known = bpf_map_lookup_elem(&ssl_fds, &cl->obj);

		/*
		 * A write that succeeded without a socket syscall inside it wrote to a memory
		 * BIO (over a socket, OpenSSL sends a record before it reports it written): the
		 * descriptor learnt for this object was a syscall of other work on the thread
		 * inside one of its calls (Node.js runs JavaScript from OpenSSL's callbacks).
		 * Forgotten, or every later call of the connection would pass for a socket's and
		 * its kernel time would go unmatched.
		 */
		if (known && r->kind == LS_KIND_TLS_WRITE && ok && r->bytes && !r->g) {
			bpf_map_delete_elem(&ssl_fds, &cl->obj);
			count(LS_CNT_SSL_FD_WRONG);
		} else if (known) {
			fd = *known;
		}
	}
	if (fd >= 0)
		r->flags |= LS_F_FD_KNOWN;
	if (fd < 0 && !r->g && !ok)
		tls_bio_idle(t, cl, r);
	t->last_conn = cl->obj;
	if (ok && (r->bytes || (r->flags & LS_F_HANDSHAKE))) {
		e = reserve_event();
		if (e) {
			e->type = LS_REC_CALL;
			e->probe = r->probe;
			e->pid = r->pid;
			e->tid = r->tid;
			e->fd = fd;
			e->ts_ns = r->now;
			e->dur_ns = r->total;
			e->conn = cl->obj;
			e->ret = r->ret;
			e->bytes = r->bytes;
			e->span_ns = r->span;
			e->flags = r->flags;
			bpf_ringbuf_submit(e, rb_flags());
		}
	}
	/*
	 * The HTTP/2 walk of the plaintext runs in its own program, reached by a
	 * tail call: it loads (or fails to) on its own, and when it is missing
	 * the tail call falls through and the call stays timed.
	 */
	if (ok && r->bytes && r->kind != LS_KIND_TLS_HANDSHAKE && emit_requests) {
		__u32 zero = 0;
		struct lsk_handoff *h = bpf_map_lookup_elem(&handoff, &zero);

		if (!h)
			return 0;
		h->g = r->g;
		h->pid = r->pid;
		h->tid = r->tid;
		h->d = r->d;
		h->out = r->kind == LS_KIND_TLS_WRITE;
		h->bio = fd < 0 && !r->g;
		h->bytes = r->bytes;
		h->self = r->self;
		h->now = r->now;
		bpf_tail_call(ctx, &tails, 0);
	}
	return 0;
}

/*
 * An SSL object starts afresh (SSL_clear, from SSL_new or as a handshake begins): a
 * connection that ended may have had the same address, and its framing state, socket and
 * handshake start are not this one's. Inside a TLS call on the same object this is the
 * handshake's first step, and the handshake began with that call: a server over memory
 * BIOs (Node.js) runs it inside SSL_read, and never calls SSL_do_handshake.
 */
static __always_inline void tls_fresh(struct lsk_thread *t, __u64 obj, __u32 pid)
{
	struct ls_conn_key ck = { .conn = obj, .pid = pid };
	struct lsk_call *parent = top(t);
	__u32 k = parent ? LS_COOKIE_KIND(parent->cookie) : 0;

	bpf_map_delete_elem(&conns, &ck);
	bpf_map_delete_elem(&ssl_fds, &obj);
	if (parent && parent->obj == obj &&
	    (k == LS_KIND_TLS_READ || k == LS_KIND_TLS_WRITE || k == LS_KIND_TLS_HANDSHAKE))
		bpf_map_update_elem(&hs_start, &obj, &parent->start, BPF_ANY);
	else
		bpf_map_delete_elem(&hs_start, &obj);
	/* User space's HPACK context of the address is the ended connection's (maybe one joined mid-flight). */
	if (emit_requests)
		emit_fresh(pid, obj);
}

/* An HTTP/2 library call returned: its time waits for the streams it processed. */
static __always_inline void h2_return(struct lsk_thread *t, struct lsk_call *cl, struct lsk_ret *r)
{
	__u64 *known = bpf_map_lookup_elem(&sessions, &cl->obj);
	struct lsk_conn *c;
	__u64 conn_id;

	if (r->kind == LS_KIND_H2_IN) {
		/* HTTP/2 input follows the TLS read on its thread: that read names the connection. */
		conn_id = t->last_conn ? t->last_conn : known ? *known : 0;
		if (!conn_id)
			return;
		if (!known || *known != conn_id)
			bpf_map_update_elem(&sessions, &cl->obj, &conn_id, BPF_ANY);
		c = get_conn(r->pid, conn_id);
		if (c && c->npend_in)
			ls_h2_in_return(c, r->pid, conn_id, r->self, r->now);
		return;
	}
	conn_id = known ? *known : t->last_conn;
	if (!conn_id)
		return;
	c = get_conn(r->pid, conn_id);
	if (c)
		c->pend_h2_out += r->self;
}

/*
 * Pop the call frame d (already matched to this return) and account for it.
 * tls selects the half compiled in: TLS calls (1) or HTTP/2 and protobuf calls
 * (0); the loader attaches the matching program.
 */
static __always_inline int call_return(void *ctx, struct lsk_thread *t, __u32 d, long ret, __u32 pid, __u32 tid,
				       __u64 now, const int tls, __u64 g)
{
	struct lsk_ret r = { .ret = ret, .pid = pid, .tid = tid, .d = d, .now = now, .g = g };
	struct lsk_call *cl;
	int ok;

	barrier_var(d);
	if (d >= STACK_MAX)
		return 0;
	t->depth = d;
	cl = &t->c[d];
	r.probe = LS_COOKIE_PROBE(cl->cookie);
	r.conv = LS_COOKIE_CONV(cl->cookie);
	r.kind = LS_COOKIE_KIND(cl->cookie);
	r.total = now - cl->start;
	r.self = r.total > cl->child_ns ? r.total - cl->child_ns : 0;
	if (fold_into_parent(top(t), cl, r.kind, r.probe, r.total))
		return 0;
	/* An outermost call inside a run of mem_send calls (a data callback's encode) is not its output time. */
	if (!d && t->h2o_start && cl->start >= t->h2o_start) {
		t->h2o_child += r.total;
		/* Not a gap between two hits: one that began before the last hit's mark holds hits. */
		t->h2o_mark = cl->start >= t->h2o_mark ? t->h2o_mark + r.total : now;
	}
	ok = ls_call_result(&r, cl->aux);
	if (r.kind == LS_KIND_TLS_HANDSHAKE && ok) {
		__u64 *t0 = bpf_map_lookup_elem(&hs_start, &cl->obj);

		r.flags |= LS_F_HANDSHAKE;
		if (t0) {
			r.span = now - *t0;
			bpf_map_delete_elem(&hs_start, &cl->obj);
		}
	} else if (tls && ok && r.bytes) {
		/* A handshake that began inside a read or write (no handshake call) is over once one moves data. */
		__u64 *t0 = bpf_map_lookup_elem(&hs_start, &cl->obj);

		if (t0) {
			r.flags |= LS_F_HANDSHAKE;
			r.span = now - *t0;
			bpf_map_delete_elem(&hs_start, &cl->obj);
			count(LS_CNT_HS_IN_IO);
		}
	}
	if (r.probe >= LS_PROBE_MAX)
		return 0;
	ls_account(r.probe, ok, r.bytes, r.total);
	if (tls)
		return tls_return(ctx, t, cl, &r, ok);
	if (r.kind == LS_KIND_TLS_FRESH) {
		if (ok)
			tls_fresh(t, cl->obj, pid);
		return 0;
	}
	if (!ok || !emit_requests)
		return 0;
	if (r.kind == LS_KIND_DECODE || r.kind == LS_KIND_ENCODE) {
		ls_parse_end(t, r.probe, r.conv, r.ret);
		ls_proto_return(t, r.kind, r.self, ((__u64)pid << 32) | tid, g);
	}
	else if (r.kind == LS_KIND_H2_IN || r.kind == LS_KIND_H2_OUT)
		h2_return(t, cl, &r);
	return 0;
}

/* Match a uretprobe to its entry by stack pointer; returns the frame index or -1. */
static __always_inline int match_return(struct lsk_thread *t, __u64 sp)
{
	__u32 d;

	/*
	 * Frames deeper than this return lost theirs (attached mid-call,
	 * longjmp) and are dropped; a return whose entry was never recorded
	 * matches nothing and is ignored.
	 */
	for (int i = 0; i < STACK_MAX; i++) {
		struct lsk_call *tc = top(t);

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

/* A uretprobe's return: its frame matched by stack pointer. */
static __always_inline int lib_return(struct pt_regs *ctx, long ret, const int tls)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct lsk_thread *t = bpf_map_lookup_elem(&threads, &tid);
	int d;

	if (!t || (d = match_return(t, PT_REGS_SP(ctx))) < 0)
		return 0;
	return call_return(ctx, t, (__u32)d, ret, id >> 32, tid, bpf_ktime_get_ns(), tls, 0);
}

SEC("uretprobe")
int BPF_KRETPROBE(probe_exit, long ret)
{
	return lib_return(ctx, ret, 1);
}

SEC("uretprobe")
int BPF_KRETPROBE(probe_exit_lib, long ret)
{
	return lib_return(ctx, ret, 0);
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
	return lib_return(ctx, result_reg(ctx), tls);
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
