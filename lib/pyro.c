#include "pyro.h"
#include "jsonw.h"

#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static char *base64(const uint8_t *in, size_t len)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *out = malloc((len + 2) / 3 * 4 + 1), *o = out;

	if (!out)
		return NULL;
	for (size_t i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0) |
			     (i + 2 < len ? in[i + 2] : 0);

		*o++ = tab[v >> 18 & 63];
		*o++ = tab[v >> 12 & 63];
		*o++ = i + 1 < len ? tab[v >> 6 & 63] : '=';
		*o++ = i + 2 < len ? tab[v & 63] : '=';
	}
	*o = 0;
	return out;
}

static void label(struct jw *w, const char *name, const char *value)
{
	jw_obj(w);
	jw_kstr(w, "name", name);
	jw_kstr(w, "value", value);
	jw_obj_end(w);
}

void ls_pyro_push_json(FILE *f, const struct ls_pyro_series *s, const char *id, const uint8_t *pprof, size_t len)
{
	char pid[16], *b64 = base64(pprof, len);
	struct jw w;

	snprintf(pid, sizeof(pid), "%d", s->pid);
	jw_init(&w, f);
	jw_obj(&w);
	jw_key(&w, "series");
	jw_arr(&w);
	jw_obj(&w);
	jw_key(&w, "labels");
	jw_arr(&w);
	label(&w, "__name__", s->name);
	label(&w, "service_name", s->service);
	label(&w, "pid", pid);
	label(&w, "comm", s->comm);
	label(&w, "hostname", s->host);
	jw_arr_end(&w);
	jw_key(&w, "samples");
	jw_arr(&w);
	jw_obj(&w);
	jw_kstr(&w, "ID", id);
	/* Out of memory: an empty profile, which the server refuses and the sender counts. */
	jw_kstr(&w, "rawProfile", b64 ? b64 : "");
	jw_obj_end(&w);
	jw_arr_end(&w);
	jw_obj_end(&w);
	jw_arr_end(&w);
	jw_obj_end(&w);
	free(b64);
}

static void clean(char *dst, size_t len, const char *src)
{
	size_t i = 0;

	for (; src[i] && i + 1 < len; i++) {
		unsigned char c = (unsigned char)src[i];

		dst[i] = c <= 0x20 || c >= 0x7f || strchr("{}=,\"'\\", c) ? '_' : (char)c;
	}
	dst[i] = 0;
}

void ls_pyro_ingest_name(char *out, size_t len, const struct ls_pyro_series *s)
{
	char name[64], svc[128], comm[64], host[128];

	clean(name, sizeof(name), s->name);
	clean(svc, sizeof(svc), s->service);
	clean(comm, sizeof(comm), s->comm);
	clean(host, sizeof(host), s->host);
	snprintf(out, len, "%s{service_name=%s,pid=%d,comm=%s,hostname=%s}", name, svc, s->pid, comm, host);
}

void ls_pyro_uuid(char out[37])
{
	uint8_t b[16] = { 0 };
	size_t got = 0;

	while (got < sizeof(b)) {
		ssize_t n = getrandom(b + got, sizeof(b) - got, 0);

		if (n <= 0)
			break;
		got += (size_t)n;
	}
	b[6] = (b[6] & 0x0f) | 0x40;
	b[8] = (b[8] & 0x3f) | 0x80;
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1], b[2],
		 b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}
