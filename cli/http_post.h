/* One HTTP POST through libcurl, for the senders that push to collectors (OTLP, Pyroscope). */
#ifndef LS_HTTP_POST_H
#define LS_HTTP_POST_H

#include <stddef.h>

typedef void CURL;

/*
 * POST body (len bytes, of type ctype) to url within timeout_s seconds. The
 * HTTP status, or 0 when the server could not be reached (err says why).
 */
long http_post(CURL *c, const char *url, const char *ctype, const void *body, size_t len, long timeout_s, char *err,
	       size_t errlen);

/*
 * A gRPC call over HTTP/2 (prior knowledge for http://): body is the framed
 * request. The HTTP status (0: unreachable, err says why); *grpc_status is the
 * call's grpc-status (-1 when none came).
 */
long http_post_grpc(CURL *c, const char *url, const void *body, size_t len, long timeout_s, int *grpc_status,
		    char *err, size_t errlen);

/* Whether a status says "try again later": unreachable (0), 429, 502, 503, 504. */
int http_busy(long status);

#endif
