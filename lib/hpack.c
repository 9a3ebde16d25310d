#include "hpack.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <nghttp2/nghttp2.h>

struct ls_hpack {
	nghttp2_hd_inflater *inf;
};

struct ls_hpack *ls_hpack_new(void)
{
	struct ls_hpack *d = calloc(1, sizeof(*d));

	if (d && nghttp2_hd_inflate_new(&d->inf)) {
		free(d);
		return NULL;
	}
	return d;
}

void ls_hpack_free(struct ls_hpack *d)
{
	if (!d)
		return;
	nghttp2_hd_inflate_del(d->inf);
	free(d);
}

/* A status code: 1 to 3 digits and nothing else; -1 otherwise (clients choose these bytes). */
static int status_code(const uint8_t *v, size_t len)
{
	int n = 0;

	if (len < 1 || len > 3)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return -1;
		n = n * 10 + (v[i] - '0');
	}
	return n;
}

/* Copy a value, cut to fit; a NUL inside it ends it. */
static void copy_value(char *dst, size_t size, const uint8_t *v, size_t len)
{
	size_t n = len < size - 1 ? len : size - 1;

	memcpy(dst, v, n);
	dst[n] = '\0';
}

static int name_is(const nghttp2_nv *nv, const char *name)
{
	size_t len = strlen(name);

	return nv->namelen == len && !memcmp(nv->name, name, len);
}

/*
 * A traceparent as W3C Trace Context version 00 writes it: lowercase hex, the
 * ids not all zeros. Anything else is ignored, as the specification says.
 */
static int traceparent_ok(const uint8_t *v, size_t n)
{
	int nz_trace = 0, nz_span = 0;

	if (n != LS_TRACEPARENT_LEN || memcmp(v, "00-", 3) || v[35] != '-' || v[52] != '-')
		return 0;
	for (size_t i = 3; i < n; i++) {
		if (i == 35 || i == 52)
			continue;
		if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f')))
			return 0;
		if (i < 35)
			nz_trace |= v[i] != '0';
		else if (i < 52)
			nz_span |= v[i] != '0';
	}
	return nz_trace && nz_span;
}

/* One decoded field: keep it when it is one of ours. */
static void keep(const nghttp2_nv *nv, struct ls_hpack_fields *out)
{
	if (name_is(nv, ":path")) {
		copy_value(out->path, sizeof(out->path), nv->value, nv->valuelen);
		out->have |= LS_HPACK_PATH;
	} else if (name_is(nv, ":method")) {
		copy_value(out->method, sizeof(out->method), nv->value, nv->valuelen);
		out->have |= LS_HPACK_METHOD;
	} else if (name_is(nv, ":status")) {
		out->status = status_code(nv->value, nv->valuelen);
		out->have |= LS_HPACK_STATUS;
	} else if (name_is(nv, "grpc-status")) {
		out->grpc_status = status_code(nv->value, nv->valuelen);
		out->have |= LS_HPACK_GRPC_STATUS;
	} else if (name_is(nv, "traceparent") && traceparent_ok(nv->value, nv->valuelen)) {
		memcpy(out->traceparent, nv->value, LS_TRACEPARENT_LEN);
		out->traceparent[LS_TRACEPARENT_LEN] = 0;
		out->have |= LS_HPACK_TRACEPARENT;
	}
}

int ls_hpack_block(struct ls_hpack *d, const uint8_t *in, size_t len, int end, struct ls_hpack_fields *out)
{
	memset(out, 0, sizeof(*out));
	for (;;) {
		nghttp2_nv nv;
		int fl = 0;
		ssize_t n = nghttp2_hd_inflate_hd2(d->inf, &nv, &fl, in, len, end);

		if (n < 0)
			return -EPROTO;
		in += n;
		len -= (size_t)n;
		if (fl & NGHTTP2_HD_INFLATE_EMIT)
			keep(&nv, out);
		if (fl & NGHTTP2_HD_INFLATE_FINAL) {
			nghttp2_hd_inflate_end_headers(d->inf);
			break;
		}
		if (n == 0 && len == 0)
			break;
	}
	return 0;
}

int ls_hpack_seed(struct ls_hpack *d, uint32_t table_max, const uint8_t *entries, size_t len)
{
	struct ls_hpack_fields f;
	uint8_t *b = malloc(len + 8);
	size_t k = 0;
	uint64_t v = table_max;
	int ret;

	if (!b)
		return -ENOMEM;
	if (nghttp2_hd_inflate_change_table_size(d->inf, table_max)) {
		free(b);
		return -EPROTO;
	}
	/* A dynamic table size update first (RFC 7541 6.3): 001, a 5-bit prefix integer. */
	if (v < 31) {
		b[k++] = 0x20 | (uint8_t)v;
	} else {
		b[k++] = 0x20 | 31;
		for (v -= 31; v >= 128; v >>= 7)
			b[k++] = (uint8_t)(v & 0x7f) | 0x80;
		b[k++] = (uint8_t)v;
	}
	memcpy(b + k, entries, len);
	ret = ls_hpack_block(d, b, k + len, 1, &f);
	free(b);
	return ret;
}
