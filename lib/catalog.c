#include "catalog.h"

static const struct ls_catalog_entry catalog[] = {
	/* OpenSSL 1.1 / 3: libssl.so or statically linked into any executable. */
	{ "openssl", "SSL_read",         "tls", LS_PROBE_SSL_READ,         LS_ARG_SSL_RW,    LS_CAT_RETPROBE },
	{ "openssl", "SSL_write",        "tls", LS_PROBE_SSL_WRITE,        LS_ARG_SSL_RW,    LS_CAT_RETPROBE },
	{ "openssl", "SSL_read_ex",      "tls", LS_PROBE_SSL_READ_EX,      LS_ARG_SSL_RW_EX, LS_CAT_RETPROBE },
	{ "openssl", "SSL_write_ex",     "tls", LS_PROBE_SSL_WRITE_EX,     LS_ARG_SSL_RW_EX, LS_CAT_RETPROBE },
	{ "openssl", "SSL_do_handshake", "tls", LS_PROBE_SSL_DO_HANDSHAKE, LS_ARG_SSL_HS,    LS_CAT_RETPROBE },
	/* SSL_accept/SSL_connect call SSL_do_handshake: the nested call is folded into them. */
	{ "openssl", "SSL_accept",       "tls", LS_PROBE_SSL_ACCEPT,       LS_ARG_SSL_HS,    LS_CAT_RETPROBE },
	{ "openssl", "SSL_connect",      "tls", LS_PROBE_SSL_CONNECT,      LS_ARG_SSL_HS,    LS_CAT_RETPROBE },
};

static const char *const probe_names[LS_PROBE_COUNT] = {
	[LS_PROBE_SSL_READ] = "SSL_read",
	[LS_PROBE_SSL_WRITE] = "SSL_write",
	[LS_PROBE_SSL_READ_EX] = "SSL_read_ex",
	[LS_PROBE_SSL_WRITE_EX] = "SSL_write_ex",
	[LS_PROBE_SSL_DO_HANDSHAKE] = "SSL_do_handshake",
	[LS_PROBE_SSL_ACCEPT] = "SSL_accept",
	[LS_PROBE_SSL_CONNECT] = "SSL_connect",
	[LS_PROBE_NET_SEND] = "tcp_sendmsg",
	[LS_PROBE_NET_RECV] = "tcp_recvmsg",
};

const struct ls_catalog_entry *ls_catalog(size_t *n)
{
	*n = sizeof(catalog) / sizeof(catalog[0]);
	return catalog;
}

const char *ls_probe_name(unsigned int probe)
{
	return probe < LS_PROBE_COUNT && probe_names[probe] ? probe_names[probe] : "?";
}

const char *ls_khook_name(enum ls_khook h)
{
	switch (h) {
	case LS_KHOOK_FENTRY: return "fentry";
	case LS_KHOOK_KPROBE: return "kprobe";
	case LS_KHOOK_TRACEPOINT: return "tracepoint";
	default: return "none";
	}
}
