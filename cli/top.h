/*
 * latscope top: a model that turns a running session's records and counters
 * into one immutable snapshot per interval, and the views that draw a
 * snapshot (ncurses screen, plain-text and JSON batch output). Views never
 * touch the session; the model is the only reader. Not thread-safe: one
 * thread feeds the model and builds its snapshots.
 */
#ifndef LS_CLI_TOP_H
#define LS_CLI_TOP_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "requests.h"
#include "session.h"

#define TOP_SLOW_KEEP 10     /* last slow requests kept per row */
#define TOP_STACKS 5         /* hot stacks of slow requests per snapshot */
#define TOP_STACK_FRAMES 16  /* innermost frames kept per hot stack */
#define TOP_FRAME_LEN 96
#define TOP_HIST_BINS 12     /* text histogram rows in the detail view */

/* Request counts and latency over one span (the last interval, or since start/reset). */
struct top_quant {
	uint64_t count, errors;
	double rps;
	uint64_t p50, p90, p99, max;
};

struct top_slowreq {
	uint64_t start_ns;   /* CLOCK_MONOTONIC */
	uint64_t total_ns;
	uint32_t stream;
	int status;          /* grpc-status when present, else :status, -1 when unknown */
	uint64_t phase_ns[LS_PHASE_COUNT];
};

struct top_hist_bin {
	uint64_t lo, hi, count;
};

/* One pid x method. */
struct top_row {
	pid_t pid;
	char method[LS_METHOD_LEN];
	struct top_quant iv, cum;
	uint64_t slow;                       /* slow requests since start/reset */
	uint64_t phase_p50[LS_PHASE_COUNT];  /* since start/reset */
	uint64_t phase_p99[LS_PHASE_COUNT];
	double phase_share[LS_PHASE_COUNT];  /* of the summed totals */
	uint64_t bar_total;                  /* the p99 request of the recent ones: where its time went */
	uint64_t bar_ns[LS_PHASE_COUNT];
	struct top_hist_bin hist[TOP_HIST_BINS]; /* totals since start/reset, log-spaced */
	size_t nhist;
	struct top_slowreq slowreq[TOP_SLOW_KEEP]; /* newest first */
	size_t nslowreq;
};

struct top_stack {
	pid_t pid;
	unsigned int phase;                  /* enum ls_phase, or LS_PH_OTHER */
	uint64_t samples;
	size_t nframes;
	char frames[TOP_STACK_FRAMES][TOP_FRAME_LEN]; /* innermost first */
};

struct top_target {
	pid_t pid;
	char comm[64];
	int alive;
};

struct top_snap {
	uint64_t seq;             /* 1, 2, ... */
	uint64_t now_ns;          /* CLOCK_MONOTONIC when it was taken */
	double uptime_s;          /* since the session started */
	double interval_s;        /* span this snapshot's interval figures cover */
	const char *khook;
	uint64_t threshold_ns;
	struct top_target targets[LS_SESSION_MAX_PIDS];
	size_t ntargets;
	/* Whole-target figures over the interval, from the kernel's histograms (exact under drops). */
	uint64_t iv_count;
	double rps, error_rate;
	uint64_t p50, p99;
	uint64_t dropped;         /* ring-buffer records lost since start */
	double cpu_pct;           /* latscope's own CPU over the interval, % of one core */
	double probe_pct;         /* the probes' cost over the interval, % of the CPU the targets used */
	int probe_measured;       /* probe_pct counts the programs' time as the kernel measured it */
	int budget;               /* an overhead budget is kept (--overhead): duty and shares below */
	double duty;              /* share of time the library probes are meant to be attached now */
	double sampled_share;     /* share of the time so far inside windows (requests started then count) */
	double traffic_share;     /* share of the targets' socket bytes so far inside windows (0: unknown) */
	double iv_traffic_share;  /* the same over the interval */
	double rps_est;           /* rps over the interval's traffic share: the whole interval's, -1 when unknown */
	uint64_t samples, stacks_lost;
	struct top_row *rows;     /* sorted by pid, then method */
	size_t nrows;
	struct top_stack stacks[TOP_STACKS]; /* most samples first */
	size_t nstacks;
	int stacks_any;           /* no sample inside a slow request yet: stacks of every request */
};

struct top_model;

int top_model_new(const pid_t *pids, size_t npids, struct top_model **out);
void top_model_free(struct top_model *m);

/* A ring-buffer record from the session's callback. 0 or -errno. */
int top_model_feed(struct top_model *m, const void *rec, size_t size);

/* Build the snapshot of the interval that ends now. NULL with errno set on failure. */
struct top_snap *top_model_snapshot(struct top_model *m, struct ls_session *s);

/* The session is attached: uptime and the first interval start now. */
void top_model_started(struct top_model *m);

/* The slow-request threshold the snapshots report (the session's is set apart). */
void top_model_set_threshold(struct top_model *m, uint64_t ns);

/* Forget every statistic (the session's kernel counters stay). */
void top_model_reset(struct top_model *m);

void top_snap_free(struct top_snap *snap);


/*
 * What a character of a formatted line stands for, set while formatting it:
 * the screen gives each its look (colour, reverse, bold), batch output prints
 * the text alone.
 */
enum top_attr {
	TOP_ATTR_NONE = 0,
	TOP_ATTR_BOLD,        /* the detail view's first line, the status line */
	TOP_ATTR_DIM,         /* key hints */
	TOP_ATTR_TITLE,       /* the header's first line */
	TOP_ATTR_HEAD,        /* the table head */
	TOP_ATTR_SELECTED,    /* the selected row; its phase letters keep their phase */
	TOP_ATTR_WARN,        /* needs attention: "dropped N" when N > 0 */
	TOP_ATTR_PHASE_BASE,  /* + enum ls_phase: a letter that stands for that phase */
	TOP_ATTR_COUNT = TOP_ATTR_PHASE_BASE + LS_PHASE_COUNT,
};

#define TOP_LINE_MAX 1024

/* One line of text, each character with its enum top_attr. */
struct top_line {
	char text[TOP_LINE_MAX];          /* NUL-terminated */
	unsigned char attr[TOP_LINE_MAX]; /* attr[i] is text[i]'s */
	size_t len;
	unsigned char fill;               /* the attribute of the rest of the screen line */
};

/* Empty l; fill is what the screen paints past the text (TOP_ATTR_HEAD: a bar across). */
void top_line_init(struct top_line *l, enum top_attr fill);
/* Append formatted text with attribute a; past TOP_LINE_MAX - 1 characters it is cut. */
void top_line_put(struct top_line *l, enum top_attr a, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* A growing array of lines. */
struct top_lines {
	struct top_line *v;
	size_t n, cap;
};
/* A new, empty line at the end; NULL when out of memory. */
struct top_line *top_lines_add(struct top_lines *l);
void top_lines_free(struct top_lines *l);

/*
 * Text rendering shared by the screen and batch output, for a screen width.
 * The text is the same for both; only the screen reads the attributes.
 */
enum top_col { TOP_COL_PID, TOP_COL_METHOD, TOP_COL_RPS, TOP_COL_ERR, TOP_COL_P50, TOP_COL_P90, TOP_COL_P99,
	       TOP_COL_MAX, TOP_COL_COUNT };
const char *top_col_name(enum top_col c);
void top_fmt_header(const struct top_snap *snap, int line, struct top_line *out);  /* line 0 or 1 */
/* The phase legend, on as many lines as width needs. 0 or -ENOMEM. */
int top_fmt_legend(int width, struct top_lines *out);
void top_fmt_table_head(int width, enum top_col sort, struct top_line *out);
void top_fmt_row(const struct top_row *r, int width, int selected, struct top_line *out);
/* Row order of a view: indices of rows whose method contains filter (NULL: all), sorted by col. */
size_t top_order(const struct top_snap *snap, enum top_col sort, const char *filter, size_t *idx);

/* Lines of the detail view of one row, appended to *out. 0 or -ENOMEM. */
int top_fmt_detail(const struct top_snap *snap, const struct top_row *r, int width, struct top_lines *out);

/* Batch output: one snapshot as plain text or one JSON object on a line. */
void top_print_text(FILE *f, const struct top_snap *snap);
void top_print_json(FILE *f, const struct top_snap *snap);

#endif
