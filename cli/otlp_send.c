#include "otlp_send.h"
#include "http_post.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RETRIES 5
#define BACKOFF_MS 250     /* doubled on each retry */
#define TIMEOUT_S 10

struct item {
	struct ls_otlp_span span;
	char service[128], exe_name[64];
	int pid;
};

struct otlp_sender {
	char url[2048];
	char host[256];
	otlp_log_fn log;
	void *ctx;
	CURL *curl;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int stop;                  /* under lock; read by the thread alone with __atomic */
	int give_up;               /* stopping and the collector is down: drop the rest */
	struct item *queue;        /* a ring of OTLP_QUEUE */
	size_t head, n;
	struct item *batch;        /* the thread's: OTLP_BATCH */
	struct ls_otlp_resource res[OTLP_BATCH];
	struct otlp_stats st;
};

static void say(struct otlp_sender *s, const char *event, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void say(struct otlp_sender *s, const char *event, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s->log(s->ctx, event, msg);
}

/* One POST of a batch; the HTTP status, 0 when unreachable (logged). */
static long post(struct otlp_sender *s, const char *body, size_t len)
{
	/* Stopping: what is queued gets one short try, so that exit is never long. */
	long timeout = __atomic_load_n(&s->stop, __ATOMIC_RELAXED) ? 2L : (long)TIMEOUT_S;
	char err[512] = "";
	long code = http_post(s->curl, s->url, "application/json", body, len, timeout, err, sizeof(err));

	if (!code)
		say(s, "otlp", "%s", err);
	return code;
}

/* The batch as one request body: resources are the distinct processes. */
static char *encode(struct otlp_sender *s, size_t n, size_t *len)
{
	struct ls_otlp_span spans[OTLP_BATCH];
	size_t nres = 0;
	char *body = NULL;
	FILE *f;

	for (size_t i = 0; i < n; i++) {
		struct item *it = &s->batch[i];
		size_t r;

		for (r = 0; r < nres && (s->res[r].pid != it->pid || strcmp(s->res[r].service, it->service)); r++)
			;
		if (r == nres)
			s->res[nres++] = (struct ls_otlp_resource){ .service = it->service, .host = s->host,
								    .exe_name = it->exe_name, .pid = it->pid };
		spans[i] = it->span;
		spans[i].resource = (unsigned int)r;
	}
	f = open_memstream(&body, len);
	if (!f)
		return NULL;
	ls_otlp_write(f, s->res, nres, spans, n);
	if (fclose(f)) {
		free(body);
		return NULL;
	}
	return body;
}

/* Send one batch, retrying while the collector is busy (once only when stopping). */
static void send_batch(struct otlp_sender *s, size_t n)
{
	size_t len = 0;
	char *body = encode(s, n, &len);
	long code = 0;

	if (!body) {
		s->st.failed += n;
		return;
	}
	for (int k = 0; k < RETRIES; k++) {
		code = post(s, body, len);
		if (!http_busy(code) || __atomic_load_n(&s->stop, __ATOMIC_RELAXED))
			break;
		pthread_mutex_lock(&s->lock);
		s->st.retries++;
		pthread_mutex_unlock(&s->lock);
		usleep((useconds_t)(BACKOFF_MS << k) * 1000);
	}
	free(body);
	pthread_mutex_lock(&s->lock);
	if (code >= 200 && code < 300) {
		s->st.sent += n;
	} else if (http_busy(code)) {
		s->st.failed += n;
		s->give_up = s->stop;
		say(s, "otlp", "%zu spans dropped: the collector stayed busy or unreachable (last status %ld)", n, code);
	} else {
		s->st.rejected += n;
		say(s, "otlp", "%zu spans dropped: the collector answered %ld", n, code);
	}
	pthread_mutex_unlock(&s->lock);
}

static void *run(void *arg)
{
	struct otlp_sender *s = arg;

	pthread_mutex_lock(&s->lock);
	for (;;) {
		struct timespec until;
		size_t n = 0;

		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += 1;
		while (!s->stop && s->n < OTLP_BATCH)
			if (pthread_cond_timedwait(&s->wake, &s->lock, &until) == ETIMEDOUT)
				break;
		if (s->give_up) {
			s->st.failed += s->n;
			s->n = 0;
			break;
		}
		while (n < OTLP_BATCH && s->n) {
			s->batch[n++] = s->queue[s->head];
			s->head = (s->head + 1) % OTLP_QUEUE;
			s->n--;
		}
		if (!n && s->stop)
			break;
		pthread_mutex_unlock(&s->lock);
		if (n)
			send_batch(s, n);
		pthread_mutex_lock(&s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

int otlp_sender_new(const char *endpoint, otlp_log_fn log, void *ctx, struct otlp_sender **out)
{
	struct otlp_sender *s = calloc(1, sizeof(*s));
	size_t n = strlen(endpoint);

	*out = NULL;
	if (!s)
		return -ENOMEM;
	s->log = log;
	s->ctx = ctx;
	while (n && endpoint[n - 1] == '/')
		n--;
	if (strncmp(endpoint, "http://", 7) && strncmp(endpoint, "https://", 8)) {
		say(s, "error", "invalid OTLP endpoint '%s' (http://HOST:PORT or https://...)", endpoint);
		free(s);
		return -EINVAL;
	}
	if (n + sizeof("/v1/traces") > sizeof(s->url)) {
		say(s, "error", "OTLP endpoint too long");
		free(s);
		return -EINVAL;
	}
	snprintf(s->url, sizeof(s->url), "%.*s/v1/traces", (int)n, endpoint);
	if (gethostname(s->host, sizeof(s->host)))
		snprintf(s->host, sizeof(s->host), "unknown");
	s->queue = calloc(OTLP_QUEUE, sizeof(*s->queue));
	s->batch = calloc(OTLP_BATCH, sizeof(*s->batch));
	if (!s->queue || !s->batch || curl_global_init(CURL_GLOBAL_DEFAULT) || !(s->curl = curl_easy_init())) {
		free(s->queue);
		free(s->batch);
		free(s);
		return -ENOMEM;
	}
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->wake, NULL);
	if (pthread_create(&s->thread, NULL, run, s)) {
		curl_easy_cleanup(s->curl);
		free(s->queue);
		free(s->batch);
		free(s);
		return -EAGAIN;
	}
	*out = s;
	return 0;
}

void otlp_sender_add(struct otlp_sender *s, const struct ls_otlp_span *sp, const char *service, const char *exe_name,
		     int pid)
{
	struct item *it;

	pthread_mutex_lock(&s->lock);
	if (s->n == OTLP_QUEUE) {
		s->st.queue_full++;
		pthread_mutex_unlock(&s->lock);
		return;
	}
	it = &s->queue[(s->head + s->n++) % OTLP_QUEUE];
	it->span = *sp;
	snprintf(it->service, sizeof(it->service), "%s", service);
	snprintf(it->exe_name, sizeof(it->exe_name), "%s", exe_name);
	it->pid = pid;
	if (s->n >= OTLP_BATCH)
		pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
}

void otlp_sender_stats(struct otlp_sender *s, struct otlp_stats *out)
{
	pthread_mutex_lock(&s->lock);
	*out = s->st;
	pthread_mutex_unlock(&s->lock);
}

void otlp_sender_free(struct otlp_sender *s)
{
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	__atomic_store_n(&s->stop, 1, __ATOMIC_RELAXED);
	pthread_cond_signal(&s->wake);
	pthread_mutex_unlock(&s->lock);
	/* Bounded: each queued batch gets one try of at most 2 s, none once the collector failed one. */
	pthread_join(s->thread, NULL);
	curl_easy_cleanup(s->curl);
	curl_global_cleanup();
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->wake);
	free(s->queue);
	free(s->batch);
	free(s);
}
