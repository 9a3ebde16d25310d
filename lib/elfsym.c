#include "elfsym.h"
#include "gopclntab.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <gelf.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

struct elf_fn {
	const char *name; /* points into the mapped string table */
	uint64_t vaddr;
	uint64_t size;
	int from_symtab;
};

struct ls_load {
	uint64_t vaddr, memsz, offset, filesz;
};

struct ls_elf {
	int fd;
	void *map;
	size_t map_len;
	Elf *elf;
	struct elf_fn *fns;
	size_t nfns;
	struct elf_fn *by_addr;   /* the sized functions, by address */
	size_t nby_addr;
	struct ls_load *loads;
	size_t nloads;
	int has_symtab, has_dynsym, is_go;
	struct ls_gopcln *pcln;  /* Go's function table, for a Go binary without .symtab */
	const char *buildinfo;   /* .go.buildinfo contents, in the mapping */
	size_t buildinfo_len;
};

static int fn_cmp(const void *a, const void *b)
{
	const struct elf_fn *x = a, *y = b;
	int c = strcmp(x->name, y->name);

	if (c)
		return c;
	/* Prefer .symtab (carries sizes of local symbols too), then lower address. */
	if (x->from_symtab != y->from_symtab)
		return y->from_symtab - x->from_symtab;
	return x->vaddr < y->vaddr ? -1 : x->vaddr > y->vaddr;
}

static int addr_cmp(const void *a, const void *b)
{
	const struct elf_fn *x = a, *y = b;

	return x->vaddr < y->vaddr ? -1 : x->vaddr > y->vaddr;
}

static int add_symbols(struct ls_elf *e, Elf_Scn *scn, GElf_Shdr *sh, int symtab, char *err)
{
	Elf_Data *data = elf_getdata(scn, NULL);
	size_t n, i;

	if (!data || sh->sh_entsize == 0)
		return 0;
	n = sh->sh_size / sh->sh_entsize;
	struct elf_fn *nv = realloc(e->fns, (e->nfns + n) * sizeof(*nv));
	if (!nv && n)
		return ls_err(err, ENOMEM, "out of memory");
	e->fns = nv;
	for (i = 0; i < n; i++) {
		GElf_Sym sym;
		const char *name;

		if (!gelf_getsym(data, (int)i, &sym))
			continue;
		if (GELF_ST_TYPE(sym.st_info) != STT_FUNC && GELF_ST_TYPE(sym.st_info) != STT_GNU_IFUNC)
			continue;
		if (sym.st_shndx == SHN_UNDEF || sym.st_value == 0)
			continue;
		name = elf_strptr(e->elf, sh->sh_link, sym.st_name);
		if (!name || !*name)
			continue;
		if (!strcmp(name, "runtime.main") || !strcmp(name, "runtime.goexit"))
			e->is_go = 1;
		e->fns[e->nfns].name = name;
		e->fns[e->nfns].vaddr = sym.st_value;
		e->fns[e->nfns].size = sym.st_size;
		e->fns[e->nfns].from_symtab = symtab;
		e->nfns++;
	}
	return 0;
}

int ls_elf_open(const char *path, struct ls_elf **out, char *err)
{
	struct ls_elf *e;
	Elf_Scn *scn = NULL;
	size_t shstrndx, nph;
	struct stat st;
	int ret = 0;

	*out = NULL;
	e = calloc(1, sizeof(*e));
	if (!e)
		return ls_err(err, ENOMEM, "out of memory");
	e->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (e->fd < 0) {
		ret = ls_err(err, errno, "%s: %s", path, strerror(errno));
		goto cleanup;
	}
	if (fstat(e->fd, &st) < 0 || st.st_size < 64) {
		ret = ls_err(err, ENOEXEC, "%s: not an ELF file", path);
		goto cleanup;
	}
	e->map_len = (size_t)st.st_size;
	e->map = mmap(NULL, e->map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE, e->fd, 0);
	if (e->map == MAP_FAILED) {
		e->map = NULL;
		ret = ls_err(err, errno, "%s: mmap: %s", path, strerror(errno));
		goto cleanup;
	}
	elf_version(EV_CURRENT);
	e->elf = elf_memory(e->map, e->map_len);
	if (!e->elf || elf_kind(e->elf) != ELF_K_ELF || elf_getshdrstrndx(e->elf, &shstrndx) != 0) {
		ret = ls_err(err, ENOEXEC, "%s: not an ELF file", path);
		goto cleanup;
	}
	while ((scn = elf_nextscn(e->elf, scn))) {
		GElf_Shdr sh;
		const char *sname;

		if (!gelf_getshdr(scn, &sh))
			continue;
		sname = elf_strptr(e->elf, shstrndx, sh.sh_name);
		if (sname && (!strcmp(sname, ".go.buildinfo") || !strcmp(sname, ".gopclntab")))
			e->is_go = 1;
		if (sname && !strcmp(sname, ".go.buildinfo") && sh.sh_type != SHT_NOBITS &&
		    sh.sh_offset <= e->map_len && sh.sh_size <= e->map_len - sh.sh_offset) {
			e->buildinfo = (const char *)e->map + sh.sh_offset;
			e->buildinfo_len = sh.sh_size;
		}
		if (sh.sh_type == SHT_SYMTAB || sh.sh_type == SHT_DYNSYM) {
			int symtab = sh.sh_type == SHT_SYMTAB;

			if (symtab)
				e->has_symtab = 1;
			else
				e->has_dynsym = 1;
			ret = add_symbols(e, scn, &sh, symtab, err);
			if (ret)
				goto cleanup;
		}
	}
	if (elf_getphdrnum(e->elf, &nph) == 0 && nph) {
		e->loads = calloc(nph, sizeof(*e->loads));
		if (!e->loads) {
			ret = ls_err(err, ENOMEM, "out of memory");
			goto cleanup;
		}
		for (size_t i = 0; i < nph; i++) {
			GElf_Phdr ph;

			if (!gelf_getphdr(e->elf, (int)i, &ph) || ph.p_type != PT_LOAD)
				continue;
			e->loads[e->nloads++] = (struct ls_load){ ph.p_vaddr, ph.p_memsz, ph.p_offset, ph.p_filesz };
		}
	}
	if (e->nfns)
		qsort(e->fns, e->nfns, sizeof(*e->fns), fn_cmp);
	e->by_addr = calloc(e->nfns ? e->nfns : 1, sizeof(*e->by_addr));
	if (!e->by_addr) {
		ret = ls_err(err, ENOMEM, "out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < e->nfns; i++)
		if (e->fns[i].size)
			e->by_addr[e->nby_addr++] = e->fns[i];
	qsort(e->by_addr, e->nby_addr, sizeof(*e->by_addr), addr_cmp);
	/* A stripped Go binary still names its functions in .gopclntab, which its runtime needs. */
	if (e->is_go && !e->has_symtab) {
		char e2[LS_GOPCLN_ERR_LEN];

		ret = ls_gopcln_open(path, &e->pcln, e2);
		if (ret) {
			ret = ls_err(err, -ret, "%s: stripped Go binary: %s", path, e2);
			goto cleanup;
		}
	}
	*out = e;
	e = NULL;
cleanup:
	ls_elf_free(e);
	return ret;
}

void ls_elf_free(struct ls_elf *e)
{
	if (!e)
		return;
	if (e->elf)
		elf_end(e->elf);
	if (e->map)
		munmap(e->map, e->map_len);
	if (e->fd >= 0)
		close(e->fd);
	free(e->fns);
	free(e->by_addr);
	free(e->loads);
	ls_gopcln_free(e->pcln);
	free(e);
}

static int vaddr_to_offset(const struct ls_elf *e, uint64_t vaddr, uint64_t *off)
{
	for (size_t i = 0; i < e->nloads; i++) {
		const struct ls_load *l = &e->loads[i];

		if (vaddr >= l->vaddr && vaddr < l->vaddr + l->filesz) {
			*off = vaddr - l->vaddr + l->offset;
			return 0;
		}
	}
	return -ENOENT;
}

int ls_elf_find(const struct ls_elf *e, const char *name, struct ls_elf_sym *out)
{
	size_t lo = 0, hi = e->nfns, len = strcspn(name, "@");
	char key[512];

	if (len >= sizeof(key))
		return -ENOENT;
	memcpy(key, name, len);
	key[len] = '\0';
	if (strchr(key, '*')) {
		/* A pattern ('*' for a part that differs between builds): the first match in name order. */
		for (lo = 0; lo < e->nfns; lo++)
			if (fnmatch(key, e->fns[lo].name, 0) == 0)
				break;
	} else {
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;

			if (strcmp(e->fns[mid].name, key) < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
		if (lo < e->nfns && strcmp(e->fns[lo].name, key) != 0)
			lo = e->nfns;
	}
	if (lo >= e->nfns) {
		struct ls_gopcln_func f;

		if (!e->pcln || ls_gopcln_find(e->pcln, key, &f))
			return -ENOENT;
		out->name = f.name;
		out->vaddr = f.entry;
		out->size = f.end - f.entry;
		out->from_symtab = 0;
		out->from_gopclntab = 1;
	} else {
		out->name = e->fns[lo].name;
		out->vaddr = e->fns[lo].vaddr;
		out->size = e->fns[lo].size;
		out->from_symtab = e->fns[lo].from_symtab;
		out->from_gopclntab = 0;
	}
	if (vaddr_to_offset(e, out->vaddr, &out->file_offset))
		return -ENOENT;
	return 0;
}

int ls_elf_offset(const struct ls_elf *e, uint64_t vaddr, uint64_t *off)
{
	return vaddr_to_offset(e, vaddr, off);
}

int ls_elf_go_version(const struct ls_elf *e, char *buf, size_t len)
{
	/* Go 1.18+ keeps the version string near the start of the build info, as "go1.N[.M]". */
	size_t lim = e->buildinfo_len < 512 ? e->buildinfo_len : 512;

	for (size_t i = 0; e->buildinfo && i + 4 < lim; i++) {
		size_t j = i;

		if (memcmp(e->buildinfo + i, "go1.", 4) != 0)
			continue;
		while (j < lim && (e->buildinfo[j] == '.' || (e->buildinfo[j] >= '0' && e->buildinfo[j] <= '9') ||
				   (e->buildinfo[j] >= 'a' && e->buildinfo[j] <= 'z')))
			j++;
		snprintf(buf, len, "%.*s", (int)(j - i), e->buildinfo + i);
		return 0;
	}
	return -ENOENT;
}

int ls_elf_go_dep_version(const struct ls_elf *e, const char *module, char *buf, size_t len)
{
	/* The module list is text in the build info: "dep\tPATH\tVERSION\th1:...\n". */
	size_t ml = strlen(module);

	for (size_t i = 0; e->buildinfo && i + ml + 6 < e->buildinfo_len; i++) {
		size_t j;

		if (memcmp(e->buildinfo + i, "dep\t", 4) || memcmp(e->buildinfo + i + 4, module, ml) ||
		    e->buildinfo[i + 4 + ml] != '\t')
			continue;
		i += 5 + ml;
		for (j = i; j < e->buildinfo_len && e->buildinfo[j] != '\t' && e->buildinfo[j] != '\n'; j++)
			;
		snprintf(buf, len, "%.*s", (int)(j - i), e->buildinfo + i);
		return 0;
	}
	return -ENOENT;
}

int ls_elf_has_symtab(const struct ls_elf *e) { return e->has_symtab; }
int ls_elf_has_gopclntab(const struct ls_elf *e) { return e->pcln != NULL; }
int ls_elf_has_dynsym(const struct ls_elf *e) { return e->has_dynsym; }
int ls_elf_is_go(const struct ls_elf *e) { return e->is_go; }

const uint8_t *ls_elf_code(const struct ls_elf *e, uint64_t vaddr, size_t len)
{
	uint64_t off;

	/* The segment's file offset is the file's word: off + len may wrap around. */
	if (vaddr_to_offset(e, vaddr, &off) || off > e->map_len || len > e->map_len - off)
		return NULL;
	return (const uint8_t *)e->map + off;
}

void *ls_elf_handle(const struct ls_elf *e)
{
	return e->elf;
}

int ls_elf_func_at(const struct ls_elf *e, uint64_t vaddr, uint64_t *start, uint64_t *size)
{
	size_t lo = 0, hi = e->nby_addr;

	/* The last function starting at or below vaddr, if vaddr is inside it. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (e->by_addr[mid].vaddr <= vaddr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo || vaddr >= e->by_addr[lo - 1].vaddr + e->by_addr[lo - 1].size)
		return -ENOENT;
	*start = e->by_addr[lo - 1].vaddr;
	*size = e->by_addr[lo - 1].size;
	return 0;
}
