/*
 * The BPF object, loaded feature by feature (enum ls_feature): one instance
 * of the object creates every map and loads no program; each feature group
 * is loaded by an instance of its own that reuses those maps. A group the
 * kernel refuses is recorded with the program and the verifier's reason, and
 * costs only the features that need it.
 */
#ifndef LS_BPFLOAD_H
#define LS_BPFLOAD_H

#include <stdint.h>

#include <linux/types.h>
#include "bpfconf.h"
#include "latscope.h"

struct ls_bpf;
struct latscope_bpf;

enum ls_feat_state {
	LS_FEAT_UNUSED = 0, /* not asked for (or not needed by the targets) */
	LS_FEAT_ON,
	LS_FEAT_FAILED,
};

struct ls_feat_status {
	enum ls_feat_state state;
	char prog[64];     /* FAILED: the program the kernel refused, when known */
	char reason[256];  /* FAILED: why, in one line */
	char *log;         /* FAILED: the verifier's log of the failing load, or NULL */
};

/* Create every map (config c, BTF at btf_path or the running kernel's). 0, or -errno with err set. */
int ls_bpf_open(const char *btf_path, const struct ls_bpf_config *c, struct ls_bpf **out, char *err);
void ls_bpf_free(struct ls_bpf *b);

/*
 * Load the programs of feature f (for LS_FEAT_NET and LS_FEAT_QUEUE, those of
 * kernel hook variant h). 0, or -errno with the status set to FAILED.
 */
int ls_bpf_load(struct ls_bpf *b, enum ls_feature f, enum ls_khook h);
/* Drop a loaded feature (a variant that loaded but could not attach); its status goes back to UNUSED. */
void ls_bpf_unload(struct ls_bpf *b, enum ls_feature f);
/* Mark a feature FAILED for a reason found outside the load (e.g. no kernel hook variant attached). */
void ls_bpf_fail(struct ls_bpf *b, enum ls_feature f, const char *prog, const char *reason);

/* The instance with the maps and the global variables. */
struct latscope_bpf *ls_bpf_maps(struct ls_bpf *b);
/* The instance feature f was loaded in, or NULL when it is not on. */
struct latscope_bpf *ls_bpf_feature(struct ls_bpf *b, enum ls_feature f);
const struct ls_feat_status *ls_bpf_status(const struct ls_bpf *b, enum ls_feature f);

/* Run time of the loaded programs (kernel BPF statistics; on only while enabled). */
struct ls_bpf_time {
	uint64_t run_ns, runs;       /* every program */
	uint64_t uprobe_ns, uprobe_runs; /* the programs on uprobes: run in the targets' threads */
};

/* Sum the kernel's run-time statistics of every loaded program. 0 or -errno. */
int ls_bpf_prog_time(struct ls_bpf *b, struct ls_bpf_time *out);

#endif
