/* The one-frame interface, on top of the symbolizer. */
#include "procsym.h"
#include "symbolizer.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct procsym {
	struct ls_symbolizer *sym;
};

struct procsym *procsym_new(void)
{
	struct procsym *ps = calloc(1, sizeof(*ps));

	if (ps && ls_symbolizer_new(NULL, &ps->sym)) {
		free(ps);
		errno = ENOMEM;
		return NULL;
	}
	return ps;
}

void procsym_free(struct procsym *ps)
{
	if (!ps)
		return;
	ls_symbolizer_free(ps->sym);
	free(ps);
}

static int resolve(struct procsym *ps, const struct ls_sym_src *src, const uint64_t *addrs, size_t n,
		   struct procsym_frame *out)
{
	struct ls_sym_result *r;
	int ret = ls_symbolize(ps->sym, src, addrs, n, LS_SYM_ADDR_EXACT, &r);

	if (ret)
		return ret;
	for (size_t i = 0; i < n; i++) {
		const struct ls_sym *s = &r->syms[i];

		out[i] = (struct procsym_frame){ .func = s->func, .offset = s->offset, .reason = s->reason,
						 .module = s->mapping ? s->mapping->path : NULL };
	}
	ls_sym_result_free(r);
	return 0;
}

int procsym_user(struct procsym *ps, pid_t pid, const uint64_t *addrs, size_t n, struct procsym_frame *out)
{
	struct ls_sym_src src = { .kind = LS_SYM_SRC_PROCESS, .pid = pid };

	return resolve(ps, &src, addrs, n, out);
}

int procsym_kernel(struct procsym *ps, const uint64_t *addrs, size_t n, struct procsym_frame *out)
{
	struct ls_sym_src src = { .kind = LS_SYM_SRC_KERNEL };

	return resolve(ps, &src, addrs, n, out);
}
