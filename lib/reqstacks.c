#include "reqstacks.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Records arrive in the order the kernel reserved them, which across CPUs is time order within microseconds. */
#define REORDER_NS 10000000ull

struct req_span {
	uint32_t pid, tid;
	uint64_t g, start, end;
};

struct ls_rstacks {
	struct ls_sample_rec on[LS_RSTACKS_KEEP];
	struct ls_offcpu_rec off[LS_RSTACKS_KEEP];
	uint8_t on_claimed[LS_RSTACKS_KEEP], off_claimed[LS_RSTACKS_KEEP];
	struct req_span reqs[LS_RSTACKS_REQS];
	size_t on_next, on_n, off_next, off_n, req_next, req_n;
};

int ls_rstacks_new(struct ls_rstacks **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void ls_rstacks_free(struct ls_rstacks *r)
{
	free(r);
}

int ls_rstacks_add(struct ls_rstacks *r, const void *rec, size_t size)
{
	const struct ls_rec_hdr *h = rec;

	if (size < sizeof(*h))
		return -EINVAL;
	if (h->type == LS_REC_SAMPLE) {
		if (size < sizeof(struct ls_sample_rec))
			return -EINVAL;
		memcpy(&r->on[r->on_next], rec, sizeof(r->on[0]));
		r->on_claimed[r->on_next] = 0;
		r->on_next = (r->on_next + 1) % LS_RSTACKS_KEEP;
		r->on_n += r->on_n < LS_RSTACKS_KEEP;
		return 1;
	}
	if (h->type == LS_REC_OFFCPU) {
		if (size < sizeof(struct ls_offcpu_rec))
			return -EINVAL;
		memcpy(&r->off[r->off_next], rec, sizeof(r->off[0]));
		r->off_claimed[r->off_next] = 0;
		r->off_next = (r->off_next + 1) % LS_RSTACKS_KEEP;
		r->off_n += r->off_n < LS_RSTACKS_KEEP;
		return 1;
	}
	return 0;
}

/* Add value to the entry of (ustack, kstack), or a new one. 0 or -ENOMEM. */
static int add_stack(struct ls_stack_sample **v, size_t *n, const struct ls_sample_key *k, uint64_t value)
{
	struct ls_stack_sample *nv;

	for (size_t i = 0; i < *n; i++) {
		if ((*v)[i].key.ustack == k->ustack && (*v)[i].key.kstack == k->kstack) {
			(*v)[i].value += value;
			return 0;
		}
	}
	/* Grows by powers of two: realloc at 1, 2, 4, ... entries. */
	if (!(*n & (*n - 1))) {
		nv = realloc(*v, (*n ? *n * 2 : 1) * sizeof(**v));
		if (!nv)
			return -ENOMEM;
		*v = nv;
	}
	(*v)[*n].key = *k;
	(*v)[*n].value = value;
	(*n)++;
	return 0;
}

static int by_value_desc(const void *a, const void *b)
{
	uint64_t x = ((const struct ls_stack_sample *)a)->value, y = ((const struct ls_stack_sample *)b)->value;

	return x < y ? 1 : x > y ? -1 : 0;
}

/* Whether a record of (pid, tid, g) belongs to the thread or goroutine s follows. */
static int same_worker(const struct ls_req_stacks *s, uint32_t pid, uint32_t want_pid, uint32_t tid, uint64_t g)
{
	return pid == want_pid && (s->g ? g == s->g : tid == s->tid);
}

static int collect_on(struct ls_rstacks *r, const struct ls_request *q, struct ls_req_stacks *s)
{
	uint64_t start = q->start_ns, end = q->start_ns + q->total_ns;

	for (size_t i = 0; i < r->on_n; i++) {
		const struct ls_sample_rec *e = &r->on[(r->on_next + LS_RSTACKS_KEEP - 1 - i) % LS_RSTACKS_KEEP];
		struct ls_sample_key k = { .pid = e->pid, .ustack = e->ustack, .kstack = e->kstack, .phase = e->phase };

		if (e->ts_ns + REORDER_NS < start)
			return 0;
		if (e->ts_ns < start || e->ts_ns > end || !same_worker(s, e->pid, q->pid, e->tid, e->g))
			continue;
		if (add_stack(&s->on, &s->non, &k, 1))
			return -ENOMEM;
		s->on_samples++;
	}
	/* Every sample kept is newer than the request's start: earlier ones may be gone. */
	s->truncated |= r->on_n == LS_RSTACKS_KEEP;
	return 0;
}

static int collect_off(struct ls_rstacks *r, const struct ls_request *q, struct ls_req_stacks *s)
{
	uint64_t start = q->start_ns, end = q->start_ns + q->total_ns;

	for (size_t i = 0; i < r->off_n; i++) {
		const struct ls_offcpu_rec *e = &r->off[(r->off_next + LS_RSTACKS_KEEP - 1 - i) % LS_RSTACKS_KEEP];
		struct ls_sample_key k = { .pid = e->pid, .ustack = e->ustack, .kstack = e->kstack, .phase = LS_PH_OTHER };
		uint64_t a, b, runnable = 0;

		if (e->end_ns + REORDER_NS < start)
			return 0;
		if (!same_worker(s, e->pid, q->pid, e->tid, e->g))
			continue;
		/* Only the part inside the request. */
		a = e->start_ns > start ? e->start_ns : start;
		b = e->end_ns < end ? e->end_ns : end;
		if (b <= a)
			continue;
		s->off_ns += b - a;
		/* Runnable: all of a preemption, and what follows a wake-up. */
		if (e->flags & LS_OFF_PREEMPTED) {
			runnable = b - a;
		} else if (e->wake_ns) {
			uint64_t w = e->wake_ns > a ? e->wake_ns : a;

			runnable = b > w ? b - w : 0;
		}
		s->preempted_ns += runnable;
		if (e->end_ns - e->start_ns < LS_RSTACKS_FLOOR) {
			s->short_ns += b - a;
			s->short_blocks++;
			continue;
		}
		if (b - a <= runnable)
			continue;
		if (add_stack(&s->off, &s->noff, &k, b - a - runnable))
			return -ENOMEM;
		s->off_blocks++;
	}
	s->truncated |= r->off_n == LS_RSTACKS_KEEP;
	return 0;
}

/* The request's worker: grpc-go's goroutine its transport handed the stream to; else the thread that decoded it, or finished it. */
static struct req_span span_of(const struct ls_request *q)
{
	struct req_span s = { .pid = q->pid, .start = q->start_ns, .end = q->start_ns + q->total_ns };

	if (q->serve_g)
		s.g = q->serve_g;
	else
		s.tid = q->serve_tid ? q->serve_tid : q->tid;
	return s;
}

/*
 * Did the same thread (or goroutine) finish another request that overlapped this one? Back to
 * back requests overlap a little: a request starts when its bytes reach the socket, and the
 * client may send it before the previous response's write has returned (and been seen to).
 * So the overlap must be more than that skew and at least half the shorter request.
 */
static int shared_with_earlier(const struct ls_rstacks *r, const struct req_span *me)
{
	for (size_t i = 0; i < r->req_n; i++) {
		const struct req_span *o = &r->reqs[i];
		uint64_t a = o->start > me->start ? o->start : me->start, b = o->end < me->end ? o->end : me->end;
		uint64_t shorter = o->end - o->start < me->end - me->start ? o->end - o->start : me->end - me->start;

		if (o->pid != me->pid || o->tid != me->tid || o->g != me->g || b <= a)
			continue;
		if (b - a > LS_RSTACKS_SKEW && 2 * (b - a) >= shorter)
			return 1;
	}
	return 0;
}

void ls_rstacks_note(struct ls_rstacks *r, const struct ls_request *q)
{
	r->reqs[r->req_next] = span_of(q);
	r->req_next = (r->req_next + 1) % LS_RSTACKS_REQS;
	r->req_n += r->req_n < LS_RSTACKS_REQS;
}

int ls_rstacks_of(struct ls_rstacks *r, const struct ls_request *q, struct ls_req_stacks *out)
{
	struct req_span me = span_of(q);

	memset(out, 0, sizeof(*out));
	out->g = me.g;
	out->tid = me.tid;
	/*
	 * A goroutine serves one stream at a time (its response may still be in the writer's
	 * hands when it takes the next). A thread may serve many: an event loop, seen as a
	 * read or write that carried several streams, or as requests that overlapped.
	 */
	out->shared = !out->g && (q->shared > 1 || shared_with_earlier(r, &me));
	if (collect_on(r, q, out) || collect_off(r, q, out)) {
		ls_req_stacks_clear(out);
		return -ENOMEM;
	}
	/* A full ring whose oldest entry is still inside the request lost some of it. */
	if (out->truncated) {
		const struct ls_sample_rec *oldest = &r->on[r->on_next];
		const struct ls_offcpu_rec *oldest_off = &r->off[r->off_next];

		out->truncated = (r->on_n == LS_RSTACKS_KEEP && oldest->ts_ns > q->start_ns) ||
				 (r->off_n == LS_RSTACKS_KEEP && oldest_off->end_ns > q->start_ns);
	}
	qsort(out->on, out->non, sizeof(*out->on), by_value_desc);
	qsort(out->off, out->noff, sizeof(*out->off), by_value_desc);
	return 0;
}

void ls_req_stacks_clear(struct ls_req_stacks *s)
{
	free(s->on);
	free(s->off);
	memset(s, 0, sizeof(*s));
}

int ls_rstacks_claim(struct ls_rstacks *r, const struct ls_request *q, ls_rstacks_claim_fn fn, void *ctx)
{
	struct req_span me = span_of(q);
	struct ls_req_stacks who = { .tid = me.tid, .g = me.g };
	int ret;

	for (size_t i = 0; i < r->on_n; i++) {
		size_t at = (r->on_next + LS_RSTACKS_KEEP - 1 - i) % LS_RSTACKS_KEEP;
		const struct ls_sample_rec *e = &r->on[at];
		struct ls_sample_key k = { .pid = e->pid, .ustack = e->ustack, .kstack = e->kstack, .phase = e->phase };

		if (e->ts_ns + REORDER_NS < me.start)
			break;
		if (r->on_claimed[at] || e->ts_ns < me.start || e->ts_ns > me.end ||
		    !same_worker(&who, e->pid, me.pid, e->tid, e->g))
			continue;
		r->on_claimed[at] = 1;
		if ((ret = fn(ctx, &k, 0, 1)))
			return ret;
	}
	for (size_t i = 0; i < r->off_n; i++) {
		size_t at = (r->off_next + LS_RSTACKS_KEEP - 1 - i) % LS_RSTACKS_KEEP;
		const struct ls_offcpu_rec *e = &r->off[at];
		struct ls_sample_key k = { .pid = e->pid, .ustack = e->ustack, .kstack = e->kstack, .phase = LS_PH_OTHER };
		uint64_t a = e->start_ns > me.start ? e->start_ns : me.start, b = e->end_ns < me.end ? e->end_ns : me.end;

		if (e->end_ns + REORDER_NS < me.start)
			break;
		if (r->off_claimed[at] || b <= a || !same_worker(&who, e->pid, me.pid, e->tid, e->g))
			continue;
		r->off_claimed[at] = 1;
		if ((ret = fn(ctx, &k, 1, b - a)))
			return ret;
	}
	return 0;
}

/* ---- Aggregates ---------------------------------------------------------------- */

struct sagg_ent {
	struct ls_sample_key k;
	int64_t v;
	int used;
};

struct ls_sagg {
	struct sagg_ent *t;
	size_t cap, n; /* cap: a power of two */
	uint64_t lost;
};

int ls_sagg_new(struct ls_sagg **out)
{
	struct ls_sagg *a = calloc(1, sizeof(*a));

	if (a && !(a->t = calloc(1024, sizeof(*a->t)))) {
		free(a);
		a = NULL;
	}
	if (a)
		a->cap = 1024;
	*out = a;
	return a ? 0 : -ENOMEM;
}

void ls_sagg_free(struct ls_sagg *a)
{
	if (a)
		free(a->t);
	free(a);
}

static int key_eq(const struct ls_sample_key *x, const struct ls_sample_key *y)
{
	return x->pid == y->pid && x->ustack == y->ustack && x->kstack == y->kstack && x->phase == y->phase &&
	       x->slow == y->slow;
}

static size_t key_hash(const struct ls_sample_key *k)
{
	uint64_t h = (uint64_t)k->pid * 0x9E3779B97F4A7C15ull;

	h ^= ((uint64_t)(uint32_t)k->ustack << 17) ^ (uint32_t)k->kstack ^ ((uint64_t)k->phase << 40) ^
	     ((uint64_t)k->slow << 48);
	h ^= h >> 31;
	return (size_t)(h * 0xBF58476D1CE4E5B9ull);
}

static struct sagg_ent *sagg_slot(struct sagg_ent *t, size_t cap, const struct ls_sample_key *k)
{
	size_t i = key_hash(k) & (cap - 1);

	while (t[i].used && !key_eq(&t[i].k, k))
		i = (i + 1) & (cap - 1);
	return &t[i];
}

static int sagg_grow(struct ls_sagg *a)
{
	size_t ncap = a->cap * 2;
	struct sagg_ent *nt = calloc(ncap, sizeof(*nt));

	if (!nt)
		return -ENOMEM;
	for (size_t i = 0; i < a->cap; i++)
		if (a->t[i].used)
			*sagg_slot(nt, ncap, &a->t[i].k) = a->t[i];
	free(a->t);
	a->t = nt;
	a->cap = ncap;
	return 0;
}

int ls_sagg_add(struct ls_sagg *a, const struct ls_sample_key *k, int64_t v)
{
	struct sagg_ent *e;

	if (a->n + 1 > a->cap / 2 && a->n < LS_SAGG_MAX && sagg_grow(a))
		return -ENOMEM;
	e = sagg_slot(a->t, a->cap, k);
	if (!e->used && a->n >= LS_SAGG_MAX) {
		a->lost += v > 0 ? (uint64_t)v : 0;
		return 0;
	}
	if (!e->used) {
		e->used = 1;
		e->k = *k;
		e->v = 0;
		a->n++;
	}
	e->v += v;
	return 0;
}

uint64_t ls_sagg_lost(const struct ls_sagg *a)
{
	return a->lost;
}

int ls_sagg_list(const struct ls_sagg *a, struct ls_stack_sample **out, size_t *n)
{
	size_t add = 0, k = *n;
	struct ls_stack_sample *v;

	for (size_t i = 0; i < a->cap; i++)
		add += a->t[i].used && a->t[i].v > 0;
	v = realloc(*out, (*n + add + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < a->cap; i++) {
		if (!a->t[i].used || a->t[i].v <= 0)
			continue;
		v[k].key = a->t[i].k;
		v[k].value = (uint64_t)a->t[i].v;
		k++;
	}
	*out = v;
	*n = k;
	return 0;
}
