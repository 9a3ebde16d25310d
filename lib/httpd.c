#include "httpd.h"
#include "util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

/* ---- The request parser: strangers' bytes, read within bounds only ---------------- */

/* RFC 9110 tchar. */
static int is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

/* The end of the head: the offset just past its empty line, or 0 when it has not come yet. */
static size_t head_end(const char *buf, size_t len)
{
	for (size_t i = 3; i < len; i++)
		if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r')
			return i + 1;
	return 0;
}

/* "METHOD SP TARGET SP HTTP/1.x" in line[0..n). 1 or a negated status. */
static int parse_request_line(const char *line, size_t n, struct ls_http_req *req)
{
	size_t i = 0, m, t0, tn, q;

	while (i < n && is_tchar((unsigned char)line[i]))
		i++;
	m = i;
	if (m == 0 || i >= n || line[i] != ' ')
		return -400;
	if (!((m == 3 && !memcmp(line, "GET", 3)) || (m == 4 && !memcmp(line, "HEAD", 4))))
		return -405;
	memcpy(req->method, line, m);
	req->method[m] = 0;
	t0 = ++i;
	while (i < n && (unsigned char)line[i] > 0x20 && (unsigned char)line[i] < 0x7f)
		i++;
	tn = i - t0;
	if (tn == 0 || i >= n || line[i] != ' ' || line[t0] != '/')
		return -400;
	if (tn >= LS_HTTP_PATH_MAX)
		return -414;
	i++;
	if (n - i != 8 || memcmp(line + i, "HTTP/", 5) || line[i + 6] != '.' || line[i + 5] < '0' ||
	    line[i + 5] > '9' || line[i + 7] < '0' || line[i + 7] > '9')
		return -400;
	if (line[i + 5] != '1')
		return -505;
	req->minor = line[i + 7] - '0';
	for (q = 0; q < tn && line[t0 + q] != '?' && line[t0 + q] != '#'; q++)
		;
	memcpy(req->path, line + t0, q);
	req->path[q] = 0;
	return 1;
}

/* "NAME: VALUE" in line[0..n); *host counts Host fields. 1 or -400. */
static int parse_field(const char *line, size_t n, int *host)
{
	size_t i = 0;

	while (i < n && is_tchar((unsigned char)line[i]))
		i++;
	/* No name, or whitespace before the colon (RFC 9112 5.1), or an obsolete folded line. */
	if (i == 0 || i >= n || line[i] != ':')
		return -400;
	if (i == 4 && !strncasecmp(line, "host", 4))
		(*host)++;
	for (i++; i < n; i++) {
		unsigned char c = (unsigned char)line[i];

		if ((c < 0x20 && c != '\t') || c == 0x7f)
			return -400;
	}
	return 1;
}

int ls_http_parse(const char *buf, size_t len, struct ls_http_req *req)
{
	size_t end = head_end(buf, len), pos, eol;
	int r, host = 0, first = 1;

	if (!end)
		return len >= LS_HTTP_HEAD_MAX ? -431 : 0;
	if (end > LS_HTTP_HEAD_MAX)
		return -431;
	memset(req, 0, sizeof(*req));
	for (pos = 0; pos + 2 < end; pos = eol + 2) {
		const char *nl = memchr(buf + pos, '\n', end - pos);

		/* Every line ends in CRLF (the head's end was found by it): a bare LF is malformed. */
		if (!nl || nl == buf + pos || nl[-1] != '\r')
			return -400;
		eol = (size_t)(nl - buf) - 1;
		if (memchr(buf + pos, '\r', eol - pos))
			return -400;
		r = first ? parse_request_line(buf + pos, eol - pos, req) : parse_field(buf + pos, eol - pos, &host);
		if (r < 0)
			return r;
		first = 0;
	}
	if (first)
		return -400;
	/* RFC 9112 3.2: an HTTP/1.1 request has exactly one Host. */
	if ((req->minor >= 1 && host != 1) || host > 1)
		return -400;
	req->head_len = end;
	return 1;
}

const char *ls_http_reason(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 414: return "URI Too Long";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	}
	return "Error";
}

/* ---- The server ------------------------------------------------------------------- */

struct conn {
	int fd;
	uint64_t deadline;
	size_t len;
	char in[LS_HTTP_HEAD_MAX];
	char *out;              /* the whole response once the request is answered */
	size_t outlen, outoff;
	int draining;           /* response sent: reading what the peer still sends until it closes */
};

struct ls_httpd {
	struct ls_httpd_opts o;
	int lfd;
	char addr[80];
	struct conn *conns;     /* max_conns slots; fd -1 when free */
	struct pollfd *pfds;
	struct ls_httpd_stats st;
};

/* Split "HOST:PORT", "[V6]:PORT", ":PORT" into host (NULL: any) and port. 0 or -EINVAL. */
static int split_addr(const char *s, char *host, size_t hlen, const char **port)
{
	const char *colon;
	size_t n;

	if (s[0] == '[') {
		const char *close = strchr(s, ']');

		if (!close || close[1] != ':')
			return -EINVAL;
		n = (size_t)(close - s - 1);
		s++;
		colon = close + 1;
	} else {
		colon = strrchr(s, ':');
		if (!colon || memchr(s, ':', (size_t)(colon - s)))
			return -EINVAL;
		n = (size_t)(colon - s);
	}
	if (n >= hlen || !colon[1] || strspn(colon + 1, "0123456789") != strlen(colon + 1) || strlen(colon + 1) > 5 ||
	    atoi(colon + 1) > 65535)
		return -EINVAL;
	memcpy(host, s, n);
	host[n] = 0;
	*port = colon + 1;
	return 0;
}

static int listen_on(struct ls_httpd *h, char *err)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE };
	struct addrinfo *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[64], ip[INET6_ADDRSTRLEN];
	const char *port;
	int one = 1, r, e;

	if (split_addr(h->o.listen, host, sizeof(host), &port))
		return ls_err(err, EINVAL, "invalid listen address '%s' (HOST:PORT, [IPV6]:PORT or :PORT, numeric)",
			      h->o.listen);
	r = getaddrinfo(host[0] ? host : NULL, port, &hints, &ai);
	if (r)
		return ls_err(err, EINVAL, "invalid listen address '%s': %s", h->o.listen, gai_strerror(r));
	h->lfd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (h->lfd < 0 || setsockopt(h->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(h->lfd, ai->ai_addr, ai->ai_addrlen) || listen(h->lfd, 64) ||
	    getsockname(h->lfd, (struct sockaddr *)&ss, &sl)) {
		e = errno;
		freeaddrinfo(ai);
		return ls_err(err, e, "cannot listen on %s: %s", h->o.listen, strerror(e));
	}
	freeaddrinfo(ai);
	if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof(ip));
		snprintf(h->addr, sizeof(h->addr), "[%s]:%u", ip, ntohs(a->sin6_port));
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &a->sin_addr, ip, sizeof(ip));
		snprintf(h->addr, sizeof(h->addr), "%s:%u", ip, ntohs(a->sin_port));
	}
	return 0;
}

int ls_httpd_new(const struct ls_httpd_opts *opts, struct ls_httpd **out, char *err)
{
	struct ls_httpd *h;
	int r;

	*out = NULL;
	if (!opts || opts->sz < sizeof(*opts) || !opts->listen || !opts->handler)
		return ls_err(err, EINVAL, "httpd: incomplete options");
	h = calloc(1, sizeof(*h));
	if (!h)
		return ls_err(err, ENOMEM, "out of memory");
	h->o = *opts;
	h->lfd = -1;
	if (!h->o.max_conns)
		h->o.max_conns = 16;
	h->conns = calloc(h->o.max_conns, sizeof(*h->conns));
	h->pfds = calloc(h->o.max_conns + 1, sizeof(*h->pfds));
	if (!h->conns || !h->pfds) {
		ls_httpd_free(h);
		return ls_err(err, ENOMEM, "out of memory");
	}
	for (unsigned int i = 0; i < h->o.max_conns; i++)
		h->conns[i].fd = -1;
	r = listen_on(h, err);
	if (r) {
		ls_httpd_free(h);
		return r;
	}
	*out = h;
	return 0;
}

const char *ls_httpd_addr(const struct ls_httpd *h)
{
	return h->addr;
}

static void conn_close(struct conn *c)
{
	close(c->fd);
	free(c->out);
	c->fd = -1;
	c->out = NULL;
	c->len = c->outlen = c->outoff = 0;
	c->draining = 0;
}

/*
 * After the response: closing with unread bytes (an over-long head, a body)
 * would reset the connection and could destroy the response before the peer
 * reads it, so the rest is read and dropped until the peer closes.
 */
static void conn_drain(struct conn *c)
{
	char buf[4096];
	ssize_t n = read(c->fd, buf, sizeof(buf));

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		conn_close(c);
}

/* Build the whole response in c->out: the handler's for a parsed request, else the error's. */
static void respond(struct ls_httpd *h, struct conn *c, const struct ls_http_req *req, int status)
{
	const char *ctype = "text/plain; charset=utf-8";
	char *body = NULL, *resp = NULL;
	size_t blen = 0, rlen = 0;
	FILE *bf = open_memstream(&body, &blen), *rf;

	if (!bf) {
		conn_close(c);
		return;
	}
	if (req)
		status = h->o.handler(h->o.ctx, req, bf, &ctype);
	else
		fprintf(bf, "%d %s\n", status, ls_http_reason(status));
	if (fclose(bf) || !(rf = open_memstream(&resp, &rlen))) {
		free(body);
		conn_close(c);
		return;
	}
	if (status >= 400)
		h->st.errors++;
	fprintf(rf, "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n", status,
		ls_http_reason(status), ctype, blen);
	if (!req || strcmp(req->method, "HEAD"))
		fwrite(body, 1, blen, rf);
	free(body);
	if (fclose(rf)) {
		free(resp);
		conn_close(c);
		return;
	}
	c->out = resp;
	c->outlen = rlen;
	c->outoff = 0;
}

/*
 * After a read or write that returned n: 1 when there is nothing more to do now,
 * either because it would block (try again at the next poll) or because the
 * peer is gone or the call failed (the connection is closed and counted).
 */
static int io_ended(struct ls_httpd *h, struct conn *c, ssize_t n)
{
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return 1;
	if (n <= 0) {
		h->st.aborted++;
		conn_close(c);
		return 1;
	}
	return 0;
}

static void conn_read(struct ls_httpd *h, struct conn *c)
{
	struct ls_http_req req;
	ssize_t n = read(c->fd, c->in + c->len, sizeof(c->in) - c->len);
	int r;

	if (io_ended(h, c, n))
		return;
	c->len += (size_t)n;
	r = ls_http_parse(c->in, c->len, &req);
	if (r == 1)
		respond(h, c, &req, 0);
	else if (r < 0)
		respond(h, c, NULL, -r);
}

static void conn_write(struct ls_httpd *h, struct conn *c)
{
	ssize_t n = send(c->fd, c->out + c->outoff, c->outlen - c->outoff, MSG_NOSIGNAL);

	if (io_ended(h, c, n))
		return;
	c->outoff += (size_t)n;
	if (c->outoff == c->outlen) {
		h->st.served++;
		free(c->out);
		c->out = NULL;
		c->draining = 1;
		shutdown(c->fd, SHUT_WR);
	}
}

static void accept_all(struct ls_httpd *h, uint64_t now)
{
	for (;;) {
		int fd = accept4(h->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		unsigned int i;

		if (fd < 0)
			return;
		for (i = 0; i < h->o.max_conns && h->conns[i].fd >= 0; i++)
			;
		if (i == h->o.max_conns) {
			h->st.refused++;
			close(fd);
			continue;
		}
		h->conns[i].fd = fd;
		h->conns[i].deadline = now + LS_HTTP_TIMEOUT_MS * 1000000ull;
	}
}

int ls_httpd_poll(struct ls_httpd *h, int timeout_ms)
{
	nfds_t n = 0;
	uint64_t now;
	int r;

	h->pfds[n++] = (struct pollfd){ .fd = h->lfd, .events = POLLIN };
	for (unsigned int i = 0; i < h->o.max_conns; i++) {
		struct conn *c = &h->conns[i];

		/* Unused slots stay in the array with fd -1, which poll() ignores. */
		h->pfds[n++] = (struct pollfd){ .fd = c->fd, .events = c->out ? POLLOUT : POLLIN };
	}
	r = poll(h->pfds, n, timeout_ms);
	if (r < 0)
		return errno == EINTR ? 0 : -errno;
	now = ls_now_ns();
	for (unsigned int i = 0; i < h->o.max_conns; i++) {
		struct conn *c = &h->conns[i];
		short ev = h->pfds[i + 1].revents;

		if (c->fd < 0 || h->pfds[i + 1].fd != c->fd)
			continue;
		if (c->draining && ev)
			conn_drain(c);
		else if (ev & (POLLIN | POLLERR | POLLHUP) && !c->out)
			conn_read(h, c);
		else if (ev & (POLLOUT | POLLERR | POLLHUP) && c->out)
			conn_write(h, c);
		if (c->fd >= 0 && now >= c->deadline) {
			/* A peer that got its response and keeps the connection open is not a timeout. */
			h->st.timeouts += !c->draining;
			conn_close(c);
		}
	}
	if (h->pfds[0].revents & POLLIN)
		accept_all(h, now);
	return 0;
}

void ls_httpd_stats(const struct ls_httpd *h, struct ls_httpd_stats *out)
{
	*out = h->st;
}

void ls_httpd_free(struct ls_httpd *h)
{
	if (!h)
		return;
	for (unsigned int i = 0; h->conns && i < h->o.max_conns; i++)
		if (h->conns[i].fd >= 0)
			conn_close(&h->conns[i]);
	if (h->lfd >= 0)
		close(h->lfd);
	free(h->conns);
	free(h->pfds);
	free(h);
}
