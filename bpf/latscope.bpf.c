// SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
/*
 * latscope's kernel side.
 *
 * Library uprobes (TLS, HTTP/2) push and pop a per-thread call stack, so every
 * call's self time is known exclusive of the probed calls nested inside it and
 * of the kernel network time it spent. HTTP/2 frames are followed in the TLS
 * plaintext of each connection; the streams a call carried receive its time as
 * a phase of their request. A request ends when the buffer carrying its
 * END_STREAM has been handed to the kernel; its record and the per-process
 * phase histograms are produced here. Header blocks go to user space, which
 * owns HPACK. Policy and formatting live in user space.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "latscope.h"
#include "h2split.h"
#include "h1split.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

/* Set by user space before load. */
const volatile __u32 rb_wakeup_bytes = 4 << 20; /* wake the consumer past this fill */
const volatile __u8 emit_calls = 1;             /* per-call TLS and net records */
const volatile __u8 emit_requests = 1;          /* per-request records */
const volatile __u64 stale_ns = 10ULL * 1000000000ULL;
const volatile __u8 offcpu_all_threads = 1;   /* 0: only threads working on a request */
/* Features compiled out by the verifier when unused (older verifiers have less room). */
const volatile __u8 track_proto = 1;          /* decode/encode probes are attached */
const volatile __u8 track_thread_req = 1;     /* the profiler needs each thread's current request */
const volatile __u8 emit_samples = 0;         /* trace --stacks: samples and off-CPU intervals one by one */
const volatile __u32 ustack_size = 0;         /* --call-graph dwarf: user stack bytes per sample (0: frame pointers) */
const volatile __u8 cg_auto = 0;              /* --call-graph auto: copy the stack only of code without frame pointers */
/* Test switch: the feature groups (1 << enum ls_feature) whose programs the verifier must reject. */
const volatile __u32 reject_features = 0;
/* Live-tunable: requests at or over it are flagged slow. */
__u64 threshold_ns = 10 * 1000000ULL;
/* Live-tunable: CPU samples are taken (cleared when a profile's duration is over). */
__u8 sampling = 1;
/* Live-tunable: off-CPU time counts only inside [window_lo, window_hi] (0: unbounded). */
__u64 window_lo = 0, window_hi = 0;
/*
 * Live-tunable: a request counts only when it started inside [req_lo, req_hi)
 * (0: unbounded), the window in which the overhead budget keeps the probes on.
 */
__u64 req_lo = 0, req_hi = 0;
/*
 * Live-tunable: what a probe's entry hit costs outside its program, as measured
 * at start (ns, by probe id; see ls_h2o_open, ls_h2o_close). 0: not known.
 */
__u32 entry_hit_ns[LS_PROBE_MAX];

#define STACK_MAX 6
#define BATCH_MAX 128   /* streams one buffer can carry */
#define PEND_MAX 16     /* streams waiting for their HTTP/2 processing time */

#define GRPC_PREFIX 5   /* a gRPC message's frame: compressed flag, 4-byte length */
#define LS_MSG_PEEK 0x2 /* include/linux/socket.h: vmlinux.h carries no macros */
/* What a buffer's batch entry saw of its stream (struct lsk_batch_ent.flags). */
#define LS_BATCH_END_STREAM 0x1 /* END_STREAM: the request (in) or response (out) is whole */
#define LS_BATCH_HEADERS    0x2 /* a HEADERS frame: in a response, where it starts */
#define LS_BATCH_RESET      0x4 /* the server's RST_STREAM: after the stream's other frames in the buffer */
#define LS_RQ_RESP_STARTED (1u << 15) /* internal: response HEADERS seen */
#define LS_RQ_DEC_QUEUED   (1u << 14) /* internal: its memory-BIO target noted in proto_pairs */
#define LS_RQ_READ_WHOLE   (1u << 13) /* internal: queued for its decode on the thread that read its end */
#define LS_RQ_RESP_ENDED   (1u << 12) /* internal: response END_STREAM seen (its finish may wait for the send) */
#define LS_RQ_INTERNAL     (LS_RQ_RESP_STARTED | LS_RQ_DEC_QUEUED | LS_RQ_READ_WHOLE | LS_RQ_RESP_ENDED)


#include "state.bpf.h"
#include "walk.bpf.h"
#include "http1.bpf.h"
#include "requests.bpf.h"
#include "proto.bpf.h"
#include "calls.bpf.h"
#include "go.bpf.h"
#include "queue.bpf.h"
#include "khook.bpf.h"
#include "sockio.bpf.h"
#include "profiler.bpf.h"
#include "lifetime.bpf.h"
