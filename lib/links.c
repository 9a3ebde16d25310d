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

/* One thing to detach: a libbpf link or a link fd. */
struct detach_item {
	struct bpf_link *link;
	int fd;
};

struct detach_slice {
	const struct detach_item *items;
	size_t n, first, step;
};

static void detach_item(const struct detach_item *it)
{
	if (it->link)
		bpf_link__destroy(it->link);
	else
		close(it->fd);
}

static void *detach_slice(void *arg)
{
	struct detach_slice *d = arg;

	for (size_t i = d->first; i < d->n; i += d->step)
		detach_item(&d->items[i]);
	return NULL;
}

/*
 * Removing a uprobe waits for an RCU grace period, and so may a kernel hook (text
 * patching, tracepoint transitions): one after the other when done in turn, seconds
 * per hundred classic uprobes on a busy machine, and every hook still on costs its
 * callers until its own turn. Closed from several threads, the waits overlap.
 */
static void detach_parallel(const struct detach_item *items, size_t all)
{
	struct detach_slice d[DETACH_THREADS];
	pthread_t th[DETACH_THREADS];
	int started[DETACH_THREADS] = { 0 };
	size_t nth = all < DETACH_THREADS ? all : DETACH_THREADS;

	for (size_t i = 0; i < nth; i++)
		d[i] = (struct detach_slice){ items, all, i, nth };
	for (size_t i = 0; i < nth; i++)
		started[i] = pthread_create(&th[i], NULL, detach_slice, &d[i]) == 0;
	for (size_t i = 0; i < nth; i++) {
		if (started[i])
			pthread_join(th[i], NULL);
		else
			detach_slice(&d[i]);
	}
}

/* In turn, in reverse order: return probes and kernel hooks go before what they pair with. */
static void detach_serial(struct ls_links *ls)
{
	if (!ls)
		return;
	while (ls->nfds)
		close(ls->fds[--ls->nfds]);
	while (ls->n)
		bpf_link__destroy(ls->links[--ls->n]);
}

void ls_links_detach_all(struct ls_links **sets, size_t nsets, struct bpf_link **more, size_t nmore)
{
	struct detach_item *items;
	size_t all = 0, k = 0;

	for (size_t i = 0; i < nsets; i++)
		all += sets[i] ? sets[i]->n + sets[i]->nfds : 0;
	for (size_t i = 0; i < nmore; i++)
		all += more[i] != NULL;
	items = all > 1 ? calloc(all, sizeof(*items)) : NULL;
	if (!items) {
		/* One thing, or no memory: in turn. */
		for (size_t i = 0; i < nsets; i++)
			detach_serial(sets[i]);
		for (size_t i = 0; i < nmore; i++)
			bpf_link__destroy(more[i]);
		return;
	}
	for (size_t i = 0; i < nsets; i++) {
		struct ls_links *ls = sets[i];

		for (size_t j = 0; ls && j < ls->n; j++)
			items[k++] = (struct detach_item){ ls->links[j], -1 };
		for (size_t j = 0; ls && j < ls->nfds; j++)
			items[k++] = (struct detach_item){ NULL, ls->fds[j] };
		if (ls)
			ls->n = ls->nfds = 0;
	}
	for (size_t i = 0; i < nmore; i++)
		if (more[i])
			items[k++] = (struct detach_item){ more[i], -1 };
	detach_parallel(items, all);
	free(items);
}

void ls_links_detach(struct ls_links *ls)
{
	if (!ls)
		return;
	/* The order does not matter to the target: no uretprobe is ever left mid-call on Go code. */
	if (ls->n + ls->nfds > 4)
		ls_links_detach_all(&ls, 1, NULL, 0);
	else
		detach_serial(ls);
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
