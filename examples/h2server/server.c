#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>
#include <openssl/err.h>

#define READ_CHUNK    16384 /* the largest TLS record's plaintext */
#define WRITE_BATCH   16384 /* frames coalesced per SSL_write, about one TLS record */
#define READS_PER_RUN 16    /* SSL_reads per readable event, so one busy peer cannot starve others */
#define MAX_EVENTS    64
#define MAX_PATH      256
#define NOT_QUEUED    SIZE_MAX

/* epoll tags of the worker's own fds. Connections are tagged with their pointer, which is
 * never this small. */
enum { TAG_LISTEN = 1, TAG_TIMER, TAG_STOP, TAG_STATS };

/*
 * The delayed replies' account, over every worker: each one's delay as served, from the
 * handler's return to its reply (what a --method sleep= injects, late as the timer and the
 * event loop make it). The newest DELAYS_KEEP are kept; SIGUSR1 prints their median and
 * 99th percentile with the count of all (stats_print()).
 */
#define DELAYS_KEEP 65536
static pthread_mutex_t delays_mu = PTHREAD_MUTEX_INITIALIZER;
static uint64_t delays[DELAYS_KEEP], ndelays;

static void delay_note(uint64_t ns)
{
	pthread_mutex_lock(&delays_mu);
	delays[ndelays++ % DELAYS_KEEP] = ns;
	pthread_mutex_unlock(&delays_mu);
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* One JSON line on stdout: {"slow_delay_ns":{"count":N,"p50":NS,"p99":NS}} (nearest rank; 0 when none). */
static void stats_print(void)
{
	static uint64_t v[DELAYS_KEEP];
	uint64_t count, p50 = 0, p99 = 0;
	size_t n;

	/* Held throughout: two workers may each read a SIGUSR1, and v is shared. */
	pthread_mutex_lock(&delays_mu);
	count = ndelays;
	n = count < DELAYS_KEEP ? (size_t)count : DELAYS_KEEP;
	memcpy(v, delays, n * sizeof(*v));
	if (n) {
		qsort(v, n, sizeof(*v), u64_cmp);
		p50 = v[(n * 50 + 99) / 100 - 1];
		p99 = v[(n * 99 + 99) / 100 - 1];
	}
	pthread_mutex_unlock(&delays_mu);
	printf("{\"slow_delay_ns\":{\"count\":%llu,\"p50\":%llu,\"p99\":%llu}}\n", (unsigned long long)count,
	       (unsigned long long)p50, (unsigned long long)p99);
	fflush(stdout);
}

struct stream {
	struct conn *conn;
	struct stream *prev, *next; /* the connection's streams */
	int32_t id;
	bool is_get, is_post, is_grpc;
	bool path_too_long, body_too_big, dispatched;
	bool ready;    /* complete: dispatched once nghttp2 has consumed the input that finished it */
	char path[MAX_PATH];
	uint8_t *body; /* request DATA */
	size_t body_len, body_cap;
	struct echo_call call;  /* the decoded request, kept while its reply waits */
	uint64_t deadline_ns;   /* when a delayed reply is due */
	size_t heap_idx;        /* position in the worker's timer heap, or NOT_QUEUED */
	const uint8_t *out;     /* response body being sent */
	uint8_t *out_buf;       /* out, when it was allocated for this stream */
	size_t out_len, out_off;
	bool grpc_trailers;     /* end with trailers carrying grpc-status 0 */
};

struct conn {
	struct worker *w;
	struct conn *prev, *next; /* the worker's live connections; next links the dead list too */
	struct conn *dirty_next;  /* the worker's connections with output to flush */
	bool dirty, dead;
	bool write_blocked;       /* SSL_write hit a full socket */
	bool read_wants_write;    /* SSL_read must write before it can read again */
	int fd;
	uint32_t events;          /* epoll interest currently registered */
	SSL *ssl;
	nghttp2_session *session; /* NULL until the TLS handshake is done */
	struct stream *streams;
	uint8_t *wbuf;            /* serialized frames not yet taken by SSL_write */
	size_t wlen, woff, wcap;
	char peer[64];
};

struct worker {
	const struct server_config *cfg;
	int listen_fd, stop_fd, epfd, timer_fd;
	uint64_t timer_armed_ns; /* deadline the timerfd is set to, 0 when disarmed */
	nghttp2_session_callbacks *callbacks;
	struct stream **heap;    /* streams with a delayed reply, a min-heap on deadline_ns */
	size_t heap_len, heap_cap;
	struct conn *conns, *dirty, *dead;
	struct conn **dirty_tail; /* where the next dirty connection is linked: flushed in the order marked */
	uint8_t rbuf[READ_CHUNK];
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- timer heap ---- */

static void heap_set(struct worker *w, size_t i, struct stream *st)
{
	w->heap[i] = st;
	st->heap_idx = i;
}

static void heap_sift_up(struct worker *w, size_t i)
{
	struct stream *st = w->heap[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (w->heap[parent]->deadline_ns <= st->deadline_ns)
			break;
		heap_set(w, i, w->heap[parent]);
		i = parent;
	}
	heap_set(w, i, st);
}

static void heap_sift_down(struct worker *w, size_t i)
{
	struct stream *st = w->heap[i];

	for (;;) {
		size_t child = 2 * i + 1;

		if (child >= w->heap_len)
			break;
		if (child + 1 < w->heap_len &&
		    w->heap[child + 1]->deadline_ns < w->heap[child]->deadline_ns)
			child++;
		if (st->deadline_ns <= w->heap[child]->deadline_ns)
			break;
		heap_set(w, i, w->heap[child]);
		i = child;
	}
	heap_set(w, i, st);
}

static int heap_push(struct worker *w, struct stream *st)
{
	if (w->heap_len == w->heap_cap) {
		size_t cap = w->heap_cap ? 2 * w->heap_cap : 64;
		struct stream **heap = realloc(w->heap, cap * sizeof(*heap));

		if (!heap)
			return -1;
		w->heap = heap;
		w->heap_cap = cap;
	}
	heap_set(w, w->heap_len++, st);
	heap_sift_up(w, st->heap_idx);
	return 0;
}

static void heap_remove(struct worker *w, struct stream *st)
{
	struct stream *last = w->heap[--w->heap_len];
	size_t i = st->heap_idx;

	st->heap_idx = NOT_QUEUED;
	if (last != st) {
		heap_set(w, i, last);
		heap_sift_down(w, i);
		heap_sift_up(w, last->heap_idx);
	}
}

/* Keep the timerfd on the earliest deadline, touching it only when that changes. */
static void timer_update(struct worker *w)
{
	uint64_t deadline = w->heap_len ? w->heap[0]->deadline_ns : 0;
	struct itimerspec its = { 0 };

	if (deadline == w->timer_armed_ns)
		return;
	its.it_value.tv_sec = (time_t)(deadline / 1000000000ull);
	its.it_value.tv_nsec = (long)(deadline % 1000000000ull);
	if (timerfd_settime(w->timer_fd, TFD_TIMER_ABSTIME, &its, NULL) == 0)
		w->timer_armed_ns = deadline;
}

/* ---- connections ---- */

static void conn_mark_dirty(struct conn *c)
{
	if (c->dirty || c->dead)
		return;
	c->dirty = true;
	c->dirty_next = NULL;
	if (!c->w->dirty)
		c->w->dirty_tail = &c->w->dirty;
	*c->w->dirty_tail = c;
	c->w->dirty_tail = &c->dirty_next;
}

static void conn_update_interest(struct conn *c)
{
	uint32_t events = EPOLLIN;
	struct epoll_event ev;

	if (c->write_blocked || c->read_wants_write)
		events |= EPOLLOUT;
	if (events == c->events)
		return;
	ev.events = events;
	ev.data.ptr = c;
	if (epoll_ctl(c->w->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0)
		c->events = events;
}

static void stream_free(struct stream *st)
{
	struct conn *c = st->conn;

	if (st->heap_idx != NOT_QUEUED) {
		heap_remove(c->w, st);
		timer_update(c->w);
	}
	if (st->prev)
		st->prev->next = st->next;
	else
		c->streams = st->next;
	if (st->next)
		st->next->prev = st->prev;
	free(st->body);
	free(st->out_buf);
	free(st);
}

/* Tear down everything but the struct itself, which stays on the dead list until the current
 * batch of epoll events, which may still name it, has been handled. */
__attribute__((format(printf, 2, 3))) static void conn_close(struct conn *c, const char *why, ...)
{
	struct worker *w = c->w;
	va_list ap;

	if (c->dead)
		return;
	if (why && w->cfg->verbose) {
		fprintf(stderr, "h2server: %s: ", c->peer);
		va_start(ap, why);
		vfprintf(stderr, why, ap);
		va_end(ap);
		fputc('\n', stderr);
	}
	c->dead = true;
	while (c->streams)
		stream_free(c->streams);
	nghttp2_session_del(c->session);
	c->session = NULL;
	SSL_free(c->ssl);
	c->ssl = NULL;
	epoll_ctl(w->epfd, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->wbuf);
	c->wbuf = NULL;

	if (c->prev)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = NULL;
	c->next = w->dead;
	w->dead = c;
}

static const char *tls_reason(int ssl_error)
{
	const char *reason;

	switch (ssl_error) {
	case SSL_ERROR_ZERO_RETURN:
		return "closed by peer";
	case SSL_ERROR_SYSCALL:
		return errno ? strerror(errno) : "closed by peer";
	default:
		reason = ERR_reason_error_string(ERR_peek_error());
		return reason ? reason : "tls error";
	}
}

/* ---- responses ---- */

static nghttp2_nv nv(const char *name, const char *value)
{
	return (nghttp2_nv){ (uint8_t *)name, (uint8_t *)value, strlen(name), strlen(value),
			     NGHTTP2_NV_FLAG_NONE };
}

static ssize_t body_read(nghttp2_session *session, int32_t id, uint8_t *buf, size_t len,
			 uint32_t *flags, nghttp2_data_source *source, void *user)
{
	struct stream *st = source->ptr;
	size_t n = st->out_len - st->out_off;
	nghttp2_nv trailers[1];

	(void)user;
	if (n > len)
		n = len;
	memcpy(buf, st->out + st->out_off, n);
	st->out_off += n;
	if (st->out_off < st->out_len)
		return (ssize_t)n;
	*flags |= NGHTTP2_DATA_FLAG_EOF;
	if (st->grpc_trailers) {
		/* The trailers carry END_STREAM, so the last DATA frame must not. */
		*flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
		trailers[0] = nv("grpc-status", "0");
		if (nghttp2_submit_trailer(session, id, trailers, 1) != 0)
			return NGHTTP2_ERR_TEMPORAL_CALLBACK_FAILURE;
	}
	return (ssize_t)n;
}

/* Submit headers and, unless body is NULL, a body that owned (if not NULL) backs. */
static int stream_respond(struct stream *st, const nghttp2_nv *nva, size_t nvlen,
			  const uint8_t *body, size_t len, uint8_t *owned, bool trailers)
{
	nghttp2_data_provider provider = { .source.ptr = st, .read_callback = body_read };

	st->out = body;
	st->out_buf = owned;
	st->out_len = len;
	st->out_off = 0;
	st->grpc_trailers = trailers;
	conn_mark_dirty(st->conn);
	return nghttp2_submit_response(st->conn->session, st->id, nva, nvlen, body ? &provider : NULL);
}

static int respond_text(struct stream *st, const char *status, const char *text)
{
	size_t len = strlen(text);
	char length[24];
	nghttp2_nv nva[3];

	snprintf(length, sizeof(length), "%zu", len);
	nva[0] = nv(":status", status);
	nva[1] = nv("content-type", "text/plain; charset=utf-8");
	nva[2] = nv("content-length", length);
	return stream_respond(st, nva, 3, (const uint8_t *)text, len, NULL, false);
}

/* gRPC's trailers-only form: one HEADERS frame with the status and END_STREAM. */
static int respond_grpc_error(struct stream *st, enum grpc_status status, const char *message)
{
	char code[12];
	nghttp2_nv nva[4];

	snprintf(code, sizeof(code), "%d", (int)status);
	nva[0] = nv(":status", "200");
	nva[1] = nv("content-type", "application/grpc");
	nva[2] = nv("grpc-status", code);
	nva[3] = nv("grpc-message", message);
	return stream_respond(st, nva, 4, NULL, 0, NULL, false);
}

static int respond_grpc_reply(struct stream *st)
{
	const struct echo_service *svc = st->conn->w->cfg->echo;
	nghttp2_nv nva[2];
	uint8_t *msg;
	size_t len;

	if (echo_reply_encode(svc, &st->call, &msg, &len) < 0)
		return respond_grpc_error(st, GRPC_RESOURCE_EXHAUSTED, "out of memory");
	nva[0] = nv(":status", "200");
	nva[1] = nv("content-type", "application/grpc");
	return stream_respond(st, nva, 2, msg, len, msg, true);
}

/* The request is complete: answer it now, or queue it on the timer when it asks to sleep. */
static int stream_dispatch(struct stream *st)
{
	struct worker *w = st->conn->w;
	int method;

	st->dispatched = true;
	if (st->is_get)
		return respond_text(st, "200", "latscope h2server\n");
	if (!st->is_post)
		return respond_text(st, "405", "method not allowed\n");
	method = st->path_too_long ? -1 : echo_method_by_path(st->path);
	if (!st->is_grpc && method < 0)
		return respond_text(st, "404", "not found\n");
	if (!st->is_grpc)
		return respond_text(st, "415", "expected content-type application/grpc\n");
	if (method < 0)
		return respond_grpc_error(st, GRPC_UNIMPLEMENTED, "unknown method");
	if (st->body_too_big)
		return respond_grpc_error(st, GRPC_RESOURCE_EXHAUSTED, "request too large");

	echo_call_run(w->cfg->echo, method, st->body, st->body_len, &st->call);
	free(st->body);
	st->body = NULL;
	st->body_len = st->body_cap = 0;
	if (st->call.status != GRPC_OK)
		return respond_grpc_error(st, st->call.status, st->call.message);
	if (st->call.sleep_ms == 0)
		return respond_grpc_reply(st);
	st->deadline_ns = now_ns() + st->call.sleep_ms * 1000000ull;
	if (heap_push(w, st) < 0)
		return respond_grpc_error(st, GRPC_RESOURCE_EXHAUSTED, "out of memory");
	timer_update(w);
	return 0;
}

static void timer_expire(struct worker *w)
{
	uint64_t ticks, now = now_ns();
	ssize_t n;

	/* Only clears readiness: a re-arm since the expiry makes this EAGAIN, which is fine. */
	n = read(w->timer_fd, &ticks, sizeof(ticks));
	(void)n;
	w->timer_armed_ns = 0;
	while (w->heap_len && w->heap[0]->deadline_ns <= now) {
		struct stream *st = w->heap[0];

		heap_remove(w, st);
		delay_note(now - (st->deadline_ns - st->call.sleep_ms * 1000000ull));
		if (respond_grpc_reply(st) != 0)
			nghttp2_submit_rst_stream(st->conn->session, NGHTTP2_FLAG_NONE, st->id,
						  NGHTTP2_INTERNAL_ERROR);
		conn_mark_dirty(st->conn);
	}
	timer_update(w);
}

/* ---- nghttp2 callbacks ---- */

static bool is_request_headers(const nghttp2_frame *frame)
{
	return frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST;
}

static bool bytes_are(const uint8_t *bytes, size_t len, const char *want)
{
	return len == strlen(want) && memcmp(bytes, want, len) == 0;
}

static int on_begin_headers(nghttp2_session *session, const nghttp2_frame *frame, void *user)
{
	struct conn *c = user;
	struct stream *st;

	if (!is_request_headers(frame))
		return 0;
	st = calloc(1, sizeof(*st));
	if (!st)
		return NGHTTP2_ERR_CALLBACK_FAILURE;
	st->conn = c;
	st->id = frame->hd.stream_id;
	st->heap_idx = NOT_QUEUED;
	st->next = c->streams;
	if (c->streams)
		c->streams->prev = st;
	c->streams = st;
	nghttp2_session_set_stream_user_data(session, st->id, st);
	return 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name,
		     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags, void *user)
{
	struct stream *st;

	(void)flags;
	(void)user;
	if (!is_request_headers(frame))
		return 0;
	st = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
	if (!st)
		return 0;
	if (bytes_are(name, namelen, ":method")) {
		st->is_get = bytes_are(value, valuelen, "GET");
		st->is_post = bytes_are(value, valuelen, "POST");
	} else if (bytes_are(name, namelen, ":path")) {
		st->path_too_long = valuelen >= sizeof(st->path);
		if (!st->path_too_long) {
			memcpy(st->path, value, valuelen);
			st->path[valuelen] = '\0';
		}
	} else if (bytes_are(name, namelen, "content-type")) {
		/* "application/grpc", optionally followed by "+proto" or ";params" */
		st->is_grpc = valuelen >= 16 && memcmp(value, "application/grpc", 16) == 0 &&
			      (valuelen == 16 || value[16] == '+' || value[16] == ';');
	}
	return 0;
}

static int on_data_chunk(nghttp2_session *session, uint8_t flags, int32_t id, const uint8_t *data,
			 size_t len, void *user)
{
	struct stream *st = nghttp2_session_get_stream_user_data(session, id);
	size_t need;

	(void)flags;
	(void)user;
	if (!st || st->body_too_big)
		return 0;
	need = st->body_len + len;
	if (need > st->body_cap) {
		size_t cap = st->body_cap ? st->body_cap : 1024;
		uint8_t *body = NULL;

		while (cap < need)
			cap *= 2;
		if (need <= ECHO_MAX_REQ_BYTES)
			body = realloc(st->body, cap);
		if (!body) {
			/* Keep the stream (and its flow control) going but drop the body; the
			 * reply says why. */
			st->body_too_big = true;
			free(st->body);
			st->body = NULL;
			st->body_len = st->body_cap = 0;
			return 0;
		}
		st->body = body;
		st->body_cap = cap;
	}
	memcpy(st->body + st->body_len, data, len);
	st->body_len = need;
	return 0;
}

static int on_frame_recv(nghttp2_session *session, const nghttp2_frame *frame, void *user)
{
	struct stream *st;

	(void)user;
	if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA)
		return 0;
	if (!(frame->hd.flags & NGHTTP2_FLAG_END_STREAM))
		return 0;
	st = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
	if (st)
		st->ready = true;
	return 0;
}

/*
 * Run the handlers of the streams the last input completed. This happens after
 * nghttp2_session_mem_recv returns, not inside its callback, so HTTP/2 input
 * processing and the application stay separate, as in most servers.
 */
static void conn_dispatch_ready(struct conn *c)
{
	for (struct stream *st = c->streams; st; st = st->next) {
		if (!st->ready || st->dispatched)
			continue;
		if (stream_dispatch(st) != 0)
			nghttp2_submit_rst_stream(c->session, NGHTTP2_FLAG_NONE, st->id, NGHTTP2_INTERNAL_ERROR);
	}
}

static int on_stream_close(nghttp2_session *session, int32_t id, uint32_t error_code, void *user)
{
	struct stream *st = nghttp2_session_get_stream_user_data(session, id);

	(void)error_code;
	(void)user;
	if (st)
		stream_free(st);
	return 0;
}

/* ---- connection I/O ---- */

static int conn_start_h2(struct conn *c)
{
	nghttp2_settings_entry settings[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 256 },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 20 },
	};

	if (c->w->cfg->lax_headers) {
		nghttp2_option *opt;
		int rc;

		if (nghttp2_option_new(&opt) != 0)
			return -1;
		nghttp2_option_set_no_http_messaging(opt, 1);
		rc = nghttp2_session_server_new2(&c->session, c->w->callbacks, c, opt);
		nghttp2_option_del(opt);
		if (rc != 0)
			return -1;
	} else if (nghttp2_session_server_new(&c->session, c->w->callbacks, c) != 0) {
		return -1;
	}
	if (nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, settings,
				    sizeof(settings) / sizeof(settings[0])) != 0)
		return -1;
	/* Large request bodies should not stall on the default 64 KiB connection window. */
	if (nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0, 1 << 24) != 0)
		return -1;
	conn_mark_dirty(c);
	return 0;
}

/* Bytes from the peer: through TLS, or (--plain) from the socket itself. >0 read, 0 nothing
 * more for now, -1 the connection was closed. */
static int conn_recv(struct conn *c, uint8_t *buf, size_t len)
{
	ssize_t r;
	int n, err;

	if (!c->ssl) {
		do
			r = read(c->fd, buf, len);
		while (r < 0 && errno == EINTR);
		if (r > 0)
			return (int)r;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (r == 0)
			conn_close(c, NULL);
		else
			conn_close(c, "read: %s", strerror(errno));
		return -1;
	}
	ERR_clear_error();
	n = SSL_read(c->ssl, buf, (int)len);
	if (n > 0)
		return n;
	err = SSL_get_error(c->ssl, n);
	if (err == SSL_ERROR_WANT_READ)
		return 0;
	if (err == SSL_ERROR_WANT_WRITE) {
		c->read_wants_write = true;
		return 0;
	}
	if (err == SSL_ERROR_ZERO_RETURN)
		conn_close(c, NULL);
	else
		conn_close(c, "read: %s", tls_reason(err));
	return -1;
}

static void conn_read(struct conn *c)
{
	c->read_wants_write = false;
	/* OpenSSL reads no further ahead than the record it decrypts, so records left in the
	 * socket after READS_PER_RUN are reported again by level-triggered epoll. */
	for (int i = 0; i < READS_PER_RUN; i++) {
		ssize_t used;
		int n = conn_recv(c, c->w->rbuf, sizeof(c->w->rbuf));

		if (n < 0)
			return;
		if (n == 0)
			break;
		used = nghttp2_session_mem_recv(c->session, c->w->rbuf, (size_t)n);
		if (used < 0) {
			conn_close(c, "http/2: %s", nghttp2_strerror((int)used));
			return;
		}
		conn_dispatch_ready(c);
	}
	conn_mark_dirty(c);
}

/* Append nghttp2's pending frames to wbuf, up to about one TLS record. */
static int conn_fill(struct conn *c)
{
	while (c->wlen < WRITE_BATCH) {
		const uint8_t *data;
		ssize_t n = nghttp2_session_mem_send(c->session, &data);

		if (n < 0)
			return (int)n;
		if (n == 0)
			break;
		if (c->wlen + (size_t)n > c->wcap) {
			size_t cap = c->wcap ? c->wcap : 2 * WRITE_BATCH;
			uint8_t *buf;

			while (cap < c->wlen + (size_t)n)
				cap *= 2;
			buf = realloc(c->wbuf, cap);
			if (!buf)
				return NGHTTP2_ERR_NOMEM;
			c->wbuf = buf;
			c->wcap = cap;
		}
		memcpy(c->wbuf + c->wlen, data, (size_t)n);
		c->wlen += (size_t)n;
	}
	return 0;
}

/* Bytes to the peer: through TLS, or (--plain) to the socket itself. >0 written, 0 blocked
 * (retried when the socket or, for TLS, a read allows), -1 the connection was closed. */
static int conn_send(struct conn *c, const uint8_t *buf, size_t len)
{
	ssize_t r;
	int n, err;

	if (!c->ssl) {
		do
			r = write(c->fd, buf, len);
		while (r < 0 && errno == EINTR);
		if (r > 0)
			return (int)r;
		if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			c->write_blocked = true;
			return 0;
		}
		conn_close(c, "write: %s", strerror(errno));
		return -1;
	}
	ERR_clear_error();
	n = SSL_write(c->ssl, buf, (int)len);
	if (n > 0)
		return n;
	err = SSL_get_error(c->ssl, n);
	if (err == SSL_ERROR_WANT_WRITE) {
		c->write_blocked = true;
		return 0;
	}
	if (err == SSL_ERROR_WANT_READ)
		return 0; /* retried after the next read marks the connection dirty */
	conn_close(c, "write: %s", tls_reason(err));
	return -1;
}

/* Move frames from nghttp2 through TLS into the socket until it is full or nothing is left. */
static void conn_flush(struct conn *c)
{
	int rc;

	c->write_blocked = false;
	for (;;) {
		int n;

		if (c->woff == c->wlen) {
			c->woff = c->wlen = 0;
			rc = conn_fill(c);
			if (rc < 0) {
				conn_close(c, "http/2: %s", nghttp2_strerror(rc));
				return;
			}
			if (c->wlen == 0)
				break;
		}
		n = conn_send(c, c->wbuf + c->woff, c->wlen - c->woff);
		if (n < 0)
			return;
		if (n == 0)
			break;
		c->woff += (size_t)n;
	}
	if (!nghttp2_session_want_read(c->session) && !nghttp2_session_want_write(c->session) &&
	    c->woff == c->wlen) {
		conn_close(c, NULL); /* GOAWAY exchanged and everything sent */
		return;
	}
	conn_update_interest(c);
}

static void conn_handshake(struct conn *c)
{
	const unsigned char *alpn = NULL;
	unsigned int alpn_len = 0;
	int rc, err;

	ERR_clear_error();
	rc = SSL_do_handshake(c->ssl);
	if (rc != 1) {
		err = SSL_get_error(c->ssl, rc);
		if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) {
			c->write_blocked = err == SSL_ERROR_WANT_WRITE;
			conn_update_interest(c);
		} else {
			conn_close(c, "tls handshake: %s", tls_reason(err));
		}
		return;
	}
	c->write_blocked = false;
	SSL_get0_alpn_selected(c->ssl, &alpn, &alpn_len);
	if (alpn_len != 2 || memcmp(alpn, "h2", 2) != 0) {
		conn_close(c, "client did not negotiate h2");
		return;
	}
	if (conn_start_h2(c) < 0) {
		conn_close(c, "cannot start http/2 session");
		return;
	}
	conn_read(c);
}

static void conn_event(struct conn *c, uint32_t events)
{
	if (!c->session) {
		conn_handshake(c);
		return;
	}
	if ((events & (EPOLLIN | EPOLLHUP | EPOLLERR)) || (c->read_wants_write && (events & EPOLLOUT)))
		conn_read(c);
	if (events & EPOLLOUT)
		conn_mark_dirty(c);
}

static void format_peer(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	char host[INET6_ADDRSTRLEN] = "?";
	int port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *sin = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		port = ntohs(sin->sin_port);
		snprintf(buf, len, "%s:%d", host, port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		port = ntohs(sin6->sin6_port);
		snprintf(buf, len, "[%s]:%d", host, port);
	} else {
		snprintf(buf, len, "?");
	}
}

static void conn_open(struct worker *w, int fd, const struct sockaddr_storage *peer)
{
	struct conn *c = calloc(1, sizeof(*c));
	struct epoll_event ev;
	int one = 1;

	if (!c)
		goto fail;
	c->w = w;
	c->fd = fd;
	format_peer(peer, c->peer, sizeof(c->peer));
	/* Frames are written in whole batches; Nagle would only hold back the tail of a reply. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (w->cfg->ssl_ctx) {
		c->ssl = SSL_new(w->cfg->ssl_ctx);
		if (!c->ssl || SSL_set_fd(c->ssl, fd) != 1)
			goto fail;
		SSL_set_accept_state(c->ssl);
	}
	ev.events = c->events = EPOLLIN;
	ev.data.ptr = c;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0)
		goto fail;
	c->next = w->conns;
	if (w->conns)
		w->conns->prev = c;
	w->conns = c;
	/* Plaintext (--plain): HTTP/2 from the first byte, by prior knowledge (h2c). */
	if (!c->ssl && conn_start_h2(c) < 0)
		conn_close(c, "cannot start http/2 session");
	return;
fail:
	if (c)
		SSL_free(c->ssl);
	free(c);
	close(fd);
}

static void accept_conns(struct worker *w)
{
	for (int i = 0; i < MAX_EVENTS; i++) {
		struct sockaddr_storage peer;
		socklen_t len = sizeof(peer);
		int fd = accept4(w->listen_fd, (struct sockaddr *)&peer, &len,
				 SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno != EAGAIN && errno != EINTR && w->cfg->verbose)
				fprintf(stderr, "h2server: accept: %s\n", strerror(errno));
			return;
		}
		conn_open(w, fd, &peer);
	}
}

static void flush_dirty(struct worker *w)
{
	while (w->dirty) {
		struct conn *c = w->dirty;

		w->dirty = c->dirty_next;
		c->dirty = false;
		if (!c->dead && c->session)
			conn_flush(c);
	}
}

static void free_dead(struct worker *w)
{
	while (w->dead) {
		struct conn *c = w->dead;

		w->dead = c->next;
		free(c);
	}
}

/* ---- worker ---- */

struct worker *worker_new(const struct server_config *cfg, int listen_fd, int stop_fd,
			  char *err, size_t errlen)
{
	struct worker *w = calloc(1, sizeof(*w));
	struct epoll_event ev = { .events = EPOLLIN };
	nghttp2_session_callbacks *cb;

	if (!w) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	w->cfg = cfg;
	w->listen_fd = listen_fd;
	w->stop_fd = stop_fd;
	w->epfd = epoll_create1(EPOLL_CLOEXEC);
	w->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (w->epfd < 0 || w->timer_fd < 0) {
		snprintf(err, errlen, "cannot create event loop: %s", strerror(errno));
		goto fail;
	}
	ev.data.u64 = TAG_LISTEN;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, listen_fd, &ev) < 0)
		goto fail_errno;
	ev.data.u64 = TAG_TIMER;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, w->timer_fd, &ev) < 0)
		goto fail_errno;
	ev.data.u64 = TAG_STOP;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, stop_fd, &ev) < 0)
		goto fail_errno;
	ev.data.u64 = TAG_STATS;
	if (cfg->stats_fd >= 0 && epoll_ctl(w->epfd, EPOLL_CTL_ADD, cfg->stats_fd, &ev) < 0)
		goto fail_errno;

	if (nghttp2_session_callbacks_new(&w->callbacks) != 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	cb = w->callbacks;
	nghttp2_session_callbacks_set_on_begin_headers_callback(cb, on_begin_headers);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data_chunk);
	nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
	return w;

fail_errno:
	snprintf(err, errlen, "cannot set up epoll: %s", strerror(errno));
fail:
	worker_free(w);
	return NULL;
}

int worker_run(struct worker *w, char *err, size_t errlen)
{
	struct epoll_event events[MAX_EVENTS];

	for (;;) {
		int n = epoll_wait(w->epfd, events, MAX_EVENTS, -1);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "epoll_wait: %s", strerror(errno));
			return -1;
		}
		for (int i = 0; i < n; i++) {
			switch (events[i].data.u64) {
			case TAG_STOP:
				return 0; /* the signal stays pending, so every worker sees it */
			case TAG_STATS: {
				struct signalfd_siginfo si;

				/* Another worker may have read it first. */
				if (read(w->cfg->stats_fd, &si, sizeof(si)) == (ssize_t)sizeof(si))
					stats_print();
				break;
			}
			case TAG_LISTEN:
				accept_conns(w);
				break;
			case TAG_TIMER:
				timer_expire(w);
				break;
			default: {
				struct conn *c = events[i].data.ptr;

				if (!c->dead)
					conn_event(c, events[i].events);
			}
			}
		}
		flush_dirty(w);
		free_dead(w);
	}
}

void worker_free(struct worker *w)
{
	if (!w)
		return;
	while (w->conns)
		conn_close(w->conns, NULL);
	w->dirty = NULL;
	free_dead(w);
	nghttp2_session_callbacks_del(w->callbacks);
	free(w->heap);
	if (w->timer_fd >= 0)
		close(w->timer_fd);
	if (w->epfd >= 0)
		close(w->epfd);
	free(w);
}
