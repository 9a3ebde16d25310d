/*
 * bench/sslloop: an OpenSSL client and server in one process over a memory
 * BIO pair. After the handshake it prints "ready", then times rounds of
 * SSL_write (client, 64 bytes) + SSL_read (server) and prints ns per round,
 * once per second, until killed: the TLS probes' per-call cost shows as the
 * difference between runs with and without probes attached. A round's time is
 * the thread's CPU time (user and kernel: the uprobe traps, single-steps and
 * BPF programs run on it), so other load on a shared machine does not count.
 */
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static double clock_s(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double now_s(void)
{
	return clock_s(CLOCK_MONOTONIC);
}

static int pump(SSL *a, SSL *b)
{
	for (int i = 0; i < 100; i++) {
		int ra = SSL_do_handshake(a), rb = SSL_do_handshake(b);

		if (ra == 1 && rb == 1)
			return 0;
	}
	return -1;
}

int main(int argc, char **argv)
{
	const char *cert = argc > 2 ? argv[1] : "cert.pem", *key = argc > 2 ? argv[2] : "key.pem";
	SSL_CTX *sctx = SSL_CTX_new(TLS_server_method()), *cctx = SSL_CTX_new(TLS_client_method());
	BIO *sb, *cb;
	SSL *s, *c;
	char buf[64] = { 0 }, in[64];

	if (!sctx || !cctx || SSL_CTX_use_certificate_file(sctx, cert, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_use_PrivateKey_file(sctx, key, SSL_FILETYPE_PEM) != 1) {
		fprintf(stderr, "sslloop: cannot set up TLS with %s / %s\n", cert, key);
		return 1;
	}
	s = SSL_new(sctx);
	c = SSL_new(cctx);
	BIO_new_bio_pair(&sb, 1 << 16, &cb, 1 << 16);
	SSL_set_bio(s, sb, sb);
	SSL_set_bio(c, cb, cb);
	SSL_set_accept_state(s);
	SSL_set_connect_state(c);
	if (pump(c, s)) {
		fprintf(stderr, "sslloop: handshake failed\n");
		return 1;
	}
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		double t0 = now_s(), c0 = clock_s(CLOCK_THREAD_CPUTIME_ID);
		long n = 0;

		while (now_s() - t0 < 1.0) {
			for (int i = 0; i < 1000; i++) {
				if (SSL_write(c, buf, sizeof(buf)) != sizeof(buf) || SSL_read(s, in, sizeof(in)) != sizeof(in)) {
					fprintf(stderr, "sslloop: I/O failed\n");
					return 1;
				}
			}
			n += 1000;
		}
		printf("%.1f ns/round\n", (clock_s(CLOCK_THREAD_CPUTIME_ID) - c0) * 1e9 / (double)n);
		fflush(stdout);
	}
}
