/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Kernel hooks: socket syscalls, and tcp_sendmsg/tcp_recvmsg timed by one of three variants.
 * Part of bpf/latscope.bpf.c (one object, one skeleton): included from there, in order.
 */

/* The call stack kernel work on this thread belongs to: the thread's, or its current goroutine's. */
static __always_inline struct lsk_thread *cur_thread(__u32 tid)
{
	struct lsk_thread *t = bpf_map_lookup_elem(&threads, &tid);
	struct lsk_gkey *k, gk = {};
	struct pt_regs *regs;

	if (t)
		return t;
	/*
	 * A goroutine that parked inside a call (crypto/tls waiting for bytes) may wake on
	 * another thread than gcur says: the syscall's user registers name it (Go keeps g in r14).
	 */
	regs = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	gk.pid = bpf_get_current_pid_tgid() >> 32;
	gk.g = regs ? BPF_CORE_READ(regs, r14) : 0;
	if (gk.g && (t = bpf_map_lookup_elem(&gthreads, &gk)))
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

static __always_inline int is_loop_wait(long nr)
{
	switch (nr) {
	case 7:   /* poll */
	case 23:  /* select */
	case 232: /* epoll_wait */
	case 270: /* pselect6 */
	case 271: /* ppoll */
	case 281: /* epoll_pwait */
	case 441: /* epoll_pwait2 */
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
	struct lsk_sys_call sc = {};
	struct lsk_thread *t;
	struct lsk_call *cl;

	LS_REJECT_IF(LS_FEAT_SYSCALLS);
	if (!is_sock_io(nr)) {
		/* Back to its event loop's wait: a run of mem_send calls the thread did not write ends unwritten. */
		if (is_loop_wait(nr) && target_slot(id >> 32)) {
			t = bpf_map_lookup_elem(&threads, &tid);
			if (t && t->h2o_start)
				ls_h2o_close(t, id >> 32, 0, 0, LS_PROBE_MAX);
		}
		return 0;
	}
	if (!target_slot(id >> 32))
		return 0;
	sc.ts = bpf_ktime_get_ns();
	sc.fd = (__s32)PT_REGS_PARM1_CORE_SYSCALL(regs);
	sc.nr = (__u32)nr;
	if (bpf_map_update_elem(&sys_calls, &tid, &sc, BPF_ANY))
		count(LS_CNT_TABLE_FULL);
	t = cur_thread(tid);
	if (!t)
		return 0;
	cl = top(t);
	if (cl && cl->fd < 0)
		cl->fd = sc.fd;
	return 0;
}


struct lsk_fin_ctx {
	struct lsk_thread *t;
	__u64 dur, now;
	__u32 tid, pid;
};

/* A response written to a memory BIO reached the kernel: its send is its net_out, and it ends here. */
static long fin_one(__u32 i, void *ctx)
{
	struct lsk_fin_ctx *f = ctx;
	struct ls_req_key k = {};
	struct ls_conn_key ck = {};
	struct lsk_conn *c;
	struct lsk_req *r;

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
	ls_finish_request(&k, r, f->now, f->tid, c ? c->flags : 0);
	return 0;
}

static __always_inline void net_done(__u32 probe, __u64 sk, __u64 t0, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	__u64 now = bpf_ktime_get_ns(), dur = now - t0;
	struct lsk_sys_call *sc;
	struct lsk_thread *t;
	struct ls_event *e;
	__u64 arrival = 0;
	__s32 fd = -1;

	sc = bpf_map_lookup_elem(&sys_calls, &tid);
	if (sc && sc->ts <= t0)
		fd = sc->fd;
	ls_account(probe, ret > 0, ret > 0 ? (__u64)ret : 0, dur);
	if (probe == LS_PROBE_NET_RECV && ret > 0)
		arrival = rx_arrival(sk);
	/* Kernel time inside a library call is that call's network phase, not its own. */
	t = cur_thread(tid);
	if (t) {
		struct lsk_call *cl = top(t);
		__u32 k = cl ? LS_COOKIE_KIND(cl->cookie) : 0;

		if (cl && cl->start <= t0) {
			cl->net_ns += dur;
			cl->child_ns += dur;
			/* Newer bytes: the receive time that counts is from this receive on. */
			if (arrival > cl->arrival) {
				cl->arrival = arrival;
				cl->rx_start = t0;
				cl->net_after = 0;
			}
			if (cl->arrival && t0 >= cl->arrival)
				cl->net_after += dur;
		}
		/* Outside a TLS call: the kernel side of TLS over memory BIOs, matched by thread and time. */
		if (k != LS_KIND_TLS_READ && k != LS_KIND_TLS_WRITE && k != LS_KIND_TLS_HANDSHAKE && ret > 0) {
			if (probe == LS_PROBE_NET_RECV) {
				if (!t->pend_net_in)
					t->pend_net_in_start = t0;
				t->pend_net_in += dur;
			} else if (t->nfin && emit_requests) {
				struct lsk_fin_ctx f = { .t = t, .dur = dur, .now = now, .tid = tid, .pid = id >> 32 };

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
	struct lsk_sys_call *sc;

	if (!target_slot(id >> 32))
		return 0;
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	sc = bpf_map_lookup_elem(&sys_calls, &tid);
	/*
	 * No start: the syscall entry hook is off (between an overhead budget's windows)
	 * or came after this call began. The bytes still count (the budget's estimates
	 * weigh windows by them); the call is not timed.
	 */
	if (!sc) {
		if (ret > 0)
			ls_account_bytes(probe, (__u64)ret);
		return 0;
	}
	net_done(probe, (__u64)sk, sc->ts, ret);
	return 0;
}

SEC("tp_btf/sock_send_length")
int BPF_PROG(tp_send, struct sock *sk, int ret, int flags)
{
	LS_REJECT_IF(LS_FEAT_NET);
	return tp_sock(LS_PROBE_NET_SEND, sk, ret);
}

SEC("tp_btf/sock_recv_length")
int BPF_PROG(tp_recv, struct sock *sk, int ret, int flags)
{
	/* MSG_PEEK leaves the data queued: not a receive. */
	if (flags & LS_MSG_PEEK)
		return 0;
	return tp_sock(LS_PROBE_NET_RECV, sk, ret);
}

/* ---- Variants 1 and 2: fentry/fexit and kprobe/kretprobe on tcp_*msg ------ */

static __always_inline int net_enter(struct sock *sk)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct lsk_net_call nc;

	if (!target_slot(id >> 32))
		return 0;
	nc.ts = bpf_ktime_get_ns();
	nc.sk = (__u64)sk;
	if (bpf_map_update_elem(&net_calls, &tid, &nc, BPF_ANY))
		count(LS_CNT_TABLE_FULL);
	return 0;
}

static __always_inline int net_exit(__u32 probe, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct lsk_net_call *nc = bpf_map_lookup_elem(&net_calls, &tid);
	struct lsk_net_call copy;

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
	LS_REJECT_IF(LS_FEAT_NET);
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

	LS_REJECT_IF(LS_FEAT_NET);
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
