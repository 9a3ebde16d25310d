/*
 * Every table latscope keeps, with its capacity and what happens when it is
 * full: the kernel's maps (capacity from the object itself) and user space's
 * bounded tables. DESIGN.md's "Limits" table states the same, and
 * tests/unit/test_bounds.c keeps the two in step.
 */
#ifndef LS_BOUNDS_H
#define LS_BOUNDS_H

#include <stddef.h>
#include <stdint.h>

struct ls_session;

/* A BPF map's policy when full, and the counter (enum ls_counter) of what it lost, -1: none. */
struct ls_map_limit {
	const char *map;
	const char *when_full;
	int counter;
};

/* A bounded table of user space. */
struct ls_user_limit {
	const char *table;
	uint64_t capacity;
	const char *when_full;
};

const struct ls_map_limit *ls_map_limits(size_t *n);
/* The row of a map, NULL when it has none. */
const struct ls_map_limit *ls_map_limit(const char *map);
const struct ls_user_limit *ls_user_limits(size_t *n);

/* One map of a running session, as -v shows it. */
struct ls_map_use {
	char name[32];
	const char *type;      /* "hash", "lru_hash", "percpu_array", ... */
	uint64_t capacity;     /* max_entries; bytes for the ring buffer */
	int64_t entries;       /* keys present now; -1 where every slot always exists (arrays, ring buffer) */
	const struct ls_map_limit *limit; /* NULL for a map without a row (the unit test forbids it) */
	uint64_t lost;         /* the row's counter, 0 without one */
};

#define LS_MAPS_MAX 48

/*
 * The session's maps, in the object's order, with their occupancy counted now by
 * walking their keys (a few ms for full tables). 0 or -errno (s's error set).
 */
int ls_session_maps(struct ls_session *s, struct ls_map_use *out, size_t max, size_t *n);

#endif
