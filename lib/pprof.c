/* pprof's profile.proto, written by hand: varints, length-delimited fields and packed repeats only. */
#include "pprof.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

struct buf {
	uint8_t *v;
	size_t n, cap;
	int oom;
};

struct mapping {
	uint64_t start, limit, off;
	int64_t file, build_id;
};

struct line {
	uint64_t func;
	int64_t line;
};

struct location {
	uint64_t mapping, addr;
	size_t first, n;  /* into lines */
};

struct function {
	int64_t name, file;
};

struct sample {
	size_t first_loc, nlocs, first_val, first_label, nlabels;
};

/* uint64 -> uint64 (value 0: empty), open addressing. */
struct map {
	uint64_t *keys, *vals;
	size_t n, cap;
};

struct ls_pprof {
	struct ls_pprof_opts o;
	int64_t types[LS_PPROF_MAX_TYPES], units[LS_PPROF_MAX_TYPES], period_type, period_unit, comment;
	char **strings;
	size_t nstrings, capstrings;
	struct map string_ix;   /* hash -> chain head is not needed: key is hash, collisions probe on */
	struct mapping *mappings;
	size_t nmappings;
	struct location *locs;
	size_t nlocs, caplocs;
	struct line *lines;
	size_t nlines, caplines;
	struct map loc_ix;
	struct function *funcs;
	size_t nfuncs, capfuncs;
	struct map func_ix;
	struct sample *samples;
	size_t nsamples, capsamples;
	uint64_t *sample_locs;
	size_t nsample_locs, capsample_locs;
	int64_t *values;
	size_t nvalues, capvalues;
	int64_t *labels;        /* key, value string indexes */
	size_t nlabels, caplabels;
	int oom;
};

static int grow(void **v, size_t *cap, size_t need, size_t size)
{
	size_t ncap;
	void *nv;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 64;
	while (ncap < need)
		ncap *= 2;
	nv = realloc(*v, ncap * size);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}

static uint64_t mix(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	return h;
}

static uint64_t hash_str(const char *s)
{
	uint64_t h = 1469598103934665603ull;

	while (*s)
		h = (h ^ (uint8_t)*s++) * 1099511628211ull;
	return h;
}

/* Slot of key in m, or the empty slot where it would go. Keys are never 0 (callers add 1). */
static size_t map_slot(const struct map *m, uint64_t key)
{
	size_t h = mix(key) & (m->cap - 1);

	while (m->keys[h] && m->keys[h] != key)
		h = (h + 1) & (m->cap - 1);
	return h;
}

static int map_reserve(struct map *m)
{
	struct map nm;

	if ((m->n + 1) * 2 <= m->cap)
		return 0;
	nm.cap = m->cap ? m->cap * 2 : 256;
	nm.n = m->n;
	nm.keys = calloc(nm.cap, sizeof(*nm.keys));
	nm.vals = calloc(nm.cap, sizeof(*nm.vals));
	if (!nm.keys || !nm.vals) {
		free(nm.keys);
		free(nm.vals);
		return -ENOMEM;
	}
	for (size_t i = 0; i < m->cap; i++) {
		if (m->keys[i]) {
			size_t h = map_slot(&nm, m->keys[i]);

			nm.keys[h] = m->keys[i];
			nm.vals[h] = m->vals[i];
		}
	}
	free(m->keys);
	free(m->vals);
	*m = nm;
	return 0;
}

static void map_free(struct map *m)
{
	free(m->keys);
	free(m->vals);
}

/* The string table index of s ("" is 0), added when new; -1 on no memory. */
static int64_t intern(struct ls_pprof *p, const char *s)
{
	uint64_t h;
	size_t slot;

	if (!s || !*s)
		return 0;
	if (map_reserve(&p->string_ix))
		return -1;
	/* Probe on from the string's hash until the string or an empty slot. */
	h = hash_str(s) | 1;
	for (slot = map_slot(&p->string_ix, h); p->string_ix.keys[slot]; slot = (slot + 1) & (p->string_ix.cap - 1))
		if (p->string_ix.keys[slot] == h && !strcmp(p->strings[p->string_ix.vals[slot]], s))
			return (int64_t)p->string_ix.vals[slot];
	if (grow((void **)&p->strings, &p->capstrings, p->nstrings + 1, sizeof(*p->strings)) ||
	    !(p->strings[p->nstrings] = strdup(s)))
		return -1;
	p->string_ix.keys[slot] = h;
	p->string_ix.vals[slot] = p->nstrings;
	p->string_ix.n++;
	return (int64_t)p->nstrings++;
}

int ls_pprof_new(const struct ls_pprof_opts *opts, struct ls_pprof **out)
{
	struct ls_pprof *p = calloc(1, sizeof(*p));

	*out = NULL;
	if (!p)
		return -ENOMEM;
	memcpy(&p->o, opts, opts->sz < sizeof(p->o) ? opts->sz : sizeof(p->o));
	if (p->o.ntypes < 1 || p->o.ntypes > LS_PPROF_MAX_TYPES) {
		free(p);
		return -EINVAL;
	}
	if (grow((void **)&p->strings, &p->capstrings, 1, sizeof(*p->strings)) || !(p->strings[0] = strdup(""))) {
		ls_pprof_free(p);
		return -ENOMEM;
	}
	p->nstrings = 1;
	for (size_t i = 0; i < p->o.ntypes; i++) {
		p->types[i] = intern(p, p->o.types[i]);
		p->units[i] = intern(p, p->o.units[i]);
	}
	p->period_type = intern(p, p->o.period_type);
	p->period_unit = intern(p, p->o.period_unit);
	p->comment = p->o.comment ? intern(p, p->o.comment) : 0;
	*out = p;
	return 0;
}

void ls_pprof_free(struct ls_pprof *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->nstrings; i++)
		free(p->strings[i]);
	free(p->strings);
	map_free(&p->string_ix);
	map_free(&p->loc_ix);
	map_free(&p->func_ix);
	free(p->mappings);
	free(p->locs);
	free(p->lines);
	free(p->funcs);
	free(p->samples);
	free(p->sample_locs);
	free(p->values);
	free(p->labels);
	free(p);
}

uint64_t ls_pprof_mapping(struct ls_pprof *p, uint64_t start, uint64_t limit, uint64_t file_offset, const char *file,
			  const char *build_id)
{
	int64_t f = intern(p, file), b = intern(p, build_id);
	struct mapping *nv;

	if (f < 0 || b < 0)
		return 0;
	for (size_t i = 0; i < p->nmappings; i++) {
		const struct mapping *m = &p->mappings[i];

		if (m->start == start && m->limit == limit && m->off == file_offset && m->file == f)
			return i + 1;
	}
	nv = realloc(p->mappings, (p->nmappings + 1) * sizeof(*nv));
	if (!nv)
		return 0;
	p->mappings = nv;
	nv[p->nmappings++] = (struct mapping){ start, limit, file_offset, f, b };
	return p->nmappings;
}

static uint64_t function_id(struct ls_pprof *p, const char *name, const char *file)
{
	int64_t n = intern(p, name), f = intern(p, file);
	uint64_t key = ((uint64_t)n << 32 | (uint64_t)f) + 1;
	size_t slot;

	if (n < 0 || f < 0 || map_reserve(&p->func_ix))
		return 0;
	slot = map_slot(&p->func_ix, key);
	if (p->func_ix.keys[slot])
		return p->func_ix.vals[slot];
	if (grow((void **)&p->funcs, &p->capfuncs, p->nfuncs + 1, sizeof(*p->funcs)))
		return 0;
	p->funcs[p->nfuncs++] = (struct function){ n, f };
	p->func_ix.keys[slot] = key;
	p->func_ix.vals[slot] = p->nfuncs;
	p->func_ix.n++;
	return p->nfuncs;
}

uint64_t ls_pprof_location(struct ls_pprof *p, uint64_t mapping, uint64_t addr, const struct ls_pprof_line *lines,
			   size_t nlines)
{
	uint64_t key = mix(addr) ^ (mapping * 0x9e3779b97f4a7c15ull), id;
	size_t slot;

	if (map_reserve(&p->loc_ix))
		return 0;
	/* Probe on from the key until this (mapping, addr) or an empty slot. */
	key |= 1;
	for (slot = map_slot(&p->loc_ix, key); p->loc_ix.keys[slot]; slot = (slot + 1) & (p->loc_ix.cap - 1)) {
		const struct location *l = &p->locs[p->loc_ix.vals[slot] - 1];

		if (p->loc_ix.keys[slot] == key && l->mapping == mapping && l->addr == addr)
			return p->loc_ix.vals[slot];
	}
	if (grow((void **)&p->locs, &p->caplocs, p->nlocs + 1, sizeof(*p->locs)) ||
	    grow((void **)&p->lines, &p->caplines, p->nlines + nlines, sizeof(*p->lines)))
		return 0;
	p->locs[p->nlocs] = (struct location){ mapping, addr, p->nlines, 0 };
	for (size_t i = 0; i < nlines; i++) {
		uint64_t f = function_id(p, lines[i].func, lines[i].file);

		if (!f)
			return 0;
		p->lines[p->nlines++] = (struct line){ f, lines[i].line };
		p->locs[p->nlocs].n++;
	}
	id = ++p->nlocs;
	/* function_id may have grown other tables, not this one: slot is still valid. */
	p->loc_ix.keys[slot] = key;
	p->loc_ix.vals[slot] = id;
	p->loc_ix.n++;
	return id;
}

int ls_pprof_sample(struct ls_pprof *p, const uint64_t *locs, size_t nlocs, const int64_t *values,
		    const char *const *labels, size_t nlabels)
{
	if (grow((void **)&p->samples, &p->capsamples, p->nsamples + 1, sizeof(*p->samples)) ||
	    grow((void **)&p->sample_locs, &p->capsample_locs, p->nsample_locs + nlocs, sizeof(*p->sample_locs)) ||
	    grow((void **)&p->values, &p->capvalues, p->nvalues + p->o.ntypes, sizeof(*p->values)) ||
	    grow((void **)&p->labels, &p->caplabels, p->nlabels + 2 * nlabels, sizeof(*p->labels)))
		return -ENOMEM;
	p->samples[p->nsamples] = (struct sample){ p->nsample_locs, nlocs, p->nvalues, p->nlabels, 0 };
	if (nlocs)
		memcpy(p->sample_locs + p->nsample_locs, locs, nlocs * sizeof(*locs));
	p->nsample_locs += nlocs;
	memcpy(p->values + p->nvalues, values, p->o.ntypes * sizeof(*values));
	p->nvalues += p->o.ntypes;
	for (size_t i = 0; i < nlabels; i++) {
		int64_t k, v;

		if (!labels[2 * i + 1])
			continue;
		k = intern(p, labels[2 * i]);
		v = intern(p, labels[2 * i + 1]);
		if (k < 0 || v < 0)
			return -ENOMEM;
		p->labels[p->nlabels++] = k;
		p->labels[p->nlabels++] = v;
		p->samples[p->nsamples].nlabels++;
	}
	p->nsamples++;
	return 0;
}

/* ---- wire format ---------------------------------------------------------------- */

static void put(struct buf *b, const void *data, size_t n)
{
	/* An empty nested message (a sample without locations) has no buffer yet: nothing to copy. */
	if (!n)
		return;
	if (b->oom || grow((void **)&b->v, &b->cap, b->n + n, 1)) {
		b->oom = 1;
		return;
	}
	memcpy(b->v + b->n, data, n);
	b->n += n;
}

static void varint(struct buf *b, uint64_t v)
{
	uint8_t tmp[10];
	size_t n = 0;

	do {
		tmp[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	put(b, tmp, n);
}

/* A varint field; zero is the default and is left out, as protobuf encoders do. */
static void field_int(struct buf *b, unsigned int field, uint64_t v)
{
	if (!v)
		return;
	varint(b, (uint64_t)field << 3);
	varint(b, v);
}

static void field_bytes(struct buf *b, unsigned int field, const void *data, size_t n)
{
	varint(b, (uint64_t)field << 3 | 2);
	varint(b, n);
	put(b, data, n);
}

/* A nested message from sub, which is reset for reuse. */
static void field_msg(struct buf *b, unsigned int field, struct buf *sub)
{
	field_bytes(b, field, sub->v, sub->n);
	b->oom |= sub->oom;
	sub->n = 0;
}

static void value_type(struct buf *b, unsigned int field, struct buf *sub, int64_t type, int64_t unit)
{
	field_int(sub, 1, (uint64_t)type);
	field_int(sub, 2, (uint64_t)unit);
	field_msg(b, field, sub);
}

int ls_pprof_encode(const struct ls_pprof *p, uint8_t **out, size_t *len)
{
	struct buf b = { 0 }, sub = { 0 }, packed = { 0 }, inner = { 0 };

	*out = NULL;
	*len = 0;
	for (size_t i = 0; i < p->o.ntypes; i++)
		value_type(&b, 1, &sub, p->types[i], p->units[i]);
	for (size_t i = 0; i < p->nsamples; i++) {
		const struct sample *s = &p->samples[i];

		for (size_t k = 0; k < s->nlocs; k++)
			varint(&packed, p->sample_locs[s->first_loc + k]);
		field_msg(&sub, 1, &packed);
		for (size_t k = 0; k < p->o.ntypes; k++)
			varint(&packed, (uint64_t)p->values[s->first_val + k]);
		field_msg(&sub, 2, &packed);
		for (size_t k = 0; k < s->nlabels; k++) {
			field_int(&inner, 1, (uint64_t)p->labels[s->first_label + 2 * k]);
			field_int(&inner, 2, (uint64_t)p->labels[s->first_label + 2 * k + 1]);
			field_msg(&sub, 3, &inner);
		}
		field_msg(&b, 2, &sub);
	}
	for (size_t i = 0; i < p->nmappings; i++) {
		const struct mapping *m = &p->mappings[i];

		field_int(&sub, 1, i + 1);
		field_int(&sub, 2, m->start);
		field_int(&sub, 3, m->limit);
		field_int(&sub, 4, m->off);
		field_int(&sub, 5, (uint64_t)m->file);
		field_int(&sub, 6, (uint64_t)m->build_id);
		/* Every location carries its functions, files, lines and inline frames already. */
		for (unsigned int f = 7; f <= 10; f++)
			field_int(&sub, f, 1);
		field_msg(&b, 3, &sub);
	}
	for (size_t i = 0; i < p->nlocs; i++) {
		const struct location *l = &p->locs[i];

		field_int(&sub, 1, i + 1);
		field_int(&sub, 2, l->mapping);
		field_int(&sub, 3, l->addr);
		for (size_t k = 0; k < l->n; k++) {
			field_int(&inner, 1, p->lines[l->first + k].func);
			field_int(&inner, 2, (uint64_t)p->lines[l->first + k].line);
			field_msg(&sub, 4, &inner);
		}
		field_msg(&b, 4, &sub);
	}
	for (size_t i = 0; i < p->nfuncs; i++) {
		field_int(&sub, 1, i + 1);
		field_int(&sub, 2, (uint64_t)p->funcs[i].name);
		field_int(&sub, 3, (uint64_t)p->funcs[i].name);
		field_int(&sub, 4, (uint64_t)p->funcs[i].file);
		field_msg(&b, 5, &sub);
	}
	for (size_t i = 0; i < p->nstrings; i++)
		field_bytes(&b, 6, p->strings[i], strlen(p->strings[i]));
	field_int(&b, 9, (uint64_t)p->o.time_nanos);
	field_int(&b, 10, (uint64_t)p->o.duration_nanos);
	value_type(&b, 11, &sub, p->period_type, p->period_unit);
	field_int(&b, 12, (uint64_t)p->o.period);
	if (p->comment)
		field_int(&b, 13, (uint64_t)p->comment);
	field_int(&b, 14, (uint64_t)p->types[p->o.default_type < p->o.ntypes ? p->o.default_type : 0]);
	free(sub.v);
	free(packed.v);
	free(inner.v);
	if (b.oom || p->oom) {
		free(b.v);
		return -ENOMEM;
	}
	*out = b.v;
	*len = b.n;
	return 0;
}

int ls_pprof_write(const struct ls_pprof *p, FILE *f)
{
	uint8_t *raw = NULL, *gz = NULL;
	size_t len = 0;
	z_stream z = { 0 };
	int ret;

	ret = ls_pprof_encode(p, &raw, &len);
	if (ret)
		return ret;
	/* windowBits 15 + 16: a gzip header and trailer, not zlib's. */
	if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
		ret = -ENOMEM;
		goto cleanup;
	}
	gz = malloc(deflateBound(&z, len));
	if (!gz) {
		ret = -ENOMEM;
		goto cleanup;
	}
	z.next_in = raw;
	z.avail_in = (uInt)len;
	z.next_out = gz;
	z.avail_out = (uInt)deflateBound(&z, len);
	if (deflate(&z, Z_FINISH) != Z_STREAM_END) {
		ret = -EIO;
		goto cleanup;
	}
	if (fwrite(gz, 1, z.total_out, f) != z.total_out)
		ret = -EIO;
cleanup:
	deflateEnd(&z);
	free(gz);
	free(raw);
	return ret;
}
