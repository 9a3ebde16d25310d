#include "calibrate.h"
#include "links.h"
#include "uprobe_multi.h"
#include "util.h"

#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "bench_floor.skel.h"

/*
 * One function per instruction class, each starting with the instruction a
 * probe will replace. The call-site one is a call to a return.
 */
__asm__(".text\n"
	".p2align 4\n"
	".globl ls_calib_base\n.type ls_calib_base,@function\nls_calib_base:\n\tret\n"
	".p2align 4\n"
	".globl ls_calib_nop5\n.type ls_calib_nop5,@function\nls_calib_nop5:\n\t.byte 0x0f,0x1f,0x44,0x00,0x00\n\tret\n"
	".p2align 4\n"
	".globl ls_calib_jmp\n.type ls_calib_jmp,@function\nls_calib_jmp:\n\tjmp 1f\n1:\tret\n"
	".p2align 4\n"
	".globl ls_calib_push\n.type ls_calib_push,@function\nls_calib_push:\n\tpush %rbp\n\tpop %rbp\n\tret\n"
	".p2align 4\n"
	".globl ls_calib_call\n.type ls_calib_call,@function\nls_calib_call:\n\tcall ls_calib_base\n\tret\n"
	".p2align 4\n"
	".globl ls_calib_sstep\n.type ls_calib_sstep,@function\nls_calib_sstep:\n\tlea 0(%rsp),%rax\n\tret\n"
	".p2align 4\n"
	".globl ls_calib_ret\n.type ls_calib_ret,@function\nls_calib_ret:\n\tret\n"
	".p2align 4\n"
	".globl ls_calib_uret\n.type ls_calib_uret,@function\nls_calib_uret:\n\t.byte 0x0f,0x1f,0x44,0x00,0x00\n\tret\n");

void ls_calib_base(void);
void ls_calib_nop5(void);
void ls_calib_jmp(void);
void ls_calib_push(void);
void ls_calib_call(void);
void ls_calib_sstep(void);
void ls_calib_ret(void);
void ls_calib_uret(void);

/* Through a pointer: the compiler cannot inline or drop the calls. */
typedef void (*calib_fn)(void);

static const struct {
	enum ls_cost_kind kind;
	calib_fn fn;
} probed[] = {
	{ LS_COST_K_TRAMPOLINE, ls_calib_nop5 }, { LS_COST_K_JUMP, ls_calib_jmp },   { LS_COST_K_PUSH, ls_calib_push },
	{ LS_COST_K_CALL, ls_calib_call },       { LS_COST_K_SSTEP, ls_calib_sstep }, { LS_COST_K_RET, ls_calib_ret },
};

/* The file offset of code address a in this executable, from /proc/self/maps. 0 when not found. */
static uint64_t self_offset(uint64_t a)
{
	char line[512];
	uint64_t off = 0;
	FILE *f = fopen("/proc/self/maps", "re");

	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		uint64_t lo, hi, foff;
		char perms[8];

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64, &lo, &hi, perms, &foff) == 4 && a >= lo && a < hi &&
		    perms[2] == 'x') {
			off = a - lo + foff;
			break;
		}
	}
	fclose(f);
	return off;
}

/*
 * Nanoseconds per call of fn, the best of three runs of n calls (the least
 * disturbed). The thread's CPU time, not wall time: the traps and single-steps
 * of its probes run on it, other load on the machine does not count.
 */
static double per_call(calib_fn volatile fn, unsigned int n)
{
	double best = 0;

	for (int r = 0; r < 3; r++) {
		uint64_t t0 = ls_thread_cpu_ns();
		double ns;

		for (unsigned int i = 0; i < n; i++)
			fn();
		ns = (double)(ls_thread_cpu_ns() - t0) / n;
		if (!r || ns < best)
			best = ns;
	}
	return best;
}

/* Several uprobes of one program as one uprobe_multi link: one attach, one removal wait. */
static int attach_multi(struct ls_links *links, struct bpf_program *prog, const calib_fn *fns, size_t n, int retprobe)
{
	uint64_t offs[8], cookies[8] = { 0 };
	int fd;

	for (size_t i = 0; i < n && i < 8; i++)
		if (!(offs[i] = self_offset((uint64_t)(uintptr_t)fns[i])))
			return -ENOENT;
	fd = ls_uprobe_multi_link(bpf_program__fd(prog), getpid(), "/proc/self/exe", offs, cookies, (uint32_t)n, retprobe);
	if (fd < 0)
		return -errno;
	return ls_links_add_fd(links, fd);
}

/* Removing uprobes waits for an RCU grace period (~0.1 s): done behind the caller's back. */
static void *detach_later(void *arg)
{
	ls_links_free(arg);
	return NULL;
}

static void detach(struct ls_links *links, int wait)
{
	pthread_t th;

	if (!links || wait || pthread_create(&th, NULL, detach_later, links) != 0) {
		ls_links_free(links);
		return;
	}
	pthread_detach(th);
}

static int attach(struct ls_links *links, struct bpf_program *prog, calib_fn fn, int retprobe)
{
	LIBBPF_OPTS(bpf_uprobe_opts, uo, .retprobe = retprobe);
	uint64_t off = self_offset((uint64_t)(uintptr_t)fn);
	struct bpf_link *l;

	if (!off)
		return -ENOENT;
	l = bpf_program__attach_uprobe_opts(prog, getpid(), "/proc/self/exe", (size_t)off, &uo);
	if (!l)
		return -errno;
	return ls_links_add(links, l);
}

/* Whether the kernel has uprobe_multi links: -1 until read. */
static int has_multi = -1;
/* See ls_calibrate_scale. */
static double test_scale = 1.0;

void ls_calibrate_scale(double f)
{
	if (f > 0)
		test_scale = f;
}

static int calibrate(struct ls_costs *out, char *err, int wait)
{
	/*
	 * Hits per run: ~1.3 ms where a hit is single-stepped at ~20 us, ~12 ms for the whole
	 * measurement on such a host (it runs again every few seconds while attached). Runs of 32,
	 * 64 and 200 hits read the same costs within 2% on one host; the host's own state moves
	 * them by a third.
	 */
	const unsigned int n = 64;
	double base[sizeof(probed) / sizeof(probed[0])], ubase, nop5 = 0;
	struct bench_floor_bpf *skel = NULL;
	struct ls_links *links = NULL;
	int ret = 0, multi;

	*out = *ls_costs_fallback();
	/* Without probes first: what the calls cost by themselves. */
	for (size_t i = 0; i < sizeof(probed) / sizeof(probed[0]); i++)
		base[i] = per_call(probed[i].fn, n);
	ubase = per_call(ls_calib_uret, n);
	skel = bench_floor_bpf__open();
	links = ls_links_new();
	if (!skel || !links) {
		ret = ls_err(err, ENOMEM, "cannot open the calibration programs");
		goto cleanup;
	}
	/* Read from the kernel's BTF once: later measurements reuse it. */
	if (has_multi < 0)
		has_multi = ls_kernel_has_uprobe_multi("/sys/kernel/btf/vmlinux");
	multi = has_multi;
	if (multi) {
		bpf_program__set_expected_attach_type(skel->progs.floor_enter, LS_BPF_TRACE_UPROBE_MULTI);
		bpf_program__set_expected_attach_type(skel->progs.floor_exit, LS_BPF_TRACE_UPROBE_MULTI);
	}
	ret = bench_floor_bpf__load(skel);
	if (ret) {
		ret = ls_err(err, -ret, "cannot load the calibration programs: %s", strerror(-ret));
		goto cleanup;
	}
	if (multi) {
		calib_fn fns[sizeof(probed) / sizeof(probed[0]) + 1];

		for (size_t i = 0; i < sizeof(probed) / sizeof(probed[0]); i++)
			fns[i] = probed[i].fn;
		fns[sizeof(probed) / sizeof(probed[0])] = ls_calib_uret;
		ret = attach_multi(links, skel->progs.floor_enter, fns, sizeof(fns) / sizeof(fns[0]), 0);
		if (!ret)
			ret = attach_multi(links, skel->progs.floor_exit, &fns[sizeof(probed) / sizeof(probed[0])], 1, 1);
	} else {
		for (size_t i = 0; i < sizeof(probed) / sizeof(probed[0]) && !ret; i++)
			ret = attach(links, skel->progs.floor_enter, probed[i].fn, 0);
		if (!ret)
			ret = attach(links, skel->progs.floor_enter, ls_calib_uret, 0);
		if (!ret)
			ret = attach(links, skel->progs.floor_exit, ls_calib_uret, 1);
	}
	if (ret) {
		ret = ls_err(err, -ret, "cannot probe latscope's own calibration functions: %s", strerror(-ret));
		goto cleanup;
	}
	for (size_t i = 0; i < sizeof(probed) / sizeof(probed[0]); i++) {
		double d = per_call(probed[i].fn, n) - base[i];

		out->ns[probed[i].kind] = d > 0 ? (unsigned int)(d * test_scale + 0.5) : 0;
		if (probed[i].kind == LS_COST_K_TRAMPOLINE)
			nop5 = d;
	}
	/* The return side: entry (a nop5, as measured) and uretprobe together, less the entry. */
	{
		double d = per_call(ls_calib_uret, n) - ubase - nop5;

		out->ns[LS_COST_K_URETPROBE] = d > 0 ? (unsigned int)(d * test_scale + 0.5) : 0;
	}
	out->measured = 1;
	snprintf(out->how, sizeof(out->how), "measured here: %u hits of empty programs per class, best of 3, in CPU time", n);
cleanup:
	detach(links, wait);
	/* The links hold the programs: the object's own references can go now. */
	bench_floor_bpf__destroy(skel);
	return ret;
}

int ls_calibrate(struct ls_costs *out, char *err)
{
	return calibrate(out, err, 0);
}

/* Measurements kept for the median: the latest ones. */
#define BG_KEEP 31
/* Seconds between measurements: often at first (a session's estimate settles), then seldom. */
#define BG_FIRST_PERIOD 1
#define BG_FIRST_COUNT 8
#define BG_PERIOD 15

struct ls_calib_bg {
	pthread_t th;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int stop;
	int hold;                     /* no measurement while set (ls_calib_bg_hold) */
	int fresh;                    /* a measurement came since the last take */
	struct ls_costs sample[BG_KEEP];
	size_t n;                     /* measurements taken, the first included */
};

/* A measurement in which every class was hit (a probe still being removed can miss some). */
static int plausible(const struct ls_costs *c)
{
	for (size_t i = 0; i < sizeof(probed) / sizeof(probed[0]); i++)
		if (!c->ns[probed[i].kind])
			return 0;
	return 1;
}

static void *bg_main(void *arg)
{
	struct ls_calib_bg *bg = arg;

	pthread_mutex_lock(&bg->lock);
	while (!bg->stop) {
		struct timespec until;
		struct ls_costs c;
		char err[256];
		int ret;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += bg->n < BG_FIRST_COUNT ? BG_FIRST_PERIOD : BG_PERIOD;
		while (!bg->stop && pthread_cond_timedwait(&bg->wake, &bg->lock, &until) != ETIMEDOUT)
			;
		if (bg->stop)
			break;
		if (bg->hold)
			continue;
		pthread_mutex_unlock(&bg->lock);
		ret = calibrate(&c, err, 1);
		pthread_mutex_lock(&bg->lock);
		if (ret == 0 && plausible(&c)) {
			bg->sample[bg->n % BG_KEEP] = c;
			bg->n++;
			bg->fresh = 1;
		}
	}
	pthread_mutex_unlock(&bg->lock);
	return NULL;
}

struct ls_calib_bg *ls_calib_bg_start(const struct ls_costs *first)
{
	struct ls_calib_bg *bg;

	/* Without uprobe_multi links every measurement attaches and removes seven uprobes one by one. */
	if (has_multi != 1)
		return NULL;
	bg = calloc(1, sizeof(*bg));
	if (!bg)
		return NULL;
	bg->sample[0] = *first;
	bg->n = 1;
	pthread_mutex_init(&bg->lock, NULL);
	pthread_cond_init(&bg->wake, NULL);
	if (pthread_create(&bg->th, NULL, bg_main, bg) != 0) {
		pthread_mutex_destroy(&bg->lock);
		pthread_cond_destroy(&bg->wake);
		free(bg);
		return NULL;
	}
	return bg;
}

void ls_calib_bg_hold(struct ls_calib_bg *bg, int hold)
{
	if (!bg)
		return;
	pthread_mutex_lock(&bg->lock);
	bg->hold = hold;
	pthread_mutex_unlock(&bg->lock);
}

int ls_calib_bg_take(struct ls_calib_bg *bg, struct ls_costs *out)
{
	size_t n;

	if (!bg)
		return 0;
	pthread_mutex_lock(&bg->lock);
	if (!bg->fresh) {
		pthread_mutex_unlock(&bg->lock);
		return 0;
	}
	bg->fresh = 0;
	n = bg->n < BG_KEEP ? bg->n : BG_KEEP;
	*out = bg->sample[0];
	/*
	 * The least of each kind: a hit costs least on a busy CPU, which is where
	 * the cost matters, and the measuring thread, idle between measurements,
	 * often catches its CPU cold (up to a third dearer on virtual machines).
	 */
	for (int k = 0; k < LS_COST_KINDS; k++)
		for (size_t i = 1; i < n; i++)
			if (bg->sample[i].ns[k] < out->ns[k])
				out->ns[k] = bg->sample[i].ns[k];
	snprintf(out->how, sizeof(out->how), "measured here: the least of %zu measurements over the session", bg->n);
	pthread_mutex_unlock(&bg->lock);
	return 1;
}

void ls_calib_bg_stop(struct ls_calib_bg *bg)
{
	if (!bg)
		return;
	pthread_mutex_lock(&bg->lock);
	bg->stop = 1;
	pthread_cond_signal(&bg->wake);
	pthread_mutex_unlock(&bg->lock);
	pthread_join(bg->th, NULL);
	pthread_mutex_destroy(&bg->lock);
	pthread_cond_destroy(&bg->wake);
	free(bg);
}
