#include "requests.h"
#include "h2table.h"
#include "hpack.h"
#include "http1.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BLOCK_MAX LS_REQS_BLOCK_MAX
#define STREAMS_MAX LS_REQS_STREAMS_MAX
#define STREAMS_MIN 16 /* a new connection's table */
#define METHODS_MAX LS_REQS_METHODS_MAX
#define PEND_MAX 64 /* request blocks of a joined connection waiting for its table */

/* What the headers told about one stream. */
struct stream_info {
	uint32_t stream;
	uint32_t used;
	char path[LS_METHOD_LEN];
	char server_path[LS_METHOD_REC_MAX]; /* as the server's own HTTP/2 code decoded it (grpc-go operateHeaders) */
	char http_method[16];
	char traceparent[LS_TRACEPARENT_LEN + 1];
	int status, grpc_status;
	const char *reason; /* why path is unknown */
};

/* A complete header block kept until the decoder's table is known. */
struct pend_block {
	uint32_t stream;
	int truncated;
	size_t len;
	uint8_t *data;
};

/* One direction of a connection: its HPACK context and the block being assembled. */
struct dir {
	struct ls_hpack *dec;
	const char *broken;   /* why this direction can no longer be decoded */
	uint8_t *block;
	size_t len;
	uint32_t stream;
	int truncated;
	/* Joined connections of targets whose table latscope reads (requests only): */
	uint32_t blocks;      /* blocks completed since the connection was (re)joined */
	int seeded;           /* its LS_REC_H2TABLE came */
	const char *why;      /* why the table did not help, for the streams it could not name */
	struct pend_block *pend;
	size_t npend;
};

struct conn {
	uint32_t pid;
	uint64_t conn;
	uint64_t round;      /* ls_reqs_expire()'s round when last used */
	int used;
	int joined;
	int gap;             /* joined again after the probes were off (LS_REC_GAP) */
	struct dir in, out;
	struct stream_info *streams; /* open addressing, cstreams slots (a power of 2, up to STREAMS_MAX) */
	size_t nstreams, cstreams;
};

struct ls_reqs {
	struct conn *conns;
	size_t nconns, capconns;
	struct ls_method_stats **methods; /* open addressing by pid x method */
	size_t nmethods, capmethods;
	struct ls_method_stats **sorted;
	int sorted_valid;
	uint64_t unnamed;
	uint64_t tables, tables_failed; /* joined connections' tables read from the target: used, not used */
	uint64_t round;
	struct stream_info scratch;
};

static uint64_t hash64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

static uint64_t hash_str(uint32_t pid, const char *s)
{
	uint64_t h = 1469598103934665603ULL ^ pid;

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ULL;
	return h;
}

int ls_reqs_new(struct ls_reqs **out)
{
	struct ls_reqs *r = calloc(1, sizeof(*r));

	*out = NULL;
	if (!r)
		return -ENOMEM;
	r->capconns = 1024;
	r->conns = calloc(r->capconns, sizeof(*r->conns));
	r->capmethods = 256;
	r->methods = calloc(r->capmethods, sizeof(*r->methods));
	if (!r->conns || !r->methods) {
		ls_reqs_free(r);
		return -ENOMEM;
	}
	*out = r;
	return 0;
}

static void pend_free(struct dir *d)
{
	for (size_t i = 0; i < d->npend; i++)
		free(d->pend[i].data);
	free(d->pend);
	d->pend = NULL;
	d->npend = 0;
}

static void conn_release(struct conn *c)
{
	pend_free(&c->in);
	ls_hpack_free(c->in.dec);
	ls_hpack_free(c->out.dec);
	free(c->in.block);
	free(c->out.block);
	free(c->streams);
	memset(c, 0, sizeof(*c));
}

/* A new connection at the address of one that ended: nothing of the old one applies. */
static void conn_restart(struct conn *c)
{
	uint32_t pid = c->pid;
	uint64_t id = c->conn;

	conn_release(c);
	c->used = 1; /* the slot stays taken: open addressing's chains run through it */
	c->pid = pid;
	c->conn = id;
}

void ls_reqs_free(struct ls_reqs *r)
{
	if (!r)
		return;
	for (size_t i = 0; r->conns && i < r->capconns; i++)
		if (r->conns[i].used)
			conn_release(&r->conns[i]);
	free(r->conns);
	for (size_t i = 0; r->methods && i < r->capmethods; i++)
		free(r->methods[i]);
	free(r->methods);
	free(r->sorted);
	free(r);
}

static struct conn *conn_find(struct ls_reqs *r, uint32_t pid, uint64_t id, int create);

static int conns_grow(struct ls_reqs *r)
{
	struct conn *old = r->conns;
	size_t oldcap = r->capconns;

	r->capconns *= 2;
	r->conns = calloc(r->capconns, sizeof(*r->conns));
	if (!r->conns) {
		r->conns = old;
		r->capconns = oldcap;
		return -ENOMEM;
	}
	r->nconns = 0;
	for (size_t i = 0; i < oldcap; i++) {
		if (!old[i].used)
			continue;
		struct conn *c = conn_find(r, old[i].pid, old[i].conn, 1);

		*c = old[i];
	}
	free(old);
	return 0;
}

static struct conn *conn_find(struct ls_reqs *r, uint32_t pid, uint64_t id, int create)
{
	size_t mask = r->capconns - 1, i = hash64(id ^ ((uint64_t)pid << 48)) & mask;

	for (;; i = (i + 1) & mask) {
		struct conn *c = &r->conns[i];

		if (c->used && c->conn == id && c->pid == pid) {
			c->round = r->round;
			return c;
		}
		if (!c->used) {
			if (!create)
				return NULL;
			if ((r->nconns + 1) * 2 > r->capconns) {
				if (conns_grow(r))
					return NULL;
				return conn_find(r, pid, id, 1);
			}
			memset(c, 0, sizeof(*c));
			c->used = 1;
			c->pid = pid;
			c->conn = id;
			c->round = r->round;
			r->nconns++;
			return c;
		}
	}
}

/* Remove a stream, keeping the probe chains of open addressing intact. */
static void stream_forget(struct conn *c, struct stream_info *s)
{
	size_t mask = c->cstreams - 1, i = (size_t)(s - c->streams), j = i;

	s->used = 0;
	c->nstreams--;
	for (;;) {
		j = (j + 1) & mask;
		if (!c->streams[j].used)
			return;
		size_t home = hash64(c->streams[j].stream) & mask;

		/* Move j back to i when its home slot does not lie cyclically in (i, j]. */
		if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
			c->streams[i] = c->streams[j];
			c->streams[j].used = 0;
			i = j;
		}
	}
}

/*
 * A full table forgets its oldest stream (HTTP/2 stream ids only grow): one whose
 * request was never reported, such as those that began while the overhead budget
 * kept the request programs off; its request, if it still comes, is unnamed.
 */
static void stream_evict_oldest(struct conn *c)
{
	struct stream_info *old = NULL;

	for (size_t i = 0; i < c->cstreams; i++)
		if (c->streams[i].used && (!old || c->streams[i].stream < old->stream))
			old = &c->streams[i];
	if (old)
		stream_forget(c, old);
}

/*
 * The table starts small and doubles up to STREAMS_MAX: a connection carries a few
 * streams at a time, and a table of STREAMS_MAX slots (megabytes), allocated anew after
 * every gap of the overhead budget, cost a page fault per stream it touched.
 */
static int streams_grow(struct conn *c)
{
	size_t ncap = c->cstreams ? c->cstreams * 2 : STREAMS_MIN, mask = ncap - 1;
	struct stream_info *nv = calloc(ncap, sizeof(*nv));

	if (!nv)
		return -1;
	for (size_t k = 0; k < c->cstreams; k++) {
		size_t i = hash64(c->streams[k].stream) & mask;

		if (!c->streams[k].used)
			continue;
		while (nv[i].used)
			i = (i + 1) & mask;
		nv[i] = c->streams[k];
	}
	free(c->streams);
	c->streams = nv;
	c->cstreams = ncap;
	return 0;
}

static struct stream_info *stream_find(struct conn *c, uint32_t stream, int create)
{
	size_t mask, i;

	if (!c->streams) {
		if (!create || streams_grow(c))
			return NULL;
	}
	mask = c->cstreams - 1;
	i = hash64(stream) & mask;
	for (size_t probes = 0; probes < c->cstreams; probes++, i = (i + 1) & mask) {
		struct stream_info *s = &c->streams[i];

		if (s->used && s->stream == stream)
			return s;
		if (!s->used) {
			if (!create)
				return NULL;
			if (c->nstreams * 4 >= c->cstreams * 3) {
				/* Growing or evicting moves entries: look again (the table is below 3/4 now). */
				if (c->cstreams >= STREAMS_MAX || streams_grow(c))
					stream_evict_oldest(c);
				return stream_find(c, stream, create);
			}
			memset(s, 0, sizeof(*s));
			s->used = 1;
			s->stream = stream;
			s->status = -1;
			s->grpc_status = -1;
			c->nstreams++;
			return s;
		}
	}
	return NULL;
}

static void decode(struct conn *c, struct dir *d, int out, uint32_t stream, const uint8_t *block, size_t len,
		   int truncated)
{
	struct ls_hpack_fields h;
	struct stream_info *s;
	int ret;

	s = stream_find(c, stream, 1);
	if (d->broken) {
		if (s && !out && !s->path[0])
			s->reason = d->broken;
		return;
	}
	if (!d->dec && !(d->dec = ls_hpack_new())) {
		d->broken = "out of memory";
		return;
	}
	if (truncated) {
		d->broken = "a header block was larger than latscope copies: HPACK context lost";
		if (s && !out)
			s->reason = d->broken;
		return;
	}
	ret = ls_hpack_block(d->dec, block, len, 1, &h);
	if (ret < 0) {
		/* The decoder's dynamic table is now out of step with the peer's: no more decoding here. */
		d->broken = d->why ? d->why : c->gap ? "unknown (joined mid-connection after a gap of the overhead budget: headers refer to "
				     "entries sent while the probes were off)"
			    : c->joined ? "unknown (joined mid-connection: headers refer to entries sent before latscope attached)"
					: "unknown (HPACK decoding failed)";
		if (s && !out)
			s->reason = d->broken;
		return;
	}
	if (!s)
		return;
	if (!out) {
		if (h.have & LS_HPACK_PATH)
			snprintf(s->path, sizeof(s->path), "%s", h.path);
		if (h.have & LS_HPACK_METHOD)
			snprintf(s->http_method, sizeof(s->http_method), "%s", h.method);
		if (h.have & LS_HPACK_TRACEPARENT)
			memcpy(s->traceparent, h.traceparent, sizeof(s->traceparent));
	} else {
		if (h.have & LS_HPACK_STATUS)
			s->status = h.status;
		if (h.have & LS_HPACK_GRPC_STATUS)
			s->grpc_status = h.grpc_status;
	}
}

/* An HTTP/1 request line, assembled like a header block: the request's method and target. */
static void name_h1(struct conn *c, struct dir *d)
{
	struct stream_info *s = stream_find(c, d->stream, 1);

	if (s && ls_h1_request_line(d->block, d->len, s->http_method, sizeof(s->http_method), s->path,
				    sizeof(s->path)))
		s->reason = "unknown (HTTP/1 request line not understood)";
}

/* Decode the blocks that waited for a table, with the decoder as it is. */
static void pend_flush(struct conn *c, struct dir *d)
{
	for (size_t i = 0; i < d->npend; i++)
		decode(c, d, 0, d->pend[i].stream, d->pend[i].data, d->pend[i].len, d->pend[i].truncated);
	pend_free(d);
}

/*
 * A complete request block. On a joined connection whose table latscope will read
 * (LS_HD_SEQWAIT), it waits for that table: decoded now with an empty one, a
 * reference to an entry inserted before the join would fail.
 */
static void request_block(struct conn *c, struct dir *d, unsigned int flags)
{
	struct stream_info *s;
	uint8_t *copy;

	d->blocks++;
	if (!(flags & LS_HD_SEQWAIT) || d->seeded) {
		pend_flush(c, d);
		decode(c, d, 0, d->stream, d->block, d->len, d->truncated);
		return;
	}
	if (!d->pend && !(d->pend = calloc(PEND_MAX, sizeof(*d->pend))))
		goto no_room;
	if (d->npend == PEND_MAX || !(copy = malloc(d->len ? d->len : 1)))
		goto no_room;
	memcpy(copy, d->block, d->len);
	d->pend[d->npend++] = (struct pend_block){ .stream = d->stream, .truncated = d->truncated, .len = d->len,
						    .data = copy };
	s = stream_find(c, d->stream, 1);
	if (s && !s->path[0])
		s->reason = "unknown (joined mid-connection: the target's HPACK table was not read yet)";
	return;
no_room:
	/* Too many waiting: go on without the table. */
	d->why = "unknown (joined mid-connection: the target's HPACK table did not come in time)";
	d->seeded = 1;
	pend_flush(c, d);
	decode(c, d, 0, d->stream, d->block, d->len, d->truncated);
}

/*
 * The table the target's decoder had when it began on the first input latscope
 * walked after the join: a fresh decoder starts from it, and the blocks that waited
 * are decoded in order. Entries evicted before the table was read are missing at
 * its old end: a block that refers to one fails to decode (unnamed, never misnamed).
 */
static int feed_table(struct ls_reqs *r, const struct ls_h2table_rec *t, size_t size)
{
	struct conn *c;
	struct dir *d;

	if (size < offsetof(struct ls_h2table_rec, data) || t->len > LS_H2TABLE_MAX ||
	    size < offsetof(struct ls_h2table_rec, data) + t->len)
		return 0;
	c = conn_find(r, t->pid, t->conn, 0);
	if (!c || c->in.seeded)
		return 0;
	d = &c->in;
	d->seeded = 1;
	if (t->status != LS_H2T_OK) {
		r->tables_failed++;
		d->why = t->status == LS_H2T_UNREADABLE ? "unknown (joined mid-connection: the target's HPACK table could not be read)"
			 : t->status == LS_H2T_CHANGING ? "unknown (joined mid-connection: the target's HPACK table changed under every read)"
							 : "unknown (joined mid-connection: what latscope read was no HPACK table)";
	} else if (t->blocks != d->blocks) {
		r->tables_failed++;
		d->why = "unknown (joined mid-connection: header records were lost, the table cannot be matched)";
	} else {
		struct ls_hpack *dec = ls_hpack_new();

		if (!dec || ls_hpack_seed(dec, t->table_max, t->data, t->len)) {
			ls_hpack_free(dec);
			r->tables_failed++;
			d->why = "unknown (joined mid-connection: the target's HPACK table did not decode)";
		} else {
			r->tables++;
			ls_hpack_free(d->dec);
			d->dec = dec;
			d->broken = NULL;
			d->why = "unknown (joined mid-connection: the header refers to a table entry evicted before latscope "
				 "read the table)";
		}
	}
	pend_flush(c, d);
	return 0;
}

static int feed_headers(struct ls_reqs *r, const struct ls_headers *h, size_t size)
{
	int out = (h->flags & LS_HD_OUT) != 0;
	struct conn *c;
	struct dir *d;

	if (size < offsetof(struct ls_headers, data) || h->len > LS_HD_MAX ||
	    size < offsetof(struct ls_headers, data) + h->len)
		return 0;
	if (h->flags & LS_HD_FRESH) {
		c = conn_find(r, h->pid, h->conn, 0);
		if (c)
			conn_restart(c);
		return 0;
	}
	c = conn_find(r, h->pid, h->conn, 1);
	if (!c)
		return -ENOMEM;
	if (h->flags & LS_HD_JOINED)
		c->joined = 1;
	d = out ? &c->out : &c->in;
	if (!(h->flags & LS_HD_CONT)) {
		d->len = 0;
		d->truncated = 0;
		d->stream = h->stream;
	}
	if (!d->block && !(d->block = malloc(BLOCK_MAX)))
		return -ENOMEM;
	/* A long request line keeps its start: the method and the target's beginning are there. */
	if (d->len + h->len > BLOCK_MAX || ((h->flags & LS_HD_TRUNC) && !(h->flags & LS_HD_HTTP1)))
		d->truncated = 1;
	else {
		memcpy(d->block + d->len, h->data, h->len);
		d->len += h->len;
	}
	if ((h->flags & LS_HD_END) || ((h->flags & LS_HD_HTTP1) && d->truncated)) {
		if (h->flags & LS_HD_HTTP1)
			name_h1(c, d);
		else if (!out)
			request_block(c, d, h->flags);
		else
			decode(c, d, out, d->stream, d->block, d->len, d->truncated);
		/* Decoded: the buffer holds nothing still needed (conn_trim() may free it). */
		d->len = 0;
	}
	return 0;
}

static struct ls_method_stats *method_stats(struct ls_reqs *r, uint32_t pid, const char *name)
{
	size_t mask, i;

	if (r->nmethods >= METHODS_MAX)
		name = "(other)";
	if ((r->nmethods + 1) * 2 > r->capmethods) {
		struct ls_method_stats **old = r->methods, **nv;
		size_t oldcap = r->capmethods;

		nv = calloc(oldcap * 2, sizeof(*nv));
		if (!nv)
			return NULL;
		r->methods = nv;
		r->capmethods = oldcap * 2;
		for (size_t k = 0; k < oldcap; k++) {
			if (!old[k])
				continue;
			mask = r->capmethods - 1;
			for (i = hash_str((uint32_t)old[k]->pid, old[k]->method) & mask; nv[i]; i = (i + 1) & mask)
				;
			nv[i] = old[k];
		}
		free(old);
	}
	mask = r->capmethods - 1;
	for (i = hash_str(pid, name) & mask; r->methods[i]; i = (i + 1) & mask)
		if (r->methods[i]->pid == (pid_t)pid && !strcmp(r->methods[i]->method, name))
			return r->methods[i];
	r->methods[i] = calloc(1, sizeof(**r->methods));
	if (!r->methods[i])
		return NULL;
	r->methods[i]->pid = (pid_t)pid;
	snprintf(r->methods[i]->method, sizeof(r->methods[i]->method), "%s", name);
	r->nmethods++;
	r->sorted_valid = 0;
	return r->methods[i];
}

static void add_hist(__u64 *hist, uint64_t v)
{
	unsigned int b = ls_hist_bucket(v);

	hist[b < LS_HIST_BUCKETS ? b : LS_HIST_BUCKETS - 1]++;
}

/* The server's HTTP/2 code named a stream: no HPACK state needed, so joined connections are named too. */
static int feed_method(struct ls_reqs *r, const struct ls_method_rec *m, size_t size)
{
	struct stream_info *s;
	struct conn *c;

	if (size < sizeof(*m) || m->len >= sizeof(m->name))
		return 0;
	c = conn_find(r, m->pid, m->conn, 1);
	if (!c)
		return -ENOMEM;
	s = stream_find(c, m->stream, 1);
	if (s)
		snprintf(s->server_path, sizeof(s->server_path), "%.*s", (int)m->len, m->name);
	return 0;
}

/*
 * The probes were off for a while: every connection's dynamic tables may have
 * changed unseen. Decoders start empty, as on a connection joined mid-flight:
 * entries the peer adds from now on take the same indexes in both tables; a
 * reference to one added before fails to decode, and that stream and the
 * connection's next ones until the next gap are unnamed, never misnamed.
 * Streams seen opening before the gap are gone too.
 */
static void gap(struct ls_reqs *r)
{
	for (size_t i = 0; i < r->capconns; i++) {
		struct conn *c = &r->conns[i];

		/* The syscall reader's connections are followed through gaps: their decoders hold. */
		if (!c->used || !c->pid || (c->conn & LS_SIO_CONN_BIT))
			continue;
		conn_restart(c);
		c->joined = 1;
		c->gap = 1;
	}
}

int ls_reqs_feed(struct ls_reqs *r, const void *rec, size_t size, struct ls_req_view *view)
{
	const struct ls_rec_hdr *hdr = rec;
	const struct ls_request *q = rec;
	struct stream_info *s = NULL;
	struct ls_method_stats *m;
	struct conn *c;

	if (size < sizeof(*hdr))
		return 0;
	if (hdr->type == LS_REC_HEADERS)
		return feed_headers(r, rec, size);
	if (hdr->type == LS_REC_METHOD)
		return feed_method(r, rec, size);
	if (hdr->type == LS_REC_GAP) {
		gap(r);
		return 0;
	}
	if (hdr->type == LS_REC_H2TABLE)
		return feed_table(r, rec, size);
	if (hdr->type != LS_REC_REQUEST || size < sizeof(*q))
		return 0;

	memset(view, 0, sizeof(*view));
	view->rec = q;
	view->status = -1;
	view->grpc_status = -1;
	view->http_method = "";
	view->traceparent = "";
	view->protocol = (q->flags & LS_RQ_HTTP1) ? "http/1.1" : "h2";
	c = conn_find(r, q->pid, q->conn, 0);
	if (c)
		s = stream_find(c, q->stream, 0);
	if (s && s->server_path[0]) {
		r->scratch = *s;
		view->method = r->scratch.server_path;
		view->method_from = "operateHeaders";
		view->http_method = r->scratch.http_method;
	} else if (s && s->path[0]) {
		r->scratch = *s;
		view->method = r->scratch.path;
		view->method_from = "hpack";
		view->http_method = r->scratch.http_method;
	} else {
		view->method = "?";
		if (s && s->reason)
			view->method_reason = s->reason;
		else if ((q->flags & LS_RQ_JOINED) || (c && c->joined))
			view->method_reason = "unknown (joined mid-connection)";
		else
			view->method_reason = "unknown (request headers not seen: records dropped?)";
		r->unnamed++;
	}
	if (s) {
		view->status = s->status;
		view->grpc_status = s->grpc_status;
		if (s->traceparent[0]) {
			memcpy(r->scratch.traceparent, s->traceparent, sizeof(r->scratch.traceparent));
			view->traceparent = r->scratch.traceparent;
		}
		stream_forget(c, s);
	}
	if (q->flags & LS_RQ_HTTP1)
		view->status = q->status ? q->status : -1;
	view->error = view->status >= 500 || (view->grpc_status > 0);

	m = method_stats(r, q->pid, view->method);
	if (!m)
		return -ENOMEM;
	if (!m->count || q->start_ns < m->first_ns)
		m->first_ns = q->start_ns;
	if (q->start_ns + q->total_ns > m->last_ns)
		m->last_ns = q->start_ns + q->total_ns;
	m->count++;
	m->errors += view->error ? 1 : 0;
	m->slow += (q->flags & LS_RQ_SLOW) ? 1 : 0;
	m->total_sum += q->total_ns;
	if (q->total_ns > m->total_max)
		m->total_max = q->total_ns;
	add_hist(m->total_hist, q->total_ns);
	for (int p = 0; p < LS_PHASE_COUNT; p++) {
		m->phase_sum[p] += q->phase_ns[p];
		add_hist(m->phase_hist[p], q->phase_ns[p]);
	}
	return 1;
}

static int by_pid_method(const void *a, const void *b)
{
	const struct ls_method_stats *x = *(const struct ls_method_stats *const *)a;
	const struct ls_method_stats *y = *(const struct ls_method_stats *const *)b;

	if (x->pid != y->pid)
		return x->pid < y->pid ? -1 : 1;
	return strcmp(x->method, y->method);
}

const struct ls_method_stats *const *ls_reqs_methods(struct ls_reqs *r, size_t *n)
{
	size_t k = 0;

	if (!r->sorted_valid) {
		free(r->sorted);
		r->sorted = calloc(r->nmethods ? r->nmethods : 1, sizeof(*r->sorted));
		if (!r->sorted) {
			*n = 0;
			return NULL;
		}
		for (size_t i = 0; i < r->capmethods; i++)
			if (r->methods[i])
				r->sorted[k++] = r->methods[i];
		qsort(r->sorted, k, sizeof(*r->sorted), by_pid_method);
		r->sorted_valid = 1;
	}
	*n = r->nmethods;
	return (const struct ls_method_stats *const *)r->sorted;
}

void ls_reqs_reset(struct ls_reqs *r)
{
	for (size_t i = 0; i < r->capmethods; i++) {
		free(r->methods[i]);
		r->methods[i] = NULL;
	}
	r->nmethods = 0;
	r->sorted_valid = 0;
	r->unnamed = 0;
}

/*
 * The stream table (up to STREAMS_MAX slots, the bulk of a connection's memory)
 * goes when no stream is open, a direction's block buffer when no block is
 * being assembled; both come back when needed. The HPACK contexts stay.
 */
static void conn_trim(struct conn *c)
{
	if (!c->nstreams) {
		free(c->streams);
		c->streams = NULL;
		c->cstreams = 0;
	}
	for (int k = 0; k < 2; k++) {
		struct dir *d = k ? &c->out : &c->in;

		if (!d->len) {
			free(d->block);
			d->block = NULL;
		}
	}
}

size_t ls_reqs_expire(struct ls_reqs *r, unsigned int keep)
{
	struct conn *old = r->conns, *nv = calloc(r->capconns, sizeof(*nv));
	size_t gone = 0;

	if (!nv)
		return 0;
	/* Rebuilt rather than deleted in place: open addressing's chains stay whole. */
	r->conns = nv;
	r->nconns = 0;
	for (size_t i = 0; i < r->capconns; i++) {
		if (!old[i].used)
			continue;
		if (r->round - old[i].round >= keep) {
			conn_release(&old[i]);
			gone++;
			continue;
		}
		conn_trim(&old[i]);
		/* Never grows (as many or fewer than before), so never fails; its round comes along. */
		*conn_find(r, old[i].pid, old[i].conn, 1) = old[i];
	}
	free(old);
	r->round++;
	return gone;
}

uint64_t ls_reqs_unnamed(const struct ls_reqs *r)
{
	return r->unnamed;
}

void ls_reqs_tables(const struct ls_reqs *r, uint64_t *used, uint64_t *failed)
{
	*used = r->tables;
	*failed = r->tables_failed;
}

size_t ls_reqs_live_conns(const struct ls_reqs *r)
{
	size_t n = 0;

	for (size_t i = 0; i < r->capconns; i++) {
		const struct conn *c = &r->conns[i];

		n += c->used && (c->in.dec || c->out.dec || c->in.block || c->out.block || c->streams);
	}
	return n;
}
