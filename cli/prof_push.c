#include "prof_push.h"
#include "http_post.h"
#include "parca.h"

#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define RETRIES 3
#define BACKOFF_MS 500
#define TIMEOUT_S 10

struct item {
	uint8_t *pprof;
	size_t len;
	char name[64], service[128], comm[64];
	int pid;
	uint64_t from_s, until_s;
	unsigned int hz;
};

struct prof_pusher {
	enum prof_dest dest;
	char base[2048], host[256];
	prof_log_fn log;
	void *ctx;
	CURL *curl;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t wake;
	int stop, give_up;
	struct item queue[PROF_QUEUE];
	size_t head, n;
	struct prof_stats st;
};

static void say(struct prof_pusher *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(struct prof_pusher *p, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	p->log(p->ctx, p->dest == PROF_PARCA ? "parca" : "pyroscope", msg);
}

static long push_api(struct prof_pusher *p, const struct item *it, long timeout)
{
	struct ls_pyro_series s = { it->name, it->service, it->comm, p->host, it->pid };
	char url[2200], id[37], err[512] = "", *body = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&body, &len);
	long code;

	if (!f)
		return 0;
	ls_pyro_uuid(id);
	ls_pyro_push_json(f, &s, id, it->pprof, it->len);
	if (fclose(f)) {
		free(body);
		return 0;
	}
	snprintf(url, sizeof(url), "%s/push.v1.PusherService/Push", p->base);
	code = http_post(p->curl, url, "application/json", body, len, timeout, err, sizeof(err));
	if (!code)
		say(p, "%s", err);
	free(body);
	return code;
}

static long ingest(struct prof_pusher *p, const struct item *it, long timeout)
{
	struct ls_pyro_series s = { it->name, it->service, it->comm, p->host, it->pid };
	char name[512], url[4096], err[512] = "", *esc;
	long code;

	ls_pyro_ingest_name(name, sizeof(name), &s);
	esc = curl_easy_escape(p->curl, name, 0);
	if (!esc)
		return 0;
	snprintf(url, sizeof(url), "%s/ingest?name=%s&from=%llu&until=%llu&format=pprof&sampleRate=%u&spyName=latscope",
		 p->base, esc, (unsigned long long)it->from_s, (unsigned long long)it->until_s, it->hz);
	curl_free(esc);
	code = http_post(p->curl, url, "application/octet-stream", it->pprof, it->len, timeout, err, sizeof(err));
	if (!code)
		say(p, "%s", err);
	return code;
}

/*
 * Parca's WriteRaw, its gRPC status as an HTTP one: OK 200; UNAVAILABLE and
 * RESOURCE_EXHAUSTED busy (503); others refused (400, logged).
 */
static long write_raw(struct prof_pusher *p, const struct item *it, long timeout)
{
	struct ls_pyro_series s = { it->name, it->service, it->comm, p->host, it->pid };
	char url[2200], err[512] = "";
	uint8_t *body;
	size_t len;
	int gs;
	long code;

	if (ls_parca_write_raw(&s, it->pprof, it->len, &body, &len))
		return 0;
	snprintf(url, sizeof(url), "%s%s", p->base, LS_PARCA_WRITE_RAW);
	code = http_post_grpc(p->curl, url, body, len, timeout, &gs, err, sizeof(err));
	free(body);
	if (!code) {
		say(p, "%s", err);
		return 0;
	}
	if (code == 200 && gs == 0)
		return 200;
	if (code == 200 && (gs == 14 || gs == 8))
		return 503;
	say(p, "WriteRaw: HTTP %ld, grpc-status %d", code, gs);
	return code == 200 ? 400 : code;
}

/* One profile through whichever API the server has; the status of the last try. */
static long push_once(struct prof_pusher *p, const struct item *it, long timeout)
{
	long code;

	if (p->dest == PROF_PARCA)
		return write_raw(p, it, timeout);
	if (!p->st.legacy) {
		code = push_api(p, it, timeout);
		if (code != 404)
			return code;
		pthread_mutex_lock(&p->lock);
		p->st.legacy = 1;
		pthread_mutex_unlock(&p->lock);
		say(p, "%s has no push API (404): using /ingest?format=pprof", p->base);
	}
	return ingest(p, it, timeout);
}

static void push(struct prof_pusher *p, struct item *it)
{
	int stopping = __atomic_load_n(&p->stop, __ATOMIC_RELAXED);
	long code = 0;

	for (int k = 0; k < RETRIES; k++) {
		code = push_once(p, it, stopping ? 2L : (long)TIMEOUT_S);
		if (!http_busy(code) || stopping)
			break;
		pthread_mutex_lock(&p->lock);
		p->st.retries++;
		pthread_mutex_unlock(&p->lock);
		usleep((useconds_t)(BACKOFF_MS << k) * 1000);
	}
	pthread_mutex_lock(&p->lock);
	if (code >= 200 && code < 300) {
		p->st.pushed++;
	} else if (http_busy(code)) {
		p->st.failed++;
		p->give_up = stopping;
		say(p, "profile of pid %d dropped: the server stayed busy or unreachable (last status %ld)", it->pid, code);
	} else {
		p->st.rejected++;
		say(p, "profile of pid %d dropped: the server answered %ld", it->pid, code);
	}
	pthread_mutex_unlock(&p->lock);
}

static void *run(void *arg)
{
	struct prof_pusher *p = arg;

	pthread_mutex_lock(&p->lock);
	for (;;) {
		struct item it;

		while (!p->stop && !p->n)
			pthread_cond_wait(&p->wake, &p->lock);
		if (!p->n || p->give_up) {
			p->st.failed += p->n;
			while (p->n) {
				free(p->queue[p->head].pprof);
				p->head = (p->head + 1) % PROF_QUEUE;
				p->n--;
			}
			break;
		}
		it = p->queue[p->head];
		p->head = (p->head + 1) % PROF_QUEUE;
		p->n--;
		pthread_mutex_unlock(&p->lock);
		push(p, &it);
		free(it.pprof);
		pthread_mutex_lock(&p->lock);
	}
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

int prof_pusher_new(enum prof_dest dest, const char *url, prof_log_fn log, void *ctx, struct prof_pusher **out)
{
	struct prof_pusher *p = calloc(1, sizeof(*p));
	size_t n = strlen(url);

	*out = NULL;
	if (!p)
		return -ENOMEM;
	p->dest = dest;
	p->log = log;
	p->ctx = ctx;
	while (n && url[n - 1] == '/')
		n--;
	if (n >= sizeof(p->base)) {
		say(p, "URL too long");
		free(p);
		return -EINVAL;
	}
	memcpy(p->base, url, n);
	if (gethostname(p->host, sizeof(p->host)))
		snprintf(p->host, sizeof(p->host), "unknown");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) || !(p->curl = curl_easy_init())) {
		free(p);
		return -ENOMEM;
	}
	pthread_mutex_init(&p->lock, NULL);
	pthread_cond_init(&p->wake, NULL);
	if (pthread_create(&p->thread, NULL, run, p)) {
		curl_easy_cleanup(p->curl);
		free(p);
		return -EAGAIN;
	}
	*out = p;
	return 0;
}

void prof_pusher_add(struct prof_pusher *p, const struct ls_pyro_series *s, const uint8_t *pprof, size_t len,
		     uint64_t from_s, uint64_t until_s, unsigned int hz)
{
	struct item it = { .len = len, .pid = s->pid, .from_s = from_s, .until_s = until_s, .hz = hz };

	snprintf(it.name, sizeof(it.name), "%s", s->name);
	snprintf(it.service, sizeof(it.service), "%s", s->service);
	snprintf(it.comm, sizeof(it.comm), "%s", s->comm);
	pthread_mutex_lock(&p->lock);
	if (p->n == PROF_QUEUE || !(it.pprof = malloc(len ? len : 1))) {
		p->st.queue_full++;
		pthread_mutex_unlock(&p->lock);
		return;
	}
	memcpy(it.pprof, pprof, len);
	p->queue[(p->head + p->n++) % PROF_QUEUE] = it;
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
}

void prof_pusher_stats(struct prof_pusher *p, struct prof_stats *out)
{
	pthread_mutex_lock(&p->lock);
	*out = p->st;
	pthread_mutex_unlock(&p->lock);
}

void prof_pusher_free(struct prof_pusher *p)
{
	if (!p)
		return;
	pthread_mutex_lock(&p->lock);
	__atomic_store_n(&p->stop, 1, __ATOMIC_RELAXED);
	pthread_cond_signal(&p->wake);
	pthread_mutex_unlock(&p->lock);
	pthread_join(p->thread, NULL);
	curl_easy_cleanup(p->curl);
	curl_global_cleanup();
	pthread_mutex_destroy(&p->lock);
	pthread_cond_destroy(&p->wake);
	free(p);
}
