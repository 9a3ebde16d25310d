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
		char *sp = strrchr(line, ' '), *stack;

		if (!sp)
			continue;
		*sp = '\0';
		stack = strdup(line);
		if (!stack || profile_add_line(&p, stack, strtoull(sp + 1, NULL, 10)))
			goto cleanup;
	}
	profile_merge(&p);
	ret = profile_write_svg(stdout, &p, "folded2svg", "", "samples") ? 1 : 0;
cleanup:
	free(line);
	profile_clear(&p);
	return ret;
}
