/* Target discovery: where each catalog symbol lives in a process, or why it is missing. */
#ifndef LS_DISCOVER_H
#define LS_DISCOVER_H

#include <stdint.h>
#include <sys/types.h>

#include "catalog.h"
#include "h2table.h"
#include "procmaps.h"
#include "latscope.h"

struct ls_site {
	const struct ls_catalog_entry *entry;
	char symbol[256];            /* the symbol found (an entry's pattern resolved), else the entry's */
	pid_t pid;
	int found;
	int is_go;                   /* the object is a Go binary */
	char path[LS_PATH_LEN];      /* object as the target sees it ("" when missing) */
	char open_path[LS_PATH_LEN]; /* the same file through /proc/PID/root */
	uint64_t vaddr;
	uint64_t offset;             /* file offset: where the uprobe goes */
	char reason[256];            /* why it is missing */
	/* Go functions: RET sites instead of a return probe */
	int after_check;             /* the entry probe skips the stack-growth check */
	size_t nrets;
	uint64_t ret_offsets[32];
	char go_version[32];
	const char *symbols;         /* where the function was found: ".symtab", ".dynsym", ".gopclntab" */
	/* grpc-go probes that read structs: the binary's field offsets and where they came from */
	int has_offsets;
	struct ls_go_offsets go_off;
	char offsets_from[96];
	/* nghttp2's input: where its HPACK decoder keeps its table (joined connections are named from it) */
	int has_h2_layout;
	struct ls_h2_layout h2_layout;
	char h2_layout_why[128];
};

/*
 * Resolve every catalog entry in pid's mapped objects. An entry found in
 * several objects (a library and a statically linked copy) yields one site
 * each; an entry found nowhere yields one site with found = 0 and a reason.
 * *sites is malloc'ed; free() it.
 */
int ls_discover(pid_t pid, struct ls_site **sites, size_t *n, char *err);

#endif
