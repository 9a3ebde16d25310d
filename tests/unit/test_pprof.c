/*
 * The pprof writer: a small fixed profile encodes to fixed bytes (the golden
 * file tests/unit/pprof_golden.hex, checked field by field with
 * `protoc --decode_raw`), and the gzipped file inflates back to those bytes.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "pprof.h"
#include "check.h"



static struct ls_pprof *small_profile(void)
{
	struct ls_pprof_opts o = {
		.sz = sizeof(o), .ntypes = 2, .types = { "samples", "cpu" }, .units = { "count", "nanoseconds" },
		.period_type = "cpu", .period_unit = "nanoseconds", .period = 10101010,
		.time_nanos = 1764612000000000000, .duration_nanos = 2000000000, .default_type = 1,
	};
	struct ls_pprof_line inl[2] = { { "spin", "/src/a.c", 12 }, { "worker", "/src/a.c", 40 } };
	struct ls_pprof_line mainl = { "main", "/src/a.c", 55 }, kern = { "do_syscall_64", NULL, 0 };
	struct ls_pprof *p;
	uint64_t m1, m2, l1, l2, l3, s1[3], s2[2];
	const char *labels[4] = { "phase", "app", "slow", NULL };
	int64_t v1[2] = { 3, 30303030 }, v2[2] = { 1, 10101010 };

	if (ls_pprof_new(&o, &p))
		return NULL;
	m1 = ls_pprof_mapping(p, 0x400000, 0x401000, 0x1000, "/bin/a", "0a1b2c");
	m2 = ls_pprof_mapping(p, 0xffff800000000000ull, ~0ull, 0, "[kernel]", "");
	l1 = ls_pprof_location(p, m1, 0x400123, inl, 2);
	l2 = ls_pprof_location(p, m1, 0x400456, &mainl, 1);
	l3 = ls_pprof_location(p, m2, 0xffffffff81000010ull, &kern, 1);
	CHECK(m1 == 1 && m2 == 2 && l1 == 1 && l2 == 2 && l3 == 3, "ids in order of first use");
	CHECK(ls_pprof_mapping(p, 0x400000, 0x401000, 0x1000, "/bin/a", "0a1b2c") == m1 &&
	      ls_pprof_location(p, m1, 0x400123, inl, 2) == l1, "a repeated mapping or location keeps its id");
	s1[0] = l3, s1[1] = l1, s1[2] = l2;
	s2[0] = l1, s2[1] = l2;
	if (ls_pprof_sample(p, s1, 3, v1, labels, 2) || ls_pprof_sample(p, s2, 2, v2, labels, 2)) {
		ls_pprof_free(p);
		return NULL;
	}
	return p;
}

static char *hex(const uint8_t *b, size_t n)
{
	char *s = malloc(2 * n + 1);

	for (size_t i = 0; s && i < n; i++)
		sprintf(s + 2 * i, "%02x", b[i]);
	if (s)
		s[2 * n] = '\0';
	return s;
}

int main(int argc, char **argv)
{
	const char *golden_path = argc > 1 ? argv[1] : "tests/unit/pprof_golden.hex";
	struct ls_pprof *p = small_profile();
	uint8_t *raw = NULL, back[4096];
	size_t len = 0;
	char golden[8192] = "", *got;
	FILE *f;
	gzFile gz;
	int n;

	CHECK(p != NULL, "a small profile builds");
	if (!p)
		return 1;
	CHECK(ls_pprof_encode(p, &raw, &len) == 0 && len > 0, "encodes (%zu bytes)", len);
	got = hex(raw, len);
	f = fopen(golden_path, "r");
	if (f) {
		if (!fgets(golden, sizeof(golden), f))
			golden[0] = '\0';
		golden[strcspn(golden, "\n")] = '\0';
		fclose(f);
	}
	CHECK(golden[0] && got && !strcmp(golden, got), "bytes equal the golden file %s", golden_path);
	if (!got || strcmp(golden, got))
		printf("# got      %s\n# expected %s\n", got ? got : "?", golden);
	/* The first field by hand: sample_type {type: "samples" (1), unit: "count" (2)}. */
	CHECK(len > 6 && !memcmp(raw, "\x0a\x04\x08\x01\x10\x02", 6), "starts with sample_type samples/count");

	f = tmpfile();
	CHECK(f && ls_pprof_write(p, f) == 0 && fflush(f) == 0, "writes gzip");
	if (f) {
		gz = gzdopen(dup(fileno(f)), "rb");
		gzrewind(gz);
		lseek(fileno(f), 0, SEEK_SET);
		n = gz ? gzread(gz, back, sizeof(back)) : -1;
		CHECK(n == (int)len && !memcmp(back, raw, len), "gunzips to the same %zu bytes", len);
		if (gz)
			gzclose(gz);
		fclose(f);
	}
	free(got);
	free(raw);
	ls_pprof_free(p);
	ls_pprof_free(NULL);
	return failures ? 1 : 0;
}
