#include "placement.h"
#include "elfsym.h"
#include "util.h"

#include <capstone/capstone.h>
#include <elfutils/libdw.h>
#include <errno.h>
#include <gelf.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SPAN_MAX_INSNS 16       /* instructions followed after a call, looking for the return site */
#define FUNC_MAX_BYTES (256 << 10)

/* One mapped object of a target, opened for analysis. */
struct pobj {
	pid_t pid;
	struct ls_object o;
	struct ls_elf *e;   /* NULL when unreadable */
	Dwarf_CFI *cfi;
	struct { uint64_t vaddr; const uint8_t *code; size_t len; } x[4]; /* executable PT_LOADs */
	size_t nx;
	/* Where the code's rel32 fields resolve to any placed function (one pass, see index_refs). */
	struct ref { uint64_t target; uint32_t k; uint32_t i; } *refs;
	size_t nrefs;
	int indexed;
	/* Every rel32 jmp/jcc/call in the code by target, built on first use (see far_jump_into). */
	struct jump { uint64_t to, from; } *jumps;
	size_t njumps;
	int jumps_built;
};

struct ls_placements {
	struct pobj *objs;
	size_t nobjs;
	struct ls_placement *pl;
	size_t npl;
	const struct ls_site *sites; /* what is being placed: the targets index_refs looks for */
	size_t nsites;
	struct ls_costs costs;       /* what a hit costs, by instruction kind (measured here, or the fallback) */
};

/* What cannot be seen from call sites, for the report. */
struct unseen {
	size_t n;
	char first[192];
};

static void unseen_add(struct unseen *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void unseen_add(struct unseen *u, const char *fmt, ...)
{
	va_list ap;

	if (!u->n++) {
		va_start(ap, fmt);
		vsnprintf(u->first, sizeof(u->first), fmt, ap);
		va_end(ap);
	}
}

/* ---- Registers ------------------------------------------------------------------- */

/* Capstone register -> enum ls_reg (the pt_regs slot the BPF side reads) and width in bits. */
static int canon_reg(unsigned int r, unsigned int *width)
{
	static const struct { unsigned int r; unsigned char idx, w; } map[] = {
		{ X86_REG_AL, LS_REG_RAX, 8 }, { X86_REG_AX, LS_REG_RAX, 16 }, { X86_REG_EAX, LS_REG_RAX, 32 }, { X86_REG_RAX, LS_REG_RAX, 64 },
		{ X86_REG_BL, LS_REG_RBX, 8 }, { X86_REG_BX, LS_REG_RBX, 16 }, { X86_REG_EBX, LS_REG_RBX, 32 }, { X86_REG_RBX, LS_REG_RBX, 64 },
		{ X86_REG_CL, LS_REG_RCX, 8 }, { X86_REG_CX, LS_REG_RCX, 16 }, { X86_REG_ECX, LS_REG_RCX, 32 }, { X86_REG_RCX, LS_REG_RCX, 64 },
		{ X86_REG_DL, LS_REG_RDX, 8 }, { X86_REG_DX, LS_REG_RDX, 16 }, { X86_REG_EDX, LS_REG_RDX, 32 }, { X86_REG_RDX, LS_REG_RDX, 64 },
		{ X86_REG_SIL, LS_REG_RSI, 8 }, { X86_REG_SI, LS_REG_RSI, 16 }, { X86_REG_ESI, LS_REG_RSI, 32 }, { X86_REG_RSI, LS_REG_RSI, 64 },
		{ X86_REG_DIL, LS_REG_RDI, 8 }, { X86_REG_DI, LS_REG_RDI, 16 }, { X86_REG_EDI, LS_REG_RDI, 32 }, { X86_REG_RDI, LS_REG_RDI, 64 },
		{ X86_REG_BPL, LS_REG_RBP, 8 }, { X86_REG_BP, LS_REG_RBP, 16 }, { X86_REG_EBP, LS_REG_RBP, 32 }, { X86_REG_RBP, LS_REG_RBP, 64 },
		{ X86_REG_SPL, LS_REG_RSP, 8 }, { X86_REG_SP, LS_REG_RSP, 16 }, { X86_REG_ESP, LS_REG_RSP, 32 }, { X86_REG_RSP, LS_REG_RSP, 64 },
		{ X86_REG_R8B, LS_REG_R8, 8 }, { X86_REG_R8W, LS_REG_R8, 16 }, { X86_REG_R8D, LS_REG_R8, 32 }, { X86_REG_R8, LS_REG_R8, 64 },
		{ X86_REG_R9B, LS_REG_R9, 8 }, { X86_REG_R9W, LS_REG_R9, 16 }, { X86_REG_R9D, LS_REG_R9, 32 }, { X86_REG_R9, LS_REG_R9, 64 },
		{ X86_REG_R10B, LS_REG_R10, 8 }, { X86_REG_R10W, LS_REG_R10, 16 }, { X86_REG_R10D, LS_REG_R10, 32 }, { X86_REG_R10, LS_REG_R10, 64 },
		{ X86_REG_R11B, LS_REG_R11, 8 }, { X86_REG_R11W, LS_REG_R11, 16 }, { X86_REG_R11D, LS_REG_R11, 32 }, { X86_REG_R11, LS_REG_R11, 64 },
		{ X86_REG_R12B, LS_REG_R12, 8 }, { X86_REG_R12W, LS_REG_R12, 16 }, { X86_REG_R12D, LS_REG_R12, 32 }, { X86_REG_R12, LS_REG_R12, 64 },
		{ X86_REG_R13B, LS_REG_R13, 8 }, { X86_REG_R13W, LS_REG_R13, 16 }, { X86_REG_R13D, LS_REG_R13, 32 }, { X86_REG_R13, LS_REG_R13, 64 },
		{ X86_REG_R14B, LS_REG_R14, 8 }, { X86_REG_R14W, LS_REG_R14, 16 }, { X86_REG_R14D, LS_REG_R14, 32 }, { X86_REG_R14, LS_REG_R14, 64 },
		{ X86_REG_R15B, LS_REG_R15, 8 }, { X86_REG_R15W, LS_REG_R15, 16 }, { X86_REG_R15D, LS_REG_R15, 32 }, { X86_REG_R15, LS_REG_R15, 64 },
		{ X86_REG_AH, LS_REG_RAX, 0 }, { X86_REG_BH, LS_REG_RBX, 0 }, { X86_REG_CH, LS_REG_RCX, 0 }, { X86_REG_DH, LS_REG_RDX, 0 },
	};

	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++) {
		if (map[i].r == r) {
			*width = map[i].w;
			return map[i].idx;
		}
	}
	return -1;
}

static const char *const reg_names[LS_REG_COUNT] = {
	"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15",
};

/* Bits of the result a call site must keep: what the argument convention reads of the return register. */
static unsigned int result_width(enum ls_argconv conv)
{
	switch (conv) {
	case LS_ARG_BOOL_RESULT: return 8;
	case LS_ARG_SSL_RW: case LS_ARG_SSL_RW_EX: case LS_ARG_SSL_HS: case LS_ARG_H2_SESSION: return 32;
	case LS_ARG_GO_ANY: return 0; /* timing only: no result to follow */
	default: return 64;
	}
}

/* ---- Objects ---------------------------------------------------------------------- */

/* Open one mapped object for analysis: its ELF file, unwind tables and executable segments (po->e NULL when unreadable). */
static void open_object(struct pobj *po, pid_t pid, const struct ls_object *o)
{
	char e2[LS_ERR_LEN];
	Elf *elf;
	size_t nph;

	memset(po, 0, sizeof(*po));
	po->pid = pid;
	po->o = *o;
	if (ls_elf_open(po->o.open_path, &po->e, e2)) {
		po->e = NULL;
		return;
	}
	elf = ls_elf_handle(po->e);
	po->cfi = dwarf_getcfi_elf(elf);
	if (elf_getphdrnum(elf, &nph))
		return;
	for (size_t k = 0; k < nph && po->nx < 4; k++) {
		GElf_Phdr ph;
		const uint8_t *code;

		if (!gelf_getphdr(elf, (int)k, &ph) || ph.p_type != PT_LOAD || !(ph.p_flags & PF_X) || !ph.p_filesz)
			continue;
		code = ls_elf_code(po->e, ph.p_vaddr, ph.p_filesz);
		if (!code)
			continue;
		po->x[po->nx].vaddr = ph.p_vaddr;
		po->x[po->nx].code = code;
		po->x[po->nx].len = ph.p_filesz;
		po->nx++;
	}
}

static int open_objects(struct ls_placements *p, pid_t pid, char *err)
{
	struct ls_object *objs = NULL;
	size_t n = 0;
	int ret = ls_proc_objects(pid, &objs, &n, err);
	struct pobj *nv;

	if (ret)
		return ret;
	nv = realloc(p->objs, (p->nobjs + n) * sizeof(*nv));
	if (!nv && n) {
		free(objs);
		return ls_err(err, ENOMEM, "out of memory");
	}
	p->objs = nv;
	for (size_t i = 0; i < n; i++)
		open_object(&p->objs[p->nobjs++], pid, &objs[i]);
	free(objs);
	return 0;
}

static int32_t rd32(const uint8_t *p)
{
	int32_t v;

	memcpy(&v, p, 4);
	return v;
}

/*
 * The next PLT section (.plt, .plt.sec and, with got, .plt.got: stubs only, no
 * caller lives there) after scn (NULL: the first), with its header in *sh;
 * NULL past the last.
 */
static Elf_Scn *next_plt(const struct pobj *po, Elf_Scn *scn, GElf_Shdr *sh, int got)
{
	Elf *elf = ls_elf_handle(po->e);
	const char *name;
	size_t shstrndx;

	if (elf_getshdrstrndx(elf, &shstrndx))
		return NULL;
	while ((scn = elf_nextscn(elf, scn)))
		if (gelf_getshdr(scn, sh) && (name = elf_strptr(elf, shstrndx, sh->sh_name)) && !strncmp(name, ".plt", 4) &&
		    (got || strcmp(name, ".plt.got")))
			return scn;
	return NULL;
}

/* The PLT stub whose indirect jump goes through GOT slot `slot`: its 16-byte entry's start. 0 when none. */
static uint64_t plt_stub(struct pobj *po, uint64_t slot)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	/* The 16-byte stubs of .plt and .plt.sec. */
	while ((scn = next_plt(po, scn, &sh, 0))) {
		const uint8_t *c = ls_elf_code(po->e, sh.sh_addr, sh.sh_size);

		for (size_t i = 0; c && i + 6 <= sh.sh_size; i++)
			if (c[i] == 0xff && c[i + 1] == 0x25 && sh.sh_addr + i + 6 + (uint64_t)(int64_t)rd32(c + i + 2) == slot)
				return sh.sh_addr + (i & ~(size_t)15);
	}
	return 0;
}

/*
 * The addresses a call from po to the function can target (the function
 * itself in its own object, PLT stubs elsewhere), and every other way its
 * address can reach code there (GOT loads, pointers in data).
 */
static size_t call_targets(struct pobj *po, int defining, uint64_t vaddr, const char *name, uint64_t *tg,
			   size_t max, struct unseen *u)
{
	Elf *elf = ls_elf_handle(po->e);
	Elf_Scn *scn = NULL;
	size_t n = 0, nlen = strcspn(name, "@");

	if (defining && n < max)
		tg[n++] = vaddr;
	while ((scn = elf_nextscn(elf, scn))) {
		GElf_Shdr sh;
		Elf_Data *d;
		Elf_Scn *symscn;
		GElf_Shdr symsh;
		Elf_Data *syms;

		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_RELA || !sh.sh_entsize)
			continue;
		d = elf_getdata(scn, NULL);
		symscn = elf_getscn(elf, sh.sh_link);
		if (!d || !symscn || !gelf_getshdr(symscn, &symsh) || !(syms = elf_getdata(symscn, NULL)))
			continue;
		for (size_t i = 0; i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Rela r;
			GElf_Sym s;
			const char *sn;
			size_t si;
			unsigned int type;

			if (!gelf_getrela(d, (int)i, &r))
				continue;
			si = GELF_R_SYM(r.r_info);
			type = GELF_R_TYPE(r.r_info);
			if (!si) {
				if (defining && type == R_X86_64_RELATIVE && (uint64_t)r.r_addend == vaddr)
					unseen_add(u, "a pointer to it is stored in %s's data (at 0x%llx)", ls_base_name(po->o.path),
						   (unsigned long long)r.r_offset);
				continue;
			}
			if (!gelf_getsym(syms, (int)si, &s) || !(sn = elf_strptr(elf, symsh.sh_link, s.st_name)))
				continue;
			if (strncmp(sn, name, nlen) || sn[nlen])
				continue;
			if (type == R_X86_64_JUMP_SLOT) {
				uint64_t stub = plt_stub(po, r.r_offset);

				if (!stub)
					unseen_add(u, "%s has a PLT slot for it without a recognisable stub", ls_base_name(po->o.path));
				else if (n < max)
					tg[n++] = stub;
				/* A non-PIE executable's canonical PLT address is what its function pointers hold. */
				if (s.st_shndx == SHN_UNDEF && s.st_value)
					unseen_add(u, "%s uses its PLT stub as the function's address (function pointer)",
						   ls_base_name(po->o.path));
			} else {
				unseen_add(u, "%s loads its address from the GOT (function pointer or -fno-plt call)",
					   ls_base_name(po->o.path));
			}
		}
	}
	return n;
}

/* ---- Call sites --------------------------------------------------------------------- */

/* The function containing addr: from its unwind entry, else (Go binaries) its symbol. 0 or -ENOENT. */
static int func_bounds(const struct pobj *po, uint64_t addr, uint64_t *fs, uint64_t *fe)
{
	Dwarf_Frame *f = NULL;
	Dwarf_Addr s = 0, e = 0;
	uint64_t size;

	if (po->cfi && dwarf_cfi_addrframe(po->cfi, addr, &f) == 0 && dwarf_frame_info(f, &s, &e, NULL) >= 0) {
		free(f);
		*fs = s;
		*fe = e;
		return 0;
	}
	free(f);
	if (ls_elf_func_at(po->e, addr, fs, &size) == 0) {
		*fe = *fs + size;
		return 0;
	}
	return -ENOENT;
}

struct edge {
	uint64_t to, from;
};

static int edge_cmp(const void *a, const void *b)
{
	const struct edge *x = a, *y = b;

	return x->to < y->to ? -1 : x->to > y->to;
}

static const struct edge *edge_into(const struct edge *e, size_t n, uint64_t lo, uint64_t hi)
{
	size_t a = 0, b = n;

	while (a < b) {
		size_t m = a + (b - a) / 2;

		if (e[m].to < lo)
			a = m + 1;
		else
			b = m;
	}
	return a < n && e[a].to <= hi ? &e[a] : NULL;
}

static int jump_cmp(const void *a, const void *b)
{
	const struct jump *x = a, *y = b;

	if (x->to != y->to)
		return x->to < y->to ? -1 : 1;
	return x->from < y->from ? -1 : x->from > y->from;
}

/*
 * Where the rel32 field at c[i] (i >= 2) belongs to a jmp, call or jcc: the
 * branch's address, else 0 (code at address 0 is no branch source here).
 */
static uint64_t rel32_branch_at(const uint8_t *c, uint64_t base, size_t i)
{
	if (c[i - 1] == 0xe9 || c[i - 1] == 0xe8)
		return base + i - 1;
	if (c[i - 2] == 0x0f && (c[i - 1] & 0xf0) == 0x80)
		return base + i - 2;
	return 0;
}

/* The object's rel32 jumps and calls that land in its code, sorted by target; -ENOMEM leaves none. */
static int build_jumps(struct pobj *po)
{
	uint64_t lo = UINT64_MAX, hi = 0;
	size_t n = 0, cap = 0;
	struct jump *j = NULL;

	po->jumps_built = 1;
	for (size_t k = 0; k < po->nx; k++) {
		lo = po->x[k].vaddr < lo ? po->x[k].vaddr : lo;
		hi = po->x[k].vaddr + po->x[k].len > hi ? po->x[k].vaddr + po->x[k].len : hi;
	}
	for (size_t k = 0; k < po->nx; k++) {
		const uint8_t *c = po->x[k].code;
		uint64_t base = po->x[k].vaddr;

		for (size_t i = 2; i + 4 <= po->x[k].len; i++) {
			uint64_t t = base + i + 4 + (uint64_t)(int64_t)rd32(c + i), src;

			if (t < lo || t >= hi || !(src = rel32_branch_at(c, base, i)))
				continue;
			if (n == cap) {
				struct jump *m = realloc(j, (cap = 2 * cap + 1024) * sizeof(*j));

				if (!m) {
					free(j);
					return -ENOMEM;
				}
				j = m;
			}
			j[n++] = (struct jump){ .to = t, .from = src };
		}
	}
	qsort(j, n, sizeof(*j), jump_cmp);
	po->jumps = j;
	po->njumps = n;
	return 0;
}

/*
 * A rel32 jump or call anywhere in the object outside [fs, fe) that lands in
 * [lo, hi] (e.g. from a .cold part); *from is the lowest such source. Looked
 * up in the object's jump index; scanned byte by byte if it cannot be built.
 */
static int far_jump_into(struct pobj *po, uint64_t fs, uint64_t fe, uint64_t lo, uint64_t hi, uint64_t *from)
{
	if (!po->jumps_built)
		build_jumps(po);
	if (po->jumps) {
		size_t a = 0, b = po->njumps;
		uint64_t best = UINT64_MAX;

		while (a < b) {
			size_t m = a + (b - a) / 2;

			if (po->jumps[m].to < lo)
				a = m + 1;
			else
				b = m;
		}
		for (; a < po->njumps && po->jumps[a].to <= hi; a++) {
			uint64_t src = po->jumps[a].from;

			if (src >= fs && src < fe)
				continue; /* inside the function: its disassembly is authoritative */
			if (src < best)
				best = src;
		}
		if (best == UINT64_MAX)
			return 0;
		*from = best;
		return 1;
	}
	for (size_t k = 0; k < po->nx; k++) {
		const uint8_t *c = po->x[k].code;
		uint64_t base = po->x[k].vaddr;

		for (size_t i = 2; i + 4 <= po->x[k].len; i++) {
			uint64_t t = base + i + 4 + (uint64_t)(int64_t)rd32(c + i), src;

			if (t < lo || t > hi || !(src = rel32_branch_at(c, base, i)))
				continue;
			if (src >= fs && src < fe)
				continue; /* inside the function: its disassembly is authoritative */
			*from = src;
			return 1;
		}
	}
	return 0;
}

static int is_emulated(const cs_insn *in, struct ls_insn *out)
{
	return ls_insn_classify(in->bytes, in->size, in->address, NULL, out) == 0 &&
	       (out->cls == LS_INSN_EMULATED || out->cls == LS_INSN_TRAMPOLINE);
}

/*
 * Analyse one direct call: the caller function's bounds from its unwind
 * entry, its whole disassembly, the branch targets in it, then the return
 * site. Fills cs (ok = 1 when it can be probed, else reason).
 */
static void analyse_call(struct pobj *po, uint64_t call, unsigned int width, struct ls_callsite *cs)
{
	uint64_t fs = 0, fe = 0;
	cs_insn *insn = NULL;
	struct edge *edges = NULL;
	size_t n = 0, nedges = 0, k;
	const uint8_t *code;
	unsigned int tracked = 1u << LS_REG_RAX;
	uint64_t from;
	csh h;

	cs->call_vaddr = call;
	if (func_bounds(po, call, &fs, &fe)) {
		snprintf(cs->reason, sizeof(cs->reason), "no unwind entry or symbol: the caller's bounds are unknown");
		return;
	}
	cs->func_start = fs;
	cs->func_end = fe;
	if (fe <= fs || fe - fs > FUNC_MAX_BYTES || !(code = ls_elf_code(po->e, fs, fe - fs))) {
		snprintf(cs->reason, sizeof(cs->reason), "caller 0x%llx-0x%llx cannot be read", (unsigned long long)fs,
			 (unsigned long long)fe);
		return;
	}
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK) {
		snprintf(cs->reason, sizeof(cs->reason), "capstone: cannot open an x86-64 disassembler");
		return;
	}
	cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
	n = cs_disasm(h, code, fe - fs, fs, 0, &insn);
	edges = calloc(n ? n : 1, sizeof(*edges));
	if (!edges) {
		snprintf(cs->reason, sizeof(cs->reason), "out of memory");
		goto cleanup;
	}
	if (!n || insn[n - 1].address + insn[n - 1].size != fe) {
		snprintf(cs->reason, sizeof(cs->reason), "caller 0x%llx-0x%llx does not disassemble to its end",
			 (unsigned long long)fs, (unsigned long long)fe);
		goto cleanup;
	}
	/* Every branch target of the caller; an indirect jump leaves its blocks unknown. */
	for (size_t i = 0; i < n; i++) {
		const cs_x86 *x = &insn[i].detail->x86;
		int jump = cs_insn_group(h, &insn[i], X86_GRP_JUMP), callg = cs_insn_group(h, &insn[i], X86_GRP_CALL);

		if (!jump && !callg)
			continue;
		if (x->op_count >= 1 && x->operands[0].type == X86_OP_IMM) {
			edges[nedges].to = (uint64_t)x->operands[0].imm;
			edges[nedges].from = insn[i].address;
			nedges++;
		} else if (jump) {
			snprintf(cs->reason, sizeof(cs->reason), "indirect jump at 0x%llx (%.15s %.40s): the caller's blocks are uncertain",
				 (unsigned long long)insn[i].address, insn[i].mnemonic, insn[i].op_str);
			goto cleanup;
		}
	}
	qsort(edges, nedges, sizeof(*edges), edge_cmp);
	for (k = 0; k < n && insn[k].address < call; k++)
		;
	if (k == n || insn[k].address != call) {
		snprintf(cs->reason, sizeof(cs->reason), "0x%llx is not an instruction of the caller's disassembly",
			 (unsigned long long)call);
		goto cleanup;
	}
	ls_insn_classify(insn[k].bytes, insn[k].size, call, NULL, &cs->call_insn);
	/* Follow the result from the instruction after the call to the first emulated one. */
	for (size_t j = k + 1; j < n && j <= k + SPAN_MAX_INSNS; j++) {
		const cs_insn *in = &insn[j];
		const cs_x86 *x = &in->detail->x86;
		const struct edge *e = edge_into(edges, nedges, in->address, in->address);
		cs_regs rd, wr;
		uint8_t nrd = 0, nwr = 0;
		unsigned int w, w2, keep = 0;
		int dst = -1, src;

		if (e) {
			snprintf(cs->reason, sizeof(cs->reason),
				 "0x%llx, between the call and its return site, is a branch target (from 0x%llx)",
				 (unsigned long long)in->address, (unsigned long long)e->from);
			goto cleanup;
		}
		if (is_emulated(in, &cs->ret_insn)) {
			if (!tracked && width) {
				snprintf(cs->reason, sizeof(cs->reason), "the result is overwritten before the return site 0x%llx",
					 (unsigned long long)in->address);
				goto cleanup;
			}
			cs->ret_vaddr = in->address;
			cs->ret_reg = tracked ? (unsigned int)__builtin_ctz(tracked) : LS_REG_RAX;
			break;
		}
		if (cs_insn_group(h, in, X86_GRP_JUMP) || cs_insn_group(h, in, X86_GRP_RET) ||
		    cs_insn_group(h, in, X86_GRP_CALL) || cs_insn_group(h, in, X86_GRP_INT) ||
		    cs_insn_group(h, in, X86_GRP_IRET)) {
			snprintf(cs->reason, sizeof(cs->reason), "the block ends at 0x%llx (%s) before any emulated instruction",
				 (unsigned long long)in->address, in->mnemonic);
			goto cleanup;
		}
		if (cs_regs_access(h, in, rd, &nrd, wr, &nwr) != CS_ERR_OK) {
			snprintf(cs->reason, sizeof(cs->reason), "cannot tell what 0x%llx writes", (unsigned long long)in->address);
			goto cleanup;
		}
		/* Register copies carry the result along (mov, movslq/movsxd, movzx of a narrow result, cltq). */
		if (x->op_count == 2 && x->operands[0].type == X86_OP_REG && x->operands[1].type == X86_OP_REG &&
		    (in->id == X86_INS_MOV || in->id == X86_INS_MOVSXD || in->id == X86_INS_MOVZX || in->id == X86_INS_MOVSX)) {
			src = canon_reg(x->operands[1].reg, &w);
			dst = canon_reg(x->operands[0].reg, &w2);
			if (src < 0 || dst < 0 || !(tracked & (1u << src)) || w < width || (in->id == X86_INS_MOV && w2 < width))
				dst = -1;
		}
		if (in->id == X86_INS_CDQE && width <= 32)
			keep = 1u << LS_REG_RAX;
		for (uint8_t i = 0; i < nwr; i++) {
			int r = canon_reg(wr[i], &w);

			if (r == LS_REG_RSP) {
				snprintf(cs->reason, sizeof(cs->reason), "0x%llx (%s) moves the stack pointer before the return site",
					 (unsigned long long)in->address, in->mnemonic);
				goto cleanup;
			}
			if (r >= 0 && !(keep & (1u << r)))
				tracked &= ~(1u << r);
		}
		if (dst >= 0)
			tracked |= 1u << dst;
	}
	if (!cs->ret_vaddr) {
		if (!cs->reason[0])
			snprintf(cs->reason, sizeof(cs->reason), "no emulated instruction within %d instructions after the call",
				 SPAN_MAX_INSNS);
		goto cleanup;
	}
	/* The span is entered only from the call: also from nowhere else in the object (cold parts). */
	if (far_jump_into(po, fs, fe, call + insn[k].size, cs->ret_vaddr, &from)) {
		snprintf(cs->reason, sizeof(cs->reason), "a jump at 0x%llx, outside the caller, lands in the return span",
			 (unsigned long long)from);
		cs->ret_vaddr = 0;
		goto cleanup;
	}
	if (ls_elf_offset(po->e, call, &cs->call_offset) || ls_elf_offset(po->e, cs->ret_vaddr, &cs->ret_offset)) {
		snprintf(cs->reason, sizeof(cs->reason), "no file offset for the call or its return site");
		cs->ret_vaddr = 0;
		goto cleanup;
	}
	cs->ok = 1;
cleanup:
	free(edges);
	if (insn)
		cs_free(insn, n);
	cs_close(&h);
}

/* ---- Placement of one site ---------------------------------------------------------- */

static int add_callsite(struct ls_placement *pl, size_t obj, uint64_t call, struct pobj *po, unsigned int width)
{
	struct ls_callsite *nv, *cs;

	if (pl->ncs == LS_PLACE_MAX_CALLSITES)
		return -E2BIG;
	nv = realloc(pl->cs, (pl->ncs + 1) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	pl->cs = nv;
	cs = &pl->cs[pl->ncs++];
	memset(cs, 0, sizeof(*cs));
	cs->obj = obj;
	analyse_call(po, call, width, cs);
	pl->nok += cs->ok;
	return 0;
}

/*
 * Whether the bytes at `at` that resolve to target are a real instruction of
 * the function containing them: 1 yes, 0 no (they are part of other
 * instructions), -1 unknown (no unwind entry bounds the code there).
 */
static int real_ref(const struct pobj *po, uint64_t at, uint64_t target)
{
	uint64_t fs = 0, fe = 0;
	cs_insn *insn = NULL;
	const uint8_t *code;
	size_t n;
	int ret = 0;
	csh h;

	if (func_bounds(po, at, &fs, &fe))
		return -1;
	if (fe <= fs || fe - fs > FUNC_MAX_BYTES || !(code = ls_elf_code(po->e, fs, fe - fs)))
		return -1;
	if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK)
		return -1;
	cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
	n = cs_disasm(h, code, fe - fs, fs, 0, &insn);
	if (!n || insn[n - 1].address + insn[n - 1].size != fe)
		ret = -1;
	for (size_t i = 0; ret == 0 && i < n; i++) {
		const cs_x86 *x = &insn[i].detail->x86;

		if (insn[i].address > at || insn[i].address + insn[i].size <= at)
			continue;
		for (uint8_t k = 0; k < x->op_count; k++) {
			const cs_x86_op *op = &x->operands[k];

			if ((op->type == X86_OP_IMM && (uint64_t)op->imm == target) ||
			    (op->type == X86_OP_MEM && op->mem.base == X86_REG_RIP &&
			     insn[i].address + insn[i].size + (uint64_t)op->mem.disp == target))
				ret = 1;
		}
		break;
	}
	if (insn)
		cs_free(insn, n);
	cs_close(&h);
	return ret;
}

/* Absolute pointers to vaddr in the object's data (Go: interface tables, method values). */
static void data_refs(const struct pobj *po, uint64_t vaddr, struct unseen *u)
{
	Elf *elf = ls_elf_handle(po->e);
	size_t nph;

	if (elf_getphdrnum(elf, &nph))
		return;
	for (size_t k = 0; k < nph; k++) {
		GElf_Phdr ph;
		const uint8_t *d;

		if (!gelf_getphdr(elf, (int)k, &ph) || ph.p_type != PT_LOAD || (ph.p_flags & PF_X) || !ph.p_filesz)
			continue;
		d = ls_elf_code(po->e, ph.p_vaddr, ph.p_filesz);
		for (size_t i = 0; d && i + 8 <= ph.p_filesz; i += 8) {
			uint64_t v;

			memcpy(&v, d + i, 8);
			if (v == vaddr) {
				unseen_add(u, "a pointer to it is stored in %s's data (at 0x%llx)", ls_base_name(po->o.path),
					   (unsigned long long)(ph.p_vaddr + i));
				return;
			}
		}
	}
}

/* 1 when vaddr lies in one of the object's PLT sections (stubs only: no caller lives there). */
static int in_plt(const struct pobj *po, uint64_t vaddr)
{
	Elf_Scn *scn = NULL;
	GElf_Shdr sh;

	while ((scn = next_plt(po, scn, &sh, 1)))
		if (vaddr >= sh.sh_addr && vaddr < sh.sh_addr + sh.sh_size)
			return 1;
	return 0;
}

static int u64_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static size_t def_object(const struct ls_placements *p, const struct ls_site *site)
{
	for (size_t i = 0; i < p->nobjs; i++)
		if (p->objs[i].pid == site->pid && p->objs[i].e && !strcmp(p->objs[i].o.path, site->path))
			return i;
	return p->nobjs;
}

/*
 * Every place in objs[oi]'s code whose four bytes, read as a rel32, resolve
 * to one of the functions being placed. Each site's scan then visits only
 * these instead of every byte of the object again: one pass per object, not
 * one per probed function (a Go binary has megabytes of code and dozens of them).
 */
static int index_refs(struct ls_placements *p, size_t oi)
{
	struct pobj *po = &p->objs[oi];
	uint64_t *tg = NULL, lo, hi;
	size_t ntg = 0, cap = 0, nref = 0, capref = 0;
	struct ref *refs = NULL;

	po->indexed = 1;
	for (size_t si = 0; si < p->nsites; si++) {
		const struct ls_site *site = &p->sites[si];
		size_t di = def_object(p, site);
		uint64_t t[8];
		size_t n = 0;

		if (!site->found || site->pid != po->pid || di == p->nobjs)
			continue;
		if (site->is_go || (site->entry->flags & LS_CAT_GO)) {
			if (di == oi)
				t[n++] = site->vaddr;
		} else {
			struct unseen u = { 0 };

			n = call_targets(po, di == oi, site->vaddr, site->entry->symbol, t, 8, &u);
		}
		if (ntg + n > cap) {
			uint64_t *m = realloc(tg, (cap = 2 * cap + n + 16) * sizeof(*tg));

			if (!m) {
				free(tg);
				return -ENOMEM;
			}
			tg = m;
		}
		memcpy(tg + ntg, t, n * sizeof(*t));
		ntg += n;
	}
	if (!ntg)
		return 0;
	qsort(tg, ntg, sizeof(*tg), u64_cmp);
	lo = tg[0];
	hi = tg[ntg - 1];
	for (size_t k = 0; k < po->nx; k++) {
		const uint8_t *c = po->x[k].code;
		uint64_t base = po->x[k].vaddr;

		for (size_t i = 1; i + 4 <= po->x[k].len; i++) {
			uint64_t t = base + i + 4 + (uint64_t)(int64_t)rd32(c + i);

			if (t < lo || t > hi || !bsearch(&t, tg, ntg, sizeof(*tg), u64_cmp))
				continue;
			if (nref == capref) {
				struct ref *m = realloc(refs, (capref = 2 * capref + 64) * sizeof(*refs));

				if (!m) {
					free(refs);
					free(tg);
					return -ENOMEM;
				}
				refs = m;
			}
			refs[nref++] = (struct ref){ .target = t, .k = (uint32_t)k, .i = (uint32_t)i };
		}
	}
	free(tg);
	po->refs = refs;
	po->nrefs = nref;
	return 0;
}

/* Every direct reference to the function from the code of objs[oi]: calls, tail jumps, address loads. */
static int scan_object(struct ls_placements *p, size_t oi, const uint64_t *tg, size_t ntg, struct ls_placement *pl,
		       unsigned int width, uint64_t self_lo, uint64_t self_hi, struct unseen *u)
{
	struct pobj *po = &p->objs[oi];
	int rc;

	if (!po->indexed && (rc = index_refs(p, oi)))
		return rc;
	for (size_t r = 0; r < po->nrefs; r++) {
		const size_t k = po->refs[r].k, i = po->refs[r].i;
		const uint8_t *c = po->x[k].code;
		uint64_t base = po->x[k].vaddr, t = po->refs[r].target, at = base + i - 1;
		size_t m;
		int real;

		for (m = 0; m < ntg && tg[m] != t; m++)
			;
		if (m == ntg)
			continue;
		/* Four bytes that happen to resolve to it inside other instructions are no reference. */
		if (in_plt(po, at))
			continue;
		real = real_ref(po, c[i - 1] == 0xe8 || c[i - 1] == 0xe9 ? at : at + 1, t);
		if (real == 0)
			continue;
		/* Padding between functions ends in zero bytes that "resolve" to the next function. */
		if (real < 0 && t == base + i + 4 && c[i - 1] != 0xe8 && c[i - 1] != 0xe9)
			continue;
		if (c[i - 1] == 0xe8) {
			int ret = add_callsite(pl, oi, at, po, width);

			if (ret == -E2BIG)
				unseen_add(u, "more than %d call sites", LS_PLACE_MAX_CALLSITES);
			else if (ret)
				return ret;
		} else if (c[i - 1] == 0xe9) {
			/* Go's stack check jumps back to the function's start after morestack: the same call. */
			if (at >= self_lo && at < self_hi)
				continue;
			unseen_add(u, "tail jump to it at %s+0x%llx", ls_base_name(po->o.path), (unsigned long long)at);
		} else if (i >= 2 && c[i - 2] == 0x0f && (c[i - 1] & 0xf0) == 0x80) {
			unseen_add(u, "conditional tail jump to it at %s+0x%llx", ls_base_name(po->o.path),
				   (unsigned long long)(at - 1));
		} else {
			unseen_add(u, "its address is taken at %s+0x%llx", ls_base_name(po->o.path), (unsigned long long)at);
		}
	}
	/* Short jumps reach only neighbours: a function just before it may end with a jump into it. */
	for (size_t k = 0; k < po->nx; k++) {
		const uint8_t *c = po->x[k].code;
		uint64_t base = po->x[k].vaddr;

		/* Addresses are the file's: the window sums below must not wrap around the address space. */
		if (base > UINT64_MAX - 256 || po->x[k].len > UINT64_MAX - 256 - base)
			continue;
		for (size_t m = 0; m < ntg; m++) {
			if (tg[m] > UINT64_MAX - 128)
				continue;
			for (uint64_t a = tg[m] > base + 130 ? tg[m] - 130 : base; a + 2 <= tg[m] + 128 && a + 2 <= base + po->x[k].len; a++) {
				const uint8_t *q = c + (a - base);

				if ((q[0] == 0xeb || (q[0] & 0xf0) == 0x70) && a + 2 + (uint64_t)(int64_t)(int8_t)q[1] == tg[m] &&
				    a + 2 != tg[m]) {
					/* Only a real instruction counts: check that it decodes as a jump at a function's bounds. */
					uint64_t fs = 0, fe = 0;
					int inside = func_bounds(po, a, &fs, &fe) == 0 && tg[m] >= fs && tg[m] < fe;

					if (!inside)
						unseen_add(u, "a short jump at %s+0x%llx may reach it", ls_base_name(po->o.path),
							   (unsigned long long)a);
				}
			}
		}
	}
	return 0;
}

/* An instruction's cost per hit from the session's table (classified against the fallback). */
static void recost(struct ls_insn *in, const struct ls_costs *c)
{
	if (in->len)
		in->cost_ns = c->ns[in->kind];
}

static void cost_of(const struct ls_placements *p, struct ls_placement *pl)
{
	const struct ls_costs *c = &p->costs;
	unsigned int entry, program = c->ns[LS_COST_K_PROGRAM];
	unsigned long sum = 0;

	recost(&pl->entry_insn, c);
	pl->ret_cost_ns = pl->ret_kind == LS_RET_NONE ? 0 :
			  c->ns[pl->ret_kind == LS_RET_URETPROBE ? LS_COST_K_URETPROBE : LS_COST_K_RET];
	pl->rets_cost_ns = c->ns[LS_COST_K_RET];
	for (size_t i = 0; i < pl->ncs; i++) {
		recost(&pl->cs[i].call_insn, c);
		recost(&pl->cs[i].ret_insn, c);
	}
	entry = pl->entry_insn.cost_ns + pl->ret_cost_ns;
	if (pl->used != LS_PLACE_CALLSITE || !pl->nok) {
		pl->call_cost_ns = entry + program;
		return;
	}
	for (size_t i = 0; i < pl->ncs; i++)
		if (pl->cs[i].ok)
			sum += pl->cs[i].call_insn.cost_ns + pl->cs[i].ret_insn.cost_ns;
	pl->call_cost_ns = (unsigned int)(sum / pl->nok) + program;
	/* A call seen at a call site still passes the entry probe when that stays. */
	if (pl->entry_probe)
		pl->call_cost_ns += entry;
}

static int place_one(struct ls_placements *p, const struct ls_site *site, enum ls_place_mode mode,
		     struct ls_placement *pl, char *err)
{
	const struct ls_catalog_entry *c = site->entry;
	struct pobj *def = NULL;
	struct ls_elf_sym sym;
	struct unseen u = { 0 };
	unsigned int width = result_width(c->conv);
	const uint8_t *code;
	size_t di = 0;
	int ret;

	pl->used = LS_PLACE_ENTRY;
	pl->entry_probe = 1;
	for (size_t i = 0; i < p->nobjs; i++) {
		if (p->objs[i].pid == site->pid && p->objs[i].e && !strcmp(p->objs[i].o.path, site->path)) {
			def = &p->objs[i];
			di = i;
			break;
		}
	}
	if (!def) {
		snprintf(pl->why, sizeof(pl->why), "%.200s is no longer mapped", ls_base_name(site->path));
		return 0;
	}
	code = ls_elf_code(def->e, site->vaddr, 16);
	if (site->is_go || (c->flags & LS_CAT_GO)) {
		/* Go: the entry probe sits after the stack check (a push), returns at every RET (single-stepped). */
		uint64_t entry_vaddr = site->vaddr, tg = site->vaddr;

		/* The entry offset may differ from the symbol (after the stack check): classify what is probed. */
		if (ls_elf_find(def->e, c->symbol, &sym) == 0 && sym.file_offset != site->offset)
			entry_vaddr = sym.vaddr + (site->offset - sym.file_offset);
		ls_insn_classify(ls_elf_code(def->e, entry_vaddr, 16), 16, entry_vaddr, NULL, &pl->entry_insn);
		pl->ret_kind = LS_RET_SITES;
		snprintf(pl->why, sizeof(pl->why), "Go function: entry after the stack check, %zu RET sites (never a uretprobe)",
			 site->nrets);
		cost_of(p, pl);
		if (mode == LS_PLACE_ENTRY)
			return 0;
		/*
		 * A Go binary is linked statically: every direct caller is in it. Call
		 * sites replace the RET sites only when they see every call (callsite
		 * and entry probes are not mixed on goroutine stacks).
		 */
		data_refs(def, site->vaddr, &u);
		ret = scan_object(p, di, &tg, 1, pl, width, site->vaddr,
				  site->vaddr + (ls_elf_find(def->e, c->symbol, &sym) == 0 ? sym.size : 0), &u);
		if (ret)
			return ls_err(err, -ret, "placing %s: %s", c->symbol, strerror(-ret));
		for (size_t i = 0; i < pl->ncs; i++)
			if (!pl->cs[i].ok)
				unseen_add(&u, "call site %s+0x%llx refused", ls_base_name(def->o.path),
					   (unsigned long long)pl->cs[i].call_vaddr);
		if (pl->nok && !u.n) {
			pl->used = LS_PLACE_CALLSITE;
			pl->entry_probe = 0;
			snprintf(pl->why, sizeof(pl->why), "every call is at one of %zu call sites: no RET site (single-stepped) needed",
				 pl->nok);
		} else {
			snprintf(pl->why, sizeof(pl->why), "Go function, RET sites kept: %.200s",
				 u.n ? u.first : "no direct call site");
		}
		cost_of(p, pl);
		return 0;
	}
	ls_insn_classify(code, 16, site->vaddr, NULL, &pl->entry_insn);
	/* Return side of an entry probe: the trampoline beats a single-stepped RET wherever a uretprobe is safe. */
	pl->ret_kind = LS_RET_URETPROBE;
	/* No return probe to save: the entry alone is the cheapest there is. */
	if (!(c->flags & LS_CAT_RETPROBE)) {
		pl->ret_kind = LS_RET_NONE;
		snprintf(pl->why, sizeof(pl->why), "%s", c->kind == LS_KIND_H2_OUT ? "entry only (timed to the thread's next write)" :
							 "entry only (not timed)");
		cost_of(p, pl);
		return 0;
	}
	if (mode == LS_PLACE_ENTRY) {
		snprintf(pl->why, sizeof(pl->why), "entry placement requested");
		cost_of(p, pl);
		return 0;
	}
	/* Callers: only objects that can reach the function (its own, or one with a relocation naming it). */
	for (size_t i = 0; i < p->nobjs; i++) {
		struct pobj *po = &p->objs[i];
		uint64_t tg[8];
		size_t ntg;

		if (po->pid != site->pid)
			continue;
		if (!po->e) {
			unseen_add(&u, "%s cannot be read", ls_base_name(po->o.path));
			continue;
		}
		ntg = call_targets(po, i == di, site->vaddr, c->symbol, tg, 8, &u);
		if (!ntg)
			continue;
		ret = scan_object(p, i, tg, ntg, pl, width, 0, 0, &u);
		if (ret)
			return ls_err(err, -ret, "placing %s: %s", c->symbol, strerror(-ret));
	}
	for (size_t i = 0; i < pl->ncs; i++)
		if (!pl->cs[i].ok)
			unseen_add(&u, "call site %s+0x%llx refused", ls_base_name(p->objs[pl->cs[i].obj].o.path),
				   (unsigned long long)pl->cs[i].call_vaddr);
	if (!pl->nok) {
		snprintf(pl->why, sizeof(pl->why), "no call site could be placed%s%.190s", u.n ? ": " : "", u.first);
	} else if (!u.n) {
		unsigned int entry_cost;

		cost_of(p, pl);
		entry_cost = pl->call_cost_ns;
		pl->used = LS_PLACE_CALLSITE;
		pl->entry_probe = 0;
		cost_of(p, pl);
		/* Where the entry is not single-stepped, call sites must also be cheaper than entry + uretprobe. */
		if (mode == LS_PLACE_AUTO && pl->call_cost_ns >= entry_cost) {
			snprintf(pl->why, sizeof(pl->why), "entry kept: %s entry + uretprobe (%.2fus) is no dearer than its %zu call sites (%.2fus)",
				 ls_insn_class_name(pl->entry_insn.cls), entry_cost / 1e3, pl->nok, pl->call_cost_ns / 1e3);
			pl->used = LS_PLACE_ENTRY;
			pl->entry_probe = 1;
		} else {
			snprintf(pl->why, sizeof(pl->why), "every call is at one of %zu call sites (no pointer, tail jump or refused site)",
				 pl->nok);
		}
	} else if (mode == LS_PLACE_CALLSITE) {
		pl->used = LS_PLACE_CALLSITE;
		snprintf(pl->why, sizeof(pl->why), "%zu call sites; entry probe kept for %zu call%s they cannot see (%.120s)",
			 pl->nok, u.n, u.n > 1 ? "s/references" : " or reference", u.first);
	} else {
		snprintf(pl->why, sizeof(pl->why), "entry kept: call sites would not see every call (%.180s%s)", u.first,
			 u.n > 1 ? ", ..." : "");
	}
	cost_of(p, pl);
	return 0;
}

int ls_place(const struct ls_site *sites, size_t nsites, enum ls_place_mode mode, const struct ls_costs *costs,
	     struct ls_placements **out, char *err)
{
	struct ls_placements *p;
	int ret = 0;

	*out = NULL;
	p = calloc(1, sizeof(*p));
	if (!p)
		return ls_err(err, ENOMEM, "out of memory");
	p->pl = calloc(nsites ? nsites : 1, sizeof(*p->pl));
	if (!p->pl) {
		ret = ls_err(err, ENOMEM, "out of memory");
		goto cleanup;
	}
	p->npl = nsites;
	p->costs = costs ? *costs : *ls_costs_fallback();
	p->sites = sites;
	p->nsites = nsites;
	for (size_t i = 0; i < nsites; i++) {
		int seen = 0;

		for (size_t j = 0; j < i && !seen; j++)
			seen = sites[j].pid == sites[i].pid;
		if (!seen && (ret = open_objects(p, sites[i].pid, err)))
			goto cleanup;
	}
	for (size_t i = 0; i < nsites; i++) {
		if (!sites[i].found)
			continue;
		ret = place_one(p, &sites[i], mode, &p->pl[i], err);
		if (ret)
			goto cleanup;
	}
	*out = p;
	p = NULL;
cleanup:
	ls_placements_free(p);
	return ret;
}

/* Whether the placement already knows pid's object o (by inode and device). */
static int placed_object(const struct ls_placements *p, pid_t pid, const struct ls_object *o)
{
	for (size_t k = 0; k < p->nobjs; k++)
		if (p->objs[k].pid == pid && p->objs[k].o.inode == o->inode && p->objs[k].o.dev == o->dev)
			return 1;
	return 0;
}

/*
 * The path of the first object mapped by pid that the placement does not know,
 * only among probed libraries when libraries_only; 1 when there is one.
 */
static int first_unplaced(const struct ls_placements *p, pid_t pid, int libraries_only, char *path, size_t len)
{
	struct ls_object *objs = NULL;
	char err[LS_ERR_LEN];
	size_t n = 0;
	int found = 0;

	if (ls_proc_objects(pid, &objs, &n, err))
		return 0;
	for (size_t i = 0; i < n && !found; i++) {
		if (libraries_only && !ls_library_of_file(ls_base_name(objs[i].path)))
			continue;
		if (!placed_object(p, pid, &objs[i])) {
			snprintf(path, len, "%s", objs[i].path);
			found = 1;
		}
	}
	free(objs);
	return found;
}

int ls_placements_new_object(const struct ls_placements *p, pid_t pid, char *path, size_t len)
{
	int callsite_only = 0;

	for (size_t i = 0; p && i < p->npl; i++)
		callsite_only |= p->pl[i].used == LS_PLACE_CALLSITE && !p->pl[i].entry_probe;
	return callsite_only && first_unplaced(p, pid, 0, path, len);
}

int ls_placements_new_library(const struct ls_placements *p, pid_t pid, char *path, size_t len)
{
	return p && first_unplaced(p, pid, 1, path, len);
}

const struct ls_placement *ls_placement_of(const struct ls_placements *p, size_t site)
{
	return p && site < p->npl ? &p->pl[site] : NULL;
}

void ls_placements_recost(struct ls_placements *p, const struct ls_costs *costs)
{
	p->costs = *costs;
	for (size_t i = 0; i < p->npl; i++)
		if (i < p->nsites && p->sites[i].found)
			cost_of(p, &p->pl[i]);
}

const struct ls_costs *ls_placements_costs(const struct ls_placements *p)
{
	return &p->costs;
}

const char *ls_placements_obj_path(const struct ls_placements *p, size_t obj)
{
	return obj < p->nobjs ? p->objs[obj].o.path : "?";
}

const char *ls_placements_obj_open_path(const struct ls_placements *p, size_t obj)
{
	return obj < p->nobjs ? p->objs[obj].o.open_path : "?";
}

void ls_placements_free(struct ls_placements *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->npl; i++)
		free(p->pl[i].cs);
	for (size_t i = 0; i < p->nobjs; i++)
	{
		if (p->objs[i].cfi)
			dwarf_cfi_end(p->objs[i].cfi);
		free(p->objs[i].refs);
		free(p->objs[i].jumps);
		ls_elf_free(p->objs[i].e);
	}
	free(p->pl);
	free(p->objs);
	free(p);
}

int ls_place_mode_parse(const char *s, enum ls_place_mode *out)
{
	static const struct { const char *name; enum ls_place_mode m; } names[] = {
		{ "auto", LS_PLACE_AUTO }, { "entry", LS_PLACE_ENTRY }, { "callsite", LS_PLACE_CALLSITE },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (!strcmp(s, names[i].name)) {
			*out = names[i].m;
			return 0;
		}
	}
	return -EINVAL;
}

const char *ls_place_mode_name(enum ls_place_mode m)
{
	return m == LS_PLACE_CALLSITE ? "callsite" : m == LS_PLACE_ENTRY ? "entry" : "auto";
}

const char *ls_reg_name(unsigned int r)
{
	return r < LS_REG_COUNT ? reg_names[r] : "?";
}
