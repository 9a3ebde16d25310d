/*
 * The JIT symbol map parser: the perf map format as Node.js and Java agents
 * write it, replaced code (the latest entry wins), and what strangers may
 * write: bad lines counted, names cut and cleaned.
 */
#include <stdlib.h>
#include <string.h>

#include "perfmap.h"
#include "check.h"

static struct ls_perfmap *parse(const char *text)
{
	struct ls_perfmap *pm = NULL;

	if (ls_perfmap_parse(text, strlen(text), &pm))
		abort();
	return pm;
}

static const char *name_at(const struct ls_perfmap *pm, uint64_t addr)
{
	uint64_t start;
	const char *n = ls_perfmap_lookup(pm, addr, &start);

	return n ? n : "(none)";
}

int main(void)
{
	struct ls_perfmap *pm;
	char big[LS_PERFMAP_NAME + 64];
	uint64_t start = 0;

	pm = parse("7f0000001000 100 JS:*burnTheCpu /srv/burn.js:6:20\n"
		   "0x7f0000002000 0x40 LazyCompile:~tick\r\n"
		   "7f0000003000 20 Interpreter\n");
	CHECK(ls_perfmap_count(pm) == 3 && ls_perfmap_bad(pm) == 0, "three entries, none bad (%zu, %zu)",
	      ls_perfmap_count(pm), ls_perfmap_bad(pm));
	CHECK(!strcmp(name_at(pm, 0x7f0000001080), "JS:*burnTheCpu /srv/burn.js:6:20"), "a name with spaces, whole");
	CHECK(ls_perfmap_lookup(pm, 0x7f00000010ff, &start) && start == 0x7f0000001000, "the last byte, and its start");
	CHECK(!ls_perfmap_lookup(pm, 0x7f0000001100, &start), "one past the end: none");
	CHECK(!strcmp(name_at(pm, 0x7f0000002000), "LazyCompile:~tick"), "0x prefixes, CRLF line end dropped");
	CHECK(!ls_perfmap_lookup(pm, 0x7f0000000fff, &start), "below the first entry: none");
	ls_perfmap_free(pm);

	/* Code replaced at one address, and a later, wider entry over an older one. */
	pm = parse("1000 100 old\n1000 100 new\n1040 10 inner\n1000 200 outer-later\n");
	CHECK(!strcmp(name_at(pm, 0x1000), "outer-later"), "the latest entry at one start wins (%s)", name_at(pm, 0x1000));
	CHECK(!strcmp(name_at(pm, 0x1044), "outer-later"), "a later overlapping entry wins over an older inner one (%s)",
	      name_at(pm, 0x1044));
	CHECK(!strcmp(name_at(pm, 0x11f0), "outer-later"), "inside the wider one only");
	ls_perfmap_free(pm);

	pm = parse("zz 10 bad\n1000 0 empty\nffffffffffffffff 2 wraps\n2000 10\n12345678901234567 1 long\n"
		   "3000 10 ctl\001\033[31m\n4000\t8\ttabs\tinside\n");
	CHECK(ls_perfmap_count(pm) == 2 && ls_perfmap_bad(pm) == 5, "malformed, empty, wrapping, nameless, too long: "
	      "5 bad, 2 kept (%zu, %zu)", ls_perfmap_bad(pm), ls_perfmap_count(pm));
	CHECK(!strcmp(name_at(pm, 0x3000), "ctl??[31m"), "control characters replaced (%s)", name_at(pm, 0x3000));
	CHECK(!strcmp(name_at(pm, 0x4004), "tabs?inside"), "tabs separate fields; inside a name they are replaced too");
	ls_perfmap_free(pm);

	memset(big, 'x', sizeof(big) - 1);
	memcpy(big, "1000 10 ", 8);
	big[sizeof(big) - 1] = '\0';
	pm = parse(big);
	CHECK(strlen(name_at(pm, 0x1000)) == LS_PERFMAP_NAME, "a long name cut at %d bytes", LS_PERFMAP_NAME);
	ls_perfmap_free(pm);

	pm = parse("");
	CHECK(ls_perfmap_count(pm) == 0 && !ls_perfmap_lookup(pm, 0, &start), "an empty map answers nothing");
	ls_perfmap_free(pm);
	return failures ? 1 : 0;
}
