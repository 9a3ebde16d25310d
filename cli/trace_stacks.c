/* trace --stacks: a slow request's own stacks, folded and named, for the text and JSON outputs. */
#include "trace_stacks.h"
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static int session_stack(void *ctx, int32_t id, uint64_t *ips, size_t max, size_t *n)
{
	return ls_session_stack(ctx, id, ips, max, n);
}

static int by_value_desc(const void *a, const void *b)
{
	uint64_t x = ((const struct profile_line *)a)->value, y = ((const struct profile_line *)b)->value;

	if (x != y)
		return x < y ? 1 : -1;
	return strcmp(((const struct profile_line *)a)->stack, ((const struct profile_line *)b)->stack);
}

/*
 * Named stacks by (pid, user stack id, kernel stack id): the stack map keeps an id's
 * addresses for the whole run, and a slow request's stacks are mostly ones seen before.
 * Open addressing; emptied when it fills.
 */
#define NAME_CACHE 8192

static struct name_ent {
	uint32_t pid;
	int32_t ustack, kstack;
	char *folded; /* NULL: free slot */
} names[NAME_CACHE];
static size_t nnames;

static struct name_ent *name_slot(const struct ls_sample_key *k)
{
	uint64_t h = ((uint64_t)k->pid * 0x9E3779B97F4A7C15ull) ^ ((uint64_t)(uint32_t)k->ustack << 20) ^
		     (uint32_t)k->kstack;

	h ^= h >> 29;
	for (size_t i = 0; i < NAME_CACHE; i++) {
		struct name_ent *e = &names[(h + i) % NAME_CACHE];

		if (!e->folded || (e->pid == k->pid && e->ustack == k->ustack && e->kstack == k->kstack))
			return e;
	}
	return NULL;
}

static void names_clear(void)
{
	for (size_t i = 0; i < NAME_CACHE; i++) {
		free(names[i].folded);
		names[i].folded = NULL;
	}
	nnames = 0;
}

/* The folded name of one stack: from the cache, or symbolized once. NULL when out of memory. */
static char *name_of(struct ls_session *s, struct ls_symbolizer *sym, const struct ls_stack_sample *v)
{
	static const struct profile_opts po = { 0 };
	struct profile one = { 0 };
	struct ls_stack_sample unit = *v;
	struct name_ent *e;
	uint64_t total = 0;
	char *folded;

	if (nnames >= NAME_CACHE * 3 / 4)
		names_clear();
	e = name_slot(&v->key);
	if (e && e->folded)
		return strdup(e->folded);
	unit.value = 1;
	if (profile_add(&one, &unit, 1, 0, session_stack, s, sym, &po, &total) || one.n != 1) {
		profile_clear(&one);
		return NULL;
	}
	folded = one.v[0].stack;
	one.v[0].stack = NULL;
	profile_clear(&one);
	if (e && (e->folded = strdup(folded))) {
		e->pid = v->key.pid;
		e->ustack = v->key.ustack;
		e->kstack = v->key.kstack;
		nnames++;
	}
	return folded;
}

/* Name and merge one kind of stacks, heaviest first. Off-CPU values stay nanoseconds. */
static int fold(struct ls_session *s, struct ls_symbolizer *sym, const struct ls_stack_sample *v, size_t n,
		struct profile *out)
{
	for (size_t i = 0; i < n; i++) {
		char *folded = name_of(s, sym, &v[i]);

		if (!folded || profile_add_line(out, folded, v[i].value))
			return -ENOMEM;
	}
	profile_merge(out);
	qsort(out->v, out->n, sizeof(*out->v), by_value_desc);
	return 0;
}

void trace_stacks_forget(void)
{
	names_clear();
}

int trace_stacks_fold(struct ls_session *s, struct ls_symbolizer *sym, const struct ls_req_stacks *st,
		      struct trace_stacks *out)
{
	out->st = st;
	if (fold(s, sym, st->on, st->non, &out->on) || fold(s, sym, st->off, st->noff, &out->off)) {
		trace_stacks_clear(out);
		return -ENOMEM;
	}
	return 0;
}

void trace_stacks_clear(struct trace_stacks *t)
{
	profile_clear(&t->on);
	profile_clear(&t->off);
	t->st = NULL;
}

static void text_whose(const struct ls_req_stacks *st)
{
	if (st->g)
		printf(" of goroutine 0x%llx", (unsigned long long)st->g);
	else
		printf(" on thread %u", st->tid);
}

void trace_stacks_text(const struct trace_stacks *t, size_t max_lines)
{
	const struct ls_req_stacks *st = t->st;
	char a[32], b[32], line[2048];

	printf("    on-CPU: %llu samples", (unsigned long long)st->on_samples);
	text_whose(st);
	if (st->shared)
		printf(" (shared: it worked on other requests meanwhile)");
	if (st->truncated)
		printf(" (truncated: older samples were no longer kept)");
	putchar('\n');
	for (size_t i = 0; i < t->on.n && i < max_lines; i++)
		printf("      %6llu  %s\n", (unsigned long long)t->on.v[i].value,
		       cli_term_str(line, sizeof(line), t->on.v[i].stack));
	if (t->on.n > max_lines)
		printf("      (%zu more stacks)\n", t->on.n - max_lines);
	printf("    off-CPU: %s in %llu blocks", cli_fmt_ns(st->off_ns, a, sizeof(a)),
	       (unsigned long long)st->off_blocks);
	if (st->short_blocks)
		printf(", and %s in %llu blocks under %s", cli_fmt_ns(st->short_ns, b, sizeof(b)),
		       (unsigned long long)st->short_blocks, cli_fmt_ns(LS_RSTACKS_FLOOR, line, sizeof(line)));
	if (st->preempted_ns)
		printf("; %s of it runnable, waiting for a CPU (preempted, or woken and not yet run)",
		       cli_fmt_ns(st->preempted_ns, a, sizeof(a)));
	putchar('\n');
	for (size_t i = 0; i < t->off.n && i < max_lines; i++)
		printf("      %9s  %s\n", cli_fmt_ns(t->off.v[i].value, a, sizeof(a)),
		       cli_term_str(line, sizeof(line), t->off.v[i].stack));
	if (t->off.n > max_lines)
		printf("      (%zu more stacks)\n", t->off.n - max_lines);
}

/* A folded line as an array of frames, root first. */
static void json_frames(struct jw *w, const char *folded)
{
	const char *p = folded;

	jw_key(w, "stack");
	jw_arr(w);
	while (*p) {
		const char *e = strchr(p, ';');
		size_t n = e ? (size_t)(e - p) : strlen(p);
		char frame[1024];

		if (n >= sizeof(frame))
			n = sizeof(frame) - 1;
		memcpy(frame, p, n);
		frame[n] = '\0';
		jw_str(w, frame);
		p += e ? (size_t)(e - p) + 1 : strlen(p);
	}
	jw_arr_end(w);
}

static void json_lines(struct jw *w, const char *key, const struct profile *p, const char *unit, size_t max)
{
	jw_key(w, key);
	jw_arr(w);
	for (size_t i = 0; i < p->n && i < max; i++) {
		jw_obj(w);
		json_frames(w, p->v[i].stack);
		jw_ku64(w, unit, p->v[i].value);
		jw_obj_end(w);
	}
	jw_arr_end(w);
}

void trace_stacks_json(struct jw *w, const struct trace_stacks *t, uint64_t period_ns, size_t max_lines)
{
	const struct ls_req_stacks *st = t->st;

	jw_key(w, "stacks");
	jw_obj(w);
	if (st->g)
		jw_khex(w, "goroutine", st->g);
	else
		jw_ku64(w, "thread", st->tid);
	jw_kbool(w, "shared", st->shared);
	jw_kbool(w, "truncated", st->truncated);
	jw_ku64(w, "sample_period_ns", period_ns);
	jw_ku64(w, "on_cpu_samples", st->on_samples);
	json_lines(w, "on_cpu", &t->on, "samples", max_lines);
	jw_ku64(w, "on_cpu_omitted", t->on.n > max_lines ? t->on.n - max_lines : 0);
	jw_ku64(w, "off_cpu_ns", st->off_ns);
	jw_ku64(w, "off_cpu_blocks", st->off_blocks);
	jw_ku64(w, "off_cpu_runnable_ns", st->preempted_ns);
	json_lines(w, "off_cpu", &t->off, "ns", max_lines);
	jw_ku64(w, "off_cpu_omitted", t->off.n > max_lines ? t->off.n - max_lines : 0);
	jw_key(w, "off_cpu_short");
	jw_obj(w);
	jw_ku64(w, "floor_ns", LS_RSTACKS_FLOOR);
	jw_ku64(w, "blocks", st->short_blocks);
	jw_ku64(w, "ns", st->short_ns);
	jw_obj_end(w);
	jw_obj_end(w);
}
