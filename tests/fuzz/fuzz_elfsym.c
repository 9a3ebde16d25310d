/*
 * libFuzzer target for lib/elfsym (symbol tables, versioned and pattern
 * look-ups, file offsets, code bytes, the Go build info and, for a stripped Go
 * binary, .gopclntab) and what reads through it: lib/gofunc (a Go function's
 * stack check and RET sites, disassembled from the file) and lib/gooffsets
 * (struct offsets from a Go binary's DWARF, or from its build info's
 * versions). The input is a whole ELF file, a mutated real one.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <gelf.h>
#include <libelf.h>

#include "elfsym.h"
#include "gofunc.h"
#include "gooffsets.h"
#include "util.h"
#include "fuzz_file.h"

#define MAX_NAMES 24

/* Names of up to MAX_NAMES function symbols, spread over the file's tables (read with libelf, not elfsym). */
static size_t pick_names(Elf *elf, const char **names)
{
	Elf_Scn *scn = NULL;
	size_t n = 0;

	while ((scn = elf_nextscn(elf, scn)) && n < MAX_NAMES) {
		GElf_Shdr sh;
		Elf_Data *d;
		size_t count, step;

		if (!gelf_getshdr(scn, &sh) || (sh.sh_type != SHT_SYMTAB && sh.sh_type != SHT_DYNSYM) ||
		    !sh.sh_entsize || !(d = elf_getdata(scn, NULL)))
			continue;
		count = sh.sh_size / sh.sh_entsize;
		step = count / (MAX_NAMES / 2) + 1;
		for (size_t i = 1; i < count && n < MAX_NAMES; i += step) {
			GElf_Sym s;
			const char *name;

			if (gelf_getsym(d, (int)i, &s) && (name = elf_strptr(elf, sh.sh_link, s.st_name)) && *name)
				names[n++] = name;
		}
	}
	return n;
}

static void look_up(struct ls_elf *e, const char *name, int go)
{
	struct ls_elf_sym sym;
	uint64_t off, start, size;
	char key[600];

	if (ls_elf_find(e, name, &sym))
		return;
	fuzz_touch(sym.name, strlen(sym.name));
	ls_elf_offset(e, sym.vaddr, &off);
	fuzz_touch(ls_elf_code(e, sym.vaddr, 16), 16);
	if (sym.size && sym.size < 4096)
		fuzz_touch(ls_elf_code(e, sym.vaddr, sym.size), sym.size);
	if (ls_elf_func_at(e, sym.vaddr + sym.size / 2, &start, &size) == 0)
		fuzz_touch(ls_elf_code(e, start, size < 256 ? size : 256), size < 256 ? size : 256);
	if (go) {
		struct ls_go_func gf;
		char err[LS_ERR_LEN];

		ls_go_func(e, sym.vaddr, sym.size, &gf, err);
	}
	/* The same name with a version suffix, and as a pattern. */
	snprintf(key, sizeof(key), "%s@@VERS_1.0", name);
	ls_elf_find(e, key, &sym);
	snprintf(key, sizeof(key), "%.3s*", name);
	ls_elf_find(e, key, &sym);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const fixed[] = { "main.main", "runtime.main", "crypto/tls.(*Conn).Read", "SSL_read",
					     "SSL_write@OPENSSL_3.0.0", "nghttp2_session_mem_recv", "*", "" };
	const char *path = fuzz_file(data, size), *names[MAX_NAMES];
	struct ls_elf *e;
	char err[LS_ERR_LEN], buf[64];
	size_t n;
	int go;

	if (ls_elf_open(path, &e, err))
		return 0;
	go = ls_elf_is_go(e);
	ls_elf_has_symtab(e);
	ls_elf_has_dynsym(e);
	ls_elf_has_gopclntab(e);
	n = pick_names(ls_elf_handle(e), names);
	for (size_t i = 0; i < n; i++)
		look_up(e, names[i], go && i < 4);
	for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
		look_up(e, fixed[i], go && i < 2);
	if (ls_elf_go_version(e, buf, sizeof(buf)) == 0)
		fuzz_touch(buf, strlen(buf));
	if (ls_elf_go_dep_version(e, "google.golang.org/grpc", buf, sizeof(buf)) == 0)
		fuzz_touch(buf, strlen(buf));
	if (go) {
		struct ls_go_offsets off;
		char source[128];

		ls_go_offsets(path, e, &off, source, sizeof(source), err);
	}
	ls_elf_free(e);
	return 0;
}
