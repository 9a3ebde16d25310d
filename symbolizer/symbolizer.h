/*
 * Address -> function, offset, inline chain and file:line, in batches, for a
 * live process, an ELF file or the kernel.
 *
 * Sources: ELF .symtab (or .dynsym), DWARF through libdw (from the object or
 * a build-id debug file under /usr/lib/debug), Go .gopclntab for stripped Go
 * binaries, /proc/kallsyms for the kernel; C++ names are demangled. Every
 * address comes back either resolved or with a reason.
 *
 * Objects are cached by build-id (one ELF + DWARF session each, reused across
 * processes and batches); a process's mappings are read once and kept, and its
 * objects are opened through /proc/PID/map_files (the very file mapped, even
 * if deleted or in another mount namespace), so a process may exit between
 * ls_symbolizer_add_process() and symbolization.
 *
 * One handle is not thread-safe: use one per thread. Every string a result
 * points to stays valid until ls_symbolizer_free().
 */
#ifndef LS_SYMBOLIZER_H
#define LS_SYMBOLIZER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct ls_symbolizer;

struct ls_symbolizer_opts {
	size_t sz;              /* sizeof(struct ls_symbolizer_opts) */
	int no_dwarf;           /* symbol tables only: no inline chains, no file:line */
	int no_demangle;        /* keep C++ names mangled */
	const char *debug_dir;  /* build-id debug files (default /usr/lib/debug) */
};

enum ls_sym_src_kind {
	LS_SYM_SRC_PROCESS,     /* addresses in pid's address space */
	LS_SYM_SRC_ELF,         /* virtual addresses of the ELF file at path (as addr2line -e) */
	LS_SYM_SRC_KERNEL,      /* kernel addresses, through /proc/kallsyms */
};

struct ls_sym_src {
	enum ls_sym_src_kind kind;
	pid_t pid;
	const char *path;
};

/* How the addresses of a batch were obtained. */
enum ls_sym_addr_kind {
	LS_SYM_ADDR_EXACT,      /* instruction addresses: a sample's IP, a file address */
	LS_SYM_ADDR_RETURN,     /* return addresses: looked up at addr - 1, inside the call */
	LS_SYM_ADDR_STACK,      /* one stack, innermost first: addrs[0] exact, the rest return addresses */
};

/* One level of a resolved address: an inlined function, or the function itself. */
struct ls_sym_frame {
	const char *func;       /* never NULL */
	const char *file;       /* NULL without line information */
	uint32_t line, column;  /* 0 when unknown */
};

/* The object an address lies in, as mapped. */
struct ls_sym_mapping {
	uint64_t start, end;    /* mapped range (0, 0 for an ELF source) */
	uint64_t file_offset;   /* file offset of start */
	const char *path;       /* as the target sees it; "[kernel]" for the kernel */
	const char *build_id;   /* lower-case hex, "" when the object has none */
};

struct ls_sym {
	uint64_t addr;
	const char *func;       /* the containing, not inlined, function; NULL when unresolved */
	uint64_t offset;        /* addr - start of func */
	uint64_t file_addr;     /* addr as a virtual address of the object's ELF file */
	const struct ls_sym_frame *frames; /* innermost first, frames[nframes - 1] is func */
	size_t nframes;         /* 0 when unresolved */
	const struct ls_sym_mapping *mapping; /* NULL when no mapping holds addr */
	const char *reason;     /* why func is NULL */
};

struct ls_sym_result {
	size_t n;
	struct ls_sym *syms;    /* one per address, in input order */
};

/* A new symbolizer (opts may be NULL). 0 or -errno. */
int ls_symbolizer_new(const struct ls_symbolizer_opts *opts, struct ls_symbolizer **out);
void ls_symbolizer_free(struct ls_symbolizer *s);

/* The message for the last error a call returned ("pid 42: no such process"). */
const char *ls_symbolizer_error(const struct ls_symbolizer *s);

/*
 * Read pid's mappings and open its objects now, while it lives, so that its
 * addresses still resolve after it exits. Also refreshes the mappings of a
 * pid seen before (new dlopen()ed objects). 0, -ESRCH or another -errno.
 */
int ls_symbolizer_add_process(struct ls_symbolizer *s, pid_t pid);

/*
 * Resolve n addresses of src. A process seen for the first time is added
 * (ls_symbolizer_add_process); one that is gone by then yields a reason per
 * address, not an error. Errors: an ELF source that cannot be read, memory.
 * *out is freed with ls_sym_result_free(). 0 or -errno.
 */
int ls_symbolize(struct ls_symbolizer *s, const struct ls_sym_src *src, const uint64_t *addrs, size_t n,
		 enum ls_sym_addr_kind kind, struct ls_sym_result **out);
void ls_sym_result_free(struct ls_sym_result *r);

/*
 * Addresses in anonymous executable memory (a JIT's code) are named from the
 * process's perf map (/tmp/perf-PID.map, symbolizer/perfmap.h). Why the last
 * such address of pid was not named, NULL when none was looked up.
 */
const char *ls_symbolizer_jit_reason(struct ls_symbolizer *s, pid_t pid);

#endif
