/*
 * libFuzzer target for symbolizer/gopclntab: a Go executable's function table
 * (Go 1.16, 1.18 and 1.20 layouts), found by section name or by scanning the
 * read-only segments, and everything read from it: functions by index, name
 * and pc, line tables, inline trees. The input is a whole ELF file, a mutated
 * real Go binary. Every name and file returned must be a readable string.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "gopclntab.h"
#include "fuzz_file.h"

#define PROBES 16

static void check_func(const struct ls_gopcln_func *f)
{
	fuzz_touch(f->name, strlen(f->name) + 1);
}

static void at_pc(const struct ls_gopcln *p, uint64_t pc)
{
	struct ls_gopcln_frame frames[8];
	struct ls_gopcln_func f;
	const char *file;
	size_t n;
	int line;

	if (ls_gopcln_func_at(p, pc, &f) == 0)
		check_func(&f);
	if (ls_gopcln_line(p, pc, &file, &line) == 0)
		fuzz_touch(file, strlen(file) + 1);
	/* A short array too: the frames are cut, never written past it. Unwritten frames would show as wild pointers. */
	memset(frames, 0xa5, sizeof(frames));
	if (ls_gopcln_frames(p, pc, frames, (pc & 1) ? 2 : 8, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			fuzz_touch(frames[i].name, strlen(frames[i].name) + 1);
			fuzz_touch(frames[i].file, strlen(frames[i].file) + 1);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *path = fuzz_file(data, size);
	struct ls_gopcln *p;
	char err[LS_GOPCLN_ERR_LEN];
	size_t n;

	if (ls_gopcln_open(path, &p, err)) {
		fuzz_touch(err, strlen(err));
		return 0;
	}
	fuzz_touch(ls_gopcln_layout(p), strlen(ls_gopcln_layout(p)));
	n = ls_gopcln_count(p);
	/* Functions spread over the table: each by index, by name, and at pcs in and around it. */
	for (size_t k = 0; k < PROBES && n; k++) {
		size_t i = k < PROBES / 2 ? k : (n - 1) * (k - PROBES / 2 + 1) / (PROBES / 2);
		struct ls_gopcln_func f, g;

		if (ls_gopcln_func(p, i, &f))
			continue;
		check_func(&f);
		if (k % 4 == 0 && ls_gopcln_find(p, f.name, &g) == 0)
			check_func(&g);
		at_pc(p, f.entry);
		at_pc(p, f.entry + (f.end - f.entry) / 2);
		at_pc(p, f.end - 1);
		at_pc(p, f.end);
	}
	{
		struct ls_gopcln_func f;

		if (ls_gopcln_func(p, n, &f) == 0)
			abort(); /* past the last function */
		/* A name no function has: a walk of the whole table. */
		if (ls_gopcln_find(p, "fuzz.(*none).Missing", &f) == 0)
			check_func(&f);
	}
	at_pc(p, 0);
	at_pc(p, UINT64_MAX);
	ls_gopcln_free(p);
	return 0;
}
