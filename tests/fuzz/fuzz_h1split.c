/*
 * libFuzzer target for the HTTP/1 framing the BPF walk runs (bpf/h1split.h)
 * and the request-line parser that names its requests (lib/http1.c).
 *
 * Input: byte 0 chooses the direction (bit 0: responses) and, with byte 1,
 * where the stream is cut into buffers; the rest is the stream. The messages
 * found must be the same byte by byte and skipping to each line's end where
 * the framing allows, whole and cut (unless a response without a length
 * ends with whichever write carried it), never overlap, and end in order.
 * Every start line and the whole input go through the request-line parser,
 * whose method must be a token and whose target must hold no space or
 * control byte, both within their buffers.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "h1split_check.h"
#include "http1.h"

static void check_line(const uint8_t *p, size_t n)
{
	char m[16], path[64];

	if (ls_h1_request_line(p, n, m, sizeof(m), path, sizeof(path)))
		return;
	if (!m[0] || !path[0] || strlen(m) >= sizeof(m) || strlen(path) >= sizeof(path))
		abort();
	for (const char *c = m; *c; c++)
		if ((unsigned char)*c <= ' ' || (unsigned char)*c >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", *c))
			abort();
	for (const char *c = path; *c; c++)
		if ((unsigned char)*c <= ' ' || (unsigned char)*c == 0x7f)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct chk1_run whole, cut;
	size_t cuts[8], n;
	const uint8_t *p;
	int out;

	if (size < 2)
		return 0;
	out = data[0] & 1;
	p = data + 2;
	n = size - 2;
	/* Cut points spread over the stream, from the two control bytes. */
	for (int i = 0; i < 8; i++)
		cuts[i] = n ? (size_t)((((data[0] >> 1) + 1) * (i + 1) * 7 + data[1] * (i + 3)) % (n + 1)) : 0;
	for (int i = 1; i < 8; i++)
		for (int j = i; j > 0 && cuts[j] < cuts[j - 1]; j--) {
			size_t t = cuts[j];

			cuts[j] = cuts[j - 1];
			cuts[j - 1] = t;
		}
	/* Every byte fed, then the lines' uninteresting bytes skipped as the BPF walk does: the same messages. */
	chk1_skip = 0;
	chk1_feed(p, n, out, 0x5555555555555555ULL, NULL, 0, &whole);
	chk1_skip = 1;
	chk1_feed(p, n, out, 0x5555555555555555ULL, NULL, 0, &cut);
	if (!chk1_same(&whole, &cut))
		abort();
	chk1_feed(p, n, out, 0x5555555555555555ULL, cuts, 8, &cut);
	if (!whole.eof && !cut.eof && !chk1_same(&whole, &cut))
		abort();
	for (int i = 0; i < whole.n && i < CHK1_MSGS; i++) {
		const struct chk1_msg *m = &whole.m[i];

		if (m->start >= n || (m->end && m->end <= m->start) || (m->line_end && m->line_end <= m->start))
			abort();
		if (i && (!whole.m[i - 1].end || whole.m[i - 1].end > m->start) && !(out && whole.m[i - 1].status / 100 == 1))
			abort();
		if (m->line_end)
			check_line(p + m->start, m->line_end - m->start);
	}
	check_line(p, n);
	return 0;
}
