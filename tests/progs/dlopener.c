/*
 * tests/progs/dlopener: a process that loads libssl only when asked. Prints
 * "ready"; on SIGUSR1 it dlopen()s libssl.so.3, creates and frees an SSL object
 * through it, prints "loaded" and waits to be killed.
 */
#include "progwait.h"

#include <dlfcn.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

int main(void)
{
	void *(*method)(void), *(*ctx_new)(void *), *(*ssl_new)(void *);
	void (*ssl_free)(void *);
	void *lib;

	if (prog_ready_wait())
		return 1;
	lib = dlopen("libssl.so.3", RTLD_NOW);
	if (!lib) {
		fprintf(stderr, "dlopener: %s\n", dlerror());
		return 1;
	}
	*(void **)&method = dlsym(lib, "TLS_server_method");
	*(void **)&ctx_new = dlsym(lib, "SSL_CTX_new");
	*(void **)&ssl_new = dlsym(lib, "SSL_new");
	*(void **)&ssl_free = dlsym(lib, "SSL_free");
	if (!method || !ctx_new || !ssl_new || !ssl_free)
		return 1;
	ssl_free(ssl_new(ctx_new(method())));
	printf("loaded\n");
	fflush(stdout);
	for (;;)
		pause();
}
