/*
 * bpf/h1split.h, the HTTP/1 framing the BPF walk runs, on the messages real
 * servers and clients exchange: where each message starts and ends whatever
 * the buffers it comes in, its status and start line; and lib/http1.c's
 * request-line parser.
 */
#include <errno.h>
#include <string.h>

#include "check.h"
#include "h1split_check.h"
#include "http1.h"

#define S(x) (const __u8 *)(x), sizeof(x) - 1

/*
 * Byte by byte, then whole, cut at every single position and at every pair a
 * few apart, skipping to line ends: the same messages.
 */
static int cut_anywhere(const __u8 *p, size_t n, int out, __u64 heads, const struct chk1_run *whole)
{
	struct chk1_run run;
	size_t cuts[2];

	chk1_skip = 0;
	chk1_feed(p, n, out, heads, NULL, 0, &run);
	chk1_skip = 1;
	if (!chk1_same(&run, whole))
		return 0;

	for (size_t i = 1; i < n; i++) {
		cuts[0] = i;
		chk1_feed(p, n, out, heads, cuts, 1, &run);
		if (!chk1_same(&run, whole))
			return 0;
		for (size_t j = i + 1; j < n && j < i + 5; j++) {
			cuts[1] = j;
			chk1_feed(p, n, out, heads, cuts, 2, &run);
			if (!chk1_same(&run, whole))
				return 0;
		}
	}
	return 1;
}

static void requests(void)
{
	static const char in[] = "GET /a?x=1 HTTP/1.1\r\nHost: x\r\n\r\n"
				 "HEAD /b HTTP/1.1\r\nHost: x\r\n\r\n"
				 "POST /c HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
				 "PUT /d HTTP/1.1\r\ntransfer-ENCODING: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\nX-Trailer: t\r\n\r\n"
				 "\r\nGET /e HTTP/1.0\n\n";
	struct chk1_run r;

	chk1_feed(S(in), 0, 0, NULL, 0, &r);
	CHECK(r.n == 5 && !r.lost, "pipelined requests: 5 found (%d), framing kept", r.n);
	CHECK(r.m[0].end == 32 && !strncmp(r.m[0].line, "GET /a?x=1 HTTP/1.1\r", 20), "GET: head only, start line kept");
	CHECK(r.m[1].head && !r.m[0].head && !r.m[2].head, "HEAD recognised, and only HEAD");
	CHECK(r.m[2].end - r.m[2].start == 53, "POST: its Content-Length body is part of it (%zu bytes)",
	      r.m[2].end - r.m[2].start);
	CHECK(r.m[3].end == r.m[4].start - 2, "PUT: a chunked body with an extension and a trailer, then a stray CRLF");
	CHECK(r.m[4].end == sizeof(in) - 1, "bare LF line ends (HTTP/1.0) end the last request at the stream's end");
	CHECK(cut_anywhere(S(in), 0, 0, &r), "the same requests however the stream is cut into buffers");
}

static void responses(void)
{
	static const char out[] = "HTTP/1.1 100 Continue\r\n\r\n"
				  "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nbody"
				  "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n"
				  "HTTP/1.1 204 No Content\r\n\r\n"
				  "HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\n\r\n"
				  "a\r\n0123456789\r\nA\r\n0123456789\r\n0\r\n\r\n"
				  "HTTP/1.1 304 Not Modified\r\nContent-Length: 100\r\n\r\n"
				  "HTTP/1.1 404 Not Found\r\ncontent-length:  2\r\n\r\nno";
	/* The third response answers a HEAD request (message 3 of the responses). */
	__u64 heads = 1ULL << 3;
	struct chk1_run r;

	chk1_feed(S(out), 1, heads, NULL, 0, &r);
	CHECK(r.n == 7 && !r.lost, "responses: 7 found (%d), framing kept", r.n);
	CHECK(r.m[0].status == 100 && r.m[0].end == 0, "100 Continue: interim, it ends nothing");
	CHECK(r.m[1].status == 200 && r.m[1].end == r.m[2].start, "200 with Content-Length: its body, then the next");
	CHECK(r.m[2].end == r.m[3].start, "a response to HEAD: its Content-Length names no body here");
	CHECK(r.m[3].status == 204 && r.m[3].end == r.m[4].start, "204: no body");
	CHECK(r.m[4].status == 503 && r.m[4].end == r.m[5].start, "503 chunked, sizes in both cases of hex");
	CHECK(r.m[5].status == 304 && r.m[5].end == r.m[6].start, "304: no body, whatever its Content-Length");
	CHECK(r.m[6].status == 404 && r.m[6].end == sizeof(out) - 1, "404, its header name in lower case");
	CHECK(cut_anywhere(S(out), 1, heads, &r), "the same responses however the stream is cut into buffers");
}

static void lost_and_bounds(void)
{
	struct chk1_run r;

	chk1_feed(S("HTTP/1.1 2x0 OK\r\n\r\n"), 1, 0, NULL, 0, &r);
	CHECK(r.lost && r.lost_at == 10, "a status that is not 3 digits: lost at its bad byte");
	chk1_feed(S("GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n"), 0, 0, NULL, 0, &r);
	CHECK(r.lost, "a Content-Length that is not a number: lost");
	chk1_feed(S("get / HTTP/1.1\r\n\r\n"), 0, 0, NULL, 0, &r);
	CHECK(r.lost && r.n == 0, "a request not starting with a method token: lost, nothing started");
	chk1_feed(S("GET / HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n"), 0, 0, NULL, 0, &r);
	CHECK(r.lost, "a Content-Length past 2^48: lost, not wrapped");
	chk1_feed(S("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffff\r\n"), 1, 0, NULL, 0, &r);
	CHECK(r.lost, "a chunk size past 2^48: lost");
	{
		static char many[400];

		/* 2 + 255 spaces: a count kept in a byte would be 1 again, and 'K' a bad status digit. */
		memcpy(many, "HTTP/1.1 200 O", 14);
		memset(many + 14, ' ', 255);
		memcpy(many + 269, "K\r\nContent-Length: 0\r\n\r\n", 24);
		chk1_skip = 0;
		chk1_feed((const __u8 *)many, 293, 1, 0, NULL, 0, &r);
		chk1_skip = 1;
		CHECK(!r.lost && r.n == 1 && r.m[0].end == 293 && r.m[0].status == 200,
		      "257 spaces in a status line, fed byte by byte: the count of spaces does not wrap");
	}
	chk1_feed(S("HTTP/1.0 200 OK\r\n\r\nuntil close"), 1, 0, NULL, 0, &r);
	CHECK(r.eof && r.m[0].end == 30, "no length: the response ends with its write");
	chk1_feed(S("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n\x81\x05hello"), 1, 0, NULL, 0, &r);
	CHECK(!r.lost && r.n == 1 && r.m[0].end == 56, "101: the connection is no longer HTTP/1, what follows is not parsed");
}

static void request_line(void)
{
	char m[16], p[16];

	CHECK(!ls_h1_request_line(S("GET /index.html HTTP/1.1\r"), m, sizeof(m), p, sizeof(p)) && !strcmp(m, "GET") &&
		      !strcmp(p, "/index.html"),
	      "request line: method and target");
	CHECK(!ls_h1_request_line(S("OPTIONS * HTTP/1.1"), m, sizeof(m), p, sizeof(p)) && !strcmp(p, "*"),
	      "request line: OPTIONS *");
	CHECK(!ls_h1_request_line(S("GET /a/very/long/path/indeed"), m, sizeof(m), p, sizeof(p)) &&
		      !strcmp(p, "/a/very/long/pa"),
	      "request line: a line cut short keeps the target's start, cut to its buffer");
	CHECK(ls_h1_request_line(S("GET  /x HTTP/1.1"), m, sizeof(m), p, sizeof(p)) == -EINVAL && !m[0] && !p[0],
	      "request line: two spaces: refused, both empty");
	CHECK(ls_h1_request_line(S("G\x01T /x HTTP/1.1"), m, sizeof(m), p, sizeof(p)) == -EINVAL,
	      "request line: a control character in the method: refused");
	CHECK(ls_h1_request_line(S("GET"), m, sizeof(m), p, sizeof(p)) == -EINVAL, "request line: a method alone: refused");
	CHECK(!ls_h1_request_line(S("VERYLONGMETHODNAMEHERE /x"), m, 8, p, sizeof(p)) && !strcmp(m, "VERYLON"),
	      "request line: a long method cut to its buffer");
}

int main(void)
{
	requests();
	responses();
	lost_and_bounds();
	request_line();
	return failures ? 1 : 0;
}
