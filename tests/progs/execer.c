/*
 * tests/progs/execer: a process that exec()s under latscope. Prints "ready"; on
 * SIGUSR1 it execs PROGRAM (itself when none is given) with "after N"; that one
 * creates and frees N SSL objects (SSL_new runs SSL_clear), prints "done N" and
 * waits to be killed.
 *
 * usage: execer N [PROGRAM]
 */
#include "progwait.h"

#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	sigset_t set;

	if (argc > 2 && !strcmp(argv[1], "after")) {
		SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
		int n = atoi(argv[2]);

		for (int i = 0; ctx && i < n; i++)
			SSL_free(SSL_new(ctx));
		printf("done %d\n", n);
		fflush(stdout);
		for (;;)
			pause();
	}
	if (argc < 2 || atoi(argv[1]) <= 0) {
		fprintf(stderr, "usage: execer N [PROGRAM]\n");
		return 2;
	}
	prog_ready(&set);
	if (prog_wait(&set))
		return 1;
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	execl(argc > 2 ? argv[2] : "/proc/self/exe", "execer", "after", argv[1], (char *)NULL);
	perror("execer: exec");
	return 1;
}
