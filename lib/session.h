/*
 * A tracing session: open -> configure -> load -> attach -> poll -> detach.
 * Not thread-safe: one thread drives a session.
 */
#ifndef LS_SESSION_H
#define LS_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <linux/types.h>
#include "latscope.h"
#include "discover.h"
#include "placement.h"
#include "bpfload.h"
#include "phase.h"

struct ls_req_stacks;

struct ls_session;

/*
 * Called from ls_session_poll() for each record: rec starts with a struct
 * ls_rec_hdr whose type says which ABI struct it is (struct ls_event,
 * ls_request, ls_headers). A non-zero return stops that poll.
 */
typedef int (*ls_event_fn)(void *ctx, const void *rec, size_t size);

struct ls_session_opts {
	size_t sz;               /* sizeof(struct ls_session_opts) */
	const pid_t *pids;
	size_t npids;
	enum ls_khook khook;     /* LS_KHOOK_NONE: best available */
	const char *btf_path;    /* NULL: /sys/kernel/btf/vmlinux */
	int records;             /* stream per-call records (TLS calls, kernel sends/receives) */
	int attach_uprobes;      /* 0: kernel hook only (for `probes`) */
	ls_event_fn on_event;
	void *ctx;
	int requests;            /* stream request and header records */
	uint64_t threshold_ns;   /* requests at or over it are slow (0: 10 ms) */
	unsigned int sample_hz;  /* CPU samples per second of each CPU (0: no sampling) */
	int offcpu;              /* record where target threads block, and for how long */
	int offcpu_inflight_only; /* only threads working on a request */
	int request_stacks;      /* samples and off-CPU time go to the requests they belong to, in user space
				  * (ls_session_request_stacks); frame-pointer stacks only */
	enum ls_place_mode placement; /* where library probes go (LS_PLACE_AUTO: call sites where cheaper) */
	unsigned int phases;     /* LS_PHASES_* to attach; 0: all */
	unsigned int ustack_size; /* > 0: --call-graph dwarf, user stack bytes copied per sample (<= LS_USTACK_MAX) */
	int cg_auto;             /* with ustack_size: --call-graph auto, the stack copied only in code without frame pointers */
	unsigned int reject_features; /* test switch: 1 << enum ls_feature whose programs the verifier must reject */
	const struct ls_costs *costs; /* what a probe hit costs here (ls_calibrate); NULL: the fallback table */
	double overhead_pct;     /* the library probes' budget, % of one CPU or of the targets' CPU when they use
				  * more (see ls_session_duty); 0: no budget, always attached */
};


/* One aggregated profile entry: stacks + tags, and samples (CPU) or nanoseconds (off-CPU). */
struct ls_stack_sample {
	struct ls_sample_key key;
	uint64_t value;
};

#define LS_SESSION_MAX_PIDS LS_MAX_TARGETS

/* Validate options, check privileges and BTF, discover the targets. Returns 0 or -errno; err says why. */
int ls_session_new(const struct ls_session_opts *opts, struct ls_session **out, char *err);

/*
 * Load the BPF programs feature by feature and attach them: the kernel hook,
 * every library probe, the profiler's events. A feature the kernel refuses is
 * left off (see ls_session_feature) and the rest goes on; -errno (see
 * ls_session_error) only when nothing sensible can run: the maps cannot be
 * made, a forced kernel hook does not work, a process vanishes while
 * probes are attached.
 */
int ls_session_start(struct ls_session *s);

/* After ls_session_start: whether feature f is on, off for a reason, or was not needed. */
const struct ls_feat_status *ls_session_feature(const struct ls_session *s, enum ls_feature f);

/* Wait up to timeout_ms, then deliver the records that arrived. Returns the count or -errno. */
int ls_session_poll(struct ls_session *s, int timeout_ms);

/* Sum a probe's per-CPU statistics. 0 or -errno. */
int ls_session_stats(struct ls_session *s, unsigned int probe, struct ls_stats *out);

/* Request phase statistics of one target (phase: enum ls_phase or LS_PH_TOTAL), summed over CPUs. */
int ls_session_phase_stats(struct ls_session *s, pid_t pid, unsigned int phase, struct ls_phase_stats *out);

/*
 * The aggregated CPU samples (offcpu = 0) or off-CPU times (offcpu = 1) so far.
 * key.slow: taken while the thread's request was past the threshold; with
 * request_stacks, taken by the worker of a request that turned out slow, while
 * it ran. *out is malloc'ed; free() it. 0 or -errno.
 */
int ls_session_samples(struct ls_session *s, int offcpu, struct ls_stack_sample **out, size_t *n);

/*
 * request_stacks: the stacks of a finished request, as its record came to on_event (see
 * lib/reqstacks.h). 0, -ENOENT without request_stacks, or -ENOMEM.
 */
int ls_session_request_stacks(struct ls_session *s, const struct ls_request *q, struct ls_req_stacks *out);

/*
 * Like ls_session_samples, but each entry is taken out of the kernel's table
 * (atomically: what is added after goes to a new entry), so that successive
 * calls give successive intervals and the table never fills. Frame-pointer
 * samples only (not --call-graph dwarf's). *out is malloc'ed. 0 or -errno.
 */
int ls_session_take_samples(struct ls_session *s, int offcpu, struct ls_stack_sample **out, size_t *n);

/*
 * When the kernel's stack table holds more than keep stacks, empty it: the
 * stacks of samples not taken yet are lost (they fold as "[no stack]"), the
 * table does not fill. Returns how many were removed.
 */
size_t ls_session_trim_stacks(struct ls_session *s, size_t keep);

/* The addresses of stack id (innermost first). 0, -ENOENT (evicted or never captured) or -errno. */
int ls_session_stack(struct ls_session *s, int32_t id, uint64_t *ips, size_t max, size_t *n);

struct ls_unwind_stats;
/* How the user-space unwinds and frame-pointer leaf fixes went. 0, or -ENOENT when the session takes no stacks. */
int ls_session_unwind_stats(struct ls_session *s, struct ls_unwind_stats *out);

/*
 * The recording's window, on the monotonic clock: off-CPU time is counted from
 * the moment the window opens; stopping takes no more CPU samples and counts no
 * off-CPU time past that moment (the profile so far stays readable). Each
 * returns the moment it set.
 */
uint64_t ls_session_open_window(struct ls_session *s);
uint64_t ls_session_stop_sampling(struct ls_session *s);

/* Change the slow-request threshold of a running session. */
int ls_session_set_threshold(struct ls_session *s, uint64_t ns);

/*
 * What latscope's BPF programs cost so far, measured by the kernel (BPF run-time
 * statistics, enabled while the session runs). 0, or -errno when the kernel does not
 * keep them (then costs come from the fallback table).
 */
int ls_session_bpf_time(struct ls_session *s, struct ls_bpf_time *out);

/*
 * The overhead budget (opts.overhead_pct), kept by ls_session_poll(): the probes' cost is
 * the library probes' hits times the per-hit cost measured at start plus the run time of
 * all of latscope's programs as the kernel measured it, over max(wall time, CPU time of the targets). When
 * it would exceed the budget, the library probes are attached in windows that start at
 * random times, their share of time chosen so that the cost stays within it; a request
 * counts only when it started inside a window (and its end was seen).
 */
struct ls_duty_stats {
	double budget;             /* fraction (0.05 for 5%); 0: no budget */
	double duty;               /* share of time the probes are meant to be attached now (1: always) */
	double duty_min;           /* the lowest duty so far */
	double sampled_share;      /* share of the session's time inside windows: requests started then count */
	double traffic_share;      /* share of the targets' traffic inside windows (traffic_counter): counts over
				    * it estimate the whole time's, also when the probes slowed a saturated
				    * target while on (sampled_share would not); 0 when nothing was counted */
	double overhead;           /* measured cost over the whole session, a fraction of the denominator */
	double charged;            /* the cost the budget held to (per step, the in-situ measure where it says more) */
	uint64_t charged_ns;
	double overhead_on;        /* the same while attached (smoothed): what full tracing would cost now; the
				    * larger of the per-hit measure and the in-situ one */
	double overhead_situ;      /* in situ: the targets' CPU while attached beyond what their socket bytes took
				    * with the probes off (0: not known yet, the probes were never off long) */
	int attached;              /* the library probes are attached now */
	uint64_t elapsed_ns, sampled_ns, cost_ns, denom_ns;
	uint64_t self_ns;          /* latscope's record handling (its polling thread's CPU), not in cost_ns */
	uint64_t self_charged_ns;  /* of it, charged to the budget: what the machine's idle CPU did not cover */
	uint64_t detach_situ_ns;   /* charged for detaches beyond their hits: the targets' CPU per byte while detaching */
	uint64_t delay_situ_ns;    /* charged for the targets' run-queue wait from a window's open to its detach's
				    * end beyond their wait in the gaps */
	uint64_t pace_situ_ns;     /* charged for the targets' traffic from a window's open to its detach's end
				    * slower than in the gaps, beyond what the window was charged otherwise */
	uint64_t pace_win_bytes, pace_win_ns; /* the targets' read/write bytes from windows' opens to their detaches' ends, and that time */
	uint64_t pace_gap_bytes, pace_gap_ns; /* the same over the gaps */
	uint64_t pace_idle_windows; /* windows left out of the pace: the targets mostly slept (their load fell) */
	double pace_windows;       /* the windows' bytes per second over the gaps' (-1: not known) */
	double pace_lost;          /* the share of the run's time the targets lost by that pace */
	uint64_t bytes_all, bytes_in; /* the targets' traffic so far, and that inside windows (traffic_share), in bytes */
	uint64_t windows;          /* windows closed */
	uint64_t abandoned;        /* requests started inside a window, not ended when it closed: not counted */
	uint64_t emergency;        /* windows cut at once: the cost over one second was past twice the budget */
	uint64_t gaps;             /* times per-connection state was dropped (LS_REC_GAP) */
	uint64_t attach_ns, detach_ns; /* total time attaching and detaching windows' probes */
	uint64_t attaches, detaches;
	uint64_t sio_cycled;       /* gaps the syscall reader was off too (it had met no plaintext connection) */
	uint64_t khook_cycled;     /* gaps the kernel hooks were off too (traffic counted by the targets' read/write bytes) */
	const char *traffic_counter; /* what traffic_share counts: "socket" (the kernel hooks) or "read_write" (/proc/PID/io) */
	const char *khook_stays;   /* why the kernel hooks stay on in the gaps (NULL: they go, or no gap yet) */
	const char *failed;        /* why duty cycling stopped (a re-attach failed), NULL while it works */
};
int ls_session_duty(struct ls_session *s, struct ls_duty_stats *out);

/*
 * Expected probe cost of one call of probe id (the placement of its first
 * attached site), its probe hits per call and its placement ("entry",
 * "callsite", "callsite+entry"); 0 when not attached.
 */
unsigned int ls_session_probe_call_cost(struct ls_session *s, unsigned int probe, unsigned int *hits_per_call,
				 const char **placement);

/*
 * What the library probes have cost the targets so far: their hits, the traps (hits times
 * the costs measured at start) and latscope's programs on them (as the kernel measured
 * them, else the fallback table's cost per call).
 */
struct ls_probe_cost {
	uint64_t calls, hits, trap_ns, prog_ns;
	int prog_measured;
	unsigned int prog_table_ns; /* the table's program cost per call, included in ls_session_probe_call_cost */
	double prog_per_hit_ns;     /* the programs' time per uprobe hit: measured, else the table's */
	struct ls_bpf_time bpf; /* prog_measured: every program's run time */
};
void ls_session_probe_cost(struct ls_session *s, struct ls_probe_cost *out);

/* Requests deleted because their connection ended before their response (ls_session_poll()). */
uint64_t ls_session_swept(const struct ls_session *s);
/* At the end of a run: forget the requests whose stream the client ended (NO_ERROR) however recently (counted). */
void ls_session_sweep_resets(struct ls_session *s);

/* A global counter (enum ls_counter) summed over CPUs. */
uint64_t ls_session_counter(struct ls_session *s, enum ls_counter which);

/*
 * Number of target processes still alive: the same process, not another that
 * took its pid. One found gone leaves the kernel's targets map.
 */
size_t ls_session_alive(struct ls_session *s);

enum ls_khook ls_session_khook(const struct ls_session *s);
/* One line per variant tried: "fentry: ...", "kprobe: ...", "tracepoint: attached". */
const char *ls_session_khook_report(const struct ls_session *s);
const struct ls_site *ls_session_sites(const struct ls_session *s, size_t *n);
/* Where each site's probes go (ls_placement_of(p, site index)). */
const struct ls_placements *ls_session_placements(const struct ls_session *s);
struct ls_cg_obj;
/*
 * The executable objects of the targets and whether each is walked by frame
 * pointers or unwound from a stack copy (lib/callgraph.h); *overflow counts
 * executable ranges beyond the profiler's table. NULL when not sampling.
 */
const struct ls_cg_obj *ls_session_callgraph(const struct ls_session *s, size_t *n, unsigned int *overflow);
/* Attached uprobe count (entry and return probes). */
size_t ls_session_nprobes(const struct ls_session *s);
const char *ls_session_error(const struct ls_session *s);

/* Detach everything and free. NULL is a no-op. */
void ls_session_free(struct ls_session *s);

/* Parse "fentry", "kprobe", "tracepoint" (or "auto"). 0 or -EINVAL. */
int ls_khook_parse(const char *s, enum ls_khook *out);

#endif
