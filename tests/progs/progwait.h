/*
 * tests/progs/progwait.h: the handshake the churn test programs share with
 * their tests. A program says "ready" once it is set up, then does nothing
 * until the test, having attached latscope, sends SIGUSR1.
 */
#ifndef PROGWAIT_H
#define PROGWAIT_H

#include <signal.h>
#include <stdio.h>

/* Block SIGUSR1 before printing "ready" so that a signal sent at once is not lost. */
static inline void prog_ready(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGUSR1);
	sigprocmask(SIG_BLOCK, set, NULL);
	printf("ready\n");
	fflush(stdout);
}

/* Wait for the test's SIGUSR1; 0 when it came. */
static inline int prog_wait(sigset_t *set)
{
	int sig;

	return sigwait(set, &sig) ? -1 : 0;
}

/* "ready", then wait for the go: most programs need no more. */
static inline int prog_ready_wait(void)
{
	sigset_t set;

	prog_ready(&set);
	return prog_wait(&set);
}

#endif
