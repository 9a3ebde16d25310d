#include "hpack.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <nghttp2/nghttp2.h>
struct hpack_dec { nghttp2_hd_inflater *inf; };
struct hpack_dec *hpack_dec_new(void) { struct hpack_dec *d = calloc(1, sizeof(*d)); if (d && nghttp2_hd_inflate_new(&d->inf)) { free(d); return NULL; } return d; }
void hpack_dec_free(struct hpack_dec *d) { if (!d) return; nghttp2_hd_inflate_del(d->inf); free(d); }
int hpack_dec_block(struct hpack_dec *d, const uint8_t *in, size_t len, int end, struct h2_headers *out)
{
	memset(out, 0, sizeof(*out));
	for (;;) {
		nghttp2_nv nv; int fl = 0;
		ssize_t n = nghttp2_hd_inflate_hd2(d->inf, &nv, &fl, in, len, end);
		if (n < 0) return -EPROTO;
		in += n; len -= (size_t)n;
		if (fl & NGHTTP2_HD_INFLATE_EMIT) {
			if (nv.namelen == 5 && !memcmp(nv.name, ":path", 5)) { snprintf(out->path, sizeof(out->path), "%.*s", (int)nv.valuelen, nv.value); out->have |= H2H_PATH; }
			else if (nv.namelen == 7 && !memcmp(nv.name, ":method", 7)) { snprintf(out->method, sizeof(out->method), "%.*s", (int)nv.valuelen, nv.value); out->have |= H2H_METHOD; }
			else if (nv.namelen == 7 && !memcmp(nv.name, ":status", 7)) { out->status = atoi((const char*)nv.value); out->have |= H2H_STATUS; }
			else if (nv.namelen == 11 && !memcmp(nv.name, "grpc-status", 11)) { out->grpc_status = atoi((const char*)nv.value); out->have |= H2H_GRPC_STATUS; }
		}
		if (fl & NGHTTP2_HD_INFLATE_FINAL) { nghttp2_hd_inflate_end_headers(d->inf); break; }
		if (n == 0 && len == 0) break;
	}
	return 0;
}
