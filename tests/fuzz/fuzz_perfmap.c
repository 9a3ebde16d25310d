/*
 * libFuzzer target for the JIT symbol map parser (symbolizer/perfmap.c):
 * the file a target writes, so any bytes. What the parser promises must
 * hold for every input: at most LS_PERFMAP_MAX entries, names of at most
 * LS_PERFMAP_NAME bytes without control characters, and every lookup that
 * answers lands inside the range of the entry it names.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "perfmap.h"

static void probe(const struct ls_perfmap *pm, uint64_t addr)
{
	uint64_t start;
	const char *name = ls_perfmap_lookup(pm, addr, &start);
	size_t len;

	if (!name)
		return;
	if (start > addr)
		abort();
	len = strlen(name);
	if (!len || len > LS_PERFMAP_NAME)
		abort();
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ls_perfmap *pm;
	char *text = malloc(size + 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (ls_perfmap_parse((const char *)data, size, &pm)) {
		free(text);
		return 0;
	}
	if (ls_perfmap_count(pm) > LS_PERFMAP_MAX || ls_perfmap_count(pm) > size)
		abort();
	probe(pm, 0);
	probe(pm, UINT64_MAX);
	/* Each line's own start and a byte into it: addresses the entries hold, or just miss. */
	for (char *p = text; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		uint64_t a = strtoull(p, NULL, 16);

		probe(pm, a);
		probe(pm, a + 1);
		probe(pm, a - 1);
	}
	ls_perfmap_free(pm);
	free(text);
	return 0;
}
