/*
 * The HTTP/2 frame splitter (bpf/h2split.h) on real frames: a client and a server
 * nghttp2 session talk (client preface, SETTINGS, a padded HEADERS with priority
 * and a header block large enough for CONTINUATION frames, padded DATA, responses
 * with trailers). Each direction's bytes are cut at every offset, into 1-byte
 * buffers, and at every pair of offsets around the frame boundaries; every walk
 * must give the frames nghttp2's own parser reported (its on_begin_frame callback)
 * and header blocks that nghttp2's inflater decodes to the headers that were sent.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

#include "h2split_check.h"

static int failures, checks, shown;

#define CHECK(cond, ...)                                        \
	do {                                                    \
		int ok_ = (cond);                               \
		checks++;                                       \
		failures += !ok_;                               \
		printf("%s - ", ok_ ? "ok" : "not ok");         \
		printf(__VA_ARGS__);                            \
		printf("\n");                                   \
	} while (0)

struct bytes {
	uint8_t *p;
	size_t n, cap;
};

static void bytes_add(struct bytes *b, const void *p, size_t n)
{
	if (b->n + n > b->cap) {
		b->cap = (b->n + n) * 2;
		b->p = realloc(b->p, b->cap);
		if (!b->p)
			abort();
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

/* What one side of the conversation saw: frame headers and header fields, as nghttp2 parsed them. */
struct side {
	nghttp2_frame_hd hd[256];
	size_t nhd;
	struct bytes fields; /* "stream name=value\n" per received header field */
};

static int on_begin_frame(nghttp2_session *s, const nghttp2_frame_hd *hd, void *user)
{
	struct side *sd = user;

	(void)s;
	if (sd->nhd < sizeof(sd->hd) / sizeof(sd->hd[0]))
		sd->hd[sd->nhd++] = *hd;
	return 0;
}

static void field_line(struct bytes *b, int32_t stream, const uint8_t *name, size_t nlen, const uint8_t *value,
		       size_t vlen)
{
	char head[32];

	snprintf(head, sizeof(head), "%d ", stream);
	bytes_add(b, head, strlen(head));
	bytes_add(b, name, nlen);
	bytes_add(b, "=", 1);
	bytes_add(b, value, vlen);
	bytes_add(b, "\n", 1);
}

static int on_header(nghttp2_session *s, const nghttp2_frame *frame, const uint8_t *name, size_t nlen,
		     const uint8_t *value, size_t vlen, uint8_t flags, void *user)
{
	struct side *sd = user;

	(void)s;
	(void)flags;
	field_line(&sd->fields, frame->hd.stream_id, name, nlen, value, vlen);
	return 0;
}

/* Pad HEADERS and DATA frames to a multiple of 64 bytes: PADDED frames on the wire. */
static ssize_t select_padding(nghttp2_session *s, const nghttp2_frame *frame, size_t max_payloadlen, void *user)
{
	size_t want = (frame->hd.length + 64) / 64 * 64;

	(void)s;
	(void)user;
	return (ssize_t)(want < max_payloadlen ? want : max_payloadlen);
}

static const char big_body[20000];

static ssize_t body_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
			 nghttp2_data_source *src, void *user)
{
	size_t *left = src->ptr;
	size_t n = *left < len ? *left : len;

	(void)s;
	(void)id;
	(void)user;
	memcpy(buf, big_body, n);
	*left -= n;
	if (!*left)
		*flags |= NGHTTP2_DATA_FLAG_EOF;
	return (ssize_t)n;
}

/* A response body whose end submits trailers (gRPC): the trailers carry END_STREAM. */
static ssize_t resp_read(nghttp2_session *s, int32_t id, uint8_t *buf, size_t len, uint32_t *flags,
			 nghttp2_data_source *src, void *user)
{
	static const nghttp2_nv trailers[] = { { (uint8_t *)"grpc-status", (uint8_t *)"0", 11, 1, NGHTTP2_NV_FLAG_NONE } };
	ssize_t n = body_read(s, id, buf, len, flags, src, user);

	if ((*flags & NGHTTP2_DATA_FLAG_EOF) && id == 1) {
		*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
		if (nghttp2_submit_trailer(s, id, trailers, 1))
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	return n;
}

static void drain(nghttp2_session *s, struct bytes *out)
{
	const uint8_t *data;
	ssize_t n;

	while ((n = nghttp2_session_mem_send(s, &data)) > 0)
		bytes_add(out, data, (size_t)n);
	if (n < 0) {
		printf("Bail out! nghttp2_session_mem_send: %s\n", nghttp2_strerror((int)n));
		exit(1);
	}
}

#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, NGHTTP2_NV_FLAG_NONE }

/* Decode the header blocks a walk collected, in order, with a fresh inflater: the fields sent. */
static void inflate_blocks(const struct chk_walk *w, struct bytes *out)
{
	nghttp2_hd_inflater *inf;
	struct bytes block = { 0 };
	int32_t stream = 0;

	if (nghttp2_hd_inflate_new(&inf))
		abort();
	for (size_t i = 0; i < w->n; i++) {
		const struct chk_frame *f = &w->frames[i];

		if (!f->stream || (f->type != H2_HEADERS && f->type != H2_CONTINUATION))
			continue;
		if (f->type == H2_HEADERS) {
			block.n = 0;
			stream = (int32_t)f->stream;
		}
		bytes_add(&block, f->block ? (const void *)f->block : "", f->blen);
		if (!(f->flags & H2_F_END_HEADERS))
			continue;
		for (size_t off = 0;;) {
			nghttp2_nv nv;
			int fl = 0;
			ssize_t used = nghttp2_hd_inflate_hd2(inf, &nv, &fl, block.p + off, block.n - off, 1);

			if (used < 0) {
				bytes_add(out, "inflate error\n", 14);
				break;
			}
			off += (size_t)used;
			if (fl & NGHTTP2_HD_INFLATE_EMIT)
				field_line(out, stream, nv.name, nv.namelen, nv.value, nv.valuelen);
			if (fl & NGHTTP2_HD_INFLATE_FINAL) {
				nghttp2_hd_inflate_end_headers(inf);
				break;
			}
			if (!used && off == block.n)
				break;
		}
	}
	free(block.p);
	nghttp2_hd_inflate_del(inf);
}

static int same_walk(struct chk_walk *ref, const uint8_t *s, size_t n, const size_t *cuts, size_t ncuts,
		     const char *what)
{
	struct chk_walk w;
	int rc;

	chk_init(&w);
	chk_walk_cuts(&w, s, n, cuts, ncuts);
	rc = chk_compare(&w, ref);
	if (rc && shown++ < 5)
		printf("# %s: %s\n", what, ref->err);
	chk_fini(&w);
	return rc;
}

/* One direction: the reference against nghttp2, then every fragmentation against the reference. */
static void check_direction(const char *name, const struct bytes *s, const struct side *peer)
{
	struct chk_walk ref;
	struct bytes fields = { 0 };
	size_t *ones, bad, i, j, nb = 0, bounds[512];
	char what[96];

	chk_init(&ref);
	chk_reference(&ref, s->p, s->n);
	CHECK(!ref.desync && ref.n == peer->nhd, "%s: reference splitter finds %zu frames, nghttp2 parsed %zu", name,
	      ref.n, peer->nhd);
	for (i = 0; i < ref.n && i < peer->nhd; i++) {
		const struct chk_frame *f = &ref.frames[i];
		const nghttp2_frame_hd *h = &peer->hd[i];

		CHECK(f->len == h->length && f->type == h->type && f->flags == h->flags && f->stream == (__u32)h->stream_id,
		      "%s frame %zu: len %u type %u flags %#x stream %u, nghttp2: %zu %u %#x %d", name, i, f->len,
		      f->type, f->flags, f->stream, h->length, h->type, h->flags, h->stream_id);
	}
	inflate_blocks(&ref, &fields);
	CHECK(fields.n == peer->fields.n && !memcmp(fields.p, peer->fields.p, fields.n),
	      "%s: the header blocks decode to the fields nghttp2 received (%zu/%zu bytes of listing)", name, fields.n,
	      peer->fields.n);
	free(fields.p);

	/* Every single cut. */
	for (i = 0, bad = 0; i <= s->n; i++) {
		snprintf(what, sizeof(what), "%s cut at %zu", name, i);
		bad += same_walk(&ref, s->p, s->n, &i, 1, what) != 0;
	}
	CHECK(!bad, "%s: a cut at each of the %zu offsets gives the reference's frames (%zu differ)", name, s->n + 1,
	      bad);
	/* One byte per buffer. */
	ones = malloc(s->n * sizeof(*ones));
	for (i = 0; i < s->n; i++)
		ones[i] = 1;
	CHECK(!same_walk(&ref, s->p, s->n, ones, s->n, "1-byte buffers"), "%s: 1-byte buffers give the reference's frames",
	      name);
	free(ones);
	/* Two cuts, each within 10 bytes of a frame boundary: a header split over three buffers, and more. */
	{
		size_t pos = ref.preface ? 24 : 0;

		for (i = 0; i < ref.n && nb < 500; i++) {
			bounds[nb++] = pos;
			pos += 9 + ref.frames[i].len;
		}
	}
	bad = 0;
	for (i = 0; i < nb; i++) {
		for (size_t a = bounds[i] > 10 ? bounds[i] - 10 : 0; a <= bounds[i] + 10 && a <= s->n; a++) {
			for (j = 1; j <= 12; j++) {
				size_t cuts[2] = { a, j };

				snprintf(what, sizeof(what), "%s cuts at %zu and %zu", name, a, a + j);
				bad += same_walk(&ref, s->p, s->n, cuts, 2, what) != 0;
			}
		}
	}
	CHECK(!bad, "%s: two cuts around each of the %zu frame boundaries give the reference's frames (%zu differ)", name,
	      nb, bad);
	printf("# %s: %zu bytes, %zu frames%s\n", name, s->n, ref.n, ref.preface ? " after the client preface" : "");
	chk_fini(&ref);
}

int main(void)
{
	nghttp2_session_callbacks *cb;
	nghttp2_session *client, *server;
	struct side at_server = { 0 }, at_client = { 0 };
	struct bytes c2s = { 0 }, s2c = { 0 }, big = { 0 };
	size_t body_left = sizeof(big_body), resp_left[2] = { 3000, 17000 };
	nghttp2_priority_spec pri;
	nghttp2_data_provider body = { .source.ptr = &body_left, .read_callback = body_read };
	int32_t id1, id2;
	ssize_t used;

	/* A header value over the 16 KiB frame size: the block goes on in CONTINUATION frames. */
	for (uint32_t i = 0, x = 12345; i < 20000; i++) {
		char c;

		x = x * 1103515245 + 12345;
		c = (char)(0x21 + (x >> 16) % 94); /* printable, too varied for Huffman to shorten */
		bytes_add(&big, &c, 1);
	}
	bytes_add(&big, "", 1);
	nghttp2_nv req[] = {
		NV(":method", "POST"), NV(":scheme", "https"), NV(":authority", "127.0.0.1"),
		NV(":path", "/latscope.example.Echo/Slow"), NV("content-type", "application/grpc"),
		NV("te", "trailers"),
		{ (uint8_t *)"x-big", big.p, 5, big.n - 1, NGHTTP2_NV_FLAG_NONE },
	};
	nghttp2_nv get[] = { NV(":method", "GET"), NV(":scheme", "https"), NV(":authority", "127.0.0.1"),
			     NV(":path", "/index.html") };
	nghttp2_nv resp[] = { NV(":status", "200"), NV("content-type", "application/grpc") };

	if (nghttp2_session_callbacks_new(&cb))
		abort();
	nghttp2_session_callbacks_set_on_begin_frame_callback(cb, on_begin_frame);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_select_padding_callback(cb, select_padding);
	if (nghttp2_session_client_new(&client, cb, &at_client) || nghttp2_session_server_new(&server, cb, &at_server))
		abort();

	/* Client: preface + SETTINGS, a padded request with a priority and CONTINUATIONs and a body, a GET. */
	nghttp2_submit_settings(client, NGHTTP2_FLAG_NONE, NULL, 0);
	nghttp2_priority_spec_init(&pri, 0, 32, 0);
	id1 = nghttp2_submit_request(client, &pri, req, sizeof(req) / sizeof(req[0]), &body, NULL);
	id2 = nghttp2_submit_request(client, &pri, get, sizeof(get) / sizeof(get[0]), NULL, NULL);
	if (id1 < 0 || id2 < 0)
		abort();
	drain(client, &c2s);
	nghttp2_submit_settings(server, NGHTTP2_FLAG_NONE, NULL, 0);
	used = nghttp2_session_mem_recv(server, c2s.p, c2s.n);
	CHECK(used == (ssize_t)c2s.n, "nghttp2's server takes the client's %zu bytes (%zd)", c2s.n, used);

	/* Server: SETTINGS (its first frame), the ACK of the client's, responses with DATA over several frames and trailers. */
	for (int k = 0; k < 2; k++) {
		nghttp2_data_provider rb = { .source.ptr = &resp_left[k], .read_callback = resp_read };

		nghttp2_submit_response(server, k ? id2 : id1, resp, 2, &rb);
	}
	drain(server, &s2c);
	used = nghttp2_session_mem_recv(client, s2c.p, s2c.n);
	CHECK(used == (ssize_t)s2c.n, "nghttp2's client takes the server's %zu bytes (%zd)", s2c.n, used);

	{
		int same = 1;

		for (__u32 k = 0; k < 24; k++)
			same &= h2s_preface_byte(k) == (__u8)h2s_preface[k];
		CHECK(same, "the preface's words spell the client preface");
	}
	check_direction("client to server", &c2s, &at_server);
	check_direction("server to client", &s2c, &at_client);
	{
		/* A new connection's bytes on the state of one that ended (its SSL object's address reused). */
		struct chk_walk w;
		int first, again;

		chk_init(&w);
		first = chk_feed(&w, c2s.p, (__u32)c2s.n);
		again = chk_feed(&w, c2s.p, (__u32)c2s.n);
		CHECK(!first && again, "a client preface where a frame header belongs is lost framing (%d, %d), not a frame",
		      first, again);
		chk_fini(&w);
	}

	nghttp2_session_del(client);
	nghttp2_session_del(server);
	nghttp2_session_callbacks_del(cb);
	free(c2s.p);
	free(s2c.p);
	free(big.p);
	free(at_server.fields.p);
	free(at_client.fields.p);
	printf("%d checks, %d failed\n", checks, failures);
	return failures ? 1 : 0;
}
