/* The session's state, shared by lib/session*.c and lib/khook.c only. */
#ifndef LS_SESSION_INT_H
#define LS_SESSION_INT_H

#include "bpfload.h"
#include "calibrate.h"
#include "links.h"
#include "session.h"
#include "reqstacks.h"
#include "util.h"

struct ring_buffer;
struct ls_ustore;
struct ls_uprobe;
struct ls_duty;

struct ls_session {
	struct ls_bpf *bpf;        /* the object, loaded feature by feature */
	struct latscope_bpf *skel; /* its maps and global variables */
	struct ls_links *links;    /* tracepoints, the profiler: attached for the whole session */
	struct ls_links *klinks;   /* the kernel hooks (net, queue): off in an overhead budget's gaps when nothing else needs them */
	int khook_queue;           /* the queue hook attached at start: windows attach it again */
	struct ls_links *ulinks;   /* the library probes: detached between windows under an overhead budget */
	struct bpf_link *sys_enter; /* the socket syscall entry: it serves traced calls only, so it goes with ulinks */
	int sys_enter_ok;          /* it attached at start: windows attach it again */
	struct bpf_link *sio_exit; /* the syscall reader: with the windows until it meets a plaintext connection */
	int sio_exit_ok;           /* it attached at start */
	struct ls_uprobe *plan;    /* what ulinks attaches, kept for the next window */
	size_t nplan;
	int uprobe_multi;          /* the kernel has uprobe_multi links: every uprobe program is loaded for them */
	size_t nuprobes;
	struct ring_buffer *rb;
	struct ls_site *sites;
	size_t nsites;
	struct ls_placements *place;
	unsigned int phases;
	pid_t *pids;
	uint64_t *pid_start;       /* each target's start time: a pid reused by another process is not it */
	uint32_t gone;             /* targets seen gone (bit per slot), removed from the targets map */
	uint64_t last_sweep;       /* when requests of ended connections were last looked for */
	uint64_t swept;            /* such requests deleted */
	uint64_t reset_swept;      /* requests the client reset, deleted there when no response ended them */
	size_t npids;
	enum ls_khook want, khook;
	char khook_report[1024];
	char btf_path[LS_PATH_LEN];
	int records, requests, attach_uprobes;
	uint64_t threshold_ns;
	unsigned int sample_hz;
	int offcpu, offcpu_inflight_only, request_stacks;
	unsigned int ustack_size;
	unsigned int reject_features;
	double overhead_pct;
	int cg_auto;
	struct ls_ustore *ustore; /* unwound samples (dwarf, auto), frame-pointer stacks with their leaf fixed */
	struct ls_cg_obj *cg_objs; /* per target object: frame pointers or stack copy */
	size_t ncg_objs;
	unsigned int xr_overflow;
	struct ls_rstacks *rs;    /* request_stacks: samples and blocks kept for the requests they belong to */
	struct ls_sagg *agg[2];   /* request_stacks: CPU samples [0] and off-CPU ns [1], slow = a slow request's */
	int stats_fd, stats_err;  /* kernel BPF run-time statistics, on while stats_fd is open */
	struct ls_duty *duty;      /* overhead budget, NULL without one */
	struct ls_calib_bg *calib; /* costs re-measured while attached, NULL without a first measurement */
	ls_event_fn on_event;
	void *ctx;
	void *statbuf;
	void *phase_buf;
	int ncpus;
	char err[LS_ERR_LEN];
};

/*
 * Choose the kernel hook: load and attach the first variant that works (or
 * the one asked for), then its data-ready hook. One line per variant tried
 * in s->khook_report. 0, or -errno when none could be attached (the net
 * feature is then FAILED); -errno with s->err set on a fatal error.
 */
int ls_khook_attach(struct ls_session *s);
/*
 * The kernel hooks on again for an overhead budget's next window after a gap took
 * them (s->klinks, detached with the window's other links): the variant chosen at
 * start, the queue hook when it attached then. 0, or -errno with s->err set.
 */
int ls_khook_reattach(struct ls_session *s);

/* lib/session_duty.c: set up the budget after attaching (0 or -ENOMEM); one step of it per poll; free. */
int ls_duty_start(struct ls_session *s, double pct);
void ls_duty_step(struct ls_session *s);
/* The poll's wait, shortened while a window drains (it ends as its last request does). */
int ls_duty_wait_ms(struct ls_session *s, int timeout_ms);
void ls_duty_free(struct ls_duty *d);
/* The socket syscall entry hook, with the library probes' windows: 0 or -errno (s->err set). */
/* Entry-only probes' trap costs, measured at start, into the programs (their spans leave them out). */
void ls_session_entry_costs(struct ls_session *s);
int ls_session_sys_enter_attach(struct ls_session *s);
void ls_session_sys_enter_detach(struct ls_session *s);
/*
 * The syscall reader, with the windows while it has met no plaintext connection
 * (then it would lose them: it stays for good). Can go: 1 when attached and it has
 * met none (the caller detaches s->sio_exit and forgets it). Attach: its per-socket
 * verdicts are forgotten first (fds closed and reused in the gap).
 */
int ls_session_sio_can_go(struct ls_session *s);
int ls_session_sio_attach(struct ls_session *s);
/* The per-hit costs changed: carry the budget's running totals over without a step. */
void ls_duty_rebase(struct ls_session *s);

#endif
