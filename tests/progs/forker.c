/*
 * tests/progs/forker: a master that forks a worker after latscope attached
 * (nginx-style). Prints "ready"; on SIGUSR1 it forks a child that creates and
 * frees CHILD_CALLS SSL objects (SSL_new runs SSL_clear) and then sleeps; the
 * master, once the child is done, does the same PARENT_CALLS times and prints
 * "done CHILDPID".
 *
 * usage: forker PARENT_CALLS CHILD_CALLS
 */
#include "progwait.h"

#include <openssl/ssl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void calls(SSL_CTX *ctx, int n)
{
	for (int i = 0; i < n; i++)
		SSL_free(SSL_new(ctx));
}

int main(int argc, char **argv)
{
	int parent = argc > 2 ? atoi(argv[1]) : -1, child = argc > 2 ? atoi(argv[2]) : -1;
	int done[2];
	SSL_CTX *ctx;
	pid_t kid;
	char c;

	if (parent < 0 || child < 0) {
		fprintf(stderr, "usage: forker PARENT_CALLS CHILD_CALLS\n");
		return 2;
	}
	ctx = SSL_CTX_new(TLS_server_method());
	if (!ctx || pipe(done) < 0)
		return 1;
	if (prog_ready_wait())
		return 1;
	kid = fork();
	if (kid < 0)
		return 1;
	if (kid == 0) {
		calls(ctx, child);
		if (write(done[1], "x", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}
	if (read(done[0], &c, 1) != 1)
		return 1;
	calls(ctx, parent);
	printf("done %d\n", (int)kid);
	fflush(stdout);
	for (;;)
		pause();
}
