/* One worker: an epoll loop that owns a listener, its TLS connections, their HTTP/2 sessions
 * and a timer for delayed replies. Workers share nothing but the read-only config. */
#ifndef H2SERVER_SERVER_H
#define H2SERVER_SERVER_H

#include <stdbool.h>
#include <stddef.h>

#include <openssl/ssl.h>

#include "echo.h"

struct server_config {
	SSL_CTX *ssl_ctx;
	const struct echo_service *echo;
	bool verbose; /* report each connection error on stderr */
	bool lax_headers; /* accept any header bytes (no HTTP/2 header validation): for tests of hostile clients */
	int stats_fd;     /* a signalfd of SIGUSR1: print the delayed replies' account (stats_print()) */
};

struct worker;

/* A worker accepting on listen_fd until stop_fd (a signalfd) turns readable. Owns neither fd.
 * Returns NULL with err filled on failure. */
struct worker *worker_new(const struct server_config *cfg, int listen_fd, int stop_fd,
			  char *err, size_t errlen);

/* Serve until stop_fd is readable. Returns 0, or -1 with err filled. Not thread-safe: one
 * thread per worker. */
int worker_run(struct worker *w, char *err, size_t errlen);

/* Close every connection and free the worker. worker_free(NULL) is a no-op. */
void worker_free(struct worker *w);

#endif
