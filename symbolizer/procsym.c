#include "procsym.h"
#include "gopclntab.h"

#include <errno.h>
#include <fcntl.h>
#include <gelf.h>
#include <inttypes.h>
#include <libelf.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

struct sym {
	uint64_t addr, size;
	const char *name;
};

/* One ELF object: its function symbols sorted by address, and its loadable segments. */
struct object {
	char *path;
	uint64_t dev, inode;
	struct sym *syms;
	size_t nsyms;
	char *strings;       /* names, copied: the file is closed after loading */
	uint64_t *seg_vaddr, *seg_off, *seg_len;
	size_t nsegs;
	const char *error;   /* why it could not be read */
};

struct mapping {
	uint64_t start, end, off;
	struct object *obj;
};

struct proc {
	pid_t pid;
	struct mapping *maps;
	size_t nmaps;
};

struct procsym {
	struct object **objs;
	size_t nobjs;
	struct proc *procs;
	size_t nprocs;
	struct sym *ksyms;
	size_t nksyms;
	char *kstrings;
	int kloaded;
};

static int by_addr(const void *a, const void *b)
{
	const struct sym *x = a, *y = b;

	if (x->addr != y->addr)
		return x->addr < y->addr ? -1 : 1;
	/* Prefer the entry with a size, then the shorter (usually the public) name. */
	if ((x->size != 0) != (y->size != 0))
		return x->size ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* The last symbol at or below addr, if addr lies within it (or it has no size). */
static const struct sym *lookup(const struct sym *v, size_t n, uint64_t addr)
{
	size_t lo = 0, hi = n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (v[mid].addr <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == 0)
		return NULL;
	/* Several symbols may share the address: back up to the first, the preferred one. */
	while (lo > 1 && v[lo - 2].addr == v[lo - 1].addr)
		lo--;
	v = &v[lo - 1];
	if (v->size && addr >= v->addr + v->size)
		return NULL;
	return v;
}

static void object_free(struct object *o)
{
	if (!o)
		return;
	free(o->path);
	free(o->syms);
	free(o->strings);
	free(o->seg_vaddr);
	free(o->seg_off);
	free(o->seg_len);
	free(o);
}

/* A stripped Go executable still names every function in .gopclntab, which its runtime needs. */
static void load_gopclntab(struct object *o, const char *open_path)
{
	struct ls_gopcln *p;
	size_t n, strsize = 0;
	char *nstr;
	struct sym *nsyms;

	if (ls_gopcln_open(open_path, &p, NULL))
		return;
	n = ls_gopcln_count(p);
	for (size_t i = 0; i < n; i++) {
		struct ls_gopcln_func f;

		if (ls_gopcln_func(p, i, &f) == 0)
			strsize += strlen(f.name) + 1;
	}
	nstr = malloc(strsize ? strsize : 1);
	nsyms = calloc(n ? n : 1, sizeof(*nsyms));
	if (!nstr || !nsyms) {
		free(nstr);
		free(nsyms);
		ls_gopcln_free(p);
		return;
	}
	free(o->strings);
	free(o->syms);
	o->strings = nstr;
	o->syms = nsyms;
	o->nsyms = 0;
	strsize = 0;
	for (size_t i = 0; i < n; i++) {
		struct ls_gopcln_func f;
		size_t len;

		if (ls_gopcln_func(p, i, &f))
			continue;
		len = strlen(f.name) + 1;
		memcpy(o->strings + strsize, f.name, len);
		o->syms[o->nsyms].addr = f.entry;
		o->syms[o->nsyms].size = f.end - f.entry;
		o->syms[o->nsyms].name = o->strings + strsize;
		o->nsyms++;
		strsize += len;
	}
	ls_gopcln_free(p);
}

static void load_object(struct object *o, const char *open_path)
{
	Elf *elf = NULL;
	Elf_Scn *scn = NULL;
	size_t strsize = 0, nph = 0, total = 0;
	int fd, have_symtab = 0;

	fd = open(open_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		o->error = errno == ENOENT ? "file gone" : "file unreadable";
		return;
	}
	elf_version(EV_CURRENT);
	elf = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	if (!elf || elf_kind(elf) != ELF_K_ELF) {
		o->error = "not an ELF file";
		goto cleanup;
	}
	/* .symtab when present (it includes local functions), otherwise .dynsym. */
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;

		if (gelf_getshdr(scn, &sh) && sh.sh_type == SHT_SYMTAB)
			have_symtab = 1;
	}
	for (int pass = 0; pass < 2; pass++) {
		scn = NULL;
		while ((scn = elf_nextscn(elf, scn))) {
			GElf_Shdr sh;
			Elf_Data *data;
			size_t n;

			if (!gelf_getshdr(scn, &sh) || sh.sh_type != (have_symtab ? SHT_SYMTAB : SHT_DYNSYM) ||
			    !sh.sh_entsize || !(data = elf_getdata(scn, NULL)))
				continue;
			n = sh.sh_size / sh.sh_entsize;
			for (size_t i = 0; i < n; i++) {
				GElf_Sym s;
				const char *name;
				size_t len;

				if (!gelf_getsym(data, (int)i, &s) || s.st_shndx == SHN_UNDEF || !s.st_value ||
				    (GELF_ST_TYPE(s.st_info) != STT_FUNC && GELF_ST_TYPE(s.st_info) != STT_GNU_IFUNC))
					continue;
				name = elf_strptr(elf, sh.sh_link, s.st_name);
				if (!name || !*name)
					continue;
				len = strlen(name) + 1;
				if (pass == 0) {
					strsize += len;
					total++;
					continue;
				}
				memcpy(o->strings + strsize, name, len);
				o->syms[o->nsyms].addr = s.st_value;
				o->syms[o->nsyms].size = s.st_size;
				o->syms[o->nsyms].name = o->strings + strsize;
				o->nsyms++;
				strsize += len;
			}
		}
		if (pass == 0) {
			o->strings = malloc(strsize ? strsize : 1);
			o->syms = calloc(total ? total : 1, sizeof(*o->syms));
			if (!o->strings || !o->syms) {
				o->error = "out of memory";
				goto cleanup;
			}
			strsize = 0;
		}
	}
	if (!have_symtab)
		load_gopclntab(o, open_path);
	qsort(o->syms, o->nsyms, sizeof(*o->syms), by_addr);
	if (!o->nsyms)
		o->error = "no symbol table (stripped)";
	if (elf_getphdrnum(elf, &nph) == 0 && nph) {
		o->seg_vaddr = calloc(nph, sizeof(uint64_t));
		o->seg_off = calloc(nph, sizeof(uint64_t));
		o->seg_len = calloc(nph, sizeof(uint64_t));
		for (size_t i = 0; o->seg_len && o->seg_off && o->seg_vaddr && i < nph; i++) {
			GElf_Phdr ph;

			if (!gelf_getphdr(elf, (int)i, &ph) || ph.p_type != PT_LOAD)
				continue;
			o->seg_vaddr[o->nsegs] = ph.p_vaddr;
			o->seg_off[o->nsegs] = ph.p_offset;
			o->seg_len[o->nsegs] = ph.p_filesz;
			o->nsegs++;
		}
	}
cleanup:
	if (elf)
		elf_end(elf);
	close(fd);
}

static struct object *get_object(struct procsym *ps, pid_t pid, const char *path, uint64_t dev, uint64_t inode)
{
	char open_path[4096 + 64];
	struct object *o, **nv;

	for (size_t i = 0; i < ps->nobjs; i++)
		if (ps->objs[i]->inode == inode && ps->objs[i]->dev == dev && !strcmp(ps->objs[i]->path, path))
			return ps->objs[i];
	o = calloc(1, sizeof(*o));
	nv = realloc(ps->objs, (ps->nobjs + 1) * sizeof(*nv));
	if (!o || !nv) {
		free(o);
		if (nv)
			ps->objs = nv;
		return NULL;
	}
	ps->objs = nv;
	o->path = strdup(path);
	o->dev = dev;
	o->inode = inode;
	/* Through the target's root: the same file even in another mount namespace. */
	snprintf(open_path, sizeof(open_path), "/proc/%d/root%s", (int)pid, path);
	load_object(o, open_path);
	ps->objs[ps->nobjs++] = o;
	return o;
}

static struct proc *get_proc(struct procsym *ps, pid_t pid)
{
	char path[64], line[4096 + 256];
	struct proc *p, *nv;
	FILE *f;

	for (size_t i = 0; i < ps->nprocs; i++)
		if (ps->procs[i].pid == pid)
			return &ps->procs[i];
	nv = realloc(ps->procs, (ps->nprocs + 1) * sizeof(*nv));
	if (!nv)
		return NULL;
	ps->procs = nv;
	p = &ps->procs[ps->nprocs++];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return p; /* gone: every address reports it */
	while (fgets(line, sizeof(line), f)) {
		uint64_t start, end, off, inode;
		unsigned int maj, min;
		char perms[8];
		int pos = 0;
		struct mapping *m;

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %x:%x %" SCNu64 " %n", &start, &end, perms,
			   &off, &maj, &min, &inode, &pos) < 7 || !pos || perms[2] != 'x' || line[pos] != '/')
			continue;
		line[pos + strcspn(line + pos, "\n")] = '\0';
		m = realloc(p->maps, (p->nmaps + 1) * sizeof(*m));
		if (!m)
			break;
		p->maps = m;
		m = &p->maps[p->nmaps];
		m->start = start;
		m->end = end;
		m->off = off;
		m->obj = get_object(ps, pid, line + pos, ((uint64_t)maj << 32) | min, inode);
		if (m->obj)
			p->nmaps++;
	}
	fclose(f);
	return p;
}

struct procsym *procsym_new(void)
{
	return calloc(1, sizeof(struct procsym));
}

void procsym_free(struct procsym *ps)
{
	if (!ps)
		return;
	for (size_t i = 0; i < ps->nobjs; i++)
		object_free(ps->objs[i]);
	free(ps->objs);
	for (size_t i = 0; i < ps->nprocs; i++)
		free(ps->procs[i].maps);
	free(ps->procs);
	free(ps->ksyms);
	free(ps->kstrings);
	free(ps);
}

int procsym_user(struct procsym *ps, pid_t pid, const uint64_t *addrs, size_t n, struct procsym_frame *out)
{
	struct proc *p = get_proc(ps, pid);

	if (!p)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		const struct mapping *m = NULL;
		const struct sym *s;
		uint64_t file_off, vaddr = 0;
		int found = 0;

		memset(&out[i], 0, sizeof(out[i]));
		for (size_t k = 0; k < p->nmaps; k++)
			if (addrs[i] >= p->maps[k].start && addrs[i] < p->maps[k].end)
				m = &p->maps[k];
		if (!m) {
			out[i].reason = p->nmaps ? "no executable mapping holds it" : "process gone before symbolization";
			continue;
		}
		out[i].module = m->obj->path;
		if (m->obj->error) {
			out[i].reason = m->obj->error;
			continue;
		}
		/* Address -> file offset -> the ELF virtual address of the segment holding it. */
		file_off = addrs[i] - m->start + m->off;
		for (size_t k = 0; k < m->obj->nsegs; k++) {
			if (file_off >= m->obj->seg_off[k] && file_off < m->obj->seg_off[k] + m->obj->seg_len[k]) {
				vaddr = file_off - m->obj->seg_off[k] + m->obj->seg_vaddr[k];
				found = 1;
				break;
			}
		}
		if (!found) {
			out[i].reason = "outside the file's loadable segments";
			continue;
		}
		s = lookup(m->obj->syms, m->obj->nsyms, vaddr);
		if (!s) {
			out[i].reason = "in no symbol (stripped, or a local function)";
			continue;
		}
		out[i].func = s->name;
		out[i].offset = vaddr - s->addr;
	}
	return 0;
}

static int load_kallsyms(struct procsym *ps)
{
	size_t cap = 0, scap = 0, slen = 0;
	char line[512];
	FILE *f;

	ps->kloaded = 1;
	f = fopen("/proc/kallsyms", "re");
	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long addr;
		char type, name[256];

		if (sscanf(line, "%llx %c %255s", &addr, &type, name) != 3 || !addr)
			continue;
		if (type != 't' && type != 'T' && type != 'w' && type != 'W')
			continue;
		if (ps->nksyms == cap) {
			struct sym *nv = realloc(ps->ksyms, (cap = cap ? cap * 2 : 65536) * sizeof(*nv));

			if (!nv)
				break;
			ps->ksyms = nv;
		}
		if (slen + strlen(name) + 1 > scap) {
			char *ns = realloc(ps->kstrings, scap = scap ? scap * 2 : (1 << 20));

			if (!ns)
				break;
			/* Names are offsets until the table is complete: the buffer moves. */
			ps->kstrings = ns;
		}
		memcpy(ps->kstrings + slen, name, strlen(name) + 1);
		ps->ksyms[ps->nksyms].addr = addr;
		ps->ksyms[ps->nksyms].size = 0;
		ps->ksyms[ps->nksyms].name = (const char *)(uintptr_t)slen;
		ps->nksyms++;
		slen += strlen(name) + 1;
	}
	fclose(f);
	for (size_t i = 0; i < ps->nksyms; i++)
		ps->ksyms[i].name = ps->kstrings + (uintptr_t)ps->ksyms[i].name;
	qsort(ps->ksyms, ps->nksyms, sizeof(*ps->ksyms), by_addr);
	return 0;
}

int procsym_kernel(struct procsym *ps, const uint64_t *addrs, size_t n, struct procsym_frame *out)
{
	if (!ps->kloaded)
		load_kallsyms(ps);
	for (size_t i = 0; i < n; i++) {
		const struct sym *s = lookup(ps->ksyms, ps->nksyms, addrs[i]);

		memset(&out[i], 0, sizeof(out[i]));
		out[i].module = "[kernel]";
		if (!ps->nksyms)
			out[i].reason = "/proc/kallsyms unreadable or hidden (kptr_restrict)";
		else if (!s)
			out[i].reason = "below the first kernel symbol";
		else {
			out[i].func = s->name;
			out[i].offset = addrs[i] - s->addr;
		}
	}
	return 0;
}
