#include "feature.h"

#include <errno.h>
#include <string.h>

static const struct {
	const char *name, *what;
} features[LS_FEAT_COUNT] = {
	[LS_FEAT_SYSCALLS] = { "syscalls", "socket fds of TLS calls" },
	[LS_FEAT_NET] = { "net", "kernel network time (net_in, net_out)" },
	[LS_FEAT_QUEUE] = { "queue", "time requests waited in the socket (queue)" },
	[LS_FEAT_CALLS] = { "calls", "TLS, HTTP/2 library and protobuf calls of C and C++ code" },
	[LS_FEAT_WALK] = { "http2", "requests: HTTP/2 framing, request phases and names" },
	[LS_FEAT_GO] = { "go", "Go code: crypto/tls, x/net/http2, protobuf, grpc-go" },
	[LS_FEAT_SAMPLER] = { "sampler", "CPU samples" },
	[LS_FEAT_OFFCPU] = { "offcpu", "off-CPU time" },
	[LS_FEAT_SOCKIO] = { "sockio", "plaintext HTTP/2 (h2c) read from socket syscalls" },
};

/* Which group (and kernel hook variant) each program of bpf/ belongs to. */
static const struct {
	const char *prog;
	enum ls_feature f;
	enum ls_khook h;
} progs[] = {
	{ "sys_enter", LS_FEAT_SYSCALLS, LS_KHOOK_NONE }, { "thread_exit", LS_FEAT_SYSCALLS, LS_KHOOK_NONE },
	{ "sock_closed", LS_FEAT_SYSCALLS, LS_KHOOK_NONE },
	{ "fe_send", LS_FEAT_NET, LS_KHOOK_FENTRY }, { "fx_send", LS_FEAT_NET, LS_KHOOK_FENTRY },
	{ "fe_recv", LS_FEAT_NET, LS_KHOOK_FENTRY }, { "fx_recv", LS_FEAT_NET, LS_KHOOK_FENTRY },
	{ "kp_send", LS_FEAT_NET, LS_KHOOK_KPROBE }, { "kr_send", LS_FEAT_NET, LS_KHOOK_KPROBE },
	{ "kp_recv", LS_FEAT_NET, LS_KHOOK_KPROBE }, { "kr_recv", LS_FEAT_NET, LS_KHOOK_KPROBE },
	{ "tp_send", LS_FEAT_NET, LS_KHOOK_TRACEPOINT }, { "tp_recv", LS_FEAT_NET, LS_KHOOK_TRACEPOINT },
	{ "fe_ready", LS_FEAT_QUEUE, LS_KHOOK_FENTRY }, { "kp_ready", LS_FEAT_QUEUE, LS_KHOOK_KPROBE },
	{ "tp_ready", LS_FEAT_QUEUE, LS_KHOOK_TRACEPOINT },
	{ "probe_enter", LS_FEAT_CALLS, LS_KHOOK_NONE }, { "probe_exit", LS_FEAT_CALLS, LS_KHOOK_NONE },
	{ "probe_exit_lib", LS_FEAT_CALLS, LS_KHOOK_NONE }, { "cs_enter", LS_FEAT_CALLS, LS_KHOOK_NONE },
	{ "cs_exit", LS_FEAT_CALLS, LS_KHOOK_NONE }, { "cs_exit_lib", LS_FEAT_CALLS, LS_KHOOK_NONE },
	{ "tls_walk", LS_FEAT_WALK, LS_KHOOK_NONE },
	{ "go_enter", LS_FEAT_GO, LS_KHOOK_NONE }, { "go_ret", LS_FEAT_GO, LS_KHOOK_NONE },
	{ "go_ret_lib", LS_FEAT_GO, LS_KHOOK_NONE }, { "go_grpc_enter", LS_FEAT_GO, LS_KHOOK_NONE },
	{ "go_grpc_ret", LS_FEAT_GO, LS_KHOOK_NONE },
	{ "on_cpu_sample", LS_FEAT_SAMPLER, LS_KHOOK_NONE },
	{ "on_switch", LS_FEAT_OFFCPU, LS_KHOOK_NONE },
	{ "on_wakeup", LS_FEAT_OFFCPU, LS_KHOOK_NONE },
	{ "sio_exit", LS_FEAT_SOCKIO, LS_KHOOK_NONE },
};

const char *ls_feature_name(enum ls_feature f)
{
	return f < LS_FEAT_COUNT ? features[f].name : "none";
}

const char *ls_feature_what(enum ls_feature f)
{
	return f < LS_FEAT_COUNT ? features[f].what : "";
}

int ls_feature_parse(const char *name, enum ls_feature *out)
{
	for (int f = 0; f < LS_FEAT_COUNT; f++) {
		if (!strcmp(features[f].name, name)) {
			*out = (enum ls_feature)f;
			return 0;
		}
	}
	return -EINVAL;
}

enum ls_feature ls_feature_of_prog(const char *prog)
{
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++)
		if (!strcmp(progs[i].prog, prog))
			return progs[i].f;
	return LS_FEAT_COUNT;
}

enum ls_khook ls_khook_of_prog(const char *prog)
{
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++)
		if (!strcmp(progs[i].prog, prog))
			return progs[i].h;
	return LS_KHOOK_NONE;
}
