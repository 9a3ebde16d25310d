/*
 * libFuzzer target for what latscope export reads from strangers: the
 * request heads its /metrics endpoint parses (lib/httpd) and the label
 * values it writes from clients' :path and :method (lib/promexp).
 *
 * Input: the first byte chooses. Even: the rest is a request head, parsed
 * whole and at every cut a reader could see; a servable head must name a
 * method and a path within bounds, be found the same at every longer cut, and
 * nothing but a complete head may be servable. Odd: the rest is a label value,
 * whose escaped form must be valid UTF-8 with no control character, no line
 * feed and no unescaped double quote.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd.h"
#include "jsonw.h"
#include "promexp.h"

static void check_head(const char *buf, size_t len)
{
	struct ls_http_req full, cut;
	int r = ls_http_parse(buf, len, &full);

	if (r == 1) {
		if (full.head_len < 4 || full.head_len > len || memcmp(buf + full.head_len - 4, "\r\n\r\n", 4))
			abort();
		if (strcmp(full.method, "GET") && strcmp(full.method, "HEAD"))
			abort();
		if (full.path[0] != '/' || strlen(full.path) >= LS_HTTP_PATH_MAX || full.minor < 0 || full.minor > 9)
			abort();
	} else if (r != 0 && r != -400 && r != -405 && r != -414 && r != -431 && r != -505) {
		abort();
	}
	/* A reader sees the head grow: a cut before its end is incomplete or already an error. */
	for (size_t k = 0; k < len; k += 1 + k / 8) {
		int rc = ls_http_parse(buf, k, &cut);

		if (rc == 1 && (r != 1 || cut.head_len != full.head_len || strcmp(cut.path, full.path)))
			abort();
		if (r == 1 && rc < 0)
			abort();
	}
}

static void check_label(const char *s)
{
	char *out = NULL;
	size_t n = 0;
	FILE *f = open_memstream(&out, &n);

	if (!f)
		return;
	ls_prom_label(f, s);
	if (fclose(f))
		abort();
	for (size_t i = 0; i < n;) {
		const unsigned char *p = (const unsigned char *)out + i;
		int l = jw_utf8_len(p);

		if (l == 0 || *p < 0x20 || *p == 0x7f)
			abort();
		if (*p == '\\') {
			/* Only the three escapes of the format. */
			if (i + 1 >= n || !strchr("\\\"n", p[1]))
				abort();
			i += 2;
			continue;
		}
		if (*p == '"')
			abort();
		i += (size_t)l;
	}
	free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;

	if (size < 1)
		return 0;
	/* A copy of exactly the head's bytes, so that reading past them is caught; the label NUL-terminated. */
	s = malloc(size - 1 + (data[0] & 1));
	if (!s)
		return 0;
	memcpy(s, data + 1, size - 1);
	if (data[0] & 1) {
		s[size - 1] = 0;
		check_label(s);
	} else {
		check_head(s, size - 1);
	}
	free(s);
	return 0;
}
