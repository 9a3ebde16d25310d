#include "bounds.h"
#include "requests.h"
#include "placement.h"
#include "gofunc.h"
#include "reqstacks.h"
#include "session_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "latscope.skel.h"

static const struct ls_map_limit map_limits[] = {
	{ "targets", "refused at start: at most 8 pids (LS_MAX_TARGETS)", -1 },
	{ "threads", "a new thread's calls are not tracked; ended threads are deleted", LS_CNT_THREAD_FULL },
	{ "proto_pairs", "fixed: a slot per target", -1 },
	{ "conns", "least recently used evicted (its framing restarts as joined); freed at SSL_free", -1 },
	{ "sessions", "least recently used evicted; freed at nghttp2_session_del", -1 },
	{ "reqs", "least recently used evicted (it never finishes); a failed insert counted", LS_CNT_REQ_TABLE_FULL },
	{ "ssl_fds", "least recently used evicted (that call is taken as memory-BIO); freed at SSL_free", -1 },
	{ "hs_start", "least recently used evicted (no handshake span); freed at SSL_free", -1 },
	{ "sys_calls", "not stored (no fd for that call); ended threads are deleted", LS_CNT_TABLE_FULL },
	{ "net_calls", "not stored (that kernel call is not timed); ended threads are deleted", LS_CNT_TABLE_FULL },
	{ "stats", "fixed: a slot per probe id", -1 },
	{ "phase_stats", "fixed: a slot per target and phase", -1 },
	{ "counters", "fixed: a slot per counter", -1 },
	{ "hd_scratch", "fixed: per CPU", -1 },
	{ "events", "records dropped, counted", LS_CNT_RB_DROPS },
	{ "go_offs", "fixed: a slot per target", -1 },
	{ "h2_infl", "fixed: a slot per target", -1 },
	{ "go_transports", "least recently used evicted (streams of that connection unnamed by grpc-go)", -1 },
	{ "go_serving", "least recently used evicted (that handler's decode and encode unmatched)", -1 },
	{ "gthreads", "least recently used evicted (goroutine exits are not seen)", -1 },
	{ "gcur", "not stored (kernel time of that goroutine lost); ended threads are deleted", LS_CNT_TABLE_FULL },
	{ "handoff", "fixed: per CPU", -1 },
	{ "tails", "fixed: the walk program", -1 },
	{ "walk_scratch", "fixed: per CPU", -1 },
	{ "h1_scratch", "fixed: per CPU", -1 },
	{ "rx_socks", "least recently used evicted (queue unknown for that socket)", -1 },
	{ "sio_socks", "least recently used evicted (that fd is classified again by its next read: mid-flight, so not h2c); deleted at close()", -1 },
	{ "sio_gen", "fixed: one counter", -1 },
	{ "sio_scratch", "fixed: per CPU", -1 },
	{ "stacks", "stack not captured", LS_CNT_STACK_LOST },
	{ "samples", "sample not aggregated", LS_CNT_SAMPLE_LOST },
	{ "offcpu", "off-CPU time not aggregated", LS_CNT_SAMPLE_LOST },
	{ "offstart", "blocked time of that thread not measured; ended threads are deleted", -1 },
	{ "ustack_buf", "fixed: per CPU (--call-graph dwarf)", -1 },
	{ "xranges", "fixed: a slot per target; ranges past its 64 are taken as frame-pointer code, counted", -1 },
};

static const struct ls_user_limit user_limits[] = {
	{ "header block", LS_REQS_BLOCK_MAX, "longer blocks are not decoded: that connection's names are lost" },
	{ "streams per connection", LS_REQS_STREAMS_MAX, "past 3/4 full, the oldest stream is forgotten (its request, if it comes, unnamed)" },
	{ "methods", LS_REQS_METHODS_MAX, "further pid x method rows go to \"(other)\"" },
	{ "call sites per function", LS_PLACE_MAX_CALLSITES, "the function keeps its entry probe" },
	{ "Go RET sites per function", LS_GO_MAX_RETS, "the function is not probed (said by probes -v)" },
	{ "per-request samples kept", LS_RSTACKS_KEEP, "the oldest go; a request older than them says truncated" },
	{ "per-request off-CPU intervals kept", LS_RSTACKS_KEEP, "the oldest go; a request older than them says truncated" },
	{ "finished requests kept for sharing", LS_RSTACKS_REQS, "the oldest go: overlap with them is not seen" },
	{ "per-request aggregate keys", LS_SAGG_MAX, "a new stack's samples are counted lost, not kept" },
};

const struct ls_map_limit *ls_map_limits(size_t *n)
{
	*n = sizeof(map_limits) / sizeof(map_limits[0]);
	return map_limits;
}

const struct ls_map_limit *ls_map_limit(const char *map)
{
	for (size_t i = 0; i < sizeof(map_limits) / sizeof(map_limits[0]); i++)
		if (!strcmp(map_limits[i].map, map))
			return &map_limits[i];
	return NULL;
}

const struct ls_user_limit *ls_user_limits(size_t *n)
{
	*n = sizeof(user_limits) / sizeof(user_limits[0]);
	return user_limits;
}

static const char *map_type(enum bpf_map_type t)
{
	const char *name = libbpf_bpf_map_type_str(t);

	return name ? name : "?";
}

/* Keys present now, walked with a key buffer as large as the map's keys. */
static int64_t count_keys(const struct bpf_map *m)
{
	size_t ksz = bpf_map__key_size(m);
	char *a = calloc(2, ksz ? ksz : 1), *prev = NULL, *next = a + ksz;
	int fd = bpf_map__fd(m);
	int64_t n = 0;

	if (!a)
		return -1;
	while (bpf_map_get_next_key(fd, prev, next) == 0) {
		n++;
		memcpy(a, next, ksz);
		prev = a;
	}
	free(a);
	return n;
}

static int counted(enum bpf_map_type t)
{
	return t == BPF_MAP_TYPE_HASH || t == BPF_MAP_TYPE_LRU_HASH || t == BPF_MAP_TYPE_PERCPU_HASH ||
	       t == BPF_MAP_TYPE_LRU_PERCPU_HASH || t == BPF_MAP_TYPE_STACK_TRACE;
}

int ls_session_maps(struct ls_session *s, struct ls_map_use *out, size_t max, size_t *n)
{
	struct bpf_map *m;

	*n = 0;
	if (!s->skel)
		return ls_err(s->err, EINVAL, "session not started");
	bpf_object__for_each_map(m, s->skel->obj) {
		struct ls_map_use *u;
		enum bpf_map_type t = bpf_map__type(m);

		/* Global-variable sections are maps too, not tables. */
		if (strchr(bpf_map__name(m), '.'))
			continue;
		if (*n >= max)
			return ls_err(s->err, ENOSPC, "more than %zu maps", max);
		u = &out[(*n)++];
		memset(u, 0, sizeof(*u));
		snprintf(u->name, sizeof(u->name), "%s", bpf_map__name(m));
		u->type = map_type(t);
		u->capacity = bpf_map__max_entries(m);
		u->entries = counted(t) ? count_keys(m) : -1;
		u->limit = ls_map_limit(u->name);
		if (u->limit && u->limit->counter >= 0)
			u->lost = ls_session_counter(s, (enum ls_counter)u->limit->counter);
	}
	return 0;
}
