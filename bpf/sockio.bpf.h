/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The syscall reader: plaintext HTTP/2 (h2c, gRPC without TLS) read from the
 * bytes a target's socket syscalls move, with no uprobe. A connection is fed
 * to the same walk and request model as TLS plaintext when the first bytes the
 * target reads from it are the HTTP/2 client preface; anything else (a TLS
 * record, HTTP/1.1, a file, a connection older than the trace) leaves it alone
 * for good, so ciphertext never reaches the walk.
 * Part of bpf/latscope.bpf.c (one object, one skeleton): included from there, in order.
 */

#define SIO_IOV_MAX 64 /* iovec segments walked per call; the rest is counted */

/* What the first bytes read said of a socket (struct lsk_sock.state). */
#define SIO_H2C   1 /* the client preface: plaintext HTTP/2, fed to the walk */
#define SIO_OTHER 2 /* anything else: never looked at again until closed */
#define SIO_H1    3 /* a method token and a space: plaintext HTTP/1, fed to the HTTP/1 walk */

struct lsk_sock {
	__u64 conn; /* the connection's id in conns and reqs */
	__u64 sk;   /* struct sock *, for when its bytes arrived (0: not TCP) */
	__u32 state;
	__u32 _pad;
};

/* {pid, fd} -> what its first read said. Deleted at close(); a fresh accept() starts over. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64);
	__type(value, struct lsk_sock);
} sio_socks SEC(".maps");

/* Connections recognised so far: each gets the next number in its id, so a reused fd is a new connection. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} sio_gen SEC(".maps");

/* One socket call of an h2c connection, as the walk needs it (in sio_scratch). */
struct lsk_sio {
	__u64 conn, sk;
	__u64 base;   /* the buffer, or the iovec array when vec */
	__u64 bytes;  /* what the call moved */
	__u64 t0, now;
	__u64 g;      /* r14 at the syscall: the goroutine, when the target is Go */
	__u32 pid, tid;
	__u32 out, vec;
	__u32 niov;
	__u32 h1;     /* an HTTP/1 connection: ls_h1_walk() walks its bytes */
	__u64 left;   /* the iovec walk: bytes not walked yet */
	__u64 seg[2]; /* the iovec walk: the segment at hand (base, len) */
};

/* This CPU's socket call: off the program's stack, which the walk's nested calls need. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lsk_sio);
} sio_scratch SEC(".maps");

/* The TCP socket behind a target's fd (0 when it is none): for rx_arrival(). */
static __always_inline __u64 fd_tcp_sock(int fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct file **fds = BPF_CORE_READ(task, files, fdt, fd);
	unsigned int max = BPF_CORE_READ(task, files, fdt, max_fds);
	struct socket *so;
	struct file *f = NULL;
	struct sock *sk;

	if (fd < 0 || (unsigned int)fd >= max || bpf_core_read(&f, sizeof(f), fds + fd) || !f)
		return 0;
	if ((BPF_CORE_READ(f, f_inode, i_mode) & 0170000) != 0140000) /* S_IFSOCK */
		return 0;
	so = BPF_CORE_READ(f, private_data);
	sk = so ? BPF_CORE_READ(so, sk) : NULL;
	if (!sk || BPF_CORE_READ(sk, sk_protocol) != IPPROTO_TCP)
		return 0;
	return (__u64)sk;
}

/*
 * The first bytes the target read from a socket it had not classified: the
 * client preface makes it an h2c connection with a new id, anything else not.
 * A global function: it runs once per connection.
 */
__noinline int ls_sio_classify(__u64 key, __u64 first, __u64 n, struct lsk_sock *out)
{
	__u64 mask = n >= 8 ? ~0ULL : (1ULL << (n * 8)) - 1, *gen;
	__u8 p[8];
	__u32 zero = 0;

	if (!out)
		return 0;
	out->conn = out->sk = 0;
	out->state = SIO_OTHER;
	__builtin_memcpy(p, &first, sizeof(p));
	if (n && !((first ^ H2S_PREFACE_W0) & mask))
		out->state = SIO_H2C;
	else if (h1_looks_like(p, n < 8 ? (__u32)n : 8, 0))
		out->state = SIO_H1;
	gen = out->state != SIO_OTHER ? bpf_map_lookup_elem(&sio_gen, &zero) : NULL;
	if (!gen) {
		out->state = SIO_OTHER;
		return 0;
	}
	out->conn = LS_SIO_CONN_BIT | ((__sync_fetch_and_add(gen, 1) & 0x7fffffffULL) << 32) | (__u32)key;
	out->sk = fd_tcp_sock((int)(__u32)key);
	count(out->state == SIO_H2C ? LS_CNT_H2C_CONNS : LS_CNT_H1_PLAIN_CONNS);
	return 0;
}

/* When the bytes a read took reached the socket (0: unknown): its loop verified once, apart. */
__noinline int ls_sio_arrival(__u64 sk, __u64 *out)
{
	if (!out)
		return 0;
	*out = rx_arrival(sk);
	return 0;
}

/*
 * A socket call of an h2c connection moved bytes: the walk of their frames, set
 * up here, runs in the program itself (sio_walk()), then ls_sio_end() gives the
 * streams they carried the call's kernel time (net_in, net_out). Split so that
 * the walk's calls nest no deeper than under a TLS return. 1: walk.
 */
__noinline int ls_sio_begin(struct lsk_sio *io)
{
	struct ls_conn_key ck = {};
	struct ls_h2dir *dir;
	struct lsk_walk *w;
	struct lsk_conn *c;
	__u64 start, arrival;

	if (!io || !emit_requests)
		return 0;
	ck.conn = io->conn;
	ck.pid = io->pid;
	c = bpf_map_lookup_elem(&conns, &ck);
	if (!c && !io->out) {
		bpf_map_update_elem(&conns, &ck, &zero_conn, BPF_NOEXIST);
		c = bpf_map_lookup_elem(&conns, &ck);
	}
	w = scratch();
	if (!c || !w)
		return 0;
	start = io->t0;
	arrival = 0;
	if (!io->out && io->sk)
		ls_sio_arrival(io->sk, &arrival);
	/* A blocking read began before its bytes came: the request starts when they did. */
	if (arrival > start && arrival <= io->now)
		start = arrival;
	io->t0 = start;
	dir = io->out ? &c->out : &c->in;
	w->pid = io->pid;
	w->conn = io->conn;
	w->start = start;
	w->queue = arrival && arrival < start ? start - arrival : 0;
	w->out = io->out;
	w->hd_flags = io->out ? LS_HD_OUT : 0;
	w->is_h2 = c->is_h2;
	w->conn_flags = c->flags;
	w->dir = *dir;
	return 1;
}

/* Which request this thread works on: what the profiler tags its samples with. */
__noinline int ls_sio_thread(struct lsk_thread *t, const struct lsk_walk *w, __u64 start)
{
	if (!t || !w)
		return 0;
	if (!w->out && w->opened && !t->req_start) {
		t->req_start = start;
		t->slow_seen = 0;
	} else if (w->out && w->finished) {
		t->req_start = 0;
	}
	return 0;
}

/*
 * The calls this syscall ran under: the goroutine's that made it (Go keeps it in
 * r14, and a goroutine that parked may wake on another thread than gcur says),
 * else the thread's.
 */
static __always_inline struct lsk_thread *sio_thread(const struct lsk_sio *io)
{
	struct lsk_gkey k = { .pid = io->pid, .g = io->g };
	struct lsk_thread *t = io->g ? bpf_map_lookup_elem(&gthreads, &k) : NULL;

	return t ? t : cur_thread(io->tid);
}

/*
 * The thread's HTTP/2 library calls find their connection through last_conn, as
 * after a TLS call. A library that reads the socket itself (Go's framer) waited
 * for these bytes inside its call, parked, before the read began: that wait is
 * not HTTP/2 work, and over TLS the TLS read nested there would have taken it.
 */
__noinline int ls_sio_h2_read(struct lsk_thread *t, const struct lsk_sio *io)
{
	struct lsk_call *cl;

	if (!t || !io)
		return 0;
	t->last_conn = io->conn;
	cl = top(t);
	if (!io->out && cl && LS_COOKIE_KIND(cl->cookie) == LS_KIND_H2_IN && cl->start < io->t0)
		cl->start = io->t0;
	return 0;
}

/*
 * After the walk: the framing state back to the connection, and each stream the
 * bytes carried its share. There is no TLS time; a thread with probed HTTP/2
 * library calls gets its h2_* phases through last_conn, as after a TLS call.
 */
__noinline int ls_sio_end(struct lsk_sio *io)
{
	struct ls_conn_key ck = {};
	struct lsk_thread *t;
	struct lsk_walk *w;
	struct lsk_conn *c;
	__u32 zero = 0;

	if (!io)
		return 0;
	ck.conn = io->conn;
	ck.pid = io->pid;
	c = bpf_map_lookup_elem(&conns, &ck);
	w = bpf_map_lookup_elem(&walk_scratch, &zero);
	if (!c || !w)
		return 0;
	if (io->out)
		c->out = w->dir;
	else
		c->in = w->dir;
	c->is_h2 = w->is_h2;
	c->flags = w->conn_flags;
	t = sio_thread(io);
	if (t)
		ls_sio_h2_read(t, io);
	if (!w->nbatch)
		return 0;
	w->net_ns = io->now - io->t0;
	w->now = io->now;
	w->tid = io->tid;
	attrib_batch(w, c, t, io->out);
	if (t && track_thread_req)
		ls_sio_thread(t, w, io->t0);
	return 0;
}

/* bpf_loop's context for walking the segments of an iovec array: all else is in the scratch. */
struct lsk_iov_ctx {
	struct lsk_sio *io;
};

/* One segment: its bytes (as many as the call moved) through the walk. */
static long iov_cb(__u32 i, void *ctx)
{
	struct lsk_sio *io = ((struct lsk_iov_ctx *)ctx)->io;
	__u32 zero = 0;
	struct lsk_walk *w;
	__u64 n;

	if (i >= io->niov || !io->left ||
	    bpf_probe_read_user(io->seg, sizeof(io->seg), (void *)(io->base + (__u64)i * sizeof(io->seg))))
		return 1;
	n = io->seg[1] < io->left ? io->seg[1] : io->left;
	io->left -= n;
	w = bpf_map_lookup_elem(&walk_scratch, &zero);
	if (!n || !w)
		return !w;
	w->buf = io->seg[0];
	w->len = n > 0x7fffffff ? 0x7fffffff : (__u32)n;
	/* HTTP/1 keeps its state in the connection, which its walk finds by w's conn. */
	if (io->h1)
		ls_h1_walk(w, NULL);
	else
		ls_h2_walk(w);
	return 0;
}

/*
 * The walk over what the call moved: one buffer, or each segment of its iovecs
 * in turn. In the program itself, with as little stack as can be: the walk's
 * nested calls need the rest.
 */
static __always_inline void sio_walk(struct lsk_sio *io)
{
	struct lsk_iov_ctx x = { .io = io };
	__u32 zero = 0;
	struct lsk_walk *w;

	if (io->vec) {
		io->left = io->bytes;
		if (io->niov > SIO_IOV_MAX) {
			io->niov = SIO_IOV_MAX;
			count(LS_CNT_SIO_IOV_CUT);
		}
		bpf_loop(SIO_IOV_MAX, iov_cb, &x, 0);
		return;
	}
	w = bpf_map_lookup_elem(&walk_scratch, &zero);
	if (!w)
		return;
	w->buf = io->base;
	w->len = io->bytes > 0x7fffffff ? 0x7fffffff : (__u32)io->bytes;
	/* HTTP/1 keeps its state in the connection, which its walk finds by w's conn. */
	if (io->h1)
		ls_h1_walk(w, NULL);
	else
		ls_h2_walk(w);
}

/*
 * The direction and buffer (or iovec array) of a socket call, from the
 * registers it was made with: 0 when it is not one to read. A global function:
 * its cases join here, not in the program after it.
 */
__noinline int ls_sio_args(struct lsk_sio *io, long nr, __u64 si, __u64 dx, __u64 r10)
{
	__u64 hdr[2] = {};

	if (!io)
		return 0;
	io->out = nr == 1 || nr == 20 || nr == 44 || nr == 46;
	io->base = si;
	io->vec = nr == 19 || nr == 20 || nr == 46 || nr == 47;
	io->niov = (__u32)dx;
	/* A peek leaves the bytes for the next read. */
	if ((nr == 45 && (r10 & LS_MSG_PEEK)) || (nr == 47 && (dx & LS_MSG_PEEK)))
		return 0;
	if (nr != 46 && nr != 47)
		return 1;
	/* struct user_msghdr: msg_iov at 16, msg_iovlen at 24 */
	if (bpf_probe_read_user(hdr, sizeof(hdr), (void *)(si + 16)))
		return 0;
	io->base = hdr[0];
	io->niov = hdr[1] > SIO_IOV_MAX + 1 ? SIO_IOV_MAX + 1 : (__u32)hdr[1];
	return 1;
}

/* The first 8 bytes the call read (fewer are masked off by the classifier). */
static __always_inline __u64 sio_first(const struct lsk_sio *io)
{
	__u64 w = 0, p = io->base;

	if (io->vec && bpf_probe_read_user(&p, sizeof(p), (void *)io->base))
		return 0;
	bpf_probe_read_user(&w, io->bytes < 8 ? io->bytes & 7 : 8, (void *)p);
	return w;
}

/* The socket of the call (key: {pid, fd}), classified by its first read: 1 when it is h2c. */
__noinline int ls_sio_socket(struct lsk_sio *io, __u64 key)
{
	struct lsk_sock *s, fresh;

	if (!io)
		return 0;
	s = bpf_map_lookup_elem(&sio_socks, &key);
	if (!s) {
		/* Only the client speaks first: a write before any read decides nothing. */
		if (io->out)
			return 0;
		ls_sio_classify(key, sio_first(io), io->bytes, &fresh);
		bpf_map_update_elem(&sio_socks, &key, &fresh, BPF_ANY);
		s = bpf_map_lookup_elem(&sio_socks, &key);
		if (!s)
			return 0;
	}
	if (s->state != SIO_H2C && s->state != SIO_H1)
		return 0;
	io->conn = s->conn;
	io->sk = s->sk;
	io->h1 = s->state == SIO_H1;
	return 1;
}

/* A socket read or write of a target returned n > 0 bytes on fd. */
static __always_inline int sio_io(struct pt_regs *regs, long nr, __u64 id, long n)
{
	__u64 key = (id & ~0xffffffffULL) | (__u32)regs->di;
	struct lsk_sys_call *sc;
	struct lsk_thread *t;
	struct lsk_sio *io;
	__u32 zero = 0;

	io = bpf_map_lookup_elem(&sio_scratch, &zero);
	if (!io)
		return 0;
	io->pid = id >> 32;
	io->tid = (__u32)id;
	io->bytes = (__u64)n;
	io->g = regs->r14;
	if (!ls_sio_args(io, nr, regs->si, regs->dx, regs->r10) || !ls_sio_socket(io, key))
		return 0;
	io->now = bpf_ktime_get_ns();
	sc = bpf_map_lookup_elem(&sys_calls, &io->tid);
	io->t0 = sc && sc->nr == nr && sc->ts <= io->now ? sc->ts : io->now;
	/* A run of mem_send calls on this thread ends at its write (or, with no output, at a read). */
	t = bpf_map_lookup_elem(&threads, &io->tid);
	if (t && t->h2o_start)
		ls_h2o_close(t, io->pid, io->out ? io->conn : 0, io->t0, LS_PROBE_MAX);
	if (!ls_sio_begin(io))
		return 0;
	sio_walk(io);
	return ls_sio_end(io);
}

/*
 * An fd was closed (or handed out again by accept(), its close unseen): an h2c
 * connection on it ended. Its framing state goes, and user space frees its HPACK
 * contexts and names (LS_HD_FRESH); its unfinished requests go with the next sweep.
 */
__noinline int ls_sio_forget(__u64 key)
{
	struct lsk_sock *s = bpf_map_lookup_elem(&sio_socks, &key);
	struct ls_conn_key ck = {};
	struct lsk_thread *t;

	if (!s)
		return 0;
	if (s->state == SIO_H2C || s->state == SIO_H1) {
		ck.conn = s->conn;
		ck.pid = key >> 32;
		bpf_map_delete_elem(&conns, &ck);
		/* The thread's next HTTP/2 library call is another connection's: not this one's, reborn. */
		t = cur_thread((__u32)bpf_get_current_pid_tgid());
		if (t && t->last_conn == s->conn)
			t->last_conn = 0;
		if (emit_requests)
			emit_fresh(key >> 32, s->conn);
	}
	bpf_map_delete_elem(&sio_socks, &key);
	return 0;
}

/*
 * Every syscall's return, in every process: the first tests cost a syscall
 * of another process a switch and one hash lookup (BENCHMARKS.md).
 */
SEC("tp_btf/sys_exit")
int BPF_PROG(sio_exit, struct pt_regs *regs, long ret)
{
	long nr = regs->orig_ax;
	__u64 id, key;

	LS_REJECT_IF(LS_FEAT_SOCKIO);
	switch (nr) {
	case 0: case 1: case 19: case 20: case 44: case 45: case 46: case 47:
		id = bpf_get_current_pid_tgid();
		if (ret <= 0 || !target_slot(id >> 32))
			return 0;
		return sio_io(regs, nr, id, ret);
	case 3:   /* close: the fd's next connection is another */
	case 43:  /* accept */
	case 288: /* accept4 */
		id = bpf_get_current_pid_tgid();
		if (!target_slot(id >> 32))
			return 0;
		if (nr == 3 && ret)
			return 0;
		if (nr != 3 && ret < 0)
			return 0;
		key = (id & ~0xffffffffULL) | (__u32)(nr == 3 ? regs->di : (__u64)ret);
		return ls_sio_forget(key);
	}
	return 0;
}
