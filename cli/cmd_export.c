/* latscope export: a long-running agent serving request metrics to Prometheus. */
#include "cli.h"
#include "catalog.h"
#include "export_profile.h"
#include "httpd.h"
#include "jsonw.h"
#include "otlp_send.h"
#include "procmaps.h"
#include "procscan.h"
#include "promexp.h"
#include "requests.h"
#include "util.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char usage_text[] =
	"usage: latscope export (-p PID [-p PID...] | --comm NAME | --exe PATH | --cgroup PATH)\n"
	"                       [--listen ADDR] [--service-name NAME]\n"
	"                       [--otlp-endpoint URL] [--pyroscope URL] [--parca URL] [--profile-every DUR]\n"
	"                       [--profile-hz N] [--off-cpu]\n"
	"                       [--threshold DURATION] [--max-methods N] [--max-series N] [--rescan DURATION]\n"
	"                       [--log-format text|json] [-d DURATION] [--kernel-hook H] [--placement P]\n"
	"                       [--phases LIST] [--overhead PCT|off] [-v]\n"
	"\n"
	"Attaches to servers and serves their requests' latency, per method and per\n"
	"phase, as Prometheus metrics on http://ADDR/metrics, until SIGINT/SIGTERM.\n"
	"Logs one line per event on stderr.\n"
	"\n"
	"  -p, --pid PID          target process (repeatable, up to 8); export stops when all have exited\n"
	"      --comm NAME        every process named NAME (up to 8), now and as they start or exit\n"
	"      --exe PATH         every process running the executable PATH (likewise)\n"
	"      --cgroup PATH      every process in the cgroup v2 PATH or below it (likewise)\n"
	"                         (--comm, --exe and --cgroup together: processes matching all)\n"
	"      --rescan DUR       how often --comm, --exe, --cgroup look for processes (default 2s)\n"
	"      --listen ADDR      HOST:PORT, [IPV6]:PORT or :PORT to serve /metrics on (default 127.0.0.1:9464)\n"
	"      --service-name N   the service_name label (default: each target's comm)\n"
	"      --otlp-endpoint URL  send each slow request as an OTLP trace (JSON) to URL/v1/traces\n"
	"      --pyroscope URL    push CPU profiles (pprof, samples labelled phase and slow) to Pyroscope\n"
	"      --parca URL        push them to Parca (WriteRaw, gRPC; http:// is HTTP/2 in the clear)\n"
	"      --profile-every D  how often (default 15s)\n"
	"      --profile-hz N     CPU samples per second while profiling (default 49)\n"
	"      --off-cpu          also push where the targets' threads blocked (latscope_off_cpu)\n"
	"  -t, --threshold DUR    a request at least this long is slow (default 10ms)\n"
	"      --max-methods N    distinct methods (routes) per service; the rest count as _OTHER (default 500)\n"
	"      --max-series N     request series kept in all, each ~90 KB of /metrics; the rest are counted\n"
	"                         as lost (default 1000)\n"
	"      --log-format F     text (default) or json, one object per line\n"
	"  -d, --duration DUR     stop after DUR\n"
	"      --kernel-hook H    force a kernel hook variant (fentry, kprobe, tracepoint)\n"
	"      --btf FILE         kernel BTF to use instead of /sys/kernel/btf/vmlinux\n"
	"      --placement P      library probes at entry, callsite or auto (default)\n"
	"      --phases LIST      attach only what these phases need (tls,h2,proto,net; default all)\n"
	CLI_OVERHEAD_HELP
	"  -v, --verbose          show the kernel hook choice and missing probes\n"
	"\n"
	"exit status: 0 success (also when every -p target exits), 1 runtime error, 2 usage error\n";

#define SERVICES_MAX 64
/* Every EXPIRE_NS the request assembly forgets connections idle for EXPIRE_KEEP such rounds. */
#define EXPIRE_NS 10000000000ull
#define EXPIRE_KEEP 60

struct target {
	pid_t pid;
	char comm[64];
	char exe[LS_PATH_LEN];
	char service[128];
	uint64_t cpu0, cpu; /* CPU time at attach, and when last read */
};

/* latscope's own costs, summed over the sessions that ended and the one running. */
struct health {
	uint64_t drops;
	uint64_t resets; /* requests reset before their response ended */
	uint64_t calls[LS_PROBE_COUNT];
	uint64_t est_ns, cpu_ns;
	double sampled_share, duty; /* the running session's overhead budget (1 without one) */
};

struct export {
	struct cli_common c;     /* the shared options; pids are the current targets */
	pid_t fixed[MAX_PIDS];   /* -p */
	size_t nfixed;
	struct ls_proc_match match; /* --comm, --exe, --cgroup */
	int follow;                 /* one of them was given */
	const char *service, *listen, *otlp, *pyroscope, *parca;
	uint64_t profile_every;
	unsigned int profile_hz;
	int offcpu;
	uint64_t threshold, rescan_ns;
	unsigned int max_methods, max_series;
	int log_json;
	struct target tg[MAX_PIDS];
	size_t ntg;
	pid_t failed[MAX_PIDS];  /* the targets of the last session that could not start */
	size_t nfailed;
	struct ls_session *s;
	struct ls_reqs *reqs;
	struct ls_prom *prom;
	struct ls_httpd *httpd;
	struct otlp_sender *sender;
	struct export_profiler *profiler;
	uint64_t realtime_off;   /* CLOCK_REALTIME - CLOCK_MONOTONIC, for spans' Unix times */
	int feed_err;
	struct health base;
	uint64_t sessions, limit_warned;
	struct {
		char name[128];
		uint64_t slow;
	} svc[SERVICES_MAX];
	size_t nsvc;
	uint64_t svc_folded;
	uint64_t conns_expired;
};

/* ---- Log lines ------------------------------------------------------------------ */

static void xlog(const struct export *x, const char *event, pid_t pid, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* One line per event: "TIME latscope: EVENT [pid N]: MESSAGE", or a JSON object. */
static void xlog(const struct export *x, const char *event, pid_t pid, const char *fmt, ...)
{
	char msg[1024], safe[4096], ts[40];
	struct timespec now;
	struct tm tm;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + strlen(ts), sizeof(ts) - strlen(ts), ".%03dZ", (int)(now.tv_nsec / 1000000));
	/* The OTLP sender's thread logs too: one line stays whole. */
	flockfile(stderr);
	if (x->log_json) {
		struct jw w;

		jw_init(&w, stderr);
		jw_obj(&w);
		jw_kstr(&w, "time", ts);
		jw_kstr(&w, "event", event);
		if (pid)
			jw_ki64(&w, "pid", pid);
		jw_kstr(&w, "msg", msg);
		jw_obj_end(&w);
	} else if (pid) {
		fprintf(stderr, "%s latscope: %s pid %d: %s\n", ts, event, (int)pid, cli_term_str(safe, sizeof(safe), msg));
	} else {
		fprintf(stderr, "%s latscope: %s: %s\n", ts, event, cli_term_str(safe, sizeof(safe), msg));
	}
	fflush(stderr);
	funlockfile(stderr);
}

/* ---- Requests ------------------------------------------------------------------- */

static const struct target *target_of(const struct export *x, pid_t pid)
{
	for (size_t i = 0; i < x->ntg; i++)
		if (x->tg[i].pid == pid)
			return &x->tg[i];
	return NULL;
}

static void count_slow(struct export *x, const char *service)
{
	size_t i;

	for (i = 0; i < x->nsvc && strcmp(x->svc[i].name, service); i++)
		;
	if (i == x->nsvc) {
		if (x->nsvc == SERVICES_MAX) {
			x->svc_folded++;
			return;
		}
		/* A target's service name always fits: both are 128 bytes. */
		strncpy(x->svc[x->nsvc].name, service, sizeof(x->svc[0].name) - 1);
		x->nsvc++;
	}
	x->svc[i].slow++;
}

static int on_event(void *ctxp, const void *rec, size_t size)
{
	struct export *x = ctxp;
	const struct ls_rec_hdr *h = rec;
	const struct target *t;
	struct ls_req_view v;
	int r;

	if (h->type != LS_REC_HEADERS && h->type != LS_REC_METHOD && h->type != LS_REC_REQUEST && h->type != LS_REC_GAP &&
	    h->type != LS_REC_H2TABLE)
		return 0;
	r = ls_reqs_feed(x->reqs, rec, size, &v);
	if (r < 0) {
		x->feed_err = -r;
		return -1;
	}
	if (r != 1 || !(t = target_of(x, (pid_t)v.rec->pid)))
		return 0;
	ls_prom_add(x->prom, t->service, &v);
	if (!(v.rec->flags & LS_RQ_SLOW))
		return 0;
	count_slow(x, t->service);
	if (x->sender) {
		struct ls_otlp_span sp;

		ls_otlp_span_from(&sp, &v, x->realtime_off, 0);
		otlp_sender_add(x->sender, &sp, t->service, ls_base_name(t->exe), (int)t->pid);
	}
	return 0;
}

/* ---- Latscope's own health ------------------------------------------------------ */

/* The running session's share of struct health, added to what ended before it. */
static void health_now(struct export *x, struct health *h)
{
	struct ls_duty_stats d;

	*h = x->base;
	h->sampled_share = h->duty = 1.0;
	if (!x->s)
		return;
	if (ls_session_duty(x->s, &d) == 0) {
		h->sampled_share = d.sampled_share;
		h->duty = d.duty;
	}
	h->drops += ls_session_counter(x->s, LS_CNT_RB_DROPS);
	h->resets += ls_session_counter(x->s, LS_CNT_REQ_RESET);
	for (unsigned int p = 0; p < LS_PROBE_COUNT; p++) {
		struct ls_stats st;
		unsigned int hits;
		const char *place;

		if (ls_session_stats(x->s, p, &st) || !st.calls)
			continue;
		h->calls[p] += st.calls;
		h->est_ns += st.calls * ls_session_probe_call_cost(x->s, p, &hits, &place);
	}
	for (size_t i = 0; i < x->ntg; i++) {
		uint64_t cpu;

		/* An exited target keeps the CPU time last read. */
		if (ls_proc_cpu_ns(x->tg[i].pid, &cpu) == 0 && cpu >= x->tg[i].cpu0)
			x->tg[i].cpu = cpu;
		h->cpu_ns += x->tg[i].cpu - x->tg[i].cpu0;
	}
}

static void write_otlp_health(struct export *x, FILE *f)
{
	struct otlp_stats o;

	if (!x->sender)
		return;
	otlp_sender_stats(x->sender, &o);
	fprintf(f, "# HELP latscope_otlp_requests_total Slow requests sent as OTLP spans, or dropped and why.\n"
		   "# TYPE latscope_otlp_requests_total counter\n"
		   "latscope_otlp_requests_total{outcome=\"sent\"} %llu\n"
		   "latscope_otlp_requests_total{outcome=\"queue_full\"} %llu\n"
		   "latscope_otlp_requests_total{outcome=\"rejected\"} %llu\n"
		   "latscope_otlp_requests_total{outcome=\"failed\"} %llu\n",
		(unsigned long long)o.sent, (unsigned long long)o.queue_full, (unsigned long long)o.rejected,
		(unsigned long long)o.failed);
	fprintf(f, "# HELP latscope_otlp_retries_total POSTs tried again: the collector was busy or unreachable.\n"
		   "# TYPE latscope_otlp_retries_total counter\nlatscope_otlp_retries_total %llu\n",
		(unsigned long long)o.retries);
}

static void write_profile_health(struct export *x, FILE *f)
{
	static const char *const dests[] = { "pyroscope", "parca" };
	struct prof_stats o;

	if (!x->profiler)
		return;
	fprintf(f, "# HELP latscope_profiles_total Profiles pushed, or dropped and why, by destination.\n"
		   "# TYPE latscope_profiles_total counter\n");
	for (int d = 0; d < 2; d++) {
		if (export_profiler_stats(x->profiler, (enum prof_dest)d, &o))
			continue;
		fprintf(f, "latscope_profiles_total{dest=\"%s\",outcome=\"pushed\"} %llu\n"
			   "latscope_profiles_total{dest=\"%s\",outcome=\"queue_full\"} %llu\n"
			   "latscope_profiles_total{dest=\"%s\",outcome=\"rejected\"} %llu\n"
			   "latscope_profiles_total{dest=\"%s\",outcome=\"failed\"} %llu\n",
			dests[d], (unsigned long long)o.pushed, dests[d], (unsigned long long)o.queue_full, dests[d],
			(unsigned long long)o.rejected, dests[d], (unsigned long long)o.failed);
	}
}

static void write_health(struct export *x, FILE *f)
{
	struct ls_prom_stats ps;
	struct ls_httpd_stats hs;
	struct health h;

	health_now(x, &h);
	ls_prom_stats(x->prom, &ps);
	ls_httpd_stats(x->httpd, &hs);
	fprintf(f, "# HELP latscope_build_info latscope's version.\n# TYPE latscope_build_info gauge\n"
		   "latscope_build_info{version=\"%s\"} 1\n", LATSCOPE_VERSION);
	fprintf(f, "# HELP latscope_target_info A process latscope is attached to.\n# TYPE latscope_target_info gauge\n");
	for (size_t i = 0; i < x->ntg; i++) {
		fprintf(f, "latscope_target_info{pid=\"%d\",comm=\"", (int)x->tg[i].pid);
		ls_prom_label(f, x->tg[i].comm);
		fputs("\",exe=\"", f);
		ls_prom_label(f, x->tg[i].exe);
		fputs("\",service_name=\"", f);
		ls_prom_label(f, x->tg[i].service);
		fputs("\"} 1\n", f);
	}
	fprintf(f, "# HELP latscope_slow_requests_total Requests at or over the slow threshold.\n"
		   "# TYPE latscope_slow_requests_total counter\n");
	for (size_t i = 0; i < x->nsvc; i++) {
		fputs("latscope_slow_requests_total{service_name=\"", f);
		ls_prom_label(f, x->svc[i].name);
		fprintf(f, "\"} %llu\n", (unsigned long long)x->svc[i].slow);
	}
	fprintf(f, "# HELP latscope_dropped_records_total Records lost because the ring buffer was full.\n"
		   "# TYPE latscope_dropped_records_total counter\nlatscope_dropped_records_total %llu\n",
		(unsigned long long)h.drops);
	fprintf(f, "# HELP latscope_reset_requests_total Requests whose stream was reset before their response ended "
		   "(RST_STREAM: a client that gave up, a server that refused): not in the request metrics.\n"
		   "# TYPE latscope_reset_requests_total counter\nlatscope_reset_requests_total %llu\n",
		(unsigned long long)h.resets);
	fprintf(f, "# HELP latscope_probe_calls_total Calls each probed function returned from.\n"
		   "# TYPE latscope_probe_calls_total counter\n");
	for (unsigned int p = 0; p < LS_PROBE_COUNT; p++)
		if (h.calls[p])
			fprintf(f, "latscope_probe_calls_total{probe=\"%s\"} %llu\n", ls_probe_name(p),
				(unsigned long long)h.calls[p]);
	fprintf(f, "# HELP latscope_overhead_ratio Estimated probe time over the CPU time the targets used.\n"
		   "# TYPE latscope_overhead_ratio gauge\nlatscope_overhead_ratio %.6f\n",
		h.cpu_ns ? (double)h.est_ns / (double)h.cpu_ns : 0.0);
	fprintf(f, "# HELP latscope_sampled_share Share of the time the library probes were attached (--overhead): "
		   "request counts are of that share.\n# TYPE latscope_sampled_share gauge\nlatscope_sampled_share %.4f\n"
		   "# HELP latscope_duty Share of the time the library probes are meant to be attached now.\n"
		   "# TYPE latscope_duty gauge\nlatscope_duty %.4f\n", h.sampled_share, h.duty);
	fprintf(f, "# HELP latscope_folded_requests_total Requests counted under method _OTHER, by why.\n"
		   "# TYPE latscope_folded_requests_total counter\n"
		   "latscope_folded_requests_total{reason=\"method_cap\"} %llu\n"
		   "latscope_folded_requests_total{reason=\"unnamed\"} %llu\n",
		(unsigned long long)ps.folded, (unsigned long long)ps.unnamed);
	fprintf(f, "# HELP latscope_lost_requests_total Requests not counted: the series limit was reached.\n"
		   "# TYPE latscope_lost_requests_total counter\nlatscope_lost_requests_total %llu\n",
		(unsigned long long)ps.lost);
	fprintf(f, "# HELP latscope_series Request series kept.\n# TYPE latscope_series gauge\nlatscope_series %llu\n",
		(unsigned long long)ps.series);
	fprintf(f, "# HELP latscope_connections_expired_total Connections forgotten after %llu s without a request.\n"
		   "# TYPE latscope_connections_expired_total counter\nlatscope_connections_expired_total %llu\n",
		EXPIRE_NS / 1000000000ull * EXPIRE_KEEP, (unsigned long long)x->conns_expired);
	fprintf(f, "# HELP latscope_sessions_total BPF sessions started (one more each time the targets change).\n"
		   "# TYPE latscope_sessions_total counter\nlatscope_sessions_total %llu\n",
		(unsigned long long)x->sessions);
	write_otlp_health(x, f);
	write_profile_health(x, f);
	fprintf(f, "# HELP latscope_scrape_connections_total Connections to this endpoint, by outcome.\n"
		   "# TYPE latscope_scrape_connections_total counter\n");
	fprintf(f, "latscope_scrape_connections_total{outcome=\"served\"} %llu\n", (unsigned long long)hs.served);
	fprintf(f, "latscope_scrape_connections_total{outcome=\"refused\"} %llu\n", (unsigned long long)hs.refused);
	fprintf(f, "latscope_scrape_connections_total{outcome=\"timeout\"} %llu\n", (unsigned long long)hs.timeouts);
	fprintf(f, "latscope_scrape_connections_total{outcome=\"aborted\"} %llu\n", (unsigned long long)hs.aborted);
}

static int on_http(void *ctx, const struct ls_http_req *req, FILE *body, const char **ctype)
{
	struct export *x = ctx;

	if (!strcmp(req->path, "/metrics")) {
		/* What finished before the scrape is in it: drain the ring buffer first. */
		if (x->s && ls_session_poll(x->s, 0) < 0)
			xlog(x, "error", 0, "%s", ls_session_error(x->s));
		ls_prom_write(x->prom, body);
		write_health(x, body);
		*ctype = "text/plain; version=0.0.4; charset=utf-8";
		return 200;
	}
	if (!strcmp(req->path, "/")) {
		fputs("latscope export: metrics at /metrics\n", body);
		return 200;
	}
	fputs("404 Not Found: latscope export serves /metrics\n", body);
	return 404;
}

/* ---- Targets and sessions ------------------------------------------------------- */

/* The processes to trace now: every -p still alive, then those matching, at most MAX_PIDS. */
static size_t wanted(struct export *x, pid_t *out)
{
	size_t n = 0, m = 0;
	pid_t found[MAX_PIDS];
	long total;

	for (size_t i = 0; i < x->nfixed; i++)
		if (ls_proc_alive(x->fixed[i]))
			out[n++] = x->fixed[i];
	if (!x->follow)
		return n;
	total = ls_procs_find(&x->match, found, MAX_PIDS, &m);
	if (total < 0) {
		xlog(x, "error", 0, "cannot list processes: %s", strerror((int)-total));
		return n;
	}
	for (size_t i = 0; i < m && n < MAX_PIDS; i++) {
		size_t k;

		for (k = 0; k < n && out[k] != found[i]; k++)
			;
		if (k == n)
			out[n++] = found[i];
	}
	if ((size_t)total > m && x->limit_warned != (uint64_t)total) {
		xlog(x, "warning", 0, "%ld processes match: tracing %d of them (the session's limit)", total, MAX_PIDS);
		x->limit_warned = (uint64_t)total;
	}
	return n;
}

/* Each target's profile of the interval, to Pyroscope. */
static void profile_push(struct export *x)
{
	struct profile_target t[MAX_PIDS];

	if (!x->profiler || !x->s)
		return;
	for (size_t i = 0; i < x->ntg; i++)
		t[i] = (struct profile_target){ x->tg[i].pid, x->tg[i].service, x->tg[i].comm };
	export_profiler_push(x->profiler, x->s, t, x->ntg);
}

/* Drain and end the running session, keeping its costs in base. */
static void session_end(struct export *x)
{
	struct health h;

	if (!x->s)
		return;
	if (ls_session_poll(x->s, 0) < 0)
		xlog(x, "error", 0, "%s", ls_session_error(x->s));
	ls_session_sweep_resets(x->s);
	/* The interval so far goes out before its session does. */
	profile_push(x);
	health_now(x, &h);
	x->base = h;
	ls_session_free(x->s);
	x->s = NULL;
	ls_reqs_free(x->reqs);
	x->reqs = NULL;
}

static void target_fill(struct export *x, struct target *t, pid_t pid)
{
	struct ls_proc_info info;
	char err[LS_ERR_LEN];

	memset(t, 0, sizeof(*t));
	t->pid = pid;
	if (ls_proc_info(pid, &info, err) == 0) {
		snprintf(t->comm, sizeof(t->comm), "%s", info.comm);
		snprintf(t->exe, sizeof(t->exe), "%s", info.exe);
	}
	snprintf(t->service, sizeof(t->service), "%s", x->service ? x->service : t->comm);
	ls_proc_cpu_ns(pid, &t->cpu0);
	t->cpu = t->cpu0;
}

static int in_set(pid_t pid, const pid_t *set, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (set[i] == pid)
			return 1;
	return 0;
}

/* Whether a and b hold the same pids (each set without repeats). */
static int same_set(const pid_t *a, size_t na, const pid_t *b, size_t nb)
{
	if (na != nb)
		return 0;
	for (size_t i = 0; i < na; i++)
		if (!in_set(a[i], b, nb))
			return 0;
	return 1;
}

static int session_open(struct export *x, const pid_t *pids, size_t n)
{
	struct ls_session_opts so = { .sz = sizeof(so), .requests = 1, .attach_uprobes = 1 };

	if (ls_reqs_new(&x->reqs)) {
		xlog(x, "error", 0, "out of memory");
		return -ENOMEM;
	}
	memcpy(x->c.pids, pids, n * sizeof(*pids));
	x->c.npids = n;
	so.on_event = on_event;
	so.ctx = x;
	so.threshold_ns = x->threshold;
	if (x->pyroscope || x->parca) {
		so.sample_hz = x->profile_hz;
		so.offcpu = x->offcpu;
	}
	if (cli_session_start(&x->c, &so, &x->s)) {
		ls_reqs_free(x->reqs);
		x->reqs = NULL;
		return -EINVAL;
	}
	return 0;
}

/*
 * Trace exactly pids[0..n): one BPF session serves every target and its
 * targets are fixed when it starts, so a change of targets replaces it.
 * 0, or -errno when no session could start (the error is on stderr): the
 * set is remembered and not tried again until it changes.
 */
static int retarget(struct export *x, const pid_t *pids, size_t n)
{
	pid_t alive[MAX_PIDS];
	size_t na = 0;
	int r;

	for (size_t i = 0; i < x->ntg; i++)
		if (!in_set(x->tg[i].pid, pids, n))
			xlog(x, "detach", x->tg[i].pid, "%s is gone", x->tg[i].comm);
	session_end(x);
	x->ntg = 0;
	if (!n)
		return 0;
	r = session_open(x, pids, n);
	if (r) {
		/* A target that exited while it was being attached fails the session: once more without it. */
		for (size_t i = 0; i < n; i++)
			if (ls_proc_alive(pids[i]))
				alive[na++] = pids[i];
		if (na && na < n)
			r = session_open(x, alive, na);
		else
			na = n;
		if (r) {
			memcpy(x->failed, pids, n * sizeof(*pids));
			x->nfailed = n;
			xlog(x, "error", 0, "cannot attach to the %zu targets; retrying when they change", n);
			return r;
		}
		pids = alive;
		n = na;
	}
	x->nfailed = 0;
	x->sessions++;
	for (size_t i = 0; i < n; i++) {
		struct target *t = &x->tg[x->ntg++];

		target_fill(x, t, pids[i]);
		xlog(x, "attach", t->pid, "%s (%s) as service %s", t->comm, t->exe, t->service);
	}
	xlog(x, "attached", 0, "%zu uprobes on %zu processes, kernel hook %s", ls_session_nprobes(x->s), n,
	     ls_khook_name(ls_session_khook(x->s)));
	return 0;
}

/* ---- Options -------------------------------------------------------------------- */

static int parse_opts(struct export *x, int argc, char **argv)
{
	enum { OPT_COMM = 2000, OPT_LISTEN, OPT_SERVICE, OPT_MAXM, OPT_LOGF, OPT_RESCAN, OPT_OTLP, OPT_EXE, OPT_CGROUP, OPT_MAXS,
	       OPT_PYRO, OPT_PEVERY, OPT_PHZ, OPT_OFFCPU, OPT_PARCA };
	static const struct option longopts[] = {
		CLI_COMMON_LONG,
		{ "comm", required_argument, NULL, OPT_COMM },
		{ "exe", required_argument, NULL, OPT_EXE },
		{ "cgroup", required_argument, NULL, OPT_CGROUP },
		{ "listen", required_argument, NULL, OPT_LISTEN },
		{ "service-name", required_argument, NULL, OPT_SERVICE },
		{ "max-methods", required_argument, NULL, OPT_MAXM },
		{ "max-series", required_argument, NULL, OPT_MAXS },
		{ "log-format", required_argument, NULL, OPT_LOGF },
		{ "rescan", required_argument, NULL, OPT_RESCAN },
		{ "otlp-endpoint", required_argument, NULL, OPT_OTLP },
		{ "pyroscope", required_argument, NULL, OPT_PYRO },
		{ "parca", required_argument, NULL, OPT_PARCA },
		{ "profile-every", required_argument, NULL, OPT_PEVERY },
		{ "profile-hz", required_argument, NULL, OPT_PHZ },
		{ "off-cpu", no_argument, NULL, OPT_OFFCPU },
		{ "threshold", required_argument, NULL, 't' },
		{ 0 },
	};
	int opt;

	while ((opt = getopt_long(argc, argv, CLI_COMMON_SHORT "t:", longopts, NULL)) != -1) {
		int r = cli_common_opt(&x->c, opt, optarg);

		if (r == 1)
			continue;
		if (r < 0)
			return EXIT_USAGE;
		switch (opt) {
		case 'h':
			fputs(usage_text, stdout);
			return -1;
		case OPT_COMM:
			if (!optarg[0] || strlen(optarg) > 63) {
				cli_error("invalid process name '%s'", optarg);
				return EXIT_USAGE;
			}
			x->match.comm = optarg;
			x->follow = 1;
			continue;
		case OPT_EXE:
		case OPT_CGROUP:
			if (optarg[0] != '/') {
				cli_error("invalid %s '%s' (an absolute path)", opt == OPT_EXE ? "--exe" : "--cgroup", optarg);
				return EXIT_USAGE;
			}
			*(opt == OPT_EXE ? &x->match.exe : &x->match.cgroup) = optarg;
			x->follow = 1;
			continue;
		case OPT_LISTEN:
			x->listen = optarg;
			continue;
		case OPT_PYRO:
		case OPT_PARCA:
			if (strncmp(optarg, "http://", 7) && strncmp(optarg, "https://", 8)) {
				cli_error("invalid %s URL '%s' (http://HOST:PORT or https://...)",
					  opt == OPT_PYRO ? "Pyroscope" : "Parca", optarg);
				return EXIT_USAGE;
			}
			*(opt == OPT_PYRO ? &x->pyroscope : &x->parca) = optarg;
			continue;
		case OPT_PEVERY:
			if (ls_parse_duration(optarg, &x->profile_every) || x->profile_every < 1000000000ull) {
				cli_error("invalid --profile-every '%s' (at least 1s)", optarg);
				return EXIT_USAGE;
			}
			continue;
		case OPT_PHZ: {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end || v < 1 || v > 1000) {
				cli_error("invalid --profile-hz '%s' (1 to 1000)", optarg);
				return EXIT_USAGE;
			}
			x->profile_hz = (unsigned int)v;
			continue;
		}
		case OPT_OFFCPU:
			x->offcpu = 1;
			continue;
		case OPT_OTLP:
			if (strncmp(optarg, "http://", 7) && strncmp(optarg, "https://", 8)) {
				cli_error("invalid OTLP endpoint '%s' (http://HOST:PORT or https://...)", optarg);
				return EXIT_USAGE;
			}
			x->otlp = optarg;
			continue;
		case OPT_SERVICE:
			if (!optarg[0] || strlen(optarg) >= sizeof(x->tg[0].service)) {
				cli_error("invalid service name '%s' (1 to %zu bytes)", optarg, sizeof(x->tg[0].service) - 1);
				return EXIT_USAGE;
			}
			x->service = optarg;
			continue;
		case OPT_MAXM:
		case OPT_MAXS: {
			char *end;
			long v = strtol(optarg, &end, 10);

			if (*end || v < 1 || v > 100000) {
				cli_error("invalid %s '%s' (1 to 100000)", opt == OPT_MAXM ? "--max-methods" : "--max-series",
					  optarg);
				return EXIT_USAGE;
			}
			*(opt == OPT_MAXM ? &x->max_methods : &x->max_series) = (unsigned int)v;
			continue;
		}
		case OPT_LOGF:
			if (strcmp(optarg, "text") && strcmp(optarg, "json")) {
				cli_error("unknown log format '%s' (text, json)", optarg);
				return EXIT_USAGE;
			}
			x->log_json = !strcmp(optarg, "json");
			continue;
		case OPT_RESCAN:
			if (ls_parse_duration(optarg, &x->rescan_ns) || x->rescan_ns < 100000000ull) {
				cli_error("invalid --rescan '%s' (at least 100ms)", optarg);
				return EXIT_USAGE;
			}
			continue;
		case 't':
			if (ls_parse_duration(optarg, &x->threshold)) {
				cli_error("invalid threshold '%s' (examples: 500us, 10ms, 1s)", optarg);
				return EXIT_USAGE;
			}
			continue;
		}
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	if (optind < argc || (!x->c.npids && !x->follow)) {
		if (optind < argc)
			cli_error("unexpected argument '%s'", argv[optind]);
		else
			cli_error("export needs -p PID, --comm NAME, --exe PATH or --cgroup PATH");
		fputs(usage_text, stderr);
		return EXIT_USAGE;
	}
	for (size_t i = 0; i < x->c.npids; i++)
		if (!in_set(x->c.pids[i], x->fixed, x->nfixed))
			x->fixed[x->nfixed++] = x->c.pids[i];
	return 0;
}

/* ---- The agent's loop ----------------------------------------------------------- */

/* Set by SIGHUP: attach afresh (the targets may have loaded or upgraded libraries). */
static volatile sig_atomic_t reload;

static void on_hup(int sig)
{
	(void)sig;
	reload = 1;
}

/* Whether the session's targets are pids[0..n). */
static int current_is(const struct export *x, const pid_t *pids, size_t n)
{
	pid_t cur[MAX_PIDS];

	for (size_t i = 0; i < x->ntg; i++)
		cur[i] = x->tg[i].pid;
	return same_set(cur, x->ntg, pids, n);
}

/* One look at the targets: a new session when they changed (or on SIGHUP). 1 when -p's all exited. */
static int rescan(struct export *x)
{
	pid_t pids[MAX_PIDS];
	size_t n = wanted(x, pids);

	if (!n && !x->follow) {
		xlog(x, "stop", 0, "every target exited");
		return 1;
	}
	if (reload) {
		reload = 0;
		xlog(x, "reload", 0, "SIGHUP: attaching afresh");
	} else if (current_is(x, pids, n) || (x->nfailed && same_set(x->failed, x->nfailed, pids, n))) {
		return 0;
	}
	retarget(x, pids, n);
	return 0;
}

/*
 * Nothing tells user space that a connection closed: forget the idle ones now
 * and then, and the per-method statistics export does not use, so that a long
 * run stays bounded.
 */
static void expire(struct export *x)
{
	if (!x->reqs)
		return;
	x->conns_expired += ls_reqs_expire(x->reqs, EXPIRE_KEEP);
	ls_reqs_reset(x->reqs);
}

static int run(struct export *x)
{
	uint64_t start = ls_now_ns(), last_scan = start, last_expire = start, last_profile = start;
	pid_t pids[MAX_PIDS];
	size_t n;

	n = wanted(x, pids);
	if (!n)
		xlog(x, "waiting", 0, "no matching process yet");
	/* Given pids that cannot be traced are a usage problem, said at once; --comm and others wait for better ones. */
	if (retarget(x, pids, n) && !x->follow)
		return EXIT_RUNTIME;
	while (!cli_stop) {
		uint64_t now = ls_now_ns();

		if (x->c.duration_ns && now - start >= x->c.duration_ns)
			break;
		if (x->s && ls_session_poll(x->s, 0) < 0) {
			xlog(x, "error", 0, "%s", ls_session_error(x->s));
			return EXIT_RUNTIME;
		}
		if (x->feed_err) {
			xlog(x, "error", 0, "request assembly: %s", strerror(x->feed_err));
			return EXIT_RUNTIME;
		}
		/* The wait of the loop: scrapes are answered as they come, records drained every 50 ms. */
		if (ls_httpd_poll(x->httpd, 50) < 0) {
			xlog(x, "error", 0, "serving /metrics: %s", strerror(errno));
			return EXIT_RUNTIME;
		}
		if (x->profiler && now - last_profile >= x->profile_every) {
			last_profile = now;
			profile_push(x);
		}
		if (now - last_expire >= EXPIRE_NS) {
			last_expire = now;
			expire(x);
		}
		if (now - last_scan < x->rescan_ns && !reload)
			continue;
		last_scan = now;
		if (rescan(x))
			break;
	}
	return EXIT_OK;
}

/* The agent's one log: what the shared code warns about comes out as its lines. */
static struct export *log_owner;

static void log_sink(const char *level, const char *msg)
{
	xlog(log_owner, level, 0, "%s", msg);
}

static uint64_t realtime_offset(void)
{
	struct timespec rt;

	clock_gettime(CLOCK_REALTIME, &rt);
	return (uint64_t)rt.tv_sec * 1000000000ull + (uint64_t)rt.tv_nsec - ls_now_ns();
}

static void sender_log(void *ctx, const char *event, const char *msg)
{
	xlog(ctx, event, 0, "%s", msg);
}

int cmd_export(int argc, char **argv)
{
	struct export *x = calloc(1, sizeof(*x));
	struct ls_prom_opts po = { .sz = sizeof(po) };
	struct ls_httpd_opts ho = { .sz = sizeof(ho), .handler = on_http };
	struct ls_prom_stats ps;
	char err[LS_ERR_LEN];
	int ret;

	if (!x) {
		cli_error("out of memory");
		return EXIT_RUNTIME;
	}
	x->listen = "127.0.0.1:9464";
	x->threshold = 10000000;
	x->rescan_ns = 2000000000ull;
	x->profile_every = 15000000000ull;
	x->profile_hz = 49;
	ret = parse_opts(x, argc, argv);
	if (ret) {
		free(x);
		return ret < 0 ? EXIT_OK : ret;
	}
	/* A given pid that cannot be traced is an error before anything starts. */
	for (size_t i = 0; i < x->nfixed; i++) {
		struct ls_proc_info info;

		if (ls_proc_info(x->fixed[i], &info, err)) {
			cli_error("%s", err);
			free(x);
			return EXIT_RUNTIME;
		}
	}
	log_owner = x;
	cli_log_sink = log_sink;
	/* Signals first: an interrupt during attach must still detach everything. */
	cli_install_signals();
	signal(SIGHUP, on_hup);
	po.max_methods = x->max_methods;
	po.max_series = x->max_series ? x->max_series : 1000;
	ho.listen = x->listen;
	ho.ctx = x;
	if (ls_prom_new(&po, &x->prom)) {
		cli_error("out of memory");
		ret = EXIT_RUNTIME;
		goto cleanup;
	}
	/* Listen before attaching: a taken port fails fast, with nothing attached. */
	if (ls_httpd_new(&ho, &x->httpd, err)) {
		cli_error("%s", err);
		ret = EXIT_RUNTIME;
		goto cleanup;
	}
	xlog(x, "listening", 0, "http://%s/metrics", ls_httpd_addr(x->httpd));
	x->realtime_off = realtime_offset();
	if (x->otlp && otlp_sender_new(x->otlp, sender_log, x, &x->sender)) {
		ret = EXIT_USAGE;
		goto cleanup;
	}
	if ((x->pyroscope || x->parca) &&
	    export_profiler_new(x->pyroscope, x->parca, x->profile_hz, x->offcpu, sender_log, x, &x->profiler)) {
		ret = EXIT_RUNTIME;
		goto cleanup;
	}
	ret = run(x);
	session_end(x);
	/* Spans of the requests drained last, and the last profiles, go before the exit. */
	otlp_sender_free(x->sender);
	x->sender = NULL;
	export_profiler_free(x->profiler);
	x->profiler = NULL;
	ls_prom_stats(x->prom, &ps);
	xlog(x, "stopped", 0, "%llu requests counted in %llu series, %llu sessions, probes detached",
	     (unsigned long long)ps.requests, (unsigned long long)ps.series, (unsigned long long)x->sessions);
cleanup:
	session_end(x);
	otlp_sender_free(x->sender);
	export_profiler_free(x->profiler);
	ls_httpd_free(x->httpd);
	ls_prom_free(x->prom);
	cli_log_sink = NULL;
	free(x);
	return ret;
}
