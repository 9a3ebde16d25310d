/*
 * libFuzzer target for the pprof writer (lib/pprof): profiles built from any
 * mappings, locations (inline chains of function and file names), samples,
 * values and labels, with strings of any bytes. The encoding must be valid
 * protobuf of profile.proto's shape, its string table each distinct string
 * once, every index and id in range, and the gzipped output must inflate to
 * the same bytes.
 *
 * Input: lines of tab-separated fields, the first character of a line saying
 * what it adds (numbers in hex; an empty field is no string):
 *   T types...           value types, "type/unit" each (first line only)
 *   M start limit offset file build-id
 *   L addr func file line [func file line]...   in the last mapping
 *   S nlocs value... key value...               the last nlocs locations
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "pprof.h"

#define MAX_FIELDS 64
#define MAX_STRINGS 4096

/* The distinct strings handed over, to check the string table against. */
static const char *given[MAX_STRINGS];
static uint8_t seen[MAX_STRINGS];
static size_t ngiven, lost;

/* s, noted as a string the profile holds. */
static const char *str(const char *s)
{
	if (!s || !*s)
		return NULL;
	for (size_t i = 0; i < ngiven; i++)
		if (!strcmp(given[i], s))
			return s;
	if (ngiven < MAX_STRINGS)
		given[ngiven++] = s;
	else
		lost++;
	return s;
}

static uint64_t hex(const char *s)
{
	return s ? strtoull(s, NULL, 16) : 0;
}

/* ---- a protobuf reader, for the checks ---- */

struct pb {
	const uint8_t *p, *end;
};

static int varint(struct pb *b, uint64_t *v)
{
	*v = 0;
	for (unsigned int shift = 0; shift < 64; shift += 7) {
		if (b->p >= b->end)
			return -1;
		*v |= (uint64_t)(*b->p & 0x7f) << shift;
		if (!(*b->p++ & 0x80))
			return 0;
	}
	return -1;
}

/* The next field: number, wire type, varint value or bytes. -1 at the end, abort on malformed input. */
static int field(struct pb *b, unsigned int *num, uint64_t *v, struct pb *sub)
{
	uint64_t key;

	if (b->p == b->end)
		return -1;
	if (varint(b, &key) || varint(b, v))
		abort();
	*num = (unsigned int)(key >> 3);
	if ((key & 7) == 2) {
		if (*v > (uint64_t)(b->end - b->p))
			abort();
		sub->p = b->p;
		sub->end = b->p + *v;
		b->p += *v;
	} else if ((key & 7) != 0) {
		abort(); /* the writer only writes varints and length-delimited fields */
	}
	return (int)(key & 7);
}

/* A message of varint fields numbered 1..max; each value checked by its limit (0: any). */
static void msg_varints(struct pb b, unsigned int max, const uint64_t *limits)
{
	unsigned int num;
	uint64_t v;
	struct pb sub;

	while (field(&b, &num, &v, &sub) >= 0)
		if (num < 1 || num > max || (limits[num - 1] && v >= limits[num - 1]))
			abort();
}

static void packed(struct pb b, uint64_t limit)
{
	uint64_t v;

	while (b.p < b.end)
		if (varint(&b, &v) || (limit && v >= limit))
			abort();
}

static void check(const uint8_t *buf, size_t len)
{
	struct pb b = { buf, buf + len }, sub;
	uint64_t v, nstrings = 0, nlocs = 0, nfuncs = 0, nmaps = 0;
	unsigned int num;
	int wt;

	/* Pass 1: counts, and the string table. */
	while ((wt = field(&b, &num, &v, &sub)) >= 0) {
		if (num == 6) {
			size_t i = 0;

			if (wt != 2 || (nstrings == 0 && v) || memchr(sub.p, 0, v))
				abort(); /* "" first; C strings have no NUL */
			while (nstrings && i < ngiven && (strlen(given[i]) != v || memcmp(given[i], sub.p, v)))
				i++;
			if (nstrings && !lost && (i == ngiven || seen[i]++))
				abort(); /* a string nobody gave, or one given twice */
			nstrings++;
		}
		nlocs += num == 4;
		nfuncs += num == 5;
		nmaps += num == 3;
	}
	if (!lost && nstrings != ngiven + 1)
		abort(); /* each distinct string once */
	/* Pass 2: every index and id in range. */
	b = (struct pb){ buf, buf + len };
	while ((wt = field(&b, &num, &v, &sub)) >= 0) {
		const uint64_t vt[] = { nstrings, nstrings };
		const uint64_t map[] = { nmaps + 1, 0, 0, 0, nstrings, nstrings, 0, 0, 0, 0 };
		const uint64_t fn[] = { nfuncs + 1, nstrings, nstrings, nstrings };
		const uint64_t label[] = { nstrings, nstrings, 0, 0 };
		const uint64_t line[] = { nfuncs + 1, 0 };
		unsigned int n2;
		uint64_t v2;
		struct pb s2;

		if (num == 1 || num == 11) {
			msg_varints(sub, 2, vt);
		} else if (num == 3) {
			msg_varints(sub, 10, map);
		} else if (num == 5) {
			msg_varints(sub, 4, fn);
		} else if (num == 2) {
			/* Sample: location ids (packed), values (packed), labels. */
			while (field(&sub, &n2, &v2, &s2) >= 0) {
				if (n2 == 1)
					packed(s2, nlocs + 1);
				else if (n2 == 2)
					packed(s2, 0);
				else if (n2 == 3)
					msg_varints(s2, 4, label);
				else
					abort();
			}
		} else if (num == 4) {
			/* Location: id, mapping id, address, lines. */
			while (field(&sub, &n2, &v2, &s2) >= 0) {
				if (n2 < 1 || n2 > 4 || (n2 == 1 && v2 > nlocs) || (n2 == 2 && v2 > nmaps))
					abort();
				if (n2 == 4)
					msg_varints(s2, 2, line);
			}
		} else if ((num == 13 || num == 14) && v >= nstrings) {
			abort();
		} else if (num != 6 && num != 9 && num != 10 && num != 12 && num != 13 && num != 14) {
			abort();
		}
	}
}

/* The gzipped profile inflates to the encoding. */
static void check_gzip(const struct ls_pprof *p, const uint8_t *raw, size_t len)
{
	char *gz = NULL;
	size_t gzlen = 0;
	FILE *f = open_memstream(&gz, &gzlen);
	z_stream z = { 0 };
	uint8_t *out;
	int r;

	if (!f)
		return;
	r = ls_pprof_write(p, f);
	fclose(f);
	if (r) {
		free(gz);
		return;
	}
	out = malloc(len + 1);
	if (!out || inflateInit2(&z, 15 + 16) != Z_OK)
		abort();
	z.next_in = (uint8_t *)gz;
	z.avail_in = (uInt)gzlen;
	z.next_out = out;
	z.avail_out = (uInt)len + 1;
	if (inflate(&z, Z_FINISH) != Z_STREAM_END || z.total_out != len || memcmp(out, raw, len))
		abort();
	inflateEnd(&z);
	free(out);
	free(gz);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ls_pprof_opts o = { .sz = sizeof(o), .ntypes = 1, .types = { "samples" }, .units = { "count" },
				   .period_type = "cpu", .period_unit = "nanoseconds", .period = 10000000,
				   .time_nanos = 1, .duration_nanos = 2, .comment = "fuzz" };
	char *text = malloc(size + 1), *line, *save = NULL;
	uint64_t locs[256], mapping = 0, maxloc = 0;
	size_t nlocs = 0;
	struct ls_pprof *p = NULL;
	uint8_t *buf;
	size_t len;
	int first = 1;

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	ngiven = lost = 0;
	memset(seen, 0, sizeof(seen));
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save), first = 0) {
		char *f[MAX_FIELDS], *s = line + 1;
		size_t nf = 0;

		/* Fields of any bytes but tab, newline and NUL; an empty one is no string. */
		while (nf < MAX_FIELDS) {
			char *t = strchr(s, '\t');

			f[nf++] = s;
			if (!t)
				break;
			*t = '\0';
			s = t + 1;
		}
		for (size_t i = 0; i < nf; i++)
			if (!*f[i])
				f[i] = NULL;
		if (line[0] == 'T' && first) {
			o.ntypes = 0;
			for (size_t i = 0; i < nf && o.ntypes < LS_PPROF_MAX_TYPES; i++) {
				char *u = f[i] ? strchr(f[i], '/') : NULL;

				if (u)
					*u++ = '\0';
				o.types[o.ntypes] = f[i];
				o.units[o.ntypes++] = u;
			}
			o.default_type = o.ntypes ? o.ntypes - 1 : 0;
			continue;
		}
		if (!p) {
			for (size_t i = 0; i < o.ntypes; i++) {
				str(o.types[i]);
				str(o.units[i]);
			}
			str(o.period_type);
			str(o.period_unit);
			str(o.comment);
			if (ls_pprof_new(&o, &p))
				break;
		}
		if (line[0] == 'M' && nf >= 3) {
			mapping = ls_pprof_mapping(p, hex(f[0]), hex(f[1]), hex(f[2]), str(nf > 3 ? f[3] : NULL),
						   str(nf > 4 ? f[4] : NULL));
		} else if (line[0] == 'L' && nf >= 1) {
			struct ls_pprof_line lines[MAX_FIELDS / 3];
			size_t nl = 0;
			uint64_t id;

			for (size_t i = 1; i < nf; i += 3) {
				lines[nl].func = f[i];
				lines[nl].file = i + 1 < nf ? f[i + 1] : NULL;
				lines[nl++].line = (int64_t)hex(i + 2 < nf ? f[i + 2] : NULL);
			}
			id = ls_pprof_location(p, mapping, hex(f[0]), lines, nl);
			/* A new location (ids come in order) takes its lines' strings; a known one keeps its own. */
			if (id > maxloc) {
				maxloc = id;
				for (size_t i = 0; i < nl; i++) {
					str(lines[i].func);
					str(lines[i].file);
				}
			}
			if (id && nlocs < sizeof(locs) / sizeof(locs[0]))
				locs[nlocs++] = id;
		} else if (line[0] == 'S' && nf >= 1) {
			size_t want = (size_t)hex(f[0]), k = 1, nlabels;
			int64_t values[LS_PPROF_MAX_TYPES] = { 0 };
			const char *labels[MAX_FIELDS];

			if (want > nlocs)
				want = nlocs;
			for (size_t i = 0; i < o.ntypes; i++, k++)
				values[i] = (int64_t)hex(k < nf ? f[k] : NULL);
			/* A label without a value is left out, its key too. */
			for (nlabels = 0; k + 1 < nf; k += 2, nlabels++) {
				labels[2 * nlabels] = f[k + 1] ? str(f[k]) : f[k];
				labels[2 * nlabels + 1] = str(f[k + 1]);
			}
			ls_pprof_sample(p, locs + nlocs - want, want, values, labels, nlabels);
		}
	}
	if (p && ls_pprof_encode(p, &buf, &len) == 0) {
		check(buf, len);
		check_gzip(p, buf, len);
		free(buf);
	}
	ls_pprof_free(p);
	free(text);
	return 0;
}
