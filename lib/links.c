#include "links.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#define DETACH_THREADS 128

struct ls_links {
	struct bpf_link **links;
	size_t n, cap;
	int *fds; /* uprobe_multi links: one per program, binary and direction */
	size_t nfds, capfds;
};

struct ls_links *ls_links_new(void)
{
	return calloc(1, sizeof(struct ls_links));
}

static int grow(void **v, size_t *cap, size_t n, size_t size)
{
	size_t ncap;
	void *nv;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 32;
	nv = realloc(*v, ncap * size);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}

int ls_links_add(struct ls_links *ls, struct bpf_link *l)
{
	if (grow((void **)&ls->links, &ls->cap, ls->n, sizeof(*ls->links))) {
		bpf_link__destroy(l);
		return -ENOMEM;
	}
	ls->links[ls->n++] = l;
	return 0;
}

int ls_links_add_fd(struct ls_links *ls, int fd)
{
	if (grow((void **)&ls->fds, &ls->capfds, ls->nfds, sizeof(*ls->fds))) {
		close(fd);
		return -ENOMEM;
	}
	ls->fds[ls->nfds++] = fd;
	return 0;
}

size_t ls_links_count(const struct ls_links *ls)
{
	return ls->n;
}

void ls_links_rollback(struct ls_links *ls, size_t n)
{
	while (ls->n > n)
		bpf_link__destroy(ls->links[--ls->n]);
}

struct detach_slice {
	struct ls_links *ls;
	size_t first, step;
};

static void *detach_slice(void *arg)
{
	struct detach_slice *d = arg;
	struct ls_links *ls = d->ls;

	for (size_t i = d->first; i < ls->n + ls->nfds; i += d->step) {
		if (i < ls->n)
			bpf_link__destroy(ls->links[i]);
		else
			close(ls->fds[i - ls->n]);
	}
	return NULL;
}

void ls_links_detach(struct ls_links *ls)
{
	struct detach_slice d[DETACH_THREADS];
	pthread_t th[DETACH_THREADS];
	int started[DETACH_THREADS] = { 0 };
	size_t all, nth;

	if (!ls)
		return;
	all = ls->n + ls->nfds;
	nth = all < DETACH_THREADS ? all : DETACH_THREADS;
	/*
	 * Removing a uprobe waits for an RCU grace period, one after the other
	 * when done in turn: seconds per hundred classic uprobes on a busy
	 * machine. Closed from several threads, the waits overlap. The order does
	 * not matter to the target: the session's state dies with it, and no
	 * uretprobe is ever left mid-call on Go code.
	 */
	if (all > 4) {
		for (size_t i = 0; i < nth; i++)
			d[i] = (struct detach_slice){ ls, i, nth };
		for (size_t i = 0; i < nth; i++)
			started[i] = pthread_create(&th[i], NULL, detach_slice, &d[i]) == 0;
		for (size_t i = 0; i < nth; i++) {
			if (started[i])
				pthread_join(th[i], NULL);
			else
				detach_slice(&d[i]);
		}
		ls->n = 0;
		ls->nfds = 0;
	}
	while (ls->nfds)
		close(ls->fds[--ls->nfds]);
	/* Reverse order: return probes and kernel hooks go before what they pair with. */
	while (ls->n)
		bpf_link__destroy(ls->links[--ls->n]);
}

void ls_links_free(struct ls_links *ls)
{
	if (!ls)
		return;
	ls_links_detach(ls);
	free(ls->links);
	free(ls->fds);
	free(ls);
}
