#include "promexp.h"
#include "jsonw.h"
#include "phase.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/*
 * gRPC's latency buckets (gRFC A66), in ns and as written: fine below a
 * millisecond so that short phases are resolved, coarse past a second.
 */
static const struct {
	uint64_t ns;
	const char *le;
} bounds[LS_PROM_BUCKETS] = {
	{ 10000ull, "1e-05" }, { 50000ull, "5e-05" }, { 100000ull, "0.0001" }, { 300000ull, "0.0003" },
	{ 600000ull, "0.0006" }, { 800000ull, "0.0008" }, { 1000000ull, "0.001" }, { 2000000ull, "0.002" },
	{ 3000000ull, "0.003" }, { 4000000ull, "0.004" }, { 5000000ull, "0.005" }, { 6000000ull, "0.006" },
	{ 8000000ull, "0.008" }, { 10000000ull, "0.01" }, { 13000000ull, "0.013" }, { 16000000ull, "0.016" },
	{ 20000000ull, "0.02" }, { 25000000ull, "0.025" }, { 30000000ull, "0.03" }, { 40000000ull, "0.04" },
	{ 50000000ull, "0.05" }, { 65000000ull, "0.065" }, { 80000000ull, "0.08" }, { 100000000ull, "0.1" },
	{ 130000000ull, "0.13" }, { 160000000ull, "0.16" }, { 200000000ull, "0.2" }, { 250000000ull, "0.25" },
	{ 300000000ull, "0.3" }, { 400000000ull, "0.4" }, { 500000000ull, "0.5" }, { 650000000ull, "0.65" },
	{ 800000000ull, "0.8" }, { 1000000000ull, "1" }, { 2000000000ull, "2" }, { 5000000000ull, "5" },
	{ 10000000000ull, "10" }, { 20000000000ull, "20" }, { 50000000000ull, "50" }, { 100000000000ull, "100" },
};

static const char *const grpc_codes[] = {
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED",
	"OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
};

/* The request methods the conventions name; any other is "_OTHER" (a client invents them freely). */
static const char *const http_methods[] = {
	"GET", "HEAD", "POST", "PUT", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH",
};

#define LABELS_MAX 2048
#define SERVICES_MAX 256

struct hist {
	uint64_t n[LS_PROM_BUCKETS + 1]; /* per bucket, not cumulative; the last is past 100 s */
	uint64_t count, sum_ns;
};

struct series {
	int grpc;
	char *labels;                    /* escaped, comma-separated, without braces */
	struct hist total;
	struct hist phase[LS_PHASE_COUNT];
};

/* Open addressing, string keys owned by the map. */
struct strmap {
	char **keys;
	void **vals;
	size_t n, cap;
};

struct svc {
	unsigned int methods;
};

struct ls_prom {
	struct ls_prom_opts o;
	struct strmap series_by_labels, methods, services;
	struct series **order;           /* in creation order: output is stable */
	size_t nseries, capseries;
	struct ls_prom_stats st;
};

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ULL;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

static void **strmap_slot(struct strmap *m, const char *key, size_t *idx)
{
	size_t mask = m->cap - 1, i = hash_str(key) & mask;

	while (m->keys[i] && strcmp(m->keys[i], key))
		i = (i + 1) & mask;
	*idx = i;
	return &m->vals[i];
}

static void *strmap_get(struct strmap *m, const char *key)
{
	size_t i;
	void **v = strmap_slot(m, key, &i);

	return m->keys[i] ? *v : NULL;
}

static int strmap_grow(struct strmap *m)
{
	struct strmap g = { .cap = m->cap ? m->cap * 2 : 64 };

	g.keys = calloc(g.cap, sizeof(*g.keys));
	g.vals = calloc(g.cap, sizeof(*g.vals));
	if (!g.keys || !g.vals) {
		free(g.keys);
		free(g.vals);
		return -ENOMEM;
	}
	for (size_t k = 0; k < m->cap; k++) {
		size_t i;

		if (!m->keys[k])
			continue;
		*strmap_slot(&g, m->keys[k], &i) = m->vals[k];
		g.keys[i] = m->keys[k];
	}
	g.n = m->n;
	free(m->keys);
	free(m->vals);
	*m = g;
	return 0;
}

/* Insert key (absent) with val. 0 or -ENOMEM. */
static int strmap_put(struct strmap *m, const char *key, void *val)
{
	size_t i;
	char *k;

	if ((m->n + 1) * 2 > m->cap && strmap_grow(m))
		return -ENOMEM;
	k = strdup(key);
	if (!k)
		return -ENOMEM;
	*strmap_slot(m, key, &i) = val;
	m->keys[i] = k;
	m->n++;
	return 0;
}

static void strmap_free(struct strmap *m, int free_vals)
{
	for (size_t i = 0; i < m->cap; i++) {
		free(m->keys[i]);
		if (free_vals)
			free(m->vals[i]);
	}
	free(m->keys);
	free(m->vals);
}

uint64_t ls_prom_bound_ns(unsigned int i)
{
	return i < LS_PROM_BUCKETS ? bounds[i].ns : UINT64_MAX;
}

const char *ls_prom_bound_str(unsigned int i)
{
	return i < LS_PROM_BUCKETS ? bounds[i].le : "+Inf";
}

const char *ls_grpc_code_name(int code)
{
	if (code < 0 || (size_t)code >= sizeof(grpc_codes) / sizeof(grpc_codes[0]))
		return "UNKNOWN";
	return grpc_codes[code];
}

void ls_prom_label(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p) {
		int n = jw_utf8_len(p);

		if (*p == '\\' || *p == '"') {
			fputc('\\', f);
			fputc(*p++, f);
		} else if (*p == '\n') {
			fputs("\\n", f);
			p++;
		} else if (*p < 0x20 || *p == 0x7f || n == 0) {
			fprintf(f, "%%%02X", *p++);
		} else {
			fwrite(p, 1, (size_t)n, f);
			p += n;
		}
	}
}

int ls_prom_new(const struct ls_prom_opts *opts, struct ls_prom **out)
{
	struct ls_prom *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (!p)
		return -ENOMEM;
	if (opts)
		memcpy(&p->o, opts, opts->sz < sizeof(p->o) ? opts->sz : sizeof(p->o));
	p->o.sz = sizeof(p->o);
	if (!p->o.max_methods)
		p->o.max_methods = 500;
	if (!p->o.max_series)
		p->o.max_series = 1000;
	if (strmap_grow(&p->series_by_labels) || strmap_grow(&p->methods) || strmap_grow(&p->services)) {
		ls_prom_free(p);
		return -ENOMEM;
	}
	*out = p;
	return 0;
}

void ls_prom_free(struct ls_prom *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nseries; i++) {
		free(p->order[i]->labels);
		free(p->order[i]);
	}
	free(p->order);
	strmap_free(&p->series_by_labels, 0);
	strmap_free(&p->methods, 0);
	strmap_free(&p->services, 1);
	free(p);
}

static void hist_add(struct hist *h, uint64_t ns)
{
	unsigned int lo = 0, hi = LS_PROM_BUCKETS;

	/* The first bucket whose bound is >= ns (le is inclusive). */
	while (lo < hi) {
		unsigned int mid = (lo + hi) / 2;

		if (bounds[mid].ns >= ns)
			hi = mid;
		else
			lo = mid + 1;
	}
	h->n[lo]++;
	h->count++;
	h->sum_ns += ns;
}

static int is_grpc(const struct ls_req_view *v)
{
	return v->grpc_status >= 0 || (v->method_from && !strcmp(v->method_from, "operateHeaders"));
}

static const char *http_method_label(const char *m)
{
	for (size_t i = 0; i < sizeof(http_methods) / sizeof(http_methods[0]); i++)
		if (!strcmp(m, http_methods[i]))
			return m;
	return "_OTHER";
}

/*
 * The method as a label: gRPC's without the leading '/', a route without its
 * query; LS_PROM_OTHER when unknown or when the service has max_methods others.
 */
static int method_label(struct ls_prom *p, const char *service, const struct ls_req_view *v, int grpc, char *out,
			size_t len)
{
	char key[LS_METHOD_LEN + 512];
	struct svc *s;
	const char *m = v->method;
	size_t n;

	if (v->method_reason || !m[0]) {
		p->st.unnamed++;
		snprintf(out, len, "%s", LS_PROM_OTHER);
		return 0;
	}
	if (grpc && m[0] == '/')
		m++;
	n = grpc ? strlen(m) : strcspn(m, "?");
	snprintf(out, len, "%.*s", (int)n, m);
	snprintf(key, sizeof(key), "%s\n%s", service, out);
	if (strmap_get(&p->methods, key))
		return 0;
	s = strmap_get(&p->services, service);
	if (!s && p->services.n >= SERVICES_MAX) {
		p->st.folded++;
		snprintf(out, len, "%s", LS_PROM_OTHER);
		return 0;
	}
	if (!s) {
		if (!(s = calloc(1, sizeof(*s))))
			return -ENOMEM;
		if (strmap_put(&p->services, service, s)) {
			free(s);
			return -ENOMEM;
		}
	}
	if (s->methods >= p->o.max_methods) {
		p->st.folded++;
		snprintf(out, len, "%s", LS_PROM_OTHER);
		return 0;
	}
	/* The marker is any non-NULL pointer: the set only answers "seen". */
	if (strmap_put(&p->methods, key, s))
		return -ENOMEM;
	s->methods++;
	return 0;
}

/* The series' labels, escaped, in the order the conventions list them. */
static void write_labels(FILE *f, const char *service, const struct ls_req_view *v, int grpc, const char *method)
{
	fputs("service_name=\"", f);
	ls_prom_label(f, service);
	if (grpc) {
		fputs("\",rpc_system_name=\"grpc\",rpc_method=\"", f);
		ls_prom_label(f, method);
		fprintf(f, "\",rpc_status_code=\"%s\"", ls_grpc_code_name(v->grpc_status < 0 ? 2 : v->grpc_status));
		return;
	}
	fprintf(f, "\",http_request_method=\"%s\"", http_method_label(v->http_method));
	if (v->status >= 100 && v->status <= 599)
		fprintf(f, ",http_response_status_code=\"%d\"", v->status);
	fputs(",http_route=\"", f);
	ls_prom_label(f, method);
	fprintf(f, "\",network_protocol_version=\"%s\"", v->protocol && !strcmp(v->protocol, "http/1.1") ? "1.1" : "2");
}

static struct series *series_new(struct ls_prom *p, const char *labels, int grpc)
{
	struct series *s;

	if (p->nseries >= p->o.max_series)
		return NULL;
	if (p->nseries == p->capseries) {
		size_t cap = p->capseries ? p->capseries * 2 : 64;
		struct series **o = realloc(p->order, cap * sizeof(*o));

		if (!o)
			return NULL;
		p->order = o;
		p->capseries = cap;
	}
	s = calloc(1, sizeof(*s));
	if (!s || !(s->labels = strdup(labels)) || strmap_put(&p->series_by_labels, labels, s)) {
		if (s)
			free(s->labels);
		free(s);
		return NULL;
	}
	s->grpc = grpc;
	p->order[p->nseries++] = s;
	p->st.series = p->nseries;
	return s;
}

int ls_prom_add(struct ls_prom *p, const char *service, const struct ls_req_view *v)
{
	char method[LS_METHOD_LEN], labels[LABELS_MAX];
	int grpc = is_grpc(v);
	struct series *s;
	FILE *f;

	/* Out of memory: the request is counted as lost, the rest goes on. */
	if (method_label(p, service, v, grpc, method, sizeof(method)) || !(f = fmemopen(labels, sizeof(labels), "w"))) {
		p->st.lost++;
		return 0;
	}
	write_labels(f, service, v, grpc, method);
	if (ferror(f) || ftell(f) >= (long)sizeof(labels)) {
		/* Cannot happen with LS_METHOD_LEN-bounded names; counted rather than cut. */
		fclose(f);
		p->st.lost++;
		return 0;
	}
	fclose(f);
	s = strmap_get(&p->series_by_labels, labels);
	if (!s && !(s = series_new(p, labels, grpc))) {
		p->st.lost++;
		return 0;
	}
	p->st.requests++;
	hist_add(&s->total, v->rec->total_ns);
	for (int i = 0; i < LS_PHASE_COUNT; i++)
		hist_add(&s->phase[i], v->rec->phase_ns[i]);
	return 0;
}

/* One histogram's lines: cumulative buckets, +Inf, _sum (seconds), _count. */
static void write_hist(FILE *f, const char *name, const char *labels, const char *extra, const struct hist *h)
{
	uint64_t cum = 0;

	for (unsigned int i = 0; i <= LS_PROM_BUCKETS; i++) {
		cum += h->n[i];
		fprintf(f, "%s_bucket{%s%s,le=\"%s\"} %llu\n", name, labels, extra, ls_prom_bound_str(i),
			(unsigned long long)cum);
	}
	fprintf(f, "%s_sum{%s%s} %llu.%09llu\n", name, labels, extra, (unsigned long long)(h->sum_ns / 1000000000ull),
		(unsigned long long)(h->sum_ns % 1000000000ull));
	fprintf(f, "%s_count{%s%s} %llu\n", name, labels, extra, (unsigned long long)h->count);
}

void ls_prom_write(const struct ls_prom *p, FILE *f)
{
	static const char rpc[] = "rpc_server_call_duration_seconds", http[] = "http_server_request_duration_seconds",
			  ph[] = "latscope_request_phase_duration_seconds";
	char extra[64];

	fprintf(f, "# HELP %s Duration of gRPC calls served, from the request's first byte to its last.\n", rpc);
	fprintf(f, "# TYPE %s histogram\n", rpc);
	for (size_t i = 0; i < p->nseries; i++)
		if (p->order[i]->grpc)
			write_hist(f, rpc, p->order[i]->labels, "", &p->order[i]->total);
	fprintf(f, "# HELP %s Duration of HTTP/2 requests served (not gRPC).\n", http);
	fprintf(f, "# TYPE %s histogram\n", http);
	for (size_t i = 0; i < p->nseries; i++)
		if (!p->order[i]->grpc)
			write_hist(f, http, p->order[i]->labels, "", &p->order[i]->total);
	fprintf(f, "# HELP %s Time each request spent in each phase; the phases of a request add up to its duration.\n",
		ph);
	fprintf(f, "# TYPE %s histogram\n", ph);
	for (size_t i = 0; i < p->nseries; i++) {
		for (unsigned int k = 0; k < LS_PHASE_COUNT; k++) {
			/* A phase never measured for the series stays out: its histogram would be all zeros. */
			if (!p->order[i]->phase[k].sum_ns)
				continue;
			snprintf(extra, sizeof(extra), ",phase=\"%s\"", ls_phase_name(k));
			write_hist(f, ph, p->order[i]->labels, extra, &p->order[i]->phase[k]);
		}
	}
}

void ls_prom_stats(const struct ls_prom *p, struct ls_prom_stats *out)
{
	*out = p->st;
}
