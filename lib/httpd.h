/*
 * A small HTTP/1.1 responder for scrapes: single-threaded, polled from the
 * caller's loop, bounded. Each connection sends one request head (at most
 * LS_HTTP_HEAD_MAX bytes, within LS_HTTP_TIMEOUT_MS) and gets one response,
 * then is closed; at most max_conns are open, others are closed on accept
 * and counted. Only GET and HEAD are served; any body is not read.
 */
#ifndef LS_HTTPD_H
#define LS_HTTPD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define LS_HTTP_HEAD_MAX 8192
#define LS_HTTP_PATH_MAX 1024
#define LS_HTTP_TIMEOUT_MS 5000

struct ls_http_req {
	char method[8];               /* "GET" or "HEAD" */
	char path[LS_HTTP_PATH_MAX];  /* the request target's path, without its query */
	int minor;                    /* HTTP/1.minor */
	size_t head_len;              /* bytes up to and including the empty line */
};

/*
 * Parse a request head from buf[0..len). Returns 1 when it is complete and
 * servable (*req filled), 0 when more bytes are needed, or the status to
 * answer with, negated: -400 malformed, -405 not GET/HEAD, -414 target too
 * long, -431 head too long (len reached LS_HTTP_HEAD_MAX), -505 not HTTP/1.x.
 * Reads only buf[0..len).
 */
int ls_http_parse(const char *buf, size_t len, struct ls_http_req *req);

/* The reason phrase of a status this server sends ("Not Found"). */
const char *ls_http_reason(int status);

/*
 * Answer one request: write the body to body and return the status; set
 * *content_type (default "text/plain; charset=utf-8").
 */
typedef int (*ls_http_fn)(void *ctx, const struct ls_http_req *req, FILE *body, const char **content_type);

struct ls_httpd_opts {
	size_t sz;              /* sizeof(struct ls_httpd_opts) */
	const char *listen;     /* "HOST:PORT", "[V6]:PORT" or ":PORT" (every address); numeric; port 0 picks one */
	unsigned int max_conns; /* open at once (0: 16) */
	ls_http_fn handler;
	void *ctx;
};

struct ls_httpd_stats {
	uint64_t served;    /* responses sent in full, errors included */
	uint64_t errors;    /* of which 4xx/5xx for a bad request */
	uint64_t refused;   /* closed on accept: max_conns open */
	uint64_t timeouts;  /* closed: no full request or response within LS_HTTP_TIMEOUT_MS */
	uint64_t aborted;   /* closed by the peer or a send error */
};

struct ls_httpd;

/* Bind and listen. 0 or -errno; err says why. */
int ls_httpd_new(const struct ls_httpd_opts *opts, struct ls_httpd **out, char *err);

/* The address it listens on ("127.0.0.1:9464"), the port chosen when 0 was asked. */
const char *ls_httpd_addr(const struct ls_httpd *h);

/* Wait up to timeout_ms for the sockets, then accept, read, answer, close. 0 or -errno (poll failed). */
int ls_httpd_poll(struct ls_httpd *h, int timeout_ms);

void ls_httpd_stats(const struct ls_httpd *h, struct ls_httpd_stats *out);

/* Close every connection and the listening socket. NULL is a no-op. */
void ls_httpd_free(struct ls_httpd *h);

#endif
