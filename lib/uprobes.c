#include "uprobes.h"
#include "links.h"
#include "procmaps.h"
#include "uprobe_multi.h"
#include "util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

struct plan {
	struct ls_uprobe *v;
	size_t n, cap;
};

static int add(struct plan *p, struct bpf_program *prog, const struct ls_site *site, const char *open_path,
	       const char *path, uint64_t offset, uint64_t cookie, int retprobe, enum ls_uprobe_stage stage)
{
	if (!prog)
		return 0;
	if (p->n == p->cap) {
		size_t cap = p->cap ? 2 * p->cap : 64;
		struct ls_uprobe *nv = realloc(p->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		p->v = nv;
		p->cap = cap;
	}
	p->v[p->n++] = (struct ls_uprobe){ prog, site->pid, retprobe, stage, open_path, path, site->symbol, offset, cookie };
	return 0;
}

/* Call-site placement: a probe after each direct call returns, and one on the call itself. */
static int add_callsites(struct plan *p, const struct ls_site *site, const struct ls_placements *place,
			 const struct ls_placement *pl, uint64_t cookie, struct bpf_program *ret_prog,
			 struct bpf_program *enter_prog)
{
	int ret = 0;

	for (size_t k = 0; k < pl->ncs && !ret; k++) {
		const struct ls_callsite *cs = &pl->cs[k];
		const char *open_path = ls_placements_obj_open_path(place, cs->obj);
		const char *path = ls_placements_obj_path(place, cs->obj);

		if (!cs->ok)
			continue;
		ret = add(p, ret_prog, site, open_path, path, cs->ret_offset,
			  cookie | ((uint64_t)cs->ret_reg << LS_COOKIE_REG_SHIFT), 0, LS_STAGE_RET);
		if (!ret)
			ret = add(p, enter_prog, site, open_path, path, cs->call_offset, cookie | LS_COOKIE_F_CALLSITE, 0,
				  LS_STAGE_ENTRY);
	}
	return ret;
}

/* One found site's uprobes. */
static int plan_site(struct plan *p, const struct ls_site *site, const struct ls_placement *pl,
		     const struct ls_placements *place, const struct ls_uprobe_progs *g, char *err)
{
	const struct ls_catalog_entry *c = site->entry;
	uint64_t cookie = LS_COOKIE(c->probe, c->conv, c->kind);
	int tls = ls_kind_is_tls(c->kind);
	int go = site->is_go || (c->flags & LS_CAT_GO);
	int ret = 0;

	/* Never a uretprobe into Go code: the runtime checks and moves return addresses. */
	if ((c->flags & LS_CAT_RETPROBE) && go)
		return ls_err(err, EINVAL, "%s: %s: refusing a uretprobe on a Go function (it corrupts goroutine stacks)",
			      site->path, c->symbol);
	/*
	 * grpc-go's handler entry points are not timed: the entry binds the
	 * goroutine to its stream; a handler's RETs end that (WriteStatus,
	 * inside the handler, leaves it).
	 */
	if (c->kind == LS_KIND_GO_RPC || c->kind == LS_KIND_GO_HEADERS) {
		for (size_t r = 0; c->conv == LS_ARG_GO_STREAM_DI && r < site->nrets && !ret; r++)
			ret = add(p, g->go_grpc_ret, site, site->open_path, site->path, site->ret_offsets[r], cookie, 0,
				  LS_STAGE_BIND_RET);
		return ret ? ret : add(p, g->go_grpc_enter, site, site->open_path, site->path, site->offset, cookie, 0,
				       LS_STAGE_BIND);
	}
	if (c->flags & LS_CAT_GO) {
		struct bpf_program *retp = tls ? g->go_ret : g->go_ret_lib;

		/* Go call sites: goroutine call stacks, matched by probe, as at RET sites. */
		if (pl && pl->used == LS_PLACE_CALLSITE)
			return add_callsites(p, site, place, pl, cookie, retp, g->go_enter);
		if (!retp || !g->go_enter)
			return 0;
		for (size_t r = 0; r < site->nrets && !ret; r++)
			ret = add(p, retp, site, site->open_path, site->path, site->ret_offsets[r], cookie, 0, LS_STAGE_RET);
		return ret ? ret : add(p, g->go_enter, site, site->open_path, site->path, site->offset, cookie, 0,
				       LS_STAGE_ENTRY);
	}
	if (pl && pl->used == LS_PLACE_CALLSITE &&
	    (ret = add_callsites(p, site, place, pl, cookie, tls ? g->cs_exit : g->cs_exit_lib, g->cs_enter)))
		return ret;
	if (pl && !pl->entry_probe)
		return 0;
	if (!g->probe_enter || ((c->flags & LS_CAT_RETPROBE) && !(tls ? g->probe_exit : g->probe_exit_lib)))
		return 0;
	if ((c->flags & LS_CAT_RETPROBE) &&
	    (ret = add(p, tls ? g->probe_exit : g->probe_exit_lib, site, site->open_path, site->path, site->offset, cookie,
		       1, LS_STAGE_RET)))
		return ret;
	return add(p, g->probe_enter, site, site->open_path, site->path, site->offset, cookie, 0, LS_STAGE_ENTRY);
}

int ls_uprobe_plan(const struct ls_site *sites, size_t nsites, const struct ls_placements *place,
		   const struct ls_uprobe_progs *progs, struct ls_uprobe **out, size_t *n, char *err)
{
	struct plan p = { 0 };
	int ret = 0;

	*out = NULL;
	*n = 0;
	for (size_t i = 0; i < nsites && !ret; i++)
		if (sites[i].found)
			ret = plan_site(&p, &sites[i], ls_placement_of(place, i), place, progs, err);
	if (ret) {
		free(p.v);
		return ret == -ENOMEM ? ls_err(err, ENOMEM, "out of memory") : ret;
	}
	*out = p.v;
	*n = p.n;
	return 0;
}

static int attach_error(char *err, int e, const struct ls_uprobe *u, uint32_t n)
{
	if (!ls_proc_alive(u->pid))
		return ls_err(err, ESRCH, "pid %d: process exited while attaching", (int)u->pid);
	if (n > 1)
		return ls_err(err, e, "%s: %s: cannot attach %u uprobes: %s", u->path, u->symbol, n, strerror(e));
	return ls_err(err, e, "%s: %s: cannot attach uprobe at offset 0x%llx: %s", u->path, u->symbol,
		      (unsigned long long)u->offset, strerror(e));
}

static int same_link(const struct ls_uprobe *a, const struct ls_uprobe *b)
{
	return a->prog == b->prog && a->pid == b->pid && a->retprobe == b->retprobe && !strcmp(a->open_path, b->open_path);
}

static int attach_multi(struct ls_links *links, const struct ls_uprobe *u, size_t n, size_t *nattached, char *err)
{
	uint64_t *offs = calloc(n ? n : 1, sizeof(*offs)), *cookies = calloc(n ? n : 1, sizeof(*cookies));
	char *done = calloc(n ? n : 1, 1);
	int ret = 0;

	if (!offs || !cookies || !done) {
		ret = ls_err(err, ENOMEM, "out of memory");
		goto cleanup;
	}
	for (int stage = LS_STAGE_BIND_RET; stage <= LS_STAGE_ENTRY && !ret; stage++) {
		for (size_t first = 0; first < n && !ret; first++) {
			uint32_t k = 0;
			int fd;

			if (done[first] || (int)u[first].stage != stage)
				continue;
			for (size_t i = first; i < n; i++) {
				if (done[i] || !same_link(&u[i], &u[first]))
					continue;
				done[i] = 1;
				offs[k] = u[i].offset;
				cookies[k++] = u[i].cookie;
			}
			fd = ls_uprobe_multi_link(bpf_program__fd(u[first].prog), u[first].pid, u[first].open_path, offs,
						  cookies, k, u[first].retprobe);
			if (fd < 0) {
				ret = attach_error(err, errno, &u[first], k);
				break;
			}
			if (ls_links_add_fd(links, fd)) {
				ret = ls_err(err, ENOMEM, "out of memory");
				break;
			}
			*nattached += k;
		}
	}
cleanup:
	free(offs);
	free(cookies);
	free(done);
	return ret;
}

static int attach_classic(struct ls_links *links, const struct ls_uprobe *u, size_t n, size_t *nattached, char *err)
{
	for (int stage = LS_STAGE_BIND_RET; stage <= LS_STAGE_ENTRY; stage++) {
		for (size_t i = 0; i < n; i++) {
			LIBBPF_OPTS(bpf_uprobe_opts, uo);
			struct bpf_link *l;

			if ((int)u[i].stage != stage)
				continue;
			uo.bpf_cookie = u[i].cookie;
			uo.retprobe = u[i].retprobe;
			l = bpf_program__attach_uprobe_opts(u[i].prog, u[i].pid, u[i].open_path, u[i].offset, &uo);
			if (!l)
				return attach_error(err, errno, &u[i], 1);
			if (ls_links_add(links, l))
				return ls_err(err, ENOMEM, "out of memory");
			(*nattached)++;
		}
	}
	return 0;
}

int ls_uprobe_attach(struct ls_links *links, const struct ls_uprobe *u, size_t n, int multi, size_t *nattached,
		     char *err)
{
	*nattached = 0;
	return multi ? attach_multi(links, u, n, nattached, err) : attach_classic(links, u, n, nattached, err);
}
