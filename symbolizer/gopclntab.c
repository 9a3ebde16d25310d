#include "gopclntab.h"

#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Table layouts by header magic: what moved between Go releases. */
enum layout { L116, L118, L120 };

static const struct layout_desc {
	uint32_t magic;
	const char *name;
	size_t func_size;   /* fixed part of _func */
	int has_text_start; /* header carries textStart; functab entries are 32-bit offsets from it */
	size_t nfuncdata_at, nameoff_at, pcfile_at, pcln_at, npcdata_at, cu_at;
	size_t inl_size, inl_name_at, inl_parentpc_at;
	size_t gofunc_word; /* moduledata word holding gofunc (funcdata base); 0: funcdata are addresses */
} layouts[] = {
	[L116] = { 0xfffffffa, "go1.16", 44, 0, 43, 8, 24, 28, 32, 36, 20, 12, 16, 0 },
	[L118] = { 0xfffffff0, "go1.18", 40, 1, 39, 4, 20, 24, 28, 32, 20, 12, 16, 38 },
	[L120] = { 0xfffffff1, "go1.20", 44, 1, 43, 4, 20, 24, 28, 32, 16, 4, 8, 40 },
};

#define PCDATA_INL_INDEX 2
#define FUNCDATA_INL_TREE 3

struct seg {
	uint64_t vaddr, memsz, off, filesz;
	uint32_t flags;
};

struct ls_gopcln {
	const uint8_t *map;
	size_t map_len;
	const struct layout_desc *L;
	struct seg segs[16];
	size_t nsegs;
	const uint8_t *tab; /* the pcHeader */
	size_t tab_len;
	uint64_t tab_vaddr;
	uint64_t nfunc, text_start, gofunc;
	size_t funcname, cu, filetab, pctab, functab; /* offsets from tab */
	unsigned int quantum;
};

static int fail(char *err, int code, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		va_start(ap, fmt);
		vsnprintf(err, LS_GOPCLN_ERR_LEN, fmt, ap);
		va_end(ap);
	}
	return -code;
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return v;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return v;
}

/* len bytes of the table at off, or NULL when they run past its end. */
static const uint8_t *at(const struct ls_gopcln *p, uint64_t off, size_t len)
{
	return off <= p->tab_len && len <= p->tab_len - off ? p->tab + off : NULL;
}

/* 1 when len bytes at file offset off lie inside the file (header fields may be anything: no sum may wrap). */
static int in_file(const struct ls_gopcln *p, uint64_t off, uint64_t len)
{
	return off <= p->map_len && len <= p->map_len - off;
}

/* len bytes of the file at a virtual address, or NULL when not backed by the file. */
static const uint8_t *vptr(const struct ls_gopcln *p, uint64_t vaddr, size_t len)
{
	for (size_t i = 0; i < p->nsegs; i++) {
		const struct seg *s = &p->segs[i];

		if (vaddr >= s->vaddr && vaddr - s->vaddr < s->filesz && len <= s->filesz - (vaddr - s->vaddr) &&
		    in_file(p, s->off, s->filesz))
			return p->map + s->off + (vaddr - s->vaddr);
	}
	return NULL;
}

/* A NUL-terminated string at off in the table, or "" when it is not terminated inside it. */
static const char *str_at(const struct ls_gopcln *p, uint64_t off)
{
	const uint8_t *s = at(p, off, 1);

	if (!s || !memchr(s, 0, p->tab_len - off))
		return "";
	return (const char *)s;
}

/* The functab entry i (0..nfunc; nfunc is the end sentinel): entry pc and _func offset. */
static int ftab(const struct ls_gopcln *p, uint64_t i, uint64_t *entry, uint64_t *funcoff)
{
	const uint8_t *e;

	if (p->L->has_text_start) {
		e = at(p, p->functab + i * 8, 8);
		if (!e)
			return -ERANGE;
		*entry = p->text_start + rd32(e);
		*funcoff = rd32(e + 4);
	} else {
		e = at(p, p->functab + i * 16, 16);
		if (!e)
			return -ERANGE;
		*entry = rd64(e);
		*funcoff = rd64(e + 8);
	}
	return 0;
}

/* The fixed part of the i-th function's _func, with its pcdata/funcdata after it. */
static const uint8_t *func_rec(const struct ls_gopcln *p, uint64_t i, uint64_t *entry, uint64_t *end)
{
	uint64_t funcoff, next_off;

	if (i >= p->nfunc || ftab(p, i, entry, &funcoff) || ftab(p, i + 1, end, &next_off))
		return NULL;
	return at(p, p->functab + funcoff, p->L->func_size);
}

static int fill_func(const struct ls_gopcln *p, uint64_t i, struct ls_gopcln_func *out)
{
	const uint8_t *f = func_rec(p, i, &out->entry, &out->end);

	if (!f)
		return -ERANGE;
	out->name = str_at(p, p->funcname + (uint64_t)(int64_t)(int32_t)rd32(f + p->L->nameoff_at));
	return 0;
}

static int read_varint(const uint8_t **s, const uint8_t *end, uint32_t *v)
{
	uint32_t r = 0;

	for (unsigned int shift = 0; shift < 35; shift += 7) {
		if (*s >= end)
			return -1;
		uint8_t b = *(*s)++;

		r |= (uint32_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			*v = r;
			return 0;
		}
	}
	return -1;
}

/*
 * The value a pc-value table (at off in pctab) gives target, walking from the
 * function's entry: pairs of (zig-zag value delta, pc delta / quantum).
 * -1 when there is no table or target is past it.
 */
static int32_t pcvalue(const struct ls_gopcln *p, uint32_t off, uint64_t entry, uint64_t target)
{
	const uint8_t *s, *end = p->tab + p->tab_len;
	int32_t val = -1;
	uint64_t pc = entry;
	int first = 1;

	if (!off || !(s = at(p, p->pctab + off, 1)))
		return -1;
	for (;;) {
		uint32_t uv, pcd;

		if (read_varint(&s, end, &uv) || (uv == 0 && !first))
			return -1;
		/* Go's int32 arithmetic: a delta that overflows wraps around (in C, only unsigned arithmetic does). */
		val = (int32_t)((uint32_t)val + ((uv & 1) ? ~(uv >> 1) : uv >> 1));
		if (read_varint(&s, end, &pcd))
			return -1;
		pc += (uint64_t)pcd * p->quantum;
		if (target < pc)
			return val;
		first = 0;
	}
}

static uint64_t func_index(const struct ls_gopcln *p, uint64_t pc, int *found)
{
	uint64_t lo = 0, hi = p->nfunc, entry, off;

	*found = 0;
	/* Largest i with entry(i) <= pc. */
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		if (ftab(p, mid, &entry, &off))
			return 0;
		if (entry <= pc)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (!lo)
		return 0;
	if (ftab(p, lo, &entry, &off) || pc >= entry)
		return 0; /* past the end sentinel */
	*found = 1;
	return lo - 1;
}

static void position(const struct ls_gopcln *p, const uint8_t *f, uint64_t entry, uint64_t pc, const char **file,
		     int *line)
{
	int32_t fno = pcvalue(p, rd32(f + p->L->pcfile_at), entry, pc);
	int32_t ln = pcvalue(p, rd32(f + p->L->pcln_at), entry, pc);
	const uint8_t *cu;

	*file = "";
	*line = ln > 0 ? ln : 0;
	if (fno < 0)
		return;
	cu = at(p, p->cu + ((uint64_t)rd32(f + p->L->cu_at) + (uint64_t)fno) * 4, 4);
	if (cu && rd32(cu) != UINT32_MAX)
		*file = str_at(p, p->filetab + rd32(cu));
}

/* Read the ELF headers: loadable segments, and where .gopclntab is. */
static int read_elf(struct ls_gopcln *p, const char *path, char *err)
{
	Elf64_Ehdr eh;
	Elf64_Shdr sh, shstr;

	if (p->map_len < sizeof(eh) || memcmp(p->map, ELFMAG, SELFMAG))
		return fail(err, ENOEXEC, "%s: not an ELF file", path);
	/* Headers are copied out: the file places them at any offset, aligned or not. */
	memcpy(&eh, p->map, sizeof(eh));
	if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB)
		return fail(err, ENOTSUP, "%s: only 64-bit little-endian Go binaries are read", path);
	if (eh.e_phoff && eh.e_phentsize == sizeof(Elf64_Phdr) &&
	    in_file(p, eh.e_phoff, (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr))) {
		for (size_t i = 0; i < eh.e_phnum && p->nsegs < sizeof(p->segs) / sizeof(p->segs[0]); i++) {
			Elf64_Phdr ph;

			memcpy(&ph, p->map + eh.e_phoff + i * sizeof(ph), sizeof(ph));
			if (ph.p_type != PT_LOAD)
				continue;
			p->segs[p->nsegs++] = (struct seg){ ph.p_vaddr, ph.p_memsz, ph.p_offset, ph.p_filesz, ph.p_flags };
		}
	}
	if (!eh.e_shoff || eh.e_shentsize != sizeof(Elf64_Shdr) || eh.e_shstrndx >= eh.e_shnum ||
	    !in_file(p, eh.e_shoff, (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr)))
		return 0;
	memcpy(&shstr, p->map + eh.e_shoff + (uint64_t)eh.e_shstrndx * sizeof(shstr), sizeof(shstr));
	for (size_t i = 0; i < eh.e_shnum; i++) {
		uint64_t name;

		memcpy(&sh, p->map + eh.e_shoff + i * sizeof(sh), sizeof(sh));
		name = shstr.sh_offset + sh.sh_name;
		if (name < shstr.sh_offset || !in_file(p, name, sizeof(".gopclntab")) || sh.sh_type == SHT_NOBITS)
			continue;
		if (!memcmp(p->map + name, ".gopclntab", sizeof(".gopclntab")) && in_file(p, sh.sh_offset, sh.sh_size)) {
			p->tab = p->map + sh.sh_offset;
			p->tab_len = sh.sh_size;
			p->tab_vaddr = sh.sh_addr;
		}
	}
	return 0;
}

static const struct layout_desc *layout_of(const uint8_t *h, size_t len)
{
	if (len < 64 || h[4] || h[5] || (h[6] != 1 && h[6] != 2 && h[6] != 4) || h[7] != 8)
		return NULL;
	for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++)
		if (rd32(h) == layouts[i].magic)
			return &layouts[i];
	return NULL;
}

/* Without section headers naming it: the first header with a known magic in a read-only segment. */
static void scan_for_table(struct ls_gopcln *p)
{
	for (size_t i = 0; i < p->nsegs && !p->tab; i++) {
		const struct seg *s = &p->segs[i];

		if ((s->flags & PF_W) || !in_file(p, s->off, s->filesz))
			continue;
		for (uint64_t o = 0; o + 64 <= s->filesz; o += 8) {
			const uint8_t *h = p->map + s->off + o;

			if (layout_of(h, s->filesz - o) && rd64(h + 8) > 0 && rd64(h + 8) < (1u << 24)) {
				p->tab = h;
				p->tab_len = s->filesz - o;
				p->tab_vaddr = s->vaddr + o;
				break;
			}
		}
	}
}

/*
 * funcdata offsets (1.18+) are relative to moduledata.gofunc. moduledata is
 * the one data word pair {pcHeader address, funcnametab address}.
 */
static void find_gofunc(struct ls_gopcln *p)
{
	uint64_t want0 = p->tab_vaddr, want1 = p->tab_vaddr + p->funcname;

	if (!p->L->gofunc_word)
		return;
	for (size_t i = 0; i < p->nsegs; i++) {
		const struct seg *s = &p->segs[i];

		if (!(s->flags & PF_W) || !in_file(p, s->off, s->filesz))
			continue;
		for (uint64_t o = 0; o + (p->L->gofunc_word + 1) * 8 <= s->filesz; o += 8) {
			const uint8_t *m = p->map + s->off + o;

			if (rd64(m) == want0 && rd64(m + 8) == want1) {
				p->gofunc = rd64(m + p->L->gofunc_word * 8);
				return;
			}
		}
	}
}

int ls_gopcln_open(const char *path, struct ls_gopcln **out, char *err)
{
	struct ls_gopcln *p;
	struct stat st;
	const uint8_t *h;
	size_t w, esz;
	int fd = -1, ret = 0;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return fail(err, ENOMEM, "out of memory");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		ret = fail(err, errno, "%s: %s", path, strerror(errno));
		goto cleanup;
	}
	p->map_len = (size_t)st.st_size;
	p->map = p->map_len ? mmap(NULL, p->map_len, PROT_READ, MAP_PRIVATE, fd, 0) : MAP_FAILED;
	if (p->map == MAP_FAILED) {
		p->map = NULL;
		ret = p->map_len ? fail(err, errno, "%s: cannot map: %s", path, strerror(errno))
				 : fail(err, ENOEXEC, "%s: empty file", path);
		goto cleanup;
	}
	ret = read_elf(p, path, err);
	if (ret)
		goto cleanup;
	if (!p->tab)
		scan_for_table(p);
	if (!p->tab) {
		ret = fail(err, ENOENT, "%s: no Go function table (.gopclntab)", path);
		goto cleanup;
	}
	p->L = layout_of(p->tab, p->tab_len);
	if (!p->L) {
		ret = fail(err, ENOTSUP, "%s: .gopclntab magic 0x%08x: layout not known (Go 1.16 or later is read)",
			   path, p->tab_len >= 4 ? rd32(p->tab) : 0);
		goto cleanup;
	}
	h = p->tab;
	w = p->L->has_text_start ? 32 : 24; /* after magic, pads, quantum, ptrsize, nfunc, nfiles[, textStart] */
	if (p->tab_len < w + 40) {
		ret = fail(err, EINVAL, "%s: .gopclntab header cut short (%zu bytes)", path, p->tab_len);
		goto cleanup;
	}
	p->quantum = h[6];
	p->nfunc = rd64(h + 8);
	if (p->L->has_text_start)
		p->text_start = rd64(h + 24);
	p->funcname = rd64(h + w);
	p->cu = rd64(h + w + 8);
	p->filetab = rd64(h + w + 16);
	p->pctab = rd64(h + w + 24);
	p->functab = rd64(h + w + 32);
	/* The function count bounds every walk of the table: it must fit, as (nfunc + 1) entries, in the table. */
	esz = p->L->has_text_start ? 8 : 16;
	if (p->nfunc >= p->tab_len / esz || !at(p, p->functab, (p->nfunc + 1) * esz) || p->funcname >= p->tab_len) {
		ret = fail(err, EINVAL, "%s: .gopclntab header points outside the table", path);
		goto cleanup;
	}
	find_gofunc(p);
	*out = p;
	p = NULL;
cleanup:
	if (fd >= 0)
		close(fd);
	ls_gopcln_free(p);
	return ret;
}

void ls_gopcln_free(struct ls_gopcln *p)
{
	if (!p)
		return;
	if (p->map)
		munmap((void *)p->map, p->map_len);
	free(p);
}

const char *ls_gopcln_layout(const struct ls_gopcln *p)
{
	return p->L->name;
}

size_t ls_gopcln_count(const struct ls_gopcln *p)
{
	return (size_t)p->nfunc;
}

int ls_gopcln_func(const struct ls_gopcln *p, size_t i, struct ls_gopcln_func *out)
{
	return fill_func(p, i, out);
}

int ls_gopcln_find(const struct ls_gopcln *p, const char *name, struct ls_gopcln_func *out)
{
	for (uint64_t i = 0; i < p->nfunc; i++) {
		struct ls_gopcln_func f;

		if (fill_func(p, i, &f) == 0 && !strcmp(f.name, name)) {
			*out = f;
			return 0;
		}
	}
	return -ENOENT;
}

int ls_gopcln_func_at(const struct ls_gopcln *p, uint64_t pc, struct ls_gopcln_func *out)
{
	int found;
	uint64_t i = func_index(p, pc, &found);

	return found ? fill_func(p, i, out) : -ENOENT;
}

int ls_gopcln_line(const struct ls_gopcln *p, uint64_t pc, const char **file, int *line)
{
	uint64_t entry, end;
	int found;
	uint64_t i = func_index(p, pc, &found);
	const uint8_t *f = found ? func_rec(p, i, &entry, &end) : NULL;

	if (!f)
		return -ENOENT;
	position(p, f, entry, pc, file, line);
	return 0;
}

/* The inline tree of a function (its FUNCDATA_InlTree), or NULL. */
static const uint8_t *inline_tree(const struct ls_gopcln *p, const uint8_t *f, uint64_t *vaddr)
{
	uint32_t npcdata = rd32(f + p->L->npcdata_at), nfuncdata = f[p->L->nfuncdata_at];
	uint64_t off = (uint64_t)(f - p->tab) + p->L->func_size + 4ull * npcdata;
	const uint8_t *d;

	if (nfuncdata <= FUNCDATA_INL_TREE)
		return NULL;
	if (p->L->gofunc_word) {
		d = at(p, off + 4ull * FUNCDATA_INL_TREE, 4);
		if (!d || rd32(d) == UINT32_MAX || !p->gofunc)
			return NULL;
		*vaddr = p->gofunc + rd32(d);
	} else {
		off = (off + 7) & ~7ull;
		d = at(p, off + 8ull * FUNCDATA_INL_TREE, 8);
		if (!d || !rd64(d))
			return NULL;
		*vaddr = rd64(d);
	}
	return vptr(p, *vaddr, p->L->inl_size);
}

int ls_gopcln_frames(const struct ls_gopcln *p, uint64_t pc, struct ls_gopcln_frame *frames, size_t max,
		     size_t *n)
{
	uint64_t entry, end, tree_va = 0;
	int found;
	uint64_t i = func_index(p, pc, &found);
	const uint8_t *f = found ? func_rec(p, i, &entry, &end) : NULL;
	const uint8_t *tree;
	uint32_t inl_pcdata = 0;
	int32_t ix = -1;

	*n = 0;
	if (!f)
		return -ENOENT;
	tree = inline_tree(p, f, &tree_va);
	if (tree && rd32(f + p->L->npcdata_at) > PCDATA_INL_INDEX) {
		const uint8_t *pd = at(p, (uint64_t)(f - p->tab) + p->L->func_size + 4 * PCDATA_INL_INDEX, 4);

		inl_pcdata = pd ? rd32(pd) : 0;
		ix = pcvalue(p, inl_pcdata, entry, pc);
	}
	/* Each inlined call names its callee and where in the outer function it was called from. */
	for (int guard = 0; ix >= 0 && guard < 256 && *n < max; guard++) {
		const uint8_t *rec = vptr(p, tree_va + (uint64_t)ix * p->L->inl_size, p->L->inl_size);
		struct ls_gopcln_frame *fr;

		if (!rec)
			break; /* an index past the tree: no frame for it */
		fr = &frames[(*n)++];
		fr->name = str_at(p, p->funcname + (uint64_t)(int64_t)(int32_t)rd32(rec + p->L->inl_name_at));
		fr->inlined = 1;
		position(p, f, entry, pc, &fr->file, &fr->line);
		pc = entry + (uint64_t)(int64_t)(int32_t)rd32(rec + p->L->inl_parentpc_at);
		ix = pcvalue(p, inl_pcdata, entry, pc);
	}
	if (*n < max) {
		struct ls_gopcln_frame *fr = &frames[(*n)++];

		fr->name = str_at(p, p->funcname + (uint64_t)(int64_t)(int32_t)rd32(f + p->L->nameoff_at));
		fr->inlined = 0;
		position(p, f, entry, pc, &fr->file, &fr->line);
	}
	return 0;
}
