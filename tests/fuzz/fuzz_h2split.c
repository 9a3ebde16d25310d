/*
 * libFuzzer target for the HTTP/2 frame splitter (bpf/h2split.h, the code the
 * BPF program runs): a byte stream, raw or built from frame descriptions, is
 * walked whole, cut at random lengths and cut into 1-byte buffers. Every walk
 * must agree with the reference splitter over the whole stream (same frames,
 * payload and header-block bytes, flags) up to where the framing is lost, and
 * nothing may read out of bounds or overflow.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/h2split_check.h"

/* Keeps every buffer under H2S_FRAMES_MAX frames (9 bytes each at least). */
#define STREAM_MAX 4500

static uint32_t next(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

/* Frames from 4-byte descriptions (type, flags, stream, length) and payload bytes from the input. */
static size_t build(const uint8_t *in, size_t n, int preface, uint8_t *s)
{
	static const uint8_t types[] = { H2_DATA, H2_HEADERS, H2_HEADERS, H2_CONTINUATION, H2_RST_STREAM, 4, 6, 8, 7, 2 };
	size_t pos = 0, i = 0;

	if (preface) {
		memcpy(s, h2s_preface, 24);
		pos = 24;
	}
	while (i + 4 <= n && pos + 9 + 255 <= STREAM_MAX) {
		uint8_t type = in[i] == 0xff ? 0x21 : types[in[i] % sizeof(types)], flags = in[i + 1];
		uint32_t stream = in[i + 2] & 7, len = in[i + 3];

		i += 4;
		s[pos] = 0;
		s[pos + 1] = 0;
		s[pos + 2] = (uint8_t)len;
		s[pos + 3] = type;
		s[pos + 4] = flags;
		s[pos + 5] = s[pos + 6] = s[pos + 7] = 0;
		s[pos + 8] = (uint8_t)stream;
		pos += 9;
		for (uint32_t k = 0; k < len; k++)
			s[pos + k] = i < n ? in[i++] : 0;
		/* A pad length that fits the frame most of the time, so padded blocks are delimited too. */
		if (type == H2_HEADERS && (flags & H2_F_PADDED) && len && (in[i - 1] & 3))
			s[pos] %= len;
		pos += len;
	}
	return pos;
}

static void expect_same(struct chk_walk *ref, const uint8_t *s, size_t n, const size_t *cuts, size_t ncuts)
{
	struct chk_walk w;

	chk_init(&w);
	chk_walk_cuts(&w, s, n, cuts, ncuts);
	if (chk_compare(&w, ref)) {
		fprintf(stderr, "splitter and reference disagree over %zu bytes in %zu+ buffers: %s\n", n, ncuts + 1,
			ref->err);
		abort();
	}
	chk_fini(&w);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t s[STREAM_MAX];
	static size_t cuts[STREAM_MAX];
	static const size_t spans[] = { 1, 2, 3, 8, 9, 10, 17, 64, 300, 5000 };
	struct chk_walk ref;
	uint32_t x;
	size_t n, ncuts = 0, pos = 0;
	uint8_t mode;

	if (size < 5)
		return 0;
	mode = data[0];
	x = (uint32_t)data[1] | (uint32_t)data[2] << 8 | (uint32_t)data[3] << 16 | (uint32_t)data[4] << 24 | 1;
	data += 5;
	size -= 5;
	if (mode & 1) {
		n = build(data, size, mode & 2, s);
	} else {
		n = size < STREAM_MAX ? size : STREAM_MAX;
		memcpy(s, data, n);
	}
	chk_init(&ref);
	chk_reference(&ref, s, n);
	expect_same(&ref, s, n, NULL, 0);
	/* Random buffer lengths up to a span chosen by the input. */
	while (pos < n) {
		size_t c = 1 + next(&x) % spans[(mode >> 2) % (sizeof(spans) / sizeof(spans[0]))];

		cuts[ncuts++] = c;
		pos += c;
	}
	expect_same(&ref, s, n, cuts, ncuts);
	for (size_t i = 0; i < n; i++)
		cuts[i] = 1;
	expect_same(&ref, s, n, cuts, n);
	chk_fini(&ref);
	return 0;
}
