/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Profiler: CPU samples, threshold crossings, off-CPU time.
 * Part of bpf/latscope.bpf.c (one object, one skeleton): included from there, in order.
 */

/* ---- Profiler: CPU samples, threshold crossings, off-CPU time ------------------ */

struct {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 16384);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, LS_STACK_DEPTH * sizeof(__u64));
} stacks SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ls_sample_key);
	__type(value, __u64);
} samples SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ls_sample_key);
	__type(value, __u64);
} offcpu SEC(".maps");

struct lsk_offstart {
	__u64 ts;
	__u64 wake; /* emit_samples: when it was woken, 0 until then */
	__u64 g; /* emit_samples: the user-mode r14 when it blocked */
	struct ls_sample_key key;
	__u16 flags; /* emit_samples: LS_OFF_* */
	__u16 _pad[3];
};

/* Before 5.14 the task's state was "state". */
struct task_struct___pre514 {
	long state;
} __attribute__((preserve_access_index));

/* Switched out while still runnable: preempted (it waits for a CPU), not blocked on something. */
static __always_inline int still_runnable(struct task_struct *t)
{
	if (bpf_core_field_exists(t->__state))
		return BPF_CORE_READ(t, __state) == 0;
	return BPF_CORE_READ((struct task_struct___pre514 *)t, state) == 0;
}

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 16384);
	__type(key, __u32);
	__type(value, struct lsk_offstart);
} offstart SEC(".maps");

static __always_inline __u8 kind_phase(__u32 kind)
{
	switch (kind) {
	case LS_KIND_TLS_READ: return LS_PH_TLS_IN;
	case LS_KIND_TLS_WRITE: return LS_PH_TLS_OUT;
	case LS_KIND_H2_IN: return LS_PH_H2_IN;
	case LS_KIND_H2_OUT: return LS_PH_H2_OUT;
	case LS_KIND_DECODE: return LS_PH_DECODE;
	case LS_KIND_ENCODE: return LS_PH_ENCODE;
	}
	return LS_PH_OTHER;
}

/* The phase a thread is in right now, and whether its request is over the threshold. */
static __always_inline void thread_phase(__u32 tid, __u64 now, struct ls_sample_key *k, struct lsk_thread **tp)
{
	struct lsk_thread *t = bpf_map_lookup_elem(&threads, &tid);
	struct lsk_call *cl;

	*tp = t;
	k->phase = LS_PH_OTHER;
	k->slow = 0;
	if (!t)
		return;
	cl = top(t);
	if (cl)
		k->phase = kind_phase(LS_COOKIE_KIND(cl->cookie));
	/* Inside a gRPC lifecycle call, or between probed calls: the application's time. */
	if ((!cl || k->phase == LS_PH_OTHER) && t->req_start) {
		k->phase = LS_PH_APP;
	}
	if (t->req_start && now - t->req_start >= threshold_ns)
		k->slow = 1;
}

/* Each target's executable ranges (user space fills them): where code, and return addresses, can be. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, LS_MAX_TARGETS);
	__type(key, __u32);
	__type(value, struct ls_xranges);
} xranges SEC(".maps");

/*
 * The index of the range holding addr, or -1 (ranges sorted: the scan stops
 * past addr). Global: verified once, not once per caller and path.
 */
__noinline int xrange_of(const struct ls_xranges *x, __u64 addr)
{
	if (!x)
		return -1;
	for (int i = 0; i < LS_XRANGES; i++) {
		if (i >= x->n || addr < x->start[i])
			break;
		if (addr < x->end[i])
			return i;
	}
	return -1;
}

static __always_inline struct ls_xranges *xranges_of(__u32 pid)
{
	__u32 *slot = target_slot(pid);

	return slot ? bpf_map_lookup_elem(&xranges, slot) : NULL;
}

/* The user-mode register at offset off of struct pt_regs (at the sample, or at the kernel entry). */
static __always_inline __u64 user_reg(__u32 off)
{
	struct pt_regs *ur = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	__u64 v = 0;

	bpf_probe_read_kernel(&v, sizeof(v), (void *)ur + off);
	return v;
}

/*
 * Code that has not set up its frame (a leaf without one, a prologue, an
 * epilogue) leaves the frame pointer on its caller's frame: the walk skips
 * the caller, whose return address is still near the stack pointer. Keep the
 * first word there that points into the target's code; user space decides
 * from the CFI of the sampled address whether it is that return address.
 */
static __always_inline void note_ra(struct ls_sample_key *k)
{
	struct ls_xranges *x = xranges_of(k->pid);
	__u64 w[LS_RA_WORDS];

	if (!x || bpf_probe_read_user(w, sizeof(w), (void *)user_reg(offsetof(struct pt_regs, sp))))
		return;
#pragma unroll
	for (int i = 0; i < LS_RA_WORDS; i++) {
		if (xrange_of(x, w[i]) >= 0) {
			k->ra = w[i];
			k->ra_slot = i;
			return;
		}
	}
}

/* --call-graph auto: the sampled code keeps no frame pointers, so its stack is copied for the CFI. */
static __always_inline int sample_needs_copy(__u32 pid)
{
	struct ls_xranges *x;
	int i;

	if (!cg_auto)
		return 1;
	x = xranges_of(pid);
	if (!x)
		return 1;
	i = xrange_of(x, user_reg(offsetof(struct pt_regs, ip)));
	return i >= 0 && ((x->nofp >> (i & (LS_XRANGES - 1))) & 1);
}

static __always_inline void stack_ids(void *ctx, struct ls_sample_key *k)
{
	k->ustack = bpf_get_stackid(ctx, &stacks, BPF_F_USER_STACK);
	k->kstack = bpf_get_stackid(ctx, &stacks, 0);
	if (k->ustack < 0 && k->kstack < 0)
		count(LS_CNT_STACK_LOST);
	if (k->ustack >= 0)
		note_ra(k);
}

/* The current task's user-mode r14: the running goroutine while a Go thread is in Go code. */
static __always_inline __u64 user_r14(void)
{
	struct pt_regs *ur = (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
	__u64 g = 0;

	bpf_probe_read_kernel(&g, sizeof(g), &ur->r14);
	return g;
}

/* trace --stacks: one sample to user space, which gives it to the request its thread or goroutine serves. */
static __always_inline void emit_sample(const struct ls_sample_key *k, __u32 tid, __u64 now)
{
	struct ls_sample_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);

	if (!r) {
		count(LS_CNT_RB_DROPS);
		return;
	}
	r->type = LS_REC_SAMPLE;
	r->phase = k->phase;
	r->ra_slot = k->ra_slot;
	r->ra = k->ra;
	r->pid = k->pid;
	r->tid = tid;
	r->ustack = k->ustack;
	r->kstack = k->kstack;
	r->_pad1 = 0;
	r->ts_ns = now;
	r->g = user_r14();
	bpf_ringbuf_submit(r, rb_flags());
}

/* trace --stacks: a thread working on a request, or a goroutine serving a grpc-go stream, blocks. */
static __always_inline int serving_request(__u32 pid, const struct lsk_thread *t, __u64 g)
{
	struct lsk_gkey gk = { .pid = pid, .g = g };

	return (t && t->req_start) || (g && bpf_map_lookup_elem(&go_serving, &gk));
}

/*
 * --call-graph dwarf scratch: one slot per CPU (user space sizes it), as the
 * record is larger than a per-CPU map value may be. A perf_event program
 * does not nest on its CPU, so a slot has one writer at a time. The slack
 * past LS_USTACK_MAX lets the copy loop's bounds be simple for the verifier.
 */
struct lsk_ustack_buf {
	struct pt_regs regs;
	struct ls_ustack rec;
	__u8 data[LS_USTACK_MAX + 4096]; /* follows rec without padding: rec is a multiple of 8 bytes */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct lsk_ustack_buf);
} ustack_buf SEC(".maps");

#define PAGE_SZ 4096

/*
 * Copy the top of the user stack page by page: a read across into an
 * unmapped page fails as a whole, and the main thread's stack often ends
 * closer to its stack pointer than the size asked for.
 */
static __always_inline __u32 copy_ustack(struct lsk_ustack_buf *b, __u64 sp, __u64 want)
{
	__u64 got = 0;

#pragma unroll
	for (int i = 0; i < LS_USTACK_MAX / PAGE_SZ + 2; i++) {
		__u64 chunk = PAGE_SZ - ((sp + got) & (PAGE_SZ - 1)), off = got;

		if (got >= want)
			break;
		if (chunk > want - got)
			chunk = want - got;
		/* Masks the verifier can follow: chunk in [0, PAGE_SZ], off in [0, LS_USTACK_MAX]. */
		barrier_var(chunk);
		chunk &= 2 * PAGE_SZ - 1;
		if (chunk > PAGE_SZ)
			break;
		barrier_var(off);
		off &= 0x1ffff;
		if (off > LS_USTACK_MAX)
			break;
		if (bpf_probe_read_user(b->data + off, (__u32)chunk, (void *)(sp + got))) {
			count(LS_CNT_USTACK_SHORT);
			break;
		}
		got += chunk;
	}
	return (__u32)got;
}

/*
 * A function under a uretprobe returns to the kernel's trampoline: its
 * return address slot on the stack holds the trampoline's address, which no
 * object's CFI describes. The kernel keeps the real one per task; put it
 * back in the copy so the unwind goes on through the caller.
 */
static __always_inline void fix_uretprobes(struct lsk_ustack_buf *b, struct task_struct *task, __u64 sp, __u64 got)
{
	struct return_instance *ri = BPF_CORE_READ(task, utask, return_instances);

	for (int i = 0; i < STACK_MAX + 2 && ri; i++) {
		__u64 at = BPF_CORE_READ(ri, stack), orig = BPF_CORE_READ(ri, orig_ret_vaddr), off;

		ri = BPF_CORE_READ(ri, next);
		if (at < sp || at + 8 > sp + got)
			continue;
		off = at - sp;
		barrier_var(off);
		off &= 0x1ffff;
		if (off > LS_USTACK_MAX - 8)
			continue;
		*(__u64 *)(b->data + off) = orig;
	}
}

/* A DWARF-mode sample: registers and stack copy to user space, which unwinds and aggregates it. */
static __always_inline void emit_ustack(void *ctx, const struct ls_sample_key *k, struct lsk_thread *t, __u32 tid,
					__u64 now)
{
	__u32 cpu = bpf_get_smp_processor_id(), size;
	struct lsk_ustack_buf *b = bpf_map_lookup_elem(&ustack_buf, &cpu);
	struct task_struct *task = bpf_get_current_task_btf();
	struct pt_regs *ur = (struct pt_regs *)bpf_task_pt_regs(task);
	__u32 want = ustack_size;

	if (!b)
		return;
	/* The registers the thread had in user mode: at the sample, or at its kernel entry. */
	if (bpf_probe_read_kernel(&b->regs, sizeof(b->regs), ur)) {
		count(LS_CNT_STACK_LOST);
		return;
	}
	b->rec.type = LS_REC_USTACK;
	b->rec.phase = k->phase;
	b->rec.slow = k->slow;
	b->rec.pid = k->pid;
	b->rec.tid = tid;
	b->rec.kstack = bpf_get_stackid(ctx, &stacks, 0);
	b->rec.ts_ns = now;
	b->rec.age_ns = t && t->req_start ? now - t->req_start : 0;
	b->rec.flags = 0;
	if (k->slow && t && !t->slow_seen && emit_requests) {
		t->slow_seen = 1;
		b->rec.flags |= LS_US_SLOW_FIRST;
	}
	b->rec.regs[0] = b->regs.ax;
	b->rec.regs[1] = b->regs.dx;
	b->rec.regs[2] = b->regs.cx;
	b->rec.regs[3] = b->regs.bx;
	b->rec.regs[4] = b->regs.si;
	b->rec.regs[5] = b->regs.di;
	b->rec.regs[6] = b->regs.bp;
	b->rec.regs[7] = b->regs.sp;
	b->rec.regs[8] = b->regs.r8;
	b->rec.regs[9] = b->regs.r9;
	b->rec.regs[10] = b->regs.r10;
	b->rec.regs[11] = b->regs.r11;
	b->rec.regs[12] = b->regs.r12;
	b->rec.regs[13] = b->regs.r13;
	b->rec.regs[14] = b->regs.r14;
	b->rec.regs[15] = b->regs.r15;
	b->rec.regs[16] = b->regs.ip;
	if (want > LS_USTACK_MAX)
		want = LS_USTACK_MAX;
	size = copy_ustack(b, b->regs.sp, want);
	fix_uretprobes(b, task, b->regs.sp, size);
	b->rec.size = size;
	barrier_var(size);
	if (size > LS_USTACK_MAX)
		return;
	if (bpf_ringbuf_output(&events, &b->rec, sizeof(b->rec) + size, rb_flags()))
		count(LS_CNT_USTACK_DROPS);
}

SEC("perf_event")
int on_cpu_sample(struct bpf_perf_event_data *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id, pid = id >> 32;
	__u64 now = bpf_ktime_get_ns(), one = 1, *cnt;
	struct ls_sample_key k = {};
	struct lsk_thread *t;

	LS_REJECT_IF(LS_FEAT_SAMPLER);
	if (!pid || !sampling || !target_slot(pid))
		return 0;
	count(LS_CNT_SAMPLES);
	k.pid = pid;
	thread_phase(tid, now, &k, &t);
	if (ustack_size && sample_needs_copy(pid)) {
		emit_ustack(ctx, &k, t, tid, now);
		return 0;
	}
	stack_ids(ctx, &k);
	if (emit_samples) {
		emit_sample(&k, tid, now);
		return 0;
	}
	cnt = bpf_map_lookup_elem(&samples, &k);
	if (cnt)
		__sync_fetch_and_add(cnt, 1);
	else if (bpf_map_update_elem(&samples, &k, &one, BPF_NOEXIST))
		count(LS_CNT_SAMPLE_LOST);
	/* The first sample after a request crosses the threshold shows what it is doing then. */
	if (k.slow && t && !t->slow_seen && emit_requests) {
		struct ls_slow_stack *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);

		t->slow_seen = 1;
		if (!r) {
			count(LS_CNT_RB_DROPS);
			return 0;
		}
		r->type = LS_REC_SLOW_STACK;
		r->phase = k.phase;
		r->pid = pid;
		r->tid = tid;
		r->ustack = k.ustack;
		r->kstack = k.kstack;
		r->_pad = 0;
		r->ts_ns = now;
		r->age_ns = now - t->req_start;
		bpf_ringbuf_submit(r, rb_flags());
	}
	return 0;
}

/* trace --stacks: one interval off CPU of a thread or goroutine that was serving a request. */
static __always_inline void emit_offcpu(const struct lsk_offstart *os, __u32 tid, __u64 begin, __u64 end)
{
	struct ls_offcpu_rec *r = bpf_ringbuf_reserve(&events, sizeof(*r), 0);

	if (!r) {
		count(LS_CNT_RB_DROPS);
		return;
	}
	r->type = LS_REC_OFFCPU;
	r->flags = os->flags;
	r->pid = os->key.pid;
	r->tid = tid;
	r->ustack = os->key.ustack;
	r->kstack = os->key.kstack;
	r->_pad1 = 0;
	r->start_ns = begin;
	r->end_ns = end;
	r->wake_ns = os->wake > begin && os->wake < end ? os->wake : 0;
	r->g = os->g;
	r->ra = os->key.ra;
	r->ra_slot = os->key.ra_slot;
	__builtin_memset(r->_pad2, 0, sizeof(r->_pad2));
	bpf_ringbuf_submit(r, rb_flags());
}

/*
 * trace --stacks: a blocked thread we follow is woken. From here to its switch-in it waits
 * for a CPU, which is the machine's doing, not what it blocked on.
 */
SEC("tp_btf/sched_wakeup")
int BPF_PROG(on_wakeup, struct task_struct *p)
{
	__u32 tid = BPF_CORE_READ(p, pid);
	struct lsk_offstart *os;

	LS_REJECT_IF(LS_FEAT_OFFCPU);
	if (!emit_samples)
		return 0;
	os = bpf_map_lookup_elem(&offstart, &tid);
	if (os && !os->wake)
		os->wake = bpf_ktime_get_ns();
	return 0;
}

SEC("tp_btf/sched_switch")
int BPF_PROG(on_switch, bool preempt, struct task_struct *prev, struct task_struct *next)
{
	__u32 prev_pid = BPF_CORE_READ(prev, tgid), next_tid = BPF_CORE_READ(next, pid);
	__u64 now = bpf_ktime_get_ns();
	struct lsk_offstart *os;

	LS_REJECT_IF(LS_FEAT_OFFCPU);
	/* Going off CPU: remember where (prev is the current task here). */
	if (prev_pid && target_slot(prev_pid) && !(window_hi && now >= window_hi)) {
		struct lsk_offstart o = {};
		struct lsk_thread *t;
		__u32 prev_tid = BPF_CORE_READ(prev, pid);

		o.ts = now;
		o.key.pid = prev_pid;
		thread_phase(prev_tid, now, &o.key, &t);
		if (emit_samples) {
			o.g = user_r14();
			o.flags = still_runnable(prev) ? LS_OFF_PREEMPTED : 0;
		}
		if (emit_samples ? serving_request(prev_pid, t, o.g) : offcpu_all_threads || (t && t->req_start)) {
			stack_ids(ctx, &o.key);
			bpf_map_update_elem(&offstart, &prev_tid, &o, BPF_ANY);
		}
	}
	/* Coming back: the time in between is blocked time of that stack. */
	os = bpf_map_lookup_elem(&offstart, &next_tid);
	if (os) {
		/* Only what falls inside the recording's window (a block may straddle its edges). */
		__u64 end = window_hi && now > window_hi ? window_hi : now;
		__u64 begin = os->ts > window_lo ? os->ts : window_lo;
		__u64 delta = end > begin ? end - begin : 0, *v;
		struct ls_sample_key k = os->key;

		if (emit_samples) {
			if (end > begin)
				emit_offcpu(os, next_tid, begin, end);
			bpf_map_delete_elem(&offstart, &next_tid);
			return 0;
		}
		bpf_map_delete_elem(&offstart, &next_tid);
		if (!delta)
			return 0;
		v = bpf_map_lookup_elem(&offcpu, &k);
		if (v)
			__sync_fetch_and_add(v, delta);
		else if (bpf_map_update_elem(&offcpu, &k, &delta, BPF_NOEXIST))
			count(LS_CNT_SAMPLE_LOST);
	}
	return 0;
}
