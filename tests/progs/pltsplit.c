/*
 * The PLT case of a profile: every thread spends 70% of its calls in
 * plt_seventy() and 30% in plt_thirty(), each calling libc's labs() through
 * the executable's PLT, until killed. A sample inside a PLT stub has no frame
 * of its own: a frame-pointer walk from it skips the caller, whose return
 * address is on top of the stack (or one word down, once a lazy stub has
 * pushed its relocation index).
 */
#include <stdlib.h>

static volatile long sink;

/* Built -fno-builtin: every labs() is a call through the PLT, not an inline abs. */
__attribute__((noinline)) void plt_seventy(void)
{
	for (long i = 0; i < 7000000; i++)
		sink += labs(i);
}

__attribute__((noinline)) void plt_thirty(void)
{
	for (long i = 0; i < 3000000; i++)
		sink += labs(i);
}

#define SPLIT_FIRST plt_seventy
#define SPLIT_SECOND plt_thirty
#include "split.h"
