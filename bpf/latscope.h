/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The kernel/user ABI of latscope: the only structs that cross the boundary.
 * Fixed-width types, explicit padding; bump LS_ABI_VERSION on any change.
 * Included by bpf/latscope.bpf.c (with vmlinux.h) and by lib/ (with linux/types.h).
 */
#ifndef LATSCOPE_ABI_H
#define LATSCOPE_ABI_H

#define LS_ABI_VERSION 14

/* Probe ids: index of the per-probe statistics and the `probe` of a record. */
enum ls_probe {
	LS_PROBE_SSL_READ = 0,
	LS_PROBE_SSL_WRITE,
	LS_PROBE_SSL_READ_EX,
	LS_PROBE_SSL_WRITE_EX,
	LS_PROBE_SSL_DO_HANDSHAKE,
	LS_PROBE_SSL_ACCEPT,
	LS_PROBE_SSL_CONNECT,
	LS_PROBE_NET_SEND,
	LS_PROBE_NET_RECV,
	LS_PROBE_H2_MEM_RECV,
	LS_PROBE_H2_MEM_RECV2,
	LS_PROBE_H2_MEM_SEND,
	LS_PROBE_H2_MEM_SEND2,
	LS_PROBE_H2_SEND,
	LS_PROBE_H2_RECV,
	LS_PROBE_PBC_UNPACK,
	LS_PROBE_PBC_PACK,
	LS_PROBE_PBC_PACK_TO_BUFFER,
	LS_PROBE_PB_PARSE,       /* libprotobuf MessageLite::Parse*, Merge* */
	LS_PROBE_PB_SERIALIZE,   /* libprotobuf MessageLite::Serialize* */
	LS_PROBE_GO_TLS_READ,
	LS_PROBE_GO_TLS_WRITE,
	LS_PROBE_GO_TLS_HANDSHAKE,
	LS_PROBE_GO_H2_READ_FRAME,
	LS_PROBE_GO_H2_WRITE_HEADERS,
	LS_PROBE_GO_H2_WRITE_DATA,
	LS_PROBE_GO_PB_UNMARSHAL,
	LS_PROBE_GO_PB_MARSHAL,
	LS_PROBE_GO_GRPC_HEADERS,   /* grpc-go transport.(*http2Server).operateHeaders */
	LS_PROBE_GO_GRPC_UNARY,     /* grpc.(*Server).processUnaryRPC */
	LS_PROBE_GO_GRPC_STREAMING, /* grpc.(*Server).processStreamingRPC */
	LS_PROBE_GO_GRPC_STATUS,    /* transport.(*http2Server).WriteStatus */
	LS_PROBE_GO_GRPC_UNMARSHAL, /* grpc encoding/proto codec.Unmarshal */
	LS_PROBE_GO_GRPC_MARSHAL,   /* grpc encoding/proto codec.Marshal */
	LS_PROBE_GRPC_PERFORM_READ,  /* gRPC's own HTTP/2 parser (chttp2) */
	LS_PROBE_GRPC_BEGIN_WRITE,   /* chttp2: frames queued writes into the transport's buffer */
	LS_PROBE_GRPC_END_WRITE,     /* chttp2: clean-up after the bytes left */
	LS_PROBE_GRPC_START_BATCH,   /* grpc_call_start_batch: a call's operations */
	LS_PROBE_GRPC_REQUEST_CALL,  /* grpc_server_request_call / _registered_call */
	LS_PROBE_SSL_CLEAR,          /* an SSL object starts a connection afresh (SSL_new, the first handshake step) */
	LS_PROBE_SSL_FREE,           /* an SSL object ends: what its address keys is forgotten */
	LS_PROBE_H2_SESSION_DEL,     /* an nghttp2 session ends */
	LS_PROBE_COUNT,
	LS_PROBE_MAX = 64, /* size of the statistics array: room to grow */
};

/* How a probe's arguments and result are read (the catalog's "abi" column). */
enum ls_argconv {
	LS_ARG_SSL_RW = 1,     /* int f(SSL *, void *buf, int num): ret = bytes */
	LS_ARG_SSL_RW_EX = 2,  /* int f(SSL *, void *buf, size_t num, size_t *done) */
	LS_ARG_SSL_HS = 3,     /* int f(SSL *): 1 = handshake complete */
	LS_ARG_H2_MEM_RECV = 4, /* ssize_t f(session *, const uint8_t *in, size_t inlen) */
	LS_ARG_H2_MEM_SEND = 5, /* ssize_t f(session *, const uint8_t **data): entry only, timed to the next write */
	LS_ARG_H2_SESSION = 6,  /* int f(session *): send/recv through callbacks */
	LS_ARG_PTR_RESULT = 7,  /* returns a pointer: NULL on failure (protobuf_c_message_unpack) */
	LS_ARG_SIZE_RESULT = 8, /* returns a size (protobuf_c_message_pack) */
	LS_ARG_BOOL_RESULT = 9, /* returns a C++ bool (MessageLite::ParseFrom*) */
	/* Go's register ABI: arguments in RAX, RBX, RCX, ...; results in RAX, RBX, ... */
	LS_ARG_GO_RW = 10,      /* (c *T) f(b []byte) (n int, err error): RAX=c, RBX=b.ptr, RCX=b.len; n in RAX */
	LS_ARG_GO_ERR = 11,     /* (c *T) f(...) error: ok when the error (RAX, its type word) is nil */
	LS_ARG_GO_ANY = 12,     /* timing only */
	LS_ARG_GO_HEADERS = 13, /* (t *http2Server) operateHeaders(frame *http2.MetaHeadersFrame, ...): RAX=t, RBX=frame */
	LS_ARG_GO_STREAM_DI = 14, /* (s *Server) f(t ServerTransport, stream *transport.Stream, ...): stream in RDI */
	LS_ARG_GO_STREAM_BX = 15, /* (t *http2Server) f(s *transport.Stream, ...): stream in RBX */
	/* C and C++ */
	LS_ARG_SRET_OBJ = 16,   /* returns a class in memory: RDI is the result slot, the object is the 2nd argument; timing only */
	LS_ARG_INT_ZERO_OK = 17, /* returns a C int (enum): 0 is success (grpc_call_error) */
	LS_ARG_ANY = 18,        /* timing only (void, or a small struct in RAX) */
};

/*
 * Phases of a request. Exclusive: each nanosecond of a request is in exactly
 * one, and they sum to the request's total. APP is the remainder.
 */
enum ls_phase {
	LS_PH_NET_IN = 0,
	LS_PH_TLS_IN,
	LS_PH_H2_IN,
	LS_PH_DECODE,
	LS_PH_APP,
	LS_PH_ENCODE,
	LS_PH_H2_OUT,
	LS_PH_TLS_OUT,
	LS_PH_NET_OUT,
	LS_PH_QUEUE,
	LS_PHASE_COUNT,
	LS_PH_TOTAL = LS_PHASE_COUNT, /* histogram slot for the request total */
	LS_PH_SLOTS,
};

/* What a probed call is, for the per-thread call stack (which phase its self time is). */
enum ls_kind {
	LS_KIND_TLS_READ = 1,
	LS_KIND_TLS_WRITE,
	LS_KIND_TLS_HANDSHAKE,
	LS_KIND_H2_IN,
	LS_KIND_H2_OUT,
	LS_KIND_DECODE,
	LS_KIND_ENCODE,
	LS_KIND_GO_RPC,     /* a grpc-go handler goroutine takes a transport stream: its decodes/encodes are that request's */
	LS_KIND_GO_HEADERS, /* grpc-go's transport decoded a request's headers: the method, without HPACK */
	LS_KIND_GRPC,      /* gRPC call lifecycle: counted and timed; its time is the application's */
	LS_KIND_TLS_FRESH, /* an SSL object starts afresh: whatever its address carried before is another connection's */
	LS_KIND_TLS_FREE,  /* an SSL object is freed (entry only, not timed): its connection's state goes */
	LS_KIND_H2_FREE,   /* an nghttp2 session is deleted (entry only, not timed) */
};

/*
 * A uprobe's BPF cookie: probe id in the low 16 bits, argument convention
 * in the next 8. One generic program serves every catalog entry.
 */
#define LS_COOKIE(probe, conv, kind) \
	((unsigned long long)(probe) | ((unsigned long long)(conv) << 16) | ((unsigned long long)(kind) << 24))
#define LS_COOKIE_PROBE(c) ((c) & 0xffff)
#define LS_COOKIE_CONV(c) (((c) >> 16) & 0xff)
#define LS_COOKIE_KIND(c) (((c) >> 24) & 0xff)

/*
 * The upper 32 bits say where the probe sits. A call-site entry probe fires
 * before the call pushes its return address (the return shows the same stack
 * pointer); a return-site probe reads the result from the register the
 * caller moved it to (enum ls_reg; rax for uretprobes).
 */
#define LS_COOKIE_F_CALLSITE (1ull << 32)
#define LS_COOKIE_REG_SHIFT 40
#define LS_COOKIE_RET_REG(c) (((c) >> LS_COOKIE_REG_SHIFT) & 0xf)

/* General-purpose registers, as a return site names the one holding the result. */
enum ls_reg {
	LS_REG_RAX = 0, LS_REG_RBX, LS_REG_RCX, LS_REG_RDX, LS_REG_RSI, LS_REG_RDI, LS_REG_RBP, LS_REG_RSP,
	LS_REG_R8, LS_REG_R9, LS_REG_R10, LS_REG_R11, LS_REG_R12, LS_REG_R13, LS_REG_R14, LS_REG_R15,
	LS_REG_COUNT,
};

enum ls_rec_type {
	LS_REC_CALL = 1,    /* a TLS library call that moved bytes or finished a handshake (struct ls_event) */
	LS_REC_NET = 2,     /* a kernel TCP send or receive (struct ls_event) */
	LS_REC_REQUEST = 3, /* a finished request with its phases (struct ls_request) */
	LS_REC_HEADERS = 4, /* an HTTP/2 header block fragment, for HPACK (struct ls_headers) */
	LS_REC_SLOW_STACK = 5, /* a thread's stacks when its request crossed the threshold (struct ls_slow_stack) */
	LS_REC_METHOD = 6,  /* a stream's method as the server's own HTTP/2 code decoded it (struct ls_method_rec) */
	LS_REC_USTACK = 7,  /* a CPU sample with a copy of the top of its user stack (struct ls_ustack) */
	LS_REC_SAMPLE = 8,  /* one CPU sample of a target thread, for per-request stacks (struct ls_sample_rec) */
	LS_REC_OFFCPU = 9,  /* one interval a thread serving a request spent off CPU (struct ls_offcpu_rec) */
	LS_REC_GAP = 10,    /* made by user space, not the kernel: the probes were off for a while, per-connection
			     * state (framing, HPACK contexts) is lost (struct ls_rec_hdr only) */
	LS_REC_H2SEQ = 11,  /* nghttp2 is about to apply a joined connection's input: its decoder's insertion counter
			     * (struct ls_h2seq_rec) */
	LS_REC_H2TABLE = 12, /* made by user space from LS_REC_H2SEQ: that decoder's table then, read from the
			      * target (struct ls_h2table_rec) */
};

/* Every record starts with these 8 bytes. */
struct ls_rec_hdr {
	__u16 type;
	__u16 probe;
	__u32 pid;
};

/* Record flags. */
#define LS_F_FD_KNOWN    (1u << 0) /* fd was seen in a socket syscall inside the call */
#define LS_F_HANDSHAKE   (1u << 1) /* this call completed a TLS handshake */
#define LS_F_NESTED_SKIP (1u << 2) /* reserved */

/* Kernel hook variants, in order of preference. */
enum ls_khook {
	LS_KHOOK_NONE = 0,
	LS_KHOOK_FENTRY = 1,
	LS_KHOOK_KPROBE = 2,
	LS_KHOOK_TRACEPOINT = 3,
};

/*
 * Feature groups: the programs load in groups, one per feature, so that a
 * program the kernel refuses costs only the features that need it (see
 * lib/feature.c for which program is in which group).
 */
enum ls_feature {
	LS_FEAT_SYSCALLS = 0, /* socket syscalls: fds of TLS calls, start of tracepoint-timed sends/receives */
	LS_FEAT_NET,          /* kernel send/receive timing: one kernel hook variant */
	LS_FEAT_QUEUE,        /* when received bytes reached the socket */
	LS_FEAT_CALLS,        /* library calls: TLS, HTTP/2 library, protobuf (C ABI) */
	LS_FEAT_WALK,         /* the HTTP/2 walk: requests, their phases and names */
	LS_FEAT_GO,           /* Go: goroutine call stacks, grpc-go bindings */
	LS_FEAT_SAMPLER,      /* CPU samples */
	LS_FEAT_OFFCPU,       /* where threads blocked */
	LS_FEAT_SOCKIO,       /* the syscall reader: plaintext HTTP/2 (h2c) from socket reads and writes */
	LS_FEAT_COUNT,
};

struct ls_event {
	__u16 type;    /* enum ls_rec_type */
	__u16 probe;   /* enum ls_probe */
	__u32 pid;     /* tgid */
	__u32 tid;
	__s32 fd;      /* -1 when unknown */
	__u64 ts_ns;   /* CLOCK_MONOTONIC at the end of the call */
	__u64 dur_ns;
	__u64 conn;    /* SSL * for TLS calls, struct sock * for kernel records */
	__s64 ret;     /* raw return value */
	__u64 bytes;
	__u64 span_ns; /* handshake: first SSL_do_handshake entry to completion */
	__u32 flags;
	__u32 _pad;
};

/*
 * Log-linear latency histogram in nanoseconds: exact below 64 ns, then 32
 * sub-buckets per power of two (bucket width <= 1/32 of its lower bound, so a
 * percentile read at the bucket midpoint is within 1.6%). Values at or past
 * 2^38 ns (~275 s) land in the last bucket.
 */
#define LS_HIST_SUB_BITS 5
#define LS_HIST_LINEAR   64 /* 2 << LS_HIST_SUB_BITS */
#define LS_HIST_MAX_LOG2 38
#define LS_HIST_BUCKETS  (LS_HIST_LINEAR + (LS_HIST_MAX_LOG2 - 6) * 32)

struct ls_stats {
	__u64 calls;   /* every return seen */
	__u64 ok;      /* returns that moved bytes / completed */
	__u64 fail;    /* returns <= 0 (WANT_READ, errors, handshake in progress) */
	__u64 bytes;
	__u64 dur_sum_ns; /* over ok calls */
	__u64 dur_max_ns;
	__u64 nested;  /* calls inside another TLS call on the same thread, not counted apart */
	__u64 _pad;
	__u64 hist[LS_HIST_BUCKETS]; /* durations of ok calls (those timed: see ls_account_bytes) */
};

/* Request flags. */
#define LS_RQ_SLOW       (1u << 0) /* total >= threshold */
#define LS_RQ_JOINED     (1u << 1) /* connection first seen mid-flight */
#define LS_RQ_RESET      (1u << 2) /* ended by RST_STREAM */
#define LS_RQ_OVERLAP    (1u << 3) /* measured phases exceeded the total: app clamped to 0 */
#define LS_RQ_PROTO_FIFO (1u << 4) /* decode/encode matched to the request by their order on the thread */
#define LS_RQ_PROTO_STREAM (1u << 5) /* decode/encode matched by the grpc-go transport stream their goroutine serves */
#define LS_RQ_NET_THREAD (1u << 6) /* TLS over memory BIOs (no fd on the SSL object): kernel time matched by thread and time */
#define LS_RQ_PROTO_WRITER (1u << 7) /* memory BIOs: decode/encode held on their handler thread, given to the response it started */
#define LS_RQ_HTTP1      (1u << 8) /* an HTTP/1.x exchange (stream: its place on the connection, from 1) */

/*
 * Keys of the conns and reqs maps: user space walks reqs to delete the requests of
 * connections that ended before their response, and of streams the client reset with
 * NO_ERROR and no response seen (ls_session_poll()).
 */
/*
 * Connection ids of the syscall reader (plaintext HTTP/2 from socket syscalls,
 * sockio.bpf.h): never a user-space pointer. Its connections do not depend on
 * uprobes, so a gap in them (--overhead) leaves them whole.
 */
#define LS_SIO_CONN_BIT (1ULL << 63)

struct ls_conn_key {
	__u64 conn;   /* SSL * or Go conn */
	__u32 pid;
	__u32 _pad;
};

struct ls_req_key {
	__u64 conn;
	__u32 pid;
	__u32 stream;
};

struct ls_request {
	__u16 type;       /* LS_REC_REQUEST */
	__u16 flags;      /* LS_RQ_* */
	__u32 pid;
	__u32 tid;        /* thread that finished the response */
	__u32 stream;
	__u64 conn;
	__u64 start_ns;
	__u64 total_ns;
	__u64 phase_ns[LS_PHASE_COUNT];
	__u64 bytes_in;   /* HTTP/2 payload bytes of the request (DATA) */
	__u64 bytes_out;  /* HTTP/2 payload bytes of the response (DATA) */
	__u16 shared;     /* most streams served by one call of this request */
	__u16 status;     /* HTTP/1: the response's status code (HTTP/2's come in header blocks), 0: not seen */
	__u16 _pad[2];
	__u32 serve_tid;  /* thread that decoded the request (its handler), 0: unknown */
	__u32 _pad2;
	__u64 serve_g;    /* Go: the goroutine that served the stream, 0: none or unknown */
};

/* Header block fragment flags. */
#define LS_HD_OUT        (1u << 0) /* server -> client direction (sent by the process) */
#define LS_HD_END        (1u << 1) /* END_HEADERS: the block is complete */
#define LS_HD_CONT       (1u << 2) /* continues the previous fragment of this direction */
#define LS_HD_TRUNC      (1u << 3) /* fragment longer than LS_HD_MAX: the rest was not copied */
#define LS_HD_JOINED     (1u << 4) /* connection first seen mid-flight: no HPACK context */
#define LS_HD_PRIORITY   (1u << 5) /* HEADERS with PRIORITY: 5 bytes precede the block (already skipped) */
#define LS_HD_FRESH      (1u << 6) /* no block: a new connection starts at this address, forget the last one's HPACK context */
#define LS_HD_HTTP1      (1u << 7) /* not HPACK: (a fragment of) an HTTP/1 request line */
#define LS_HD_SEQWAIT    (1u << 8) /* joined connection of a target whose decoder latscope can read: an
				    * LS_REC_H2SEQ follows when the library applies the input */

#define LS_HD_MAX 1024

struct ls_headers {
	__u16 type;       /* LS_REC_HEADERS */
	__u16 flags;      /* LS_HD_* */
	__u32 pid;
	__u32 stream;
	__u32 len;        /* bytes in data[] */
	__u64 conn;
	__u8 data[LS_HD_MAX];
};

/*
 * nghttp2_session_mem_recv begins on a connection joined mid-flight (at attach, or after a gap of
 * the overhead budget): where its HPACK decoder stood. Entry i of its dynamic table (0: newest)
 * was inserted as number seq_now - 1 - i: the entries older than seq are the table this input
 * starts from, whatever the target inserts before user space reads them.
 */
struct ls_h2seq_rec {
	__u16 type;       /* LS_REC_H2SEQ */
	__u16 _pad;
	__u32 pid;
	__u64 conn;
	__u64 session;    /* nghttp2_session * */
	__u32 seq;        /* the inflater's insertion counter */
	__u32 blocks;     /* request header blocks sent (LS_REC_HEADERS with LS_HD_END) of the connection before it */
};

/* Per target: where nghttp2's inflater keeps its insertion counter (map h2_infl). */
struct ls_h2_infl {
	__u32 seq_off;    /* from the nghttp2_session * */
	__u32 _pad;
};

/* Why a table could not be read (struct ls_h2table_rec.status). */
enum ls_h2t_status {
	LS_H2T_OK = 0,
	LS_H2T_UNREADABLE,  /* the target's memory could not be read (the session ended?) */
	LS_H2T_CHANGING,    /* the table changed under every attempt to read it */
	LS_H2T_INVALID,     /* what was read is no nghttp2 table (counter went back, sizes out of range) */
	LS_H2T_TOO_LARGE,   /* larger than latscope copies */
	LS_H2T_NO_LAYOUT,   /* the target's nghttp2 layout is unknown */
};

#define LS_H2TABLE_MAX 12288
struct ls_h2table_rec {
	__u16 type;       /* LS_REC_H2TABLE */
	__u16 status;     /* enum ls_h2t_status */
	__u32 pid;
	__u64 conn;
	__u32 blocks;     /* from the LS_REC_H2SEQ */
	__u32 table_max;  /* the decoder's table size limit */
	__u32 entries;    /* entries rebuilt (older ones were evicted before they were read) */
	__u32 len;        /* bytes in data[] */
	/* an HPACK block that rebuilds the table: its entries, oldest first, as literals with indexing */
	__u8 data[LS_H2TABLE_MAX];
};

/* A stream's :path read from the server's decoded header fields (grpc-go operateHeaders). */
#define LS_METHOD_REC_MAX 128
struct ls_method_rec {
	__u16 type;       /* LS_REC_METHOD */
	__u16 len;        /* bytes in name[] (truncated to LS_METHOD_REC_MAX - 1) */
	__u32 pid;
	__u32 stream;
	__u32 _pad;
	__u64 conn;
	char name[LS_METHOD_REC_MAX];
};

/*
 * Struct layouts of a Go binary that the grpc-go probes read (byte offsets),
 * from its DWARF or, when stripped, from lib/gooffsets.c's version table.
 */
struct ls_go_offsets {
	__u32 stream_id;       /* transport.Stream.id (uint32) */
	__u32 stream_st;       /* transport.Stream.st (ServerTransport interface: data word at +8) */
	__u32 stream_method;   /* transport.Stream.method (string) */
	__u32 mhf_headers;     /* http2.MetaHeadersFrame.HeadersFrame (*HeadersFrame) */
	__u32 mhf_fields;      /* http2.MetaHeadersFrame.Fields ([]hpack.HeaderField) */
	__u32 hf_frame_header; /* http2.HeadersFrame.FrameHeader */
	__u32 fh_stream_id;    /* http2.FrameHeader.StreamID (uint32) */
	__u32 field_size;      /* size of hpack.HeaderField */
	__u32 field_name;      /* hpack.HeaderField.Name (string) */
	__u32 field_value;     /* hpack.HeaderField.Value (string) */
	__u32 h2s_conn;        /* transport.http2Server.conn (net.Conn interface: data word at +8); 0: unknown */
};

/* Per target-slot and phase (LS_PH_SLOTS per slot): request phase distributions, exact under drops. */
#define LS_MAX_TARGETS 8
struct ls_phase_stats {
	__u64 count;
	__u64 sum_ns;
	__u64 max_ns;
	__u64 _pad;
	__u64 hist[LS_HIST_BUCKETS];
};

/*
 * Profiler: samples and off-CPU time aggregate in the kernel, keyed by the
 * stacks (ids in the stack-trace map; negative when not captured), the
 * thread's phase and whether its request was over the threshold.
 */
#define LS_PH_OTHER LS_PHASE_COUNT  /* sample taken outside any request */
#define LS_STACK_DEPTH 127

struct ls_sample_key {
	__u32 pid;
	__s32 ustack;
	__s32 kstack;
	__u8 phase;   /* enum ls_phase, or LS_PH_OTHER */
	__u8 slow;
	__u8 ra_slot; /* ra is the word at user sp + 8 * ra_slot */
	__u8 _pad;
	/*
	 * The first of the LS_RA_WORDS words at the user stack pointer that points
	 * into the target's code (0: none): the return address a frame-pointer walk
	 * skips when the sampled code has not set up its frame (a leaf, a prologue,
	 * an epilogue). User space decides from the CFI whether it is one.
	 */
	__u64 ra;
};

#define LS_RA_WORDS 4

/*
 * Per target slot: its executable mappings, sorted and disjoint, for the
 * return-address test above and for --call-graph auto, which copies the stack
 * only when the sampled code keeps no frame pointers (bit i of nofp: range i).
 */
#define LS_XRANGES 64
struct ls_xranges {
	__u32 n;
	__u32 _pad;
	__u64 nofp;
	__u64 start[LS_XRANGES];
	__u64 end[LS_XRANGES];
};

struct ls_slow_stack {
	__u16 type;   /* LS_REC_SLOW_STACK */
	__u16 phase;
	__u32 pid;
	__u32 tid;
	__s32 ustack;
	__s32 kstack;
	__u32 _pad;
	__u64 ts_ns;
	__u64 age_ns; /* how long the request had been running */
};

/*
 * --call-graph dwarf: instead of a frame-pointer walk, a sample carries the
 * user registers and the top of the user stack (from the stack pointer up),
 * and user space unwinds it with the objects' call frame information.
 * Registers are in DWARF numbering (x86-64: rax rdx rcx rbx rsi rdi rbp rsp
 * r8..r15, then rip as 16).
 */
#define LS_USTACK_MAX   65528 /* most user stack bytes one sample copies */
#define LS_USTACK_DEF   16384
#define LS_UREGS        17
#define LS_UREG_SP      7
#define LS_UREG_IP      16

#define LS_US_SLOW_FIRST (1u << 0) /* first sample after this thread's request crossed the threshold */

struct ls_ustack {
	__u16 type;   /* LS_REC_USTACK */
	__u8 phase;   /* enum ls_phase, or LS_PH_OTHER */
	__u8 slow;
	__u32 pid;
	__u32 tid;
	__s32 kstack; /* kernel stack id (frame-pointer walk), negative when not captured */
	__u64 ts_ns;
	__u64 age_ns; /* LS_US_SLOW_FIRST: how long the request had been running */
	__u64 regs[LS_UREGS];
	__u32 size;   /* stack bytes that follow this struct: the stack from regs[LS_UREG_SP] up */
	__u32 flags;  /* LS_US_* */
};

/*
 * Per-request stacks (trace --stacks): every CPU sample of a target, and every
 * interval a thread (or goroutine) working on a request spent off CPU, go to
 * user space one by one, which gives each slow request those of its own.
 * g is the user-mode r14: the running goroutine in Go code, noise elsewhere.
 */
struct ls_sample_rec {
	__u16 type;   /* LS_REC_SAMPLE */
	__u8 phase;   /* enum ls_phase, or LS_PH_OTHER */
	__u8 ra_slot; /* as in struct ls_sample_key */
	__u32 pid;
	__u32 tid;
	__s32 ustack;
	__s32 kstack;
	__u32 _pad1;
	__u64 ts_ns;
	__u64 g;
	__u64 ra;     /* as in struct ls_sample_key: the caller a leaf's frame-pointer walk skips */
};

#define LS_OFF_PREEMPTED (1u << 0) /* it was still runnable: it waited for a CPU, not for an event */

struct ls_offcpu_rec {
	__u16 type;   /* LS_REC_OFFCPU */
	__u16 flags;  /* LS_OFF_* */
	__u32 pid;
	__u32 tid;
	__s32 ustack; /* where it blocked */
	__s32 kstack;
	__u32 _pad1;
	__u64 start_ns, end_ns;
	__u64 g;
	__u64 wake_ns; /* when it was woken (0: not seen, or preempted): from then to end_ns it waited for a CPU */
	__u64 ra;     /* as in struct ls_sample_key */
	__u8 ra_slot;
	__u8 _pad2[7];
};

/* Per-CPU counters that are not per probe. */
enum ls_counter {
	LS_CNT_RB_DROPS = 0,   /* records lost: ring buffer full */
	LS_CNT_RB_WAKEUPS,     /* forced wake-ups: past the fill threshold, or an LS_REC_H2SEQ */
	LS_CNT_STALE,          /* in-flight entries replaced because their return never came */
	LS_CNT_DEPTH,          /* calls nested deeper than the per-thread stack holds */
	LS_CNT_H2_DESYNC,      /* buffers whose HTTP/2 framing could not be followed */
	LS_CNT_REQ_UNMATCHED,  /* response frames of a stream never seen starting */
	LS_CNT_REQ_TABLE_FULL, /* requests not tracked: table full */
	LS_CNT_BATCH_FULL,     /* streams beyond what one buffer's bookkeeping holds: their frames were not attributed */
	LS_CNT_SAMPLES,        /* CPU samples of target threads */
	LS_CNT_SAMPLE_LOST,    /* samples not aggregated (table full) */
	LS_CNT_STACK_LOST,     /* stacks not captured (stack map full or unwinding failed) */
	LS_CNT_PROTO_UNMATCHED, /* decodes/encodes no request could be matched to */
	LS_CNT_USTACK_DROPS,   /* --call-graph dwarf samples lost: ring buffer full */
	LS_CNT_USTACK_SHORT,   /* user stack copies cut short by an unreadable page */
	LS_CNT_HS_IN_IO,       /* handshakes run inside SSL_read/SSL_write (no handshake call): completed by the first to move data */
	LS_CNT_THREAD_FULL,    /* calls of threads or goroutines not tracked: their table was full */
	LS_CNT_TABLE_FULL,     /* per-thread kernel-call entries not stored (sys_calls, net_calls, gcur full) */
	LS_CNT_REQ_DROPS,      /* request records lost (ring buffer full): also in LS_CNT_RB_DROPS; the histograms keep them */
	LS_CNT_THREAD_EXITS,   /* target threads that exited: their per-thread entries were deleted */
	LS_CNT_CONN_FREED,     /* TLS objects freed (SSL_free): their connection's entries were deleted */
	LS_CNT_H1_DESYNC,      /* HTTP/1 directions whose framing was lost (resynchronised at a buffer starting a message) */
	LS_CNT_REQ_OUTSIDE,    /* requests finished that started outside the sampling window (--overhead): not counted */
	LS_CNT_H2C_CONNS,      /* connections the syscall reader recognised as plaintext HTTP/2 (client preface) */
	LS_CNT_SIO_IOV_CUT,    /* vectored socket calls with more segments than the syscall reader walks */
	LS_CNT_H1_PLAIN_CONNS, /* connections the syscall reader recognised as plaintext HTTP/1 (a method token) */
	LS_CNT_SSL_FD_WRONG,   /* TLS objects whose socket was taken from another's syscall, found out by a write without one */
	LS_CNT_H2O_DROPPED,    /* mem_send spans not charged: the thread slept or read before it wrote (see ls_h2o_close) */
	LS_CNT_REQ_RESET,      /* requests reset before their response ended: not recorded (and see ls_session_counter) */
	LS_CNT_MAX = 32,
};

/*
 * The index of v's highest set bit (0 for 0 and 1), for v < 2^63. Each
 * comparison is a subtraction's sign bit, not a branch: the BPF verifier
 * follows one path through it instead of one per outcome.
 */
static inline __attribute__((always_inline)) unsigned int ls_log2_u64(__u64 v)
{
	__u64 s, r;

	s = ((0xffffffffULL - v) >> 63) << 5;
	v >>= s;
	r = s;
	s = ((0xffffULL - v) >> 63) << 4;
	v >>= s;
	r |= s;
	s = ((0xffULL - v) >> 63) << 3;
	v >>= s;
	r |= s;
	s = ((0xfULL - v) >> 63) << 2;
	v >>= s;
	r |= s;
	s = ((0x3ULL - v) >> 63) << 1;
	v >>= s;
	r |= s;
	r |= (0x1ULL - v) >> 63;
	return (unsigned int)r;
}

static inline __attribute__((always_inline)) unsigned int ls_hist_bucket(__u64 v)
{
	unsigned int msb, shift;

	if (v < LS_HIST_LINEAR)
		return (unsigned int)v;
	if (v >> LS_HIST_MAX_LOG2)
		return LS_HIST_BUCKETS - 1;
	msb = ls_log2_u64(v);
	shift = msb - LS_HIST_SUB_BITS;
	return LS_HIST_LINEAR + (msb - 6) * 32 + (unsigned int)((v >> shift) - 32);
}

#endif
