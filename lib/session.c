/*
 * A tracing session: the BPF object loaded feature by feature (lib/bpfload.c),
 * the kernel hook chosen (lib/khook.c), library probes planned and attached
 * (lib/uprobes.c), the profiler's events, and the ring buffer. The readers
 * of what it gathered are in lib/session_read.c.
 */
#include "bpfconf.h"
#include "callgraph.h"
#include "feature.h"
#include "session_int.h"
#include "uprobe_multi.h"
#include "uprobes.h"
#include "ustacks.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/perf_event.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "latscope.skel.h"

#define DEFAULT_BTF "/sys/kernel/btf/vmlinux"

int ls_khook_parse(const char *s, enum ls_khook *out)
{
	static const struct { const char *name; enum ls_khook h; } names[] = {
		{ "auto", LS_KHOOK_NONE }, { "fentry", LS_KHOOK_FENTRY },
		{ "kprobe", LS_KHOOK_KPROBE }, { "tracepoint", LS_KHOOK_TRACEPOINT },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(s, names[i].name)) {
			*out = names[i].h;
			return 0;
		}
	}
	return -EINVAL;
}

/* Root, or CAP_BPF + CAP_PERFMON (or CAP_SYS_ADMIN) in the effective set. */
static int have_privileges(void)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	unsigned long long eff;

	memset(data, 0, sizeof(data));
	if (syscall(SYS_capget, &hdr, data) != 0)
		return geteuid() == 0;
	eff = (unsigned long long)data[0].effective | ((unsigned long long)data[1].effective << 32);
#ifndef CAP_BPF
#define CAP_BPF 39
#endif
#ifndef CAP_PERFMON
#define CAP_PERFMON 38
#endif
	if (eff & (1ull << CAP_SYS_ADMIN))
		return 1;
	return (eff & (1ull << CAP_BPF)) && (eff & (1ull << CAP_PERFMON));
}

int ls_session_new(const struct ls_session_opts *opts, struct ls_session **out, char *err)
{
	struct ls_session *s = NULL;
	int ret = 0;

	*out = NULL;
	if (!opts || opts->sz < sizeof(*opts) || !opts->npids)
		return ls_err(err, EINVAL, "no target process given");
	if (opts->npids > LS_SESSION_MAX_PIDS)
		return ls_err(err, EINVAL, "too many target processes (at most %d)", LS_SESSION_MAX_PIDS);
	if (!have_privileges())
		return ls_err(err, EPERM, "permission denied: latscope needs root (or CAP_BPF and CAP_PERFMON)");
	s = calloc(1, sizeof(*s));
	if (!s)
		return ls_err(err, ENOMEM, "out of memory");
	s->stats_fd = -1;
	s->want = opts->khook;
	s->records = opts->records;
	s->requests = opts->requests;
	s->threshold_ns = opts->threshold_ns ? opts->threshold_ns : 10000000ull;
	s->sample_hz = opts->sample_hz;
	s->offcpu = opts->offcpu;
	s->offcpu_inflight_only = opts->offcpu_inflight_only;
	s->request_stacks = opts->request_stacks;
	if (s->request_stacks && (ls_rstacks_new(&s->rs) || ls_sagg_new(&s->agg[0]) || ls_sagg_new(&s->agg[1]))) {
		ret = ls_err(err, ENOMEM, "out of memory");
		goto cleanup;
	}
	if (opts->ustack_size > LS_USTACK_MAX || (opts->ustack_size && opts->ustack_size < 64)) {
		ret = ls_err(err, EINVAL, "stack size %u out of range (64..%d bytes)", opts->ustack_size, LS_USTACK_MAX);
		goto cleanup;
	}
	s->ustack_size = opts->sample_hz ? opts->ustack_size : 0;
	s->cg_auto = s->ustack_size && opts->cg_auto;
	if ((opts->sample_hz || opts->offcpu) && !(s->ustore = ls_ustore_new())) {
		ret = ls_err(err, ENOMEM, "out of memory");
		goto cleanup;
	}
	s->attach_uprobes = opts->attach_uprobes;
	s->reject_features = opts->reject_features;
	if (opts->overhead_pct < 0 || opts->overhead_pct > 100) {
		ret = ls_err(err, EINVAL, "overhead budget %g%% out of range (0..100)", opts->overhead_pct);
		goto cleanup;
	}
	s->overhead_pct = opts->overhead_pct;
	s->on_event = opts->on_event;
	s->ctx = opts->ctx;
	snprintf(s->btf_path, sizeof(s->btf_path), "%s", opts->btf_path ? opts->btf_path : DEFAULT_BTF);
	if (access(s->btf_path, R_OK) != 0) {
		ret = ls_err(err, errno, "no kernel BTF at %s (kernel built without CONFIG_DEBUG_INFO_BTF?): %s",
			     s->btf_path, strerror(errno));
		goto cleanup;
	}
	s->pids = calloc(opts->npids, sizeof(*s->pids));
	s->pid_start = calloc(opts->npids, sizeof(*s->pid_start));
	if (!s->pids || !s->pid_start) {
		ret = ls_err(err, ENOMEM, "out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < opts->npids; i++) {
		struct ls_proc_info info;
		struct ls_site *sites = NULL, *nv;
		size_t n = 0;

		ret = ls_proc_info(opts->pids[i], &info, err);
		if (ret)
			goto cleanup;
		s->pid_start[s->npids] = info.start_ticks;
		s->pids[s->npids++] = opts->pids[i];
		ret = ls_discover(opts->pids[i], &sites, &n, err);
		if (ret)
			goto cleanup;
		nv = realloc(s->sites, (s->nsites + n) * sizeof(*nv));
		if (!nv && n) {
			free(sites);
			ret = ls_err(err, ENOMEM, "out of memory");
			goto cleanup;
		}
		s->sites = nv;
		if (n)
			memcpy(s->sites + s->nsites, sites, n * sizeof(*sites));
		s->nsites += n;
		free(sites);
	}
	/*
	 * Only the probes of the phases asked for; the kernel hooks are the net phase.
	 * Probes of no phase group ("app": what names requests and binds them to their
	 * handlers) serve every phase and always stay.
	 */
	s->phases = opts->phases ? opts->phases : LS_PHASES_ALL;
	for (size_t i = 0; i < s->nsites; i++) {
		struct ls_site *site = &s->sites[i];
		unsigned int group = ls_phase_group(site->entry->phase);

		if (site->found && group && !(group & s->phases)) {
			site->found = 0;
			snprintf(site->reason, sizeof(site->reason), "not attached: phase %s not requested (--phases)",
				 site->entry->phase);
		}
	}
	ret = ls_place(s->sites, s->nsites, opts->placement, opts->costs, &s->place, err);
	if (ret)
		goto cleanup;
	s->ncpus = libbpf_num_possible_cpus();
	if (s->ncpus <= 0) {
		ret = ls_err(err, -s->ncpus, "cannot count CPUs");
		goto cleanup;
	}
	s->statbuf = calloc((size_t)s->ncpus, sizeof(struct ls_stats));
	s->phase_buf = calloc((size_t)s->ncpus, sizeof(struct ls_phase_stats));
	if (!s->statbuf || !s->phase_buf) {
		ret = ls_err(err, ENOMEM, "out of memory");
		goto cleanup;
	}
	*out = s;
	s = NULL;
cleanup:
	ls_session_free(s);
	return ret;
}

/* A sample taken by a slow request's worker while it ran moves to the slow side of its aggregate. */
static int claim_slow(void *ctx, const struct ls_sample_key *k, int offcpu, uint64_t value)
{
	struct ls_session *s = ctx;
	struct ls_sample_key slow = *k;

	slow.slow = 1;
	if (ls_sagg_add(s->agg[offcpu], k, -(int64_t)value) || ls_sagg_add(s->agg[offcpu], &slow, (int64_t)value))
		return ls_err(s->err, ENOMEM, "out of memory");
	return 0;
}

/* A sample's frame-pointer stack with the caller a leaf's walk skipped put back (see ls_ustore_fix_leaf). */
static int fix_leaf(struct ls_session *s, struct ls_sample_key *k)
{
	uint64_t ips[LS_STACK_DEPTH];
	size_t depth;

	if (!k->ra || !s->ustore || k->ustack < 0 || ls_session_stack(s, k->ustack, ips, LS_STACK_DEPTH, &depth)) {
		k->ra = 0;
		k->ra_slot = 0;
		return 0;
	}
	return ls_ustore_fix_leaf(s->ustore, k, ips, depth);
}

/*
 * Keep a sample (off = 0) or an off-CPU interval (off = 1), its copy rec written with the
 * stack whose leaf caller was put back, and count value under it.
 */
static int keep(struct ls_session *s, void *rec, size_t size, __s32 *ustack, __u64 *ra, struct ls_sample_key *k,
		int off, int64_t value)
{
	if (fix_leaf(s, k) < 0)
		return ls_err(s->err, ENOMEM, "out of memory");
	*ustack = k->ustack;
	*ra = 0;
	ls_rstacks_add(s->rs, rec, size);
	return ls_sagg_add(s->agg[off], k, value) ? ls_err(s->err, ENOMEM, "out of memory") : 0;
}

/*
 * request_stacks: samples and blocks are kept and counted; a finished slow request claims
 * those of its worker before on_event sees it, and is remembered for the sharing of the
 * requests after it.
 */
static int request_stacks_record(struct ls_session *s, void *data, size_t size)
{
	const struct ls_rec_hdr *h = data;
	int r = 0;

	if (h->type == LS_REC_SAMPLE && size >= sizeof(struct ls_sample_rec)) {
		struct ls_sample_rec e = *(const struct ls_sample_rec *)data;
		struct ls_sample_key k = { .pid = e.pid, .ustack = e.ustack, .kstack = e.kstack, .phase = e.phase,
					   .ra = e.ra, .ra_slot = e.ra_slot };

		return keep(s, &e, sizeof(e), &e.ustack, &e.ra, &k, 0, 1);
	}
	if (h->type == LS_REC_OFFCPU && size >= sizeof(struct ls_offcpu_rec)) {
		struct ls_offcpu_rec e = *(const struct ls_offcpu_rec *)data;
		struct ls_sample_key k = { .pid = e.pid, .ustack = e.ustack, .kstack = e.kstack, .phase = LS_PH_OTHER,
					   .ra = e.ra, .ra_slot = e.ra_slot };

		return keep(s, &e, sizeof(e), &e.ustack, &e.ra, &k, 1, (int64_t)(e.end_ns - e.start_ns));
	}
	if (h->type == LS_REC_REQUEST && size >= sizeof(struct ls_request) && (((const struct ls_request *)data)->flags & LS_RQ_SLOW) &&
	    (r = ls_rstacks_claim(s->rs, data, claim_slow, s)))
		return r;
	if (s->on_event)
		r = s->on_event(s->ctx, data, size);
	if (h->type == LS_REC_REQUEST && size >= sizeof(struct ls_request))
		ls_rstacks_note(s->rs, data);
	return r;
}

/* request_stacks: a sample unwound from its stack copy joins the others, under its interned stack. */
static int unwound_sample(struct ls_session *s, const struct ls_ustack *u, const struct ls_sample_key *key)
{
	struct ls_sample_rec e = { .type = LS_REC_SAMPLE, .phase = u->phase, .pid = u->pid, .tid = u->tid,
				   .ustack = key->ustack, .kstack = u->kstack, .ts_ns = u->ts_ns,
				   .g = u->regs[14] /* r14, DWARF numbering */ };

	return request_stacks_record(s, &e, sizeof(e));
}

/*
 * nghttp2 began on a joined connection's input: its decoder's table as it stood then, read
 * from the target now (the insertion counter tells what was added since), goes to request
 * assembly in place of the kernel's record.
 */
static int h2_table(struct ls_session *s, const struct ls_h2seq_rec *e)
{
	static struct ls_h2table_rec t; /* one reader thread */
	const struct ls_h2_layout *l = NULL;
	pid_t pid = (pid_t)e->pid;

	for (size_t i = 0; i < s->nsites && !l; i++)
		if (s->sites[i].found && s->sites[i].has_h2_layout && s->sites[i].pid == pid)
			l = &s->sites[i].h2_layout;
	memset(&t, 0, offsetof(struct ls_h2table_rec, data));
	t.type = LS_REC_H2TABLE;
	t.pid = e->pid;
	t.conn = e->conn;
	t.blocks = e->blocks;
	if (l)
		ls_h2_table(ls_h2_read_pid, &pid, e->session, l, e->seq, &t);
	else
		t.status = LS_H2T_NO_LAYOUT;
	if (s->rs)
		return request_stacks_record(s, &t, offsetof(struct ls_h2table_rec, data) + t.len);
	return s->on_event ? s->on_event(s->ctx, &t, offsetof(struct ls_h2table_rec, data) + t.len) : 0;
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct ls_session *s = ctx;

	if (size < sizeof(struct ls_rec_hdr))
		return 0;
	if (((const struct ls_rec_hdr *)data)->type == LS_REC_H2SEQ)
		return size >= sizeof(struct ls_h2seq_rec) ? h2_table(s, data) : 0;
	/* DWARF-mode samples are unwound and counted here; a threshold crossing goes on as its stacks. */
	if (((const struct ls_rec_hdr *)data)->type == LS_REC_USTACK) {
		struct ls_slow_stack slow;
		struct ls_sample_key key;
		int r;

		if (!s->ustore)
			return 0;
		r = ls_ustore_add_key(s->ustore, data, size, &slow, &key);
		if (r == -ENOMEM)
			return ls_err(s->err, ENOMEM, "out of memory");
		if (r >= 0 && s->rs)
			return unwound_sample(s, data, &key);
		if (r == 1 && s->on_event)
			return s->on_event(s->ctx, &slow, sizeof(slow));
		return 0;
	}
	if (s->rs)
		return request_stacks_record(s, data, size);
	if (!s->on_event)
		return 0;
	return s->on_event(s->ctx, data, size);
}

/* A feature that loaded but could not be put to work: it is off, for this reason. */
static void feature_failed(struct ls_session *s, enum ls_feature f, const char *prog, const char *fmt, int e)
{
	char reason[256];

	snprintf(reason, sizeof(reason), fmt, strerror(e));
	ls_bpf_fail(s->bpf, f, prog, reason);
}

/*
 * Attach prog, of feature f, at the kernel hook what (named in the message): 1 when
 * attached, 0 when refused (the feature is off and says why), an error when out of memory.
 */
static int attach_one(struct ls_session *s, enum ls_feature f, struct bpf_program *prog, const char *what)
{
	struct bpf_link *l = bpf_program__attach(prog);
	char fmt[128];
	int e = errno;

	if (!l) {
		snprintf(fmt, sizeof(fmt), "attach %s failed: %%s", what);
		feature_failed(s, f, bpf_program__name(prog), fmt, e);
		return 0;
	}
	return ls_links_add(s->links, l) ? ls_err(s->err, ENOMEM, "out of memory") : 1;
}

/* The processes and what the Go probes need to read of them, in the shared maps. */
static int register_targets(struct ls_session *s)
{
	for (size_t i = 0; i < s->npids; i++) {
		__u32 key = (__u32)s->pids[i], slot = (__u32)i;

		if (bpf_map__update_elem(s->skel->maps.targets, &key, sizeof(key), &slot, sizeof(slot), BPF_ANY))
			return ls_err(s->err, errno, "cannot register pid %d: %s", (int)s->pids[i], strerror(errno));
	}
	/* The struct layouts grpc-go probes read, per traced Go binary. */
	for (size_t i = 0; i < s->nsites; i++) {
		__u32 key = (__u32)s->sites[i].pid;

		if (s->sites[i].found && s->sites[i].has_offsets &&
		    bpf_map__update_elem(s->skel->maps.go_offs, &key, sizeof(key), &s->sites[i].go_off,
					 sizeof(s->sites[i].go_off), BPF_ANY))
			return ls_err(s->err, errno, "cannot set Go struct offsets of pid %d: %s", (int)key, strerror(errno));
	}
	/* Where nghttp2 keeps its decoder's insertion counter, per target: joined connections are named again. */
	for (size_t i = 0; i < s->nsites; i++) {
		__u32 key = (__u32)s->sites[i].pid;
		struct ls_h2_infl v = { .seq_off = s->sites[i].h2_layout.infl_off + s->sites[i].h2_layout.seq_off };

		if (s->sites[i].found && s->sites[i].has_h2_layout &&
		    bpf_map__update_elem(s->skel->maps.h2_infl, &key, sizeof(key), &v, sizeof(v), BPF_ANY))
			return ls_err(s->err, errno, "cannot set nghttp2's layout for pid %d: %s", (int)key, strerror(errno));
	}
	return 0;
}

/* Where the entries of ended threads and closed sockets go: without these, they stay until their table is full. */
static int attach_ends(struct ls_session *s, struct latscope_bpf *sk)
{
	int r = attach_one(s, LS_FEAT_SYSCALLS, sk->progs.thread_exit, "sched:sched_process_exit");

	if (r > 0)
		r = attach_one(s, LS_FEAT_SYSCALLS, sk->progs.sock_closed, "sock:inet_sock_set_state");
	return r < 0 ? r : 0;
}

/* The socket syscall entry: fds of TLS calls, and where tracepoint-timed sends and receives start. */
static int attach_syscalls(struct ls_session *s)
{
	struct latscope_bpf *sk;
	int r;

	if (ls_bpf_load(s->bpf, LS_FEAT_SYSCALLS, LS_KHOOK_NONE))
		return 0;
	sk = ls_bpf_feature(s->bpf, LS_FEAT_SYSCALLS);
	/*
	 * Not in links: every syscall of the machine runs it, and it only serves
	 * traced calls (fds, the start of a tracepoint-timed send or receive), so an
	 * overhead budget detaches it with the library probes (ls_session_sys_enter_*).
	 */
	s->sys_enter = bpf_program__attach(sk->progs.sys_enter);
	if (!s->sys_enter) {
		feature_failed(s, LS_FEAT_SYSCALLS, "sys_enter", "attach raw_syscalls:sys_enter failed: %s", errno);
		return 0;
	}
	s->sys_enter_ok = 1;
	r = attach_ends(s, sk);
	return r;
}

int ls_session_sys_enter_attach(struct ls_session *s)
{
	struct latscope_bpf *sk = ls_bpf_feature(s->bpf, LS_FEAT_SYSCALLS);

	if (s->sys_enter || !s->sys_enter_ok || !sk)
		return 0;
	s->sys_enter = bpf_program__attach(sk->progs.sys_enter);
	if (!s->sys_enter)
		return ls_err(s->err, errno, "attach raw_syscalls:sys_enter failed: %s", strerror(errno));
	return 0;
}

void ls_session_sys_enter_detach(struct ls_session *s)
{
	bpf_link__destroy(s->sys_enter);
	s->sys_enter = NULL;
}

/*
 * The syscall reader: plaintext HTTP/2 from the targets' socket reads and writes,
 * for requests only. Refused or not attached, it costs h2c connections alone.
 */
static int attach_sockio(struct ls_session *s)
{
	/* probes (no attach) loads it to say whether a trace could. */
	if ((!s->requests && s->attach_uprobes) || ls_bpf_load(s->bpf, LS_FEAT_SOCKIO, LS_KHOOK_NONE) ||
	    !s->attach_uprobes)
		return 0;
	/* Not in links: an overhead budget may detach it between windows (ls_session_sio_*). */
	s->sio_exit = bpf_program__attach(ls_bpf_feature(s->bpf, LS_FEAT_SOCKIO)->progs.sio_exit);
	if (!s->sio_exit) {
		feature_failed(s, LS_FEAT_SOCKIO, "sio_exit", "attach raw_syscalls:sys_exit failed: %s", errno);
		return 0;
	}
	s->sio_exit_ok = 1;
	return 0;
}

int ls_session_sio_can_go(struct ls_session *s)
{
	return s->sio_exit && !ls_session_counter(s, LS_CNT_H2C_CONNS) && !ls_session_counter(s, LS_CNT_H1_PLAIN_CONNS);
}

int ls_session_sio_attach(struct ls_session *s)
{
	struct latscope_bpf *sk = ls_bpf_feature(s->bpf, LS_FEAT_SOCKIO);
	struct bpf_map *m;
	__u64 key;

	if (s->sio_exit || !s->sio_exit_ok || !sk)
		return 0;
	m = sk->maps.sio_socks;
	while (bpf_map__get_next_key(m, NULL, &key, sizeof(key)) == 0)
		if (bpf_map__delete_elem(m, &key, sizeof(key), 0))
			break;
	s->sio_exit = bpf_program__attach(sk->progs.sio_exit);
	if (!s->sio_exit)
		return ls_err(s->err, errno, "attach raw_syscalls:sys_exit failed: %s", strerror(errno));
	return 0;
}

/* Whether the found sites need the C library-call programs, the Go ones, or both. */
static void sites_need(const struct ls_session *s, int *c, int *go)
{
	*c = *go = 0;
	for (size_t i = 0; i < s->nsites; i++) {
		if (!s->sites[i].found)
			continue;
		if (s->sites[i].entry->flags & LS_CAT_GO)
			*go = 1;
		else
			*c = 1;
	}
}

/*
 * Each target's executable ranges and which of them keep frame pointers, for
 * the profiler (struct ls_xranges). A target whose maps cannot be read only
 * loses the leaf fix and, in auto mode, its stack copies.
 */
static int register_xranges(struct ls_session *s)
{
	if (!s->ustore)
		return 0;
	for (size_t i = 0; i < s->npids; i++) {
		struct ls_cg_obj *objs, *nv;
		struct ls_xranges x;
		unsigned int over;
		char e2[LS_ERR_LEN];
		__u32 slot = (__u32)i;
		size_t n;

		if (ls_callgraph_ranges(s->pids[i], &x, &objs, &n, &over, e2))
			continue;
		s->xr_overflow += over;
		if (bpf_map__update_elem(s->skel->maps.xranges, &slot, sizeof(slot), &x, sizeof(x), BPF_ANY)) {
			free(objs);
			return ls_err(s->err, errno, "cannot register the code ranges of pid %d: %s", (int)s->pids[i],
				      strerror(errno));
		}
		nv = realloc(s->cg_objs, (s->ncg_objs + n) * sizeof(*nv));
		if (!nv) {
			free(objs);
			return ls_err(s->err, ENOMEM, "out of memory");
		}
		memcpy(nv + s->ncg_objs, objs, n * sizeof(*objs));
		s->cg_objs = nv;
		s->ncg_objs += n;
		free(objs);
	}
	return 0;
}

const struct ls_cg_obj *ls_session_callgraph(const struct ls_session *s, size_t *n, unsigned int *overflow)
{
	*n = s->ncg_objs;
	*overflow = s->xr_overflow;
	return s->cg_objs;
}

/* Load the uprobe features the targets need, then plan and attach their probes. */
static int attach_uprobes(struct ls_session *s)
{
	struct ls_uprobe_progs g = { 0 };
	struct latscope_bpf *calls, *go, *walk;
	struct ls_uprobe *plan = NULL;
	int need_c = 0, need_go = 0, ret;
	size_t n = 0, done = 0;

	sites_need(s, &need_c, &need_go);
	/* The walk first: a TLS return that reaches it before it is installed only misses its frames. */
	if (s->requests && (need_c || need_go) && !ls_bpf_load(s->bpf, LS_FEAT_WALK, LS_KHOOK_NONE)) {
		__u32 key = 0;
		int fd;

		walk = ls_bpf_feature(s->bpf, LS_FEAT_WALK);
		fd = bpf_program__fd(walk->progs.tls_walk);
		if (bpf_map__update_elem(s->skel->maps.tails, &key, sizeof(key), &fd, sizeof(fd), BPF_ANY))
			feature_failed(s, LS_FEAT_WALK, "tls_walk", "cannot install the HTTP/2 walk program: %s", errno);
	}
	if (need_c && !ls_bpf_load(s->bpf, LS_FEAT_CALLS, LS_KHOOK_NONE)) {
		calls = ls_bpf_feature(s->bpf, LS_FEAT_CALLS);
		g.probe_enter = calls->progs.probe_enter;
		g.probe_exit = calls->progs.probe_exit;
		g.probe_exit_lib = calls->progs.probe_exit_lib;
		g.cs_enter = calls->progs.cs_enter;
		g.cs_exit = calls->progs.cs_exit;
		g.cs_exit_lib = calls->progs.cs_exit_lib;
	}
	if (need_go && !ls_bpf_load(s->bpf, LS_FEAT_GO, LS_KHOOK_NONE)) {
		go = ls_bpf_feature(s->bpf, LS_FEAT_GO);
		g.go_enter = go->progs.go_enter;
		g.go_ret = go->progs.go_ret;
		g.go_ret_lib = go->progs.go_ret_lib;
		g.go_grpc_enter = go->progs.go_grpc_enter;
		g.go_grpc_ret = go->progs.go_grpc_ret;
	}
	ret = ls_uprobe_plan(s->sites, s->nsites, s->place, &g, &plan, &n, s->err);
	if (!ret)
		ret = ls_uprobe_attach(s->ulinks, plan, n, s->uprobe_multi, &done, s->err);
	s->nuprobes += done;
	/* Kept: an overhead budget attaches the same probes again for each window. */
	s->plan = plan;
	s->nplan = n;
	return ret;
}

/* A software cpu-clock event on every CPU: no hardware PMU needed. The program filters by process. */
static int attach_sampling(struct ls_session *s)
{
	int ncpu = libbpf_num_possible_cpus();
	struct latscope_bpf *sk;

	if (ls_bpf_load(s->bpf, LS_FEAT_SAMPLER, LS_KHOOK_NONE))
		return 0;
	sk = ls_bpf_feature(s->bpf, LS_FEAT_SAMPLER);
	for (int cpu = 0; cpu < ncpu; cpu++) {
		struct perf_event_attr attr;
		struct bpf_link *l;
		int fd, e;

		memset(&attr, 0, sizeof(attr));
		attr.type = PERF_TYPE_SOFTWARE;
		attr.config = PERF_COUNT_SW_CPU_CLOCK;
		attr.size = sizeof(attr);
		/* A fixed period of CPU time (cpu-clock counts nanoseconds): frequency mode drifts on idle CPUs. */
		attr.sample_period = 1000000000ull / s->sample_hz;
		fd = (int)syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC);
		if (fd < 0) {
			if (errno == ENODEV || errno == ENOENT)
				continue; /* a possible but offline CPU */
			feature_failed(s, LS_FEAT_SAMPLER, NULL, "perf_event_open cpu-clock: %s", errno);
			return 0;
		}
		l = bpf_program__attach_perf_event(sk->progs.on_cpu_sample, fd);
		if (!l) {
			e = errno;
			close(fd);
			feature_failed(s, LS_FEAT_SAMPLER, "on_cpu_sample", "attach to cpu-clock events failed: %s", e);
			return 0;
		}
		/* The link owns the perf event fd from here on. */
		if (ls_links_add(s->links, l))
			return ls_err(s->err, ENOMEM, "out of memory");
	}
	return 0;
}

static int attach_offcpu(struct ls_session *s)
{
	struct bpf_link *l;
	int r;

	if (ls_bpf_load(s->bpf, LS_FEAT_OFFCPU, LS_KHOOK_NONE))
		return 0;
	r = attach_one(s, LS_FEAT_OFFCPU, ls_bpf_feature(s->bpf, LS_FEAT_OFFCPU)->progs.on_switch, "sched:sched_switch");
	if (r <= 0)
		return r;
	/* Per-request blocks split at the wake-up; without it a block counts whole as blocked. */
	if (!s->request_stacks)
		return 0;
	l = bpf_program__attach(ls_bpf_feature(s->bpf, LS_FEAT_OFFCPU)->progs.on_wakeup);
	return l && ls_links_add(s->links, l) ? ls_err(s->err, ENOMEM, "out of memory") : 0;
}

/* Without probes to attach (latscope probes): load what a trace or a recording would, to say whether it can. */
static void load_only(struct ls_session *s)
{
	int need_c = 0, need_go = 0;

	sites_need(s, &need_c, &need_go);
	if (need_c || need_go)
		ls_bpf_load(s->bpf, LS_FEAT_WALK, LS_KHOOK_NONE);
	if (need_c)
		ls_bpf_load(s->bpf, LS_FEAT_CALLS, LS_KHOOK_NONE);
	if (need_go)
		ls_bpf_load(s->bpf, LS_FEAT_GO, LS_KHOOK_NONE);
	ls_bpf_load(s->bpf, LS_FEAT_SAMPLER, LS_KHOOK_NONE);
	ls_bpf_load(s->bpf, LS_FEAT_OFFCPU, LS_KHOOK_NONE);
}

int ls_session_start(struct ls_session *s)
{
	struct ls_bpf_config bc = {
		.emit_calls = s->records, .emit_requests = s->requests,
		.track_thread_req = s->sample_hz || s->offcpu, .offcpu_all_threads = !s->offcpu_inflight_only,
		.emit_samples = s->request_stacks, .ustack_size = s->ustack_size, .cg_auto = s->cg_auto,
		.threshold_ns = s->threshold_ns, .reject_features = s->reject_features,
	};
	int ret;

	if (s->bpf)
		return ls_err(s->err, EALREADY, "session already started");
	for (size_t i = 0; i < s->nsites; i++)
		if (s->sites[i].found && (s->sites[i].entry->kind == LS_KIND_DECODE || s->sites[i].entry->kind == LS_KIND_ENCODE))
			bc.track_proto = 1;
	s->uprobe_multi = s->attach_uprobes && ls_kernel_has_uprobe_multi(s->btf_path);
	bc.uprobe_multi = s->uprobe_multi;
	/* 1. open, configure, load: the maps; each feature's programs load below, on their own. */
	ret = ls_bpf_open(s->btf_path, &bc, &s->bpf, s->err);
	if (ret)
		return ret;
	s->skel = ls_bpf_maps(s->bpf);
	s->links = ls_links_new();
	s->klinks = ls_links_new();
	s->ulinks = ls_links_new();
	if (!s->links || !s->klinks || !s->ulinks) {
		ret = ls_err(s->err, ENOMEM, "out of memory");
		goto fail;
	}
	if ((ret = register_targets(s)) || (ret = register_xranges(s)) || (ret = attach_syscalls(s)))
		goto fail;
	/* 2. attach: kernel hooks first, so that a fatal error leaves no uprobe behind. */
	if (!s->attach_uprobes || (s->phases & LS_PHASES_NET)) {
		ret = ls_khook_attach(s);
		if (ret && s->want != LS_KHOOK_NONE) {
			ret = ls_err(s->err, -ret, "kernel hook %s cannot be used: %.400s", ls_khook_name(s->want),
				     s->khook_report);
			goto fail;
		}
		if (ret == -ENOMEM)
			goto fail;
	}
	if ((ret = attach_sockio(s)))
		goto fail;
	if (s->attach_uprobes && (ret = attach_uprobes(s)))
		goto fail;
	if (!s->attach_uprobes)
		load_only(s);
	if (s->sample_hz && (ret = attach_sampling(s)))
		goto fail;
	if (s->offcpu && (ret = attach_offcpu(s)))
		goto fail;
	/*
	 * Requests count from here on: one already in flight was seen in part (a call entered
	 * before its return's probe was in, its headers read before the probes), and a Go
	 * target's reads caught mid-attach read as ~10 ms requests its client never saw.
	 */
	if (s->attach_uprobes && s->nuprobes)
		s->skel->bss->req_lo = ls_now_ns();
	ls_session_entry_costs(s);
	if (s->attach_uprobes && s->nuprobes && s->overhead_pct > 0 && (ret = ls_duty_start(s, s->overhead_pct)))
		goto fail;
	/* Costs measured at start are re-measured while attached (they move with the host's load). */
	if (s->attach_uprobes && s->nuprobes && ls_placements_costs(s->place)->measured)
		s->calib = ls_calib_bg_start(ls_placements_costs(s->place));
	/* Each program's run time, measured by the kernel while this fd is open (a few ns per run). */
	s->stats_fd = bpf_enable_stats(BPF_STATS_RUN_TIME);
	s->stats_err = s->stats_fd < 0 ? errno : 0;
	s->rb = ring_buffer__new(bpf_map__fd(s->skel->maps.events), on_record, s, NULL);
	if (!s->rb) {
		ret = ls_err(s->err, errno, "cannot open ring buffer: %s", strerror(errno));
		goto fail;
	}
	return 0;
fail:
	/* The library probes first: they feed on what the kernel hooks keep. */
	ls_links_free(s->ulinks);
	s->ulinks = NULL;
	ls_session_sys_enter_detach(s);
	bpf_link__destroy(s->sio_exit);
	s->sio_exit = NULL;
	ls_links_free(s->klinks);
	s->klinks = NULL;
	ls_links_free(s->links);
	s->links = NULL;
	s->nuprobes = 0;
	ls_bpf_free(s->bpf);
	s->bpf = NULL;
	s->skel = NULL;
	return ret;
}

const struct ls_feat_status *ls_session_feature(const struct ls_session *s, enum ls_feature f)
{
	static const struct ls_feat_status unused;

	return s->bpf && f < LS_FEAT_COUNT ? ls_bpf_status(s->bpf, f) : &unused;
}

void ls_session_free(struct ls_session *s)
{
	if (!s)
		return;
	ls_calib_bg_stop(s->calib);
	ring_buffer__free(s->rb);
	if (s->stats_fd >= 0)
		close(s->stats_fd);
	ls_links_free(s->ulinks);
	ls_session_sys_enter_detach(s);
	bpf_link__destroy(s->sio_exit);
	ls_links_free(s->klinks);
	ls_links_free(s->links);
	ls_duty_free(s->duty);
	free(s->plan);
	ls_bpf_free(s->bpf);
	ls_placements_free(s->place);
	free(s->sites);
	free(s->pids);
	free(s->pid_start);
	free(s->statbuf);
	free(s->phase_buf);
	ls_ustore_free(s->ustore);
	ls_rstacks_free(s->rs);
	ls_sagg_free(s->agg[0]);
	ls_sagg_free(s->agg[1]);
	free(s->cg_objs);
	free(s);
}
