#include "otlp.h"
#include "jsonw.h"
#include "phase.h"
#include "promexp.h"

#include <string.h>
#include <sys/random.h>

/* OTLP's SpanKind and StatusCode values. */
enum { KIND_INTERNAL = 1, KIND_SERVER = 2 };
enum { STATUS_UNSET = 0, STATUS_ERROR = 2 };

static void random_hex(char *out, size_t bytes)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char b[16] = { 0 };
	size_t got = 0;

	while (got < bytes) {
		ssize_t n = getrandom(b + got, bytes - got, 0);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	/* An id of all zeros is invalid in OTLP. */
	b[0] |= 1;
	for (size_t i = 0; i < bytes; i++) {
		out[2 * i] = hex[b[i] >> 4];
		out[2 * i + 1] = hex[b[i] & 15];
	}
	out[2 * bytes] = 0;
}

void ls_otlp_span_from(struct ls_otlp_span *sp, const struct ls_req_view *v, uint64_t realtime_off_ns,
		       unsigned int resource)
{
	const struct ls_request *q = v->rec;

	memset(sp, 0, sizeof(*sp));
	/* traceparent "00-TRACE-PARENT-FLAGS", checked by the HPACK decoder. */
	if (v->traceparent && v->traceparent[0]) {
		memcpy(sp->trace_id, v->traceparent + 3, 32);
		memcpy(sp->parent_id, v->traceparent + 36, 16);
	} else {
		random_hex(sp->trace_id, 16);
	}
	random_hex(sp->span_id, 8);
	for (int p = 0; p < LS_PHASE_COUNT; p++)
		if (q->phase_ns[p])
			random_hex(sp->phase_id[p], 8);
	snprintf(sp->method, sizeof(sp->method), "%s", v->method_reason ? "_OTHER" : v->method);
	snprintf(sp->http_method, sizeof(sp->http_method), "%s", v->http_method);
	sp->grpc = v->grpc_status >= 0 || (v->method_from && !strcmp(v->method_from, "operateHeaders"));
	sp->status = v->status;
	sp->http1 = v->protocol && !strcmp(v->protocol, "http/1.1");
	sp->grpc_status = v->grpc_status;
	sp->start_unix_ns = q->start_ns + realtime_off_ns;
	sp->total_ns = q->total_ns;
	memcpy(sp->phase_ns, q->phase_ns, sizeof(sp->phase_ns));
	sp->resource = resource;
}

/* {"key": key, "value": {type: val}}: an attribute of one of OTLP's value types. */
static void attr(struct jw *w, const char *key, const char *type, const char *val)
{
	jw_obj(w);
	jw_kstr(w, "key", key);
	jw_key(w, "value");
	jw_obj(w);
	jw_kstr(w, type, val);
	jw_obj_end(w);
	jw_obj_end(w);
}

static void attr_str(struct jw *w, const char *key, const char *val)
{
	attr(w, key, "stringValue", val);
}

static void attr_int(struct jw *w, const char *key, long long val)
{
	char s[24];

	/* int64 is a string in OTLP/JSON (the protobuf JSON mapping). */
	snprintf(s, sizeof(s), "%lld", val);
	attr(w, key, "intValue", s);
}

static void times(struct jw *w, uint64_t start, uint64_t dur)
{
	char s[24];

	snprintf(s, sizeof(s), "%llu", (unsigned long long)start);
	jw_kstr(w, "startTimeUnixNano", s);
	snprintf(s, sizeof(s), "%llu", (unsigned long long)(start + dur));
	jw_kstr(w, "endTimeUnixNano", s);
}

static void server_span(struct jw *w, const struct ls_otlp_span *sp)
{
	const char *route = sp->method;
	char name[LS_METHOD_LEN + 24], path[LS_METHOD_LEN];
	int error;

	jw_obj(w);
	jw_kstr(w, "traceId", sp->trace_id);
	jw_kstr(w, "spanId", sp->span_id);
	if (sp->parent_id[0])
		jw_kstr(w, "parentSpanId", sp->parent_id);
	if (sp->grpc && route[0] == '/')
		route++;
	if (sp->grpc)
		snprintf(name, sizeof(name), "%s", route);
	else
		snprintf(name, sizeof(name), "%s %.*s", sp->http_method[0] ? sp->http_method : "HTTP",
			 (int)strcspn(route, "?"), route);
	jw_kstr(w, "name", name);
	jw_ku64(w, "kind", KIND_SERVER);
	times(w, sp->start_unix_ns, sp->total_ns);
	jw_key(w, "attributes");
	jw_arr(w);
	if (sp->grpc) {
		attr_str(w, "rpc.system.name", "grpc");
		attr_str(w, "rpc.method", route);
		attr_str(w, "rpc.status_code", ls_grpc_code_name(sp->grpc_status < 0 ? 2 : sp->grpc_status));
		error = sp->grpc_status != 0;
	} else {
		if (sp->http_method[0])
			attr_str(w, "http.request.method", sp->http_method);
		if (sp->status >= 0)
			attr_int(w, "http.response.status_code", sp->status);
		snprintf(path, sizeof(path), "%.*s", (int)strcspn(route, "?"), route);
		attr_str(w, "http.route", path);
		attr_str(w, "network.protocol.version", sp->http1 ? "1.1" : "2");
		error = sp->status >= 500 || sp->status < 0;
	}
	jw_arr_end(w);
	jw_key(w, "status");
	jw_obj(w);
	jw_ku64(w, "code", error ? STATUS_ERROR : STATUS_UNSET);
	jw_obj_end(w);
	jw_obj_end(w);
}

static void phase_span(struct jw *w, const struct ls_otlp_span *sp, unsigned int p, uint64_t at)
{
	jw_obj(w);
	jw_kstr(w, "traceId", sp->trace_id);
	jw_kstr(w, "spanId", sp->phase_id[p]);
	jw_kstr(w, "parentSpanId", sp->span_id);
	jw_kstr(w, "name", ls_phase_name(p));
	jw_ku64(w, "kind", KIND_INTERNAL);
	times(w, at, sp->phase_ns[p]);
	jw_key(w, "attributes");
	jw_arr(w);
	attr_str(w, "latscope.phase", ls_phase_name(p));
	jw_arr_end(w);
	jw_obj_end(w);
}

/*
 * The non-zero phases, each starting where the one before ended: queue
 * first (the request's bytes waited before the first read), then the rest in
 * the phase table's order, which is the request's.
 */
static void phase_spans(struct jw *w, const struct ls_otlp_span *sp)
{
	uint64_t at = sp->start_unix_ns;

	if (sp->phase_ns[LS_PH_QUEUE]) {
		phase_span(w, sp, LS_PH_QUEUE, at);
		at += sp->phase_ns[LS_PH_QUEUE];
	}
	for (unsigned int p = 0; p < LS_PHASE_COUNT; p++) {
		if (!sp->phase_ns[p] || p == LS_PH_QUEUE)
			continue;
		phase_span(w, sp, p, at);
		at += sp->phase_ns[p];
	}
}

static void resource(struct jw *w, const struct ls_otlp_resource *r)
{
	jw_key(w, "resource");
	jw_obj(w);
	jw_key(w, "attributes");
	jw_arr(w);
	attr_str(w, "service.name", r->service);
	attr_str(w, "host.name", r->host);
	attr_int(w, "process.pid", r->pid);
	attr_str(w, "process.executable.name", r->exe_name);
	jw_arr_end(w);
	jw_obj_end(w);
}

void ls_otlp_write(FILE *f, const struct ls_otlp_resource *res, size_t nres, const struct ls_otlp_span *spans,
		   size_t n)
{
	struct jw w;

	jw_init(&w, f);
	jw_obj(&w);
	jw_key(&w, "resourceSpans");
	jw_arr(&w);
	for (size_t r = 0; r < nres; r++) {
		size_t k;

		for (k = 0; k < n && spans[k].resource != r; k++)
			;
		if (k == n)
			continue;
		jw_obj(&w);
		resource(&w, &res[r]);
		jw_key(&w, "scopeSpans");
		jw_arr(&w);
		jw_obj(&w);
		jw_key(&w, "scope");
		jw_obj(&w);
		jw_kstr(&w, "name", "latscope");
		jw_obj_end(&w);
		jw_key(&w, "spans");
		jw_arr(&w);
		for (; k < n; k++) {
			if (spans[k].resource != r)
				continue;
			server_span(&w, &spans[k]);
			phase_spans(&w, &spans[k]);
		}
		jw_arr_end(&w);
		jw_obj_end(&w);
		jw_arr_end(&w);
		jw_obj_end(&w);
	}
	jw_arr_end(&w);
	jw_obj_end(&w);
}
