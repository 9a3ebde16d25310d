/*
 * tests/progs/threadchurn: threads come and go by the thousand. On SIGUSR1 it
 * starts THREADS threads, at most CONCURRENT alive at a time; each creates and
 * frees one SSL object (SSL_new runs SSL_clear: one probed call and one
 * SSL_free per thread) and ends. Then it prints "done N" and waits for the
 * next SIGUSR1. Prints "ready" first.
 *
 * usage: threadchurn THREADS CONCURRENT
 */
#include "progwait.h"

#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static SSL_CTX *ctx;

static void *one(void *arg)
{
	SSL *s = SSL_new(ctx);

	(void)arg;
	SSL_free(s);
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 2 ? atoi(argv[1]) : 0, conc = argc > 2 ? atoi(argv[2]) : 0;
	pthread_t *t;
	sigset_t set;

	if (n <= 0 || conc <= 0) {
		fprintf(stderr, "usage: threadchurn THREADS CONCURRENT\n");
		return 2;
	}
	ctx = SSL_CTX_new(TLS_server_method());
	t = calloc((size_t)conc, sizeof(*t));
	if (!ctx || !t)
		return 1;
	prog_ready(&set);
	for (;;) {
		if (prog_wait(&set))
			return 1;
		for (int done = 0; done < n; done += conc) {
			int k = n - done < conc ? n - done : conc;

			for (int i = 0; i < k; i++)
				if (pthread_create(&t[i], NULL, one, NULL))
					return 1;
			for (int i = 0; i < k; i++)
				pthread_join(t[i], NULL);
		}
		printf("done %d\n", n);
		fflush(stdout);
	}
}
