#include "parca.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A growing byte buffer; err is set once an allocation failed. */
struct buf {
	uint8_t *p;
	size_t n, cap;
	int err;
};

static void put(struct buf *b, const void *d, size_t n)
{
	if (b->err || !n)
		return;
	if (b->n + n > b->cap) {
		size_t cap = (b->n + n) * 2;
		uint8_t *p = realloc(b->p, cap);

		if (!p) {
			b->err = 1;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, d, n);
	b->n += n;
}

static void varint(struct buf *b, uint64_t v)
{
	uint8_t t[10];
	size_t n = 0;

	do {
		t[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
		v >>= 7;
	} while (v);
	put(b, t, n);
}

/* Field number f with wire type 2 (length-delimited): key, length, bytes. */
static void bytes_field(struct buf *b, unsigned int f, const void *d, size_t n)
{
	varint(b, (uint64_t)f << 3 | 2);
	varint(b, n);
	put(b, d, n);
}

/* A nested message: its bytes, already encoded in m, as field f of b. */
static void message(struct buf *b, unsigned int f, struct buf *m)
{
	if (m->err)
		b->err = 1;
	bytes_field(b, f, m->p, m->n);
	free(m->p);
	*m = (struct buf){ 0 };
}

/* Label { string name = 1; string value = 2; } as field 1 of a LabelSet. */
static void label(struct buf *set, const char *name, const char *value)
{
	struct buf l = { 0 };

	bytes_field(&l, 1, name, strlen(name));
	bytes_field(&l, 2, value, strlen(value));
	message(set, 1, &l);
}

int ls_parca_write_raw(const struct ls_pyro_series *s, const uint8_t *pprof, size_t len, uint8_t **out,
		       size_t *outlen)
{
	struct buf set = { 0 }, sample = { 0 }, series = { 0 }, req = { 0 }, body = { 0 };
	char pid[16];
	uint8_t prefix[5];

	*out = NULL;
	*outlen = 0;
	snprintf(pid, sizeof(pid), "%d", s->pid);
	label(&set, "__name__", s->name);
	label(&set, "service_name", s->service);
	label(&set, "pid", pid);
	label(&set, "comm", s->comm);
	label(&set, "hostname", s->host);
	/* RawProfileSeries { LabelSet labels = 1; repeated RawSample samples = 2; } */
	message(&series, 1, &set);
	bytes_field(&sample, 1, pprof, len); /* RawSample { bytes raw_profile = 1; } */
	message(&series, 2, &sample);
	/* WriteRawRequest { repeated RawProfileSeries series = 2; } */
	message(&req, 2, &series);
	if (req.err) {
		free(req.p);
		return -ENOMEM;
	}
	/* gRPC: not compressed, then the message's length, big-endian. */
	prefix[0] = 0;
	prefix[1] = (uint8_t)(req.n >> 24);
	prefix[2] = (uint8_t)(req.n >> 16);
	prefix[3] = (uint8_t)(req.n >> 8);
	prefix[4] = (uint8_t)req.n;
	put(&body, prefix, sizeof(prefix));
	put(&body, req.p, req.n);
	free(req.p);
	if (body.err) {
		free(body.p);
		return -ENOMEM;
	}
	*out = body.p;
	*outlen = body.n;
	return 0;
}
