/*
 * The frame splitter of bpf/h2split.h in user space, its events recorded per
 * frame, and a reference splitter that parses a whole stream at once. Feeding
 * the same bytes cut into any buffers must give the reference's frame list:
 * the same headers, payload bytes and header-block bytes, the same flags.
 * Shared by the unit test and the fuzz target.
 */
#ifndef LATSCOPE_H2SPLIT_CHECK_H
#define LATSCOPE_H2SPLIT_CHECK_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/types.h>

#include "h2split.h"

struct chk_frame {
	__u32 len, stream;
	__u8 type, flags;
	__u32 seen;       /* payload bytes delivered so far */
	int ends;         /* events that said the frame ended here */
	int pieces;       /* header-block fragments */
	int end_piece;    /* the fragment that carried LS_HD_END (1-based), 0: none */
	int trunc;        /* some fragment carried LS_HD_TRUNC */
	unsigned char *block;
	size_t blen;
};

struct chk_walk {
	/* the walk's context */
	const __u8 *buf;
	__u32 len, off;
	struct ls_h2dir *dir;
	struct ls_h2dir state;
	/* what came out */
	struct chk_frame *frames;
	size_t n, cap;
	int preface, desync;
	char err[256]; /* the first broken rule, "" if none */
};

#define H2S_CTX struct chk_walk
#define H2S_BUF(L) ((L)->buf)
#define H2S_LEN(L) ((L)->len)
#define H2S_OFF(L) ((L)->off)
#define H2S_DIR(L) ((L)->dir)
#include "h2split.h"

static void chk_fail(struct chk_walk *w, const char *fmt, ...)
{
	va_list ap;

	if (w->err[0])
		return;
	va_start(ap, fmt);
	vsnprintf(w->err, sizeof(w->err), fmt, ap);
	va_end(ap);
}

static void chk_init(struct chk_walk *w)
{
	memset(w, 0, sizeof(*w));
	w->dir = &w->state;
}

static void chk_fini(struct chk_walk *w)
{
	for (size_t i = 0; i < w->n; i++)
		free(w->frames[i].block);
	free(w->frames);
	memset(w, 0, sizeof(*w));
}

static struct chk_frame *chk_push(struct chk_walk *w)
{
	if (w->n == w->cap) {
		size_t cap = w->cap ? 2 * w->cap : 16;
		struct chk_frame *f = realloc(w->frames, cap * sizeof(*f));

		if (!f)
			abort();
		w->frames = f;
		w->cap = cap;
	}
	memset(&w->frames[w->n], 0, sizeof(w->frames[0]));
	return &w->frames[w->n++];
}

static void chk_append(struct chk_frame *f, const __u8 *p, size_t n)
{
	unsigned char *b;

	if (!n)
		return;
	b = realloc(f->block, f->blen + n);
	if (!b)
		abort();
	memcpy(b + f->blen, p, n);
	f->block = b;
	f->blen += n;
}

static __always_inline void h2s_on_frame(struct chk_walk *w, const struct h2s_frame *f)
{
	struct chk_frame *c = chk_push(w);

	c->len = f->len;
	c->stream = f->stream;
	c->type = f->type;
	c->flags = f->flags;
	c->seen = f->avail;
	c->ends = f->avail == f->len;
	if (f->pay_off + f->avail > w->len)
		chk_fail(w, "frame %zu: payload past the buffer", w->n - 1);
}

static __always_inline void h2s_on_rest(struct chk_walk *w, const struct ls_h2dir *d, __u32 n, int last)
{
	struct chk_frame *c = w->n ? &w->frames[w->n - 1] : NULL;

	if (!c || c->stream != d->cur_stream || c->type != d->cur_type || c->flags != d->cur_flags) {
		chk_fail(w, "payload continues a frame that was not the last one seen");
		return;
	}
	if (c->ends)
		chk_fail(w, "frame %zu: payload after its end", w->n - 1);
	c->seen += n;
	if (last) {
		c->ends++;
		if (c->seen != c->len)
			chk_fail(w, "frame %zu: ended after %u of %u bytes", w->n - 1, c->seen, c->len);
	} else if (n != w->len) {
		chk_fail(w, "frame %zu: a continued payload stopped before the buffer end", w->n - 1);
	}
}

static __always_inline void h2s_on_block(struct chk_walk *w, __u32 stream, __u32 off, __u32 len, __u16 flags)
{
	struct chk_frame *c = w->n ? &w->frames[w->n - 1] : NULL;

	if (!c || c->stream != stream || (c->type != H2_HEADERS && c->type != H2_CONTINUATION)) {
		chk_fail(w, "a header-block fragment outside a HEADERS or CONTINUATION frame");
		return;
	}
	if ((__u64)off + len > w->len) {
		chk_fail(w, "frame %zu: fragment past the buffer", w->n - 1);
		return;
	}
	c->pieces++;
	if (!!(flags & LS_HD_CONT) != (c->pieces > 1 || c->type == H2_CONTINUATION))
		chk_fail(w, "frame %zu fragment %d: CONT flag wrong", w->n - 1, c->pieces);
	if (c->end_piece)
		chk_fail(w, "frame %zu: fragment after the END one", w->n - 1);
	if (flags & LS_HD_END)
		c->end_piece = c->pieces;
	if (flags & LS_HD_TRUNC)
		c->trunc = 1;
	chk_append(c, w->buf + off, len);
}

static __always_inline void h2s_on_preface(struct chk_walk *w)
{
	if (w->n || w->preface)
		chk_fail(w, "preface after frames");
	w->preface = 1;
}

static __always_inline void h2s_on_desync(struct chk_walk *w)
{
	w->desync = 1;
}

/* Walk one more buffer; returns 0 while the framing is followed. */
static int chk_feed(struct chk_walk *w, const __u8 *buf, __u32 len)
{
	w->buf = buf;
	w->len = len;
	h2s_walk(w);
	return w->desync || w->err[0] ? -1 : 0;
}

/* The same stream parsed in one piece, straight from RFC 9113 section 4.1 and 6.2. */
static void chk_reference(struct chk_walk *w, const __u8 *s, size_t n)
{
	size_t pos = 0;

	if (n && s[0] == 'P') {
		if (memcmp(s, h2s_preface, n < 24 ? n : 24)) {
			w->desync = 1;
			return;
		}
		if (n < 24)
			return;
		w->preface = 1;
		pos = 24;
	}
	while (n - pos >= 9) {
		const __u8 *h = s + pos, *p = s + pos + 9;
		size_t avail = n - pos - 9;
		struct chk_frame *c;

		if (h[3] > H2S_TYPE_MAX) {
			w->desync = 1;
			return;
		}
		c = chk_push(w);
		c->len = (__u32)h[0] << 16 | (__u32)h[1] << 8 | h[2];
		c->type = h[3];
		c->flags = h[4];
		c->stream = ((__u32)h[5] << 24 | (__u32)h[6] << 16 | (__u32)h[7] << 8 | h[8]) & 0x7fffffff;
		if (avail > c->len)
			avail = c->len;
		c->seen = (__u32)avail;
		c->ends = avail == c->len;
		if (c->stream && (c->type == H2_HEADERS || c->type == H2_CONTINUATION)) {
			size_t lead = 0, pad = 0, end;
			int known = 1;

			if (c->type == H2_HEADERS && (c->flags & H2_F_PADDED)) {
				lead = 1;
				if (avail)
					pad = p[0];
				else
					known = 0;
			}
			if (c->type == H2_HEADERS && (c->flags & H2_F_PRIORITY))
				lead += 5;
			if (!known) {
				c->trunc = c->ends;
			} else if (lead + pad > c->len) {
				c->trunc = 1;
			} else {
				end = c->len - pad < avail ? c->len - pad : avail;
				if (end > lead)
					chk_append(c, p + lead, end - lead);
			}
			if (c->ends && (c->flags & H2_F_END_HEADERS))
				c->end_piece = 1;
		}
		pos += 9 + c->len;
		if (pos > n)
			return;
	}
}

/* Does walk w agree with reference r? Fills r->err (or w's own) and returns -1 when not. */
static int chk_compare(struct chk_walk *w, struct chk_walk *r)
{
	if (w->err[0]) {
		snprintf(r->err, sizeof(r->err), "%s", w->err);
		return -1;
	}
	if (w->preface != r->preface || w->desync != r->desync || w->n != r->n) {
		snprintf(r->err, sizeof(r->err), "preface %d/%d, desync %d/%d, frames %zu/%zu (walk/reference)",
			 w->preface, r->preface, w->desync, r->desync, w->n, r->n);
		return -1;
	}
	for (size_t i = 0; i < w->n; i++) {
		struct chk_frame *a = &w->frames[i], *b = &r->frames[i];

		if (a->len != b->len || a->type != b->type || a->flags != b->flags || a->stream != b->stream ||
		    a->seen != b->seen || (a->ends > 0) != b->ends || a->ends > 1) {
			snprintf(r->err, sizeof(r->err),
				 "frame %zu: len %u/%u type %u/%u flags %#x/%#x stream %u/%u seen %u/%u ends %d/%d",
				 i, a->len, b->len, a->type, b->type, a->flags, b->flags, a->stream, b->stream,
				 a->seen, b->seen, a->ends, b->ends);
			return -1;
		}
		if (a->trunc != b->trunc || a->blen != b->blen || (a->blen && memcmp(a->block, b->block, a->blen)) ||
		    (a->end_piece != 0) != (b->end_piece != 0) || (a->end_piece && a->end_piece != a->pieces)) {
			snprintf(r->err, sizeof(r->err),
				 "frame %zu (type %u): header block %zu/%zu bytes, trunc %d/%d, END on fragment %d of %d/%d",
				 i, a->type, a->blen, b->blen, a->trunc, b->trunc, a->end_piece, a->pieces, b->end_piece);
			return -1;
		}
		if ((a->type == H2_HEADERS || a->type == H2_CONTINUATION) && a->stream && !a->pieces) {
			snprintf(r->err, sizeof(r->err), "frame %zu: no header-block fragment", i);
			return -1;
		}
	}
	return 0;
}

/* Walk s cut at the given buffer lengths (the last buffer takes the rest), until a desync. */
static void chk_walk_cuts(struct chk_walk *w, const __u8 *s, size_t n, const size_t *cuts, size_t ncuts)
{
	size_t pos = 0;

	for (size_t i = 0; pos < n; i++) {
		size_t len = i < ncuts ? cuts[i] : n - pos;

		if (len > n - pos)
			len = n - pos;
		if (!len)
			continue;
		if (chk_feed(w, s + pos, (__u32)len))
			break;
		pos += len;
	}
}

#endif
