/*
 * The HTTP/1 framing of bpf/h1split.h in user space, driven as the BPF walk
 * drives it (bpf/http1.bpf.h: a body skipped by count, every other byte
 * parsed, a HEAD request's response taken as head only), with what it found
 * per message: where each starts and ends, its status, its start line. The
 * same bytes cut into any buffers must give the same messages. Shared by the
 * unit test and the fuzz target.
 */
#ifndef LATSCOPE_H1SPLIT_CHECK_H
#define LATSCOPE_H1SPLIT_CHECK_H

#include <stddef.h>
#include <string.h>

#include <linux/types.h>

#include "h1split.h"

#define CHK1_MSGS 64
#define CHK1_LINE 64

struct chk1_msg {
	size_t start, line_end, end; /* offsets in the stream; end: past the last byte, 0 while open */
	int status;
	int head;                    /* request: its method is HEAD */
	char line[CHK1_LINE];        /* the start line's first bytes */
};

struct chk1_run {
	struct chk1_msg m[CHK1_MSGS];
	int n;                       /* messages started (at most CHK1_MSGS recorded) */
	int lost;                    /* the framing was lost at some byte */
	int eof;                     /* a response had no length: where it ends depends on the cuts */
	size_t lost_at;
};

/*
 * Whether chk1_feed() skips to a line's LF where h1s_skippable() allows (as the BPF
 * walk does, within what one read of 64 bytes holds), or feeds every byte.
 */
static int chk1_skip = 1;

/* Bytes before the next LF in p[off..end), looking at most 64 bytes ahead. */
static size_t chk1_to_lf(const __u8 *p, size_t off, size_t end)
{
	size_t k = 0;

	while (off + k < end && k < 64 && p[off + k] != '\n')
		k++;
	return k;
}

/* One direction of a stream p[0..n), fed in buffers cut at cuts[] (ascending); heads: a HEAD request's bits. */
static void chk1_feed(const __u8 *p, size_t n, int out, __u64 heads, const size_t *cuts, size_t ncuts,
		      struct chk1_run *run)
{
	struct ls_h1dir d;
	size_t off = 0, c = 0;

	memset(&d, 0, sizeof(d));
	memset(run, 0, sizeof(*run));
	while (off < n && !run->lost) {
		size_t end = c < ncuts && cuts[c] < n ? cuts[c++] : n;
		struct chk1_msg *cur = run->n && run->n <= CHK1_MSGS ? &run->m[run->n - 1] : NULL;

		if (end <= off)
			continue;
		while (off < end && !run->lost) {
			int ev = 0;

			if (d.state == H1S_GONE) {
				off = n;
				break;
			}
			if (d.state == H1S_EOF) {
				off = end;
				break;
			}
			if (d.state == H1S_BODY) {
				off += h1s_body(&d, end - off, &ev);
				if ((ev & H1S_E_END) && cur)
					cur->end = off;
				continue;
			}
			if (chk1_skip && h1s_skippable(&d, out)) {
				size_t k = chk1_to_lf(p, off, end);

				if (k) {
					if (cur && d.state == H1S_LINE)
						for (size_t i = 0; i < k && off + i - cur->start < CHK1_LINE - 1; i++)
							cur->line[off + i - cur->start] = (char)p[off + i];
					if (h1s_skip(&d, (__u32)k) & H1S_E_BAD) {
						run->lost = 1;
						run->lost_at = off;
						break;
					}
					off += k;
					continue;
				}
			}
			ev = h1s_byte(&d, p[off], out);
			off++;
			if (ev & H1S_E_BAD) {
				run->lost = 1;
				run->lost_at = off - 1;
				break;
			}
			if (ev & H1S_E_START) {
				if (run->n < CHK1_MSGS) {
					cur = &run->m[run->n];
					memset(cur, 0, sizeof(*cur));
					cur->start = off - 1;
				} else {
					cur = NULL;
				}
				run->n++;
				if (out && (heads >> (run->n & 63) & 1))
					d.flags |= H1S_F_NOBODY;
			}
			if (cur && d.state == H1S_LINE && off - 1 - cur->start < CHK1_LINE - 1)
				cur->line[off - 1 - cur->start] = (char)p[off - 1];
			if ((ev & H1S_E_LINE_END) && cur) {
				cur->line_end = off;
				cur->status = out ? d.status : -1;
				cur->head = !out && (d.flags & H1S_F_HEAD);
			}
			if ((ev & H1S_E_END) && cur)
				cur->end = off;
		}
		/* A response without a length ends with the write that carried it (as the walk takes it). */
		if (d.state == H1S_EOF) {
			run->eof = 1;
			if (cur)
				cur->end = end;
			d.state = H1S_IDLE;
		}
	}
}

/* The two runs found the same messages. */
static int chk1_same(const struct chk1_run *a, const struct chk1_run *b)
{
	if (a->n != b->n || a->lost != b->lost || (a->lost && a->lost_at != b->lost_at))
		return 0;
	for (int i = 0; i < a->n && i < CHK1_MSGS; i++)
		if (memcmp(&a->m[i], &b->m[i], sizeof(a->m[i])))
			return 0;
	return 1;
}

#endif
