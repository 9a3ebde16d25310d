/*
 * symbolizer/gopclntab against independent readers of the same binary: the
 * example Go gRPC server's .symtab (names, entries, sizes) and its DWARF line
 * tables with inlining, as binutils' addr2line -i reads them. The stripped
 * build (-s -w: no .symtab, no DWARF) must name every function the same.
 */
#include "gopclntab.h"

#include <gelf.h>
#include <libelf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "check.h"

#define BIN "build/examples/gogrpc-server"
#define STRIPPED "build/examples/gogrpc-server-stripped"



struct sym { char *name; uint64_t addr, size; };

static struct sym *read_symtab(const char *path, size_t *n)
{
	struct sym *v = NULL;
	size_t cap = 0;
	Elf_Scn *scn = NULL;
	Elf *e;
	int fd;

	*n = 0;
	elf_version(EV_CURRENT);
	fd = open(path, O_RDONLY);
	if (fd < 0 || !(e = elf_begin(fd, ELF_C_READ, NULL))) {
		perror(path);
		exit(1);
	}
	while ((scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_SYMTAB || !(d = elf_getdata(scn, NULL)))
			continue;
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym s;

			if (!gelf_getsym(d, (int)i, &s) || GELF_ST_TYPE(s.st_info) != STT_FUNC || !s.st_size)
				continue;
			if (*n == cap) {
				cap = cap ? cap * 2 : 4096;
				v = realloc(v, cap * sizeof(*v));
			}
			v[*n].name = strdup(elf_strptr(e, sh.sh_link, s.st_name));
			v[*n].addr = s.st_value;
			v[*n].size = s.st_size;
			(*n)++;
		}
	}
	elf_end(e);
	close(fd);
	return v;
}

/*
 * .symtab's spelling of a Go function as .gopclntab spells it: assembly
 * functions lose their ".abi0" ABI suffix, generic instantiations show their
 * type arguments as "...".
 */
static void normalize(const char *in, char *out, size_t len)
{
	size_t o = 0;
	int depth = 0;

	for (const char *s = in; *s && o + 4 < len; s++) {
		if (*s == '[') {
			if (!depth++) {
				memcpy(out + o, "[...", 4);
				o += 4;
			}
		} else if (*s == ']') {
			if (!--depth)
				out[o++] = ']';
		} else if (!depth) {
			out[o++] = *s;
		}
	}
	out[o] = 0;
	if (o > 5 && !strcmp(out + o - 5, ".abi0"))
		out[o - 5] = 0;
}

/* The linker writes .symtab's names with "." where the compiler wrote a middle dot. */
static void middot_to_dot(const char *in, char *out, size_t len)
{
	size_t o = 0;

	for (const char *s = in; *s && o + 1 < len; s++) {
		if ((unsigned char)s[0] == 0xc2 && (unsigned char)s[1] == 0xb7) {
			out[o++] = '.';
			s++;
		} else {
			out[o++] = *s;
		}
	}
	out[o] = 0;
}

static void check_symbols(const char *path, const struct sym *syms, size_t nsyms)
{
	char err[LS_GOPCLN_ERR_LEN];
	struct ls_gopcln *p;
	size_t go = 0, same = 0, found = 0, other = 0;

	CHECK(ls_gopcln_open(path, &p, err) == 0, "%s: %s", path, err);
	if (!p)
		return;
	CHECK(!strcmp(ls_gopcln_layout(p), "go1.18"), "%s: layout %s, Go 1.19 writes the go1.18 layout", path,
	      ls_gopcln_layout(p));
	for (size_t i = 0; i < nsyms; i++) {
		struct ls_gopcln_func f, g;
		char want[1024], have[1024];

		/* The C code cgo links in ("runtime/cgo(.text)") is not in Go's table. */
		if (strstr(syms[i].name, "(.text") || ls_gopcln_func_at(p, syms[i].addr, &f) || f.entry != syms[i].addr) {
			other++;
			continue;
		}
		go++;
		normalize(syms[i].name, want, sizeof(want));
		middot_to_dot(f.name, have, sizeof(have));
		if (!strcmp(have, want) && f.end >= syms[i].addr + syms[i].size)
			same++;
		else if (getenv("GOPCLN_DEBUG"))
			fprintf(stderr, "%s: .symtab %s at 0x%llx, .gopclntab %s\n", path, syms[i].name,
				(unsigned long long)syms[i].addr, f.name);
		/* By name: the first function of that name (wrappers share their target's). */
		found += ls_gopcln_find(p, f.name, &g) == 0 && !strcmp(g.name, f.name) &&
			 ls_gopcln_func_at(p, g.entry, &g) == 0;
	}
	printf("%s: %zu functions in .gopclntab; of .symtab's, %zu Go functions at the same entry, "
	       "%zu named the same, %zu found by name; %zu others (C code)\n",
	       path, ls_gopcln_count(p), go, same, found, other);
	CHECK(ls_gopcln_count(p) > 5000 && go + 10 >= ls_gopcln_count(p) && same == go && found == go && other < 20,
	      "%s: %zu functions; %zu Go .symtab functions at their entry, %zu named the same, %zu found by name",
	      path, ls_gopcln_count(p), go, same, found);
	CHECK(ls_gopcln_func_at(p, 0x1000, &(struct ls_gopcln_func){ 0 }) == -ENOENT, "pc below .text names a function");
	ls_gopcln_free(p);
}

/* file:line chains at sample pcs, against addr2line -i on the DWARF of the unstripped build. */
static void check_lines(const struct sym *syms, size_t nsyms)
{
	char err[LS_GOPCLN_ERR_LEN], cmd[256], line[4096];
	struct ls_gopcln *p;
	FILE *in, *out;
	size_t npc = 0, agree = 0, inl = 0, asm_pcs = 0;
	uint64_t *pcs;
	char (*want)[1024];
	int fd[2];

	if (ls_gopcln_open(STRIPPED, &p, err)) {
		CHECK(0, "%s: %s", STRIPPED, err);
		return;
	}
	pcs = calloc(nsyms, sizeof(*pcs));
	want = calloc(nsyms, sizeof(*want));
	/* One pc a third of the way into every 7th function: enough inlined code to exercise the tree. */
	for (size_t i = 0; i < nsyms; i += 7)
		if (!ls_gopcln_func_at(p, syms[i].addr, &(struct ls_gopcln_func){ 0 }))
			pcs[npc++] = syms[i].addr + syms[i].size / 3;
	snprintf(cmd, sizeof(cmd), "addr2line -a -i -e %s < %s", BIN, "build/tests/gopclntab.pcs");
	out = fopen("build/tests/gopclntab.pcs", "w");
	for (size_t i = 0; i < npc; i++)
		fprintf(out, "0x%llx\n", (unsigned long long)pcs[i]);
	fclose(out);
	(void)fd;
	in = popen(cmd, "r");
	CHECK(in != NULL, "addr2line: %s", strerror(errno));
	for (ssize_t k = -1; in && fgets(line, sizeof(line), in);) {
		line[strcspn(line, "\n")] = 0;
		if (!strncmp(line, "0x", 2)) {
			k++;
			continue;
		}
		/* DWARF spells the compiler's wrappers' file "./<autogenerated>". */
		if (!strncmp(line, "./", 2))
			memmove(line, line + 2, strlen(line + 2) + 1);
		if (k >= 0 && (size_t)k < npc && strlen(want[k]) + strlen(line) + 2 < sizeof(want[k])) {
			strcat(want[k], line);
			strcat(want[k], ";");
		}
	}
	if (in)
		pclose(in);
	for (size_t i = 0; i < npc; i++) {
		struct ls_gopcln_frame fr[32];
		char got[1024] = "";
		size_t n;

		ls_gopcln_frames(p, pcs[i], fr, 32, &n);
		for (size_t j = 0; j < n; j++) {
			char one[512];

			snprintf(one, sizeof(one), "%s:%d;", fr[j].file, fr[j].line);
			if (strlen(got) + strlen(one) < sizeof(got))
				strcat(got, one);
		}
		/* Assembly functions have no DWARF lines: nothing to compare. */
		if (strstr(want[i], ":?")) {
			asm_pcs++;
			continue;
		}
		inl += n > 1;
		/*
		 * A method wrapper the compiler generated around an inlined body has
		 * no DWARF subprogram of its own: addr2line omits that outermost
		 * frame, pclntab has it (Go's own tracebacks show it).
		 */
		size_t wl = strlen(want[i]);
		if (!strcmp(got, want[i]) ||
		    (!strncmp(got, want[i], wl) && !strcmp(got + wl, "<autogenerated>:1;")))
			agree++;
		else if (getenv("GOPCLN_DEBUG"))
			fprintf(stderr, "pc 0x%llx: pclntab %s, DWARF %s\n", (unsigned long long)pcs[i], got, want[i]);
	}
	printf("%zu sample pcs (%zu in assembly, without DWARF lines): %zu with inlined frames; "
	       "file:line chain equal to DWARF's for %zu\n", npc, asm_pcs, inl, agree);
	/*
	 * Both come from the compiler's positions. Where they differ (a handful
	 * of nested inlined wrappers, printed with GOPCLN_DEBUG=1), pclntab's
	 * chain is the one Go's own tracebacks print.
	 */
	CHECK(npc > 1000 && inl > 50 && agree * 1000 >= (npc - asm_pcs) * 995, "%zu of %zu pcs agree with DWARF (%zu inlined)",
	      agree, npc - asm_pcs, inl);
	free(pcs);
	free(want);
	ls_gopcln_free(p);
}

int main(void)
{
	char err[LS_GOPCLN_ERR_LEN];
	struct ls_gopcln *p = NULL;
	size_t nsyms;
	struct sym *syms = read_symtab(BIN, &nsyms);

	CHECK(nsyms > 5000, "%s: only %zu .symtab functions", BIN, nsyms);
	check_symbols(BIN, syms, nsyms);
	check_symbols(STRIPPED, syms, nsyms);
	check_lines(syms, nsyms);
	CHECK(ls_gopcln_open("build/latscope", &p, err) == -ENOENT && strstr(err, "no Go function table"),
	      "a C binary: %s", err);
	CHECK(ls_gopcln_open("/nonexistent", &p, err) == -ENOENT && strstr(err, "/nonexistent"), "missing file: %s",
	      err);
	ls_gopcln_free(NULL);
	for (size_t i = 0; i < nsyms; i++)
		free(syms[i].name);
	free(syms);
	if (failures)
		return 1;
	printf("ok - gopclntab: names, entries, pcs, file:line and inlined frames agree with .symtab and DWARF\n");
	return 0;
}
