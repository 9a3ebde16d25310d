/*
 * bench/reqrate: how many requests per second the user-space side assembles on
 * one core. Feeds ls_reqs the records the kernel sends for a realistic gRPC
 * exchange (request HEADERS, response HEADERS, trailers, request record) over
 * many connections and streams, HPACK blocks encoded by nghttp2's own encoder
 * (a connection's first request literal, later ones indexed).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nghttp2/nghttp2.h>

#include <linux/types.h>
#include "latscope.h"
#include "requests.h"

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#define NV(n, v) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, sizeof(v) - 1, NGHTTP2_NV_FLAG_NONE }

/* A connection's first and second header block for nva, as nghttp2's encoder writes them. */
static void encode(const nghttp2_nv *nva, size_t n, unsigned char *first, size_t *lf, unsigned char *next, size_t *ln)
{
	nghttp2_hd_deflater *d;

	nghttp2_hd_deflate_new(&d, 4096);
	*lf = (size_t)nghttp2_hd_deflate_hd(d, first, 512, (nghttp2_nv *)nva, n);
	*ln = (size_t)nghttp2_hd_deflate_hd(d, next, 512, (nghttp2_nv *)nva, n);
	nghttp2_hd_deflate_del(d);
}

static void headers(struct ls_reqs *r, __u64 conn, __u32 stream, int out, const unsigned char *b, size_t n)
{
	static struct ls_headers h;
	struct ls_req_view v;

	h.type = LS_REC_HEADERS;
	h.pid = 1;
	h.conn = conn;
	h.stream = stream;
	h.flags = (out ? LS_HD_OUT : 0) | LS_HD_END;
	h.len = (__u32)n;
	memcpy(h.data, b, n);
	ls_reqs_feed(r, &h, offsetof(struct ls_headers, data) + n, &v);
}

int main(int argc, char **argv)
{
	static const nghttp2_nv req[] = {
		NV(":method", "POST"), NV(":scheme", "https"), NV(":path", "/latscope.example.Echo/Fast"),
		NV(":authority", "127.0.0.1:8443"), NV("content-type", "application/grpc"), NV("te", "trailers"),
		NV("user-agent", "h2load nghttp2/1.52.0"),
	};
	static const nghttp2_nv resp[] = { NV(":status", "200"), NV("content-type", "application/grpc") };
	static const nghttp2_nv trailers[] = { NV("grpc-status", "0") };
	long n = argc > 1 ? atol(argv[1]) : 2000000, conns = 100;
	unsigned char rf[512], rn[512], sf[512], sn[512], tf[512], tn[512];
	size_t lrf, lrn, lsf, lsn, ltf, ltn;
	struct ls_request q;
	struct ls_req_view v;
	struct ls_reqs *r;
	long named = 0;
	double t0;

	encode(req, sizeof(req) / sizeof(req[0]), rf, &lrf, rn, &lrn);
	encode(resp, sizeof(resp) / sizeof(resp[0]), sf, &lsf, sn, &lsn);
	encode(trailers, 1, tf, &ltf, tn, &ltn);
	if (ls_reqs_new(&r))
		return 1;
	memset(&q, 0, sizeof(q));
	q.type = LS_REC_REQUEST;
	q.pid = 1;
	t0 = now_s();
	for (long i = 0; i < n; i++) {
		__u64 conn = 0x10000 + (__u64)(i % conns) * 64;
		__u32 stream = (__u32)(2 * (i / conns) + 1);
		int first = i < conns;

		headers(r, conn, stream, 0, first ? rf : rn, first ? lrf : lrn);
		headers(r, conn, stream, 1, first ? sf : sn, first ? lsf : lsn);
		headers(r, conn, stream, 1, first ? tf : tn, first ? ltf : ltn);
		q.conn = conn;
		q.stream = stream;
		q.start_ns = (__u64)i * 1000;
		q.total_ns = 50000 + (__u64)(i % 997) * 100;
		for (int p = 0; p < LS_PHASE_COUNT; p++)
			q.phase_ns[p] = q.total_ns / LS_PHASE_COUNT;
		if (ls_reqs_feed(r, &q, sizeof(q), &v) == 1 && strcmp(v.method, "?"))
			named++;
	}
	t0 = now_s() - t0;
	printf("%ld requests (%ld named) in %.2f s: %.0f requests/s on one core (4 records each)\n", n, named, t0,
	       (double)n / t0);
	ls_reqs_free(r);
	return named == n ? 0 : 1;
}
