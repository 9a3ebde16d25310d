#include "callgraph.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* An object keeps frame pointers when at least this share of its functions sets one up (leaves often do not). */
#define FRAMED_PCT 30

static const uint8_t endbr64[] = { 0xf3, 0x0f, 0x1e, 0xfa };
static const uint8_t push_mov[] = { 0x55, 0x48, 0x89, 0xe5 }; /* push %rbp; mov %rsp,%rbp */

static int starts_frame(const uint8_t *p, size_t len)
{
	if (len >= sizeof(endbr64) && !memcmp(p, endbr64, sizeof(endbr64))) {
		p += sizeof(endbr64);
		len -= sizeof(endbr64);
	}
	return len >= sizeof(push_mov) && !memcmp(p, push_mov, sizeof(push_mov));
}

static int has_section(Elf *elf, size_t shstrndx, const char *name)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(elf, scn))) {
		const char *n;

		if (gelf_getshdr(scn, &sh) && (n = elf_strptr(elf, shstrndx, sh.sh_name)) && !strcmp(n, name))
			return 1;
	}
	return 0;
}

/* The code bytes at vaddr from the executable section holding it, or NULL. */
static const uint8_t *code_at(Elf *elf, uint64_t vaddr, size_t len)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(elf, scn))) {
		Elf_Data *d;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_PROGBITS || !(sh.sh_flags & SHF_EXECINSTR))
			continue;
		if (vaddr < sh.sh_addr || vaddr - sh.sh_addr >= sh.sh_size || sh.sh_size - (vaddr - sh.sh_addr) < len)
			continue;
		d = elf_getdata(scn, NULL);
		if (!d || !d->d_buf || d->d_size != sh.sh_size)
			return NULL;
		return (const uint8_t *)d->d_buf + (vaddr - sh.sh_addr);
	}
	return NULL;
}

/* Count the functions of one symbol table and those that set up a frame. */
static void check_symtab(Elf *elf, Elf_Scn *scn, struct ls_fp_check *out)
{
	Elf_Data *d = elf_getdata(scn, NULL);
	GElf_Shdr sh;
	size_t n;

	if (!d || !gelf_getshdr(scn, &sh) || !sh.sh_entsize)
		return;
	n = sh.sh_size / sh.sh_entsize;
	for (size_t i = 0; i < n && out->funcs < LS_FP_CHECK_MAX; i++) {
		const uint8_t *p;
		GElf_Sym s;

		/* Tiny functions (stubs, getters) need no frame in any build: they say nothing. */
		if (!gelf_getsym(d, (int)i, &s) || GELF_ST_TYPE(s.st_info) != STT_FUNC || s.st_shndx == SHN_UNDEF ||
		    s.st_size < 16)
			continue;
		p = code_at(elf, s.st_value, 8);
		if (!p)
			continue;
		out->funcs++;
		out->framed += (unsigned int)starts_frame(p, 8);
	}
}

static void verdict(struct ls_fp_check *out)
{
	out->keeps_fp = out->funcs && out->framed * 100 >= out->funcs * FRAMED_PCT;
	if (out->funcs)
		snprintf(out->why, sizeof(out->why), "%u of %u functions set up a frame", out->framed, out->funcs);
	else
		snprintf(out->why, sizeof(out->why), "no function symbols to look at");
}

int ls_fp_check_file(const char *path, struct ls_fp_check *out, char *err)
{
	Elf_Scn *scn = NULL, *symtab = NULL, *dynsym = NULL;
	Elf *elf = NULL;
	size_t shstrndx;
	int fd, ret = 0;

	memset(out, 0, sizeof(*out));
	elf_version(EV_CURRENT);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ls_err(err, errno, "%s: %s", path, strerror(errno));
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF || elf_getshdrstrndx(elf, &shstrndx)) {
		ret = ls_err(err, EINVAL, "%s: not an ELF file", path);
		goto cleanup;
	}
	/* The Go toolchain keeps frame pointers on amd64 (its own tracebacks do not need them, profilers do). */
	if (has_section(elf, shstrndx, ".gopclntab") || has_section(elf, shstrndx, ".go.buildinfo")) {
		out->keeps_fp = 1;
		snprintf(out->why, sizeof(out->why), "Go code");
		goto cleanup;
	}
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh))
			continue;
		if (sh.sh_type == SHT_SYMTAB)
			symtab = scn;
		else if (sh.sh_type == SHT_DYNSYM)
			dynsym = scn;
	}
	if (symtab || dynsym)
		check_symtab(elf, symtab ? symtab : dynsym, out);
	verdict(out);
cleanup:
	elf_end(elf);
	close(fd);
	return ret;
}

/* The verdict for one mapping: from an object already seen, or by reading the file. */
static int classify(pid_t pid, const char *name, uint64_t start, uint64_t end, struct ls_cg_obj **objs, size_t *n,
		    int *nofp)
{
	char open_path[LS_PATH_LEN + 64], e2[LS_ERR_LEN];
	struct ls_cg_obj *o, *nv;

	for (size_t i = 0; i < *n; i++) {
		if (!strcmp((*objs)[i].path, name)) {
			*nofp = !(*objs)[i].fp.keeps_fp;
			return 0;
		}
	}
	if (!(nv = realloc(*objs, (*n + 1) * sizeof(*nv))))
		return -ENOMEM;
	*objs = nv;
	o = &nv[(*n)++];
	memset(o, 0, sizeof(*o));
	o->pid = pid;
	snprintf(o->path, sizeof(o->path), "%s", name);
	if (name[0] != '/') {
		/* Generated code: JIT compilers (V8, HotSpot with PreserveFramePointer) keep frame pointers. */
		o->fp.keeps_fp = strcmp(name, "[vdso]") != 0;
		snprintf(o->fp.why, sizeof(o->fp.why), "%s", o->fp.keeps_fp ? "generated code" : "the kernel's vDSO");
	} else {
		/* The mapped file itself, even when deleted or in another mount namespace. */
		snprintf(open_path, sizeof(open_path), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, (int)pid, start, end);
		if (ls_fp_check_file(open_path, &o->fp, e2))
			snprintf(o->fp.why, sizeof(o->fp.why), "unreadable");
	}
	*nofp = !o->fp.keeps_fp;
	return 0;
}

/* Append a range, or extend the last one when it continues it with the same verdict. */
static void add_range(struct ls_xranges *x, uint64_t start, uint64_t end, int nofp, unsigned int *overflow)
{
	uint32_t i = x->n;

	if (i && x->end[i - 1] == start && ((x->nofp >> (i - 1)) & 1) == (uint64_t)nofp) {
		x->end[i - 1] = end;
		return;
	}
	if (i == LS_XRANGES) {
		(*overflow)++;
		return;
	}
	x->start[i] = start;
	x->end[i] = end;
	if (nofp)
		x->nofp |= 1ull << i;
	x->n = i + 1;
}

int ls_callgraph_ranges(pid_t pid, struct ls_xranges *x, struct ls_cg_obj **objs, size_t *nobjs, unsigned int *overflow,
			char *err)
{
	char path[64], line[LS_PATH_LEN + 256];
	int ret = 0;
	FILE *f;

	memset(x, 0, sizeof(*x));
	*objs = NULL;
	*nobjs = 0;
	*overflow = 0;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return ls_err(err, errno == ENOENT ? ESRCH : errno, "pid %d: %s: %s", (int)pid, path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		uint64_t start, end;
		char perms[8], *name;
		int pos = 0, nofp;

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %*s %*s %*s %n", &start, &end, perms, &pos) < 3 || !pos ||
		    perms[2] != 'x')
			continue;
		name = line + pos;
		name[strcspn(name, "\n")] = '\0';
		if (!strcmp(name, "[vsyscall]"))
			continue;
		if (!*name)
			name = "[anonymous]";
		if (classify(pid, name, start, end, objs, nobjs, &nofp)) {
			ret = ls_err(err, ENOMEM, "out of memory");
			break;
		}
		add_range(x, start, end, nofp, overflow);
	}
	fclose(f);
	if (ret) {
		free(*objs);
		*objs = NULL;
		*nobjs = 0;
	}
	return ret;
}
