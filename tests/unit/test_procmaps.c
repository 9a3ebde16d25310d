/*
 * What latscope reads of a process's threads: CPU time and run-queue wait (the overhead
 * budget), measured on this process with two threads made to share one CPU, and children.
 */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "procmaps.h"
#include "util.h"
#include "check.h"

static atomic_int stop;

static void *spin(void *arg)
{
	(void)arg;
	while (!atomic_load_explicit(&stop, memory_order_relaxed))
		;
	return NULL;
}

int main(void)
{
	pid_t me = getpid(), child;
	cpu_set_t one;
	pthread_t th[2];
	uint64_t d0, d1, c0, c1, t0, t1, cpu;
	struct timespec nap = { 0, 300000000 };

	/* Both spinners on one CPU: each waits for it about half the time. */
	CPU_ZERO(&one);
	CPU_SET(sched_getcpu() >= 0 ? sched_getcpu() : 0, &one);
	CHECK(sched_setaffinity(0, sizeof(one), &one) == 0, "pinned to one CPU");
	for (int i = 0; i < 2; i++)
		pthread_create(&th[i], NULL, spin, NULL);
	usleep(20000);
	t0 = ls_now_ns();
	d0 = ls_procs_run_delay_ns(&me, 1);
	c0 = ls_procs_cpu_ns(&me, 1);
	nanosleep(&nap, NULL);
	t1 = ls_now_ns();
	d1 = ls_procs_run_delay_ns(&me, 1);
	c1 = ls_procs_cpu_ns(&me, 1);
	atomic_store(&stop, 1);
	for (int i = 0; i < 2; i++)
		pthread_join(th[i], NULL);

	cpu = c1 - c0;
	CHECK(cpu >= (t1 - t0) / 2 && cpu <= (t1 - t0) * 11 / 10, "CPU time over %.0f ms on one CPU: %.1f ms",
	      (t1 - t0) / 1e6, cpu / 1e6);
	/* Two runnable threads on one CPU for the span: what one runs, the other waits. */
	CHECK(d1 > d0 && d1 - d0 >= (t1 - t0) / 2 && d1 - d0 <= 2 * (t1 - t0) + 50000000,
	      "run-queue wait of two threads sharing a CPU over %.0f ms: %.1f ms", (t1 - t0) / 1e6,
	      d1 > d0 ? (d1 - d0) / 1e6 : 0.0);

	/* A child is found among this process's children while it lives; once gone it adds nothing. */
	{
		int fds[2], found = 0;
		pid_t kids[16];
		size_t nk;
		char c;

		CHECK(pipe(fds) == 0, "a pipe to hold the child");
		child = fork();
		if (child == 0) {
			close(fds[1]);
			if (read(fds[0], &c, 1) < 0)
				_exit(1);
			_exit(0);
		}
		close(fds[0]);
		nk = ls_proc_children(me, kids, 16);
		for (size_t i = 0; i < nk; i++)
			found |= kids[i] == child;
		CHECK(found, "the child %d among the %zu children found", (int)child, nk);
		CHECK(ls_proc_children(me, kids, 0) == 0, "no room: no children");
		close(fds[1]);
	}
	waitpid(child, NULL, 0);
	CHECK(ls_procs_run_delay_ns(&child, 1) == 0, "a process gone: no wait");
	return failures ? 1 : 0;
}
