#include "http_post.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static size_t discard(char *p, size_t size, size_t n, void *ctx)
{
	(void)p;
	(void)ctx;
	return size * n;
}

/* What every POST sets: the URL, headers h, the body, a timeout, no signals, the answer discarded. */
static void post_setup(CURL *c, const char *url, struct curl_slist *h, const void *body, size_t len, long timeout_s)
{
	curl_easy_reset(c);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
}

/* Send it; the HTTP status (0 with err set when it did not complete). Frees h. */
static long post_perform(CURL *c, const char *url, struct curl_slist *h, char *err, size_t errlen)
{
	long code = 0;
	CURLcode r = curl_easy_perform(c);

	if (r == CURLE_OK)
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
	else
		snprintf(err, errlen, "POST %s: %s", url, curl_easy_strerror(r));
	curl_slist_free_all(h);
	return code;
}

long http_post(CURL *c, const char *url, const char *ctype, const void *body, size_t len, long timeout_s, char *err,
	       size_t errlen)
{
	char type[128];
	struct curl_slist *h;

	snprintf(type, sizeof(type), "Content-Type: %s", ctype);
	h = curl_slist_append(NULL, type);
	post_setup(c, url, h, body, len, timeout_s);
	return post_perform(c, url, h, err, errlen);
}

/* Response headers and trailers: keep grpc-status. */
static size_t header(char *p, size_t size, size_t n, void *ctx)
{
	size_t len = size * n;
	int *status = ctx;

	if (len > 12 && !strncasecmp(p, "grpc-status:", 12))
		*status = atoi(p + 12);
	return len;
}

long http_post_grpc(CURL *c, const char *url, const void *body, size_t len, long timeout_s, int *grpc_status,
		    char *err, size_t errlen)
{
	struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/grpc");

	h = curl_slist_append(h, "TE: trailers");
	*grpc_status = -1;
	post_setup(c, url, h, body, len, timeout_s);
	/* gRPC is HTTP/2 only: by ALPN over TLS, with prior knowledge in the clear. */
	curl_easy_setopt(c, CURLOPT_HTTP_VERSION,
			 strncmp(url, "https://", 8) ? (long)CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE : (long)CURL_HTTP_VERSION_2TLS);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, grpc_status);
	/*
	 * A connection per call: Debian 12's libcurl (7.88) fails the next request on a
	 * reused HTTP/2 connection ("Error in the HTTP2 framing layer"), and one
	 * call every few seconds does not need to keep one.
	 */
	curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
	return post_perform(c, url, h, err, errlen);
}

int http_busy(long status)
{
	return status == 0 || status == 429 || status == 502 || status == 503 || status == 504;
}
