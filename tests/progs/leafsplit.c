/*
 * The leaf-function case of a profile: every thread spends 70% of its CPU
 * in hot_seventy() and 30% in hot_thirty(), each calling one leaf loop
 * spin(), until killed. Built -O1 -fno-omit-frame-pointer, gcc still gives
 * spin() no frame (it needs no stack): a frame-pointer walk from inside it
 * starts at its caller's frame and skips the caller.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static volatile uint64_t sink;

/* The same work per iteration for both callers: their CPU split is the split of their counts. */
static __attribute__((noinline)) void spin(uint64_t n)
{
	for (uint64_t i = 0; i < n; i++)
		sink += i;
}

/* The empty asm after the call keeps the compiler from turning it into a tail jump. */
__attribute__((noinline)) void hot_seventy(void) { spin(7000000); __asm__ volatile(""); }
__attribute__((noinline)) void hot_thirty(void) { spin(3000000); __asm__ volatile(""); }

static void *worker(void *arg)
{
	(void)arg;
	for (;;) {
		hot_seventy();
		hot_thirty();
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
