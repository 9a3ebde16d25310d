/* Inside the symbolizer: one ELF object (module), the kernel table, demangling and the Go hook. */
#ifndef LS_SYMINT_H
#define LS_SYMINT_H

#include "symbolizer.h"

#include <elfutils/libdw.h>
#include <gelf.h>
#include <libelf.h>

/* Frames of one batch, appended as addresses resolve; pointers are fixed up at the end. */
struct ls_framevec {
	struct ls_sym_frame *v;
	size_t n, cap;
};

int ls_framevec_push(struct ls_framevec *fv, const char *func, const char *file, uint32_t line, uint32_t column);

struct ls_module;

/*
 * Take ownership of fd (an open ELF file) and index it: loadable segments,
 * build-id, symbol table; DWARF is opened on first use. Returns NULL only when
 * out of memory; an unreadable object is a module with an error reason.
 */
struct ls_module *ls_module_open(int fd, const char *path, const struct ls_symbolizer_opts *opts);
void ls_module_free(struct ls_module *m);
const char *ls_module_build_id(const struct ls_module *m);
const char *ls_module_error(const struct ls_module *m);

/* The ELF virtual address at a file offset, through the PT_LOAD segments. 0 or -ENOENT. */
int ls_module_file_to_vaddr(const struct ls_module *m, uint64_t off, uint64_t *vaddr);

/*
 * Resolve an ELF virtual address; lookup is where to look (addr - 1 for a
 * return address), sym->offset is taken from vaddr. Appends the frames
 * (innermost first) and fills func, offset, nframes (frames as an index into
 * fv, fixed up by the caller) or reason. 0 or -ENOMEM.
 */
int ls_module_resolve(struct ls_module *m, uint64_t vaddr, uint64_t lookup, struct ls_framevec *fv, struct ls_sym *sym);

/* A C++ (Itanium ABI) name demangled and kept in cache, or name itself. */
struct ls_demangler;
struct ls_demangler *ls_demangler_new(void);
void ls_demangler_free(struct ls_demangler *d);
const char *ls_demangle(struct ls_demangler *d, const char *name);

/* /proc/kallsyms, loaded on first use. */
struct ls_kallsyms;
int ls_kallsyms_load(struct ls_kallsyms **out);
void ls_kallsyms_free(struct ls_kallsyms *k);
/* Name and start of the kernel function holding addr, and its module ("[kernel]" for vmlinux); -ENOENT. */
int ls_kallsyms_lookup(const struct ls_kallsyms *k, uint64_t addr, const char **name, uint64_t *start, const char **module);

/* Stripped Go binaries, from .gopclntab (gosym.c). fd is the module's open file. 0 or -errno. */
struct ls_gosym;
int ls_gosym_open(int fd, struct ls_gosym **out);
void ls_gosym_free(struct ls_gosym *g);
/*
 * Push the source frames at vaddr (innermost inlined call first, the function
 * last) and set the function's name and start. Frame count, -ENOENT, or -errno.
 */
int ls_gosym_frames(struct ls_gosym *g, uint64_t vaddr, struct ls_framevec *fv, const char **func, uint64_t *start);

#endif
