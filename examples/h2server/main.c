/* h2server: a unary gRPC + HTTP/2 server over TLS (OpenSSL, nghttp2, protobuf-c), the real
 * target that latscope's tests, demo and benchmarks measure. */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "echo.h"
#include "server.h"

#define MAX_THREADS 256

struct options {
	const char *addr;
	const char *cert;
	const char *key;
	int port;
	int threads;
	bool verbose;
	bool lax_headers;
	bool plain; /* h2c: no TLS */
};

struct thread {
	pthread_t tid;
	struct worker *worker;
	int rc;
};

static void usage(FILE *out)
{
	fprintf(out,
		"usage: h2server --cert FILE --key FILE [options]\n"
		"       h2server --plain [options]\n"
		"Serve unary gRPC (latscope.example.Echo) and plain GETs over HTTP/2 and TLS (or h2c).\n"
		"\n"
		"  -a, --addr ADDR      address to listen on (default 127.0.0.1)\n"
		"  -p, --port PORT      port (default 8443; 0 picks a free one). The bound address\n"
		"                       is printed as 'listening on ADDR:PORT'\n"
		"      --cert FILE      certificate chain, PEM (examples/h2server/gencert.sh makes one)\n"
		"      --key FILE       private key, PEM\n"
		"      --plain          plaintext HTTP/2 (h2c, prior knowledge): no TLS, no certificate\n"
		"  -t, --threads N      worker threads, each with its own epoll loop and listener\n"
		"                       (SO_REUSEPORT); default 1\n"
		"      --method NAME:KEY=N[,KEY=N...]\n"
		"                       force a method's costs, winning over the request's fields;\n"
		"                       KEY is sleep (ms, on a timer), burn (ms of CPU in burn_cpu),\n"
		"                       resp (reply payload bytes), block (ms asleep in the handler,\n"
		"                       which stops the worker's event loop) or spin (us of CPU in\n"
		"                       the handler, a request's own work); repeatable\n"
		"  -v, --verbose        report connection errors on stderr\n"
		"      --lax-headers    accept any bytes in header fields (no HTTP/2 header checks):\n"
		"                       answers what hostile clients send, for latscope's escaping tests\n"
		"  -h, --help           show this help\n"
		"\n"
		"Methods (POST with content-type application/grpc) and their default costs:\n");
	for (int i = 0; i < ECHO_NMETHODS; i++) {
		const struct echo_costs *d = &echo_methods[i].defaults;

		fprintf(out, "  %-28s sleep=%lld burn=%lld resp=%lld\n", echo_methods[i].path,
			(long long)d->sleep_ms, (long long)d->burn_ms, (long long)d->resp_bytes);
	}
	fprintf(out,
		"A cost is taken from --method, else from the request when non-zero, else from the\n"
		"default. Other POST paths get 404, unknown gRPC methods grpc-status 12, and a GET\n"
		"of any path a short text body.\n"
		"\n"
		"SIGUSR1 prints one JSON line, the delayed replies (sleep=) as served: their count and\n"
		"the median and 99th percentile of their delays, {\"slow_delay_ns\":{\"count\",\"p50\",\"p99\"}}.\n"
		"\n"
		"Exit status: 0 after SIGINT or SIGTERM, 1 on a runtime error, 2 on a usage error.\n");
}

static int parse_int(const char *s, int min, int max, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

/* Returns 0 to run, 1 when --help was shown, -1 on a usage error (already reported). */
static int parse_args(int argc, char **argv, struct options *opt, struct echo_service *svc)
{
	enum { OPT_CERT = 256, OPT_KEY, OPT_METHOD, OPT_LAX, OPT_PLAIN };
	static const struct option longopts[] = {
		{ "addr", required_argument, NULL, 'a' },
		{ "port", required_argument, NULL, 'p' },
		{ "threads", required_argument, NULL, 't' },
		{ "cert", required_argument, NULL, OPT_CERT },
		{ "key", required_argument, NULL, OPT_KEY },
		{ "method", required_argument, NULL, OPT_METHOD },
		{ "lax-headers", no_argument, NULL, OPT_LAX },
		{ "plain", no_argument, NULL, OPT_PLAIN },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char err[256];
	int c;

	while ((c = getopt_long(argc, argv, ":a:p:t:vh", longopts, NULL)) != -1) {
		switch (c) {
		case 'a':
			opt->addr = optarg;
			break;
		case 'p':
			if (parse_int(optarg, 0, 65535, &opt->port) < 0) {
				fprintf(stderr, "h2server: -p %s: expected a port from 0 to 65535\n", optarg);
				return -1;
			}
			break;
		case 't':
			if (parse_int(optarg, 1, MAX_THREADS, &opt->threads) < 0) {
				fprintf(stderr, "h2server: -t %s: expected 1 to %d threads\n", optarg,
					MAX_THREADS);
				return -1;
			}
			break;
		case OPT_CERT:
			opt->cert = optarg;
			break;
		case OPT_KEY:
			opt->key = optarg;
			break;
		case OPT_METHOD:
			if (echo_set_override(svc, optarg, err, sizeof(err)) < 0) {
				fprintf(stderr, "h2server: %s\n", err);
				return -1;
			}
			break;
		case 'v':
			opt->verbose = true;
			break;
		case OPT_LAX:
			opt->lax_headers = true;
			break;
		case OPT_PLAIN:
			opt->plain = true;
			break;
		case 'h':
			usage(stdout);
			return 1;
		case ':':
			fprintf(stderr, "h2server: %s needs an argument\n", argv[optind - 1]);
			return -1;
		default:
			fprintf(stderr, "h2server: unknown option '%s'; try 'h2server --help'\n",
				argv[optind - 1]);
			return -1;
		}
	}
	if (optind < argc) {
		fprintf(stderr, "h2server: unexpected argument '%s'\n", argv[optind]);
		return -1;
	}
	if (opt->plain && (opt->cert || opt->key)) {
		fprintf(stderr, "h2server: --plain takes no --cert or --key\n");
		return -1;
	}
	if (!opt->plain && (!opt->cert || !opt->key)) {
		fprintf(stderr, "h2server: --cert and --key are required (or --plain)\n");
		return -1;
	}
	return 0;
}

static int alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
		       const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char h2[] = "\x02h2";

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto((unsigned char **)out, outlen, h2, sizeof(h2) - 1, in, inlen) !=
	    OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL; /* HTTP/2 is all this server speaks */
	return SSL_TLSEXT_ERR_OK;
}

/* The first error queued is the cause; the later ones only say who passed it up. */
static const char *ssl_reason(void)
{
	unsigned long e = ERR_peek_error();
	const char *reason;

	if (ERR_SYSTEM_ERROR(e))
		return strerror(ERR_GET_REASON(e));
	reason = ERR_reason_error_string(e);
	return reason ? reason : "unknown error";
}

static SSL_CTX *tls_context(const char *cert, const char *key)
{
	SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());

	if (!ctx) {
		fprintf(stderr, "h2server: cannot create TLS context: %s\n", ssl_reason());
		return NULL;
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
	/* The write loop may hand SSL_write a shorter or moved buffer after WANT_WRITE. */
	SSL_CTX_set_mode(ctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		fprintf(stderr, "h2server: %s: cannot load certificate: %s\n", cert, ssl_reason());
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		fprintf(stderr, "h2server: %s: cannot load private key: %s\n", key, ssl_reason());
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		fprintf(stderr, "h2server: %s: key does not match %s\n", key, cert);
		goto fail;
	}
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	return ctx;
fail:
	SSL_CTX_free(ctx);
	return NULL;
}

static void format_addr(const char *host, int port, char *buf, size_t len)
{
	bool v6 = strchr(host, ':') != NULL;

	snprintf(buf, len, "%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "", port);
}

/* One listener per worker; with several, SO_REUSEPORT lets the kernel spread connections. */
static int open_listeners(const struct options *opt, int *fds, int *port)
{
	struct addrinfo hints = {
		.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV,
		.ai_socktype = SOCK_STREAM,
	};
	struct sockaddr_storage bound;
	socklen_t bound_len;
	struct addrinfo *ai = NULL;
	char service[8], where[128];
	int one = 1, rc = -1, gai;

	snprintf(service, sizeof(service), "%d", opt->port);
	format_addr(opt->addr, opt->port, where, sizeof(where));
	gai = getaddrinfo(opt->addr, service, &hints, &ai);
	if (gai != 0) {
		fprintf(stderr, "h2server: %s: %s\n", opt->addr, gai_strerror(gai));
		return -1;
	}
	memcpy(&bound, ai->ai_addr, ai->ai_addrlen);
	bound_len = ai->ai_addrlen;
	for (int i = 0; i < opt->threads; i++) {
		int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

		if (fd < 0) {
			fprintf(stderr, "h2server: socket: %s\n", strerror(errno));
			goto cleanup;
		}
		fds[i] = fd;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (opt->threads > 1 && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
			fprintf(stderr, "h2server: SO_REUSEPORT: %s\n", strerror(errno));
			goto cleanup;
		}
		if (bind(fd, (struct sockaddr *)&bound, bound_len) < 0) {
			fprintf(stderr, "h2server: cannot bind %s: %s\n", where, strerror(errno));
			goto cleanup;
		}
		if (listen(fd, SOMAXCONN) < 0) {
			fprintf(stderr, "h2server: cannot listen on %s: %s\n", where, strerror(errno));
			goto cleanup;
		}
		if (i > 0)
			continue;
		/* The first bind settles the port (port 0 picks one); the others reuse it. */
		bound_len = sizeof(bound);
		if (getsockname(fd, (struct sockaddr *)&bound, &bound_len) < 0) {
			fprintf(stderr, "h2server: getsockname: %s\n", strerror(errno));
			goto cleanup;
		}
	}
	*port = bound.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&bound)->sin6_port)
					    : ntohs(((struct sockaddr_in *)&bound)->sin_port);
	rc = 0;
cleanup:
	freeaddrinfo(ai);
	return rc;
}

static int run_worker(struct worker *w)
{
	char err[256];

	if (worker_run(w, err, sizeof(err)) == 0)
		return 0;
	fprintf(stderr, "h2server: %s\n", err);
	kill(getpid(), SIGTERM); /* stop the other workers too */
	return -1;
}

static void *thread_main(void *arg)
{
	struct thread *t = arg;

	t->rc = run_worker(t->worker);
	return NULL;
}

int main(int argc, char **argv)
{
	struct options opt = { .addr = "127.0.0.1", .port = 8443, .threads = 1 };
	struct echo_service svc = { 0 };
	struct server_config cfg = { .stats_fd = -1 };
	struct thread *threads = NULL;
	int *listen_fds = NULL;
	int stop_fd = -1, port = 0, status = 1, started = 1;
	sigset_t stop_signals, stats_signal;
	char err[256];

	if (echo_service_init(&svc, err, sizeof(err)) < 0) {
		fprintf(stderr, "h2server: %s\n", err);
		return 1;
	}
	switch (parse_args(argc, argv, &opt, &svc)) {
	case 1:
		status = 0;
		goto cleanup;
	case -1:
		status = 2;
		goto cleanup;
	}

	/* Threads inherit this mask, so SIGINT/SIGTERM stay pending and show up on the signalfd
	 * that every worker's epoll watches; SIGUSR1 on another, which the first worker to see
	 * it reads. */
	sigemptyset(&stop_signals);
	sigaddset(&stop_signals, SIGINT);
	sigaddset(&stop_signals, SIGTERM);
	sigemptyset(&stats_signal);
	sigaddset(&stats_signal, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &stop_signals, NULL);
	pthread_sigmask(SIG_BLOCK, &stats_signal, NULL);
	signal(SIGPIPE, SIG_IGN); /* a peer gone mid-write is an error return, not our death */
	stop_fd = signalfd(-1, &stop_signals, SFD_NONBLOCK | SFD_CLOEXEC);
	cfg.stats_fd = signalfd(-1, &stats_signal, SFD_NONBLOCK | SFD_CLOEXEC);
	if (stop_fd < 0 || cfg.stats_fd < 0) {
		fprintf(stderr, "h2server: signalfd: %s\n", strerror(errno));
		goto cleanup;
	}

	cfg.ssl_ctx = opt.plain ? NULL : tls_context(opt.cert, opt.key);
	if (!opt.plain && !cfg.ssl_ctx)
		goto cleanup;
	cfg.echo = &svc;
	cfg.verbose = opt.verbose;
	cfg.lax_headers = opt.lax_headers;

	listen_fds = malloc(opt.threads * sizeof(*listen_fds));
	threads = calloc(opt.threads, sizeof(*threads));
	if (!listen_fds || !threads) {
		fprintf(stderr, "h2server: out of memory\n");
		goto cleanup;
	}
	for (int i = 0; i < opt.threads; i++)
		listen_fds[i] = -1;
	if (open_listeners(&opt, listen_fds, &port) < 0)
		goto cleanup;
	for (int i = 0; i < opt.threads; i++) {
		threads[i].worker = worker_new(&cfg, listen_fds[i], stop_fd, err, sizeof(err));
		if (!threads[i].worker) {
			fprintf(stderr, "h2server: %s\n", err);
			goto cleanup;
		}
	}
	format_addr(opt.addr, port, err, sizeof(err));
	printf("listening on %s\n", err);
	fflush(stdout);

	/* Worker 0 runs on the main thread, so the default is one thread in all. */
	for (; started < opt.threads; started++) {
		int rc = pthread_create(&threads[started].tid, NULL, thread_main, &threads[started]);

		if (rc != 0) {
			fprintf(stderr, "h2server: cannot start thread: %s\n", strerror(rc));
			threads[0].rc = -1;
			kill(getpid(), SIGTERM);
			break;
		}
	}
	if (threads[0].rc == 0)
		threads[0].rc = run_worker(threads[0].worker);
	status = 0;
	for (int i = 0; i < started; i++) {
		if (i > 0)
			pthread_join(threads[i].tid, NULL);
		if (threads[i].rc != 0)
			status = 1;
	}

cleanup:
	for (int i = 0; threads && i < opt.threads; i++)
		worker_free(threads[i].worker);
	for (int i = 0; listen_fds && i < opt.threads; i++)
		if (listen_fds[i] >= 0)
			close(listen_fds[i]);
	free(threads);
	free(listen_fds);
	SSL_CTX_free(cfg.ssl_ctx);
	if (stop_fd >= 0)
		close(stop_fd);
	if (cfg.stats_fd >= 0)
		close(cfg.stats_fd);
	echo_service_fini(&svc);
	return status;
}
