/* latscope top: a snapshot as text lines, shared by the screen and the batch output. */
#include "cli.h"
#include "jsonw.h"
#include "top.h"
#include "catalog.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* Column widths; the method column and the phase bar share what is left. */
#define W_PID 7
#define W_RPS 8
#define W_ERR 5
#define W_LAT 8
/* Everything before the method column and between it and the bar (single spaces between columns). */
#define W_FIXED (W_PID + 1 + 1 + W_RPS + 1 + W_ERR + 1 + 4 * (W_LAT + 1))
#define W_METHOD_MIN 12
#define W_METHOD_MAX 36
#define W_BAR_MAX 60

static const char *const col_names[TOP_COL_COUNT] = {
	[TOP_COL_PID] = "PID", [TOP_COL_METHOD] = "METHOD", [TOP_COL_RPS] = "RPS", [TOP_COL_ERR] = "ERR",
	[TOP_COL_P50] = "P50", [TOP_COL_P90] = "P90", [TOP_COL_P99] = "P99", [TOP_COL_MAX] = "MAX",
};

const char *top_col_name(enum top_col c)
{
	return c < TOP_COL_COUNT ? col_names[c] : "?";
}

static void widths(int width, int *mw, int *bw)
{
	int rest = width - W_FIXED - 1; /* the last column stays free: a full line would wrap on some terminals */

	if (rest < W_METHOD_MIN + 4)
		rest = W_METHOD_MIN + 4;
	*mw = rest / 2;
	if (*mw < W_METHOD_MIN)
		*mw = W_METHOD_MIN;
	if (*mw > W_METHOD_MAX)
		*mw = W_METHOD_MAX;
	*bw = rest - *mw;
	if (*bw > W_BAR_MAX)
		*bw = W_BAR_MAX;
}

void top_bar_span(int width, int *start, int *bar_width)
{
	int mw, bw;

	widths(width, &mw, &bw);
	*start = W_FIXED + mw;
	*bar_width = bw;
}

/* Append to buf at *pos, never past len - 1. */
static void put(char *buf, size_t len, size_t *pos, const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void put(char *buf, size_t len, size_t *pos, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*pos + 1 >= len)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *pos, len - *pos, fmt, ap);
	va_end(ap);
	if (n > 0)
		*pos += (size_t)n < len - *pos ? (size_t)n : len - *pos - 1;
}

/* A latency, or "-" when nothing was measured. */
static const char *lat(uint64_t ns, uint64_t count, char *b, size_t len)
{
	if (!count)
		return "-";
	return cli_fmt_ns(ns, b, len);
}

void top_fmt_header(const struct top_snap *snap, int line, char *buf, size_t len)
{
	char a[32], b[32], c[32];
	size_t pos = 0;

	buf[0] = '\0';
	if (line == 0) {
		put(buf, len, &pos, "latscope top -");
		for (size_t i = 0; i < snap->ntargets; i++)
			put(buf, len, &pos, " pid %d (%s%s)", (int)snap->targets[i].pid, snap->targets[i].comm,
			    snap->targets[i].alive ? "" : ", exited");
		put(buf, len, &pos, "  hook %s  up %.0fs  threshold %s", snap->khook, snap->uptime_s,
		    cli_fmt_ns(snap->threshold_ns, a, sizeof(a)));
		return;
	}
	put(buf, len, &pos, "rps %.1f  errors %.2f%%  p50 %s  p99 %s  dropped %llu  latscope cpu %.1f%%  samples %llu",
	    snap->rps, 100.0 * snap->error_rate, lat(snap->p50, snap->iv_count, b, sizeof(b)),
	    lat(snap->p99, snap->iv_count, c, sizeof(c)), (unsigned long long)snap->dropped, snap->cpu_pct,
	    (unsigned long long)snap->samples);
}

void top_fmt_legend(char *buf, size_t len)
{
	size_t pos = 0;

	put(buf, len, &pos, "phases:");
	for (unsigned int p = 0; p < LS_PHASE_COUNT; p++)
		put(buf, len, &pos, " %c=%s", ls_phase_letter(p), ls_phase_name(p));
}

void top_fmt_table_head(int width, enum top_col sort, char *buf, size_t len)
{
	char t[TOP_COL_COUNT][16];
	int mw, bw;
	size_t pos = 0;

	widths(width, &mw, &bw);
	for (int c = 0; c < TOP_COL_COUNT; c++)
		snprintf(t[c], sizeof(t[c]), "%s%s", col_names[c], c == (int)sort ? "*" : "");
	put(buf, len, &pos, "%-*s %-*s %*s %*s %*s %*s %*s %*s %-*s", W_PID, t[TOP_COL_PID], mw, t[TOP_COL_METHOD],
	    W_RPS, t[TOP_COL_RPS], W_ERR, t[TOP_COL_ERR], W_LAT, t[TOP_COL_P50], W_LAT, t[TOP_COL_P90], W_LAT,
	    t[TOP_COL_P99], W_LAT, t[TOP_COL_MAX], bw, "P99 REQUEST PHASES");
}

/* The p99 request's phases as letters, each phase's share of the width by largest remainder. */
static void bar(const struct top_row *r, int bw, char *out)
{
	uint64_t sum = 0;
	int cells[LS_PHASE_COUNT], used = 0, k = 0;
	double rem[LS_PHASE_COUNT];

	for (int p = 0; p < LS_PHASE_COUNT; p++)
		sum += r->bar_ns[p];
	memset(out, ' ', (size_t)bw);
	out[bw] = '\0';
	if (!sum)
		return;
	for (int p = 0; p < LS_PHASE_COUNT; p++) {
		double exact = (double)r->bar_ns[p] * bw / (double)sum;

		cells[p] = (int)exact;
		rem[p] = exact - cells[p];
		used += cells[p];
	}
	while (used < bw) {
		int best = 0;

		for (int p = 1; p < LS_PHASE_COUNT; p++)
			if (rem[p] > rem[best])
				best = p;
		cells[best]++;
		rem[best] = -1;
		used++;
	}
	for (int p = 0; p < LS_PHASE_COUNT; p++)
		for (int i = 0; i < cells[p]; i++)
			out[k++] = ls_phase_letter((unsigned)p);
}

void top_fmt_row(const struct top_row *r, int width, char *buf, size_t len)
{
	char m[W_METHOD_MAX + 1], b[4][32], rps[32], bars[W_BAR_MAX + 1];
	size_t ml = strlen(r->method), pos = 0;
	int mw, bw;

	widths(width, &mw, &bw);
	/* Long methods share their prefix ("/pkg.Service/"): the end is what tells rows apart. */
	if (ml > (size_t)mw)
		snprintf(m, sizeof(m), "~%s", r->method + ml - (size_t)(mw - 1));
	else
		snprintf(m, sizeof(m), "%s", r->method);
	snprintf(rps, sizeof(rps), r->iv.rps < 10000 ? "%.1f" : "%.0f", r->iv.rps);
	bar(r, bw, bars);
	put(buf, len, &pos, "%-*d %-*s %*s %*llu %*s %*s %*s %*s %s", W_PID, (int)r->pid, mw, m, W_RPS, rps, W_ERR,
	    (unsigned long long)r->iv.errors, W_LAT, lat(r->iv.p50, r->iv.count, b[0], 32), W_LAT,
	    lat(r->iv.p90, r->iv.count, b[1], 32), W_LAT, lat(r->iv.p99, r->iv.count, b[2], 32), W_LAT,
	    lat(r->iv.max, r->iv.count, b[3], 32), bars);
}

static uint64_t sort_key(const struct top_row *r, enum top_col c)
{
	switch (c) {
	case TOP_COL_RPS: return r->iv.count;
	case TOP_COL_ERR: return r->iv.errors;
	case TOP_COL_P50: return r->iv.count ? r->iv.p50 : 0;
	case TOP_COL_P90: return r->iv.count ? r->iv.p90 : 0;
	case TOP_COL_P99: return r->iv.count ? r->iv.p99 : 0;
	case TOP_COL_MAX: return r->iv.max;
	default: return 0;
	}
}

struct order_ctx {
	const struct top_snap *snap;
	enum top_col col;
};

/* qsort_r comparator: numeric columns largest first, names ascending, ties by pid then method. */
static int cmp_rows(const void *a, const void *b, void *arg)
{
	const struct order_ctx *o = arg;
	const struct top_row *x = &o->snap->rows[*(const size_t *)a], *y = &o->snap->rows[*(const size_t *)b];
	int c = 0;

	if (o->col == TOP_COL_METHOD)
		c = strcmp(x->method, y->method);
	else if (o->col != TOP_COL_PID) {
		uint64_t kx = sort_key(x, o->col), ky = sort_key(y, o->col);

		c = kx > ky ? -1 : kx < ky;
	}
	if (!c && x->pid != y->pid)
		c = x->pid < y->pid ? -1 : 1;
	return c ? c : strcmp(x->method, y->method);
}

size_t top_order(const struct top_snap *snap, enum top_col sort, const char *filter, size_t *idx)
{
	struct order_ctx o = { snap, sort };
	size_t n = 0;

	for (size_t i = 0; i < snap->nrows; i++)
		if (!filter || !filter[0] || strstr(snap->rows[i].method, filter))
			idx[n++] = i;
	qsort_r(idx, n, sizeof(*idx), cmp_rows, &o);
	return n;
}

static int add_line(struct top_lines *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int add_line(struct top_lines *l, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 64;
		char **nv = realloc(l->v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		l->v = nv;
		l->cap = ncap;
	}
	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -ENOMEM;
	l->v[l->n++] = s;
	return 0;
}

void top_lines_free(struct top_lines *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

static void phases_text(const uint64_t *ph, char *buf, size_t len)
{
	char a[32];
	size_t pos = 0;

	buf[0] = '\0';
	for (unsigned int p = 0; p < LS_PHASE_COUNT; p++)
		if (ph[p])
			put(buf, len, &pos, "%s%s=%s", pos ? " " : "", ls_phase_name(p), cli_fmt_ns(ph[p], a, sizeof(a)));
}

static int quant_line(struct top_lines *out, const char *what, const struct top_quant *q)
{
	char b[4][32];

	return add_line(out, "%-11s %8llu %9.1f %6llu %8s %8s %8s %8s", what, (unsigned long long)q->count, q->rps,
			(unsigned long long)q->errors, lat(q->p50, q->count, b[0], 32), lat(q->p90, q->count, b[1], 32),
			lat(q->p99, q->count, b[2], 32), lat(q->max, q->count, b[3], 32));
}

/* One node of the hot-stack tree: a frame under its caller (the root's children are phases). */
struct tnode {
	const char *name;
	uint64_t samples;
	int parent;
};

#define TREE_MAX (TOP_STACKS * (TOP_STACK_FRAMES + 1))

static int tree_child(struct tnode *t, int *n, int parent, const char *name)
{
	for (int i = 0; i < *n; i++)
		if (t[i].parent == parent && !strcmp(t[i].name, name))
			return i;
	t[*n] = (struct tnode){ name, 0, parent };
	return (*n)++;
}

/* Children of parent, most samples first (ties by name), each line indented by depth. */
static int tree_print(const struct tnode *t, int n, int parent, int depth, uint64_t total, struct top_lines *out)
{
	int done[TREE_MAX] = { 0 }, ret = 0;

	for (;;) {
		int best = -1;

		for (int i = 0; i < n; i++)
			if (t[i].parent == parent && !done[i] &&
			    (best < 0 || t[i].samples > t[best].samples ||
			     (t[i].samples == t[best].samples && strcmp(t[i].name, t[best].name) < 0)))
				best = i;
		if (best < 0)
			return ret;
		done[best] = 1;
		/* Deep stacks stop indenting at 24 columns so frame names stay readable at 80. */
		ret |= add_line(out, "  %6llu %5.1f%% %*s%s", (unsigned long long)t[best].samples,
				100.0 * (double)t[best].samples / (double)total, depth < 12 ? 2 * depth : 24, "",
				t[best].name);
		ret |= tree_print(t, n, best, depth + 1, total, out);
	}
}

static int stack_tree(const struct top_snap *snap, pid_t pid, uint64_t total, struct top_lines *out)
{
	static const char *const none = "[outside requests]";
	struct tnode t[TREE_MAX];
	char phase[LS_PHASE_COUNT + 1][24];
	int n = 0;

	for (unsigned int p = 0; p <= LS_PHASE_COUNT; p++)
		snprintf(phase[p], sizeof(phase[p]), "[%s]", p < LS_PHASE_COUNT ? ls_phase_name(p) : none);
	for (size_t i = 0; i < snap->nstacks; i++) {
		const struct top_stack *st = &snap->stacks[i];
		int at;

		if (st->pid != pid)
			continue;
		at = tree_child(t, &n, -1, phase[st->phase < LS_PHASE_COUNT ? st->phase : LS_PHASE_COUNT]);
		t[at].samples += st->samples;
		for (size_t j = st->nframes; j-- > 0;) {
			at = tree_child(t, &n, at, st->frames[j]);
			t[at].samples += st->samples;
		}
	}
	return tree_print(t, n, -1, 0, total, out);
}

int top_fmt_detail(const struct top_snap *snap, const struct top_row *r, int width, struct top_lines *out)
{
	char a[32], b[32], text[1024];
	uint64_t hmax = 0, psamples = 0;
	int ret = 0, bw = width - 40;

	if (bw < 10)
		bw = 10;
	if (bw > 60)
		bw = 60;
	ret |= add_line(out, "pid %d  %s", (int)r->pid, r->method);
	ret |= add_line(out, "%-11s %8s %9s %6s %8s %8s %8s %8s", "", "COUNT", "RPS", "ERRORS", "P50", "P90", "P99", "MAX");
	ret |= quant_line(out, "interval", &r->iv);
	ret |= quant_line(out, "since start", &r->cum);
	ret |= add_line(out, "%llu slow since start (at or over %s)", (unsigned long long)r->slow,
			cli_fmt_ns(snap->threshold_ns, a, sizeof(a)));
	ret |= add_line(out, "%s", "");
	ret |= add_line(out, "  %-10s %9s %9s %7s   (since start)", "PHASE", "P50", "P99", "SHARE");
	for (unsigned int p = 0; p < LS_PHASE_COUNT; p++) {
		if (r->phase_share[p] <= 0 && !r->phase_p99[p])
			continue;
		ret |= add_line(out, "%c %-10s %9s %9s %6.1f%%", ls_phase_letter(p), ls_phase_name(p),
				cli_fmt_ns(r->phase_p50[p], a, sizeof(a)), cli_fmt_ns(r->phase_p99[p], b, sizeof(b)),
				100.0 * r->phase_share[p]);
	}
	phases_text(r->bar_ns, text, sizeof(text));
	ret |= add_line(out, "p99 request of the last %u: %s  %s", 512u, cli_fmt_ns(r->bar_total, a, sizeof(a)), text);
	ret |= add_line(out, "%s", "");
	ret |= add_line(out, "LATENCY HISTOGRAM (since start)");
	for (size_t i = 0; i < r->nhist; i++)
		if (r->hist[i].count > hmax)
			hmax = r->hist[i].count;
	for (size_t i = 0; i < r->nhist; i++) {
		int n = hmax ? (int)((r->hist[i].count * (uint64_t)bw + hmax - 1) / hmax) : 0;
		char bars[64];

		memset(bars, '#', (size_t)n);
		bars[n] = '\0';
		ret |= add_line(out, "  %9s - %-9s |%-*s %llu", cli_fmt_ns(r->hist[i].lo, a, sizeof(a)),
				cli_fmt_ns(r->hist[i].hi, b, sizeof(b)), bw, bars, (unsigned long long)r->hist[i].count);
	}
	ret |= add_line(out, "%s", "");
	ret |= add_line(out, "LAST SLOW REQUESTS (%zu shown)", r->nslowreq);
	if (r->nslowreq)
		ret |= add_line(out, "  %8s %7s %6s %9s  %s", "AGO(s)", "STREAM", "STATUS", "TOTAL", "PHASES");
	else
		ret |= add_line(out, "  none at or over %s", cli_fmt_ns(snap->threshold_ns, a, sizeof(a)));
	for (size_t i = 0; i < r->nslowreq; i++) {
		const struct top_slowreq *q = &r->slowreq[i];

		phases_text(q->phase_ns, text, sizeof(text));
		ret |= add_line(out, "  %8.2f %7u %6d %9s  %s",
				snap->now_ns > q->start_ns ? (double)(snap->now_ns - q->start_ns) / 1e9 : 0.0, q->stream,
				q->status, cli_fmt_ns(q->total_ns, a, sizeof(a)), text);
	}
	ret |= add_line(out, "%s", "");
	for (size_t i = 0; i < snap->nstacks; i++)
		if (snap->stacks[i].pid == r->pid)
			psamples += snap->stacks[i].samples;
	ret |= add_line(out, "HOT STACKS OF %s (pid %d: CPU samples, top %d stacks as a tree from the phase down)",
			snap->stacks_any ? "REQUESTS (none sampled past the threshold yet)" : "SLOW REQUESTS", (int)r->pid,
			TOP_STACKS);
	if (!psamples)
		ret |= add_line(out, "  no CPU sample taken inside a request yet");
	else
		ret |= stack_tree(snap, r->pid, psamples, out);
	return ret ? -ENOMEM : 0;
}

void top_print_text(FILE *f, const struct top_snap *snap)
{
	enum { WIDTH = 160 };
	char line[2048];
	size_t *idx = calloc(snap->nrows ? snap->nrows : 1, sizeof(*idx)), n;

	if (!idx)
		return;
	fprintf(f, "=== snapshot %llu (interval %.2fs)\n", (unsigned long long)snap->seq, snap->interval_s);
	top_fmt_header(snap, 0, line, sizeof(line));
	fprintf(f, "%s\n", line);
	top_fmt_header(snap, 1, line, sizeof(line));
	fprintf(f, "%s\n", line);
	for (size_t i = 0; i < snap->ntargets; i++)
		if (!snap->targets[i].alive)
			fprintf(f, "pid %d exited\n", (int)snap->targets[i].pid);
	top_fmt_legend(line, sizeof(line));
	fprintf(f, "%s\n", line);
	top_fmt_table_head(WIDTH, TOP_COL_PID, line, sizeof(line));
	fprintf(f, "%s\n", line);
	n = top_order(snap, TOP_COL_PID, NULL, idx);
	for (size_t i = 0; i < n; i++) {
		top_fmt_row(&snap->rows[idx[i]], WIDTH, line, sizeof(line));
		fprintf(f, "%s\n", line);
	}
	for (size_t i = 0; i < n; i++) {
		struct top_lines l = { 0 };

		fprintf(f, "--- detail\n");
		if (top_fmt_detail(snap, &snap->rows[idx[i]], WIDTH, &l) == 0)
			for (size_t j = 0; j < l.n; j++)
				fprintf(f, "%s\n", l.v[j]);
		top_lines_free(&l);
	}
	free(idx);
	fflush(f);
}

static void json_quant(struct jw *w, const char *name, const struct top_quant *q)
{
	jw_key(w, name);
	jw_obj(w);
	jw_ku64(w, "count", q->count);
	jw_kdbl(w, "rps", "%.2f", q->rps);
	jw_ku64(w, "errors", q->errors);
	jw_ku64(w, "p50_ns", q->p50);
	jw_ku64(w, "p90_ns", q->p90);
	jw_ku64(w, "p99_ns", q->p99);
	jw_ku64(w, "max_ns", q->max);
	jw_obj_end(w);
}

static void json_phases(struct jw *w, const uint64_t *ph)
{
	jw_obj(w);
	for (unsigned int p = 0; p < LS_PHASE_COUNT; p++)
		jw_ku64(w, ls_phase_name(p), ph[p]);
	jw_obj_end(w);
}

static void json_row(struct jw *w, const struct top_row *r)
{
	jw_obj(w);
	jw_ki64(w, "pid", r->pid);
	jw_kstr(w, "method", r->method);
	json_quant(w, "interval", &r->iv);
	json_quant(w, "total", &r->cum);
	jw_ku64(w, "slow", r->slow);
	jw_key(w, "phases");
	jw_obj(w);
	for (unsigned int p = 0; p < LS_PHASE_COUNT; p++) {
		jw_key(w, ls_phase_name(p));
		jw_obj(w);
		jw_ku64(w, "p50_ns", r->phase_p50[p]);
		jw_ku64(w, "p99_ns", r->phase_p99[p]);
		jw_kdbl(w, "share", "%.4f", r->phase_share[p]);
		jw_obj_end(w);
	}
	jw_obj_end(w);
	jw_key(w, "p99_request");
	jw_obj(w);
	jw_ku64(w, "total_ns", r->bar_total);
	jw_key(w, "phases");
	json_phases(w, r->bar_ns);
	jw_obj_end(w);
	jw_key(w, "slow_requests");
	jw_arr(w);
	for (size_t j = 0; j < r->nslowreq; j++) {
		const struct top_slowreq *q = &r->slowreq[j];

		jw_obj(w);
		jw_ku64(w, "start_ns", q->start_ns);
		jw_ku64(w, "stream", q->stream);
		jw_ki64(w, "status", q->status);
		jw_ku64(w, "total_ns", q->total_ns);
		jw_key(w, "phases");
		json_phases(w, q->phase_ns);
		jw_obj_end(w);
	}
	jw_arr_end(w);
	jw_obj_end(w);
}

void top_print_json(FILE *f, const struct top_snap *snap)
{
	struct jw w;

	jw_init(&w, f);
	jw_obj(&w);
	jw_kstr(&w, "type", "snapshot");
	jw_ku64(&w, "seq", snap->seq);
	jw_kdbl(&w, "uptime_s", "%.3f", snap->uptime_s);
	jw_kdbl(&w, "interval_s", "%.3f", snap->interval_s);
	jw_kstr(&w, "kernel_hook", snap->khook);
	jw_ku64(&w, "threshold_ns", snap->threshold_ns);
	jw_key(&w, "targets");
	jw_arr(&w);
	for (size_t i = 0; i < snap->ntargets; i++) {
		jw_obj(&w);
		jw_ki64(&w, "pid", snap->targets[i].pid);
		jw_kstr(&w, "comm", snap->targets[i].comm);
		jw_kbool(&w, "alive", snap->targets[i].alive);
		jw_obj_end(&w);
	}
	jw_arr_end(&w);
	jw_ku64(&w, "count", snap->iv_count);
	jw_kdbl(&w, "rps", "%.2f", snap->rps);
	jw_kdbl(&w, "error_rate", "%.4f", snap->error_rate);
	jw_ku64(&w, "p50_ns", snap->p50);
	jw_ku64(&w, "p99_ns", snap->p99);
	jw_ku64(&w, "dropped", snap->dropped);
	jw_kdbl(&w, "cpu_pct", "%.2f", snap->cpu_pct);
	jw_ku64(&w, "samples", snap->samples);
	jw_ku64(&w, "stacks_lost", snap->stacks_lost);
	jw_key(&w, "rows");
	jw_arr(&w);
	for (size_t i = 0; i < snap->nrows; i++)
		json_row(&w, &snap->rows[i]);
	jw_arr_end(&w);
	jw_kbool(&w, "hot_stacks_slow_only", !snap->stacks_any);
	jw_key(&w, "hot_stacks");
	jw_arr(&w);
	for (size_t i = 0; i < snap->nstacks; i++) {
		const struct top_stack *st = &snap->stacks[i];

		jw_obj(&w);
		jw_ki64(&w, "pid", st->pid);
		jw_kstr(&w, "phase", st->phase < LS_PHASE_COUNT ? ls_phase_name(st->phase) : "none");
		jw_ku64(&w, "samples", st->samples);
		jw_key(&w, "frames");
		jw_arr(&w);
		for (size_t j = 0; j < st->nframes; j++)
			jw_str(&w, st->frames[j]);
		jw_arr_end(&w);
		jw_obj_end(&w);
	}
	jw_arr_end(&w);
	jw_obj_end(&w);
	fflush(f);
}
