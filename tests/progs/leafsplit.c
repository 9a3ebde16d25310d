/*
 * The leaf-function case of a profile: every thread spends 70% of its CPU
 * in hot_seventy() and 30% in hot_thirty(), each calling one leaf loop
 * spin(), until killed. Built -O1 -fno-omit-frame-pointer, gcc still gives
 * spin() no frame (it needs no stack): a frame-pointer walk from inside it
 * starts at its caller's frame and skips the caller.
 */
#include <stdint.h>

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

#define SPLIT_FIRST hot_seventy
#define SPLIT_SECOND hot_thirty
#include "split.h"
