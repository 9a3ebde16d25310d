/*
 * Stripped Go binaries: function names, file:line and inlined calls from the
 * binary's .gopclntab (symbolizer/gopclntab.h), which the Go runtime itself
 * needs and so no strip removes.
 */
#include "symint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>

#include "gopclntab.h"

#define GOSYM_MAX_FRAMES 32

int ls_gosym_open(int fd, struct ls_gosym **out)
{
	char path[64], err[LS_GOPCLN_ERR_LEN];

	/* The module's own descriptor: the very file mapped, wherever it lives. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	return ls_gopcln_open(path, (struct ls_gopcln **)out, err);
}

void ls_gosym_free(struct ls_gosym *g)
{
	ls_gopcln_free((struct ls_gopcln *)g);
}

int ls_gosym_frames(struct ls_gosym *g, uint64_t vaddr, struct ls_framevec *fv, const char **func, uint64_t *start)
{
	const struct ls_gopcln *p = (const struct ls_gopcln *)g;
	struct ls_gopcln_frame frames[GOSYM_MAX_FRAMES];
	struct ls_gopcln_func fn;
	size_t n = 0;
	int ret;

	if (ls_gopcln_func_at(p, vaddr, &fn) || ls_gopcln_frames(p, vaddr, frames, GOSYM_MAX_FRAMES, &n) || !n)
		return -ENOENT;
	for (size_t i = 0; i < n; i++)
		if ((ret = ls_framevec_push(fv, frames[i].name, frames[i].file[0] ? frames[i].file : NULL,
					    frames[i].line > 0 ? (uint32_t)frames[i].line : 0, 0)))
			return ret;
	*func = fn.name;
	*start = fn.entry;
	return (int)n;
}
