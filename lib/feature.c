#include "feature.h"

#include <string.h>

static const struct {
	const char *name, *what;
} features[LS_FEAT_COUNT] = {
	[LS_FEAT_NET] = { "net", "kernel network time (net_in, net_out) and socket fds" },
	[LS_FEAT_QUEUE] = { "queue", "time requests waited in the socket (queue)" },
	[LS_FEAT_CALLS] = { "calls", "TLS, HTTP/2 library and protobuf call timing" },
	[LS_FEAT_WALK] = { "http2", "requests: HTTP/2 framing, request phases and names" },
	[LS_FEAT_GO] = { "go", "Go targets (crypto/tls, x/net/http2, protobuf, grpc-go)" },
	[LS_FEAT_SAMPLER] = { "sampler", "CPU samples" },
	[LS_FEAT_OFFCPU] = { "offcpu", "off-CPU time" },
};

/* Which group each program of bpf/ belongs to. */
static const struct {
	const char *prog;
	enum ls_feature f;
} progs[] = {
	{ "fe_send", LS_FEAT_NET }, { "fx_send", LS_FEAT_NET }, { "fe_recv", LS_FEAT_NET }, { "fx_recv", LS_FEAT_NET },
	{ "kp_send", LS_FEAT_NET }, { "kr_send", LS_FEAT_NET }, { "kp_recv", LS_FEAT_NET }, { "kr_recv", LS_FEAT_NET },
	{ "tp_send", LS_FEAT_NET }, { "tp_recv", LS_FEAT_NET }, { "sys_enter", LS_FEAT_NET },
	{ "fe_ready", LS_FEAT_QUEUE }, { "kp_ready", LS_FEAT_QUEUE }, { "tp_ready", LS_FEAT_QUEUE },
	{ "probe_enter", LS_FEAT_CALLS }, { "probe_exit", LS_FEAT_CALLS }, { "probe_exit_lib", LS_FEAT_CALLS },
	{ "cs_enter", LS_FEAT_CALLS }, { "cs_exit", LS_FEAT_CALLS }, { "cs_exit_lib", LS_FEAT_CALLS },
	{ "tls_walk", LS_FEAT_WALK },
	{ "go_enter", LS_FEAT_GO }, { "go_ret", LS_FEAT_GO }, { "go_ret_lib", LS_FEAT_GO },
	{ "go_grpc_enter", LS_FEAT_GO }, { "go_grpc_ret", LS_FEAT_GO },
	{ "on_cpu_sample", LS_FEAT_SAMPLER },
	{ "on_switch", LS_FEAT_OFFCPU },
};

const char *ls_feature_name(enum ls_feature f)
{
	return f < LS_FEAT_COUNT ? features[f].name : "none";
}

const char *ls_feature_what(enum ls_feature f)
{
	return f < LS_FEAT_COUNT ? features[f].what : "";
}

enum ls_feature ls_feature_of_prog(const char *prog)
{
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++)
		if (!strcmp(progs[i].prog, prog))
			return progs[i].f;
	return LS_FEAT_COUNT;
}
