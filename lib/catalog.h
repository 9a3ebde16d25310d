/*
 * The probe catalog: which symbol of which library means which phase, how its
 * arguments are read, and whether a return probe is safe. Data, not code.
 */
#ifndef LS_CATALOG_H
#define LS_CATALOG_H

#include <stddef.h>

#include <linux/types.h>
#include "latscope.h"
#include "phase.h"

#define LS_CAT_RETPROBE (1u << 0) /* needs a return probe */
#define LS_CAT_GO       (1u << 1) /* Go function: RET-site uprobes, never a uretprobe */

struct ls_catalog_entry {
	const char *library; /* human name of the library or runtime: "openssl" */
	const char *symbol;
	const char *phase;   /* "tls", "h2", "proto", "net" */
	enum ls_probe probe;
	enum ls_argconv conv;
	enum ls_kind kind;
	unsigned int flags;
	const char *alias_of; /* a wrapper of this symbol: probe only one of the two (e.g. mem_recv -> mem_recv2) */
};

/* The whole catalog; *n receives its length. */
const struct ls_catalog_entry *ls_catalog(size_t *n);

/* Name of a probe id ("SSL_read", "tcp_sendmsg"); "?" when unknown. */
const char *ls_probe_name(unsigned int probe);

/* 1 when file (a base name, "libssl.so.3") is one of library's ("openssl"). */
int ls_library_file(const char *library, const char *file);
/* The library ("openssl", ...) a file of this base name holds, NULL for none. */
const char *ls_library_of_file(const char *file);
/* Why a library of this file name never defines symbol, whatever its version; NULL when it might. */
const char *ls_library_absent(const char *file, const char *symbol);

/* A TLS read, write or handshake: the calls whose plaintext the HTTP/2 walk follows. */
int ls_kind_is_tls(enum ls_kind kind);
/* 1 when probe id completes TLS handshakes (a catalog entry of the handshake kind). */
int ls_probe_is_handshake(unsigned int probe);

/* Which way a kernel network probe moves bytes: "send" or "recv" (NULL for other probes). */
const char *ls_probe_net_dir(unsigned int probe);

/* Name of a kernel hook variant. */
const char *ls_khook_name(enum ls_khook h);

#endif
