#include "discover.h"
#include "elfsym.h"
#include "gofunc.h"
#include "gooffsets.h"
#include "util.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void missing_reason(struct ls_site *s, const struct ls_object *objs, struct ls_elf **elfs, size_t nobj)
{
	const struct ls_catalog_entry *c = s->entry;
	const char *why;

	for (size_t i = 0; i < nobj; i++) {
		if (!ls_library_file(c->library, ls_base_name(objs[i].path)))
			continue;
		snprintf(s->path, sizeof(s->path), "%s", objs[i].path);
		why = ls_library_absent(ls_base_name(objs[i].path), c->symbol);
		if (!elfs[i])
			snprintf(s->reason, sizeof(s->reason), "%s mapped but unreadable", ls_base_name(objs[i].path));
		else if (!ls_elf_has_symtab(elfs[i]) && !ls_elf_has_dynsym(elfs[i]))
			snprintf(s->reason, sizeof(s->reason), "%s has no symbol table (stripped)", ls_base_name(objs[i].path));
		else if (why)
			snprintf(s->reason, sizeof(s->reason), "not in %s: %s", ls_base_name(objs[i].path), why);
		else
			snprintf(s->reason, sizeof(s->reason), "not exported by %s (older library version?)",
				 ls_base_name(objs[i].path));
		return;
	}
	if (nobj && elfs[0] && objs[0].is_main && !ls_elf_has_symtab(elfs[0]))
		snprintf(s->reason, sizeof(s->reason),
			 "not mapped: no %s library loaded, and the executable is stripped (a static copy would be invisible)",
			 c->library);
	else
		snprintf(s->reason, sizeof(s->reason), "not mapped: no loaded object defines it (%s not used)",
			 c->library);
}

/*
 * Whether wrapper hands every call to target, so that probing target alone sees them:
 * a bare jump to it (after an optional endbr64). nghttp2 1.61's mem_recv is one;
 * its mem_send is a copy of mem_send2's body that never reaches mem_send2, and a
 * program calling it (Node.js) would go unseen if only mem_send2 were probed.
 */
static int jumps_to(const struct ls_elf *e, const struct ls_elf_sym *wrapper, uint64_t target)
{
	const uint8_t *c = ls_elf_code(e, wrapper->vaddr, 9);
	uint64_t at = wrapper->vaddr;

	if (!c)
		return 0;
	if (!memcmp(c, "\xf3\x0f\x1e\xfa", 4)) {
		c += 4;
		at += 4;
	}
	if (c[0] == 0xe9)
		return at + 5 + (uint64_t)(int64_t)(int32_t)((uint32_t)c[1] | (uint32_t)c[2] << 8 |
							   (uint32_t)c[3] << 16 | (uint32_t)c[4] << 24) == target;
	if (c[0] == 0xeb)
		return at + 2 + (uint64_t)(int64_t)(int8_t)c[1] == target;
	return 0;
}

int ls_discover(pid_t pid, struct ls_site **sites, size_t *n, char *err)
{
	const struct ls_catalog_entry *cat;
	struct ls_object *objs = NULL;
	struct ls_elf **elfs = NULL;
	struct ls_site *v = NULL;
	size_t ncat, nobj = 0, cnt = 0, cap = 0;
	int ret, any_go = 0;
	/* Struct offsets of the Go object last asked (reading DWARF inflates all of it): per object, not per entry. */
	struct { size_t obj; int rc; struct ls_go_offsets off; char from[96]; char err[LS_ERR_LEN]; } goff = { .obj = SIZE_MAX };

	*sites = NULL;
	*n = 0;
	cat = ls_catalog(&ncat);
	ret = ls_proc_objects(pid, &objs, &nobj, err);
	if (ret)
		goto cleanup;
	elfs = calloc(nobj ? nobj : 1, sizeof(*elfs));
	if (!elfs) {
		ret = ls_err(err, ENOMEM, "out of memory");
		goto cleanup;
	}
	for (size_t i = 0; i < nobj; i++) {
		char e2[LS_ERR_LEN];

		/* An object we cannot read is reported per entry below, not fatal. */
		if (ls_elf_open(objs[i].open_path, &elfs[i], e2))
			elfs[i] = NULL;
	}
	for (size_t i = 0; i < nobj; i++)
		any_go |= elfs[i] && ls_elf_is_go(elfs[i]);
	for (size_t c = 0; c < ncat; c++) {
		int found = 0, alias_skip = 0;

		for (size_t i = 0; i <= nobj; i++) {
			struct ls_elf_sym sym;
			struct ls_site *s;

			if (i == nobj && found)
				break;
			if (i < nobj && (!elfs[i] || ls_elf_find(elfs[i], cat[c].symbol, &sym)))
				continue;
			/* Go entries concern Go binaries only; C entries with a return probe never go into one. */
			if (i < nobj && (cat[c].flags & LS_CAT_GO) && !ls_elf_is_go(elfs[i]))
				continue;
			if (i < nobj && cat[c].alias_of) {
				struct ls_elf_sym real;

				/* The wrapper jumps to the real function, which is probed instead. */
				if (ls_elf_find(elfs[i], cat[c].alias_of, &real) == 0 && jumps_to(elfs[i], &sym, real.vaddr)) {
					alias_skip = 1;
					continue;
				}
			}
			if (cnt == cap) {
				size_t ncap = cap ? cap * 2 : 32;
				struct ls_site *nv = realloc(v, ncap * sizeof(*v));

				if (!nv) {
					ret = ls_err(err, ENOMEM, "out of memory");
					goto cleanup;
				}
				v = nv;
				cap = ncap;
			}
			s = &v[cnt++];
			memset(s, 0, sizeof(*s));
			s->entry = &cat[c];
			snprintf(s->symbol, sizeof(s->symbol), "%s", i < nobj ? sym.name : cat[c].symbol);
			s->pid = pid;
			if (i == nobj && (cat[c].flags & LS_CAT_GO) && !any_go) {
				cnt--; /* not a Go process: Go entries do not concern it */
				break;
			}
			if (i == nobj && (cat[c].flags & LS_CAT_GO)) {
				snprintf(s->reason, sizeof(s->reason),
					 "not in the Go binary (package not linked, or the function was inlined)");
				break;
			}
			if (i == nobj) {
				missing_reason(s, objs, elfs, nobj);
				if (alias_skip)
					snprintf(s->reason, sizeof(s->reason), "wrapper of %s, which is probed instead",
						 cat[c].alias_of);
				break;
			}
			s->found = 1;
			s->symbols = sym.from_gopclntab ? ".gopclntab" : sym.from_symtab ? ".symtab" : ".dynsym";
			s->is_go = ls_elf_is_go(elfs[i]);
			if (s->is_go)
				ls_go_version(elfs[i], s->go_version, sizeof(s->go_version));
			if (s->is_go && (cat[c].flags & LS_CAT_RETPROBE)) {
				s->found = 0;
				snprintf(s->path, sizeof(s->path), "%s", objs[i].path);
				snprintf(s->reason, sizeof(s->reason),
					 "in a Go binary: would need a uretprobe, which is never used on Go binaries");
				found++;
				continue;
			}
			if (cat[c].flags & LS_CAT_GO) {
				struct ls_go_func gf;
				char e2[LS_ERR_LEN];

				if (ls_go_func(elfs[i], sym.vaddr, sym.size, &gf, e2) ||
				    ls_elf_offset(elfs[i], gf.entry, &sym.file_offset)) {
					s->found = 0;
					snprintf(s->path, sizeof(s->path), "%s", objs[i].path);
					snprintf(s->reason, sizeof(s->reason), "cannot place Go probes: %.200s", e2);
					found++;
					continue;
				}
				if (cat[c].kind == LS_KIND_GO_RPC || cat[c].kind == LS_KIND_GO_HEADERS) {
					if (goff.obj != i) {
						goff.obj = i;
						goff.rc = ls_go_offsets(objs[i].open_path, elfs[i], &goff.off, goff.from,
									sizeof(goff.from), goff.err);
					}
					s->go_off = goff.off;
					snprintf(s->offsets_from, sizeof(s->offsets_from), "%s", goff.from);
					if (goff.rc) {
						s->found = 0;
						snprintf(s->path, sizeof(s->path), "%s", objs[i].path);
						snprintf(s->reason, sizeof(s->reason), "struct offsets unknown: %.200s", goff.err);
						found++;
						continue;
					}
					s->has_offsets = 1;
				}
				s->after_check = gf.after_check;
				for (size_t r = 0; r < gf.nrets && r < 32; r++)
					if (ls_elf_offset(elfs[i], gf.rets[r], &s->ret_offsets[s->nrets]) == 0)
						s->nrets++;
			}
			if (cat[c].conv == LS_ARG_H2_MEM_RECV)
				s->has_h2_layout = !ls_h2_layout(elfs[i], &s->h2_layout, s->h2_layout_why,
								 sizeof(s->h2_layout_why));
			snprintf(s->path, sizeof(s->path), "%s", objs[i].path);
			snprintf(s->open_path, sizeof(s->open_path), "%s", objs[i].open_path);
			s->vaddr = sym.vaddr;
			s->offset = sym.file_offset;
			found++;
		}
	}
	*sites = v;
	*n = cnt;
	v = NULL;
cleanup:
	for (size_t i = 0; elfs && i < nobj; i++)
		ls_elf_free(elfs[i]);
	free(elfs);
	free(objs);
	free(v);
	return ret;
}
