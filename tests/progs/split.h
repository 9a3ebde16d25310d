/*
 * tests/progs/split.h: the threads of the profiling targets with a known CPU
 * split. The program defines SPLIT_FIRST and SPLIT_SECOND, the two callers
 * whose shares the tests compare; every thread calls them in turn until
 * killed. usage: PROGRAM [THREADS] (default 2); prints "ready" once started.
 */
#ifndef SPLIT_H
#define SPLIT_H

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static void *worker(void *arg)
{
	(void)arg;
	for (;;) {
		SPLIT_FIRST();
		SPLIT_SECOND();
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 2;
	pthread_t t;

	for (int i = 1; i < n; i++)
		pthread_create(&t, NULL, worker, NULL);
	printf("ready\n");
	fflush(stdout);
	worker(NULL);
	return 0;
}

#endif
