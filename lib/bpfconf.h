/*
 * The read-only configuration of the BPF object, set between open and load:
 * one place for the session and for the verifier report, since each value
 * changes the code the verifier sees.
 */
#ifndef LS_BPFCONF_H
#define LS_BPFCONF_H

#include <stdint.h>

struct latscope_bpf;

struct ls_bpf_config {
	int emit_calls;         /* per-call TLS and net records */
	int emit_requests;      /* request and header records (the HTTP/2 walk) */
	int track_proto;        /* decode/encode probes attached */
	int track_thread_req;   /* the profiler needs each thread's request */
	int offcpu_all_threads; /* 0: only threads working on a request */
	int emit_samples;       /* samples and off-CPU intervals one by one (trace --stacks) */
	unsigned int ustack_size; /* --call-graph dwarf or auto: user stack bytes per sample */
	int cg_auto;            /* --call-graph auto: the stack is copied only in code without frame pointers */
	uint64_t threshold_ns;
	int uprobe_multi;       /* uprobe programs load for uprobe_multi links */
	unsigned int reject_features; /* test switch: 1 << enum ls_feature whose programs the verifier must reject */
};

/* Apply c to an opened, not yet loaded skeleton. */
void ls_bpf_configure(struct latscope_bpf *skel, const struct ls_bpf_config *c);

#endif
