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

void top_line_init(struct top_line *l, enum top_attr fill)
{
	l->text[0] = '\0';
	l->len = 0;
	l->fill = (unsigned char)fill;
}

/* Append to l, never past TOP_LINE_MAX - 1 characters; the new characters get attribute a. */
/*
 * Every cell of every line is written here. Methods, process names and stack
 * frames come from the target, its clients and its binaries: control
 * characters and broken UTF-8 are escaped on the way in (cli_term_str), so no
 * sequence of theirs reaches the screen or a batch line.
 */
static void line_vput(struct top_line *l, enum top_attr a, const char *fmt, va_list ap)
{
	size_t room = sizeof(l->text) - l->len;
	char raw[sizeof(l->text)];
	int n;

	if (room <= 1)
		return;
	if (vsnprintf(raw, sizeof(raw), fmt, ap) <= 0)
		return;
	cli_term_str(l->text + l->len, room, raw);
	n = (int)strlen(l->text + l->len);
	if (n <= 0)
		return;
	memset(l->attr + l->len, a, (size_t)n);
	l->len += (size_t)n;
}

void top_line_put(struct top_line *l, enum top_attr a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	line_vput(l, a, fmt, ap);
	va_end(ap);
}

/* struct top_line keeps an attribute in a byte. */
_Static_assert(TOP_ATTR_COUNT <= 256, "enum top_attr outgrows unsigned char");

static enum top_attr phase_attr(unsigned int p)
{
	return (enum top_attr)(TOP_ATTR_PHASE_BASE + p);
}

/* A latency, or "-" when nothing was measured. */
static const char *lat(uint64_t ns, uint64_t count, char *b, size_t len)
{
	if (!count)
		return "-";
	return cli_fmt_ns(ns, b, len);
}

void top_fmt_header(const struct top_snap *snap, int line, struct top_line *out)
{
	char a[32], b[32], c[32];

	top_line_init(out, TOP_ATTR_NONE);
	if (line == 0) {
		top_line_put(out, TOP_ATTR_TITLE, "latscope top -");
		for (size_t i = 0; i < snap->ntargets; i++)
			top_line_put(out, TOP_ATTR_TITLE, " pid %d (%s%s)", (int)snap->targets[i].pid,
				     snap->targets[i].comm, snap->targets[i].alive ? "" : ", exited");
		top_line_put(out, TOP_ATTR_TITLE, "  hook %s  up %.0fs  threshold %s", snap->khook, snap->uptime_s,
			     cli_fmt_ns(snap->threshold_ns, a, sizeof(a)));
		/* Under the overhead budget: the share of time the probes are on; counts are of that share. */
		if (snap->budget)
			top_line_put(out, TOP_ATTR_TITLE, "  duty %.0f%%", 100 * snap->duty);
		return;
	}
	/*
	 * Terse, to fit 80 columns with the costs: "probes" is what they cost the targets
	 * (% of the CPU the targets used), "self" latscope's own CPU (% of one core).
	 */
	top_line_put(out, TOP_ATTR_NONE, "rps %.1f  ", snap->rps);
	/* Traced part of the interval only: the estimate for all of it, marked as one. */
	if (snap->budget && snap->iv_traffic_share > 0 && snap->iv_traffic_share < 0.999)
		top_line_put(out, TOP_ATTR_WARN, "(~%.0f est)  ", snap->rps_est);
	top_line_put(out, TOP_ATTR_NONE, "err %.2f%%  p50 %s  p99 %s  ", 100.0 * snap->error_rate,
		     lat(snap->p50, snap->iv_count, b, sizeof(b)), lat(snap->p99, snap->iv_count, c, sizeof(c)));
	/* Lost records mean missing requests in the table: the screen makes them hard to miss. */
	top_line_put(out, snap->dropped ? TOP_ATTR_WARN : TOP_ATTR_NONE, "drop %llu", (unsigned long long)snap->dropped);
	/* Past 5% of the targets' CPU, the probes' cost is worth noticing. */
	top_line_put(out, TOP_ATTR_NONE, "  ");
	top_line_put(out, snap->probe_pct > 5.0 ? TOP_ATTR_WARN : TOP_ATTR_NONE, "probes %.1f%%", snap->probe_pct);
	top_line_put(out, TOP_ATTR_NONE, "  self %.1f%%  samples %llu", snap->cpu_pct,
		     (unsigned long long)snap->samples);
}

/*
 * Wrapped, not cut, so that every phase stays named at 80 columns; as in the
 * rows, no entry reaches the last column.
 */
int top_fmt_legend(int width, struct top_lines *out)
{
	struct top_line *l = top_lines_add(out);
	int x = 7; /* strlen("phases:"): wrapped entries line up under the first */

	if (!l)
		return -ENOMEM;
	top_line_put(l, TOP_ATTR_NONE, "phases:");
	for (unsigned int p = 0; p < LS_PHASE_COUNT; p++) {
		int w = 3 + (int)strlen(ls_phase_name(p));

		if (x + w >= width) {
			l = top_lines_add(out);
			if (!l)
				return -ENOMEM;
			top_line_put(l, TOP_ATTR_NONE, "%7s", "");
			x = 7;
		}
		top_line_put(l, TOP_ATTR_NONE, " ");
		top_line_put(l, phase_attr(p), "%c", ls_phase_letter(p));
		top_line_put(l, TOP_ATTR_NONE, "=%s", ls_phase_name(p));
		x += w;
	}
	return 0;
}

void top_fmt_table_head(int width, enum top_col sort, struct top_line *out)
{
	char t[TOP_COL_COUNT][16];
	int mw, bw;

	widths(width, &mw, &bw);
	for (int c = 0; c < TOP_COL_COUNT; c++)
		snprintf(t[c], sizeof(t[c]), "%s%s", col_names[c], c == (int)sort ? "*" : "");
	/* The head is a bar across the whole screen, past its text. */
	top_line_init(out, TOP_ATTR_HEAD);
	top_line_put(out, TOP_ATTR_HEAD, "%-*s %-*s %*s %*s %*s %*s %*s %*s %-*s", W_PID, t[TOP_COL_PID], mw,
		     t[TOP_COL_METHOD], W_RPS, t[TOP_COL_RPS], W_ERR, t[TOP_COL_ERR], W_LAT, t[TOP_COL_P50], W_LAT,
		     t[TOP_COL_P90], W_LAT, t[TOP_COL_P99], W_LAT, t[TOP_COL_MAX], bw, "P99 REQUEST PHASES");
}

/*
 * The p99 request's phases as letters, each phase's share of the width by
 * largest remainder; each letter carries its phase, for the screen's colours.
 * Blank (attribute a) when nothing was measured.
 */
static void bar(const struct top_row *r, int bw, enum top_attr a, struct top_line *out)
{
	uint64_t sum = 0;
	int cells[LS_PHASE_COUNT], used = 0;
	double rem[LS_PHASE_COUNT];
	char run[W_BAR_MAX + 1];

	for (int p = 0; p < LS_PHASE_COUNT; p++)
		sum += r->bar_ns[p];
	if (!sum) {
		top_line_put(out, a, "%*s", bw, "");
		return;
	}
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
	for (int p = 0; p < LS_PHASE_COUNT; p++) {
		if (!cells[p])
			continue;
		memset(run, ls_phase_letter((unsigned)p), (size_t)cells[p]);
		run[cells[p]] = '\0';
		top_line_put(out, phase_attr((unsigned)p), "%s", run);
	}
}

void top_fmt_row(const struct top_row *r, int width, int selected, struct top_line *out)
{
	char m[W_METHOD_MAX + 1], b[4][32], rps[32];
	size_t ml = strlen(r->method);
	enum top_attr a = selected ? TOP_ATTR_SELECTED : TOP_ATTR_NONE;
	int mw, bw;

	widths(width, &mw, &bw);
	/* Long methods share their prefix ("/pkg.Service/"): the end is what tells rows apart. */
	if (ml > (size_t)mw)
		snprintf(m, sizeof(m), "~%s", r->method + ml - (size_t)(mw - 1));
	else
		snprintf(m, sizeof(m), "%s", r->method);
	snprintf(rps, sizeof(rps), r->iv.rps < 10000 ? "%.1f" : "%.0f", r->iv.rps);
	top_line_init(out, TOP_ATTR_NONE);
	top_line_put(out, a, "%-*d %-*s %*s %*llu %*s %*s %*s %*s ", W_PID, (int)r->pid, mw, m, W_RPS, rps, W_ERR,
		     (unsigned long long)r->iv.errors, W_LAT, lat(r->iv.p50, r->iv.count, b[0], 32), W_LAT,
		     lat(r->iv.p90, r->iv.count, b[1], 32), W_LAT, lat(r->iv.p99, r->iv.count, b[2], 32), W_LAT,
		     lat(r->iv.max, r->iv.count, b[3], 32));
	bar(r, bw, a, out);
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

struct top_line *top_lines_add(struct top_lines *l)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 32;
		struct top_line *nv = realloc(l->v, ncap * sizeof(*nv));

		if (!nv)
			return NULL;
		l->v = nv;
		l->cap = ncap;
	}
	top_line_init(&l->v[l->n], TOP_ATTR_NONE);
	return &l->v[l->n++];
}

void top_lines_free(struct top_lines *l)
{
	free(l->v);
	l->v = NULL;
	l->n = l->cap = 0;
}

/* A line of plain text at the end of out. 0 or -ENOMEM. */
static int add_line(struct top_lines *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int add_line(struct top_lines *out, const char *fmt, ...)
{
	struct top_line *l = top_lines_add(out);
	va_list ap;

	if (!l)
		return -ENOMEM;
	va_start(ap, fmt);
	line_vput(l, TOP_ATTR_NONE, fmt, ap);
	va_end(ap);
	return 0;
}

/* "name=duration" of every phase that took time, appended to l. */
static void put_phases(struct top_line *l, const uint64_t *ph)
{
	char a[32];
	int first = 1;

	for (unsigned int p = 0; p < LS_PHASE_COUNT; p++) {
		if (!ph[p])
			continue;
		top_line_put(l, TOP_ATTR_NONE, "%s%s=%s", first ? "" : " ", ls_phase_name(p),
			     cli_fmt_ns(ph[p], a, sizeof(a)));
		first = 0;
	}
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

/* The row's name and request figures. */
static int detail_head(const struct top_snap *snap, const struct top_row *r, struct top_lines *out)
{
	struct top_line *l = top_lines_add(out);
	char a[32];
	int ret = 0;

	if (!l)
		return -ENOMEM;
	top_line_put(l, TOP_ATTR_BOLD, "pid %d  %s", (int)r->pid, r->method);
	ret |= add_line(out, "%-11s %8s %9s %6s %8s %8s %8s %8s", "", "COUNT", "RPS", "ERRORS", "P50", "P90", "P99", "MAX");
	ret |= quant_line(out, "interval", &r->iv);
	ret |= quant_line(out, "since start", &r->cum);
	ret |= add_line(out, "%llu slow since start (at or over %s)", (unsigned long long)r->slow,
			cli_fmt_ns(snap->threshold_ns, a, sizeof(a)));
	ret |= add_line(out, "%s", "");
	return ret;
}

/* One line per phase that took time, its legend letter first (in its colour on the screen). */
static int detail_phases(const struct top_row *r, struct top_lines *out)
{
	struct top_line *l;
	char a[32], b[32];
	int ret = 0;

	ret |= add_line(out, "  %-10s %9s %9s %7s   (since start)", "PHASE", "P50", "P99", "SHARE");
	for (unsigned int p = 0; p < LS_PHASE_COUNT; p++) {
		if (r->phase_share[p] <= 0 && !r->phase_p99[p])
			continue;
		l = top_lines_add(out);
		if (!l)
			return -ENOMEM;
		top_line_put(l, phase_attr(p), "%c", ls_phase_letter(p));
		top_line_put(l, TOP_ATTR_NONE, " %-10s %9s %9s %6.1f%%", ls_phase_name(p),
			     cli_fmt_ns(r->phase_p50[p], a, sizeof(a)), cli_fmt_ns(r->phase_p99[p], b, sizeof(b)),
			     100.0 * r->phase_share[p]);
	}
	l = top_lines_add(out);
	if (!l)
		return -ENOMEM;
	top_line_put(l, TOP_ATTR_NONE, "p99 request of the last %u: %s  ", 512u, cli_fmt_ns(r->bar_total, a, sizeof(a)));
	put_phases(l, r->bar_ns);
	ret |= add_line(out, "%s", "");
	return ret;
}

/* Totals since start as a text histogram, bars scaled to the largest bin. */
static int detail_hist(const struct top_row *r, int width, struct top_lines *out)
{
	char a[32], b[32];
	uint64_t hmax = 0;
	int ret = 0, bw = width - 40;

	if (bw < 10)
		bw = 10;
	if (bw > 60)
		bw = 60;
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
	return ret;
}

static int detail_slow(const struct top_snap *snap, const struct top_row *r, struct top_lines *out)
{
	char a[32];
	int ret = 0;

	ret |= add_line(out, "LAST SLOW REQUESTS (%zu shown)", r->nslowreq);
	if (r->nslowreq)
		ret |= add_line(out, "  %8s %7s %6s %9s  %s", "AGO(s)", "STREAM", "STATUS", "TOTAL", "PHASES");
	else
		ret |= add_line(out, "  none at or over %s", cli_fmt_ns(snap->threshold_ns, a, sizeof(a)));
	for (size_t i = 0; i < r->nslowreq; i++) {
		const struct top_slowreq *q = &r->slowreq[i];
		struct top_line *l = top_lines_add(out);

		if (!l)
			return -ENOMEM;
		top_line_put(l, TOP_ATTR_NONE, "  %8.2f %7u %6d %9s  ",
			     snap->now_ns > q->start_ns ? (double)(snap->now_ns - q->start_ns) / 1e9 : 0.0, q->stream,
			     q->status, cli_fmt_ns(q->total_ns, a, sizeof(a)));
		put_phases(l, q->phase_ns);
	}
	ret |= add_line(out, "%s", "");
	return ret;
}

int top_fmt_detail(const struct top_snap *snap, const struct top_row *r, int width, struct top_lines *out)
{
	uint64_t psamples = 0;
	int ret = 0;

	ret |= detail_head(snap, r, out);
	ret |= detail_phases(r, out);
	ret |= detail_hist(r, width, out);
	ret |= detail_slow(snap, r, out);
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
	struct top_line line;
	struct top_lines legend = { 0 };
	size_t *idx = calloc(snap->nrows ? snap->nrows : 1, sizeof(*idx)), n;

	if (!idx)
		return;
	fprintf(f, "=== snapshot %llu (interval %.2fs)\n", (unsigned long long)snap->seq, snap->interval_s);
	top_fmt_header(snap, 0, &line);
	fprintf(f, "%s\n", line.text);
	top_fmt_header(snap, 1, &line);
	fprintf(f, "%s\n", line.text);
	for (size_t i = 0; i < snap->ntargets; i++)
		if (!snap->targets[i].alive)
			fprintf(f, "pid %d exited\n", (int)snap->targets[i].pid);
	top_fmt_legend(WIDTH, &legend);
	for (size_t i = 0; i < legend.n; i++)
		fprintf(f, "%s\n", legend.v[i].text);
	top_lines_free(&legend);
	top_fmt_table_head(WIDTH, TOP_COL_PID, &line);
	fprintf(f, "%s\n", line.text);
	n = top_order(snap, TOP_COL_PID, NULL, idx);
	for (size_t i = 0; i < n; i++) {
		top_fmt_row(&snap->rows[idx[i]], WIDTH, 0, &line);
		fprintf(f, "%s\n", line.text);
	}
	for (size_t i = 0; i < n; i++) {
		struct top_lines l = { 0 };

		fprintf(f, "--- detail\n");
		if (top_fmt_detail(snap, &snap->rows[idx[i]], WIDTH, &l) == 0)
			for (size_t j = 0; j < l.n; j++)
				fprintf(f, "%s\n", l.v[j].text);
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
	if (snap->rps_est >= 0)
		jw_kdbl(&w, "rps_estimated", "%.2f", snap->rps_est);
	jw_kdbl(&w, "error_rate", "%.4f", snap->error_rate);
	jw_ku64(&w, "p50_ns", snap->p50);
	jw_ku64(&w, "p99_ns", snap->p99);
	jw_ku64(&w, "dropped", snap->dropped);
	jw_kdbl(&w, "cpu_pct", "%.2f", snap->cpu_pct);
	jw_kdbl(&w, "probe_cost_pct_of_target_cpu", "%.2f", snap->probe_pct);
	jw_kbool(&w, "probe_cost_measured", snap->probe_measured);
	jw_kdbl(&w, "duty", "%.4f", snap->budget ? snap->duty : 1.0);
	jw_kdbl(&w, "sampled_share", "%.4f", snap->budget ? snap->sampled_share : 1.0);
	jw_kdbl(&w, "sampled_traffic_share", "%.4f", snap->budget ? snap->traffic_share : 1.0);
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
