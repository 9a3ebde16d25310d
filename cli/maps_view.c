/* Every table's capacity, occupancy and losses (trace -v, probes -v). */
#include "cli.h"
#include "jsonw.h"
#include "bounds.h"
#include "requests.h"

#include <stdio.h>
#include <string.h>

static const char *counter_name(int c)
{
	static const struct {
		int c;
		const char *name;
	} names[] = {
		{ LS_CNT_RB_DROPS, "dropped" },
		{ LS_CNT_THREAD_FULL, "thread_table_full" },
		{ LS_CNT_TABLE_FULL, "per_thread_table_full" },
		{ LS_CNT_REQ_TABLE_FULL, "request_table_full" },
		{ LS_CNT_STACK_LOST, "stacks_lost" },
		{ LS_CNT_SAMPLE_LOST, "samples_lost" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].c == c)
			return names[i].name;
	return NULL;
}

/*
 * An LRU map evicts without a word to anyone: one at (or within 5% of, as its per-CPU
 * free lists run dry first) its capacity is evicting, and says so.
 */
static int at_capacity(const struct ls_map_use *u)
{
	return u->entries >= 0 && (uint64_t)u->entries * 100 >= u->capacity * 95;
}

static void text_maps(FILE *f, const struct ls_map_use *u, size_t n, const struct ls_reqs *r, uint64_t swept)
{
	fprintf(f, "tables: capacity, entries now, when full (lost so far)\n");
	for (size_t i = 0; i < n; i++) {
		const char *cn = u[i].limit ? counter_name(u[i].limit->counter) : NULL;
		char ent[32];

		if (u[i].entries >= 0)
			snprintf(ent, sizeof(ent), "%lld", (long long)u[i].entries);
		else
			snprintf(ent, sizeof(ent), "-");
		fprintf(f, "  %-14s %-14s %10llu %8s  %s", u[i].name, u[i].type, (unsigned long long)u[i].capacity, ent,
			u[i].limit ? u[i].limit->when_full : "?");
		if (cn)
			fprintf(f, " (%s: %llu)", cn, (unsigned long long)u[i].lost);
		if (at_capacity(&u[i]))
			fprintf(f, " [AT CAPACITY]");
		fputc('\n', f);
	}
	if (r)
		fprintf(f, "  %-14s %-14s %10s %8zu  %s\n", "hpack_conns", "user", "-", ls_reqs_live_conns(r),
			"grows; freed when the connection ends");
	fprintf(f, "  requests of connections that ended before their response, deleted: %llu\n",
		(unsigned long long)swept);
}

static void json_maps(struct jw *w, const struct ls_map_use *u, size_t n, const struct ls_reqs *r, uint64_t swept)
{
	jw_obj(w);
	jw_key(w, "maps");
	jw_arr(w);
	for (size_t i = 0; i < n; i++) {
		const char *cn = u[i].limit ? counter_name(u[i].limit->counter) : NULL;

		jw_obj(w);
		jw_kstr(w, "name", u[i].name);
		jw_kstr(w, "map_type", u[i].type);
		jw_ku64(w, "capacity", u[i].capacity);
		jw_key(w, "entries");
		if (u[i].entries >= 0)
			jw_i64(w, u[i].entries);
		else
			jw_null(w);
		jw_kstr(w, "when_full", u[i].limit ? u[i].limit->when_full : NULL);
		jw_kbool(w, "at_capacity", at_capacity(&u[i]));
		if (cn) {
			jw_kstr(w, "lost_counter", cn);
			jw_ku64(w, "lost", u[i].lost);
		}
		jw_obj_end(w);
	}
	jw_arr_end(w);
	if (r)
		jw_ku64(w, "hpack_conns", ls_reqs_live_conns(r));
	jw_ku64(w, "requests_of_ended_connections", swept);
	jw_obj_end(w);
}

void cli_maps_json(struct jw *w, struct ls_session *s, const struct ls_reqs *r)
{
	struct ls_map_use u[LS_MAPS_MAX];
	size_t n;

	jw_key(w, "tables");
	if (ls_session_maps(s, u, LS_MAPS_MAX, &n)) {
		jw_null(w);
		return;
	}
	json_maps(w, u, n, r, ls_session_swept(s));
}

void cli_print_maps(FILE *f, struct ls_session *s, const struct ls_reqs *r, int json)
{
	struct ls_map_use u[LS_MAPS_MAX];
	size_t n;

	if (ls_session_maps(s, u, LS_MAPS_MAX, &n)) {
		cli_warn("tables: %s", ls_session_error(s));
		return;
	}
	if (json) {
		struct jw w;

		jw_init(&w, f);
		jw_obj(&w);
		jw_kstr(&w, "type", "tables");
		jw_key(&w, "tables");
		json_maps(&w, u, n, r, ls_session_swept(s));
		jw_obj_end(&w);
	} else {
		text_maps(f, u, n, r, ls_session_swept(s));
	}
	fflush(f);
}
