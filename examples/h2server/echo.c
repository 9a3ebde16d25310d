#include "echo.h"

#include <errno.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

#include "echo.pb-c.h"

const struct echo_method echo_methods[ECHO_NMETHODS] = {
	{ "Fast", "/latscope.example.Echo/Fast", { 0, 0, 0, 0, 0 } },
	{ "Slow", "/latscope.example.Echo/Slow", { .sleep_ms = 20 } },
	{ "Big", "/latscope.example.Echo/Big", { .resp_bytes = 1 << 20 } },
};

static const struct {
	const char *key;
	size_t offset;
	int64_t max;
} cost_keys[] = {
	{ "sleep", offsetof(struct echo_costs, sleep_ms), ECHO_MAX_SLEEP_MS },
	{ "burn", offsetof(struct echo_costs, burn_ms), ECHO_MAX_BURN_MS },
	{ "resp", offsetof(struct echo_costs, resp_bytes), ECHO_MAX_RESP_BYTES },
	{ "block", offsetof(struct echo_costs, block_ms), ECHO_MAX_BLOCK_MS },
	{ "spin", offsetof(struct echo_costs, spin_us), ECHO_MAX_SPIN_US },
};

int echo_service_init(struct echo_service *svc, char *err, size_t errlen)
{
	void *zeros;

	for (int i = 0; i < ECHO_NMETHODS; i++)
		svc->overrides[i] = (struct echo_costs){ -1, -1, -1, -1, -1 };
	/* Anonymous read-only pages all map the kernel's zero page: payloads of any size cost
	 * no memory, and packing one copies real bytes as a real server would. */
	zeros = mmap(NULL, ECHO_MAX_RESP_BYTES, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (zeros == MAP_FAILED) {
		snprintf(err, errlen, "cannot map payload buffer: %s", strerror(errno));
		return -1;
	}
	svc->zeros = zeros;
	return 0;
}

void echo_service_fini(struct echo_service *svc)
{
	if (svc->zeros)
		munmap((void *)svc->zeros, ECHO_MAX_RESP_BYTES);
	svc->zeros = NULL;
}

int echo_set_override(struct echo_service *svc, const char *spec, char *err, size_t errlen)
{
	const char *colon = strchr(spec, ':');
	struct echo_costs *costs = NULL;
	char *list, *item, *save;
	int rc = -1;

	for (int i = 0; colon && i < ECHO_NMETHODS; i++)
		if (strlen(echo_methods[i].name) == (size_t)(colon - spec) &&
		    strncmp(spec, echo_methods[i].name, colon - spec) == 0)
			costs = &svc->overrides[i];
	if (!costs) {
		snprintf(err, errlen, "--method %s: expected METHOD:KEY=N[,KEY=N...] with METHOD one of "
			 "Fast, Slow, Big", spec);
		return -1;
	}
	list = strdup(colon + 1);
	if (!list) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (item = strtok_r(list, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '='), *end;
		size_t k;
		long long v;

		for (k = 0; eq && k < sizeof(cost_keys) / sizeof(cost_keys[0]); k++)
			if (strlen(cost_keys[k].key) == (size_t)(eq - item) &&
			    strncmp(item, cost_keys[k].key, eq - item) == 0)
				break;
		if (!eq || k == sizeof(cost_keys) / sizeof(cost_keys[0])) {
			snprintf(err, errlen, "--method %s: unknown cost '%s' (sleep, burn, resp, block, spin)", spec, item);
			goto cleanup;
		}
		errno = 0;
		v = strtoll(eq + 1, &end, 10);
		if (errno || end == eq + 1 || *end || v < 0 || v > cost_keys[k].max) {
			snprintf(err, errlen, "--method %s: %s must be a number from 0 to %lld", spec,
				 cost_keys[k].key, (long long)cost_keys[k].max);
			goto cleanup;
		}
		*(int64_t *)((char *)costs + cost_keys[k].offset) = v;
	}
	rc = 0;
cleanup:
	free(list);
	return rc;
}

int echo_method_by_path(const char *path)
{
	for (int i = 0; i < ECHO_NMETHODS; i++)
		if (strcmp(path, echo_methods[i].path) == 0)
			return i;
	return -1;
}

/* Command line first, then the request, then the method's default. */
static int64_t pick(int64_t override, uint32_t requested, int64_t fallback)
{
	if (override >= 0)
		return override;
	return requested ? requested : fallback;
}

static enum grpc_status fail(struct echo_call *call, enum grpc_status status, const char *message)
{
	call->message = message;
	return status;
}

static enum grpc_status call_prepare(const struct echo_service *svc, int method, const uint8_t *body,
				     size_t len, struct echo_call *call)
{
	const struct echo_costs *over = &svc->overrides[method];
	const struct echo_costs *def = &echo_methods[method].defaults;
	Latscope__Example__EchoRequest *req;
	int64_t sleep_ms, burn_ms, resp_bytes;
	uint64_t sum = 0;
	uint32_t msg_len;

	if (len < 5)
		return fail(call, GRPC_INTERNAL, "missing request message");
	if (body[0] != 0)
		return fail(call, GRPC_UNIMPLEMENTED, "compressed messages are not supported");
	msg_len = (uint32_t)body[1] << 24 | (uint32_t)body[2] << 16 | (uint32_t)body[3] << 8 | body[4];
	if (msg_len != len - 5)
		return fail(call, GRPC_INTERNAL, "request is not exactly one message");

	req = latscope__example__echo_request__unpack(NULL, msg_len, body + 5);
	if (!req)
		return fail(call, GRPC_INTERNAL, "cannot decode request message");
	sleep_ms = pick(over->sleep_ms, req->sleep_ms, def->sleep_ms);
	burn_ms = pick(over->burn_ms, req->burn_ms, def->burn_ms);
	resp_bytes = pick(over->resp_bytes, req->resp_bytes, def->resp_bytes);
	call->values_count = req->n_values;
	for (size_t i = 0; i < req->n_values; i++)
		sum += (uint64_t)req->values[i]; /* unsigned: wraps instead of overflowing */
	call->values_sum = (int64_t)sum;
	latscope__example__echo_request__free_unpacked(req, NULL);

	if (sleep_ms > ECHO_MAX_SLEEP_MS)
		return fail(call, GRPC_INVALID_ARGUMENT, "sleep_ms too large");
	if (burn_ms > ECHO_MAX_BURN_MS)
		return fail(call, GRPC_INVALID_ARGUMENT, "burn_ms too large");
	if (resp_bytes > ECHO_MAX_RESP_BYTES)
		return fail(call, GRPC_INVALID_ARGUMENT, "resp_bytes too large");
	call->sleep_ms = (uint32_t)sleep_ms;
	call->resp_bytes = (uint32_t)resp_bytes;
	if (burn_ms)
		burn_cpu((uint64_t)burn_ms);
	/* Only from the command line, as block. */
	if (over->spin_us > 0)
		spin_cpu((uint64_t)over->spin_us);
	/* Only from the command line: requests arriving meanwhile wait in their sockets. */
	if (over->block_ms > 0)
		block_handler((uint64_t)over->block_ms);
	return GRPC_OK;
}

void echo_call_run(const struct echo_service *svc, int method, const uint8_t *body, size_t len,
		   struct echo_call *call)
{
	memset(call, 0, sizeof(*call));
	call->status = call_prepare(svc, method, body, len, call);
}

int echo_reply_encode(const struct echo_service *svc, const struct echo_call *call,
		      uint8_t **out, size_t *out_len)
{
	Latscope__Example__EchoReply reply = LATSCOPE__EXAMPLE__ECHO_REPLY__INIT;
	size_t msg_len;
	uint8_t *buf;

	reply.payload.data = (uint8_t *)svc->zeros;
	reply.payload.len = call->resp_bytes;
	reply.values_count = call->values_count;
	reply.values_sum = call->values_sum;
	msg_len = latscope__example__echo_reply__get_packed_size(&reply);
	buf = malloc(5 + msg_len);
	if (!buf)
		return -1;
	buf[0] = 0;
	buf[1] = (uint8_t)(msg_len >> 24);
	buf[2] = (uint8_t)(msg_len >> 16);
	buf[3] = (uint8_t)(msg_len >> 8);
	buf[4] = (uint8_t)msg_len;
	latscope__example__echo_reply__pack(&reply, buf + 5);
	*out = buf;
	*out_len = 5 + msg_len;
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/*
 * Blocks the calling thread (its event loop) in the nanosleep system call, made through
 * syscall(2) (a leaf) rather than libc's wrappers; out of line so stacks show a
 * block_handler frame.
 */
__attribute__((noinline)) void block_handler(uint64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000L };

	while (syscall(SYS_nanosleep, &ts, &ts) != 0 && errno == EINTR)
		;
}

/* Spin on the CPU until end (CLOCK_MONOTONIC), reading the clock every per_read rounds. */
static inline __attribute__((always_inline)) uint64_t spin_until(uint64_t end, int per_read)
{
	uint64_t x = 88172645463325252ull;

	do {
		for (int i = 0; i < per_read; i++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			__asm__ volatile("" : "+r"(x));
		}
	} while (now_ns() < end);
	return x;
}

/* A short spin, the clock read every few hundred nanoseconds: a request's own work. */
__attribute__((noinline)) uint64_t spin_cpu(uint64_t us)
{
	return spin_until(now_ns() + us * 1000ull, 64);
}

/* Kept out of line so profiles show a burn_cpu frame; the inner loop runs long between clock
 * reads so that samples land here rather than in the vDSO. */
__attribute__((noinline)) uint64_t burn_cpu(uint64_t ms)
{
	return spin_until(now_ns() + ms * 1000000ull, 4096);
}
