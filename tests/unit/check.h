/*
 * The unit tests' one check: prints "ok - WHAT" or "not ok - WHAT" and counts
 * failures; a test's main returns failures ? 1 : 0. tests/run.sh counts the
 * "ok - " lines.
 */
#ifndef LS_TEST_CHECK_H
#define LS_TEST_CHECK_H

#include <stdio.h>

static int failures;

#define CHECK(cond, ...)                                \
	do {                                            \
		if (cond) {                             \
			printf("ok - ");                \
		} else {                                \
			printf("not ok - ");            \
			failures++;                     \
		}                                       \
		printf(__VA_ARGS__);                    \
		putchar('\n');                          \
	} while (0)

#endif
