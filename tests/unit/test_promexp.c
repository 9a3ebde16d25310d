/*
 * The Prometheus exposition (lib/promexp) and the scrape endpoint's parser
 * (lib/httpd): bucket edges, label escaping, the method cap, gRPC and HTTP
 * labels, and request heads good and bad.
 */
#include <stdlib.h>
#include <string.h>

#include "httpd.h"
#include "promexp.h"
#include "check.h"

static char *label(const char *s)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ls_prom_label(f, s);
	fclose(f);
	return buf;
}

static char *render(const struct ls_prom *p)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	ls_prom_write(p, f);
	fclose(f);
	return buf;
}

static void add(struct ls_prom *p, const char *path, int grpc_status, uint64_t total_ns, uint64_t app_ns)
{
	struct ls_request rec = { .total_ns = total_ns };
	struct ls_req_view v = { .rec = &rec, .method = path, .http_method = "POST", .status = 200,
				 .grpc_status = grpc_status };

	rec.phase_ns[LS_PH_APP] = app_ns;
	rec.phase_ns[LS_PH_TLS_IN] = total_ns - app_ns;
	if (ls_prom_add(p, "svc", &v))
		abort();
}

static void test_labels(void)
{
	char *s;

	s = label("a\"b\\c\nd");
	CHECK(!strcmp(s, "a\\\"b\\\\c\\nd"), "quote, backslash, line feed escaped as the format says: %s", s);
	free(s);
	s = label("x\x1b[2J\x7f\t");
	CHECK(!strcmp(s, "x%1B[2J%7F%09"), "control characters and DEL as %%XX: %s", s);
	free(s);
	s = label("\xc3\x28/\xe2\x82\xac");
	CHECK(!strcmp(s, "%C3(/\xe2\x82\xac"), "invalid UTF-8 as %%XX, valid kept: %s", s);
	free(s);
}

static void test_buckets(void)
{
	struct ls_prom *p;
	char *out;

	CHECK(ls_prom_bound_ns(0) == 10000 && ls_prom_bound_ns(LS_PROM_BUCKETS - 1) == 100000000000ull,
	      "gRPC's buckets: 10us to 100s");
	for (unsigned int i = 1; i < LS_PROM_BUCKETS; i++)
		if (ls_prom_bound_ns(i) <= ls_prom_bound_ns(i - 1))
			CHECK(0, "bucket %u not above the one before", i);
	if (ls_prom_new(NULL, &p))
		abort();
	add(p, "/pkg.Svc/Slow", 0, 20000000, 19900000); /* exactly on a bound: le is inclusive */
	add(p, "/pkg.Svc/Slow", 14, 20000001, 19900000);
	out = render(p);
	CHECK(strstr(out, "rpc_server_call_duration_seconds_bucket{service_name=\"svc\",rpc_system_name=\"grpc\","
			  "rpc_method=\"pkg.Svc/Slow\",rpc_status_code=\"OK\",le=\"0.02\"} 1\n") != NULL,
	      "20 ms counts in le=0.02, the method without its '/'");
	CHECK(strstr(out, "rpc_status_code=\"UNAVAILABLE\",le=\"0.02\"} 0\n") &&
		      strstr(out, "rpc_status_code=\"UNAVAILABLE\",le=\"0.025\"} 1\n"),
	      "20 ms + 1 ns in le=0.025, status 14 named UNAVAILABLE");
	CHECK(strstr(out, "rpc_server_call_duration_seconds_sum{service_name=\"svc\",rpc_system_name=\"grpc\","
			  "rpc_method=\"pkg.Svc/Slow\",rpc_status_code=\"OK\"} 0.020000000\n") != NULL,
	      "_sum in seconds, to the nanosecond");
	CHECK(strstr(out, "phase=\"app\",le=\"0.02\"} 1\n") && strstr(out, "phase=\"tls_in\",le=\"0.0001\"} 1\n"),
	      "each phase in its own histogram");
	CHECK(!strstr(out, "phase=\"h2_in\""), "a phase never measured has no series");
	free(out);
	ls_prom_free(p);
}

static void test_cap(void)
{
	struct ls_prom_opts o = { .sz = sizeof(o), .max_methods = 2 };
	struct ls_prom_stats st;
	struct ls_prom *p;
	char *out;

	if (ls_prom_new(&o, &p))
		abort();
	add(p, "/a?q=1", -1, 1000, 0);
	add(p, "/a?q=2", -1, 1000, 0);
	add(p, "/b", -1, 1000, 0);
	add(p, "/c", -1, 1000, 0);
	add(p, "/d", -1, 1000, 0);
	add(p, "/a", -1, 1000, 0);
	ls_prom_stats(p, &st);
	out = render(p);
	CHECK(st.folded == 2 && st.requests == 6, "past 2 methods, requests fold into _OTHER (%llu folded)",
	      (unsigned long long)st.folded);
	CHECK(strstr(out, "http_server_request_duration_seconds_count{service_name=\"svc\",http_request_method=\"POST\","
			  "http_response_status_code=\"200\",http_route=\"/a\",network_protocol_version=\"2\"} 3\n") != NULL,
	      "an HTTP route is the path without its query");
	CHECK(strstr(out, "http_route=\"_OTHER\",network_protocol_version=\"2\"} 2\n") != NULL, "_OTHER counts the rest");
	free(out);
	ls_prom_free(p);

	o.max_methods = 0;
	o.max_series = 1;
	if (ls_prom_new(&o, &p))
		abort();
	add(p, "/a", -1, 1000, 0);
	add(p, "/b", -1, 1000, 0);
	add(p, "/a", -1, 1000, 0);
	ls_prom_stats(p, &st);
	CHECK(st.series == 1 && st.lost == 1 && st.requests == 2, "past max_series, requests are counted as lost (%llu)",
	      (unsigned long long)st.lost);
	ls_prom_free(p);
}

static int parse(const char *head, struct ls_http_req *r)
{
	return ls_http_parse(head, strlen(head), r);
}

static void test_http(void)
{
	struct ls_http_req r;
	char big[LS_HTTP_HEAD_MAX + 16];

	CHECK(parse("GET /metrics?x=1 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\n\r\n", &r) == 1 &&
		      !strcmp(r.path, "/metrics") && !strcmp(r.method, "GET") && r.minor == 1,
	      "a scrape parses, the query cut from the path");
	CHECK(parse("GET /metrics HTTP/1.1\r\nHost: a\r\n", &r) == 0, "an unfinished head wants more");
	CHECK(parse("GET /metrics HTTP/1.1\r\n\r\n", &r) == -400, "HTTP/1.1 without Host: 400");
	CHECK(parse("GET /metrics HTTP/1.0\r\n\r\n", &r) == 1 && r.minor == 0, "HTTP/1.0 needs no Host");
	CHECK(parse("PUT /metrics HTTP/1.1\r\nHost: a\r\n\r\n", &r) == -405, "PUT: 405");
	CHECK(parse("GET /metrics HTTP/2.0\r\n\r\n", &r) == -505, "HTTP/2.0: 505");
	CHECK(parse("GET metrics HTTP/1.1\r\nHost: a\r\n\r\n", &r) == -400, "a target not starting with '/': 400");
	CHECK(parse("GET /metrics HTTP/1.1\r\nHost : a\r\n\r\n", &r) == -400, "whitespace before the colon: 400");
	CHECK(parse("GET /metrics HTTP/1.1\r\nHost: a\r\n folded\r\n\r\n", &r) == -400, "an obsolete folded line: 400");
	CHECK(parse("GET /metrics HTTP/1.1\nHost: a\r\n\r\n", &r) == -400, "a bare LF: 400");
	memset(big, 'a', sizeof(big));
	CHECK(ls_http_parse(big, sizeof(big), &r) == -431, "a head past %d bytes: 431", LS_HTTP_HEAD_MAX);
}

/* An HTTP/1.1 request and an HTTP/2 one of the same route: two series, told apart by protocol version. */
static void test_protocol(void)
{
	struct ls_request rec = { .total_ns = 1000000 };
	struct ls_req_view v = { .rec = &rec, .method = "/index.html", .http_method = "GET", .status = 200,
				 .grpc_status = -1, .protocol = "http/1.1" };
	struct ls_prom *p;
	char *out;

	if (ls_prom_new(NULL, &p) || ls_prom_add(p, "svc", &v))
		abort();
	v.protocol = "h2";
	if (ls_prom_add(p, "svc", &v))
		abort();
	out = render(p);
	CHECK(strstr(out, "http_route=\"/index.html\",network_protocol_version=\"1.1\"} 1\n") &&
		      strstr(out, "http_route=\"/index.html\",network_protocol_version=\"2\"} 1\n"),
	      "HTTP/1.1 and HTTP/2 requests of one route: a series each, by network_protocol_version");
	free(out);
	ls_prom_free(p);
}

int main(void)
{
	test_protocol();
	test_labels();
	test_buckets();
	test_cap();
	test_http();
	return failures ? 1 : 0;
}
