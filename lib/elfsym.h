/* ELF function symbols of one file, by name, with the file offset a uprobe needs. */
#ifndef LS_ELFSYM_H
#define LS_ELFSYM_H

#include <stddef.h>
#include <stdint.h>

struct ls_elf;

struct ls_elf_sym {
	const char *name;     /* the symbol's own name (a pattern's match); valid until ls_elf_free */
	uint64_t vaddr;
	uint64_t size;
	uint64_t file_offset; /* where a uprobe on this symbol goes */
	int from_symtab;      /* 1: .symtab, 0: .dynsym or .gopclntab */
	int from_gopclntab;   /* 1: a stripped Go binary's own function table (size: up to the next function) */
};

/* Open path and index its function symbols. Returns 0 or -errno; err names the file and cause. */
int ls_elf_open(const char *path, struct ls_elf **out, char *err);
void ls_elf_free(struct ls_elf *e);

/*
 * Look up a function by name (a "@VERSION" suffix in the query is ignored):
 * .symtab and .dynsym, and for a stripped Go binary its .gopclntab. A name with
 * '*' is an fnmatch(3) pattern: the first matching symbol in name order. 0 or -ENOENT.
 */
int ls_elf_find(const struct ls_elf *e, const char *name, struct ls_elf_sym *out);

int ls_elf_has_symtab(const struct ls_elf *e);
int ls_elf_has_dynsym(const struct ls_elf *e);
/* 1 when functions are looked up in .gopclntab (a Go binary without .symtab). */
int ls_elf_has_gopclntab(const struct ls_elf *e);
/* 1 when the file carries a Go build-info section or runtime symbols. */
int ls_elf_is_go(const struct ls_elf *e);
/* File offset of a virtual address (for uprobes). 0 or -ENOENT. */
int ls_elf_offset(const struct ls_elf *e, uint64_t vaddr, uint64_t *off);
/* The Go toolchain version in the build info ("go1.19.8"). 0 or -ENOENT. */
int ls_elf_go_version(const struct ls_elf *e, char *buf, size_t len);
/* The version of a module the Go binary was built with ("v1.33.3"), from its build info. 0 or -ENOENT. */
int ls_elf_go_dep_version(const struct ls_elf *e, const char *module, char *buf, size_t len);
/* The file's code bytes at vaddr (for disassembly); NULL when out of range. Valid until ls_elf_free. */
const uint8_t *ls_elf_code(const struct ls_elf *e, uint64_t vaddr, size_t len);

/* The sized function symbol containing vaddr: its start and size. 0 or -ENOENT. */
int ls_elf_func_at(const struct ls_elf *e, uint64_t vaddr, uint64_t *start, uint64_t *size);

/* The libelf handle (an Elf *), for section and relocation walks. Valid until ls_elf_free. */
void *ls_elf_handle(const struct ls_elf *e);

#endif
