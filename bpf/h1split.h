/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * HTTP/1.x message framing, one byte at a time: where each message of one
 * direction of a connection starts, where its start line and head end, and
 * where its body ends (Content-Length, chunked, none). Bodies are skipped by
 * count (h1s_body()), never read: only heads and chunk-size lines cost a byte
 * each. Its state lives between buffers in struct ls_h1dir.
 *
 * One source for the BPF walk (bpf/http1.bpf.h), tests/unit/test_h1split.c and
 * tests/fuzz/fuzz_h1split.c. Pure: no reads, no maps.
 */
#ifndef LATSCOPE_H1SPLIT_H
#define LATSCOPE_H1SPLIT_H

#include "latscope.h"

#ifndef H1S_INLINE
#define H1S_INLINE static inline __attribute__((always_inline))
#endif

/* Parser states (struct ls_h1dir.state). */
enum {
	H1S_IDLE = 0,  /* between messages: the next byte not CR/LF starts one */
	H1S_LINE,      /* the start line */
	H1S_HNAME,     /* a header line, up to its colon */
	H1S_HVAL,      /* a header value */
	H1S_BODY,      /* body or chunk data: `left` bytes to skip */
	H1S_CSIZE,     /* a chunk-size line (hex digits) */
	H1S_CEXT,      /* a chunk extension, up to the line's end */
	H1S_CCRLF,     /* the CRLF after chunk data */
	H1S_TRAILER,   /* trailer lines after the last chunk */
	H1S_EOF,       /* a response delimited by the connection's close */
	H1S_LOST,      /* framing lost: resynchronise at a buffer that starts a message */
	H1S_GONE,      /* 101 Switching Protocols: no longer HTTP/1 */
};

/* Flags (struct ls_h1dir.flags). */
#define H1S_F_LEN      0x01 /* Content-Length seen */
#define H1S_F_CHUNKED  0x02 /* Transfer-Encoding seen */
#define H1S_F_HEAD     0x04 /* request: the method is HEAD */
#define H1S_F_INTERIM  0x08 /* response: the last one was 1xx, the final one is for the same request */
#define H1S_F_IN_CHUNK 0x10 /* H1S_BODY is a chunk's data */
#define H1S_F_LINE_CONT 0x20 /* the start line runs on from the last buffer (its next fragment continues it) */
#define H1S_F_NOBODY   0x40 /* response: to a HEAD request, its head is all of it */

/* Which header a line's name is matching (struct ls_h1dir.cand). */
#define H1S_C_NONE 0
#define H1S_C_CLEN 1
#define H1S_C_TENC 2
#define H1S_C_HEAD 3 /* the start line's "HEAD " */

/* Events of one byte (h1s_byte()'s result, a mask). */
#define H1S_E_START    0x01 /* a message starts at this byte */
#define H1S_E_LINE_END 0x02 /* its start line ends at this byte (the LF) */
#define H1S_E_HEAD_END 0x04 /* its head ends at this byte */
#define H1S_E_END      0x08 /* the message is whole at this byte */
#define H1S_E_BAD      0x10 /* not HTTP/1 framing: the direction is lost */

/* Bounds: a head longer than this is not HTTP/1 as latscope follows it. */
#define H1S_HEAD_MAX   65535
#define H1S_LEN_MAX    (1ULL << 48) /* a Content-Length or chunk size near it is taken as garbage */

struct ls_h1dir {
	__u64 left;     /* H1S_BODY: bytes still to skip; H1S_CSIZE: the size so far; H1S_HVAL: the length so far */
	__u64 heads;    /* requests: bit (seq % 64) set when request seq was HEAD */
	__u32 seq;      /* messages started in this direction */
	__u16 status;   /* response: the status code */
	__u16 hlen;     /* bytes of the head so far (capped) */
	__u8 state;
	__u8 flags;
	__u8 cand;      /* H1S_C_* being matched */
	__u8 match;     /* its bytes matched so far (start line: the status digits) */
	__u8 line;      /* non-CR bytes of the current line (capped at 255) */
	__u8 sp;        /* start line: spaces seen */
	__u8 _pad[2];
};

H1S_INLINE int h1s_lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

/* Eight characters in a word, the first in the low byte. */
#define H1S_PACK(a, b, c, d, e, f, g, h)                                                              \
	((__u64)(a) | (__u64)(b) << 8 | (__u64)(c) << 16 | (__u64)(d) << 24 | (__u64)(e) << 32 |      \
	 (__u64)(f) << 40 | (__u64)(g) << 48 | (__u64)(h) << 56)

/* Byte n of the 24 in three words. */
H1S_INLINE int h1s_chr(__u64 w0, __u64 w1, __u64 w2, __u32 n)
{
	__u64 w = n < 8 ? w0 : n < 16 ? w1 : w2;

	return (int)((w >> ((n & 7) * 8)) & 0xff);
}

/*
 * The n-th byte of the header name cand matches (n counts from 0). The names
 * are immediates, not strings: no read-only data for the verifier to bound.
 */
H1S_INLINE int h1s_name_byte(__u8 cand, __u8 n, int c)
{
	if (cand == H1S_C_CLEN)
		return n < 14 && c == h1s_chr(H1S_PACK('c', 'o', 'n', 't', 'e', 'n', 't', '-'),
					      H1S_PACK('l', 'e', 'n', 'g', 't', 'h', 0, 0), 0, n);
	if (cand == H1S_C_TENC)
		return n < 17 && c == h1s_chr(H1S_PACK('t', 'r', 'a', 'n', 's', 'f', 'e', 'r'),
					      H1S_PACK('-', 'e', 'n', 'c', 'o', 'd', 'i', 'n'),
					      H1S_PACK('g', 0, 0, 0, 0, 0, 0, 0), n);
	return 0;
}

/* The name matched whole: its length. */
H1S_INLINE int h1s_name_done(__u8 cand, __u8 n)
{
	return (cand == H1S_C_CLEN && n == 14) || (cand == H1S_C_TENC && n == 17);
}

/* A message may start with c: a method token's first letter (request) or "HTTP/" (response). */
H1S_INLINE int h1s_starts(int c, int out)
{
	return out ? c == 'H' : c >= 'A' && c <= 'Z';
}

/* The head is over: what follows it. */
H1S_INLINE int h1s_head_end(struct ls_h1dir *d, int out)
{
	d->line = 0;
	if (out && d->status >= 100 && d->status < 200) {
		if (d->status == 101) {
			d->state = H1S_GONE;
			return H1S_E_HEAD_END | H1S_E_END;
		}
		/* 100 Continue and friends: the final response follows, for the same request. */
		d->flags |= H1S_F_INTERIM;
		d->state = H1S_IDLE;
		return H1S_E_HEAD_END;
	}
	if (out && (d->status == 204 || d->status == 304 || (d->flags & H1S_F_NOBODY))) {
		d->state = H1S_IDLE;
		return H1S_E_HEAD_END | H1S_E_END;
	}
	if (d->flags & H1S_F_CHUNKED) {
		d->state = H1S_CSIZE;
		d->left = 0;
		return H1S_E_HEAD_END;
	}
	if ((d->flags & H1S_F_LEN) && d->left) {
		d->state = H1S_BODY;
		return H1S_E_HEAD_END;
	}
	if (!(d->flags & H1S_F_LEN) && out) {
		d->state = H1S_EOF;
		return H1S_E_HEAD_END;
	}
	d->state = H1S_IDLE;
	return H1S_E_HEAD_END | H1S_E_END;
}

H1S_INLINE int h1s_lost(struct ls_h1dir *d)
{
	d->state = H1S_LOST;
	return H1S_E_BAD;
}

/* The start line. */
H1S_INLINE int h1s_line(struct ls_h1dir *d, int c, int out)
{
	if (c == '\n') {
		d->state = H1S_HNAME;
		d->line = 0;
		d->cand = H1S_C_NONE;
		if (out && d->match != 3)
			return h1s_lost(d);
		return H1S_E_LINE_END;
	}
	if (c == ' ') {
		/* Only the first two spaces matter (method or status code before them): capped, never wrapped. */
		if (d->sp < 2)
			d->sp++;
	} else if (out && d->sp == 1) {
		if (c < '0' || c > '9' || d->match >= 3)
			return h1s_lost(d);
		d->status = (__u16)(d->status * 10 + (c - '0'));
		d->match++;
	} else if (!out && d->sp == 0 && d->cand == H1S_C_HEAD) {
		if (d->match < 4 && c == h1s_chr(H1S_PACK('H', 'E', 'A', 'D', 0, 0, 0, 0), 0, 0, d->match))
			d->match++;
		else
			d->cand = H1S_C_NONE;
	}
	if (!out && c == ' ' && d->sp == 1 && d->cand == H1S_C_HEAD && d->match == 4)
		d->flags |= H1S_F_HEAD;
	return 0;
}

/* A header line's name. */
H1S_INLINE int h1s_hname(struct ls_h1dir *d, int c, int out)
{
	if (c == '\r')
		return 0;
	if (c == '\n')
		return d->line ? (d->line = 0, d->cand = H1S_C_NONE, 0) : h1s_head_end(d, out);
	if (c == ':') {
		d->state = H1S_HVAL;
		if (!h1s_name_done(d->cand, d->match))
			d->cand = H1S_C_NONE;
		else if (d->cand == H1S_C_CLEN) {
			/* A repeated Content-Length: the last one counts. */
			d->flags |= H1S_F_LEN;
			d->left = 0;
		} else
			d->flags |= H1S_F_CHUNKED;
		return 0;
	}
	c = h1s_lower(c);
	if (!d->line) {
		d->cand = c == 'c' ? H1S_C_CLEN : c == 't' ? H1S_C_TENC : H1S_C_NONE;
		d->match = 1;
	} else if (d->cand != H1S_C_NONE) {
		if (h1s_name_byte(d->cand, d->match, c))
			d->match++;
		else
			d->cand = H1S_C_NONE;
	}
	if (d->line < 255)
		d->line++;
	return 0;
}

/* A header value: Content-Length's digits are read, others skipped. */
H1S_INLINE int h1s_hval(struct ls_h1dir *d, int c)
{
	if (c == '\n') {
		d->state = H1S_HNAME;
		d->line = 0;
		d->cand = H1S_C_NONE;
		return 0;
	}
	if (d->cand != H1S_C_CLEN || c == ' ' || c == '\t' || c == '\r')
		return 0;
	if (c < '0' || c > '9' || d->left >= H1S_LEN_MAX / 10)
		return h1s_lost(d);
	d->left = d->left * 10 + (__u64)(c - '0');
	return 0;
}

H1S_INLINE int h1s_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = h1s_lower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

/* The end of a chunk-size line: the chunk's data, or the trailer after the last. */
H1S_INLINE int h1s_csize_end(struct ls_h1dir *d)
{
	d->line = 0;
	if (!d->left) {
		d->state = H1S_TRAILER;
		return 0;
	}
	d->state = H1S_BODY;
	d->flags |= H1S_F_IN_CHUNK;
	return 0;
}

H1S_INLINE int h1s_csize(struct ls_h1dir *d, int c)
{
	int v;

	if (c == '\n')
		return h1s_csize_end(d);
	if (c == '\r' || c == ' ' || c == '\t')
		return 0;
	if (c == ';') {
		d->state = H1S_CEXT;
		return 0;
	}
	v = h1s_hexval(c);
	if (v < 0 || d->left >= H1S_LEN_MAX / 16)
		return h1s_lost(d);
	d->left = d->left * 16 + (__u64)v;
	return 0;
}

/* The last chunk's trailer: header lines up to an empty one. */
H1S_INLINE int h1s_trailer(struct ls_h1dir *d, int c)
{
	if (c == '\r')
		return 0;
	if (c != '\n') {
		if (d->line < 255)
			d->line++;
		return 0;
	}
	if (d->line) {
		d->line = 0;
		return 0;
	}
	d->state = H1S_IDLE;
	return H1S_E_END;
}

/* A new message's first byte. */
H1S_INLINE int h1s_start(struct ls_h1dir *d, int c, int out)
{
	if (c == '\r' || c == '\n')
		return 0; /* stray CRLF between messages is allowed */
	if (!h1s_starts(c, out))
		return h1s_lost(d);
	d->state = H1S_LINE;
	d->flags &= H1S_F_INTERIM;
	d->status = 0;
	d->left = 0;
	d->hlen = 1;
	d->sp = 0;
	d->line = 1;
	d->cand = !out && c == 'H' ? H1S_C_HEAD : H1S_C_NONE;
	d->match = d->cand == H1S_C_HEAD ? 1 : 0;
	return H1S_E_START;
}

/*
 * One byte of a direction (out: the server's responses) in any state but
 * H1S_BODY, H1S_EOF, H1S_LOST and H1S_GONE, which its driver handles without
 * reading bytes. Returns H1S_E_* events.
 */
H1S_INLINE int h1s_byte(struct ls_h1dir *d, int c, int out)
{
	__u8 st = d->state;

	if (st == H1S_IDLE)
		return h1s_start(d, c, out);
	if (st == H1S_LINE || st == H1S_HNAME || st == H1S_HVAL) {
		if (d->hlen >= H1S_HEAD_MAX)
			return h1s_lost(d);
		d->hlen++;
	}
	switch (st) {
	case H1S_LINE:
		return h1s_line(d, c, out);
	case H1S_HNAME:
		return h1s_hname(d, c, out);
	case H1S_HVAL:
		return h1s_hval(d, c);
	case H1S_CSIZE:
		return h1s_csize(d, c);
	case H1S_CEXT:
		return c == '\n' ? h1s_csize_end(d) : 0;
	case H1S_CCRLF:
		if (c == '\n') {
			d->state = H1S_CSIZE;
			d->left = 0;
			d->flags &= ~H1S_F_IN_CHUNK;
		} else if (c != '\r') {
			return h1s_lost(d);
		}
		return 0;
	case H1S_TRAILER:
		return h1s_trailer(d, c);
	default:
		return 0;
	}
}

/*
 * The state waits only for its line's LF (a header it does not read, the rest
 * of a start line already understood, a chunk extension, a trailer line): its
 * driver may skip the bytes before the LF with h1s_skip() instead of feeding
 * them one by one.
 */
H1S_INLINE int h1s_skippable(const struct ls_h1dir *d, int out)
{
	switch (d->state) {
	case H1S_LINE:
		/* Past the method (request) or the status code (response). */
		return out ? d->sp >= 2 : d->sp >= 1;
	case H1S_HNAME:
		return d->line && d->cand == H1S_C_NONE;
	case H1S_HVAL:
		return d->cand != H1S_C_CLEN;
	case H1S_CEXT:
		return 1;
	case H1S_TRAILER:
		return d->line != 0;
	default:
		return 0;
	}
}

/* n bytes, none of them an LF, skipped in a skippable state: H1S_E_BAD when the head grows too long. */
H1S_INLINE int h1s_skip(struct ls_h1dir *d, __u32 n)
{
	if (d->state != H1S_LINE && d->state != H1S_HNAME && d->state != H1S_HVAL)
		return 0;
	if (d->hlen + n >= H1S_HEAD_MAX)
		return h1s_lost(d);
	d->hlen = (__u16)(d->hlen + n);
	return 0;
}

/*
 * Skip body bytes: at most avail of the bytes in state H1S_BODY. Returns how
 * many it took; sets *ev to H1S_E_END when they end the message.
 */
H1S_INLINE __u64 h1s_body(struct ls_h1dir *d, __u64 avail, int *ev)
{
	__u64 n = d->left < avail ? d->left : avail;

	*ev = 0;
	d->left -= n;
	if (d->left)
		return n;
	if (d->flags & H1S_F_IN_CHUNK) {
		d->state = H1S_CCRLF;
	} else {
		d->state = H1S_IDLE;
		*ev = H1S_E_END;
	}
	return n;
}

#endif
