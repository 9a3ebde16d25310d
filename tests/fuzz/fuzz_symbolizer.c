/*
 * libFuzzer target for the symbolizer on an ELF file (as addr2line -e): the
 * object's segments, build-id, symbol table, DWARF (line tables, function
 * scopes, inline chains, through libdw) or, for a stripped Go binary, its
 * .gopclntab, and C++ demangling. Every result must point to readable
 * strings, and a second batch on the same handle reuses what the first built.
 *
 * Input: a flags byte (bit 0: no DWARF; bits 1-2: how the addresses were
 * taken), a count byte (its low 4 bits), that many little-endian 64-bit
 * addresses, then the ELF file.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <libelf.h>

#include "symbolizer.h"
#include "fuzz_file.h"

/*
 * libelf maps the file for the symbolizer (ELF_C_READ_MMAP): have it read
 * the file into heap buffers instead, where AddressSanitizer sees the
 * symbolizer reading past what libelf handed it.
 */
Elf *__real_elf_begin(int fd, Elf_Cmd cmd, Elf *ref);
Elf *__wrap_elf_begin(int fd, Elf_Cmd cmd, Elf *ref);
Elf *__wrap_elf_begin(int fd, Elf_Cmd cmd, Elf *ref)
{
	return __real_elf_begin(fd, cmd == ELF_C_READ_MMAP ? ELF_C_READ : cmd, ref);
}

static void touch_str(const char *s)
{
	if (s)
		fuzz_touch(s, strlen(s) + 1);
}

static void check(const struct ls_sym_result *r, size_t n)
{
	if (r->n != n)
		abort();
	for (size_t i = 0; i < r->n; i++) {
		const struct ls_sym *s = &r->syms[i];

		if (!s->func && !s->reason)
			abort(); /* every address is resolved or has a reason */
		touch_str(s->func);
		touch_str(s->reason);
		if (s->mapping) {
			touch_str(s->mapping->path);
			touch_str(s->mapping->build_id);
		}
		if (s->nframes && (!s->frames || !s->func))
			abort();
		for (size_t k = 0; k < s->nframes; k++) {
			if (!s->frames[k].func)
				abort();
			touch_str(s->frames[k].func);
			touch_str(s->frames[k].file);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum ls_sym_addr_kind kinds[] = { LS_SYM_ADDR_EXACT, LS_SYM_ADDR_RETURN, LS_SYM_ADDR_STACK,
						       LS_SYM_ADDR_EXACT };
	struct ls_symbolizer_opts o = { .sz = sizeof(o), .debug_dir = "/nonexistent/latscope-fuzz" };
	struct ls_sym_src src = { .kind = LS_SYM_SRC_ELF };
	struct ls_symbolizer *s;
	struct ls_sym_result *r;
	uint64_t addrs[2 * 15];
	size_t n;
	uint8_t flags;

	if (size < 2)
		return 0;
	flags = data[0];
	n = data[1] & 15;
	if (size < 2 + 8 * n)
		return 0;
	memcpy(addrs, data + 2, 8 * n);
	data += 2 + 8 * n;
	size -= 2 + 8 * n;
	/* The second batch: each address again, and the byte after it. */
	for (size_t i = 0; i < n; i++)
		addrs[n + i] = addrs[i] + 1;
	o.no_dwarf = flags & 1;
	src.path = fuzz_file(data, size);
	if (ls_symbolizer_new(&o, &s))
		return 0;
	if (ls_symbolize(s, &src, addrs, n, kinds[(flags >> 1) & 3], &r) == 0) {
		check(r, n);
		ls_sym_result_free(r);
		if (ls_symbolize(s, &src, addrs, 2 * n, LS_SYM_ADDR_STACK, &r) == 0) {
			check(r, 2 * n);
			ls_sym_result_free(r);
		}
	} else {
		touch_str(ls_symbolizer_error(s));
	}
	ls_symbolizer_free(s);
	return 0;
}
