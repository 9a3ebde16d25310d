/*
 * Struct field offsets the grpc-go probes read in a Go binary: from its DWARF
 * when it has one, else from a table of known layouts keyed by the grpc-go
 * and Go versions (a stripped binary has no DWARF). The table is checked
 * against DWARF by tests/unit/test_gooffsets.
 */
#ifndef LS_GOOFFSETS_H
#define LS_GOOFFSETS_H

#include <stddef.h>

#include <linux/types.h>
#include "latscope.h"

struct ls_elf;

/* Offsets from the DWARF of the file at path. 0, -ENOENT (no DWARF or a type is missing), or -errno. */
int ls_go_offsets_dwarf(const char *path, struct ls_go_offsets *out, char *err);

/*
 * Offsets from the table, for the Go version go_version ("go1.19.8") and the
 * grpc-go module version grpc_version ("v1.33.3", or "" when the build info
 * does not record it). what receives which row was used. 0 or -ENOENT.
 */
int ls_go_offsets_table(const char *go_version, const char *grpc_version, struct ls_go_offsets *out, char *what,
			size_t what_len, char *err);

/* DWARF first, then the table; source receives where they came from ("DWARF", "table: ..."). */
int ls_go_offsets(const char *path, const struct ls_elf *e, struct ls_go_offsets *out, char *source,
		  size_t source_len, char *err);

#endif
