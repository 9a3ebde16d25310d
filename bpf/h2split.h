/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The HTTP/2 frame splitter: a state machine over the successive buffers of one
 * direction of a connection. Frames arrive cut anywhere (a 9-byte header split
 * across buffers, a payload spanning several, the client preface in pieces); out
 * come events: each frame header (length, type, flags, stream), the payload bytes
 * of a frame begun in an earlier buffer, and the header-block fragments of
 * HEADERS and CONTINUATION frames with their padding and priority fields removed.
 * The events do not depend on where the bytes were cut.
 *
 * One source for the BPF program (bytes read with bpf_probe_read_user) and for
 * user space (unit test, fuzzing): the includer defines, before including,
 *   H2S_CTX      the type the walk works on
 *   H2S_BUF(L)   the current buffer (const __u8 *), H2S_LEN(L) its length (__u32),
 *   H2S_OFF(L)   the walk position in it (a __u32 lvalue),
 *   H2S_DIR(L)   the direction's state (struct ls_h2dir *)
 *   H2S_FRAME(L, d, h, off) optionally, how to call h2s_frame() (BPF: through a
 *                global function, so its body is verified once)
 *   H2S_FRAMES(L) optionally, how to run h2s_step() until it returns non-zero,
 *                at most H2S_FRAMES_MAX times (default: a plain loop; the BPF
 *                program runs it with bpf_loop over a function verified once)
 * and defines the h2s_on_* event handlers declared below. Included without
 * H2S_CTX, it gives only the types (for the includer's own structs); included
 * again with it, the walk.
 */
#ifndef LATSCOPE_H2SPLIT_TYPES
#define LATSCOPE_H2SPLIT_TYPES

#include "latscope.h"

#define H2_DATA 0
#define H2_HEADERS 1
#define H2_RST_STREAM 3
#define H2_CONTINUATION 9
#define H2_F_END_STREAM 0x1
#define H2_F_END_HEADERS 0x4
#define H2_F_PADDED 0x8
#define H2_F_PRIORITY 0x20

/*
 * A frame type past this means the walk lost the framing. The client preface read as
 * a frame header has type 0x20 (' ' in "PRI * HT"): a connection that starts again on
 * state left by an earlier one must not pass for a 5 MiB frame that swallows it.
 */
#define H2S_TYPE_MAX 0x1f
#define H2S_FRAMES_MAX 512  /* frame headers followed per buffer */

#ifdef __bpf__
#define h2s_read(dst, n, src) bpf_probe_read_user(dst, n, src)
#else
#include <string.h>
#ifndef __always_inline
#define __always_inline inline __attribute__((always_inline))
#endif
#ifndef barrier_var
#define barrier_var(v) __asm__ __volatile__("" : "+r"(v))
#endif
static inline long h2s_read(void *dst, __u32 n, const void *src)
{
	memcpy(dst, src, n);
	return 0;
}

#endif

/* Following the framing of one direction of a connection, across its buffers. */
struct ls_h2dir {
	__u32 skip;        /* payload bytes of the current frame still to come */
	__u32 cur_stream;
	__u32 blk_left;    /* header-block bytes of the current frame still to come */
	__u8 cur_type;
	__u8 cur_flags;
	__u8 hdr_have;     /* bytes of a split frame header collected in hdr */
	__u8 started;      /* a byte has been seen in this direction */
	__u8 desync;
	__u8 pre_wait;     /* inside the client preface */
	__u8 pre_have;     /* preface bytes matched so far */
	__u8 cont_skip;    /* header-block prefix bytes (pad length, priority) still to skip */
	__u8 pad_wait;     /* the pad length byte has not been seen: the block's end is unknown */
	__u8 blk_bad;      /* padding and prefix longer than the frame: the block cannot be delimited */
	__u8 hdr[9];
	__u8 _pad[5];
};

struct h2s_frame {
	__u32 len;      /* payload length */
	__u32 stream;
	__u32 pay_off;  /* where the payload starts in this buffer */
	__u32 avail;    /* payload bytes in this buffer */
	__u8 type;
	__u8 flags;
};
#endif

#if defined(H2S_CTX) && !defined(LATSCOPE_H2SPLIT_WALK)
#define LATSCOPE_H2SPLIT_WALK

#ifndef H2S_FRAME
#define H2S_FRAME(L, d, h, pay_off) h2s_frame(L, d, h, pay_off)
#endif
#ifndef H2S_FRAMES
#define H2S_FRAMES(L)                                           \
	do {                                                    \
		for (__u32 h2s_i_ = 0; h2s_i_ < H2S_FRAMES_MAX; h2s_i_++) \
			if (h2s_step(L))                        \
				break;                          \
	} while (0)
#endif

/* A frame header: its payload is [pay_off, pay_off + avail) of this buffer (and more later when avail < len). */
static __always_inline void h2s_on_frame(H2S_CTX *L, const struct h2s_frame *f);
/* n bytes at the start of this buffer continue the payload of the frame d->cur_*; last: it ends here. */
static __always_inline void h2s_on_rest(H2S_CTX *L, const struct ls_h2dir *d, __u32 n, int last);
/* A header-block fragment of stream: len bytes at off in this buffer; flags LS_HD_END, LS_HD_CONT, LS_HD_TRUNC. */
static __always_inline void h2s_on_block(H2S_CTX *L, __u32 stream, __u32 off, __u32 len, __u16 flags);
/* The client preface has been seen. */
static __always_inline void h2s_on_preface(H2S_CTX *L);
/* The framing was lost in this buffer: the walk starts afresh at the next one. */
static __always_inline void h2s_on_desync(H2S_CTX *L);

static const char h2s_preface[24] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/* 1 when a < b, 0 otherwise, for values below 2^63: arithmetic, no branch for the verifier to follow. */
static __always_inline __u64 h2s_below(__u64 a, __u64 b)
{
	return (a - b) >> 63;
}

/* The preface as three little-endian words: what the walk compares with. */
#define H2S_PREFACE_W0 0x5448202a20495250ULL
#define H2S_PREFACE_W1 0x0a0d302e322f5054ULL
#define H2S_PREFACE_W2 0x0a0d0a0d4d530a0dULL

/* Byte k of the preface, from its words (the unit test checks them against the text). */
static __always_inline __u8 h2s_preface_byte(__u32 k)
{
	__u64 w = k < 8 ? H2S_PREFACE_W0 : k < 16 ? H2S_PREFACE_W1 : H2S_PREFACE_W2;

	return (__u8)(w >> ((k & 7) * 8));
}

/*
 * n payload bytes at off of the current HEADERS/CONTINUATION frame, rem bytes of
 * its payload left including these: one fragment (empty when the bytes are all
 * prefix or padding: it still tells user space where a block starts and ends).
 */
static __always_inline void h2s_block_piece(H2S_CTX *L, struct ls_h2dir *d, __u32 off, __u32 n, __u32 rem,
					    int first, int last)
{
	__u16 hf = (!first || d->cur_type == H2_CONTINUATION) ? LS_HD_CONT : 0;
	__u32 lead, len;

	if (d->pad_wait && n) {
		__u8 p = 0;

		if (h2s_read(&p, 1, H2S_BUF(L) + off))
			d->blk_bad = 1;
		d->pad_wait = 0;
		if (rem < (__u32)d->cont_skip + p) {
			d->blk_bad = 1;
			d->blk_left = 0;
		} else {
			d->blk_left = rem - d->cont_skip - p;
		}
	}
	lead = d->cont_skip < n ? d->cont_skip : n;
	d->cont_skip -= lead;
	len = n - lead;
	if (len > d->blk_left)
		len = d->blk_left;
	d->blk_left -= len;
	if (last && (d->cur_flags & H2_F_END_HEADERS))
		hf |= LS_HD_END;
	if (d->blk_bad || (last && d->pad_wait))
		hf |= LS_HD_TRUNC;
	h2s_on_block(L, d->cur_stream, off + lead, len, hf);
}

/* A complete frame header h whose payload starts at pay_off: report it, then skip its payload. */
static __always_inline int h2s_frame(H2S_CTX *L, struct ls_h2dir *d, const __u8 *h, __u32 pay_off)
{
	__u32 blen = H2S_LEN(L);
	struct h2s_frame f;

	f.len = ((__u32)h[0] << 16) | ((__u32)h[1] << 8) | h[2];
	f.type = h[3];
	f.flags = h[4];
	f.stream = (((__u32)h[5] << 24) | ((__u32)h[6] << 16) | ((__u32)h[7] << 8) | h[8]) & 0x7fffffff;
	f.pay_off = pay_off;
	f.avail = pay_off < blen ? blen - pay_off : 0;
	if (f.avail > f.len)
		f.avail = f.len;
	if (f.type > H2S_TYPE_MAX) {
		d->desync = 1;
		return 1;
	}
	d->cur_type = f.type;
	d->cur_flags = f.flags;
	d->cur_stream = f.stream;
	h2s_on_frame(L, &f);
	if (f.stream && (f.type == H2_HEADERS || f.type == H2_CONTINUATION)) {
		d->cont_skip = 0;
		d->pad_wait = 0;
		d->blk_bad = 0;
		if (f.type == H2_HEADERS) {
			if (f.flags & H2_F_PADDED) {
				d->cont_skip = 1;
				d->pad_wait = 1;
			}
			if (f.flags & H2_F_PRIORITY)
				d->cont_skip += 5;
		}
		if (!d->pad_wait) {
			if (f.len < d->cont_skip) {
				d->blk_bad = 1;
				d->blk_left = 0;
			} else {
				d->blk_left = f.len - d->cont_skip;
			}
		}
		h2s_block_piece(L, d, pay_off, f.avail, f.len, 1, f.avail == f.len);
	}
	H2S_OFF(L) = pay_off + f.len;
	d->skip = H2S_OFF(L) > blen ? H2S_OFF(L) - blen : 0;
	return 0;
}

/* The next frame of the buffer: 0 to go on, non-zero when the buffer is done. */
static __always_inline int h2s_step(H2S_CTX *L)
{
	struct ls_h2dir *d = H2S_DIR(L);
	__u32 off = H2S_OFF(L), blen = H2S_LEN(L);
	__u8 h[9];

	if (d->desync || off >= blen)
		return 1;
	if (blen - off < 9) {
		/* A frame header split across buffers: keep its first bytes. */
		__u32 n = blen - off;

		barrier_var(n);
		n &= 15; /* the verifier's bound; n <= 8 already */
		if (n > 8)
			return 1;
		if (n && h2s_read(d->hdr, n, H2S_BUF(L) + off))
			return 1;
		d->hdr_have = n;
		H2S_OFF(L) = blen;
		return 1;
	}
	if (h2s_read(h, 9, H2S_BUF(L) + off))
		return 1;
	return H2S_FRAME(L, d, h, off + 9);
}

/*
 * The first bytes of a direction. A stream that starts with 'P' must start with
 * the client preface (no peer opens with a 5 MiB frame), so the preface is told
 * apart from frames whatever the cut; it may arrive in pieces.
 */
static __always_inline void h2s_preface_step(H2S_CTX *L, struct ls_h2dir *d)
{
	__u32 blen = H2S_LEN(L), have, n, i;
	__u8 head[24] = {};
	/* The preface and zeros, indexed by a masked offset: a bounded read, no branch per byte. */
	__u64 pre[4] = { H2S_PREFACE_W0, H2S_PREFACE_W1, H2S_PREFACE_W2, 0 };
	__u64 diff = 0;
	int bad = 0;

	if (!d->started) {
		__u8 c0 = 0;

		d->started = 1;
		if (h2s_read(&c0, 1, H2S_BUF(L)))
			c0 = 0;
		d->pre_wait = c0 == 'P';
		d->pre_have = 0;
	}
	if (!d->pre_wait)
		return;
	have = d->pre_have;
	if (have >= 24)
		return;
	n = 24 - have;
	if (n > blen)
		n = blen;
	barrier_var(n);
	n &= 31;
	if (n < 1 || n > 24)
		return;
	if (h2s_read(head, n, H2S_BUF(L)))
		bad = 1;
#ifdef __bpf__
#pragma unroll
#endif
	for (i = 0; i < 24; i++) /* have + n <= 24: byte i is compared only when i < n */
		diff |= (__u64)(head[i] ^ ((const __u8 *)pre)[(have + i) & 31]) * h2s_below(i, n);
	if (bad || diff) {
		d->pre_wait = 0;
		d->desync = 1;
		return;
	}
	d->pre_have = have + n;
	H2S_OFF(L) = n;
	if (have + n == 24) {
		d->pre_wait = 0;
		h2s_on_preface(L);
	}
}

/* Follow the frames of one buffer of a connection direction. */
static __always_inline void h2s_walk(H2S_CTX *L)
{
	struct ls_h2dir *d = H2S_DIR(L);
	__u32 blen = H2S_LEN(L);

	H2S_OFF(L) = 0;
	if (!blen)
		return;
	h2s_preface_step(L, d);
	/* The payload of a frame that started in an earlier buffer. */
	if (!d->desync && d->skip) {
		__u32 n = d->skip < blen ? d->skip : blen;
		int last = n == d->skip;

		if (d->cur_stream && (d->cur_type == H2_HEADERS || d->cur_type == H2_CONTINUATION))
			h2s_block_piece(L, d, 0, n, d->skip, 0, last);
		h2s_on_rest(L, d, n, last);
		d->skip -= n;
		H2S_OFF(L) = n;
	}
	/* The rest of a frame header split across buffers (perhaps across several). */
	if (!d->desync && d->hdr_have && H2S_OFF(L) < blen) {
		__u32 have = d->hdr_have, off = H2S_OFF(L), n = blen - off;
		__u8 h[9];

		if (have <= 8 && n > 9 - have)
			n = 9 - have;
		barrier_var(have);
		have &= 15; /* 1..8 already: the bounds for the verifier */
		barrier_var(n);
		n &= 15;
		if (have > 8 || n < 1 || n > 8 || h2s_read(&d->hdr[have], n, H2S_BUF(L) + off)) {
			d->desync = 1;
		} else if (have + n < 9) {
			d->hdr_have = have + n;
			H2S_OFF(L) = blen;
		} else {
			__builtin_memcpy(h, d->hdr, 9);
			d->hdr_have = 0;
			H2S_FRAME(L, d, h, off + n);
		}
	}
	if (!d->desync) {
		H2S_FRAMES(L);
		if (H2S_OFF(L) < blen && !d->desync && !d->hdr_have)
			d->desync = 1;
	}
	if (d->desync) {
		/* Resynchronise at the next buffer: writers flush whole frames most of the time. */
		d->desync = 0;
		d->skip = 0;
		d->hdr_have = 0;
		d->pre_wait = 0;
		h2s_on_desync(L);
	}
}

#endif
