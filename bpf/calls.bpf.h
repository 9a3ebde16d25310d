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
	ls_account(probe, ok, bytes, total);

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
		__u64 *known = bpf_map_lookup_elem(&sessions, &cl->obj);
		/* HTTP/2 input follows the TLS read on its thread: that read names the connection. */
		__u64 conn_id = t->last_conn ? t->last_conn : known ? *known : 0;
		struct ls_conn *c;

		if (!conn_id)
			return 0;
		if (!known || *known != conn_id)
			bpf_map_update_elem(&sessions, &cl->obj, &conn_id, BPF_ANY);
		c = get_conn(pid, conn_id);
		if (c && c->npend_in)
			ls_h2_in_return(c, pid, conn_id, self, now);
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
