/*
 * HPACK through latscope's request assembly: RFC 7541 Appendix C header
 * blocks fed as kernel header records (split into fragments, as the BPF side
 * sends them), then request records joined with the decoded names.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/types.h>
#include "latscope.h"
#include "hpack.h"
#include "requests.h"
#include "reqfinish.h"
#include "check.h"



static size_t unhex(const char *hex, unsigned char *out)
{
	size_t n = 0;

	for (const char *p = hex; p[0] && p[1];) {
		if (*p == ' ') {
			p++;
			continue;
		}
		sscanf(p, "%2hhx", &out[n++]);
		p += 2;
	}
	return n;
}

/* RFC 7541 C.3 (no Huffman) and C.4 (Huffman): three requests on one connection each. */
static const char *const c3[] = {
	"828684410f7777772e6578616d706c652e636f6d",
	"828684be58086e6f2d6361636865",
	"828785bf400a637573746f6d2d6b65790c637573746f6d2d76616c7565",
};
static const char *const c4[] = {
	"828684418cf1e3c2e5f23a6ba0ab90f4ff",
	"828684be5886a8eb10649cbf",
	"828785bf408825a849e95ba97d7f8925a849e95bb8e8b4bf",
};
/* RFC 7541 C.5 (responses, dynamic table eviction at 256 bytes): the :status of each. */
static const char *const c5[] = {
	"4803333032580770726976617465611d4d6f6e2c203231204f637420323031332032303a31333a323120474d546e1768747470733a2f2f7777772e6578616d706c652e636f6d",
	"4803333037c1c0bf",
	"88c1611d4d6f6e2c203231204f637420323031332032303a31333a323220474d54c05a04677a69707738666f6f3d415344"
	"4a4b48514b425a584f5157454f50495541585157454f49553b206d61782d6167653d333630303b2076657273696f6e3d31",
};
static const char *const c5_status[] = { "302", "307", "200" };
static const char *const paths[] = { "/", "/", "/index.html" };

static int feed_block(struct ls_reqs *r, __u64 conn, __u32 stream, int out, const unsigned char *b, size_t n, size_t split)
{
	static struct ls_headers h;
	struct ls_req_view v;
	size_t off = 0;
	int ret = 0;

	/* The block arrives in fragments of at most `split` bytes, as across TLS buffers. */
	do {
		size_t len = n - off < split ? n - off : split;

		memset(&h, 0, sizeof(h));
		h.type = LS_REC_HEADERS;
		h.pid = 42;
		h.conn = conn;
		h.stream = stream;
		h.flags = (out ? LS_HD_OUT : 0) | (off ? LS_HD_CONT : 0) | (off + len == n ? LS_HD_END : 0);
		h.len = (__u32)len;
		memcpy(h.data, b + off, len);
		ret = ls_reqs_feed(r, &h, offsetof(struct ls_headers, data) + len, &v);
		off += len;
	} while (off < n && ret >= 0);
	return ret;
}

/* One LS_HD_HTTP1 fragment of a request line. */
static void h1_fragment(struct ls_reqs *r, __u64 conn, __u32 stream, unsigned int flags, const char *data, size_t len)
{
	static struct ls_headers h;
	struct ls_req_view v;

	memset(&h, 0, sizeof(h));
	h.type = LS_REC_HEADERS;
	h.pid = 42;
	h.conn = conn;
	h.stream = stream;
	h.flags = (__u16)(LS_HD_HTTP1 | flags);
	h.len = (__u32)len;
	memcpy(h.data, data, len);
	ls_reqs_feed(r, &h, offsetof(struct ls_headers, data) + h.len, &v);
}

/* An HTTP/1 request's end with its status: what ls_reqs_feed returns, the view in *v. */
static int h1_end(struct ls_reqs *r, __u64 conn, __u32 stream, int status, struct ls_req_view *v)
{
	static struct ls_request q;

	memset(&q, 0, sizeof(q));
	q.type = LS_REC_REQUEST;
	q.flags = LS_RQ_HTTP1;
	q.pid = 42;
	q.conn = conn;
	q.stream = stream;
	q.status = (__u16)status;
	return ls_reqs_feed(r, &q, sizeof(q), v);
}

/* HTTP/1: request lines in LS_HD_HTTP1 fragments, the status in the request record. */
static void http1(void)
{
	static const char line[] = "POST /api/v1/items?id=7 HTTP/1.1\r";
	struct ls_reqs *r;
	struct ls_req_view v;
	int ok = 1;

	ls_reqs_new(&r);
	for (__u32 seq = 1; seq <= 3; seq++) {
		size_t n = sizeof(line) - 1, cut = seq * 7;
		int status = seq == 3 ? 503 : 200;

		/* The line cut where a TLS buffer ended, its second part a continuation. */
		for (size_t off = 0; off < n; off = cut, cut = n)
			h1_fragment(r, 0x7000, seq, (off ? LS_HD_CONT : 0) | (cut == n ? LS_HD_END : 0), line + off, cut - off);
		if (h1_end(r, 0x7000, seq, status, &v) != 1 || strcmp(v.method, "/api/v1/items?id=7") ||
		    strcmp(v.http_method, "POST") || strcmp(v.protocol, "http/1.1") || v.status != status ||
		    v.error != (seq == 3))
			ok = 0;
	}
	CHECK(ok, "HTTP/1: request lines cut across buffers name method and target; status and protocol from the record");
	CHECK(h1_end(r, 0x7000, 9, 0, &v) == 1 && !strcmp(v.method, "?") && v.status == -1 && v.method_reason,
	      "HTTP/1: a request whose line was not seen is unnamed, its status unknown");
	ls_reqs_free(r);
}

/*
 * The stream table grows from a few slots to LS_REQS_STREAMS_MAX, keeping every name;
 * full, it forgets the oldest streams (those that never ended: a gap cut them).
 */
static void many_streams(void)
{
	const __u32 n = LS_REQS_STREAMS_MAX + 1000, live = 300;
	struct ls_reqs *r;
	struct ls_req_view v;
	char line[64], want[64];
	int ok = 1, gone = 1;

	ls_reqs_new(&r);
	/* live streams open at once, ended newest first, through the table's growth */
	for (__u32 id = 1; id <= live; id++) {
		snprintf(line, sizeof(line), "GET /open/%u HTTP/1.1\r", id);
		h1_fragment(r, 0x8000, id, LS_HD_END, line, strlen(line));
	}
	for (__u32 id = live; id >= 1; id--) {
		snprintf(want, sizeof(want), "/open/%u", id);
		if (h1_end(r, 0x8000, id, 200, &v) != 1 || strcmp(v.method, want))
			ok = 0;
	}
	CHECK(ok, "%u streams open at once keep their names while the table grows", live);
	/* more streams than the table holds, none ended: the oldest go */
	for (__u32 id = 1; id <= n; id++) {
		snprintf(line, sizeof(line), "GET /s/%u HTTP/1.1\r", id);
		h1_fragment(r, 0x9000, id, LS_HD_END, line, strlen(line));
	}
	ok = 1;
	for (__u32 id = n; id > n - 100; id--) {
		snprintf(want, sizeof(want), "/s/%u", id);
		if (h1_end(r, 0x9000, id, 200, &v) != 1 || strcmp(v.method, want))
			ok = 0;
	}
	for (__u32 id = 1; id <= 100; id++)
		if (h1_end(r, 0x9000, id, 200, &v) != 1 || strcmp(v.method, "?"))
			gone = 0;
	CHECK(ok, "past %u streams the newest keep their names", (unsigned)LS_REQS_STREAMS_MAX);
	CHECK(gone, "past %u streams the oldest are forgotten (unnamed)", (unsigned)LS_REQS_STREAMS_MAX);
	ls_reqs_free(r);
}

int main(void)
{
	const char *const *sets[] = { c3, c4 };
	const char *names[] = { "C.3 (no Huffman)", "C.4 (Huffman)" };
	unsigned char buf[512];
	struct ls_req_view v;

	for (int set = 0; set < 2; set++) {
		for (size_t split = 1; split <= 64; split *= 4) {
			struct ls_reqs *r;
			int ok = 1;

			ls_reqs_new(&r);
			for (int i = 0; i < 3; i++) {
				size_t n = unhex(sets[set][i], buf);
				const char *m;

				feed_block(r, 0x1000, (__u32)(2 * i + 1), 0, buf, n, split);
				m = finish(r, 0x1000, (__u32)(2 * i + 1), &v);
				if (!m || strcmp(m, paths[i]) || strcmp(v.http_method, "GET"))
					ok = 0;
			}
			CHECK(ok, "RFC 7541 %s: three requests on one connection name :path and :method (fragments of %zu bytes)",
			      names[set], split);
			ls_reqs_free(r);
		}
	}

	/* Responses with eviction: :status after each block, on the response direction. */
	{
		struct ls_reqs *r;
		int ok = 1;

		ls_reqs_new(&r);
		for (int i = 0; i < 3; i++) {
			size_t n = unhex(c5[i], buf);

			feed_block(r, 0x2000, (__u32)(2 * i + 1), 1, buf, n, 7);
			finish(r, 0x2000, (__u32)(2 * i + 1), &v);
			if (v.status != atoi(c5_status[i]))
				ok = 0;
		}
		CHECK(ok, "RFC 7541 C.5: :status 302, 307, 200 through dynamic-table eviction");
		ls_reqs_free(r);
	}

	/*
	 * A gap of the overhead budget (LS_REC_GAP): a block referring to an entry added
	 * before it is unnamed with the reason, never decoded with the stale table; entries
	 * added after it decode.
	 */
	{
		struct ls_rec_hdr gap = { .type = LS_REC_GAP };
		struct ls_reqs *r;
		const char *m1, *m2, *m3;
		size_t n;

		ls_reqs_new(&r);
		n = unhex(c3[0], buf);
		feed_block(r, 0x3000, 1, 0, buf, n, 64);
		m1 = finish(r, 0x3000, 1, &v);
		ls_reqs_feed(r, &gap, sizeof(gap), &v);
		n = unhex(c3[1], buf);
		feed_block(r, 0x3000, 3, 0, buf, n, 64);
		m2 = finish(r, 0x3000, 3, &v);
		CHECK(m1 && !strcmp(m1, "/") && m2 && !strcmp(m2, "?") && v.method_reason && strstr(v.method_reason, "gap"),
		      "after a gap, a block using an entry from before it is unnamed, with the gap as reason (%s)",
		      v.method_reason ? v.method_reason : "none");
		ls_reqs_feed(r, &gap, sizeof(gap), &v);
		n = unhex(c3[0], buf);
		feed_block(r, 0x3000, 5, 0, buf, n, 64);
		m1 = finish(r, 0x3000, 5, &v);
		n = unhex(c3[1], buf);
		feed_block(r, 0x3000, 7, 0, buf, n, 64);
		m3 = finish(r, 0x3000, 7, &v);
		CHECK(m1 && !strcmp(m1, "/") && m3 && !strcmp(m3, "/"),
		      "after a gap, entries the client adds again decode (%s, %s)", m1 ? m1 : "none", m3 ? m3 : "none");
		ls_reqs_free(r);
	}

	/* Joining mid-connection: the third request alone refers to entries never seen. */
	{
		struct ls_reqs *r;
		size_t n = unhex(c3[2], buf);
		const char *m;

		ls_reqs_new(&r);
		feed_block(r, 0x3000, 5, 0, buf, n, 512);
		m = finish(r, 0x3000, 5, &v);
		CHECK(m && !strcmp(m, "?") && v.method_reason, "a fresh decoder fed only C.3.3 reports the method unknown (%s), not a guess",
		      v.method_reason ? v.method_reason : "no reason");
		/* And stays unknown afterwards: its table is out of step. */
		n = unhex(c3[0], buf);
		feed_block(r, 0x3000, 7, 0, buf, n, 512);
		m = finish(r, 0x3000, 7, &v);
		CHECK(m && !strcmp(m, "?"), "after a failed block the connection's later requests stay unknown");
		/* Until that connection ends and a new one starts at its address (SSL_clear). */
		{
			static struct ls_headers fresh;

			fresh.type = LS_REC_HEADERS;
			fresh.flags = LS_HD_FRESH;
			fresh.pid = 42;
			fresh.conn = 0x3000;
			CHECK(ls_reqs_feed(r, &fresh, offsetof(struct ls_headers, data), &v) == 0,
			      "a new connection's mark finishes no request");
		}
		for (int i = 0; i < 3; i++) {
			n = unhex(c3[i], buf);
			feed_block(r, 0x3000, (__u32)(2 * i + 1), 0, buf, n, 512);
			m = finish(r, 0x3000, (__u32)(2 * i + 1), &v);
			if (!m || strcmp(m, paths[i]))
				break;
		}
		CHECK(m && !strcmp(m, paths[2]), "a new connection at the address decodes from a fresh context (%s)", m ? m : "none");
		ls_reqs_free(r);
	}

	/* Expiry: a connection idle for the rounds kept is forgotten, a busy one keeps its context. */
	{
		struct ls_reqs *r;
		size_t n, gone[3];
		const char *m;

		ls_reqs_new(&r);
		n = unhex(c3[0], buf);
		feed_block(r, 0x4000, 1, 0, buf, n, 512);
		finish(r, 0x4000, 1, &v);
		gone[0] = ls_reqs_expire(r, 2);
		feed_block(r, 0x5000, 1, 0, buf, n, 512);
		finish(r, 0x5000, 1, &v);
		gone[1] = ls_reqs_expire(r, 2);
		gone[2] = ls_reqs_expire(r, 2);
		CHECK(gone[0] == 0 && gone[1] == 0 && gone[2] == 1, "expire(keep 2): the idle connection goes in the 2nd round after its use (%zu %zu %zu)",
		      gone[0], gone[1], gone[2]);
		n = unhex(c3[1], buf);
		feed_block(r, 0x5000, 3, 0, buf, n, 512);
		m = finish(r, 0x5000, 3, &v);
		CHECK(m && !strcmp(m, paths[1]), "the connection kept still decodes with its context (%s)", m ? m : "none");
		feed_block(r, 0x4000, 3, 0, buf, n, 512);
		m = finish(r, 0x4000, 3, &v);
		CHECK(m && !strcmp(m, "?"), "the one forgotten comes back without it: unknown, not a guess (%s)", m ? m : "none");
		ls_reqs_free(r);
	}

	/* Per-method aggregation: counts and totals by :path. */
	{
		struct ls_reqs *r;
		const struct ls_method_stats *const *ms;
		size_t n, k;

		ls_reqs_new(&r);
		for (int i = 0; i < 3; i++) {
			size_t len = unhex(c3[i], buf);

			feed_block(r, 0x4000, (__u32)(2 * i + 1), 0, buf, len, 512);
			finish(r, 0x4000, (__u32)(2 * i + 1), &v);
		}
		ms = ls_reqs_methods(r, &k);
		n = k;
		CHECK(n == 2 && !strcmp(ms[0]->method, "/") && ms[0]->count == 2 && !strcmp(ms[1]->method, "/index.html") &&
		      ms[1]->count == 1, "per-method rows sorted by name: / x2, /index.html x1 (%zu rows)", n);
		ls_reqs_free(r);
	}
	/* The server's own decoded :path (grpc-go operateHeaders) names a joined connection's streams. */
	{
		struct ls_reqs *r;
		struct ls_method_rec m;
		size_t n = unhex(c3[2], buf);
		const char *name = "/latscope.gogrpc.Echo/Fast";
		const char *got;

		ls_reqs_new(&r);
		memset(&m, 0, sizeof(m));
		m.type = LS_REC_METHOD;
		m.pid = 42;
		m.conn = 0x5000;
		m.stream = 5;
		m.len = (__u16)strlen(name);
		memcpy(m.name, name, m.len);
		CHECK(ls_reqs_feed(r, &m, sizeof(m), &v) == 0, "a method record finishes no request");
		feed_block(r, 0x5000, 5, 0, buf, n, 512);
		got = finish(r, 0x5000, 5, &v);
		CHECK(got && !strcmp(got, name) && v.method_from && !strcmp(v.method_from, "operateHeaders"),
		      "joined mid-connection: the server-decoded method names the stream (%s, from %s)", got ? got : "none",
		      v.method_from ? v.method_from : "nowhere");
		m.stream = 7;
		m.len = sizeof(m.name); /* claims more than it holds: ignored */
		ls_reqs_feed(r, &m, sizeof(m), &v);
		got = finish(r, 0x5000, 7, &v);
		CHECK(got && !strcmp(got, "?"), "a method record with a bad length is ignored (%s)", got ? got : "none");
		ls_reqs_free(r);
	}
	http1();
	many_streams();
	return failures ? 1 : 0;
}
