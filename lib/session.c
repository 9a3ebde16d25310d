#include "session.h"
#include "bpfconf.h"
#include "uprobe_multi.h"
#include "ustacks.h"
#include "util.h"

#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/capability.h>
#include <linux/perf_event.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include "latscope.skel.h"

#define DEFAULT_BTF "/sys/kernel/btf/vmlinux"

/* One uprobe waiting for its uprobe_multi link (see flush_pending). */
struct pending_uprobe {
	struct bpf_program *prog;
	pid_t pid;
	int retprobe;
	const char *open_path, *path, *symbol; /* the session's sites and placements own them */
	uint64_t offset, cookie;
};

struct ls_session {
	struct latscope_bpf *skel;
	struct bpf_link **links;
	size_t nlinks, caplinks;
	int mfds[256];    /* uprobe_multi links: one per program, binary and direction */
	size_t nmfds;
	int uprobe_multi; /* the kernel has uprobe_multi links: every uprobe program is loaded for them */
	struct pending_uprobe *pend; /* C uprobes gathered for their multi links (attach_at) */
	size_t npend, cappend;
	size_t nuprobes;
	struct ring_buffer *rb;
	struct ls_site *sites;
	size_t nsites;
	struct ls_placements *place;
	unsigned int phases;
	pid_t *pids;
	size_t npids;
	enum ls_khook want, khook;
	char khook_report[1024];
	char btf_path[LS_PATH_LEN];
	int records, requests, attach_uprobes;
	uint64_t threshold_ns;
	unsigned int sample_hz;
	int offcpu, offcpu_inflight_only;
	unsigned int ustack_size;
	struct ls_ustore *ustore; /* --call-graph dwarf: unwound samples */
	ls_event_fn on_event;
	void *ctx;
	void *statbuf;
	void *phase_buf;
	int ncpus;
	char err[LS_ERR_LEN];
};

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
	s->want = opts->khook;
	s->records = opts->records;
	s->requests = opts->requests;
	s->threshold_ns = opts->threshold_ns ? opts->threshold_ns : 10000000ull;
	s->sample_hz = opts->sample_hz;
	s->offcpu = opts->offcpu;
	s->offcpu_inflight_only = opts->offcpu_inflight_only;
	if (opts->ustack_size > LS_USTACK_MAX || (opts->ustack_size && opts->ustack_size < 64)) {
		ret = ls_err(err, EINVAL, "stack size %u out of range (64..%d bytes)", opts->ustack_size, LS_USTACK_MAX);
		goto cleanup;
	}
	s->ustack_size = opts->sample_hz ? opts->ustack_size : 0;
	if (s->ustack_size && !(s->ustore = ls_ustore_new())) {
		ret = ls_err(err, ENOMEM, "out of memory");
		goto cleanup;
	}
	s->attach_uprobes = opts->attach_uprobes;
	s->on_event = opts->on_event;
	s->ctx = opts->ctx;
	snprintf(s->btf_path, sizeof(s->btf_path), "%s", opts->btf_path ? opts->btf_path : DEFAULT_BTF);
	if (access(s->btf_path, R_OK) != 0) {
		ret = ls_err(err, errno, "no kernel BTF at %s (kernel built without CONFIG_DEBUG_INFO_BTF?): %s",
			     s->btf_path, strerror(errno));
		goto cleanup;
	}
	s->pids = calloc(opts->npids, sizeof(*s->pids));
	if (!s->pids) {
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
	ret = ls_place(s->sites, s->nsites, opts->placement, &s->place, err);
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

static int add_link(struct ls_session *s, struct bpf_link *l)
{
	if (s->nlinks == s->caplinks) {
		size_t ncap = s->caplinks ? s->caplinks * 2 : 32;
		struct bpf_link **nv = realloc(s->links, ncap * sizeof(*nv));

		if (!nv) {
			bpf_link__destroy(l);
			return -ENOMEM;
		}
		s->links = nv;
		s->caplinks = ncap;
	}
	s->links[s->nlinks++] = l;
	return 0;
}

#define DETACH_THREADS 128

struct detach_slice {
	struct bpf_link **links;
	const int *fds;
	size_t n, nfds, first, step;
};

static void *detach_slice(void *arg)
{
	struct detach_slice *d = arg;

	for (size_t i = d->first; i < d->n + d->nfds; i += d->step) {
		if (i < d->n)
			bpf_link__destroy(d->links[i]);
		else
			close(d->fds[i - d->n]);
	}
	return NULL;
}

static void detach_all(struct ls_session *s)
{
	struct detach_slice d[DETACH_THREADS];
	pthread_t th[DETACH_THREADS];
	int started[DETACH_THREADS] = { 0 };
	size_t all = s->nlinks + s->nmfds, nth = all < DETACH_THREADS ? all : DETACH_THREADS;

	/*
	 * Removing a uprobe waits for an RCU grace period, one after the other
	 * when done in turn: seconds per hundred uprobes on a busy machine (Go
	 * binaries have one per RET site). Closed from several threads, the
	 * waits overlap. The order does not matter to the target: the session's
	 * state dies with it, and no uretprobe is ever left mid-call on Go code.
	 */
	if (all > 4) {
		for (size_t i = 0; i < nth; i++)
			d[i] = (struct detach_slice){ s->links, s->mfds, s->nlinks, s->nmfds, i, nth };
		for (size_t i = 0; i < nth; i++)
			started[i] = pthread_create(&th[i], NULL, detach_slice, &d[i]) == 0;
		for (size_t i = 0; i < nth; i++) {
			if (started[i])
				pthread_join(th[i], NULL);
			else
				detach_slice(&d[i]);
		}
		s->nlinks = 0;
		s->nmfds = 0;
	}
	while (s->nmfds)
		close(s->mfds[--s->nmfds]);
	free(s->pend);
	s->pend = NULL;
	s->npend = s->cappend = 0;
	/* Reverse order: return probes and kernel hooks go before what they pair with. */
	while (s->nlinks)
		bpf_link__destroy(s->links[--s->nlinks]);
	s->nuprobes = 0;
}

/* The kernel programs of one hook variant (NULL-terminated). */
static void variant_progs(struct latscope_bpf *skel, enum ls_khook h, struct bpf_program *out[5])
{
	struct bpf_program *fe[] = { skel->progs.fe_send, skel->progs.fx_send, skel->progs.fe_recv, skel->progs.fx_recv, NULL };
	struct bpf_program *kp[] = { skel->progs.kp_send, skel->progs.kr_send, skel->progs.kp_recv, skel->progs.kr_recv, NULL };
	struct bpf_program *tp[] = { skel->progs.tp_send, skel->progs.tp_recv, NULL, NULL, NULL };
	struct bpf_program **src = h == LS_KHOOK_FENTRY ? fe : h == LS_KHOOK_KPROBE ? kp : tp;

	memcpy(out, src, 5 * sizeof(*out));
}

/* The variant's data-ready hook, which stamps when received bytes reached the socket (queue). */
static struct bpf_program *ready_prog(struct latscope_bpf *skel, enum ls_khook h)
{
	return h == LS_KHOOK_FENTRY ? skel->progs.fe_ready : h == LS_KHOOK_KPROBE ? skel->progs.kp_ready
										 : skel->progs.tp_ready;
}

static void report(struct ls_session *s, enum ls_khook h, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void report(struct ls_session *s, enum ls_khook h, const char *fmt, ...)
{
	size_t len = strlen(s->khook_report);
	va_list ap;

	if (len >= sizeof(s->khook_report) - 2)
		return;
	len += (size_t)snprintf(s->khook_report + len, sizeof(s->khook_report) - len, "%s: ", ls_khook_name(h));
	va_start(ap, fmt);
	if (len < sizeof(s->khook_report))
		len += (size_t)vsnprintf(s->khook_report + len, sizeof(s->khook_report) - len, fmt, ap);
	va_end(ap);
	if (len < sizeof(s->khook_report) - 1)
		strcat(s->khook_report, "\n");
}

/*
 * Each classic uprobe is its own perf event, and removing one waits for an
 * RCU grace period, one removal after the other: ~90 ms each on a busy
 * machine, seconds for a server's 30-80 uprobes (a Go function has one per
 * RET site). A uprobe_multi link (Linux 6.6) carries all the offsets of one
 * program in one binary and is removed with one wait. Where the kernel has
 * them every uprobe program is loaded for them (Go's at once, C's gathered
 * by attach_at and linked by flush_pending); older kernels keep classic
 * uprobes. Debian 12's libbpf predates them: the links are made with the
 * bpf() syscall directly.
 */
#define GO_PROGS 5

/*
 * The Go programs attached by uprobe_multi, in attach order: what binds
 * requests to names before what starts them. Go and C TLS returns
 * tail-call the same HTTP/2 walk: programs sharing a program array must
 * share an attach type, so the kernel's support decides for all of them.
 */
static struct bpf_program *go_prog(struct latscope_bpf *skel, int i)
{
	struct bpf_program *p[GO_PROGS] = { skel->progs.go_grpc_enter, skel->progs.go_grpc_ret, skel->progs.go_ret,
					    skel->progs.go_ret_lib, skel->progs.go_enter };

	return p[i];
}

/* Every Go uprobe of one program: one uprobe_multi link per traced binary. 0, or -errno with s->err set. */
static int attach_go_multi(struct ls_session *s, int which)
{
	struct bpf_program *prog = go_prog(s->skel, which);
	uint64_t *offs = NULL, *cookies = NULL;
	int ret = 0;

	offs = calloc(s->nsites * (33 + 2 * LS_PLACE_MAX_CALLSITES) + 1, sizeof(*offs));
	cookies = calloc(s->nsites * (33 + 2 * LS_PLACE_MAX_CALLSITES) + 1, sizeof(*cookies));
	if (!offs || !cookies) {
		ret = ls_err(s->err, ENOMEM, "out of memory");
		goto cleanup;
	}
	/* One group per (pid, binary): the first site not yet grouped starts it. */
	for (size_t first = 0; first < s->nsites; first++) {
		const struct ls_site *f = &s->sites[first];
		uint32_t n = 0;
		int fd, dup = 0;

		if (!f->found || !(f->entry->flags & LS_CAT_GO))
			continue;
		for (size_t j = 0; j < first && !dup; j++)
			dup = s->sites[j].found && (s->sites[j].entry->flags & LS_CAT_GO) && s->sites[j].pid == f->pid &&
			      !strcmp(s->sites[j].open_path, f->open_path);
		if (dup)
			continue;
		for (size_t i = first; i < s->nsites; i++) {
			const struct ls_site *site = &s->sites[i];
			const struct ls_catalog_entry *c = site->entry;
			uint64_t cookie = LS_COOKIE(c->probe, c->conv, c->kind);
			int binds = c->kind == LS_KIND_GO_RPC || c->kind == LS_KIND_GO_HEADERS;
			int tls = c->kind == LS_KIND_TLS_READ || c->kind == LS_KIND_TLS_WRITE ||
				  c->kind == LS_KIND_TLS_HANDSHAKE;
			struct bpf_program *ret_prog = binds ? (c->conv == LS_ARG_GO_STREAM_DI ? s->skel->progs.go_grpc_ret : NULL)
						       : tls ? s->skel->progs.go_ret : s->skel->progs.go_ret_lib;
			struct bpf_program *entry_prog = binds ? s->skel->progs.go_grpc_enter : s->skel->progs.go_enter;

			if (!site->found || !(c->flags & LS_CAT_GO) || site->pid != f->pid || strcmp(site->open_path, f->open_path))
				continue;
			const struct ls_placement *pl = binds ? NULL : ls_placement_of(s->place, i);

			/* Call sites that see every call replace the entry and RET sites (see placement.h). */
			if (pl && pl->used == LS_PLACE_CALLSITE) {
				for (size_t j = 0; j < pl->ncs; j++) {
					const struct ls_callsite *cs = &pl->cs[j];

					if (cs->ok && ret_prog == prog) {
						offs[n] = cs->ret_offset;
						cookies[n++] = cookie | ((uint64_t)cs->ret_reg << LS_COOKIE_REG_SHIFT);
					}
					if (cs->ok && entry_prog == prog) {
						offs[n] = cs->call_offset;
						cookies[n++] = cookie | LS_COOKIE_F_CALLSITE;
					}
				}
				continue;
			}
			for (size_t r = 0; ret_prog == prog && r < site->nrets; r++) {
				offs[n] = site->ret_offsets[r];
				cookies[n++] = cookie;
			}
			if (entry_prog == prog) {
				offs[n] = site->offset;
				cookies[n++] = cookie;
			}
		}
		if (!n)
			continue;
		if (s->nmfds == sizeof(s->mfds) / sizeof(s->mfds[0])) {
			ret = ls_err(s->err, E2BIG, "too many traced Go binaries");
			goto cleanup;
		}
		fd = ls_uprobe_multi_link(bpf_program__fd(prog), f->pid, f->open_path, offs, cookies, n, 0);
		if (fd < 0) {
			ret = errno;
			if (!ls_proc_alive(f->pid))
				ret = ls_err(s->err, ESRCH, "pid %d: process exited while attaching", (int)f->pid);
			else
				ret = ls_err(s->err, ret, "%s: cannot attach %u Go uprobes: %s", f->path, n, strerror(ret));
			goto cleanup;
		}
		s->mfds[s->nmfds++] = fd;
		s->nuprobes += n;
	}
cleanup:
	free(offs);
	free(cookies);
	return ret;
}

/* Open, configure, load and attach the kernel side with hook variant h. 0 or -errno. */
static int try_variant(struct ls_session *s, enum ls_khook h, int trial)
{
	static const enum ls_khook all[] = { LS_KHOOK_FENTRY, LS_KHOOK_KPROBE, LS_KHOOK_TRACEPOINT };
	LIBBPF_OPTS(bpf_object_open_opts, oo);
	struct bpf_program *progs[5];
	struct bpf_link *l;
	int ret;

	if (h == LS_KHOOK_KPROBE && access("/sys/bus/event_source/devices/kprobe", F_OK) != 0) {
		report(s, h, "not available (kernel without kprobe support: CONFIG_KPROBES off)");
		return -EOPNOTSUPP;
	}
	if (strcmp(s->btf_path, DEFAULT_BTF) != 0)
		oo.btf_custom_path = s->btf_path;

	/* 1. open */
	s->skel = latscope_bpf__open_opts(&oo);
	if (!s->skel) {
		ret = -errno;
		report(s, h, "cannot open BPF object: %s", strerror(-ret));
		return ret;
	}
	/* 2. configure: read-only data, and only this variant's kernel programs */
	{
		struct ls_bpf_config bc = {
			.emit_calls = s->records, .emit_requests = s->requests,
			.track_thread_req = s->sample_hz || s->offcpu, .offcpu_all_threads = !s->offcpu_inflight_only,
			.ustack_size = s->ustack_size, .threshold_ns = s->threshold_ns,
		};

		for (size_t i = 0; i < s->nsites; i++)
			if (s->sites[i].found &&
			    (s->sites[i].entry->kind == LS_KIND_DECODE || s->sites[i].entry->kind == LS_KIND_ENCODE))
				bc.track_proto = 1;
		s->uprobe_multi = !trial && s->attach_uprobes && ls_kernel_has_uprobe_multi(s->btf_path);
		bc.uprobe_multi = s->uprobe_multi;
		ls_bpf_configure(s->skel, &bc);
	}
	/*
	 * A trial loads only the kernel hook's own programs: whether a variant
	 * attaches is known without verifying the large library-call programs
	 * once per variant (seconds on a busy machine).
	 */
	if (trial) {
		struct bpf_program *p;

		bpf_object__for_each_program(p, s->skel->obj)
			bpf_program__set_autoload(p, false);
		bpf_program__set_autoload(s->skel->progs.sys_enter, true);
	}
	for (size_t v = 0; v < sizeof(all) / sizeof(all[0]); v++) {
		variant_progs(s->skel, all[v], progs);
		for (int i = 0; progs[i]; i++)
			bpf_program__set_autoload(progs[i], all[v] == h);
		bpf_program__set_autoload(ready_prog(s->skel, all[v]), all[v] == h && !trial);
	}
	/* Only what this session uses: each program left out is verification time saved. */
	if (!trial) {
		int go = 0;

		for (size_t i = 0; i < s->nsites; i++)
			go |= s->sites[i].found && (s->sites[i].entry->flags & LS_CAT_GO);
		bpf_program__set_autoload(s->skel->progs.go_enter, go && s->attach_uprobes);
		bpf_program__set_autoload(s->skel->progs.go_ret, go && s->attach_uprobes);
		bpf_program__set_autoload(s->skel->progs.go_ret_lib, go && s->attach_uprobes);
		bpf_program__set_autoload(s->skel->progs.go_grpc_enter, go && s->attach_uprobes);
		bpf_program__set_autoload(s->skel->progs.go_grpc_ret, go && s->attach_uprobes);
		bpf_program__set_autoload(s->skel->progs.probe_enter, s->attach_uprobes);
		bpf_program__set_autoload(s->skel->progs.probe_exit, s->attach_uprobes);
		bpf_program__set_autoload(s->skel->progs.probe_exit_lib, s->attach_uprobes);
		{
			int cs = 0;

			for (size_t i = 0; i < s->nsites; i++) {
				const struct ls_placement *pl = ls_placement_of(s->place, i);

				cs |= s->sites[i].found && pl && pl->used == LS_PLACE_CALLSITE && !(s->sites[i].entry->flags & LS_CAT_GO);
			}
			bpf_program__set_autoload(s->skel->progs.cs_enter, cs && s->attach_uprobes);
			bpf_program__set_autoload(s->skel->progs.cs_exit, cs && s->attach_uprobes);
			bpf_program__set_autoload(s->skel->progs.cs_exit_lib, cs && s->attach_uprobes);
		}
		bpf_program__set_autoload(s->skel->progs.tls_walk, s->attach_uprobes);
		bpf_program__set_autoload(s->skel->progs.on_cpu_sample, s->sample_hz > 0);
		bpf_program__set_autoload(s->skel->progs.on_switch, s->offcpu);
	}
	/* 3. load */
	ret = latscope_bpf__load(s->skel);
	if (ret) {
		report(s, h, "load failed: %s%s", strerror(-ret),
		       ret == -EACCES ? " (verifier rejected a program; -vv shows its log)" : "");
		goto fail;
	}
	if (!trial && s->attach_uprobes) {
		__u32 key = 0;
		int fd = bpf_program__fd(s->skel->progs.tls_walk);

		if (bpf_map__update_elem(s->skel->maps.tails, &key, sizeof(key), &fd, sizeof(fd), BPF_ANY)) {
			ret = -errno;
			report(s, h, "cannot install the HTTP/2 walk program: %s", strerror(-ret));
			goto fail;
		}
	}
	for (size_t i = 0; i < s->npids; i++) {
		__u32 key = (__u32)s->pids[i], slot = (__u32)i;

		if (bpf_map__update_elem(s->skel->maps.targets, &key, sizeof(key), &slot, sizeof(slot), BPF_ANY)) {
			ret = -errno;
			report(s, h, "cannot register pid %d: %s", (int)s->pids[i], strerror(-ret));
			goto fail;
		}
	}
	/* The struct layouts grpc-go probes read, per traced Go binary. */
	for (size_t i = 0; !trial && i < s->nsites; i++) {
		__u32 key = (__u32)s->sites[i].pid;

		if (s->sites[i].found && s->sites[i].has_offsets &&
		    bpf_map__update_elem(s->skel->maps.go_offs, &key, sizeof(key), &s->sites[i].go_off,
					 sizeof(s->sites[i].go_off), BPF_ANY)) {
			ret = -errno;
			report(s, h, "cannot set Go struct offsets of pid %d: %s", (int)key, strerror(-ret));
			goto fail;
		}
	}
	/* 4. attach: kernel hooks first, so a failure leaves no uprobe behind */
	variant_progs(s->skel, h, progs);
	for (int i = 0; progs[i] && (trial || (s->phases & LS_PHASES_NET)); i++) {
		l = bpf_program__attach(progs[i]);
		if (!l) {
			ret = -errno;
			report(s, h, "attach %s failed: %s", bpf_program__name(progs[i]), strerror(-ret));
			goto fail;
		}
		if ((ret = add_link(s, l)))
			goto fail;
	}
	/* Optional: without it (a kernel lacking the hook) queue stays 0 and the rest works. */
	if (!trial) {
		l = bpf_program__attach(ready_prog(s->skel, h));
		if (!l)
			report(s, h, "queue not measured: attach %s failed: %s", bpf_program__name(ready_prog(s->skel, h)),
			       strerror(errno));
		else if ((ret = add_link(s, l)))
			goto fail;
	}
	l = bpf_program__attach(s->skel->progs.sys_enter);
	if (!l) {
		ret = -errno;
		report(s, h, "attach raw_syscalls:sys_enter failed: %s", strerror(-ret));
		goto fail;
	}
	if ((ret = add_link(s, l)))
		goto fail;
	if (trial) {
		report(s, h, "attached");
		detach_all(s);
		latscope_bpf__destroy(s->skel);
		s->skel = NULL;
	}
	s->khook = h;
	return 0;
fail:
	detach_all(s);
	latscope_bpf__destroy(s->skel);
	s->skel = NULL;
	return ret;
}

/* One uprobe in object open_path (path as the target sees it) of pid; 0, or -errno with the cause in s->err. */
static int attach_at(struct ls_session *s, struct bpf_program *prog, pid_t pid, const char *open_path,
		     const char *path, const char *symbol, uint64_t offset, int retprobe, uint64_t cookie)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo);
	struct bpf_link *l;
	int ret;

	if (s->uprobe_multi) {
		if (s->npend == s->cappend) {
			size_t cap = s->cappend ? 2 * s->cappend : 64;
			struct pending_uprobe *m = realloc(s->pend, cap * sizeof(*m));

			if (!m)
				return ls_err(s->err, ENOMEM, "out of memory");
			s->pend = m;
			s->cappend = cap;
		}
		s->pend[s->npend++] = (struct pending_uprobe){ prog, pid, retprobe, open_path, path, symbol, offset, cookie };
		return 0;
	}
	uo.bpf_cookie = cookie;
	uo.retprobe = retprobe;
	l = bpf_program__attach_uprobe_opts(prog, pid, open_path, offset, &uo);
	if (!l) {
		ret = errno;
		if (!ls_proc_alive(pid))
			return ls_err(s->err, ESRCH, "pid %d: process exited while attaching", (int)pid);
		return ls_err(s->err, ret, "%s: %s: cannot attach uprobe at offset 0x%llx: %s", path, symbol,
			      (unsigned long long)offset, strerror(ret));
	}
	if ((ret = add_link(s, l)))
		return ls_err(s->err, ret, "out of memory");
	s->nuprobes++;
	return 0;
}

static int attach_one(struct ls_session *s, struct bpf_program *prog, const struct ls_site *site, uint64_t offset,
		      int retprobe, uint64_t cookie)
{
	return attach_at(s, prog, site->pid, site->open_path, site->path, site->entry->symbol, offset, retprobe, cookie);
}

/* Call-site placement: every return site first (a call seen without its return would linger), then the calls. */
static int attach_callsites(struct ls_session *s, const struct ls_site *site, const struct ls_placement *pl,
			    uint64_t cookie, struct bpf_program *ret_prog, struct bpf_program *enter_prog)
{
	int ret;

	for (int pass = 0; pass < 2; pass++) {
		for (size_t k = 0; k < pl->ncs; k++) {
			const struct ls_callsite *cs = &pl->cs[k];
			const char *open_path = ls_placements_obj_open_path(s->place, cs->obj);
			const char *path = ls_placements_obj_path(s->place, cs->obj);

			if (!cs->ok)
				continue;
			if (pass == 0)
				ret = attach_at(s, ret_prog, site->pid, open_path, path, site->entry->symbol, cs->ret_offset, 0,
						cookie | ((uint64_t)cs->ret_reg << LS_COOKIE_REG_SHIFT));
			else
				ret = attach_at(s, enter_prog, site->pid, open_path, path, site->entry->symbol,
						cs->call_offset, 0, cookie | LS_COOKIE_F_CALLSITE);
			if (ret)
				return ret;
		}
	}
	return 0;
}

/*
 * The gathered uprobes, one uprobe_multi link per (program, pid, binary,
 * direction): one removal wait per link at detach instead of one per uprobe.
 * Return programs first, as attach_uprobes orders them: an entry seen
 * without its return would linger as a stale frame.
 */
static int flush_pending(struct ls_session *s)
{
	uint64_t *offs = calloc(s->npend ? s->npend : 1, sizeof(*offs));
	uint64_t *cookies = calloc(s->npend ? s->npend : 1, sizeof(*cookies));
	char *done = calloc(s->npend ? s->npend : 1, 1);
	int ret = 0;

	if (!offs || !cookies || !done) {
		ret = ls_err(s->err, ENOMEM, "out of memory");
		goto cleanup;
	}
	for (int entries = 0; entries < 2 && !ret; entries++) {
		for (size_t first = 0; first < s->npend && !ret; first++) {
			const struct pending_uprobe *f = &s->pend[first];
			int is_entry = !f->retprobe && (f->prog == s->skel->progs.probe_enter || f->prog == s->skel->progs.cs_enter);
			uint32_t n = 0;
			int fd;

			if (done[first] || is_entry != entries)
				continue;
			for (size_t i = first; i < s->npend; i++) {
				const struct pending_uprobe *u = &s->pend[i];

				if (done[i] || u->prog != f->prog || u->pid != f->pid || u->retprobe != f->retprobe ||
				    strcmp(u->open_path, f->open_path))
					continue;
				done[i] = 1;
				offs[n] = u->offset;
				cookies[n++] = u->cookie;
			}
			if (s->nmfds == sizeof(s->mfds) / sizeof(s->mfds[0])) {
				ret = ls_err(s->err, E2BIG, "too many traced objects");
				break;
			}
			fd = ls_uprobe_multi_link(bpf_program__fd(f->prog), f->pid, f->open_path, offs, cookies, n, f->retprobe);
			if (fd < 0) {
				ret = errno;
				if (!ls_proc_alive(f->pid))
					ret = ls_err(s->err, ESRCH, "pid %d: process exited while attaching", (int)f->pid);
				else
					ret = ls_err(s->err, ret, "%s: %s: cannot attach %u uprobes: %s", f->path, f->symbol, n,
						     strerror(ret));
				break;
			}
			s->mfds[s->nmfds++] = fd;
			s->nuprobes += n;
		}
	}
cleanup:
	free(offs);
	free(cookies);
	free(done);
	free(s->pend);
	s->pend = NULL;
	s->npend = s->cappend = 0;
	return ret;
}

static int attach_uprobes(struct ls_session *s)
{
	/*
	 * Two passes: what names and binds requests (grpc-go's handler entry
	 * points) before what starts them (TLS), so that no request seen during
	 * the attach misses its name because its probe came later.
	 */
	for (int i = 0; s->uprobe_multi && i < GO_PROGS; i++) {
		int ret = attach_go_multi(s, i);

		if (ret)
			return ret;
	}
	for (size_t k = 0; k < 2 * s->nsites; k++) {
		const struct ls_site *site = &s->sites[k % s->nsites];
		const struct ls_catalog_entry *c = site->entry;
		const struct ls_placement *pl;
		uint64_t cookie = LS_COOKIE(c->probe, c->conv, c->kind);
		int ret, tls, binds = c->kind == LS_KIND_GO_RPC || c->kind == LS_KIND_GO_HEADERS;

		if (!site->found || binds != (k < s->nsites))
			continue;
		/* Never a uretprobe into Go code: the runtime checks and moves return addresses. */
		if ((c->flags & LS_CAT_RETPROBE) && (site->is_go || (c->flags & LS_CAT_GO)))
			return ls_err(s->err, EINVAL, "%s: %s: refusing a uretprobe on a Go function (it corrupts goroutine stacks)",
				      site->path, c->symbol);
		tls = c->kind == LS_KIND_TLS_READ || c->kind == LS_KIND_TLS_WRITE || c->kind == LS_KIND_TLS_HANDSHAKE;
		pl = ls_placement_of(s->place, k % s->nsites);
		/* Every Go probe went into the uprobe_multi links attached above. */
		if (s->uprobe_multi && (c->flags & LS_CAT_GO))
			continue;
		/*
		 * grpc-go's handler entry points are not timed: the entry binds the
		 * goroutine to its stream; a handler's RETs end that (WriteStatus,
		 * inside the handler, leaves it).
		 */
		if (c->kind == LS_KIND_GO_RPC || c->kind == LS_KIND_GO_HEADERS) {
			for (size_t r = 0; c->conv == LS_ARG_GO_STREAM_DI && r < site->nrets; r++)
				if ((ret = attach_one(s, s->skel->progs.go_grpc_ret, site, site->ret_offsets[r], 0, cookie)))
					return ret;
			if ((ret = attach_one(s, s->skel->progs.go_grpc_enter, site, site->offset, 0, cookie)))
				return ret;
			continue;
		}
		if (c->flags & LS_CAT_GO) {
			/* Go call sites: goroutine call stacks, matched by probe, as at RET sites. */
			if (pl && pl->used == LS_PLACE_CALLSITE) {
				if ((ret = attach_callsites(s, site, pl, cookie, tls ? s->skel->progs.go_ret : s->skel->progs.go_ret_lib,
							    s->skel->progs.go_enter)))
					return ret;
				continue;
			}
			for (size_t r = 0; r < site->nrets; r++)
				if ((ret = attach_one(s, tls ? s->skel->progs.go_ret : s->skel->progs.go_ret_lib, site,
						      site->ret_offsets[r], 0, cookie)))
					return ret;
			if ((ret = attach_one(s, s->skel->progs.go_enter, site, site->offset, 0, cookie)))
				return ret;
			continue;
		}
		if (pl && pl->used == LS_PLACE_CALLSITE &&
		    (ret = attach_callsites(s, site, pl, cookie, tls ? s->skel->progs.cs_exit : s->skel->progs.cs_exit_lib,
					    s->skel->progs.cs_enter)))
			return ret;
		if (pl && !pl->entry_probe)
			continue;
		/* Return side first: an entry seen without its return would linger as a stale frame. */
		if ((c->flags & LS_CAT_RETPROBE) &&
		    (ret = attach_one(s, tls ? s->skel->progs.probe_exit : s->skel->progs.probe_exit_lib, site,
				      site->offset, 1, cookie)))
			return ret;
		if ((ret = attach_one(s, s->skel->progs.probe_enter, site, site->offset, 0, cookie)))
			return ret;
	}
	return s->uprobe_multi ? flush_pending(s) : 0;
}

/* A software cpu-clock event on every CPU: no hardware PMU needed. The program filters by process. */
static int attach_sampling(struct ls_session *s)
{
	int ncpu = libbpf_num_possible_cpus();

	for (int cpu = 0; cpu < ncpu; cpu++) {
		struct perf_event_attr attr;
		struct bpf_link *l;
		int fd, ret;

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
			return ls_err(s->err, errno, "perf_event_open cpu-clock on cpu %d: %s", cpu, strerror(errno));
		}
		l = bpf_program__attach_perf_event(s->skel->progs.on_cpu_sample, fd);
		if (!l) {
			ret = errno;
			close(fd);
			return ls_err(s->err, ret, "attach sampling program on cpu %d: %s", cpu, strerror(ret));
		}
		/* The link owns the perf event fd from here on. */
		if ((ret = add_link(s, l)))
			return ls_err(s->err, ret, "out of memory");
	}
	return 0;
}

static int read_aggregate(struct ls_session *s, struct bpf_map *map, struct ls_stack_sample **out, size_t *n)
{
	struct ls_sample_key key, next, *prev = NULL;
	struct ls_stack_sample *v = NULL;
	size_t cnt = 0, cap = 0;
	int fd = bpf_map__fd(map);

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		__u64 val;

		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &val))
			continue; /* removed meanwhile */
		if (cnt == cap) {
			size_t ncap = cap ? cap * 2 : 1024;
			struct ls_stack_sample *nv = realloc(v, ncap * sizeof(*nv));

			if (!nv) {
				free(v);
				return ls_err(s->err, ENOMEM, "out of memory");
			}
			v = nv;
			cap = ncap;
		}
		v[cnt].key = key;
		v[cnt].value = val;
		cnt++;
	}
	*out = v;
	*n = cnt;
	return 0;
}

int ls_session_samples(struct ls_session *s, int offcpu, struct ls_stack_sample **out, size_t *n)
{
	int ret;

	*out = NULL;
	*n = 0;
	if (!s->skel)
		return ls_err(s->err, EINVAL, "session not started");
	ret = read_aggregate(s, offcpu ? s->skel->maps.offcpu : s->skel->maps.samples, out, n);
	if (!ret && !offcpu && s->ustore && ls_ustore_samples(s->ustore, out, n))
		ret = ls_err(s->err, ENOMEM, "out of memory");
	return ret;
}

int ls_session_unwind_stats(struct ls_session *s, struct ls_unwind_stats *out)
{
	memset(out, 0, sizeof(*out));
	if (!s->ustore)
		return -ENOENT;
	ls_ustore_stats(s->ustore, out);
	return 0;
}

int ls_session_stack(struct ls_session *s, int32_t id, uint64_t *ips, size_t max, size_t *n)
{
	__u64 buf[LS_STACK_DEPTH];
	__u32 key = (__u32)id;
	size_t k = 0;

	*n = 0;
	if (!s->skel)
		return ls_err(s->err, EINVAL, "session not started");
	if (id < 0)
		return -ENOENT;
	if (id >= LS_USTACK_ID_BASE)
		return s->ustore ? ls_ustore_stack(s->ustore, id, ips, max, n) : -ENOENT;
	if (bpf_map_lookup_elem(bpf_map__fd(s->skel->maps.stacks), &key, buf))
		return errno == ENOENT ? -ENOENT : ls_err(s->err, errno, "reading stack %d: %s", id, strerror(errno));
	while (k < LS_STACK_DEPTH && k < max && buf[k]) {
		ips[k] = buf[k];
		k++;
	}
	*n = k;
	return 0;
}

static int on_record(void *ctx, void *data, size_t size)
{
	struct ls_session *s = ctx;

	if (size < sizeof(struct ls_rec_hdr))
		return 0;
	/* DWARF-mode samples are unwound and counted here; a threshold crossing goes on as its stacks. */
	if (((const struct ls_rec_hdr *)data)->type == LS_REC_USTACK) {
		struct ls_slow_stack slow;
		int r;

		if (!s->ustore)
			return 0;
		r = ls_ustore_add(s->ustore, data, size, &slow);
		if (r == -ENOMEM)
			return ls_err(s->err, ENOMEM, "out of memory");
		if (r == 1 && s->on_event)
			return s->on_event(s->ctx, &slow, sizeof(slow));
		return 0;
	}
	if (!s->on_event)
		return 0;
	return s->on_event(s->ctx, data, size);
}

int ls_session_start(struct ls_session *s)
{
	static const enum ls_khook order[] = { LS_KHOOK_FENTRY, LS_KHOOK_KPROBE, LS_KHOOK_TRACEPOINT };
	const size_t n = sizeof(order) / sizeof(order[0]);
	int ret = -ENOENT, loaded = 0;

	if (s->skel)
		return ls_err(s->err, EALREADY, "session already started");
	s->khook_report[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (s->want != LS_KHOOK_NONE && order[i] != s->want)
			continue;
		/* The last candidate has nothing to fall back to: no trial, the real load at once. */
		loaded = s->want != LS_KHOOK_NONE || i == n - 1;
		ret = try_variant(s, order[i], !loaded);
		if (!ret) {
			if (loaded)
				report(s, order[i], "attached");
			break;
		}
	}
	/* The real load, with everything, for the variant that attached. */
	if (!ret && !loaded)
		ret = try_variant(s, s->khook, 0);
	if (ret) {
		if (ret == -EPERM)
			return ls_err(s->err, ret, "loading BPF programs: %s (needs root, or CAP_BPF and CAP_PERFMON)",
				      strerror(-ret));
		if (s->want != LS_KHOOK_NONE)
			return ls_err(s->err, ret, "kernel hook %s cannot be used: %.400s", ls_khook_name(s->want),
				      s->khook_report);
		return ls_err(s->err, ret, "no kernel hook could be attached:\n%.400s", s->khook_report);
	}
	if (s->attach_uprobes) {
		ret = attach_uprobes(s);
		if (ret)
			goto fail;
	}
	if (s->sample_hz) {
		ret = attach_sampling(s);
		if (ret)
			goto fail;
	}
	if (s->offcpu) {
		struct bpf_link *l = bpf_program__attach(s->skel->progs.on_switch);

		if (!l) {
			ret = ls_err(s->err, errno, "attach sched:sched_switch for off-CPU time: %s", strerror(errno));
			goto fail;
		}
		if ((ret = add_link(s, l)))
			goto fail;
	}
	s->rb = ring_buffer__new(bpf_map__fd(s->skel->maps.events), on_record, s, NULL);
	if (!s->rb) {
		ret = ls_err(s->err, errno, "cannot open ring buffer: %s", strerror(errno));
		goto fail;
	}
	return 0;
fail:
	detach_all(s);
	latscope_bpf__destroy(s->skel);
	s->skel = NULL;
	return ret;
}

int ls_session_poll(struct ls_session *s, int timeout_ms)
{
	int n, m;

	if (!s->rb)
		return ls_err(s->err, EINVAL, "session not started");
	/* Records come without wake-ups: the wait usually runs to its timeout, then everything is drained. */
	n = ring_buffer__poll(s->rb, timeout_ms);
	if (n < 0 && n != -EINTR)
		return ls_err(s->err, -n, "ring buffer poll: %s", strerror(-n));
	m = ring_buffer__consume(s->rb);
	if (m < 0 && m != -EINTR)
		return ls_err(s->err, -m, "ring buffer consume: %s", strerror(-m));
	return (n > 0 ? n : 0) + (m > 0 ? m : 0);
}

int ls_session_stats(struct ls_session *s, unsigned int probe, struct ls_stats *out)
{
	struct ls_stats *per = s->statbuf;
	__u32 key = probe;

	memset(out, 0, sizeof(*out));
	if (!s->skel)
		return ls_err(s->err, EINVAL, "session not started");
	if (bpf_map__lookup_elem(s->skel->maps.stats, &key, sizeof(key), per,
				 sizeof(*per) * (size_t)s->ncpus, 0))
		return ls_err(s->err, errno, "reading statistics: %s", strerror(errno));
	for (int c = 0; c < s->ncpus; c++) {
		out->calls += per[c].calls;
		out->ok += per[c].ok;
		out->fail += per[c].fail;
		out->bytes += per[c].bytes;
		out->dur_sum_ns += per[c].dur_sum_ns;
		out->nested += per[c].nested;
		if (per[c].dur_max_ns > out->dur_max_ns)
			out->dur_max_ns = per[c].dur_max_ns;
		for (int b = 0; b < LS_HIST_BUCKETS; b++)
			out->hist[b] += per[c].hist[b];
	}
	return 0;
}

int ls_session_phase_stats(struct ls_session *s, pid_t pid, unsigned int phase, struct ls_phase_stats *out)
{
	struct ls_phase_stats *per = s->phase_buf;
	__u32 key;
	size_t slot;

	memset(out, 0, sizeof(*out));
	if (!s->skel)
		return ls_err(s->err, EINVAL, "session not started");
	for (slot = 0; slot < s->npids && s->pids[slot] != pid; slot++)
		;
	if (slot == s->npids || phase >= LS_PH_SLOTS)
		return ls_err(s->err, EINVAL, "pid %d is not a target", (int)pid);
	key = (__u32)(slot * LS_PH_SLOTS + phase);
	if (bpf_map__lookup_elem(s->skel->maps.phase_stats, &key, sizeof(key), per, sizeof(*per) * (size_t)s->ncpus, 0))
		return ls_err(s->err, errno, "reading phase statistics: %s", strerror(errno));
	for (int c = 0; c < s->ncpus; c++) {
		out->count += per[c].count;
		out->sum_ns += per[c].sum_ns;
		if (per[c].max_ns > out->max_ns)
			out->max_ns = per[c].max_ns;
		for (int b = 0; b < LS_HIST_BUCKETS; b++)
			out->hist[b] += per[c].hist[b];
	}
	return 0;
}

uint64_t ls_session_open_window(struct ls_session *s)
{
	uint64_t now = ls_now_ns();

	if (s->skel)
		s->skel->bss->window_lo = now;
	return now;
}

uint64_t ls_session_stop_sampling(struct ls_session *s)
{
	uint64_t now = ls_now_ns();

	if (s->skel) {
		s->skel->bss->window_hi = now;
		s->skel->data->sampling = 0;
	}
	return now;
}

int ls_session_set_threshold(struct ls_session *s, uint64_t ns)
{
	s->threshold_ns = ns;
	if (s->skel)
		s->skel->data->threshold_ns = ns;
	return 0;
}

uint64_t ls_session_counter(struct ls_session *s, enum ls_counter which)
{
	__u64 vals[256] = { 0 }, sum = 0;
	__u32 key = which;

	if (!s->skel || s->ncpus > 256)
		return 0;
	if (bpf_map__lookup_elem(s->skel->maps.counters, &key, sizeof(key), vals, sizeof(__u64) * (size_t)s->ncpus, 0))
		return 0;
	for (int c = 0; c < s->ncpus; c++)
		sum += vals[c];
	return sum;
}

size_t ls_session_alive(struct ls_session *s)
{
	size_t n = 0;

	for (size_t i = 0; i < s->npids; i++)
		n += ls_proc_alive(s->pids[i]) ? 1 : 0;
	return n;
}

enum ls_khook ls_session_khook(const struct ls_session *s) { return s->khook; }
const char *ls_session_khook_report(const struct ls_session *s) { return s->khook_report; }
size_t ls_session_nprobes(const struct ls_session *s) { return s->nuprobes; }
const char *ls_session_error(const struct ls_session *s) { return s->err; }

const struct ls_placements *ls_session_placements(const struct ls_session *s) { return s->place; }

const struct ls_site *ls_session_sites(const struct ls_session *s, size_t *n)
{
	*n = s->nsites;
	return s->sites;
}

void ls_session_free(struct ls_session *s)
{
	if (!s)
		return;
	ring_buffer__free(s->rb);
	detach_all(s);
	latscope_bpf__destroy(s->skel);
	free(s->links);
	ls_placements_free(s->place);
	free(s->sites);
	free(s->pids);
	free(s->statbuf);
	free(s->phase_buf);
	ls_ustore_free(s->ustore);
	free(s);
}
