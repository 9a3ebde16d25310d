// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * latscope's kernel side: TLS library uprobes, kernel TCP send/receive timing
 * (three interchangeable hook variants), per-probe histograms and a ring
 * buffer of per-call records. Policy and formatting live in user space.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "latscope.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by user space before load. */
const volatile __u32 rb_wakeup_bytes = 1 << 20; /* wake the consumer past this fill */
const volatile __u8 emit_records = 1;           /* 0: histograms only */
const volatile __u64 stale_ns = 10ULL * 1000000000ULL;

/* Processes under observation: tgid -> 1. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, __u32);
	__type(value, __u32);
} targets SEC(".maps");

/* A TLS call in flight on a thread. */
struct ssl_call {
	__u64 ts;
	__u64 ssl;
	__u64 done_ptr; /* _ex: size_t *readbytes/written */
	__u32 cookie;
	__u32 depth;    /* nested TLS calls on the same thread (SSL_accept -> SSL_do_handshake) */
	__s32 fd;       /* first socket fd used by a syscall inside the call */
	__u32 _pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32); /* tid */
	__type(value, struct ssl_call);
} ssl_calls SEC(".maps");

/* SSL * -> socket fd learnt from a syscall made inside one of its calls. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __s32);
} ssl_fds SEC(".maps");

/* SSL * -> time of the first SSL_do_handshake/accept/connect entry. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u64);
	__type(value, __u64);
} hs_start SEC(".maps");

/* The socket syscall a thread is in. */
struct sys_call {
	__u64 ts;
	__s32 fd;
	__u32 nr;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct sys_call);
} sys_calls SEC(".maps");

/* A kernel tcp_sendmsg/tcp_recvmsg in flight (kprobe/fentry variants). */
struct net_call {
	__u64 ts;
	__u64 sk;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct net_call);
} net_calls SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LS_PROBE_MAX);
	__type(key, __u32);
	__type(value, struct ls_stats);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LS_CNT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 8 << 20);
} events SEC(".maps");

static __always_inline int is_target(__u32 tgid)
{
	return bpf_map_lookup_elem(&targets, &tgid) != NULL;
}

static __always_inline void count(__u32 which)
{
	__u64 *c = bpf_map_lookup_elem(&counters, &which);

	if (c)
		*c += 1;
}

static __always_inline void account(__u32 probe, int ok, __u64 bytes, __u64 dur)
{
	struct ls_stats *st = bpf_map_lookup_elem(&stats, &probe);
	__u64 b;

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
	b = ls_hist_bucket(dur);
	/* One register for the check and the index, or the verifier loses the bound. */
	barrier_var(b);
	if (b >= LS_HIST_BUCKETS)
		b = LS_HIST_BUCKETS - 1;
	st->hist[b]++;
}

/*
 * Records are published without a wake-up; the consumer polls on a timer.
 * Only a buffer filling up forces one, so a burst is never lost to latency.
 */
static __always_inline void submit(struct ls_event *e)
{
	__u64 flags = BPF_RB_NO_WAKEUP;

	if (bpf_ringbuf_query(&events, BPF_RB_AVAIL_DATA) >= rb_wakeup_bytes) {
		flags = BPF_RB_FORCE_WAKEUP;
		count(LS_CNT_RB_WAKEUPS);
	}
	bpf_ringbuf_submit(e, flags);
}

static __always_inline struct ls_event *reserve(void)
{
	struct ls_event *e;

	if (!emit_records)
		return NULL;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(LS_CNT_RB_DROPS);
		return NULL;
	}
	__builtin_memset(e, 0, sizeof(*e));
	return e;
}

/* ---- TLS library calls ---------------------------------------------------- */

SEC("uprobe")
int BPF_KPROBE(ssl_enter, void *ssl, void *buf, __u64 num, void *done)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	__u64 cookie = bpf_get_attach_cookie(ctx);
	__u64 now = bpf_ktime_get_ns();
	struct ssl_call *cur, c = {};

	if (!is_target(id >> 32))
		return 0;
	cur = bpf_map_lookup_elem(&ssl_calls, &tid);
	if (cur) {
		if (now - cur->ts < stale_ns) {
			cur->depth++;
			return 0;
		}
		count(LS_CNT_STALE);
	}
	c.ts = now;
	c.ssl = (__u64)ssl;
	c.cookie = (__u32)cookie;
	c.depth = 1;
	c.fd = -1;
	if (LS_COOKIE_CONV(cookie) == LS_ARG_SSL_RW_EX)
		c.done_ptr = (__u64)done;
	if (LS_COOKIE_CONV(cookie) == LS_ARG_SSL_HS) {
		__u64 ssl_key = (__u64)ssl;

		bpf_map_update_elem(&hs_start, &ssl_key, &now, BPF_NOEXIST);
	}
	bpf_map_update_elem(&ssl_calls, &tid, &c, BPF_ANY);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(ssl_exit, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	__u64 now = bpf_ktime_get_ns();
	struct ssl_call *c;
	struct ls_event *e;
	__u32 probe, conv, flags = 0;
	__u64 bytes = 0, span = 0, ssl, dur;
	__s32 fd;
	int ok;

	c = bpf_map_lookup_elem(&ssl_calls, &tid);
	if (!c)
		return 0;
	if (c->depth > 1) {
		/* A nested call returned: its time belongs to the outer call. */
		c->depth--;
		probe = LS_COOKIE_PROBE(bpf_get_attach_cookie(ctx));
		if (probe < LS_PROBE_MAX) {
			struct ls_stats *st = bpf_map_lookup_elem(&stats, &probe);

			if (st)
				st->nested++;
		}
		return 0;
	}
	probe = LS_COOKIE_PROBE(c->cookie);
	conv = LS_COOKIE_CONV(c->cookie);
	ssl = c->ssl;
	fd = c->fd;
	dur = now - c->ts;
	if (conv == LS_ARG_SSL_RW_EX) {
		__u64 done = 0;

		ret = (int)ret;
		ok = ret == 1;
		if (ok && c->done_ptr)
			bpf_probe_read_user(&done, sizeof(done), (void *)c->done_ptr);
		bytes = done;
	} else if (conv == LS_ARG_SSL_HS) {
		ret = (int)ret;
		ok = ret == 1;
		if (ok) {
			__u64 *t0 = bpf_map_lookup_elem(&hs_start, &ssl);

			flags |= LS_F_HANDSHAKE;
			if (t0) {
				span = now - *t0;
				bpf_map_delete_elem(&hs_start, &ssl);
			}
		}
	} else {
		/* The result is a C int: the upper half of the register is not part of it. */
		ret = (int)ret;
		ok = ret > 0;
		bytes = ok ? (__u64)ret : 0;
	}
	bpf_map_delete_elem(&ssl_calls, &tid);

	if (fd >= 0) {
		bpf_map_update_elem(&ssl_fds, &ssl, &fd, BPF_ANY);
	} else {
		__s32 *known = bpf_map_lookup_elem(&ssl_fds, &ssl);

		if (known)
			fd = *known;
	}
	if (fd >= 0)
		flags |= LS_F_FD_KNOWN;

	if (probe >= LS_PROBE_MAX)
		return 0;
	account(probe, ok, bytes, dur);
	if (!ok)
		return 0;
	e = reserve();
	if (!e)
		return 0;
	e->type = LS_REC_CALL;
	e->probe = probe;
	e->pid = id >> 32;
	e->tid = tid;
	e->fd = fd;
	e->ts_ns = now;
	e->dur_ns = dur;
	e->conn = ssl;
	e->ret = ret;
	e->bytes = bytes;
	e->span_ns = span;
	e->flags = flags;
	submit(e);
	return 0;
}

/* ---- Socket syscalls: fd of a TLS call, start of a tracepoint-timed send/recv */

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
	struct sys_call sc = {};
	struct ssl_call *c;

	if (!is_sock_io(nr) || !is_target(id >> 32))
		return 0;
	sc.ts = bpf_ktime_get_ns();
	sc.fd = (__s32)PT_REGS_PARM1_CORE_SYSCALL(regs);
	sc.nr = (__u32)nr;
	bpf_map_update_elem(&sys_calls, &tid, &sc, BPF_ANY);
	c = bpf_map_lookup_elem(&ssl_calls, &tid);
	if (c && c->fd < 0)
		c->fd = sc.fd;
	return 0;
}

static __always_inline void net_done(void *ctx, __u32 probe, __u64 sk, __u64 t0, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	__u64 now = bpf_ktime_get_ns();
	struct sys_call *sc;
	struct ls_event *e;
	__s32 fd = -1;

	sc = bpf_map_lookup_elem(&sys_calls, &tid);
	if (sc && sc->ts <= t0)
		fd = sc->fd;
	account(probe, ret > 0, ret > 0 ? (__u64)ret : 0, now - t0);
	if (ret <= 0)
		return;
	e = reserve();
	if (!e)
		return;
	e->type = LS_REC_NET;
	e->probe = probe;
	e->pid = id >> 32;
	e->tid = tid;
	e->fd = fd;
	e->ts_ns = now;
	e->dur_ns = now - t0;
	e->conn = sk;
	e->ret = ret;
	e->bytes = (__u64)ret;
	e->flags = fd >= 0 ? LS_F_FD_KNOWN : 0;
	submit(e);
}

/* ---- Variant 3: tracepoints. Start = the socket syscall's entry. ---------- */

static __always_inline int tp_sock(__u32 probe, struct sock *sk, int ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;
	struct sys_call *sc;

	if (!is_target(id >> 32))
		return 0;
	if (BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	sc = bpf_map_lookup_elem(&sys_calls, &tid);
	if (!sc)
		return 0;
	net_done(NULL, probe, (__u64)sk, sc->ts, ret);
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
	struct net_call nc;

	if (!is_target(id >> 32))
		return 0;
	nc.ts = bpf_ktime_get_ns();
	nc.sk = (__u64)sk;
	bpf_map_update_elem(&net_calls, &tid, &nc, BPF_ANY);
	return 0;
}

static __always_inline int net_exit(__u32 probe, long ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct net_call *nc = bpf_map_lookup_elem(&net_calls, &tid);
	struct net_call copy;

	if (!nc)
		return 0;
	copy = *nc;
	bpf_map_delete_elem(&net_calls, &tid);
	net_done(NULL, probe, copy.sk, copy.ts, ret);
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
