/*
 * tests/progs/tlsconns: hold many idle HTTP/2 connections over TLS. Opens N
 * connections to 127.0.0.1:PORT (at most WINDOW handshakes at a time), sends
 * each the client preface and an empty SETTINGS frame, prints "open N failed F"
 * and leaves them idle until a line (or EOF) on stdin; then frees and closes
 * them all and prints "closed N". Exits 1 when the whole did not finish in 60 s.
 *
 * usage: tlsconns PORT N [WINDOW]
 */
#include <errno.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define DEADLINE_S 60

static const unsigned char hello[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
				     "\x00\x00\x00\x04\x00\x00\x00\x00\x00"; /* SETTINGS, empty */

struct conn {
	int fd;
	SSL *ssl;
	int state; /* 0 handshaking, 1 open, -1 failed */
};

static struct conn *conns;
static int nopen, nfailed, inflight;

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int start(SSL_CTX *ctx, int ep, int port, int i)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.u32 = (uint32_t)i };
	struct conn *c = &conns[i];

	c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (c->fd < 0) {
		fprintf(stderr, "tlsconns: socket: %s\n", strerror(errno));
		return -1;
	}
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS) {
		fprintf(stderr, "tlsconns: connect: %s\n", strerror(errno));
		return -1;
	}
	c->ssl = SSL_new(ctx);
	if (!c->ssl)
		return -1;
	SSL_set_fd(c->ssl, c->fd);
	SSL_set_connect_state(c->ssl);
	inflight++;
	return epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
}

/* One step of a handshake: 1 when this connection is done (open or failed). */
static int step(int ep, struct conn *c)
{
	int r = SSL_do_handshake(c->ssl), e;

	if (r == 1) {
		if (SSL_write(c->ssl, hello, sizeof(hello) - 1) != (int)sizeof(hello) - 1) {
			c->state = -1;
		} else {
			c->state = 1;
			nopen++;
		}
	} else {
		e = SSL_get_error(c->ssl, r);
		if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
			return 0;
		c->state = -1;
	}
	if (c->state < 0)
		nfailed++;
	inflight--;
	/* Idle from now on: what the server sends stays in the socket. */
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	return 1;
}

int main(int argc, char **argv)
{
	int port, n, window = 256, ep, next = 0;
	struct epoll_event evs[256];
	struct rlimit rl;
	SSL_CTX *ctx;
	double t0 = now_s();
	char line[64];

	if (argc < 3 || (port = atoi(argv[1])) <= 0 || (n = atoi(argv[2])) <= 0) {
		fprintf(stderr, "usage: tlsconns PORT N [WINDOW]\n");
		return 2;
	}
	if (argc > 3)
		window = atoi(argv[3]) > 0 ? atoi(argv[3]) : window;
	rl.rlim_cur = rl.rlim_max = (rlim_t)n + 64;
	if (setrlimit(RLIMIT_NOFILE, &rl) < 0) {
		fprintf(stderr, "tlsconns: cannot allow %d open files: %s\n", n + 64, strerror(errno));
		return 1;
	}
	conns = calloc((size_t)n, sizeof(*conns));
	ctx = SSL_CTX_new(TLS_client_method());
	ep = epoll_create1(0);
	if (!conns || !ctx || ep < 0)
		return 1;
	SSL_CTX_set_alpn_protos(ctx, (const unsigned char *)"\x02h2", 3);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	while (nopen + nfailed < n) {
		int k;

		while (next < n && inflight < window)
			if (start(ctx, ep, port, next++) < 0)
				return 1;
		if (now_s() - t0 > DEADLINE_S) {
			fprintf(stderr, "tlsconns: %d of %d open after %d s\n", nopen, n, DEADLINE_S);
			return 1;
		}
		k = epoll_wait(ep, evs, 256, 1000);
		for (int i = 0; i < k; i++)
			step(ep, &conns[evs[i].data.u32]);
	}
	printf("open %d failed %d\n", nopen, nfailed);
	fflush(stdout);
	if (!fgets(line, sizeof(line), stdin))
		line[0] = '\0';
	for (int i = 0; i < n; i++) {
		SSL_free(conns[i].ssl);
		close(conns[i].fd);
	}
	printf("closed %d\n", n);
	SSL_CTX_free(ctx);
	free(conns);
	return 0;
}
