/*
 * Function names of stripped Go binaries from .gopclntab, through
 * symbolizer/gopclntab.h when the tree has it (see symint.h for the contract);
 * without it every lookup fails and the caller says "stripped Go binary".
 */
#include "symint.h"

#include <errno.h>
#include <stdlib.h>

#if __has_include("gopclntab.h")
#include "gopclntab.h"

int ls_gosym_open(Elf *elf, struct ls_gosym **out)
{
	return ls_gopclntab_open(elf, (struct ls_gopclntab **)out);
}

void ls_gosym_free(struct ls_gosym *g)
{
	ls_gopclntab_free((struct ls_gopclntab *)g);
}

int ls_gosym_lookup(struct ls_gosym *g, uint64_t vaddr, const char **func, uint64_t *start, const char **file,
		    uint32_t *line)
{
	return ls_gopclntab_lookup((struct ls_gopclntab *)g, vaddr, func, start, file, line);
}
#else
int ls_gosym_open(Elf *elf, struct ls_gosym **out)
{
	(void)elf;
	*out = NULL;
	return -ENOTSUP;
}

void ls_gosym_free(struct ls_gosym *g)
{
	(void)g;
}

int ls_gosym_lookup(struct ls_gosym *g, uint64_t vaddr, const char **func, uint64_t *start, const char **file,
		    uint32_t *line)
{
	(void)g, (void)vaddr, (void)func, (void)start, (void)file, (void)line;
	return -ENOENT;
}
#endif
