/*
 * tests/progs/tlscalls: TLS over a socketpair in one process, with the three
 * kinds of caller call-site placement must handle. A server thread reads in a
 * loop, three calls out of four through a direct call to SSL_read and every
 * fourth through a function pointer; the main thread writes 64 bytes every
 * PACE microseconds through write_branchy (tlscalls_asm.S), whose return span
 * is a branch target. Each SIGUSR1 runs ROUNDS writes, then prints "done N".
 *
 * usage: tlscalls CERT KEY ROUNDS PACE_US
 */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

int write_branchy(SSL *s, const void *buf, int n);

/* Read through a pointer the compiler cannot see through: no call site names SSL_read here. */
static int (*volatile read_ptr)(SSL *, void *, int) = SSL_read;
static volatile sig_atomic_t go;

static int fcntl_blocking(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	return fl < 0 || fcntl(fd, F_SETFL, fl & ~O_NONBLOCK) < 0 ? -1 : 0;
}

static void on_usr1(int sig)
{
	(void)sig;
	go++;
}

static void *server(void *arg)
{
	SSL *s = arg;
	char buf[256];

	for (unsigned long i = 0;; i++) {
		int n = (i % 4 == 3) ? read_ptr(s, buf, sizeof(buf)) : SSL_read(s, buf, sizeof(buf));

		if (n <= 0) {
			fprintf(stderr, "tlscalls: server read failed\n");
			exit(1);
		}
	}
	return NULL;
}

static int handshake(SSL *s, SSL *c)
{
	int rs = 0, rc = 0;

	/* Non-blocking steps in turn, so one thread can drive both ends. */
	for (int i = 0; i < 1000 && (rs != 1 || rc != 1); i++) {
		if (rc != 1)
			rc = SSL_do_handshake(c);
		if (rs != 1)
			rs = SSL_do_handshake(s);
		usleep(1000);
	}
	return rs == 1 && rc == 1 ? 0 : -1;
}

int main(int argc, char **argv)
{
	SSL_CTX *sctx, *cctx;
	SSL *s, *c;
	int sv[2], rounds, pace_us, done = 0;
	char msg[64] = "latscope tlscalls payload";
	pthread_t th;

	if (argc != 5) {
		fprintf(stderr, "usage: tlscalls CERT KEY ROUNDS PACE_US\n");
		return 2;
	}
	rounds = atoi(argv[3]);
	pace_us = atoi(argv[4]);
	sctx = SSL_CTX_new(TLS_server_method());
	cctx = SSL_CTX_new(TLS_client_method());
	if (!sctx || !cctx || SSL_CTX_use_certificate_file(sctx, argv[1], SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(sctx, argv[2], SSL_FILETYPE_PEM) != 1 ||
	    socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv)) {
		fprintf(stderr, "tlscalls: cannot set up TLS with %s / %s\n", argv[1], argv[2]);
		return 1;
	}
	s = SSL_new(sctx);
	c = SSL_new(cctx);
	SSL_set_fd(s, sv[0]);
	SSL_set_fd(c, sv[1]);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	if (handshake(s, c)) {
		fprintf(stderr, "tlscalls: handshake failed\n");
		return 1;
	}
	/* Blocking from here on: the server's reads wait for each write. */
	if (fcntl_blocking(sv[0]) || fcntl_blocking(sv[1]))
		return 1;
	signal(SIGUSR1, on_usr1);
	pthread_create(&th, NULL, server, s);
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		struct timespec next;

		while (go == done)
			pause();
		clock_gettime(CLOCK_MONOTONIC, &next);
		for (int i = 0; i < rounds; i++) {
			if (write_branchy(c, msg, sizeof(msg)) != sizeof(msg)) {
				fprintf(stderr, "tlscalls: write failed\n");
				return 1;
			}
			next.tv_nsec += pace_us * 1000L;
			while (next.tv_nsec >= 1000000000L) {
				next.tv_nsec -= 1000000000L;
				next.tv_sec++;
			}
			clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &next, NULL);
		}
		done++;
		printf("done %d\n", done);
		fflush(stdout);
	}
}
