/*
 * A profiling target with a known CPU split: every thread spends about 70% of
 * its time in spin_seventy() and 30% in spin_thirty(), interleaved in 10 ms
 * slices, until killed.
 */
#include <stdint.h>
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

#define SPLIT_FIRST spin_seventy
#define SPLIT_SECOND spin_thirty
#include "split.h"
