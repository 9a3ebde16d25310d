/* C++ names through libstdc++'s demangler, each demangled once per object. */
#include "symint.h"

#include <stdlib.h>
#include <string.h>

char *__cxa_demangle(const char *mangled, char *buf, size_t *len, int *status);

/* Keyed by the name's address: names live in the object's mapped tables. */
struct entry {
	const char *key;
	char *value;
};

struct ls_demangler {
	struct entry *v;
	size_t n, cap;
};

struct ls_demangler *ls_demangler_new(void)
{
	return calloc(1, sizeof(struct ls_demangler));
}

void ls_demangler_free(struct ls_demangler *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->cap; i++)
		free(d->v[i].value);
	free(d->v);
	free(d);
}

static size_t slot(const struct entry *v, size_t cap, const char *key)
{
	size_t h = ((uintptr_t)key * 0x9e3779b97f4a7c15ull >> 7) & (cap - 1);

	while (v[h].key && v[h].key != key)
		h = (h + 1) & (cap - 1);
	return h;
}

const char *ls_demangle(struct ls_demangler *d, const char *name)
{
	char *out;
	int status = -1;
	size_t h;

	if (!d || name[0] != '_' || name[1] != 'Z')
		return name;
	if (d->cap && d->v[h = slot(d->v, d->cap, name)].key)
		return d->v[h].value ? d->v[h].value : name;
	if ((d->n + 1) * 2 > d->cap) {
		size_t ncap = d->cap ? d->cap * 2 : 256;
		struct entry *nv = calloc(ncap, sizeof(*nv));

		if (!nv)
			return name;
		for (size_t i = 0; i < d->cap; i++)
			if (d->v[i].key)
				nv[slot(nv, ncap, d->v[i].key)] = d->v[i];
		free(d->v);
		d->v = nv;
		d->cap = ncap;
	}
	out = __cxa_demangle(name, NULL, NULL, &status);
	if (status != 0) {
		free(out);
		out = NULL;
	}
	h = slot(d->v, d->cap, name);
	d->v[h].key = name;
	d->v[h].value = out;
	d->n++;
	return out ? out : name;
}
