/* Where nghttp2 keeps its HPACK decoder table: read from the code of its exported accessors (lib/h2table.h). */
#include "h2table.h"
#include "elfsym.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* An endbr64 first is skipped. */
static const uint8_t *code_at(const struct ls_elf *e, const char *name, size_t len)
{
	struct ls_elf_sym sym;
	const uint8_t *c;

	if (ls_elf_find(e, name, &sym) || !(c = ls_elf_code(e, sym.vaddr, len + 4)))
		return NULL;
	if (c[0] == 0xf3 && c[1] == 0x0f && c[2] == 0x1e && c[3] == 0xfa)
		c += 4;
	return c;
}

/* mov disp8(%rdi),%rax; ret: the field an accessor returns. */
static int field_getter(const struct ls_elf *e, const char *name, uint32_t *off)
{
	const uint8_t *c = code_at(e, name, 5);

	if (!c || c[0] != 0x48 || c[1] != 0x8b || c[2] != 0x47 || c[4] != 0xc3)
		return -ENOENT;
	*off = c[3];
	return 0;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* The session accessor: add/lea of the inflater's offset to %rdi and a jump, or the field read inlined. */
static int infl_offset(const struct ls_elf *e, uint32_t size_off, uint32_t *off)
{
	const uint8_t *c = code_at(e, "nghttp2_session_get_hd_inflate_dynamic_table_size", 8);

	if (!c)
		return -ENOENT;
	if (c[0] == 0x48 && c[1] == 0x81 && c[2] == 0xc7)          /* add $imm32,%rdi */
		*off = le32(c + 3);
	else if (c[0] == 0x48 && c[1] == 0x83 && c[2] == 0xc7)     /* add $imm8,%rdi */
		*off = c[3];
	else if (c[0] == 0x48 && c[1] == 0x8d && c[2] == 0xbf)     /* lea disp32(%rdi),%rdi */
		*off = le32(c + 3);
	else if (c[0] == 0x48 && c[1] == 0x8b && c[2] == 0x87 && c[7] == 0xc3 && le32(c + 3) >= size_off)
		*off = le32(c + 3) - size_off;                      /* mov disp32(%rdi),%rax; ret */
	else
		return -ENOENT;
	return *off < 0x100000 ? 0 : -ENOENT;
}

static const uint8_t *find(const uint8_t *c, size_t n, const uint8_t *pat, size_t plen)
{
	for (size_t i = 0; i + plen <= n; i++)
		if (!memcmp(c + i, pat, plen))
			return c + i;
	return NULL;
}

/*
 * get_table_entry: the ring (buffer at 0, mask at 8, first at 0x10) indexed as
 * buffer[(first + i) & mask], then the entry's nghttp2_nv at a constant offset.
 */
static int entry_layout(const struct ls_elf *e, uint32_t *nv_off)
{
	static const uint8_t first[] = { 0x48, 0x03, 0x77, 0x10 }, mask[] = { 0x48, 0x23, 0x77, 0x08 },
			     buf[] = { 0x48, 0x8b, 0x07 };
	const size_t n = 128;
	const uint8_t *c = code_at(e, "nghttp2_hd_inflate_get_table_entry", n);

	if (!c || !find(c, n, first, sizeof(first)) || !find(c, n, mask, sizeof(mask)) || !find(c, n, buf, sizeof(buf)))
		return -ENOENT;
	/* mov (%rax,%rsi,8),%reg; add $imm8,%reg */
	for (size_t i = 0; i + 8 <= n; i++) {
		uint8_t reg = (c[i + 2] >> 3) & 7;

		if (c[i] == 0x48 && c[i + 1] == 0x8b && (c[i + 2] & 0xc7) == 0x04 && c[i + 3] == 0xf0 &&
		    c[i + 4] == 0x48 && c[i + 5] == 0x83 && c[i + 6] == (0xc0 | reg)) {
			*nv_off = c[i + 7];
			return 0;
		}
	}
	return -ENOENT;
}

int ls_h2_layout(const struct ls_elf *e, struct ls_h2_layout *out, char *why, size_t whylen)
{
	uint32_t size_off, max_off;

	memset(out, 0, sizeof(*out));
	if (field_getter(e, "nghttp2_hd_inflate_get_dynamic_table_size", &size_off) ||
	    field_getter(e, "nghttp2_hd_inflate_get_max_dynamic_table_size", &max_off)) {
		snprintf(why, whylen, "nghttp2's table size accessors are not of the known shape");
		return -ENOENT;
	}
	/* The context this reads: a ring of four words, the allocator, then the sizes. */
	if (size_off != 0x28 || max_off != size_off + 8) {
		snprintf(why, whylen, "nghttp2's table context has another layout (size at %#x, limit at %#x)", size_off,
			 max_off);
		return -ENOENT;
	}
	if (infl_offset(e, size_off, &out->infl_off)) {
		snprintf(why, whylen, "where nghttp2_session keeps its inflater is not known (accessor of another shape)");
		return -ENOENT;
	}
	if (entry_layout(e, &out->nv_off)) {
		snprintf(why, whylen, "nghttp2's table entries have another layout (get_table_entry of another shape)");
		return -ENOENT;
	}
	out->max_off = max_off;
	out->seq_off = max_off + 8;
	return 0;
}
