/*
 * A CPU-bound profiling target that reports its own work rate: N threads
 * (default 2) each run a fixed unit of work through a few call levels;
 * every second the main thread prints the units done in that second and
 * the units per CPU second the process used (which, unlike the first,
 * holds on a machine other work shares: time lost to other processes is not
 * CPU time of this one, while a profiler's in-kernel sampling cost is).
 * usage: spinrate [THREADS]
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <unistd.h>

static atomic_uint_fast64_t units;

static double cpu_s(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_stime.tv_sec +
	       ((double)ru.ru_utime.tv_usec + (double)ru.ru_stime.tv_usec) / 1e6;
}

static __attribute__((noinline)) uint64_t mix(uint64_t x)
{
	for (int i = 0; i < 2000; i++)
		x = (x ^ (x >> 31)) * 0x9e3779b97f4a7c15ull + (uint64_t)i;
	return x;
}

static __attribute__((noinline)) uint64_t level2(uint64_t x) { return mix(x) + 1; }
static __attribute__((noinline)) uint64_t level1(uint64_t x) { return level2(x) ^ 3; }

static void *worker(void *arg)
{
	volatile uint64_t sink = (uint64_t)(uintptr_t)arg;

	for (;;) {
		sink = level1(sink);
		atomic_fetch_add_explicit(&units, 1, memory_order_relaxed);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 2;
	uint64_t last = 0;
	double last_cpu = cpu_s();
	pthread_t t;

	for (int i = 0; i < n; i++)
		if (pthread_create(&t, NULL, worker, (void *)(uintptr_t)(i + 1)))
			return 1;
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		uint64_t cur;
		double cpu;

		sleep(1);
		cur = atomic_load(&units);
		cpu = cpu_s();
		printf("%llu units/s %.0f units/cpu-s\n", (unsigned long long)(cur - last),
		       cpu > last_cpu ? (double)(cur - last) / (cpu - last_cpu) : 0.0);
		fflush(stdout);
		last = cur;
		last_cpu = cpu;
	}
}
