/*
 * What the kernel's verifier makes of every BPF program latscope can load:
 * each program is loaded alone, in every configuration that changes the code
 * the verifier sees, and its statistics are read from the verifier's log.
 */
#ifndef LS_VERIFIER_H
#define LS_VERIFIER_H

#include <stddef.h>
#include <stdint.h>

/* The kernel's limit, and latscope's own budget: a fifth of it, so other builds and kernels have room. */
#define LS_VERIFIER_LIMIT 1000000u
#define LS_VERIFIER_BUDGET_INSNS 200000u
#define LS_VERIFIER_BUDGET_STATES 8u

struct ls_verifier_prog {
	char name[64];
	char config[24];     /* the configuration it was verified in (ls_verifier_configs) */
	char section[48];
	char feature[24];    /* the feature group that needs it */
	uint32_t insns;      /* instructions of the program and its subprograms */
	uint32_t processed;  /* instructions the verifier processed */
	uint32_t max_states; /* most states kept for one instruction */
	uint32_t total_states, peak_states;
	uint64_t verify_us;
	int verified;        /* the verifier ran to a verdict (statistics known) */
	int loaded;          /* and accepted the program */
	int err;             /* errno of the load, 0 when loaded */
	char reason[256];    /* why it did not load: the verifier's last words, or the kernel's refusal */
};

/* Receives the whole verifier log of a program rejected or over the budget. */
typedef void (*ls_verifier_log_fn)(void *ctx, const struct ls_verifier_prog *p, const char *log);

/*
 * Load each program (alone) in each configuration. btf_path NULL: the running
 * kernel's. full_log (may be NULL) gets the whole log of every program that
 * fails the budget. *out is malloc'ed (free()). 0, or -errno with err
 * (LS_ERR_LEN) set when nothing could be measured.
 */
int ls_verifier_run(const char *btf_path, ls_verifier_log_fn full_log, void *ctx, struct ls_verifier_prog **out,
		    size_t *n, char *err);

/* The verifier's verdict in a log: its last line that is not a statistic ("" when none). */
void ls_verifier_verdict(const char *log, char *out, size_t len);

/* 1 when p was verified and stays within the budget. */
int ls_verifier_within_budget(const struct ls_verifier_prog *p);

#endif
