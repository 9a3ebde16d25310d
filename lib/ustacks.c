#include "ustacks.h"
#include "dwunwind.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Interned stacks: addresses in one pool, an open-addressing index by hash. */
struct stk {
	uint64_t hash;
	uint32_t off, n;
};

struct agg {
	struct ls_sample_key key;
	uint64_t value;
};

struct ls_ustore {
	struct ls_dwunwind *uw;
	uint64_t *pool;
	size_t npool, cappool;
	struct stk *stks;
	size_t nstks, capstks;
	uint32_t *sidx; /* slot -> stack index + 1, 0: empty */
	size_t sidx_cap;
	struct agg *aggs;
	size_t naggs, capaggs;
	uint32_t *aidx;
	size_t aidx_cap;
	struct ls_unwind_stats stats;
	struct ra_memo *memo; /* LS_RA_MEMO slots, direct-mapped by pid and address */
};

/* What the CFI said of one sampled address: asked once per address, not per read of the profile. */
#define LS_RA_MEMO 4096
struct ra_memo {
	uint64_t pc;
	uint32_t pid;
	int32_t slot;
};

static uint64_t mix(uint64_t h, uint64_t v)
{
	h ^= v + 0x9e3779b97f4a7c15ull + (h << 6) + (h >> 2);
	return h * 0xff51afd7ed558ccdull;
}

static uint64_t hash_ips(const uint64_t *ips, size_t n)
{
	uint64_t h = n;

	for (size_t i = 0; i < n; i++)
		h = mix(h, ips[i]);
	return h;
}

static uint64_t hash_key(const struct ls_sample_key *k)
{
	uint64_t h = mix(k->pid, (uint32_t)k->ustack);

	h = mix(h, (uint32_t)k->kstack);
	return mix(h, (uint64_t)k->phase << 8 | k->slow);
}

static int grow(void **v, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *nv;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap : 1024;
	while (ncap < need)
		ncap *= 2;
	nv = realloc(*v, ncap * elem);
	if (!nv)
		return -ENOMEM;
	*v = nv;
	*cap = ncap;
	return 0;
}

/* Rebuild an index at twice the size when it is half full. */
static int rehash(uint32_t **idx, size_t *cap, size_t count, uint64_t (*hash_of)(const struct ls_ustore *, uint32_t),
		  const struct ls_ustore *st)
{
	size_t ncap;
	uint32_t *ni;

	if (count * 2 < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 4096;
	ni = calloc(ncap, sizeof(*ni));
	if (!ni)
		return -ENOMEM;
	for (uint32_t i = 0; i < count; i++) {
		size_t s = hash_of(st, i) & (ncap - 1);

		while (ni[s])
			s = (s + 1) & (ncap - 1);
		ni[s] = i + 1;
	}
	free(*idx);
	*idx = ni;
	*cap = ncap;
	return 0;
}

static uint64_t stk_hash(const struct ls_ustore *st, uint32_t i) { return st->stks[i].hash; }
static uint64_t agg_hash(const struct ls_ustore *st, uint32_t i) { return hash_key(&st->aggs[i].key); }

/* The id of a stack, interned on first sight; negative errno on failure. */
static int64_t intern(struct ls_ustore *st, const uint64_t *ips, size_t n)
{
	uint64_t h = hash_ips(ips, n);
	size_t s;
	struct stk *k;

	if (rehash(&st->sidx, &st->sidx_cap, st->nstks, stk_hash, st))
		return -ENOMEM;
	for (s = h & (st->sidx_cap - 1); st->sidx[s]; s = (s + 1) & (st->sidx_cap - 1)) {
		k = &st->stks[st->sidx[s] - 1];
		if (k->hash == h && k->n == n && !memcmp(st->pool + k->off, ips, n * sizeof(*ips)))
			return st->sidx[s] - 1;
	}
	if (st->nstks >= (size_t)(INT32_MAX - LS_USTACK_ID_BASE) ||
	    grow((void **)&st->stks, &st->capstks, st->nstks + 1, sizeof(*st->stks)) ||
	    grow((void **)&st->pool, &st->cappool, st->npool + n, sizeof(*st->pool)))
		return -ENOMEM;
	memcpy(st->pool + st->npool, ips, n * sizeof(*ips));
	k = &st->stks[st->nstks];
	k->hash = h;
	k->off = (uint32_t)st->npool;
	k->n = (uint32_t)n;
	st->npool += n;
	st->sidx[s] = (uint32_t)++st->nstks;
	return (int64_t)st->nstks - 1;
}

int ls_ustore_count(struct ls_ustore *st, struct ls_sample_key *key, const uint64_t *ips, size_t n, uint64_t value)
{
	int64_t id = intern(st, ips, n);
	size_t s;

	if (id < 0)
		return (int)id;
	key->ustack = (int32_t)(LS_USTACK_ID_BASE + id);
	if (rehash(&st->aidx, &st->aidx_cap, st->naggs, agg_hash, st))
		return -ENOMEM;
	for (s = hash_key(key) & (st->aidx_cap - 1); st->aidx[s]; s = (s + 1) & (st->aidx_cap - 1)) {
		struct agg *a = &st->aggs[st->aidx[s] - 1];

		if (!memcmp(&a->key, key, sizeof(*key))) {
			a->value += value;
			return 0;
		}
	}
	if (grow((void **)&st->aggs, &st->capaggs, st->naggs + 1, sizeof(*st->aggs)))
		return -ENOMEM;
	st->aggs[st->naggs].key = *key;
	st->aggs[st->naggs].value = value;
	st->aidx[s] = (uint32_t)++st->naggs;
	return 0;
}

struct ls_ustore *ls_ustore_new(void)
{
	struct ls_ustore *st = calloc(1, sizeof(*st));

	if (!st)
		return NULL;
	st->uw = ls_dwunwind_new();
	if (!st->uw) {
		free(st);
		return NULL;
	}
	return st;
}

void ls_ustore_free(struct ls_ustore *st)
{
	if (!st)
		return;
	ls_dwunwind_free(st->uw);
	free(st->memo);
	free(st->pool);
	free(st->stks);
	free(st->sidx);
	free(st->aggs);
	free(st->aidx);
	free(st);
}

int ls_ustore_add(struct ls_ustore *st, const void *rec, size_t size, struct ls_slow_stack *slow)
{
	struct ls_sample_key key;

	return ls_ustore_add_key(st, rec, size, slow, &key);
}

int ls_ustore_add_key(struct ls_ustore *st, const void *rec, size_t size, struct ls_slow_stack *slow,
		      struct ls_sample_key *keyp)
{
	const struct ls_ustack *r = rec;
	struct ls_sample_key key = { 0 };
	uint64_t ips[LS_STACK_DEPTH];
	char err[LS_ERR_LEN];
	size_t n = 0;
	int ret;

	if (size < sizeof(*r) || r->size > size - sizeof(*r)) {
		st->stats.bad++;
		return -EINVAL;
	}
	switch (ls_dwunwind_stack(st->uw, (pid_t)r->pid, (pid_t)r->tid, (const uint64_t *)r->regs,
				  (const uint8_t *)rec + sizeof(*r), r->size, ips, LS_STACK_DEPTH, &n, err)) {
	case LS_UNWIND_COMPLETE:
		st->stats.complete++;
		break;
	case LS_UNWIND_TRUNCATED:
		st->stats.truncated++;
		snprintf(st->stats.last_error, sizeof(st->stats.last_error), "%s", err);
		break;
	case LS_UNWIND_MAXDEPTH:
		st->stats.maxdepth++;
		break;
	case LS_UNWIND_NOPROC:
		st->stats.noproc++;
		snprintf(st->stats.last_error, sizeof(st->stats.last_error), "%s", err);
		break;
	}
	st->stats.samples++;
	key.pid = r->pid;
	key.kstack = r->kstack;
	key.phase = r->phase;
	key.slow = r->slow;
	ret = ls_ustore_count(st, &key, ips, n, 1);
	*keyp = key;
	if (ret)
		return ret;
	if (!(r->flags & LS_US_SLOW_FIRST))
		return 0;
	memset(slow, 0, sizeof(*slow));
	slow->type = LS_REC_SLOW_STACK;
	slow->phase = r->phase;
	slow->pid = r->pid;
	slow->tid = r->tid;
	slow->ustack = key.ustack;
	slow->kstack = r->kstack;
	slow->ts_ns = r->ts_ns;
	slow->age_ns = r->age_ns;
	return 1;
}

static int ra_slot(struct ls_ustore *st, uint32_t pid, uint64_t pc)
{
	struct ra_memo *m;

	if (!st->memo && !(st->memo = calloc(LS_RA_MEMO, sizeof(*st->memo))))
		return ls_dwunwind_ra_slot(st->uw, (pid_t)pid, pc);
	m = &st->memo[mix(pid, pc) % LS_RA_MEMO];
	if (m->pc != pc || m->pid != pid) {
		m->pc = pc;
		m->pid = pid;
		m->slot = ls_dwunwind_ra_slot(st->uw, (pid_t)pid, pc);
	}
	return m->slot;
}

int ls_ustore_fix_leaf(struct ls_ustore *st, struct ls_sample_key *key, const uint64_t *ips, size_t n)
{
	uint64_t ra = key->ra, fixed[LS_STACK_DEPTH];
	int slot, want = key->ra_slot;
	int64_t id;

	key->ra = 0;
	key->ra_slot = 0;
	if (!ra || !n)
		return 0;
	slot = ra_slot(st, key->pid, ips[0]);
	if (slot == LS_RA_FRAMED) {
		st->stats.leaf_framed++;
		return 0;
	}
	/* The caller already there (a frame-pointer walk that was right after all): never twice. */
	if (slot != want || (n > 1 && ips[1] == ra)) {
		st->stats.leaf_unknown++;
		return 0;
	}
	fixed[0] = ips[0];
	fixed[1] = ra;
	if (n > LS_STACK_DEPTH - 1)
		n = LS_STACK_DEPTH - 1;
	memcpy(fixed + 2, ips + 1, (n - 1) * sizeof(*ips));
	id = intern(st, fixed, n + 1);
	if (id < 0)
		return (int)id;
	key->ustack = (int32_t)(LS_USTACK_ID_BASE + id);
	st->stats.leaf_fixed++;
	return 1;
}

int ls_ustore_samples(const struct ls_ustore *st, struct ls_stack_sample **v, size_t *n)
{
	struct ls_stack_sample *nv;

	if (!st->naggs)
		return 0;
	nv = realloc(*v, (*n + st->naggs) * sizeof(*nv));
	if (!nv)
		return -ENOMEM;
	for (size_t i = 0; i < st->naggs; i++) {
		nv[*n + i].key = st->aggs[i].key;
		nv[*n + i].value = st->aggs[i].value;
	}
	*v = nv;
	*n += st->naggs;
	return 0;
}

int ls_ustore_stack(const struct ls_ustore *st, int32_t id, uint64_t *ips, size_t max, size_t *n)
{
	const struct stk *k;
	size_t i;

	*n = 0;
	if (id < LS_USTACK_ID_BASE || (size_t)(id - LS_USTACK_ID_BASE) >= st->nstks)
		return -ENOENT;
	k = &st->stks[id - LS_USTACK_ID_BASE];
	for (i = 0; i < k->n && i < max; i++)
		ips[i] = st->pool[k->off + i];
	*n = i;
	return 0;
}

void ls_ustore_stats(const struct ls_ustore *st, struct ls_unwind_stats *out)
{
	*out = st->stats;
}

void ls_ustore_forget(struct ls_ustore *st, pid_t pid)
{
	ls_dwunwind_forget(st->uw, pid);
}
