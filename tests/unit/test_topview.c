/*
 * top's view layer: the attributes it sets while formatting, which the
 * screen turns into colours. Phase letters carry their phase (bar, legend,
 * detail), "drop N" warns only when N > 0, "probes P%" past 5%, the selection leaves phase
 * letters alone, and the text is the same whatever the attributes.
 */
#include <string.h>

#include "top.h"
#include "check.h"

static struct top_row row;
static struct top_snap snap;

static void fill(void)
{
	snprintf(row.method, sizeof(row.method), "/latscope.example.Echo/Slow");
	row.pid = 42;
	row.iv = (struct top_quant){ .count = 10, .rps = 10, .p50 = 20000000, .p90 = 21000000, .p99 = 22000000,
				     .max = 23000000 };
	row.cum = row.iv;
	for (unsigned int p = 0; p < LS_PHASE_COUNT; p++) {
		row.bar_ns[p] = p == LS_PH_APP ? 20000000 : 200000 * (p + 1);
		row.phase_p50[p] = row.phase_p99[p] = p == LS_PH_QUEUE ? 0 : row.bar_ns[p];
		row.phase_share[p] = p == LS_PH_QUEUE ? 0 : 0.1;
	}
	row.bar_total = 25000000;
	snap.seq = 1;
	snap.khook = "fentry";
	snap.threshold_ns = 10000000;
	snap.ntargets = 1;
	snap.targets[0] = (struct top_target){ 42, "h2server", 1 };
	snap.iv_count = 10;
	snap.rows = &row;
	snap.nrows = 1;
}

/* Bad cells of a row's bar: a letter without its phase, or a phase on another letter. */
static int bar_bad(const struct top_line *l, size_t from, enum top_attr plain, int *letters)
{
	int bad = 0;

	*letters = 0;
	for (size_t i = 0; i < l->len; i++) {
		unsigned int a = l->attr[i];

		if (a >= TOP_ATTR_PHASE_BASE) {
			bad += i < from || l->text[i] != ls_phase_letter(a - TOP_ATTR_PHASE_BASE);
			(*letters)++;
		} else {
			bad += a != plain;
		}
	}
	return bad;
}

static void check_row(void)
{
	struct top_line l;
	int bad, letters;

	top_fmt_row(&row, 120, 0, &l);
	bad = bar_bad(&l, 60, TOP_ATTR_NONE, &letters);
	CHECK(bad == 0 && letters > 0, "row: %d bar letters, each with its phase (%d bad cells)", letters, bad);
	CHECK(strlen(l.text) == l.len, "row: one attribute per character (%zu)", l.len);
	top_fmt_row(&row, 120, 1, &l);
	bad = bar_bad(&l, 60, TOP_ATTR_SELECTED, &letters);
	CHECK(bad == 0 && letters > 0, "selected row: the rest selected, the bar's letters keep their phase (%d bad)",
	      bad);
	memset(row.bar_ns, 0, sizeof(row.bar_ns));
	top_fmt_row(&row, 120, 0, &l);
	bad = bar_bad(&l, 60, TOP_ATTR_NONE, &letters);
	CHECK(bad == 0 && letters == 0 && l.text[l.len - 1] == ' ', "row without a p99 request: a blank bar");
	row.bar_ns[LS_PH_APP] = 1;
}

/* Characters of l whose attribute is not: warning on the first occurrence of span, none elsewhere (span NULL: none at all). -1: span not found. */
static int warn_span(const struct top_line *l, const char *span)
{
	const char *d = span ? strstr(l->text, span) : NULL;
	size_t at = d ? (size_t)(d - l->text) : 0, n = span ? strlen(span) : 0;
	int bad = 0;

	if (span && !d)
		return -1;
	for (size_t i = 0; i < l->len; i++)
		bad += l->attr[i] != (d && i >= at && i < at + n ? TOP_ATTR_WARN : TOP_ATTR_NONE);
	return bad;
}

static void check_header(void)
{
	struct top_line l;
	int bad = 0;

	top_fmt_header(&snap, 0, &l);
	for (size_t i = 0; i < l.len; i++)
		bad += l.attr[i] != TOP_ATTR_TITLE;
	CHECK(bad == 0 && l.len > 0, "header line 0: a title (%d bad)", bad);
	snap.dropped = 0;
	top_fmt_header(&snap, 1, &l);
	CHECK(warn_span(&l, NULL) == 0 && strstr(l.text, "  drop 0  "), "drop 0: no warning");
	snap.dropped = 1234;
	top_fmt_header(&snap, 1, &l);
	CHECK(warn_span(&l, "drop 1234") == 0, "drop 1234: exactly \"drop 1234\" warns");
	/* The probes' cost warns past 5% of the targets' CPU, and only that part. */
	snap.dropped = 0;
	snap.probe_pct = 12.5;
	top_fmt_header(&snap, 1, &l);
	CHECK(warn_span(&l, "probes 12.5%") == 0, "probes 12.5%%: exactly \"probes 12.5%%\" warns");
	snap.probe_pct = 2.0;
	top_fmt_header(&snap, 1, &l);
	CHECK(warn_span(&l, NULL) == 0 && strstr(l.text, "probes 2.0%"), "probes 2.0%%: no warning");
}

static void check_legend(void)
{
	struct top_lines l = { 0 };
	int bad = 0, letters = 0;

	CHECK(top_fmt_legend(160, &l) == 0 && l.n == 1 && !strncmp(l.v[0].text, "phases: n=net_in t=tls_in", 25),
	      "legend at 160 columns: one line (%zu)", l.n);
	top_lines_free(&l);
	top_fmt_legend(80, &l);
	for (size_t j = 0; j < l.n; j++) {
		bad += l.v[j].len >= 80;
		for (size_t i = 0; i < l.v[j].len; i++) {
			unsigned int a = l.v[j].attr[i];

			if (a < TOP_ATTR_PHASE_BASE)
				continue;
			letters++;
			bad += l.v[j].text[i] != ls_phase_letter(a - TOP_ATTR_PHASE_BASE) || l.v[j].text[i + 1] != '=';
		}
	}
	CHECK(l.n == 2 && letters == LS_PHASE_COUNT && bad == 0,
	      "legend at 80 columns: %zu lines, %d letters with their phase (%d bad)", l.n, letters, bad);
	top_lines_free(&l);
}

static void check_detail(void)
{
	struct top_lines l = { 0 };
	int phases = 0, bad = 0;

	CHECK(top_fmt_detail(&snap, &row, 120, &l) == 0 && l.n > 10, "detail: %zu lines", l.n);
	CHECK(l.n && l.v[0].attr[0] == TOP_ATTR_BOLD && !strcmp(l.v[0].text, "pid 42  /latscope.example.Echo/Slow"),
	      "detail: the row's name first, bold");
	for (size_t j = 1; j < l.n; j++)
		for (size_t i = 0; i < l.v[j].len; i++) {
			unsigned int a = l.v[j].attr[i];

			if (a < TOP_ATTR_PHASE_BASE)
				continue;
			phases++;
			bad += i != 0 || l.v[j].text[0] != ls_phase_letter(a - TOP_ATTR_PHASE_BASE) ||
			       strncmp(l.v[j].text + 2, ls_phase_name(a - TOP_ATTR_PHASE_BASE), 3);
		}
	/* queue took no time: no line for it. */
	CHECK(phases == LS_PHASE_COUNT - 1 && bad == 0, "detail: %d phase lines, each letter with its phase (%d bad)",
	      phases, bad);
	top_lines_free(&l);
}

int main(void)
{
	struct top_line l;

	fill();
	check_row();
	check_header();
	check_legend();
	check_detail();
	top_fmt_table_head(120, TOP_COL_RPS, &l);
	CHECK(l.fill == TOP_ATTR_HEAD && l.attr[0] == TOP_ATTR_HEAD && strstr(l.text, "RPS*"),
	      "table head: a bar across the screen, the sort column starred");
	top_line_init(&l, TOP_ATTR_NONE);
	for (int i = 0; i < 100; i++)
		top_line_put(&l, TOP_ATTR_DIM, "%s", "0123456789abcdef");
	CHECK(l.len == TOP_LINE_MAX - 1 && strlen(l.text) == l.len && l.attr[l.len - 1] == TOP_ATTR_DIM,
	      "a line longer than TOP_LINE_MAX is cut, text and attributes alike");
	return failures ? 1 : 0;
}
