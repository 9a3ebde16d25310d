/* Shared pieces of the latscope command line. */
#ifndef LS_CLI_H
#define LS_CLI_H

#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "session.h"
#include "util.h"

#define LATSCOPE_VERSION "0.1.0"

enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

/* One limit for targets: the kernel side has a slot for each (LS_MAX_TARGETS). */
#define MAX_PIDS LS_SESSION_MAX_PIDS

/* Options most subcommands share. */
struct cli_common {
	pid_t pids[MAX_PIDS];
	size_t npids;
	uint64_t duration_ns;  /* 0: until interrupted */
	int json;
	int verbose;
	enum ls_khook khook;
	const char *btf_path;
	enum ls_place_mode placement;
	unsigned int phases;   /* LS_PHASES_*; 0: all */
	double overhead_pct;   /* --overhead: the library probes' budget; 0: off (always attached) */
	int overhead_set;      /* --overhead given; else $LATSCOPE_OVERHEAD, else CLI_OVERHEAD_DEF */
};

/* Set by SIGINT/SIGTERM: the main loop winds down and reports. */
extern volatile sig_atomic_t cli_stop;
extern int cli_verbose;

void cli_install_signals(void);
/* When set, cli_error() and cli_warn() hand their line to it (a long-running command's own log format). */
extern void (*cli_log_sink)(const char *level, const char *msg);
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * Handle a shared option (returns 1), or 0 when opt is not one of them;
 * a bad value prints an error and returns -1 (usage error).
 */
int cli_common_opt(struct cli_common *c, int opt, const char *arg);
/* "off" (0), or a percentage in (0, 100], "%" allowed. 0 or -EINVAL. */
int cli_parse_overhead(const char *arg, double *pct);
#define CLI_COMMON_SHORT "p:d:vh"
#define CLI_OPT_JSON 1000
#define CLI_OPT_KHOOK 1001
#define CLI_OPT_BTF 1002
#define CLI_OPT_PLACEMENT 1003
#define CLI_OPT_PHASES 1004
#define CLI_OPT_OVERHEAD 1005
#define CLI_OVERHEAD_DEF 5.0
/* --overhead in the usage of the commands that attach library probes. */
#define CLI_OVERHEAD_HELP \
	"      --overhead PCT     budget for the library probes (default 5, or $LATSCOPE_OVERHEAD): their cost,\n" \
	"                         measured (hits x per-hit cost + BPF run time, or in situ when more), as % of\n" \
	"                         one CPU, or of the targets' CPU when they use more than one; above it the\n" \
	"                         probes are attached in windows at random times, requests that started\n" \
	"                         inside one are counted and the whole time's estimated; off: always attached\n"
#define CLI_COMMON_LONG \
	{ "placement", required_argument, NULL, CLI_OPT_PLACEMENT }, \
	{ "phases", required_argument, NULL, CLI_OPT_PHASES }, \
	{ "overhead", required_argument, NULL, CLI_OPT_OVERHEAD }, \
	{ "pid", required_argument, NULL, 'p' }, \
	{ "duration", required_argument, NULL, 'd' }, \
	{ "json", no_argument, NULL, CLI_OPT_JSON }, \
	{ "kernel-hook", required_argument, NULL, CLI_OPT_KHOOK }, \
	{ "btf", required_argument, NULL, CLI_OPT_BTF }, \
	{ "verbose", no_argument, NULL, 'v' }, \
	{ "help", no_argument, NULL, 'h' }

/*
 * After option parsing: no stray arguments and at least one -p. Prints the
 * error and the usage text and returns EXIT_USAGE, or returns 0.
 */
int cli_need_pids(const struct cli_common *c, int argc, char **argv, const char *cmd, const char *usage);

/*
 * Copy the shared options into so, open the session (warning under -v about
 * every catalog probe that is missing) and start it. Prints the error; returns
 * 0 with *out set, or EXIT_RUNTIME with *out NULL.
 */
int cli_session_start(const struct cli_common *c, struct ls_session_opts *so, struct ls_session **out);

/*
 * One round of every command's loop: deliver the records that arrive within
 * max_wait_ms, or before due (CLOCK_MONOTONIC ns; 0: none), whichever comes
 * first. ls_session_poll's result.
 */
int cli_poll(struct ls_session *s, uint64_t due, int max_wait_ms);

/* One line: the cost per hit of each instruction kind, how it was obtained (and how long it took). */
void cli_calibration_print(FILE *f, const struct ls_costs *c, uint64_t took_ns);

/* "12.3us", "4.56ms", "1.20s" */
const char *cli_fmt_ns(uint64_t ns, char *buf, size_t len);
/*
 * s made safe for a terminal: control characters (C0, DEL, C1), backslashes and
 * invalid UTF-8 as \xNN escapes; printable UTF-8 kept. Returns out (len bytes).
 */
const char *cli_term_str(char *out, size_t len, const char *s);

struct ls_reqs;
/*
 * Every BPF map's capacity, entries now and what a full one loses (trace -v,
 * probes -v); with r, the connections request assembly holds. json: one line.
 */
void cli_print_maps(FILE *f, struct ls_session *s, const struct ls_reqs *r, int json);
struct jw;
/* The same as the key "tables" of an open JSON object. */
void cli_maps_json(struct jw *w, struct ls_session *s, const struct ls_reqs *r);

/* What cli_watch_targets() has said already, and when it last looked. */
struct cli_watch {
	uint64_t last;
	int newlib, newobj, child, exec;
	dev_t exe_dev[MAX_PIDS];  /* each target's executable when first looked at */
	ino_t exe_ino[MAX_PIDS];
};
/*
 * Every 2 s (now: ls_now_ns()): warn once each when a target exec'd, loaded a
 * probed library after attach, mapped an object that calls what is probed at call
 * sites only, or has a child process that is not a target.
 */
void cli_watch_targets(struct cli_watch *w, struct ls_session *s, const struct cli_common *c, uint64_t now);

/* The placement of every probe of pid and its expected cost (probes -v). */
void cli_print_placements(FILE *f, struct ls_session *s, pid_t pid);

/* Which protocol paths are followed in pid (TLS library, HTTP/2 library, syscall reader) and why not. */
struct jw;
void cli_print_paths(FILE *f, struct ls_session *s, pid_t pid, const char *prefix);
void cli_paths_json(struct jw *w, struct ls_session *s, pid_t pid);
int cmd_probes(int argc, char **argv);
int cmd_trace(int argc, char **argv);
int cmd_record(int argc, char **argv);
int cmd_top(int argc, char **argv);
int cmd_export(int argc, char **argv);

/* The CPU samples collected so far as an SVG flame graph rooted at each phase. 0 or -errno (err says why). */
int cli_write_flamegraph(struct ls_session *s, const char *path, const char *title, char *err, size_t errlen);
int cmd_symbolize(int argc, char **argv);

#endif
