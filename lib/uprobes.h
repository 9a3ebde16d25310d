/*
 * Library probes: the one place that turns discovered sites and their
 * placements into the list of uprobes to attach (which program, where, with
 * which cookie, in which order), and the attach mechanics (classic uprobes,
 * or uprobe_multi links where the kernel has them).
 */
#ifndef LS_UPROBES_H
#define LS_UPROBES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "discover.h"
#include "placement.h"

struct bpf_program;
struct ls_links;

/* The uprobe programs, NULL where their feature is off: sites that need them are left out. */
struct ls_uprobe_progs {
	struct bpf_program *probe_enter, *probe_exit, *probe_exit_lib;
	struct bpf_program *cs_enter, *cs_exit, *cs_exit_lib;
	struct bpf_program *go_enter, *go_ret, *go_ret_lib;
	struct bpf_program *go_grpc_enter, *go_grpc_ret;
};

/*
 * Attach order: what binds requests to names before what starts them (no
 * request seen during the attach misses its name), and every return before
 * any entry (an entry seen without its return would linger as a stale frame).
 */
enum ls_uprobe_stage {
	LS_STAGE_BIND_RET = 0,
	LS_STAGE_BIND,
	LS_STAGE_RET,
	LS_STAGE_ENTRY,
};

struct ls_uprobe {
	struct bpf_program *prog;
	pid_t pid;
	int retprobe;              /* a uretprobe (never on Go code) */
	enum ls_uprobe_stage stage;
	const char *open_path;     /* the object, as latscope opens it */
	const char *path;          /* the object, as the target sees it (messages) */
	const char *symbol;        /* the probed function (messages) */
	uint64_t offset, cookie;
};

/*
 * The uprobes of every found site, in attach order. Pointers in *out refer
 * to sites and placements, which must outlive it. *out is malloc'ed (free()).
 * 0, or -errno with err (LS_ERR_LEN) set; a uretprobe asked for on Go code is
 * refused (-EINVAL): it corrupts goroutine stacks.
 */
int ls_uprobe_plan(const struct ls_site *sites, size_t nsites, const struct ls_placements *place,
		   const struct ls_uprobe_progs *progs, struct ls_uprobe **out, size_t *n, char *err);

/*
 * Attach the plan into links: one uprobe_multi link per (program, process,
 * object, direction) when multi, else one classic uprobe each. *nattached
 * counts the uprobes. 0, or -errno with err set (what was attached stays in
 * links, for the caller to detach).
 */
int ls_uprobe_attach(struct ls_links *links, const struct ls_uprobe *u, size_t n, int multi, size_t *nattached,
		     char *err);

#endif
