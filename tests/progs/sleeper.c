/*
 * An off-CPU profiling target: sleeps 50 ms per loop in wait_for_it().
 * The sleep is a direct system call from wait_for_it: libc's nanosleep has no
 * frame pointer, and a frame-pointer walk from inside it skips its caller.
 */
#include <stdio.h>
#include <sys/syscall.h>
#include <time.h>

__attribute__((noinline)) void wait_for_it(void)
{
	struct timespec ts = { 0, 50 * 1000000L };
	long ret;

	__asm__ volatile("syscall" : "=a"(ret) : "a"(SYS_nanosleep), "D"(&ts), "S"(0) : "rcx", "r11", "memory");
	(void)ret;
}

int main(void)
{
	printf("ready\n");
	fflush(stdout);
	for (;;)
		wait_for_it();
}
