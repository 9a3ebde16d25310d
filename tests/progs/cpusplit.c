/*
 * A profiling target with a known CPU split: every thread spends about 70% of
 * its time in spin_seventy() and 30% in spin_thirty(), interleaved in 10 ms
 * slices, until killed.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Burn this thread's CPU for ns nanoseconds; volatile keeps the loop real. */
static __attribute__((noinline)) void spin(uint64_t ns)
{
	volatile uint64_t x = 0;
	uint64_t end = now_ns() + ns;

	while (now_ns() < end)
		for (int i = 0; i < 200000; i++)
			x += (uint64_t)i;
}

/* The empty asm after the call keeps the compiler from turning it into a tail jump. */
__attribute__((noinline)) void spin_seventy(void) { spin(7000000); __asm__ volatile(""); }
__attribute__((noinline)) void spin_thirty(void) { spin(3000000); __asm__ volatile(""); }

static void *worker(void *arg)
{
	(void)arg;
	for (;;) {
		spin_seventy();
		spin_thirty();
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
