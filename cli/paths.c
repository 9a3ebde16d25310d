/* Which protocol paths latscope follows in a target, and why not the others (probes, trace -v). */
#include "cli.h"
#include "jsonw.h"
#include "discover.h"

#include <stdio.h>
#include <string.h>

enum { PATH_TLS, PATH_H2, PATH_H2_TABLE, PATH_SYSCALLS, PATH_COUNT };

struct path {
	const char *name;
	int on;
	char why[LS_PATH_LEN + 64];
};

/* The object of the first found site of pid whose kind is k1 or k2, or NULL. */
static const char *site_object(struct ls_session *s, pid_t pid, enum ls_kind k1, enum ls_kind k2)
{
	const struct ls_site *sites;
	size_t n;

	sites = ls_session_sites(s, &n);
	for (size_t i = 0; i < n; i++)
		if (sites[i].pid == pid && sites[i].found && (sites[i].entry->kind == k1 || sites[i].entry->kind == k2))
			return sites[i].path;
	return NULL;
}

static void paths_of(struct ls_session *s, pid_t pid, struct path p[PATH_COUNT])
{
	const struct ls_feat_status *st = ls_session_feature(s, LS_FEAT_SOCKIO);
	const char *obj;

	p[PATH_TLS].name = "tls";
	obj = site_object(s, pid, LS_KIND_TLS_READ, LS_KIND_TLS_WRITE);
	p[PATH_TLS].on = obj != NULL;
	snprintf(p[PATH_TLS].why, sizeof(p[PATH_TLS].why), "%s", obj ? obj : "no TLS library found: no TLS connection is followed");
	p[PATH_H2].name = "http2_library";
	obj = site_object(s, pid, LS_KIND_H2_IN, LS_KIND_H2_OUT);
	p[PATH_H2].on = obj != NULL;
	snprintf(p[PATH_H2].why, sizeof(p[PATH_H2].why), "%s", obj ? obj : "no HTTP/2 library found: no h2_in, h2_out phases");
	p[PATH_H2_TABLE].name = "joined_names";
	p[PATH_H2_TABLE].on = 0;
	snprintf(p[PATH_H2_TABLE].why, sizeof(p[PATH_H2_TABLE].why), "%s",
		 obj ? "no nghttp2 input function found" : "no HTTP/2 library with a readable decoder table");
	{
		const struct ls_site *sites;
		size_t n;

		sites = ls_session_sites(s, &n);
		for (size_t i = 0; i < n; i++) {
			const struct ls_site *t = &sites[i];

			if (t->pid != pid || !t->found || t->entry->conv != LS_ARG_H2_MEM_RECV)
				continue;
			p[PATH_H2_TABLE].on = t->has_h2_layout;
			if (t->has_h2_layout)
				snprintf(p[PATH_H2_TABLE].why, sizeof(p[PATH_H2_TABLE].why),
					 "nghttp2's HPACK table read from the target after a join or a gap (inflater at +%#x, "
					 "layout from its code)", t->h2_layout.infl_off);
			else
				snprintf(p[PATH_H2_TABLE].why, sizeof(p[PATH_H2_TABLE].why),
					 "%s: requests on connections joined mid-flight are unnamed", t->h2_layout_why);
			break;
		}
	}
	p[PATH_SYSCALLS].name = "syscall_reader";
	p[PATH_SYSCALLS].on = st->state == LS_FEAT_ON;
	if (st->state == LS_FEAT_ON)
		snprintf(p[PATH_SYSCALLS].why, sizeof(p[PATH_SYSCALLS].why),
			 "plaintext HTTP/2 (h2c) from socket syscalls, on connections opening with the client preface");
	else if (st->state == LS_FEAT_FAILED)
		snprintf(p[PATH_SYSCALLS].why, sizeof(p[PATH_SYSCALLS].why), "refused: %s%s%s", st->prog,
			 st->prog[0] ? ": " : "", st->reason);
	else
		snprintf(p[PATH_SYSCALLS].why, sizeof(p[PATH_SYSCALLS].why), "not loaded: requests not asked for");
}

void cli_print_paths(FILE *f, struct ls_session *s, pid_t pid, const char *prefix)
{
	struct path p[PATH_COUNT];
	char esc[2 * sizeof(p[0].why)];

	paths_of(s, pid, p);
	for (int i = 0; i < PATH_COUNT; i++)
		fprintf(f, "%s%-15s %-3s %s\n", prefix, p[i].name, p[i].on ? "on" : "off",
			cli_term_str(esc, sizeof(esc), p[i].why));
}

void cli_paths_json(struct jw *w, struct ls_session *s, pid_t pid)
{
	struct path p[PATH_COUNT];

	paths_of(s, pid, p);
	jw_key(w, "paths");
	jw_obj(w);
	for (int i = 0; i < PATH_COUNT; i++) {
		jw_key(w, p[i].name);
		jw_obj(w);
		jw_kbool(w, "active", p[i].on);
		jw_kstr(w, p[i].on ? "what" : "why", p[i].why);
		jw_obj_end(w);
	}
	jw_obj_end(w);
}
