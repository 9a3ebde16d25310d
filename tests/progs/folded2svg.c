/*
 * folded stacks (stdin) -> SVG flame graph (stdout) through the same code
 * `latscope record` uses, so a test can hold one recorded profile's folded
 * counts against the frames drawn from them.
 */
#include "profile.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void)
{
	struct profile p = { 0 };
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;
	int ret = 1;

	while ((len = getline(&line, &cap, stdin)) > 0) {
		char *sp = strrchr(line, ' ');
		struct profile_line *nv;

		if (!sp)
			continue;
		*sp = '\0';
		if (p.n == p.cap) {
			p.cap = p.cap ? p.cap * 2 : 256;
			nv = realloc(p.v, p.cap * sizeof(*nv));
			if (!nv)
				goto cleanup;
			p.v = nv;
		}
		p.v[p.n].value = strtoull(sp + 1, NULL, 10);
		p.v[p.n].stack = strdup(line);
		if (!p.v[p.n].stack)
			goto cleanup;
		p.n++;
	}
	profile_merge(&p);
	ret = profile_write_svg(stdout, &p, "folded2svg", "", "samples") ? 1 : 0;
cleanup:
	free(line);
	profile_clear(&p);
	return ret;
}
