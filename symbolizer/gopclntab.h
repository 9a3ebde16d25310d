/*
 * Go's own function table (.gopclntab), for Go executables without .symtab
 * or DWARF (built with -ldflags='-s -w'). The Go runtime needs this table for
 * stack traces and garbage collection, so no strip removes it: it names every
 * function, gives its entry and end, and maps each pc to file:line and to the
 * functions inlined at that pc.
 *
 * Layouts read: Go 1.16-1.17 (magic 0xfffffffa), 1.18-1.19 (0xfffffff0),
 * 1.20 and later (0xfffffff1), little-endian, 64-bit. The parser is
 * self-contained (its own ELF reading, no other latscope header): it maps the
 * file read-only and keeps it mapped until ls_gopcln_free.
 *
 * Addresses are link-time virtual addresses of the file (as in its symbol
 * tables): a caller with runtime pcs of a PIE subtracts the load bias first.
 * Functions return 0 or a negative errno; an err argument, when not NULL,
 * receives a one-line reason (LS_GOPCLN_ERR_LEN bytes).
 */
#ifndef LS_GOPCLNTAB_H
#define LS_GOPCLNTAB_H

#include <stddef.h>
#include <stdint.h>

#define LS_GOPCLN_ERR_LEN 256

struct ls_gopcln;

/* A function of the table. name points into the mapped file. */
struct ls_gopcln_func {
	const char *name; /* "crypto/tls.(*Conn).Read" */
	uint64_t entry;   /* first instruction */
	uint64_t end;     /* one past the last byte (the next function's entry) */
};

/* One source frame at a pc: the innermost inlined call first, the real function last. */
struct ls_gopcln_frame {
	const char *name;
	const char *file; /* "" when unknown */
	int line;         /* 0 when unknown */
	int inlined;      /* 1: inlined into the next frame */
};

/*
 * Open the Go executable at path and index its .gopclntab (found by section
 * name, or by its header's magic in the read-only data when the section
 * headers do not name it). -ENOENT when the file has no Go function table,
 * -ENOTSUP for a layout this parser does not know.
 */
int ls_gopcln_open(const char *path, struct ls_gopcln **out, char *err);
void ls_gopcln_free(struct ls_gopcln *p); /* NULL is a no-op */

/* Layout of the table: "go1.16", "go1.18" (1.18-1.19) or "go1.20" (1.20+). */
const char *ls_gopcln_layout(const struct ls_gopcln *p);

/* Number of functions, and the i-th in address order (0 or -ERANGE). */
size_t ls_gopcln_count(const struct ls_gopcln *p);
int ls_gopcln_func(const struct ls_gopcln *p, size_t i, struct ls_gopcln_func *out);

/* The function with this exact name. 0 or -ENOENT. */
int ls_gopcln_find(const struct ls_gopcln *p, const char *name, struct ls_gopcln_func *out);

/* The function whose code contains pc. 0 or -ENOENT. */
int ls_gopcln_func_at(const struct ls_gopcln *p, uint64_t pc, struct ls_gopcln_func *out);

/* Source position of pc in its function's line table (innermost inlined body). 0 or -ENOENT. */
int ls_gopcln_line(const struct ls_gopcln *p, uint64_t pc, const char **file, int *line);

/*
 * The source frames at pc, innermost first: each function inlined there (from
 * the function's inline tree) and then the function itself. Fills up to max
 * frames, sets *n to how many; 0, or -ENOENT when pc is in no function.
 */
int ls_gopcln_frames(const struct ls_gopcln *p, uint64_t pc, struct ls_gopcln_frame *frames, size_t max,
		     size_t *n);

#endif
