/* The symbolizer handle: processes and their mappings, objects by build-id, batches. */
#include "symint.h"
#include "perfmap.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* One executable mapping of a process. */
struct pmap {
	struct ls_sym_mapping m;
	struct ls_module *mod;  /* NULL: reason says why */
	const char *reason;
};

struct proc {
	pid_t pid;
	struct pmap *maps;
	size_t nmaps;
	int read;               /* the mappings were read at least once */
	int gone;               /* a re-reading found no process */
	uint64_t read_ns;       /* when the mappings were last read (CLOCK_MONOTONIC) */
	/* Mappings replaced by a later reading: earlier results still point into them. */
	struct pmap **old;
	size_t *nold, nolds;
	struct jit *jit;        /* its JIT symbol map, read on the first address in generated code */
};

/* A process's perf map; maps replaced by a later reading stay, as results point into them. */
struct jit {
	struct ls_perfmap *pm;
	struct ls_perfmap **old;
	size_t nold;
	uint64_t read_ns;
	char path[256];
	char reason[512];
};

/* perf map reasons, as read: within struct jit's reason with room for its prefix. */
#define JIT_REASON_LEN 256

/* An opened object, findable by the file it came from and by build-id. */
struct modent {
	struct ls_module *mod;
	char *path;
	uint64_t dev, ino;
	struct ls_sym_mapping elf_map; /* for an ELF source: the whole file */
};

struct ls_symbolizer {
	struct ls_symbolizer_opts opts;
	struct modent **mods;  /* each allocated alone: results point into them */
	size_t nmods;
	struct proc *procs;
	size_t nprocs;
	struct ls_kallsyms *kallsyms;
	int kallsyms_err;
	struct ls_sym_mapping kernel_map;
	char error[512];
};

struct result {
	struct ls_sym_result pub;
	struct ls_sym_frame *frames;
};

static int set_error(struct ls_symbolizer *s, int err, const char *fmt, ...)
{
	va_list ap;
	size_t len;

	va_start(ap, fmt);
	vsnprintf(s->error, sizeof(s->error), fmt, ap);
	va_end(ap);
	len = strlen(s->error);
	snprintf(s->error + len, sizeof(s->error) - len, ": %s", strerror(err));
	return -err;
}

int ls_symbolizer_new(const struct ls_symbolizer_opts *opts, struct ls_symbolizer **out)
{
	struct ls_symbolizer *s = calloc(1, sizeof(*s));

	*out = NULL;
	if (!s)
		return -ENOMEM;
	if (opts)
		memcpy(&s->opts, opts, opts->sz < sizeof(s->opts) ? opts->sz : sizeof(s->opts));
	s->opts.sz = sizeof(s->opts);
	s->kernel_map = (struct ls_sym_mapping){ .path = "[kernel]", .build_id = "" };
	*out = s;
	return 0;
}

static void maps_free(struct pmap *maps, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free((char *)maps[i].m.path);
	free(maps);
}

static void jit_free(struct jit *j)
{
	if (!j)
		return;
	ls_perfmap_free(j->pm);
	for (size_t i = 0; i < j->nold; i++)
		ls_perfmap_free(j->old[i]);
	free(j->old);
	free(j);
}

static void proc_clear(struct proc *p)
{
	jit_free(p->jit);
	maps_free(p->maps, p->nmaps);
	for (size_t i = 0; i < p->nolds; i++)
		maps_free(p->old[i], p->nold[i]);
	free(p->old);
	free(p->nold);
}

/* Keep the current mappings alive for earlier results; 0 or -ENOMEM. */
static int proc_retire(struct proc *p)
{
	struct pmap **o;
	size_t *no;

	if (!p->maps)
		return 0;
	o = realloc(p->old, (p->nolds + 1) * sizeof(*o));
	if (o)
		p->old = o;
	no = realloc(p->nold, (p->nolds + 1) * sizeof(*no));
	if (no)
		p->nold = no;
	if (!o || !no)
		return -ENOMEM;
	p->old[p->nolds] = p->maps;
	p->nold[p->nolds++] = p->nmaps;
	p->maps = NULL;
	p->nmaps = 0;
	return 0;
}

void ls_symbolizer_free(struct ls_symbolizer *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->nprocs; i++)
		proc_clear(&s->procs[i]);
	free(s->procs);
	for (size_t i = 0; i < s->nmods; i++) {
		int shared = 0;

		/* One module may serve several files (same build-id): free it with its last entry. */
		for (size_t k = i + 1; k < s->nmods; k++)
			shared |= s->mods[k]->mod == s->mods[i]->mod;
		if (!shared)
			ls_module_free(s->mods[i]->mod);
		free(s->mods[i]->path);
		free(s->mods[i]);
	}
	free(s->mods);
	ls_kallsyms_free(s->kallsyms);
	free(s);
}

const char *ls_symbolizer_error(const struct ls_symbolizer *s)
{
	return s->error;
}

/*
 * The module for an object known by path and dev/inode, opened through
 * open_path when new. Two files with one build-id share one module. Sets
 * *reason when the file cannot be opened; NULL with no reason: out of memory.
 */
static struct modent *get_module(struct ls_symbolizer *s, const char *path, uint64_t dev, uint64_t ino,
				 const char *open_path, const char **reason)
{
	struct modent *e = NULL, **nv;
	struct stat st;
	int fd;

	for (size_t i = 0; i < s->nmods; i++)
		if (s->mods[i]->ino == ino && s->mods[i]->dev == dev && !strcmp(s->mods[i]->path, path))
			return s->mods[i];
	/* "fd:N": an image already in a file descriptor (the vdso), taken over. */
	if (!strncmp(open_path, "fd:", 3))
		fd = atoi(open_path + 3);
	else
		fd = open(open_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		*reason = errno == ENOENT ? "object file gone" : "object file unreadable";
		return NULL;
	}
	if (!dev && !ino && strncmp(open_path, "fd:", 3) && fstat(fd, &st) == 0) {
		dev = st.st_dev;
		ino = st.st_ino;
	}
	nv = realloc(s->mods, (s->nmods + 1) * sizeof(*nv));
	if (nv)
		s->mods = nv;
	if (!nv || !(e = calloc(1, sizeof(*e))) || !(e->path = strdup(path))) {
		free(e);
		close(fd);
		return NULL;
	}
	e->dev = dev;
	e->ino = ino;
	e->mod = ls_module_open(fd, path, &s->opts);
	if (!e->mod) {
		free(e->path);
		free(e);
		return NULL;
	}
	if (ls_module_build_id(e->mod)[0]) {
		for (size_t i = 0; i < s->nmods; i++) {
			if (!strcmp(ls_module_build_id(s->mods[i]->mod), ls_module_build_id(e->mod))) {
				ls_module_free(e->mod);
				e->mod = s->mods[i]->mod;
				break;
			}
		}
	}
	e->elf_map = (struct ls_sym_mapping){ .path = e->path, .build_id = ls_module_build_id(e->mod) };
	s->mods[s->nmods++] = e;
	return e;
}

/* A copy of pid's vdso (an ELF image the kernel maps) in a memory file, or -1. */
static int vdso_image(pid_t pid, uint64_t start, uint64_t end)
{
	char path[64];
	char *buf = NULL;
	int mem, fd = -1;
	size_t len = end - start;

	snprintf(path, sizeof(path), "/proc/%d/mem", (int)pid);
	mem = open(path, O_RDONLY | O_CLOEXEC);
	if (mem < 0 || len > (64u << 20) || !(buf = malloc(len)))
		goto cleanup;
	if (pread(mem, buf, len, (off_t)start) != (ssize_t)len)
		goto cleanup;
	fd = memfd_create("latscope-vdso", MFD_CLOEXEC);
	if (fd >= 0 && write(fd, buf, len) != (ssize_t)len) {
		close(fd);
		fd = -1;
	}
cleanup:
	free(buf);
	if (mem >= 0)
		close(mem);
	return fd;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static struct proc *find_proc(struct ls_symbolizer *s, pid_t pid)
{
	for (size_t i = 0; i < s->nprocs; i++)
		if (s->procs[i].pid == pid)
			return &s->procs[i];
	return NULL;
}

int ls_symbolizer_add_process(struct ls_symbolizer *s, pid_t pid)
{
	char path[64], line[4096 + 256], open_path[4096 + 64];
	struct proc *p = find_proc(s, pid);
	struct pmap *maps = NULL;
	size_t nmaps = 0;
	FILE *f;
	int ret = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return set_error(s, errno == ENOENT ? ESRCH : errno, "pid %d", (int)pid);
	while (fgets(line, sizeof(line), f)) {
		uint64_t start, end, off, inode;
		unsigned int maj, min;
		char perms[8], *name, *nl;
		int pos = 0;
		struct pmap *m, *nv;

		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s %" SCNx64 " %x:%x %" SCNu64 " %n", &start, &end, perms, &off,
			   &maj, &min, &inode, &pos) < 7 || !pos || perms[2] != 'x')
			continue;
		name = line + pos;
		if ((nl = strchr(name, '\n')))
			*nl = '\0';
		if (!(nv = realloc(maps, (nmaps + 1) * sizeof(*nv)))) {
			ret = -ENOMEM;
			goto cleanup;
		}
		maps = nv;
		m = &maps[nmaps];
		memset(m, 0, sizeof(*m));
		m->m.start = start;
		m->m.end = end;
		m->m.file_offset = off;
		m->m.build_id = "";
		if (!(m->m.path = strdup(*name ? name : "[anonymous]"))) {
			ret = -ENOMEM;
			goto cleanup;
		}
		nmaps++;
		if (!strcmp(name, "[vdso]")) {
			/* Every process of this kernel maps the same vdso: one copy of its image serves all. */
			struct modent *e = NULL;

			for (size_t i = 0; i < s->nmods && !e; i++)
				if (!s->mods[i]->dev && !s->mods[i]->ino && !strcmp(s->mods[i]->path, name))
					e = s->mods[i];
			if (!e) {
				int fd = vdso_image(pid, start, end);

				snprintf(open_path, sizeof(open_path), "fd:%d", fd);
				e = fd >= 0 ? get_module(s, name, 0, 0, open_path, &m->reason) : NULL;
			}
			m->mod = e ? e->mod : NULL;
			if (!m->mod)
				m->reason = "in the vdso, unreadable (no access to /proc/PID/mem)";
			else
				m->m.build_id = ls_module_build_id(m->mod);
			continue;
		}
		if (name[0] != '/') {
			m->reason = !strcmp(name, "[vsyscall]") ? "in the kernel's vsyscall page"
								: "anonymous executable memory (generated code)";
			continue;
		}
		/* The mapped file itself, even when deleted or in another mount namespace; else the path in its root. */
		snprintf(open_path, sizeof(open_path), "/proc/%d/map_files/%" PRIx64 "-%" PRIx64, (int)pid, start, end);
		if (access(open_path, R_OK) != 0) {
			nl = strstr(name, " (deleted)");
			if (nl)
				*nl = '\0';
			snprintf(open_path, sizeof(open_path), "/proc/%d/root%s", (int)pid, name);
		}
		{
			struct modent *e = get_module(s, name, ((uint64_t)maj << 32) | min, inode, open_path, &m->reason);

			if (!e && !m->reason) {
				ret = -ENOMEM;
				goto cleanup;
			}
			m->mod = e ? e->mod : NULL;
		}
		if (m->mod && ls_module_error(m->mod)) {
			m->reason = ls_module_error(m->mod);
			m->mod = NULL;
		}
		if (m->mod)
			m->m.build_id = ls_module_build_id(m->mod);
	}
	if (!p) {
		struct proc *nv = realloc(s->procs, (s->nprocs + 1) * sizeof(*nv));

		if (!nv) {
			ret = -ENOMEM;
			goto cleanup;
		}
		s->procs = nv;
		p = &s->procs[s->nprocs++];
		memset(p, 0, sizeof(*p));
		p->pid = pid;
	}
	if (proc_retire(p)) {
		ret = -ENOMEM;
		goto cleanup;
	}
	p->maps = maps;
	p->nmaps = nmaps;
	p->read = 1;
	p->read_ns = now_ns();
	maps = NULL;
	nmaps = 0;
cleanup:
	fclose(f);
	maps_free(maps, nmaps);
	if (ret == -ENOMEM)
		snprintf(s->error, sizeof(s->error), "pid %d: out of memory", (int)pid);
	return ret;
}

static const struct pmap *find_map(const struct proc *p, uint64_t addr)
{
	size_t lo = 0, hi = p->nmaps;

	/* /proc/PID/maps lists mappings in address order. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->maps[mid].m.end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < p->nmaps && addr >= p->maps[lo].m.start)
		return &p->maps[lo];
	return NULL;
}

/* (Re)read pid's perf map: a JIT appends to it as it compiles. 0 or -ENOMEM. */
static int jit_read(struct proc *p)
{
	struct jit *j = p->jit;
	struct ls_perfmap *pm = NULL, **nv;
	char reason[JIT_REASON_LEN];
	int ret;

	ret = ls_perfmap_load(p->pid, &pm, j->path, reason, sizeof(reason));
	j->read_ns = now_ns();
	if (ret == -ENOMEM)
		return ret;
	if (ret) {
		snprintf(j->reason, sizeof(j->reason), "generated code (JIT) without symbols: %s", reason);
		return 0;
	}
	if (j->pm) {
		if (!(nv = realloc(j->old, (j->nold + 1) * sizeof(*nv)))) {
			ls_perfmap_free(pm);
			return -ENOMEM;
		}
		j->old = nv;
		j->old[j->nold++] = j->pm;
	}
	j->pm = pm;
	snprintf(j->reason, sizeof(j->reason), "generated code (JIT), not in %s (%zu symbols, %zu lines unread)", j->path,
		 ls_perfmap_count(pm), ls_perfmap_bad(pm));
	return 0;
}

/* An address in anonymous executable memory: a JIT's code, named by its perf map if it keeps one. */
static int resolve_jit(struct proc *p, uint64_t addr, uint64_t lookup, struct ls_framevec *fv, struct ls_sym *sym)
{
	const char *name = NULL;
	uint64_t start;
	int ret;

	if (!p->jit) {
		if (!(p->jit = calloc(1, sizeof(*p->jit))) || (ret = jit_read(p)))
			return -ENOMEM;
	}
	if (p->jit->pm)
		name = ls_perfmap_lookup(p->jit->pm, lookup, &start);
	/* Not there yet: compiled since the last reading (at most one a second). */
	if (!name && !p->gone && now_ns() - p->jit->read_ns > 1000000000ull) {
		if ((ret = jit_read(p)))
			return ret;
		if (p->jit->pm)
			name = ls_perfmap_lookup(p->jit->pm, lookup, &start);
	}
	sym->file_addr = addr;
	if (!name) {
		sym->reason = p->jit->reason;
		return 0;
	}
	sym->func = name;
	sym->offset = addr - start;
	sym->nframes = 1;
	sym->frames = (const struct ls_sym_frame *)(uintptr_t)fv->n;
	return ls_framevec_push(fv, name, NULL, 0, 0);
}

/* Anonymous executable memory, as opposed to the kernel's vdso and vsyscall pages. */
static int is_generated(const struct pmap *m)
{
	return !m->mod && m->m.path[0] != '/' && strcmp(m->m.path, "[vdso]") && strcmp(m->m.path, "[vsyscall]");
}

static int resolve_kernel(struct ls_symbolizer *s, uint64_t addr, uint64_t lookup, struct ls_framevec *fv,
			  struct ls_sym *sym)
{
	const char *name, *module;
	uint64_t start;

	if (!s->kallsyms && !s->kallsyms_err)
		s->kallsyms_err = ls_kallsyms_load(&s->kallsyms);
	sym->mapping = &s->kernel_map;
	sym->file_addr = addr;
	if (!s->kallsyms) {
		sym->reason = s->kallsyms_err == -ENOMEM ? "out of memory"
							  : "/proc/kallsyms unreadable or hidden (kptr_restrict)";
		return 0;
	}
	if (ls_kallsyms_lookup(s->kallsyms, lookup, &name, &start, &module)) {
		sym->reason = "below the first kernel symbol";
		return 0;
	}
	(void)module;
	sym->func = name;
	sym->offset = addr - start;
	sym->nframes = 1;
	sym->frames = (const struct ls_sym_frame *)(uintptr_t)fv->n;
	return ls_framevec_push(fv, name, NULL, 0, 0);
}

int ls_symbolize(struct ls_symbolizer *s, const struct ls_sym_src *src, const uint64_t *addrs, size_t n,
		 enum ls_sym_addr_kind kind, struct ls_sym_result **out)
{
	struct result *r = calloc(1, sizeof(*r));
	struct ls_framevec fv = { 0 };
	const struct ls_sym_mapping *elf_map = NULL;
	struct ls_module *elf_mod = NULL;
	struct proc *p = NULL;
	int ret = 0, refreshed = 0;

	*out = NULL;
	if (!r || !(r->pub.syms = calloc(n ? n : 1, sizeof(*r->pub.syms)))) {
		ret = -ENOMEM;
		goto cleanup;
	}
	r->pub.n = n;
	if (src->kind == LS_SYM_SRC_ELF) {
		const char *reason = NULL;
		struct stat st;

		if (stat(src->path, &st) != 0) {
			ret = set_error(s, errno, "%s", src->path);
			goto cleanup;
		}
		struct modent *e = get_module(s, src->path, st.st_dev, st.st_ino, src->path, &reason);

		if (!e) {
			ret = reason ? set_error(s, EACCES, "%s", src->path) : -ENOMEM;
			goto cleanup;
		}
		elf_mod = e->mod;
		elf_map = &e->elf_map;
		if (ls_module_error(elf_mod)) {
			snprintf(s->error, sizeof(s->error), "%s: %s", src->path, ls_module_error(elf_mod));
			ret = -EINVAL;
			goto cleanup;
		}
	} else if (src->kind == LS_SYM_SRC_PROCESS) {
		p = find_proc(s, src->pid);
		if (!p) {
			int e = ls_symbolizer_add_process(s, src->pid);

			if (e && e != -ESRCH) {
				ret = e;
				goto cleanup;
			}
			refreshed = 1;
			p = find_proc(s, src->pid);
		}
	}
	for (size_t i = 0; i < n; i++) {
		struct ls_sym *sym = &r->pub.syms[i];
		int ret_addr = kind == LS_SYM_ADDR_RETURN || (kind == LS_SYM_ADDR_STACK && i > 0);
		uint64_t addr = addrs[i], lookup = ret_addr && addr ? addr - 1 : addr, vaddr;
		const struct pmap *m;

		sym->addr = addr;
		if (src->kind == LS_SYM_SRC_KERNEL) {
			ret = resolve_kernel(s, addr, lookup, &fv, sym);
		} else if (src->kind == LS_SYM_SRC_ELF) {
			sym->mapping = elf_map;
			ret = ls_module_resolve(elf_mod, addr, lookup, &fv, sym);
		} else if (!p) {
			sym->reason = "process gone before symbolization";
		} else {
			m = find_map(p, lookup);
			/*
			 * An address past the known mappings: perhaps an object loaded since. Read them
			 * again, at most once a batch and once a second (a bad frame in every stack must
			 * not mean a re-read per stack), and never after the process is gone.
			 */
			if (!m && !refreshed && !p->gone && now_ns() - p->read_ns > 1000000000ull) {
				int e;

				refreshed = 1;
				e = ls_symbolizer_add_process(s, src->pid);
				p = find_proc(s, src->pid);
				if (e == -ESRCH)
					p->gone = 1;
				m = find_map(p, lookup);
			}
			if (!m) {
				sym->reason = "no executable mapping holds it";
				continue;
			}
			sym->mapping = &m->m;
			if (is_generated(m)) {
				ret = resolve_jit(p, addr, lookup, &fv, sym);
			} else if (!m->mod) {
				sym->reason = m->reason;
				continue;
			} else if (ls_module_file_to_vaddr(m->mod, lookup - m->m.start + m->m.file_offset, &vaddr)) {
				sym->reason = "outside the object's loadable segments";
				continue;
			} else {
				ret = ls_module_resolve(m->mod, vaddr + (addr - lookup), vaddr, &fv, sym);
			}
		}
		if (ret)
			goto cleanup;
	}
	/* Frames were appended to one growing vector: turn their indexes into pointers. */
	for (size_t i = 0; i < n; i++)
		if (r->pub.syms[i].nframes)
			r->pub.syms[i].frames = fv.v + (uintptr_t)r->pub.syms[i].frames;
		else
			r->pub.syms[i].frames = NULL;
	r->frames = fv.v;
	fv.v = NULL;
	*out = &r->pub;
	r = NULL;
cleanup:
	free(fv.v);
	if (r) {
		free(r->pub.syms);
		free(r);
		if (ret == -ENOMEM)
			snprintf(s->error, sizeof(s->error), "out of memory");
	}
	return ret;
}

void ls_sym_result_free(struct ls_sym_result *pub)
{
	struct result *r = (struct result *)pub;

	if (!r)
		return;
	free(r->frames);
	free(r->pub.syms);
	free(r);
}

const char *ls_symbolizer_jit_reason(struct ls_symbolizer *s, pid_t pid)
{
	struct proc *p = find_proc(s, pid);

	return p && p->jit ? p->jit->reason : NULL;
}
