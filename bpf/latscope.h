/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The kernel/user ABI of latscope: the only structs that cross the boundary.
 * Fixed-width types, explicit padding; bump LS_ABI_VERSION on any change.
 * Included by bpf/latscope.bpf.c (with vmlinux.h) and by lib/ (with linux/types.h).
 */
#ifndef LATSCOPE_ABI_H
#define LATSCOPE_ABI_H

#define LS_ABI_VERSION 1

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
	LS_PROBE_COUNT,
	LS_PROBE_MAX = 32, /* size of the statistics array: room to grow */
};

/* How a probe's arguments and result are read (the catalog's "abi" column). */
enum ls_argconv {
	LS_ARG_SSL_RW = 1,     /* int f(SSL *, void *buf, int num): ret = bytes */
	LS_ARG_SSL_RW_EX = 2,  /* int f(SSL *, void *buf, size_t num, size_t *done) */
	LS_ARG_SSL_HS = 3,     /* int f(SSL *): 1 = handshake complete */
};

/*
 * A uprobe's BPF cookie: probe id in the low 16 bits, argument convention
 * in the next 8. One generic program serves every catalog entry.
 */
#define LS_COOKIE(probe, conv) ((unsigned long long)(probe) | ((unsigned long long)(conv) << 16))
#define LS_COOKIE_PROBE(c) ((c) & 0xffff)
#define LS_COOKIE_CONV(c) (((c) >> 16) & 0xff)

enum ls_rec_type {
	LS_REC_CALL = 1, /* a TLS library call that moved bytes or finished a handshake */
	LS_REC_NET = 2,  /* a kernel TCP send or receive */
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
	__u64 hist[LS_HIST_BUCKETS]; /* durations of ok calls */
};

/* Per-CPU counters that are not per probe. */
enum ls_counter {
	LS_CNT_RB_DROPS = 0,   /* records lost: ring buffer full */
	LS_CNT_RB_WAKEUPS,     /* forced wake-ups past the fill threshold */
	LS_CNT_STALE,          /* in-flight entries replaced because their return never came */
	LS_CNT_MAX = 8,
};

static inline __attribute__((always_inline)) unsigned int ls_log2_u64(__u64 v)
{
	unsigned int r = 0;

	if (v >> 32) { v >>= 32; r += 32; }
	if (v >> 16) { v >>= 16; r += 16; }
	if (v >> 8) { v >>= 8; r += 8; }
	if (v >> 4) { v >>= 4; r += 4; }
	if (v >> 2) { v >>= 2; r += 2; }
	if (v >> 1) { r += 1; }
	return r;
}

static inline __attribute__((always_inline)) unsigned int ls_hist_bucket(__u64 v)
{
	unsigned int msb, shift;

	if (v < LS_HIST_LINEAR)
		return (unsigned int)v;
	msb = ls_log2_u64(v);
	if (msb >= LS_HIST_MAX_LOG2)
		return LS_HIST_BUCKETS - 1;
	shift = msb - LS_HIST_SUB_BITS;
	return LS_HIST_LINEAR + (msb - 6) * 32 + (unsigned int)((v >> shift) - 32);
}

#endif
