/*
 * The limits DESIGN.md states are the code's: every map of the BPF object has a
 * row in lib/limits.c and one in DESIGN.md's "Limits" table with its capacity as
 * the object declares it, and every user-space bound its row with its value.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "bounds.h"
#include "latscope.skel.h"
#include "check.h"

static char *design;
static const char *section; /* from "## Limits" on */

/* DESIGN.md beside the build directory this test runs from (build/tests/test_bounds). */
static int read_design(void)
{
	char exe[PATH_MAX], path[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	FILE *f;
	long len;

	if (n <= 0)
		return -1;
	exe[n] = '\0';
	for (int up = 0; up < 3; up++) {
		char *slash = strrchr(exe, '/');

		if (!slash)
			return -1;
		*slash = '\0';
	}
	snprintf(path, sizeof(path), "%s/DESIGN.md", exe);
	f = fopen(path, "r");
	if (!f)
		return -1;
	fseek(f, 0, SEEK_END);
	len = ftell(f);
	rewind(f);
	design = calloc(1, (size_t)len + 1);
	if (!design || fread(design, 1, (size_t)len, f) != (size_t)len) {
		fclose(f);
		return -1;
	}
	fclose(f);
	return 0;
}

/* The number in the capacity column of the row "| `name` | N ..." (-1: no such row). */
static long long design_capacity(const char *name)
{
	char head[128];
	const char *p;

	snprintf(head, sizeof(head), "\n| `%s` | ", name);
	p = strstr(section, head);
	if (!p)
		return -1;
	p += strlen(head);
	return strtoll(p, NULL, 10);
}

int main(void)
{
	struct latscope_bpf *skel = latscope_bpf__open();
	const struct ls_map_limit *ml;
	const struct ls_user_limit *ul;
	struct bpf_map *m;
	size_t n, nmaps = 0;
	int bad = 0;

	CHECK(read_design() == 0, "DESIGN.md read");
	CHECK(skel != NULL, "the BPF object opens (not loaded)");
	if (!design || !skel)
		return 1;
	section = strstr(design, "\n## Limits");
	CHECK(section != NULL, "DESIGN.md has a Limits section");
	if (!section)
		return 1;
	bpf_object__for_each_map(m, skel->obj) {
		const char *name = bpf_map__name(m);
		long long cap;

		if (strchr(name, '.'))
			continue;
		nmaps++;
		cap = design_capacity(name);
		if (!ls_map_limit(name)) {
			printf("# %s: no row in lib/limits.c\n", name);
			bad++;
		}
		if (cap != (long long)bpf_map__max_entries(m)) {
			printf("# %s: DESIGN.md says %lld, the object %u\n", name, cap, bpf_map__max_entries(m));
			bad++;
		}
	}
	CHECK(nmaps > 20 && bad == 0, "each of the %zu maps has its policy and its capacity in DESIGN.md (%d wrong)", nmaps,
	      bad);
	bad = 0;
	ml = ls_map_limits(&n);
	for (size_t i = 0; i < n; i++) {
		if (!bpf_object__find_map_by_name(skel->obj, ml[i].map)) {
			printf("# %s: a row for a map the object does not have\n", ml[i].map);
			bad++;
		}
	}
	CHECK(bad == 0, "no policy row names a map that is gone (%d stale)", bad);
	bad = 0;
	ul = ls_user_limits(&n);
	for (size_t i = 0; i < n; i++) {
		long long cap = design_capacity(ul[i].table);

		if (cap != (long long)ul[i].capacity) {
			printf("# user table %s: DESIGN.md says %lld, the code %llu\n", ul[i].table, cap,
			       (unsigned long long)ul[i].capacity);
			bad++;
		}
	}
	CHECK(n > 0 && bad == 0, "each of the %zu user-space bounds is in DESIGN.md with its value (%d wrong)", n, bad);
	latscope_bpf__destroy(skel);
	free(design);
	return failures ? 1 : 0;
}
