/*
 * The overhead budget (ls_session_opts.overhead_pct): the library probes are
 * attached in windows when keeping them on would cost more than the budget.
 *
 * Every step (at most every STEP_NS, from ls_session_poll) measures what the
 * probes cost since the last one: hits times the per-hit costs calibrated at
 * start plus the uprobe programs' run time as the kernel measured it
 * (ls_session_probe_cost) and the other programs' (probes_cost), over max(wall
 * time, the targets' CPU time); after a window also in situ (window_situ_cost),
 * the larger ruling; at its detach also the targets' threads' wait for a CPU while it
 * was open, beyond their wait in the gaps (delay_close), and what their traffic's pace
 * against the gaps' says it cost beyond all that (pace_close). A hit
 * costs the same at any load and a request takes several hits, so against the
 * targets' CPU alone the cost is a fixed share even at 10 requests per second:
 * the wall time (one CPU) is the denominator, the targets' CPU when they use
 * more than one. From the smoothed cost while attached (overhead_on) the duty
 * is budget / overhead_on, at most 1: at low load it is 1 and the probes never
 * leave. The budget holds on average over a few seconds (a token bucket of
 * BUCKET_NS' worth of it, full at start but lent, paid back from the income of the
 * seconds after): a burst that fits stays traced whole.
 * Below 1 and the bucket empty, a window stays open window_len() (with its drain and
 * detach, a budget's worth of cost over one second), then the probes stay until the requests it
 * saw start have ended (as long as the window, at most; the rest are counted
 * abandoned), go, and come back when the window's measured cost, spread over
 * it and the gap after it, is the budget: the gap drawn at random between half
 * and one and a half of that (no aliasing with periodic work). Over one second
 * past twice the budget, they go at once.
 *
 * A request counts when it started inside a window (the kernel's req_lo and
 * req_hi). The share of the targets' traffic inside windows turns counts into
 * estimates for the whole time. The kernel hooks count it while on; at the first
 * window's close, when the targets' own read/write counters (/proc/PID/io) moved
 * with their socket bytes, those count it from then on (over the whole session:
 * they ran all along) and the kernel hooks go in the gaps too: on a saturated
 * server they are most of what a gap still costs (every receive on the machine
 * runs the tracepoint's program). They stay when the counters do not follow (a
 * target using recv/send, or much file I/O) or the syscall reader follows a
 * plaintext connection through the gaps.
 *
 * Each window is a gap for what the kernel keeps per connection: the HTTP/2
 * framing and the streams in flight are dropped when the probes go, and an
 * LS_REC_GAP record tells request assembly that every connection's HPACK
 * context is lost (its next names are decoded afresh, or said unknown).
 */
#include "calibrate.h"
#include "procmaps.h"
#include "session_int.h"
#include "uprobes.h"

#include <errno.h>
#include <sched.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "latscope.skel.h"

#define STEP_NS       50000000ull   /* a measurement: at most every 50 ms */
#define DUE_MIN_NS    1000000ull    /* a window's close or a gap's end is looked at no more often than this */
#define DRAIN_POLL_MS 5             /* a drain looks for its last requests this often */
#define WINDOW_MAX_NS 200000000ull  /* a window's length below duty 1, at most */
#define WINDOW_MIN_NS 20000000ull   /* and at least: attaching costs a few ms */
#define SECOND_STEPS  20            /* the emergency rule's second, in steps */
#define SMOOTH        0.5           /* weight of the newest measurement in overhead_on */
#define OFF_DECAY     0.95          /* per step: the CPU per byte with the probes off remembers ~1 s */
#define SITU_MIN_CPU_NS 1e8         /* and is trusted from 100 ms of the targets' CPU */
#define OFF_MAX_NS    10000000000.0 /* a window at least every 10 s: the view stays current */
#define GAP_READ_NS   500000000ull  /* in a gap, the programs that stay are read this often */
#define BUCKET_NS     3e9           /* the budget holds on average over 3 s: a shorter burst is traced whole */
#define DELAY_DECAY   0.5           /* per gap: the targets' run-queue wait with the probes off remembers a few gaps */
#define DELAY_MIN_NS  2e8           /* and is trusted from 200 ms of gaps */
#define PACE_BUSY     0.7           /* a window's pace counts where the targets ran or waited for a CPU at least this share of the gaps' rate */

enum duty_state { DUTY_ON, DUTY_DRAIN, DUTY_OFF };

struct duty_step {
	uint64_t cost, denom;
};

struct ls_duty {
	double budget, duty, on_rate;
	double cpu_factor;           /* the denominator over the wall time (> 1: the targets use several CPUs) */
	uint64_t open_cost;          /* the probes' cost when the current window opened */
	uint64_t first_bytes, open_bytes; /* the targets' traffic at start, when the current window opened */
	uint64_t bytes_in;           /* the targets' traffic inside closed windows */
	int use_io;                  /* traffic counted by /proc/PID/io (1), the kernel hooks (0), not decided yet (-1) */
	uint64_t first_io, open_io;  /* the targets' read/write bytes at start, when the current window opened */
	int khook_off;               /* the kernel hooks are off (a gap) */
	char khook_why[160];         /* why they stay on in the gaps */
	enum duty_state state;
	uint64_t t0, since;          /* session start; when the state began */
	uint64_t win_open;           /* current window: requests started from here count (the first one: all) */
	uint64_t next_open;          /* DUTY_OFF: when the next window opens */
	uint64_t last_t, last_cost, last_cpu, last_bytes, first_cpu, first_cost, first_self;
	uint64_t last_self, last_idle; /* latscope's record handling and the machine's idle CPU at the last step */
	uint64_t last_other, other_t; /* the run time of the programs other than the uprobes' at the last step, read then */
	uint64_t open_cpu;           /* the targets' CPU when the current window opened */
	uint64_t drain_check;        /* DUTY_DRAIN: when it last looked for requests in flight */
	double off_cpu, off_bytes;   /* decaying sums over steps with the probes off: the targets' CPU per byte */
	double situ_rate;            /* smoothed in-situ cost while attached (0: not known yet) */
	double tokens;               /* cost the budget still allows, in ns: budget x time in, cost out, at most BUCKET_NS' worth */
	double loan;                 /* the bucket's start fill not yet paid back: income pays it first */
	uint64_t charged;            /* cost charged so far: per step, the larger of the per-hit and in-situ measures */
	uint64_t open_charged;       /* charged when the current window opened */
	uint64_t close_charged;      /* charged when the current window closed: its drain and detach are charged after */
	double trans_cost;           /* smoothed charge of a window's drain and detach, in ns (0: none measured yet) */
	uint64_t open_delay, open_delay_t; /* the targets' run-queue wait, and when, as the current window opened */
	uint64_t open_self_charged;  /* latscope's own CPU charged when the current window opened */
	uint64_t gap_delay, gap_t;   /* the same as the current gap began (gap_t 0: no gap yet) */
	double off_delay, off_wall;  /* decaying sums over gaps: the targets' run-queue wait and the gaps' wall time */
	uint64_t pace_open, pace_gap; /* the targets' traffic as the current window opened, as the current gap began */
	uint64_t pace_charged;       /* charged as the current window opened */
	uint64_t pace_busy_open, pace_busy_gap; /* the targets' CPU and run-queue wait at those instants */
	double pace_off_busy;        /* decaying sum over gaps: the targets' CPU and run-queue wait */
	double pace_off_b;           /* decaying sum over gaps (their wall time: off_wall): the targets' traffic */
	double pace_on_b, pace_on_t; /* the same over windows from open to detach's end */
	int whole_on;                /* attached for the whole of the step being measured */
	struct duty_step second[SECOND_STEPS];
	unsigned int istep;
	uint32_t rng;
	struct ls_duty_stats st;
	const char *failed;
	char reason[LS_ERR_LEN];
};

static uint64_t targets_cpu(const struct ls_session *s)
{
	return ls_procs_cpu_ns(s->pids, s->npids);
}

/*
 * Bytes through the targets' sockets, as the kernel hooks count them: they stay attached,
 * so the traffic inside windows over all of it is the share of the requests a window
 * saw, also when the probes slowed a saturated target while on. 0 without kernel hooks.
 */
static uint64_t socket_bytes(struct ls_session *s)
{
	struct ls_stats in, out;

	if (ls_session_stats(s, LS_PROBE_NET_RECV, &in) || ls_session_stats(s, LS_PROBE_NET_SEND, &out))
		return 0;
	return in.bytes + out.bytes;
}

/* Bytes the targets read and wrote (sockets with read/write and their vector forms, files). */
static uint64_t io_bytes(struct ls_session *s)
{
	uint64_t b = 0;

	return ls_procs_io_bytes(s->pids, s->npids, &b) ? 0 : b;
}

/* The targets' traffic, as the chosen counter counts it. */
static uint64_t traffic(struct ls_session *s, const struct ls_duty *d)
{
	return d->use_io == 1 ? io_bytes(s) : socket_bytes(s);
}

static uint64_t since(uint64_t now, uint64_t then)
{
	return now > then ? now - then : 0;
}

/*
 * Detaching takes the targets' mmap lock: a target that hits a probe meanwhile sleeps
 * on it, and on a machine saturated by a server and its clients the CPU it leaves,
 * with latscope's burst of work (a thread per link) on the other, sends the server and
 * a client onto one CPU, where they stay together for tens of milliseconds while
 * another idles. At idle priority (the threads it starts inherit it) that work takes
 * only CPU no one else wants: a waking task counts such a CPU as free and is not
 * moved. Attaching stays at the thread's own priority: held by a thread at idle
 * priority the lock stalled a Go target, its threads spinning for work, for as long
 * as no CPU fell idle (the median request in windows 11-48% slower). The previous
 * policy comes back after. Returns it, or -1 when it could not be changed.
 */
static int idle_begin(struct sched_param *prev)
{
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct cap[2] = { { 0 } };
	struct sched_param idle = { 0 };
	struct rlimit nice_lim;
	int pol = sched_getscheduler(0), back;

	/*
	 * Leaving SCHED_IDLE takes CAP_SYS_NICE or an RLIMIT_NICE that allows the thread's
	 * nice value (a container's root may have neither): without, it is not entered.
	 */
	errno = 0;
	back = getpriority(PRIO_PROCESS, 0);
	back = (errno == 0 && getrlimit(RLIMIT_NICE, &nice_lim) == 0 && nice_lim.rlim_cur >= (rlim_t)(20 - back)) ||
	       (syscall(SYS_capget, &h, cap) == 0 && (cap[CAP_SYS_NICE / 32].effective & (1u << (CAP_SYS_NICE % 32))));
	if (!back || pol < 0 || sched_getparam(0, prev) || sched_setscheduler(0, SCHED_IDLE, &idle))
		return -1;
	return pol;
}

static void idle_end(int pol, const struct sched_param *prev)
{
	if (pol >= 0)
		sched_setscheduler(0, pol, prev);
}

/* The CPU time of the thread that handles the records (this one: ls_duty_step runs in ls_session_poll). */
static uint64_t self_ns(void)
{
	return ls_thread_cpu_ns();
}

/*
 * The machine's idle CPU time so far (all CPUs, idle and iowait, from /proc/stat's
 * clock ticks), 0 when unknown: latscope's own CPU beyond it took others' time.
 */
static uint64_t machine_idle_ns(void)
{
	unsigned long long user, nice, sys, idle, iowait;
	long hz = sysconf(_SC_CLK_TCK);
	FILE *f = fopen("/proc/stat", "re");
	int n;

	if (!f)
		return 0;
	n = fscanf(f, "cpu %llu %llu %llu %llu %llu", &user, &nice, &sys, &idle, &iowait);
	fclose(f);
	if (n != 5 || hz <= 0)
		return 0;
	return (uint64_t)((idle + iowait) * (1e9 / (double)hz));
}

/*
 * What the probes cost the targets, cumulative: their traps and programs, and the run time
 * of every other program of latscope's as the kernel measured it (syscall and socket
 * hooks, stack sampling: they run in the targets' threads or in others', the machine's
 * time either way; those that stay in the gaps are charged there too). latscope's
 * own handling of their records (self_ns) is not in it: it is charged to the budget
 * (measure_step) only for what the machine's idle CPU did not cover. On a machine
 * with CPUs to spare it takes no one's time; on one that server and clients fill it
 * does (1.1-1.4% of a CPU at a 5% budget, 2-CPU bench).
 */
static uint64_t probes_cost(struct ls_session *s, struct ls_duty *d)
{
	struct ls_probe_cost pc;
	uint64_t other;

	ls_session_probe_cost(s, &pc);
	other = pc.prog_measured ? since(pc.bpf.run_ns, pc.bpf.uprobe_ns) : 0;
	if (d)
		d->last_other = other;
	return pc.trap_ns + pc.prog_ns + other;
}

/*
 * The same in a gap, where only the programs that stay can add to it: their run time as
 * the kernel measured it, without the probes' statistics (a step in a gap read those for
 * nothing: a third of latscope's CPU on a saturated server at a 0.01% budget). step: a
 * step's measure, which becomes the baseline of the next.
 */
static uint64_t gap_cost(struct ls_session *s, struct ls_duty *d, int step)
{
	struct ls_bpf_time bt;
	uint64_t other, cost, now = ls_now_ns();

	/* Read every GAP_READ_NS: a program's statistics cost a few microseconds of syscall each. */
	if ((step && now - d->other_t < GAP_READ_NS) || ls_session_bpf_time(s, &bt))
		return d->last_cost;
	if (step)
		d->other_t = now;
	other = since(bt.run_ns, bt.uprobe_ns);
	cost = d->last_cost + since(other, d->last_other);
	if (step)
		d->last_other = other;
	return cost;
}

/* xorshift32: a window's start only needs to be out of step with the target's periodic work. */
static double uniform(struct ls_duty *d)
{
	d->rng ^= d->rng << 13;
	d->rng ^= d->rng >> 17;
	d->rng ^= d->rng << 5;
	return (double)d->rng / 4294967296.0;
}

static void delay_open(struct ls_session *s, struct ls_duty *d);

int ls_duty_start(struct ls_session *s, double pct)
{
	struct ls_duty *d = calloc(1, sizeof(*d));
	uint64_t now = ls_now_ns();

	if (!d)
		return ls_err(s->err, ENOMEM, "out of memory");
	d->budget = pct / 100.0;
	d->duty = d->st.duty_min = 1.0;
	d->state = DUTY_ON;
	d->t0 = d->since = d->last_t = d->win_open = now;
	d->first_cpu = d->last_cpu = targets_cpu(s);
	d->open_cost = d->first_cost = d->last_cost = probes_cost(s, d);
	d->first_self = d->last_self = self_ns();
	d->last_idle = machine_idle_ns();
	d->use_io = -1;
	d->open_bytes = d->first_bytes = d->last_bytes = socket_bytes(s);
	d->open_io = d->first_io = io_bytes(s);
	d->open_cpu = d->first_cpu;
	d->whole_on = 1;
	d->cpu_factor = 1;
	d->tokens = d->loan = d->budget * BUCKET_NS;
	d->rng = (uint32_t)(now ^ (now >> 32) ^ (uint64_t)getpid() << 16) | 1;
	delay_open(s, d);
	s->duty = d;
	return 0;
}

void ls_duty_rebase(struct ls_session *s)
{
	struct ls_duty *d = s->duty;
	uint64_t now_cost;
	double ratio;

	if (!d)
		return;
	/*
	 * What the calls so far cost, valued anew: every baseline is valued anew in the
	 * same proportion, so no step is seen and none falls below zero (costs that went
	 * down moved a baseline of 0 below it, and the whole run read 0%).
	 */
	now_cost = probes_cost(s, d);
	ratio = d->last_cost ? (double)now_cost / (double)d->last_cost : 1.0;
	d->open_cost = (uint64_t)((double)d->open_cost * ratio);
	d->first_cost = (uint64_t)((double)d->first_cost * ratio);
	d->last_cost = now_cost;
}

void ls_duty_free(struct ls_duty *d)
{
	free(d);
}

/* Close the step [last_t, now]: the emergency rule's second and, when attached throughout, overhead_on. */
static void measure_step(struct ls_session *s, struct ls_duty *d, uint64_t now, int detached)
{
	/* In a gap the library probes are off: what still grows is the programs that stay. */
	uint64_t cost = d->state == DUTY_OFF && !detached ? gap_cost(s, d, 1) : probes_cost(s, d), cpu = targets_cpu(s);
	uint64_t bytes = traffic(s, d);
	uint64_t dc = cost > d->last_cost ? cost - d->last_cost : 0;
	uint64_t wall = now - d->last_t, dcpu = cpu > d->last_cpu ? cpu - d->last_cpu : 0;
	uint64_t denom = wall > dcpu ? wall : dcpu, charge = dc;
	uint64_t me = self_ns(), idle = machine_idle_ns();
	uint64_t dme = since(me, d->last_self), didle = since(idle, d->last_idle);
	double income;

	/*
	 * What the step is charged: the per-hit measure, or the in-situ one when it says more
	 * (the window's gap was drawn from the larger too). Charged the per-hit measure alone,
	 * the bucket filled faster than windows spent it, and a window stayed open until it
	 * had spent a full bucket: about three times the budget on a saturated server.
	 */
	if (d->whole_on && d->situ_rate * (double)denom > (double)dc)
		charge = (uint64_t)(d->situ_rate * (double)denom);
	/*
	 * The detach itself (detached): the probes fire until the kernel has taken them all
	 * out, a tenth of a second on a busy machine. Its hits are valued at the in-situ cost
	 * per hit of the windows (in-situ over per-hit rate), and it is no baseline of the
	 * targets with the probes off.
	 */
	if (detached && d->on_rate > 0 && d->situ_rate > d->on_rate)
		charge = (uint64_t)((double)dc * d->situ_rate / d->on_rate);
	/* latscope's own CPU where the machine had none idle to give it: others' time. */
	if (idle && dme > didle) {
		charge += dme - didle;
		d->st.self_charged_ns += dme - didle;
	}
	d->charged += charge;
	d->second[d->istep++ % SECOND_STEPS] = (struct duty_step){ charge, denom };
	if (wall)
		d->cpu_factor = (1 - SMOOTH) * d->cpu_factor + SMOOTH * (double)denom / (double)wall;
	/*
	 * The bucket starts full, lent: the income of the first seconds pays it back before
	 * it fills the bucket again. A burst at start is traced whole, and a saturated
	 * server's first window, which spends all of it, is repaid by longer gaps after it:
	 * from the start on, the run's average holds to the budget (the full bucket given,
	 * a ten-second run at 5% had cost 6.5%).
	 */
	income = d->budget * (double)denom;
	if (d->loan > 0) {
		double pay = income < d->loan ? income : d->loan;

		d->loan -= pay;
		income -= pay;
	}
	d->tokens += income - (double)charge;
	if (d->tokens > d->budget * BUCKET_NS * d->cpu_factor)
		d->tokens = d->budget * BUCKET_NS * d->cpu_factor;
	if (d->tokens < -d->budget * BUCKET_NS * d->cpu_factor)
		d->tokens = -d->budget * BUCKET_NS * d->cpu_factor;
	if (d->whole_on && wall >= STEP_NS / 2 && denom) {
		double r = (double)dc / (double)denom;

		d->on_rate = d->on_rate > 0 ? (1 - SMOOTH) * d->on_rate + SMOOTH * r : r;
	} else if (!d->whole_on && !detached) {
		d->off_cpu = OFF_DECAY * d->off_cpu + (double)dcpu;
		d->off_bytes = OFF_DECAY * d->off_bytes + (double)since(bytes, d->last_bytes);
	}
	d->last_t = now;
	d->last_bytes = bytes;
	d->last_cost = cost;
	d->last_cpu = cpu;
	d->last_self = me;
	if (idle)
		d->last_idle = idle;
	d->whole_on = d->state != DUTY_OFF;
}

static void measure(struct ls_session *s, struct ls_duty *d, uint64_t now)
{
	measure_step(s, d, now, 0);
}

/* What attached probes cost now: the model's measure, or the in-situ one when it says more. */
static double rate_on(const struct ls_duty *d)
{
	return d->situ_rate > d->on_rate ? d->situ_rate : d->on_rate;
}

/* The targets' CPU beyond what bytes of traffic took with the probes off; -1 when that is not known yet. */
static double situ_extra(const struct ls_duty *d, uint64_t cpu, uint64_t bytes)
{
	double base;

	if (d->off_cpu < SITU_MIN_CPU_NS || d->off_bytes <= 0)
		return -1;
	base = d->off_cpu / d->off_bytes * (double)bytes;
	return (double)cpu > base ? (double)cpu - base : 0;
}

/*
 * The window's cost in situ: the targets' CPU in it beyond what its socket bytes took
 * with the probes off. It catches what the per-hit costs calibrated at start miss (a
 * hit in a busy server costs more than in latscope's tight loop: caches, locks). Known
 * once the probes were off long enough to count a fair amount of CPU; 0 before.
 */
static uint64_t window_situ_cost(struct ls_duty *d, uint64_t now)
{
	uint64_t cpu = d->last_cpu - d->open_cpu, bytes = since(d->last_bytes, d->open_bytes);
	uint64_t wall = now - d->since, denom = wall > cpu ? wall : cpu;
	double extra = situ_extra(d, cpu, bytes);

	if (extra < 0 || !denom)
		return 0;
	d->situ_rate = d->situ_rate > 0 ? (1 - SMOOTH) * d->situ_rate + SMOOTH * extra / (double)denom
				    : extra / (double)denom;
	return (uint64_t)extra;
}

/*
 * A window with its drain and detach costs one budget over one second, so that the
 * emergency rule (twice the budget) stays for what the measure did not foresee. What
 * the drain and detach cost is what the last ones were charged; before the first, they
 * are taken to cost as much as the window.
 */
static uint64_t window_len(const struct ls_duty *d)
{
	double second = d->budget * 1e9 * d->cpu_factor, rate = rate_on(d) * d->cpu_factor;
	double ns;

	if (rate <= 0)
		return WINDOW_MAX_NS;
	ns = d->trans_cost > 0 ? (second - d->trans_cost) / rate : second / (2 * rate);

	return ns > WINDOW_MAX_NS ? WINDOW_MAX_NS : ns < WINDOW_MIN_NS ? WINDOW_MIN_NS : (uint64_t)ns;
}

/*
 * What a window may leave unspent for its drain: as much as the window cost, at most
 * half a budget over a second.
 */
static double drain_allowance(const struct ls_duty *d)
{
	double drain = d->budget * 5e8 * d->cpu_factor, spent = (double)(d->charged - d->open_charged);

	return drain > spent ? spent : drain;
}

/*
 * When the current window closes, or the next opens (0: at the next step): a window below
 * duty 1 that has spent the budget closes at its length, not at the step after (a step is
 * 50 ms: more than a whole window at a low budget), and a gap ends when drawn.
 */
static uint64_t due_at(const struct ls_duty *d)
{
	double left, spend;
	uint64_t due;

	if (d->state == DUTY_OFF)
		return d->next_open;
	if (d->state != DUTY_ON || d->duty >= 1)
		return 0;
	due = d->since + window_len(d);
	/* The budget still unspent at the last step runs out at the attached rate, less the income. */
	left = d->tokens - drain_allowance(d);
	spend = (rate_on(d) - d->budget) * d->cpu_factor;
	if (left > 0 && spend > 0) {
		/* Capped (a rate just over the budget spends a full bucket in minutes): the step then measures again. */
		double wait = left / spend < BUCKET_NS ? left / spend : BUCKET_NS;

		if (d->last_t + (uint64_t)wait > due)
			due = d->last_t + (uint64_t)wait;
	}
	/* Not before a millisecond after the last step: a budget that outlasts the guess is measured again then. */
	return due > d->last_t + DUE_MIN_NS ? due : d->last_t + DUE_MIN_NS;
}

static int past_twice_budget(const struct ls_duty *d)
{
	uint64_t cost = 0, denom = 0;

	for (int i = 0; i < SECOND_STEPS; i++) {
		cost += d->second[i].cost;
		denom += d->second[i].denom;
	}
	return denom >= 500000000ull && (double)cost > 2 * d->budget * (double)denom;
}

/*
 * Empty a map; with counted, the entries whose start (the value's first u64) lies in [lo, hi).
 * With keep_sio, keys that begin with a syscall-reader connection id (ls_conn_key and
 * ls_req_key do) stay: those connections are followed without uprobes, through the gap.
 */
static uint64_t clear_map(struct bpf_map *m, uint64_t lo, uint64_t hi, int counted, int keep_sio)
{
	size_t ksz = bpf_map__key_size(m), vsz = bpf_map__value_size(m);
	char *key = malloc(ksz), *next = malloc(ksz), *val = malloc(vsz);
	int fd = bpf_map__fd(m), have = 0, drop = 0;
	uint64_t n = 0, start, conn;

	if (!key || !next || !val)
		goto out;
	/* A key is deleted once the walk has moved past it: from a deleted key it would start over. */
	while (bpf_map_get_next_key(fd, have ? key : NULL, next) == 0) {
		if (drop)
			bpf_map_delete_elem(fd, key);
		memcpy(key, next, ksz);
		have = 1;
		memcpy(&conn, key, ksz >= sizeof(conn) ? sizeof(conn) : 0);
		drop = !(keep_sio && ksz >= sizeof(conn) && (conn & LS_SIO_CONN_BIT));
		if (drop && counted && bpf_map_lookup_elem(fd, key, val) == 0) {
			memcpy(&start, val, sizeof(start));
			n += start >= lo && start < hi;
		}
	}
	if (drop)
		bpf_map_delete_elem(fd, key);
out:
	free(key);
	free(next);
	free(val);
	return n;
}

/* Requests started inside [lo, hi) still in flight. */
static uint64_t inflight(struct ls_session *s, uint64_t lo, uint64_t hi)
{
	struct bpf_map *m = s->skel->maps.reqs;
	struct ls_req_key key, next, *prev = NULL;
	char val[512];
	uint64_t n = 0, start;
	int fd = bpf_map__fd(m);

	if (bpf_map__value_size(m) > sizeof(val))
		return 0;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, val) == 0) {
			memcpy(&start, val, sizeof(start));
			n += start >= lo && start < hi;
		}
	}
	return n;
}

/*
 * A window opens: the gap's traffic joins the gaps' pace (the gap's wall time joined
 * off_wall in delay_open, which calls this: the counter is decided before the first
 * gap, so the two sums cover the same gaps). The pace is read from the
 * targets' read/write bytes (/proc/PID/io), counted whether probes are on or not, once
 * the first window has shown that they follow the socket bytes (use_io).
 */
static void pace_open(struct ls_session *s, struct ls_duty *d, uint64_t now, uint64_t delay)
{
	uint64_t bytes = io_bytes(s), busy = targets_cpu(s) + delay;

	if (d->gap_t && d->use_io == 1) {
		uint64_t b = since(bytes, d->pace_gap), t = now - d->gap_t;

		d->pace_off_b = DELAY_DECAY * d->pace_off_b + (double)b;
		d->pace_off_busy = DELAY_DECAY * d->pace_off_busy + (double)since(busy, d->pace_busy_gap);
		d->st.pace_gap_bytes += b;
		d->st.pace_gap_ns += t;
	}
	d->pace_open = bytes;
	d->pace_busy_open = busy;
	d->pace_charged = d->charged;
}

/*
 * The window's probes are gone: on a target that moved fewer bytes per second from the
 * window's open to here than in the gaps (a saturated server, slowed), the time it would
 * have taken at the gaps' pace to move what it did, short of the time it took, is what
 * the window cost it, whatever took it: traps, its wait for a CPU, its sleep on its mmap
 * lock while breakpoints went in or out, its clients slowed on a shared machine. What
 * exceeds the window's charge so far is charged. Both paces are decaying sums over a few
 * windows and gaps, so that one window's noise (bursty clients) mostly averages out. A
 * load that falls while a window is open would read as a slowdown: a window in which the
 * targets ran or waited for a CPU at under PACE_BUSY of the gaps' rate of it (they slept
 * for want of work; a saturated server slowed by the probes still runs or waits 0.97 of
 * it) is left out (pace_idle_windows). One that rises is not credited. Without a gaps'
 * pace (the first window, or targets whose read/write bytes are not their traffic)
 * nothing is charged.
 */
static void pace_close(struct ls_session *s, struct ls_duty *d, uint64_t now, uint64_t delay)
{
	uint64_t bytes = io_bytes(s), span = now - d->open_delay_t, b = since(bytes, d->pace_open);
	uint64_t busy = targets_cpu(s) + delay;
	double lost, pace;
	int idle = d->off_wall > 0 && d->pace_off_busy > 0 &&
		   (double)since(busy, d->pace_busy_open) / (double)span < PACE_BUSY * d->pace_off_busy / d->off_wall;

	d->st.pace_idle_windows += d->use_io == 1 && idle;
	if (d->use_io == 1 && !idle) {
		d->pace_on_b = DELAY_DECAY * d->pace_on_b + (double)b;
		d->pace_on_t = DELAY_DECAY * d->pace_on_t + (double)span;
		d->st.pace_win_bytes += b;
		d->st.pace_win_ns += span;
		if (d->off_wall >= DELAY_MIN_NS && d->pace_off_b > 0 && d->pace_on_t > 0) {
			pace = d->pace_on_b / d->pace_on_t / (d->pace_off_b / d->off_wall);
			lost = pace < 1 ? (1 - pace) * (double)span * d->cpu_factor : 0;
			lost -= (double)since(d->charged, d->pace_charged);
			if (lost > 0) {
				d->charged += (uint64_t)lost;
				d->tokens -= lost;
				d->st.pace_situ_ns += (uint64_t)lost;
			}
		}
	}
	d->pace_gap = bytes;
	d->pace_busy_gap = busy;
}

/*
 * A window opens (before its probes go in): the gap that ends here tells how long the
 * targets' threads wait for a CPU with the probes off.
 */
static void delay_open(struct ls_session *s, struct ls_duty *d)
{
	uint64_t delay = ls_procs_run_delay_ns(s->pids, s->npids), now = ls_now_ns();

	if (d->gap_t) {
		d->off_delay = DELAY_DECAY * d->off_delay + (double)since(delay, d->gap_delay);
		d->off_wall = DELAY_DECAY * d->off_wall + (double)(now - d->gap_t);
	}
	d->open_delay = delay;
	d->open_delay_t = now;
	d->open_self_charged = d->st.self_charged_ns;
	pace_open(s, d, now, delay);
}

/*
 * The window's probes are gone: what the targets' threads waited for a CPU from its open
 * to here (its attach, drain and detach included) beyond their wait in the gaps is what
 * latscope took from them meanwhile (its record handling on their CPU, the kernel's work
 * for the attach and detach) and is charged, less the part of latscope's own CPU already
 * charged. A saturated server waited 7.6% of a window's time against 0.1% in the gaps,
 * and that time lost is in neither the probes' measure nor the CPU per byte (2-CPU bench).
 */
static void delay_close(struct ls_session *s, struct ls_duty *d)
{
	uint64_t delay = ls_procs_run_delay_ns(s->pids, s->npids), now = ls_now_ns();
	double extra = (double)since(delay, d->open_delay);

	if (d->off_wall >= DELAY_MIN_NS) {
		extra -= d->off_delay / d->off_wall * (double)(now - d->open_delay_t);
		extra -= (double)since(d->st.self_charged_ns, d->open_self_charged);
		if (extra > 0) {
			d->charged += (uint64_t)extra;
			d->tokens -= extra;
			d->st.delay_situ_ns += (uint64_t)extra;
		}
	}
	pace_close(s, d, now, delay);
	d->gap_delay = delay;
	d->gap_t = now;
}

/*
 * The probes go: what they left of connections and requests goes too (it would be
 * wrong after the gap), the requests the window saw start and not end are counted
 * abandoned, and request assembly hears of the gap after every record before it.
 */
static void window_detach(struct ls_session *s, struct ls_duty *d, uint64_t now)
{
	struct latscope_bpf *k = s->skel;
	struct ls_rec_hdr gap = { .type = LS_REC_GAP };
	struct bpf_map *drop[] = { k->maps.conns, k->maps.threads, k->maps.gthreads, k->maps.gcur,
				   k->maps.go_serving, k->maps.hs_start, k->maps.sys_calls, k->maps.net_calls };
	uint64_t t = ls_now_ns(), on, wcost, situ, cpu0, bytes0, charged0;
	struct ls_links *sets[2];
	struct bpf_link *more[2];
	struct sched_param prio;
	int sio, khook, pol;
	double off, extra;

	measure(s, d, now);
	situ = window_situ_cost(d, now);
	cpu0 = d->last_cpu;
	bytes0 = d->last_bytes;
	charged0 = d->charged;
	/*
	 * Everything the gap takes goes at once: the library probes; the syscall entry (it serves
	 * traced calls only; what it left, sys_calls, is stale after the gap); the syscall reader
	 * unless it follows plaintext connections; the kernel hooks when the traffic has another
	 * counter. In turn, each hook stayed on through the others' waits for the kernel (a tenth
	 * of a second each on a busy machine, the syscall hooks costing every process meanwhile).
	 */
	sio = ls_session_sio_can_go(s);
	khook = d->use_io == 1 && (!s->sio_exit || sio) && ls_links_count(s->klinks);
	sets[0] = s->ulinks;
	sets[1] = khook ? s->klinks : NULL;
	more[0] = s->sys_enter;
	more[1] = sio ? s->sio_exit : NULL;
	pol = idle_begin(&prio);
	ls_links_detach_all(sets, 2, more, 2);
	idle_end(pol, &prio);
	s->sys_enter = NULL;
	if (sio)
		s->sio_exit = NULL;
	d->st.sio_cycled += sio;
	if (d->use_io == 1 && s->sio_exit)
		snprintf(d->khook_why, sizeof(d->khook_why), "the syscall reader follows plaintext connections through the gaps");
	else if (khook) {
		d->khook_off = 1;
		d->st.khook_cycled++;
	}
	d->st.detach_ns += ls_now_ns() - t;
	d->st.detaches++;
	ls_calib_bg_hold(s->calib, 1);
	ring_buffer__consume(s->rb);
	d->st.abandoned += clear_map(k->maps.reqs, d->win_open, k->bss->req_hi, 1, 1);
	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		clear_map(drop[i], 0, 0, 0, drop[i] == k->maps.conns);
	d->st.gaps++;
	if (s->on_event)
		s->on_event(s->ctx, &gap, sizeof(gap));
	d->state = DUTY_OFF;
	d->whole_on = 0;
	/* The window lasted until the detach was done: the gap starts there. */
	now = ls_now_ns();
	on = now - d->since;
	measure_step(s, d, now, 1);
	/*
	 * The detach in situ: a saturated server ran at 85-95% of its pace for the tenth of a
	 * second it took, more than its hits valued at the windows' rate (2-CPU bench). What the
	 * targets' CPU per byte says beyond its charge is charged too.
	 */
	extra = situ_extra(d, since(d->last_cpu, cpu0), since(d->last_bytes, bytes0));
	if (extra > (double)(d->charged - charged0)) {
		extra -= (double)(d->charged - charged0);
		d->charged += (uint64_t)extra;
		d->tokens -= extra;
		d->st.detach_situ_ns += (uint64_t)extra;
	}
	delay_close(s, d);
	/*
	 * Off long enough that the window's measured cost (drain included: per hit, in situ or
	 * as charged, the largest), spread over it and the gap after it, is the budget, and
	 * that the bucket is out of debt again (what windows were charged beyond their own
	 * measure, or cost before the first in-situ measure, is paid back: the bucket's floor,
	 * a second's budget of debt, bounds what is);
	 * drawn at random around that. The denominator grows with the targets' CPU when they
	 * use more than one.
	 */
	wcost = d->last_cost > d->open_cost ? d->last_cost - d->open_cost : 0;
	if (situ > wcost)
		wcost = situ;
	if (d->charged - d->open_charged > wcost)
		wcost = d->charged - d->open_charged;
	off = (double)wcost / (d->budget * d->cpu_factor) - (double)on;
	if (d->tokens < 0 && -d->tokens / (d->budget * d->cpu_factor) > off)
		off = -d->tokens / (d->budget * d->cpu_factor);
	if (off < 0)
		off = 0;
	if (off > OFF_MAX_NS)
		off = OFF_MAX_NS;
	off *= 0.5 + uniform(d);
	/*
	 * Two windows that each cost three quarters of a budget over a second or more (the next
	 * costs about what this one did), less than a second apart, came near twice the budget
	 * over that second, and the noise in what a window costs took the later past it: cut at
	 * once by the emergency rule, its requests abandoned. They stay a second apart.
	 */
	if ((double)wcost >= 0.75 * d->budget * 1e9 * d->cpu_factor && off < 1e9 - (double)on)
		off = 1e9 - (double)on;
	d->next_open = now + (uint64_t)off;
	/* What the drain and the detach were charged: the next window leaves room for as much. */
	{
		double trans = (double)since(d->charged, d->close_charged);

		d->trans_cost = d->trans_cost > 0 ? (1 - SMOOTH) * d->trans_cost + SMOOTH * trans : trans;
	}
	d->since = now;
}

/*
 * At the first window's close, the kernel hooks on since start: when the targets' read/write
 * bytes moved with their socket bytes, they count the traffic from here on, from the start.
 */
static void choose_counter(struct ls_session *s, struct ls_duty *d)
{
	uint64_t io = io_bytes(s), sock = since(socket_bytes(s), d->first_bytes), moved = since(io, d->first_io);

	d->use_io = 0;
	if (!sock) {
		snprintf(d->khook_why, sizeof(d->khook_why), "they counted no socket bytes");
		return;
	}
	/* Files read or written per request add to the counters: up to 4x the socket bytes is still the traffic's measure. */
	if ((double)moved < 0.9 * (double)sock || (double)moved > 4.0 * (double)sock) {
		snprintf(d->khook_why, sizeof(d->khook_why),
			 "the targets' read/write bytes (%llu) do not follow their socket bytes (%llu): recv/send, or file I/O",
			 (unsigned long long)moved, (unsigned long long)sock);
		return;
	}
	d->use_io = 1;
	d->first_bytes = d->first_io;
	d->open_bytes = d->open_io;
	d->last_bytes = io;
}

static void window_close(struct ls_session *s, struct ls_duty *d, uint64_t now, int at_once)
{
	uint64_t bytes;

	if (d->use_io < 0)
		choose_counter(s, d);
	/*
	 * The window's requests and its bytes end at one instant: the step's time is its
	 * measure old (0.3-1 ms here), and the bytes read since were counted in a window
	 * whose requests ended before them (the estimate read a point low at 1%).
	 */
	bytes = traffic(s, d);
	now = ls_now_ns();
	s->skel->bss->req_hi = now;
	d->bytes_in += since(bytes, d->open_bytes);
	d->st.sampled_ns += now - d->win_open;
	d->st.windows++;
	d->drain_check = now;
	d->close_charged = d->charged;
	if (at_once) {
		d->st.emergency++;
		window_detach(s, d, now);
		return;
	}
	d->state = DUTY_DRAIN;
}

static void window_open(struct ls_session *s, struct ls_duty *d, uint64_t now)
{
	size_t done = 0;
	uint64_t t;
	int r;

	measure(s, d, now);
	delay_open(s, d);
	t = ls_now_ns();
	/* The kernel hooks first: the library probes feed on what they keep. */
	if (d->khook_off) {
		if (ls_khook_reattach(s))
			snprintf(d->reason, sizeof(d->reason), "%s", s->err);
		else
			d->khook_off = 0;
	}
	r = ls_session_sys_enter_attach(s);
	if (!r)
		r = ls_session_sio_attach(s);
	if (!r)
		r = ls_uprobe_attach(s->ulinks, s->plan, s->nplan, s->uprobe_multi, &done, s->err);
	d->st.attach_ns += ls_now_ns() - t;
	d->st.attaches++;
	ls_calib_bg_hold(s->calib, 0);
	if (r || d->khook_off) {
		/* Whatever attached stays for good: nothing is cycled any more, the reason is kept. */
		if (r)
			snprintf(d->reason, sizeof(d->reason), "%s", s->err);
		d->failed = d->reason;
		d->duty = 1.0;
	}
	d->open_cost = probes_cost(s, d);
	d->open_charged = d->charged;
	d->open_cpu = targets_cpu(s);
	d->open_io = io_bytes(s);
	d->open_bytes = d->use_io == 1 ? d->open_io : traffic(s, d);
	/* Requests count from the instant the bytes were read, as at the close. */
	now = ls_now_ns();
	s->skel->bss->req_lo = now;
	s->skel->bss->req_hi = 0;
	d->win_open = now;
	d->since = now;
	d->state = DUTY_ON;
	d->whole_on = 1;
}

/* The window's requests have ended, or the drain has lasted as long as the window. */
static int drained(struct ls_session *s, const struct ls_duty *d, uint64_t now)
{
	uint64_t hi = s->skel->bss->req_hi;

	return inflight(s, d->win_open, hi) == 0 || now - hi >= hi - d->win_open;
}

int ls_duty_wait_ms(struct ls_session *s, int timeout_ms)
{
	const struct ls_duty *d = s->duty;
	uint64_t due, now;
	int ms;

	if (!d || d->failed)
		return timeout_ms;
	if (d->state == DUTY_DRAIN)
		return timeout_ms < 0 || timeout_ms > DRAIN_POLL_MS ? DRAIN_POLL_MS : timeout_ms;
	due = due_at(d);
	if (!due)
		return timeout_ms;
	now = ls_now_ns();
	ms = due <= now ? 0 : (int)((due - now + 999999) / 1000000);
	return timeout_ms < 0 || timeout_ms > ms ? ms : timeout_ms;
}

void ls_duty_step(struct ls_session *s)
{
	struct ls_duty *d = s->duty;
	uint64_t now = ls_now_ns(), due;

	if (!d || d->failed)
		return;
	/*
	 * A drain ends as soon as the window's last request has: at the step's pace it lasted
	 * a whole step (as costly as the window) for requests that end within milliseconds.
	 */
	if (d->state == DUTY_DRAIN && now - d->drain_check >= DRAIN_POLL_MS * 1000000ull) {
		d->drain_check = now;
		if (drained(s, d, now)) {
			window_detach(s, d, now);
			return;
		}
	}
	due = due_at(d);
	if (now - d->last_t < STEP_NS && !(due && now >= due))
		return;
	measure(s, d, now);
	if (rate_on(d) > 0)
		d->duty = d->budget / rate_on(d) > 1 ? 1 : d->budget / rate_on(d);
	if (d->duty < d->st.duty_min)
		d->st.duty_min = d->duty;
	if (d->state != DUTY_OFF && past_twice_budget(d)) {
		if (d->state == DUTY_ON)
			window_close(s, d, now, 1);
		else
			window_detach(s, d, now);
		return;
	}
	switch (d->state) {
	case DUTY_ON: {
		/*
		 * Past a window's length, and the budget of the last seconds spent but what the
		 * drain may cost: as much as the window, at most, and half a budget over a second
		 * (a window with its drain and detach costs one: window_len()). Closed later, window and drain
		 * overran twice the budget over a second and were cut at once, requests abandoned.
		 */
		if (d->duty < 1 && d->tokens <= drain_allowance(d) && now - d->since >= window_len(d))
			window_close(s, d, now, 0);
		break;
	}
	case DUTY_DRAIN:
		/* As long as the window was, at most: a window and its drain cost the budget over one second. */
		if (drained(s, d, now))
			window_detach(s, d, now);
		break;
	case DUTY_OFF:
		if (now >= d->next_open)
			window_open(s, d, now);
		break;
	}
}

int ls_session_duty(struct ls_session *s, struct ls_duty_stats *out)
{
	struct ls_duty *d = s->duty;
	uint64_t now = ls_now_ns(), cost, cpu, wall, bytes, bytes_in;

	memset(out, 0, sizeof(*out));
	if (!d) {
		out->duty = out->duty_min = out->sampled_share = out->traffic_share = 1.0;
		out->attached = s->nuprobes > 0;
		return -ENOENT;
	}
	*out = d->st;
	out->budget = d->budget;
	out->duty = d->duty;
	out->overhead_on = rate_on(d);
	out->overhead_situ = d->situ_rate;
	out->attached = d->state != DUTY_OFF;
	out->failed = d->failed;
	wall = now - d->t0;
	out->elapsed_ns = wall;
	/* The window open now counts up to now. */
	if (d->state == DUTY_ON)
		out->sampled_ns += now - d->win_open;
	out->sampled_share = wall ? (double)out->sampled_ns / (double)wall : 1.0;
	if (out->sampled_share > 1)
		out->sampled_share = 1;
	cost = d->state == DUTY_OFF ? gap_cost(s, d, 0) : probes_cost(s, NULL);
	cpu = targets_cpu(s);
	out->cost_ns = cost > d->first_cost ? cost - d->first_cost : 0;
	out->self_ns = self_ns() - d->first_self;
	cpu = cpu > d->first_cpu ? cpu - d->first_cpu : 0;
	out->denom_ns = wall > cpu ? wall : cpu;
	out->overhead = out->denom_ns ? (double)out->cost_ns / (double)out->denom_ns : 0;
	out->charged_ns = d->charged;
	out->charged = out->denom_ns ? (double)d->charged / (double)out->denom_ns : 0;
	bytes = traffic(s, d);
	bytes_in = d->bytes_in + (d->state == DUTY_ON ? since(bytes, d->open_bytes) : 0);
	bytes = since(bytes, d->first_bytes);
	out->traffic_counter = d->use_io == 1 ? "read_write" : "socket";
	out->khook_stays = d->khook_why[0] ? d->khook_why : NULL;
	out->traffic_share = bytes && bytes_in ? (double)bytes_in / (double)bytes : 0;
	out->bytes_all = bytes;
	out->bytes_in = bytes_in;
	/* The windows' pace over the gaps', over the whole run, and what the run lost by it. */
	out->pace_windows = -1;
	if (d->st.pace_gap_ns >= DELAY_MIN_NS && d->st.pace_gap_bytes && d->st.pace_win_ns) {
		out->pace_windows = (double)d->st.pace_win_bytes / (double)d->st.pace_win_ns /
				    ((double)d->st.pace_gap_bytes / (double)d->st.pace_gap_ns);
		if (out->pace_windows < 1 && wall)
			out->pace_lost = (1 - out->pace_windows) * (double)d->st.pace_win_ns / (double)wall;
	}
	return 0;
}
