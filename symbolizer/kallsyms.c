/* Kernel functions from /proc/kallsyms: the last text symbol at or below an address. */
#include "symint.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct ksym {
	uint64_t addr;
	size_t name, module;  /* offsets into strings: the buffer moves while it grows */
	size_t order;
};

struct ls_kallsyms {
	struct ksym *v;
	size_t n;
	char *strings;
};

static int ksym_cmp(const void *a, const void *b)
{
	const struct ksym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int add_string(char **buf, size_t *len, size_t *cap, const char *s, size_t *at)
{
	size_t n = strlen(s) + 1;

	if (*len + n > *cap) {
		size_t ncap = (*cap ? *cap * 2 : (1 << 20)) + n;
		char *nb = realloc(*buf, ncap);

		if (!nb)
			return -ENOMEM;
		*buf = nb;
		*cap = ncap;
	}
	memcpy(*buf + *len, s, n);
	*at = *len;
	*len += n;
	return 0;
}

int ls_kallsyms_load(struct ls_kallsyms **out)
{
	struct ls_kallsyms *k = calloc(1, sizeof(*k));
	size_t cap = 0, slen = 0, scap = 0, kernel_at;
	char line[512];
	FILE *f = NULL;
	int ret = 0;

	if (!k)
		return -ENOMEM;
	if (!(f = fopen("/proc/kallsyms", "re"))) {
		ret = -errno;
		goto cleanup;
	}
	if ((ret = add_string(&k->strings, &slen, &scap, "[kernel]", &kernel_at)))
		goto cleanup;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long addr;
		char type, name[256], mod[128];
		int nf = sscanf(line, "%llx %c %255s [%127[^]]]", &addr, &type, name, mod);
		struct ksym *s;

		if (nf < 3 || !addr || (type != 't' && type != 'T' && type != 'w' && type != 'W'))
			continue;
		if (k->n == cap) {
			struct ksym *nv = realloc(k->v, (cap = cap ? cap * 2 : 65536) * sizeof(*nv));

			if (!nv) {
				ret = -ENOMEM;
				goto cleanup;
			}
			k->v = nv;
		}
		s = &k->v[k->n];
		s->addr = addr;
		s->order = k->n;
		s->module = kernel_at;
		if ((ret = add_string(&k->strings, &slen, &scap, name, &s->name)))
			goto cleanup;
		if (nf == 4) {
			char bracketed[132];

			snprintf(bracketed, sizeof(bracketed), "[%s]", mod);
			if ((ret = add_string(&k->strings, &slen, &scap, bracketed, &s->module)))
				goto cleanup;
		}
		k->n++;
	}
	if (!k->n) {
		ret = -EPERM; /* every address hidden (kptr_restrict) */
		goto cleanup;
	}
	qsort(k->v, k->n, sizeof(*k->v), ksym_cmp);
cleanup:
	if (f)
		fclose(f);
	if (ret) {
		ls_kallsyms_free(k);
		k = NULL;
	}
	*out = k;
	return ret;
}

void ls_kallsyms_free(struct ls_kallsyms *k)
{
	if (!k)
		return;
	free(k->v);
	free(k->strings);
	free(k);
}

int ls_kallsyms_lookup(const struct ls_kallsyms *k, uint64_t addr, const char **name, uint64_t *start, const char **module)
{
	size_t lo = 0, hi = k->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (k->v[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return -ENOENT;
	/* Aliases share an address: the first listed names it. */
	while (lo > 1 && k->v[lo - 2].addr == k->v[lo - 1].addr)
		lo--;
	*name = k->strings + k->v[lo - 1].name;
	*module = k->strings + k->v[lo - 1].module;
	*start = k->v[lo - 1].addr;
	return 0;
}
