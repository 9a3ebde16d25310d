/*
 * A pprof profile (github.com/google/pprof proto/profile.proto), built up
 * sample by sample and written as the protobuf wire format, gzipped as
 * go tool pprof reads it. Mappings, locations, functions and strings are
 * de-duplicated; ids are assigned in order of first use, so equal input gives
 * equal bytes.
 */
#ifndef LS_PPROF_H
#define LS_PPROF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct ls_pprof;

#define LS_PPROF_MAX_TYPES 4

struct ls_pprof_opts {
	size_t sz;
	size_t ntypes;                                /* values per sample */
	const char *types[LS_PPROF_MAX_TYPES];        /* "samples", "cpu", "off_cpu" */
	const char *units[LS_PPROF_MAX_TYPES];        /* "count", "nanoseconds" */
	const char *period_type, *period_unit;        /* "cpu", "nanoseconds" */
	int64_t period;                               /* ns between samples */
	int64_t time_nanos, duration_nanos;
	size_t default_type;                          /* index into types */
	const char *comment;                          /* NULL for none */
};

/* One source level of a location: inlined functions first, the caller last. */
struct ls_pprof_line {
	const char *func;
	const char *file;  /* NULL when unknown */
	int64_t line;
};

int ls_pprof_new(const struct ls_pprof_opts *opts, struct ls_pprof **out);
void ls_pprof_free(struct ls_pprof *p);

/* The id of a mapping (existing when one with the same fields was added), 0 on no memory. */
uint64_t ls_pprof_mapping(struct ls_pprof *p, uint64_t start, uint64_t limit, uint64_t file_offset, const char *file,
			  const char *build_id);

/*
 * The id of the location at addr in mapping (0: none). The lines are taken
 * the first time a (mapping, addr) pair is seen. 0 on no memory.
 */
uint64_t ls_pprof_location(struct ls_pprof *p, uint64_t mapping, uint64_t addr, const struct ls_pprof_line *lines,
			   size_t nlines);

/* A sample: location ids leaf first, opts.ntypes values, and string labels (key/value pairs; NULL value: none). */
int ls_pprof_sample(struct ls_pprof *p, const uint64_t *locs, size_t nlocs, const int64_t *values,
		    const char *const *labels, size_t nlabels);

/* The profile as protobuf bytes (not compressed); *buf is malloc'ed. 0 or -ENOMEM. */
int ls_pprof_encode(const struct ls_pprof *p, uint8_t **buf, size_t *len);

/* The gzipped profile to f. 0 or -errno. */
int ls_pprof_write(const struct ls_pprof *p, FILE *f);

#endif
