/*
 * One ELF object: segments, build-id, symbol table, and a DWARF index of its
 * functions and inlined calls, built one compilation unit at a time on first
 * use. Lookups follow what elfutils' eu-addr2line answers, so the two agree:
 * symbols are chosen as dwfl_module_addrsym chooses them, the innermost
 * function scope and the inline chain as dwarf_getscopes finds them, lines as
 * dwarf_getsrc_die finds them.
 */
#include "symint.h"

#include <dwarf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

struct msym {
	uint64_t value, size;
	const char *name;
	uint32_t order;  /* position in the table: the first of equals wins */
	uint32_t shndx;
	uint8_t bind;
};

/* One PLT stub: [start, start + size), its name at an offset in ls_module.pltnames. */
struct pltent {
	uint64_t start;
	uint32_t size, name;
};

/* One relocated GOT slot and the dynamic symbol it binds. */
struct gotslot {
	uint64_t addr;
	const char *name;
};

/* One symbol table part (globals or locals), sorted by value, with prefix indexes. */
struct symtab {
	struct msym *v;
	size_t n, cap;
	uint64_t *maxend;  /* max(value + size) over v[0..i] */
	int32_t *prevsl;   /* the last size-less symbol in v[0..i], or -1 */
};

struct section {
	uint64_t addr, size;
	uint32_t index;
};

struct seg {
	uint64_t vaddr, off, filesz;
};

/* A function scope of one CU: a subprogram, an inlined call or a lexical block. */
enum { NODE_BLOCK, NODE_FUNC, NODE_INLINE };

struct dnode {
	const char *name;
	uint64_t entry;
	int32_t parent, first_child, next_sibling; /* in DIE order */
	uint32_t rfirst, rcount;                   /* its ranges in cuidx.ranges */
	uint32_t call_file, call_line, call_col;
	uint8_t kind;
	uint8_t kids_overlap;  /* two children share an address: only DIE order decides */
};

struct dpiece {
	uint64_t lo, hi;
	int32_t node, up;  /* up: the piece enclosing this one */
	uint32_t depth;
};

struct cuidx {
	const struct ls_module *m;
	Dwarf_Off off;
	Dwarf_Die cudie;
	Dwarf_Files *files;
	size_t nfiles;
	char **paths;        /* file names made absolute with the CU's directory, on first use */
	const char *comp_dir;
	struct dnode *nodes;
	size_t nnodes, capnodes;
	struct dpiece *pieces;
	size_t npieces, cappieces;
	struct dpiece *ranges;  /* the pieces again, grouped by node, before sorting */
};

/* A run of address ranges of one CU, as libdwfl groups them: the gaps up to the next run belong to it. */
struct curun {
	uint64_t start;
	Dwarf_Off off;
	struct cuidx *cu;
};

/* A DWARF section that libdw's strings point into. */
struct strsec {
	uintptr_t start, end;
};

struct ls_module {
	char *path;
	char build_id[2 * 64 + 1];
	int fd;
	Elf *elf;
	struct seg *segs;
	size_t nsegs;
	struct symtab globals, locals;
	struct section *secs;  /* of the file the symbols come from */
	size_t nsecs;
	char error[160];
	int no_dwarf;
	const char *debug_dir;
	/* DWARF, opened on first use */
	int dwarf_tried;
	int dfd;
	Elf *delf;
	Dwarf *dw;
	struct curun *runs;
	size_t nruns;
	uint64_t runs_end;   /* the last range's end */
	struct cuidx **cus;  /* open-addressing table keyed by CU offset */
	size_t ncus, capcus;
	struct strsec strsecs[8];
	size_t nstrsecs;
	struct ls_demangler *dem;
	/* Go, for binaries without symbols */
	int is_go, has_symtab;
	struct ls_gosym *go;
	/* PLT stubs, named "<symbol>@plt" after the GOT slot each jumps through; sorted by address */
	struct pltent *plt;
	size_t nplt;
	char *pltnames;
};

int ls_framevec_push(struct ls_framevec *fv, const char *func, const char *file, uint32_t line, uint32_t column)
{
	if (fv->n == fv->cap) {
		size_t ncap = fv->cap ? fv->cap * 2 : 256;
		struct ls_sym_frame *nv = realloc(fv->v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		fv->v = nv;
		fv->cap = ncap;
	}
	fv->v[fv->n++] = (struct ls_sym_frame){ .func = func, .file = file, .line = line, .column = column };
	return 0;
}

/* ---- symbol table ---------------------------------------------------------- */

static int msym_cmp(const void *a, const void *b)
{
	const struct msym *x = a, *y = b;

	if (x->value != y->value)
		return x->value < y->value ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static int symtab_index(struct symtab *t)
{
	if (t->n)
		qsort(t->v, t->n, sizeof(*t->v), msym_cmp);
	t->maxend = malloc((t->n ? t->n : 1) * sizeof(*t->maxend));
	t->prevsl = malloc((t->n ? t->n : 1) * sizeof(*t->prevsl));
	if (!t->maxend || !t->prevsl)
		return -ENOMEM;
	for (size_t i = 0; i < t->n; i++) {
		const struct msym *s = &t->v[i];
		uint64_t end = s->value + s->size;

		t->maxend[i] = i && t->maxend[i - 1] > end ? t->maxend[i - 1] : end;
		t->prevsl[i] = !s->size ? (int32_t)i : i ? t->prevsl[i - 1] : -1;
	}
	return 0;
}

static void symtab_free(struct symtab *t)
{
	free(t->v);
	free(t->maxend);
	free(t->prevsl);
}

struct symstate {
	const struct msym *closest, *sizeless;
	uint64_t min_label;
};

/*
 * One table's candidates for addr, merged into st as dwfl_module_addrsym
 * merges them. A size-less label counts only in addr's own section (sec,
 * starting at sec_start; absolute ones only at addr itself).
 */
static void symtab_search(const struct symtab *t, uint64_t addr, uint32_t sec, uint64_t sec_start, struct symstate *st)
{
	const struct msym *best = NULL;
	size_t lo = 0, hi = t->n;
	const struct msym *c = NULL;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (t->v[mid].value <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return;
	if (t->maxend[lo - 1] > st->min_label)
		st->min_label = t->maxend[lo - 1];
	/* Only symbols whose prefix reaches past addr can contain it. */
	for (size_t i = lo; i-- > 0 && t->maxend[i] > addr;) {
		const struct msym *s = &t->v[i];

		if (!s->size || addr - s->value >= s->size)
			continue;
		if (!c) {
			c = s;
			continue;
		}
		if (s->value != c->value)
			break;
		/* Same start: the stronger binding, then the smaller, then the first in the table. */
		if (s->bind > c->bind || (s->bind == c->bind && s->size < c->size) ||
		    (s->bind == c->bind && s->size == c->size))
			c = s;
	}
	if (c && (!st->closest || c->value > st->closest->value || c->bind > st->closest->bind))
		st->closest = c;
	for (int32_t j = t->prevsl[lo - 1]; sec && j >= 0; j = j ? t->prevsl[j - 1] : -1) {
		const struct msym *s = &t->v[j];

		if (s->shndx < SHN_LORESERVE && s->value < sec_start)
			break;
		if (best && s->value != best->value)
			break;
		if (s->shndx >= SHN_LORESERVE ? s->value != addr : s->shndx != sec)
			continue;
		/* The closest, then the stronger binding, then the first in the table. */
		if (!best || s->bind >= best->bind)
			best = s;
	}
	if (best && (!st->sizeless || best->value > st->sizeless->value || best->bind > st->sizeless->bind))
		st->sizeless = best;
}

/* The allocated section holding addr (its index, 0 for none) and where it starts. */
static uint32_t addr_section(const struct ls_module *m, uint64_t addr, uint64_t *start)
{
	for (size_t i = 0; i < m->nsecs; i++) {
		if (addr >= m->secs[i].addr && addr - m->secs[i].addr < m->secs[i].size) {
			*start = m->secs[i].addr;
			return m->secs[i].index;
		}
	}
	return 0;
}

static const struct msym *sym_lookup(const struct ls_module *m, uint64_t addr)
{
	struct symstate st = { 0 };
	uint64_t sec_start = 0;
	uint32_t sec = addr_section(m, addr, &sec_start);

	/* Globals first; locals only when no global holds the address. */
	symtab_search(&m->globals, addr, sec, sec_start, &st);
	if (!st.closest && (!st.sizeless || st.sizeless->value != addr))
		symtab_search(&m->locals, addr, sec, sec_start, &st);
	if (st.closest)
		return st.closest;
	if (st.sizeless && st.sizeless->value >= st.min_label)
		return st.sizeless;
	return NULL;
}

static int push_sym(struct symtab *t, const GElf_Sym *s, const char *name, uint32_t order)
{
	if (t->n == t->cap) {
		size_t ncap = t->cap ? t->cap * 2 : 256;
		struct msym *nv = realloc(t->v, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		t->v = nv;
		t->cap = ncap;
	}
	t->v[t->n++] = (struct msym){ .value = s->st_value, .size = s->st_size, .name = name, .order = order,
				      .shndx = s->st_shndx, .bind = (uint8_t)GELF_ST_BIND(s->st_info) };
	return 0;
}

/* .symtab of elf when present, otherwise its .dynsym, as dwfl does; names point into the mapped file. */
static int load_symbols(struct ls_module *m, Elf *elf)
{
	Elf_Scn *scn = NULL, *use = NULL;
	GElf_Shdr sh, ush = { 0 };
	Elf_Data *data;
	size_t n, nsec = 0;

	if (elf_getshdrnum(elf, &nsec) == 0 && nsec && !(m->secs = calloc(nsec, sizeof(*m->secs))))
		return -ENOMEM;
	while ((scn = elf_nextscn(elf, scn))) {
		if (!gelf_getshdr(scn, &sh))
			continue;
		if ((sh.sh_flags & SHF_ALLOC) && sh.sh_size && m->nsecs < nsec)
			m->secs[m->nsecs++] = (struct section){ sh.sh_addr, sh.sh_size, (uint32_t)elf_ndxscn(scn) };
		if (sh.sh_type == SHT_SYMTAB || (sh.sh_type == SHT_DYNSYM && !use)) {
			use = scn;
			ush = sh;
		}
		if (sh.sh_type == SHT_SYMTAB)
			break;
	}
	if (!use || !ush.sh_entsize || !(data = elf_getdata(use, NULL)))
		return 0;
	n = ush.sh_size / ush.sh_entsize;
	for (size_t i = 1; i < n; i++) {
		GElf_Sym s;
		const char *name;
		int type;

		if (!gelf_getsym(data, (int)i, &s) || s.st_shndx == SHN_UNDEF)
			continue;
		type = GELF_ST_TYPE(s.st_info);
		if (type == STT_SECTION || type == STT_FILE || type == STT_TLS)
			continue;
		name = elf_strptr(elf, ush.sh_link, s.st_name);
		if (!name || !*name)
			continue;
		/* The table's sh_info is the first global: dwfl splits it there. */
		if (push_sym(i < ush.sh_info ? &m->locals : &m->globals, &s, name, (uint32_t)i))
			return -ENOMEM;
	}
	if (symtab_index(&m->globals) || symtab_index(&m->locals))
		return -ENOMEM;
	return 0;
}

static int gotslot_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct gotslot *)a)->addr, y = ((const struct gotslot *)b)->addr;

	return x < y ? -1 : x > y;
}

/* The GOT slots the dynamic linker fills with a function's address (JUMP_SLOT, GLOB_DAT), sorted. */
static int got_slots(Elf *elf, struct gotslot **out, size_t *n)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	size_t cap = 0;

	*out = NULL;
	*n = 0;
	while ((scn = elf_nextscn(elf, scn))) {
		Elf_Data *d, *symd;
		Elf_Scn *syms;
		GElf_Shdr ssh;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_RELA || !sh.sh_entsize || !(d = elf_getdata(scn, NULL)) ||
		    !(syms = elf_getscn(elf, sh.sh_link)) || !gelf_getshdr(syms, &ssh) || !(symd = elf_getdata(syms, NULL)))
			continue;
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Rela r;
			GElf_Sym sym;
			const char *name;
			unsigned long type;

			if (!gelf_getrela(d, (int)i, &r))
				continue;
			type = GELF_R_TYPE(r.r_info);
			if ((type != R_X86_64_JUMP_SLOT && type != R_X86_64_GLOB_DAT) || !GELF_R_SYM(r.r_info) ||
			    !gelf_getsym(symd, (int)GELF_R_SYM(r.r_info), &sym) ||
			    !(name = elf_strptr(elf, ssh.sh_link, sym.st_name)) || !*name)
				continue;
			if (*n == cap) {
				struct gotslot *nv = realloc(*out, (cap = cap ? cap * 2 : 64) * sizeof(*nv));

				if (!nv)
					return -ENOMEM;
				*out = nv;
			}
			(*out)[(*n)++] = (struct gotslot){ r.r_offset, name };
		}
	}
	if (*n)
		qsort(*out, *n, sizeof(**out), gotslot_cmp);
	return 0;
}

static int pltent_cmp(const void *a, const void *b)
{
	uint64_t x = ((const struct pltent *)a)->start, y = ((const struct pltent *)b)->start;

	return x < y ? -1 : x > y;
}

static const char *gotslot_name(const struct gotslot *v, size_t n, uint64_t addr)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid].addr == addr)
			return v[mid].name;
		if (v[mid].addr < addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/*
 * The stubs of .plt, .plt.sec and .plt.got: each entry whose first instruction (after an
 * endbr64 and a bnd prefix) is jmp *disp(%rip) is named after the symbol its GOT slot binds.
 * A lazy .plt's first entry pushes and jumps to the resolver: no name. At most two stubs
 * a slot (.plt and .plt.sec): a file's made-up sections cannot grow the table past that.
 */
static int load_plt(struct ls_module *m)
{
	struct gotslot *slots = NULL;
	size_t nslots = 0, shstrndx, namelen = 0, namecap = 0, cap = 0;
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;
	int ret = 0;

	if (elf_getshdrstrndx(m->elf, &shstrndx) || (ret = got_slots(m->elf, &slots, &nslots)) || !nslots) {
		free(slots);
		return ret == -ENOMEM ? ret : 0;
	}
	while ((scn = elf_nextscn(m->elf, scn))) {
		const char *sname = gelf_getshdr(scn, &sh) ? elf_strptr(m->elf, shstrndx, sh.sh_name) : NULL;
		uint64_t step;
		Elf_Data *d;

		if (!sname || strncmp(sname, ".plt", 4) || sh.sh_type != SHT_PROGBITS || !(sh.sh_flags & SHF_EXECINSTR) ||
		    !(d = elf_getdata(scn, NULL)) || !d->d_buf || d->d_size < sh.sh_size)
			continue;
		step = sh.sh_entsize == 8 || sh.sh_entsize == 16 ? sh.sh_entsize : 16;
		for (uint64_t i = 0; i + step <= sh.sh_size && m->nplt < 2 * nslots; i += step) {
			const uint8_t *c = (const uint8_t *)d->d_buf + i, *end = c + step;
			const char *name;
			int32_t disp;
			size_t len;

			if (end - c >= 4 && c[0] == 0xf3 && c[1] == 0x0f && c[2] == 0x1e && c[3] == 0xfa)
				c += 4;
			if (end - c >= 1 && c[0] == 0xf2)
				c++;
			if (end - c < 6 || c[0] != 0xff || c[1] != 0x25)
				continue;
			memcpy(&disp, c + 2, sizeof(disp));
			name = gotslot_name(slots, nslots,
					    sh.sh_addr + (uint64_t)(c - (const uint8_t *)d->d_buf) + 6 + (uint64_t)(int64_t)disp);
			if (!name)
				continue;
			len = strlen(name) + sizeof("@plt");
			if (m->nplt == cap) {
				struct pltent *nv = realloc(m->plt, (cap = cap ? cap * 2 : 64) * sizeof(*nv));

				if (!nv)
					goto oom;
				m->plt = nv;
			}
			if (namelen + len > namecap) {
				char *nb = realloc(m->pltnames, namecap = 2 * (namelen + len));

				if (!nb)
					goto oom;
				m->pltnames = nb;
			}
			snprintf(m->pltnames + namelen, len, "%s@plt", name);
			m->plt[m->nplt++] = (struct pltent){ sh.sh_addr + i, (uint32_t)step, (uint32_t)namelen };
			namelen += len;
		}
	}
	free(slots);
	if (m->nplt)
		qsort(m->plt, m->nplt, sizeof(*m->plt), pltent_cmp);
	return 0;
oom:
	free(slots);
	return -ENOMEM;
}

/* The PLT stub holding addr: its name and start, or NULL. */
static const char *plt_lookup(const struct ls_module *m, uint64_t addr, uint64_t *start)
{
	size_t lo = 0, hi = m->nplt;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->plt[mid].start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo || addr - m->plt[lo - 1].start >= m->plt[lo - 1].size)
		return NULL;
	*start = m->plt[lo - 1].start;
	return m->pltnames + m->plt[lo - 1].name;
}

/* ---- ELF ------------------------------------------------------------------- */

static void read_build_id(struct ls_module *m)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(m->elf, scn))) {
		Elf_Data *d;
		GElf_Nhdr nh;
		size_t off = 0, noff, doff;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_NOTE || !(d = elf_getdata(scn, NULL)))
			continue;
		while ((off = gelf_getnote(d, off, &nh, &noff, &doff)) > 0) {
			if (nh.n_type == NT_GNU_BUILD_ID && nh.n_namesz == 4 && !memcmp((char *)d->d_buf + noff, "GNU", 4)) {
				const unsigned char *b = (const unsigned char *)d->d_buf + doff;

				for (size_t i = 0; i < nh.n_descsz && i < 64; i++)
					snprintf(m->build_id + 2 * i, 3, "%02x", b[i]);
				return;
			}
		}
	}
}

static int has_section(Elf *elf, const char *name)
{
	Elf_Scn *scn = NULL;
	size_t shstrndx;
	GElf_Shdr sh;

	if (elf_getshdrstrndx(elf, &shstrndx))
		return 0;
	while ((scn = elf_nextscn(elf, scn))) {
		const char *n;

		if (gelf_getshdr(scn, &sh) && (n = elf_strptr(elf, shstrndx, sh.sh_name)) && !strcmp(n, name))
			return 1;
	}
	return 0;
}

static Elf *open_debug_file(struct ls_module *m);

static int has_symtab(Elf *elf)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = elf_nextscn(elf, scn)))
		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_SYMTAB)
			return 1;
	return 0;
}

struct ls_module *ls_module_open(int fd, const char *path, const struct ls_symbolizer_opts *opts)
{
	struct ls_module *m = calloc(1, sizeof(*m));
	size_t nph = 0;

	if (!m || !(m->path = strdup(path)) || !(m->dem = ls_demangler_new())) {
		if (m) {
			free(m->path);
			free(m);
		}
		close(fd);
		return NULL;
	}
	m->fd = fd;
	m->dfd = -1; /* -2: looked for, none */
	m->no_dwarf = opts->no_dwarf;
	m->debug_dir = opts->debug_dir;
	elf_version(EV_CURRENT);
	m->elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!m->elf || elf_kind(m->elf) != ELF_K_ELF) {
		snprintf(m->error, sizeof(m->error), "not an ELF file");
		return m;
	}
	read_build_id(m);
	if (elf_getphdrnum(m->elf, &nph) == 0 && nph && (m->segs = calloc(nph, sizeof(*m->segs)))) {
		for (size_t i = 0; i < nph; i++) {
			GElf_Phdr ph;

			if (gelf_getphdr(m->elf, (int)i, &ph) && ph.p_type == PT_LOAD)
				m->segs[m->nsegs++] = (struct seg){ ph.p_vaddr, ph.p_offset, ph.p_filesz };
		}
	}
	/* Without its own .symtab, the debug file's (with local functions), as dwfl does. */
	m->has_symtab = has_symtab(m->elf);
	if (!m->has_symtab && open_debug_file(m) && has_symtab(m->delf))
		m->has_symtab = 2;
	if (load_symbols(m, m->has_symtab == 2 ? m->delf : m->elf) || load_plt(m)) {
		snprintf(m->error, sizeof(m->error), "out of memory");
		return m;
	}
	m->is_go = has_section(m->elf, ".gopclntab") || has_section(m->elf, ".go.buildinfo");
	/* A Go binary's .dynsym names only what it imports: without .symtab, pclntab is the name source. */
	if (m->is_go && !m->has_symtab && ls_gosym_open(m->fd, &m->go))
		m->go = NULL;
	return m;
}

const char *ls_module_build_id(const struct ls_module *m)
{
	return m->build_id;
}

const char *ls_module_error(const struct ls_module *m)
{
	return m->error[0] ? m->error : NULL;
}

int ls_module_file_to_vaddr(const struct ls_module *m, uint64_t off, uint64_t *vaddr)
{
	for (size_t i = 0; i < m->nsegs; i++) {
		if (off >= m->segs[i].off && off < m->segs[i].off + m->segs[i].filesz) {
			*vaddr = off - m->segs[i].off + m->segs[i].vaddr;
			return 0;
		}
	}
	return -ENOENT;
}

/* ---- DWARF ------------------------------------------------------------------ */

static struct cuidx *get_cu(struct ls_module *m, Dwarf_Die *cudie);

/* CU runs from .debug_aranges (sorted by libdw), one per change of CU. */
static void build_runs(struct ls_module *m)
{
	Dwarf_Aranges *ar;
	size_t n;

	if (dwarf_getaranges(m->dw, &ar, &n) != 0 || !n || !(m->runs = calloc(n, sizeof(*m->runs))))
		return;
	for (size_t i = 0; i < n; i++) {
		Dwarf_Addr start;
		Dwarf_Word len;
		Dwarf_Off off;

		if (dwarf_getarangeinfo(dwarf_onearange(ar, i), &start, &len, &off) != 0)
			continue;
		if (!m->nruns || m->runs[m->nruns - 1].off != off)
			m->runs[m->nruns++] = (struct curun){ .start = start, .off = off };
		m->runs_end = start + len;
	}
}

/* The build-id debug file (as installed by Debian's -dbgsym/-dbg packages), or NULL. */
static Elf *open_debug_file(struct ls_module *m)
{
	char path[4096];

	if (m->delf || m->dfd == -2)
		return m->delf;
	m->dfd = -2;
	if (strlen(m->build_id) < 4)
		return NULL;
	snprintf(path, sizeof(path), "%s/.build-id/%.2s/%s.debug", m->debug_dir ? m->debug_dir : "/usr/lib/debug",
		 m->build_id, m->build_id + 2);
	m->dfd = open(path, O_RDONLY | O_CLOEXEC);
	if (m->dfd < 0) {
		m->dfd = -2;
		return NULL;
	}
	m->delf = elf_begin(m->dfd, ELF_C_READ_MMAP, NULL);
	return m->delf;
}

/*
 * Where the strings libdw hands out can lie: names and paths inline in
 * .debug_info and .debug_line, or in the string sections. Read after
 * dwarf_begin_elf, which decompresses the sections in place.
 */
static void find_string_sections(struct ls_module *m, Elf *elf)
{
	static const char *const names[] = { "info", "types", "str", "line_str", "line" };
	size_t shstrndx;
	Elf_Scn *scn = NULL;

	if (elf_getshdrstrndx(elf, &shstrndx))
		return;
	while ((scn = elf_nextscn(elf, scn)) && m->nstrsecs < sizeof(m->strsecs) / sizeof(m->strsecs[0])) {
		const char *n;
		Elf_Data *d;
		GElf_Shdr sh;

		if (!gelf_getshdr(scn, &sh) || !(n = elf_strptr(elf, shstrndx, sh.sh_name)))
			continue;
		if (!strncmp(n, ".debug_", 7))
			n += 7;
		else if (!strncmp(n, ".zdebug_", 8))
			n += 8;
		else
			continue;
		for (size_t k = 0; k < sizeof(names) / sizeof(names[0]); k++)
			if (!strcmp(n, names[k]) && (d = elf_getdata(scn, NULL)) && d->d_buf && d->d_size)
				m->strsecs[m->nstrsecs++] = (struct strsec){ (uintptr_t)d->d_buf,
									     (uintptr_t)d->d_buf + d->d_size };
	}
}

/*
 * s, a string from libdw, when it ends inside the section it lies in; NULL
 * when it runs past the end (libdw 0.188 does not check that a string it
 * returns is terminated). A string in none of them is libdw's own.
 */
static const char *dw_str(const struct ls_module *m, const char *s)
{
	for (size_t i = 0; s && i < m->nstrsecs; i++) {
		const struct strsec *x = &m->strsecs[i];

		if ((uintptr_t)s >= x->start && (uintptr_t)s < x->end)
			return memchr(s, 0, x->end - (uintptr_t)s) ? s : NULL;
	}
	return s;
}

/* The object's own DWARF, or that of its build-id debug file. */
static void open_dwarf(struct ls_module *m)
{
	Elf *d = NULL;

	m->dwarf_tried = 1;
	if (m->no_dwarf)
		return;
	if (has_section(m->elf, ".debug_info"))
		m->dw = dwarf_begin_elf(d = m->elf, DWARF_C_READ, NULL);
	else if ((d = open_debug_file(m)) && has_section(d, ".debug_info"))
		m->dw = dwarf_begin_elf(d, DWARF_C_READ, NULL);
	if (m->dw) {
		find_string_sections(m, d);
		build_runs(m);
	}
}

/* The CU whose run holds pc, libdwfl's way: a gap between runs belongs to the run before it. */
static struct cuidx *find_cu(struct ls_module *m, uint64_t pc)
{
	size_t lo = 0, hi = m->nruns;
	struct curun *r;
	Dwarf_Die cudie;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (m->runs[mid].start <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo || (lo == m->nruns && pc > m->runs_end))
		return NULL;
	r = &m->runs[lo - 1];
	if (!r->cu && dwarf_offdie(m->dw, r->off, &cudie))
		r->cu = get_cu(m, &cudie);
	return r->cu;
}

static void cuidx_free(struct cuidx *c)
{
	if (!c)
		return;
	for (size_t i = 0; c->paths && i < c->nfiles; i++)
		free(c->paths[i]);
	free(c->paths);
	free(c->nodes);
	free(c->pieces);
	free(c->ranges);
	free(c);
}

/* eu-addr2line's name for a scope: the linkage name when there is one, else DW_AT_name. */
static const char *die_name(const struct ls_module *m, Dwarf_Die *die)
{
	Dwarf_Attribute a;
	const char *name = dwarf_formstring(dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &a)
						    ?: dwarf_attr_integrate(die, DW_AT_linkage_name, &a));

	if (!name)
		name = dwarf_diename(die);
	name = dw_str(m, name);
	return name ? name : "??";
}

static uint32_t die_udata(Dwarf_Die *die, unsigned int at)
{
	Dwarf_Attribute a;
	Dwarf_Word v;

	if (dwarf_formudata(dwarf_attr(die, at, &a), &v) != 0)
		return 0;
	return (uint32_t)v;
}

static int add_piece(struct cuidx *c, uint64_t lo, uint64_t hi, int32_t node, uint32_t depth)
{
	if (c->npieces == c->cappieces) {
		size_t ncap = c->cappieces ? c->cappieces * 2 : 64;
		struct dpiece *nv = realloc(c->pieces, ncap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		c->pieces = nv;
		c->cappieces = ncap;
	}
	c->pieces[c->npieces++] = (struct dpiece){ .lo = lo, .hi = hi, .node = node, .up = -1, .depth = depth };
	return 0;
}

/*
 * Record the scopes under die that cover code. As in dwarf_getscopes, a scope
 * without an address range is not entered: nothing under it can hold a pc.
 */
static int walk(struct cuidx *c, Dwarf_Die *parent, int32_t parent_node, uint32_t depth)
{
	Dwarf_Die child;
	int32_t last = -1;

	if (depth > 256 || dwarf_child(parent, &child) != 0)
		return 0;
	do {
		int tag = dwarf_tag(&child), kind;
		Dwarf_Addr base, lo, hi;
		ptrdiff_t off = 0;
		int32_t node;
		size_t before;

		switch (tag) {
		case DW_TAG_subprogram:
		case DW_TAG_entry_point:
			kind = NODE_FUNC;
			break;
		case DW_TAG_inlined_subroutine:
			kind = NODE_INLINE;
			break;
		case DW_TAG_lexical_block:
		case DW_TAG_try_block:
		case DW_TAG_catch_block:
		case DW_TAG_with_stmt:
		case DW_TAG_namespace:
		case DW_TAG_module:
			kind = NODE_BLOCK;
			break;
		default:
			continue;
		}
		if (c->nnodes == c->capnodes) {
			size_t ncap = c->capnodes ? c->capnodes * 2 : 64;
			struct dnode *nv = realloc(c->nodes, ncap * sizeof(*nv));

			if (!nv)
				return -ENOMEM;
			c->nodes = nv;
			c->capnodes = ncap;
		}
		node = (int32_t)c->nnodes;
		before = c->npieces;
		while ((off = dwarf_ranges(&child, off, &base, &lo, &hi)) > 0)
			if (lo < hi && add_piece(c, lo, hi, node, depth))
				return -ENOMEM;
		if (c->npieces == before)
			continue;
		c->nodes[c->nnodes++] = (struct dnode){
			.name = kind == NODE_BLOCK ? NULL : die_name(c->m, &child),
			.entry = c->pieces[before].lo,
			.parent = parent_node,
			.first_child = -1,
			.next_sibling = -1,
			.rfirst = (uint32_t)before,
			.rcount = (uint32_t)(c->npieces - before),
			.call_file = kind == NODE_INLINE ? die_udata(&child, DW_AT_call_file) : 0,
			.call_line = kind == NODE_INLINE ? die_udata(&child, DW_AT_call_line) : 0,
			.call_col = kind == NODE_INLINE ? die_udata(&child, DW_AT_call_column) : 0,
			.kind = (uint8_t)kind,
		};
		if (last >= 0)
			c->nodes[last].next_sibling = node;
		else if (parent_node >= 0)
			c->nodes[parent_node].first_child = node;
		last = node;
		if (kind != NODE_BLOCK) {
			Dwarf_Addr entry;

			if (dwarf_lowpc(&child, &entry) == 0)
				c->nodes[node].entry = entry;
		}
		if (walk(c, &child, node, depth + 1))
			return -ENOMEM;
	} while (dwarf_siblingof(&child, &child) == 0);
	return 0;
}

static int piece_cmp(const void *a, const void *b)
{
	const struct dpiece *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	if (x->hi != y->hi)
		return x->hi > y->hi ? -1 : 1;
	if (x->depth != y->depth)
		return x->depth < y->depth ? -1 : 1;
	/* Scopes with one range (aliases): lookups take the last, so the first in DIE order goes last, as dwarf_getscopes takes it. */
	return x->node > y->node ? -1 : x->node < y->node;
}

static int range_cmp(const void *a, const void *b)
{
	const struct dpiece *x = a, *y = b;

	return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/*
 * Flag the nodes whose children overlap. Where none do, the deepest range
 * holding a pc is the scope dwarf_getscopes finds, and lookups need no walk
 * in DIE order. Uses the pieces before they are sorted for lookups.
 */
static void mark_overlaps(struct cuidx *c)
{
	struct dpiece *kids = NULL;
	size_t cap = 0;

	for (size_t n = 0; n < c->nnodes; n++) {
		size_t nk = 0;

		for (int32_t k = c->nodes[n].first_child; k >= 0; k = c->nodes[k].next_sibling) {
			if (nk + c->nodes[k].rcount > cap) {
				size_t ncap = (cap + c->nodes[k].rcount) * 2;
				struct dpiece *nv = realloc(kids, ncap * sizeof(*nv));

				if (!nv) {
					/* Without the check, every node takes the careful path. */
					for (size_t i = 0; i < c->nnodes; i++)
						c->nodes[i].kids_overlap = 1;
					free(kids);
					return;
				}
				kids = nv;
				cap = ncap;
			}
			memcpy(kids + nk, c->ranges + c->nodes[k].rfirst, c->nodes[k].rcount * sizeof(*kids));
			nk += c->nodes[k].rcount;
		}
		if (nk < 2)
			continue;
		qsort(kids, nk, sizeof(*kids), range_cmp);
		for (size_t i = 1; i < nk && !c->nodes[n].kids_overlap; i++)
			if (kids[i].lo < kids[i - 1].hi && kids[i].node != kids[i - 1].node)
				c->nodes[n].kids_overlap = 1;
	}
	free(kids);
}

static struct cuidx *cuidx_build(const struct ls_module *m, Dwarf_Die *cudie)
{
	struct cuidx *c = calloc(1, sizeof(*c));
	int32_t *stack = NULL;
	size_t sp = 0;

	if (!c)
		return NULL;
	c->m = m;
	c->off = dwarf_dieoffset(cudie);
	c->cudie = *cudie;
	if (dwarf_getsrcfiles(cudie, &c->files, &c->nfiles) != 0) {
		c->files = NULL;
		c->nfiles = 0;
	}
	{
		Dwarf_Attribute a;

		c->comp_dir = dw_str(m, dwarf_formstring(dwarf_attr(cudie, DW_AT_comp_dir, &a)));
	}
	if (c->nfiles && !(c->paths = calloc(c->nfiles, sizeof(*c->paths))))
		goto fail;
	if (walk(c, cudie, -1, 1))
		goto fail;
	if (c->npieces) {
		if (!(c->ranges = malloc(c->npieces * sizeof(*c->ranges))))
			goto fail;
		memcpy(c->ranges, c->pieces, c->npieces * sizeof(*c->ranges));
	}
	mark_overlaps(c);
	if (c->npieces)
		qsort(c->pieces, c->npieces, sizeof(*c->pieces), piece_cmp);
	/* Scopes nest: a stack sweep in start order gives each piece the one enclosing it. */
	stack = malloc((c->npieces ? c->npieces : 1) * sizeof(*stack));
	if (!stack)
		goto fail;
	for (size_t i = 0; i < c->npieces; i++) {
		while (sp && c->pieces[stack[sp - 1]].hi <= c->pieces[i].lo)
			sp--;
		c->pieces[i].up = sp ? stack[sp - 1] : -1;
		stack[sp++] = (int32_t)i;
	}
	free(stack);
	return c;
fail:
	free(stack);
	cuidx_free(c);
	return NULL;
}

/* The index of the CU at cudie, built once. */
static struct cuidx *get_cu(struct ls_module *m, Dwarf_Die *cudie)
{
	Dwarf_Off off = dwarf_dieoffset(cudie);
	size_t h;

	if (m->ncus * 2 >= m->capcus) {
		size_t ncap = m->capcus ? m->capcus * 2 : 64;
		struct cuidx **nv = calloc(ncap, sizeof(*nv));

		if (!nv)
			return NULL;
		for (size_t i = 0; i < m->capcus; i++) {
			if (!m->cus[i])
				continue;
			for (h = (m->cus[i]->off * 0x9e3779b97f4a7c15ull) & (ncap - 1); nv[h]; h = (h + 1) & (ncap - 1))
				;
			nv[h] = m->cus[i];
		}
		free(m->cus);
		m->cus = nv;
		m->capcus = ncap;
	}
	for (h = (off * 0x9e3779b97f4a7c15ull) & (m->capcus - 1); m->cus[h]; h = (h + 1) & (m->capcus - 1))
		if (m->cus[h]->off == off)
			return m->cus[h];
	m->cus[h] = cuidx_build(m, cudie);
	if (m->cus[h])
		m->ncus++;
	return m->cus[h];
}

/* The deepest range holding pc, by binary search and the enclosing-piece links; a node or -1. */
static int32_t innermost_range(const struct cuidx *c, uint64_t pc)
{
	size_t lo = 0, hi = c->npieces;
	int32_t p;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (c->pieces[mid].lo <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return -1;
	for (p = (int32_t)lo - 1; p >= 0 && pc >= c->pieces[p].hi; p = c->pieces[p].up)
		;
	return p < 0 ? -1 : c->pieces[p].node;
}

static int node_has(const struct cuidx *c, int32_t n, uint64_t pc)
{
	for (uint32_t i = 0; i < c->nodes[n].rcount; i++)
		if (pc >= c->ranges[c->nodes[n].rfirst + i].lo && pc < c->ranges[c->nodes[n].rfirst + i].hi)
			return 1;
	return 0;
}

/*
 * The innermost scope holding pc, or -1. The range index finds the function;
 * from there, as dwarf_getscopes does, the first child in DIE order that
 * holds pc is entered, level by level (overlapping siblings are not rare in
 * C++ code).
 */
static int32_t innermost(const struct cuidx *c, uint64_t pc)
{
	int32_t n = innermost_range(c, pc), found = n, careful = 0;

	if (n < 0)
		return -1;
	for (careful = c->nodes[n].kids_overlap; c->nodes[n].parent >= 0; careful |= c->nodes[n].kids_overlap)
		n = c->nodes[n].parent;
	if (!careful)
		return found;
	if (!node_has(c, n, pc))
		return innermost_range(c, pc);
	for (int32_t k = c->nodes[n].first_child; k >= 0;) {
		if (node_has(c, k, pc)) {
			n = k;
			k = c->nodes[k].first_child;
		} else {
			k = c->nodes[k].next_sibling;
		}
	}
	return n;
}

/* File idx of the CU, relative names joined to the compilation directory (as eu-addr2line prints them). */
static const char *cu_file(struct cuidx *c, size_t idx)
{
	const char *name;
	size_t len;

	if (!c->files || idx >= c->nfiles || !(name = dw_str(c->m, dwarf_filesrc(c->files, idx, NULL, NULL))))
		return NULL;
	if (name[0] == '/' || !c->comp_dir)
		return name;
	if (c->paths[idx])
		return c->paths[idx];
	len = strlen(c->comp_dir) + strlen(name) + 2;
	if (!(c->paths[idx] = malloc(len)))
		return name;
	snprintf(c->paths[idx], len, "%s/%s", c->comp_dir, name);
	return c->paths[idx];
}

/* The file of a line record, by its index in the CU's file table when it is that table. */
static const char *line_file(const struct ls_module *m, struct cuidx *c, Dwarf_Line *line)
{
	Dwarf_Files *files;
	size_t idx;

	if (c && dwarf_line_file(line, &files, &idx) == 0 && files == c->files)
		return cu_file(c, idx);
	return dw_str(m, dwarf_linesrc(line, NULL, NULL));
}

/* Frames from DWARF; 1 when it said nothing about the function (the symbol table then names it). */
static int dwarf_frames(struct ls_module *m, uint64_t pc, struct ls_framevec *fv, struct ls_sym *sym, const char *symname)
{
	struct cuidx *c;
	Dwarf_Line *line;
	const char *file = NULL;
	int lineno = 0, col = 0;
	int32_t n;

	if (!m->dwarf_tried)
		open_dwarf(m);
	if (!m->dw || !(c = find_cu(m, pc)))
		return 1;
	if ((line = dwarf_getsrc_die(&c->cudie, pc))) {
		file = line_file(m, c, line);
		dwarf_lineno(line, &lineno);
		dwarf_linecol(line, &col);
	}
	n = innermost(c, pc);
	while (n >= 0 && c->nodes[n].kind == NODE_BLOCK)
		n = c->nodes[n].parent;
	if (n < 0) {
		if (!symname)
			return 1;
		sym->func = symname;
		return ls_framevec_push(fv, symname, file, (uint32_t)lineno, (uint32_t)col) ? -ENOMEM : 0;
	}
	if (ls_framevec_push(fv, ls_demangle(m->dem, c->nodes[n].name), file, (uint32_t)lineno, (uint32_t)col))
		return -ENOMEM;
	sym->nframes = 1;
	/* Each inlined call adds its caller, at the call site. */
	while (c->nodes[n].kind == NODE_INLINE) {
		int32_t p = c->nodes[n].parent;

		while (p >= 0 && c->nodes[p].kind == NODE_BLOCK)
			p = c->nodes[p].parent;
		if (p < 0)
			break;
		if (ls_framevec_push(fv, ls_demangle(m->dem, c->nodes[p].name), cu_file(c, c->nodes[n].call_file),
				     c->nodes[n].call_line, c->nodes[n].call_col))
			return -ENOMEM;
		sym->nframes++;
		n = p;
	}
	sym->func = fv->v[fv->n - 1].func;
	if (c->nodes[n].kind == NODE_FUNC)
		sym->offset = sym->file_addr - c->nodes[n].entry;
	return 0;
}

int ls_module_resolve(struct ls_module *m, uint64_t vaddr, uint64_t lookup, struct ls_framevec *fv, struct ls_sym *sym)
{
	const struct msym *s;
	const char *name = NULL;
	size_t first = fv->n;
	int r;

	sym->file_addr = vaddr;
	if (m->error[0]) {
		sym->reason = m->error;
		return 0;
	}
	s = sym_lookup(m, lookup);
	if (s) {
		name = ls_demangle(m->dem, s->name);
		sym->offset = vaddr - s->value;
	}
	r = dwarf_frames(m, lookup, fv, sym, name);
	if (r < 0)
		return r;
	if (r == 0) {
		sym->nframes = fv->n - first;
		sym->frames = (const struct ls_sym_frame *)(uintptr_t)first;
		return 0;
	}
	if (m->go && (!name || !m->has_symtab)) {
		uint64_t start = 0;

		r = ls_gosym_frames(m->go, lookup, fv, &name, &start);
		if (r > 0) {
			sym->offset = vaddr - start;
			sym->func = name;
			sym->nframes = (size_t)r;
			sym->frames = (const struct ls_sym_frame *)(uintptr_t)first;
			return 0;
		}
		if (r != -ENOENT)
			return r;
	}
	if (!name && (name = plt_lookup(m, lookup, &sym->offset)))
		sym->offset = vaddr - sym->offset;
	if (!name) {
		if (m->is_go && !m->has_symtab)
			sym->reason = "stripped Go binary";
		else if (!m->globals.n && !m->locals.n)
			sym->reason = "no symbol table (stripped)";
		else
			sym->reason = "in no symbol (stripped local function?)";
		return 0;
	}
	sym->func = name;
	sym->nframes = 1;
	sym->frames = (const struct ls_sym_frame *)(uintptr_t)first;
	return ls_framevec_push(fv, name, NULL, 0, 0);
}

void ls_module_free(struct ls_module *m)
{
	if (!m)
		return;
	for (size_t i = 0; i < m->capcus; i++)
		cuidx_free(m->cus[i]);
	free(m->cus);
	free(m->runs);
	if (m->dw)
		dwarf_end(m->dw);
	if (m->delf)
		elf_end(m->delf);
	if (m->dfd >= 0)
		close(m->dfd);
	ls_gosym_free(m->go);
	symtab_free(&m->globals);
	symtab_free(&m->locals);
	free(m->segs);
	free(m->secs);
	free(m->plt);
	free(m->pltnames);
	if (m->elf)
		elf_end(m->elf);
	close(m->fd);
	ls_demangler_free(m->dem);
	free(m->path);
	free(m);
}
