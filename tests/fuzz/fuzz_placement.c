/*
 * libFuzzer target for the call-site placement (lib/placement.c) and the
 * instruction classes it rests on (lib/insnclass.c): the disassembly of the
 * callers, their blocks and branch targets, the return site and the register
 * the result is followed in, the jump index, PLT stubs and relocations, the
 * unwind tables that bound functions, on mutated machine code.
 *
 * Input: a mode byte, a function name ending in NUL, then an ELF file. The
 * file is mapped twice, as a caller object and as the object defining the
 * function (found in it by name), and the function placed as latscope places
 * a catalog entry: mode bits 0-1 the placement mode, bit 2 a Go function,
 * bits 3-5 how its result is read (how many bits a call site must follow).
 *
 * The function's own instructions and the first of each executable segment
 * are classified one by one too.
 *
 * The placement code is included here, for the steps of ls_place after
 * reading /proc/PID/maps: open_object and place_one.
 */
#include "../../lib/placement.c"

#include "fuzz_file.h"

/* Classify instructions one after the other, as the placement would see them under a probe. */
static void classify_all(const uint8_t *code, uint64_t vaddr, uint64_t size)
{
	size_t len = size && size < 512 ? (size_t)size : 512, off = 0;

	for (int steps = 0; code && off < len && steps < 128; steps++) {
		struct ls_insn in;

		if (ls_insn_classify(code + off, len - off, vaddr + off, NULL, &in)) {
			off++;
			continue;
		}
		if (!in.len || in.len > 15 || in.len > len - off || !memchr(in.text, 0, sizeof(in.text)) ||
		    (in.cls == LS_INSN_TRAMPOLINE && (in.len != 5 || memcmp(code + off, "\x0f\x1f\x44\x00\x00", 5))))
			abort();
		fuzz_touch(ls_insn_class_name(in.cls), 1);
		off += in.len;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const enum ls_place_mode modes[] = { LS_PLACE_AUTO, LS_PLACE_ENTRY, LS_PLACE_CALLSITE, LS_PLACE_CALLSITE };
	static const enum ls_argconv convs[] = { LS_ARG_BOOL_RESULT, LS_ARG_SSL_RW, LS_ARG_GO_ANY, LS_ARG_H2_SESSION,
						 LS_ARG_SSL_HS, LS_ARG_SSL_RW_EX, LS_ARG_BOOL_RESULT, LS_ARG_GO_ANY };
	const uint8_t *nul = size > 1 ? memchr(data + 1, 0, size - 1) : NULL;
	struct ls_catalog_entry entry = { .library = "fuzz", .phase = "tls" };
	static struct ls_site site;
	struct ls_placements *p;
	struct ls_object o = { .inode = 1 };
	struct ls_elf_sym sym;
	char err[LS_ERR_LEN];
	const char *path;
	uint8_t mode;

	if (!nul || (size_t)(nul - data) > 255)
		return 0;
	mode = data[0];
	memset(&site, 0, sizeof(site));
	snprintf(site.symbol, sizeof(site.symbol), "%s", (const char *)data + 1);
	entry.symbol = site.symbol;
	entry.conv = convs[(mode >> 3) & 7];
	entry.flags = (mode & 4) ? LS_CAT_GO : LS_CAT_RETPROBE;
	path = fuzz_file(nul + 1, size - (size_t)(nul + 1 - data));

	p = calloc(1, sizeof(*p));
	if (!p || !(p->objs = calloc(2, sizeof(*p->objs))) || !(p->pl = calloc(1, sizeof(*p->pl)))) {
		ls_placements_free(p);
		return 0;
	}
	p->npl = 1;
	p->sites = &site;
	p->nsites = 1;
	/* The same file as a caller and as the function's own object. */
	snprintf(o.open_path, sizeof(o.open_path), "%s", path);
	snprintf(o.path, sizeof(o.path), "/fuzz/caller");
	open_object(&p->objs[p->nobjs++], 1, &o);
	snprintf(o.path, sizeof(o.path), "/fuzz/lib");
	o.inode = 2;
	open_object(&p->objs[p->nobjs++], 1, &o);

	site.entry = &entry;
	site.pid = 1;
	site.found = 1;
	site.is_go = (mode & 4) != 0;
	snprintf(site.path, sizeof(site.path), "/fuzz/lib");
	if (p->objs[1].e && ls_elf_find(p->objs[1].e, site.symbol, &sym) == 0) {
		site.vaddr = sym.vaddr;
		site.offset = sym.file_offset;
		classify_all(ls_elf_code(p->objs[1].e, sym.vaddr, sym.size < 512 ? sym.size : 512), sym.vaddr, sym.size);
	}
	/* And the start of each executable segment (PLT stubs, .init, the first functions). */
	for (size_t k = 0; k < p->objs[1].nx; k++)
		classify_all(p->objs[1].x[k].code, p->objs[1].x[k].vaddr, p->objs[1].x[k].len);
	if (place_one(p, &site, modes[mode & 3], &p->pl[0], err) == 0) {
		const struct ls_placement *pl = ls_placement_of(p, 0);

		if (pl->ncs > LS_PLACE_MAX_CALLSITES || pl->nok > pl->ncs || !memchr(pl->why, 0, sizeof(pl->why)))
			abort();
		for (size_t i = 0; i < pl->ncs; i++) {
			const struct ls_callsite *cs = &pl->cs[i];

			/* A call site probed has an emulated instruction under each of its two probes. */
			if (cs->ok && (cs->call_insn.cls != LS_INSN_EMULATED || !cs->ret_vaddr ||
				       (cs->ret_insn.cls != LS_INSN_EMULATED && cs->ret_insn.cls != LS_INSN_TRAMPOLINE)))
				abort();
			fuzz_touch(ls_placements_obj_path(p, cs->obj), strlen(ls_placements_obj_path(p, cs->obj)));
		}
	}
	ls_placements_free(p);
	return 0;
}
