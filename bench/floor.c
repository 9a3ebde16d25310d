/*
 * bench/floor: attach empty BPF programs at the sites latscope would probe in
 * a process (same discovery, same placement: entry + uretprobe, or call sites
 * and their return sites), until SIGINT/SIGTERM. What remains of a probe's
 * cost with nothing to run is the floor latscope's own programs are compared
 * with.
 *
 * usage: floor PID [SYMBOL-PREFIX [auto|entry|callsite]]
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/libbpf.h>

#include "discover.h"
#include "placement.h"
#include "util.h"
#include "bench_floor.skel.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	struct bench_floor_bpf *skel = NULL;
	struct bpf_link **links = NULL;
	struct ls_site *sites = NULL;
	struct ls_placements *place = NULL;
	enum ls_place_mode mode = LS_PLACE_ENTRY;
	char err[LS_ERR_LEN];
	size_t nsites = 0, nlinks = 0;
	const char *only = argc > 2 ? argv[2] : NULL;
	int ret = 1;
	pid_t pid;

	if (argc < 2) {
		fprintf(stderr, "usage: floor PID [SYMBOL-PREFIX [auto|entry|callsite]]\n");
		return 2;
	}
	pid = (pid_t)atoi(argv[1]);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (argc > 3 && ls_place_mode_parse(argv[3], &mode)) {
		fprintf(stderr, "floor: invalid placement '%s'\n", argv[3]);
		return 2;
	}
	if (ls_discover(pid, &sites, &nsites, err) || ls_place(sites, nsites, mode, NULL, &place, err)) {
		fprintf(stderr, "floor: %s\n", err);
		free(sites);
		return 1;
	}
	skel = bench_floor_bpf__open_and_load();
	links = calloc(nsites * (33 + 2 * LS_PLACE_MAX_CALLSITES) + 1, sizeof(*links));
	if (!skel || !links) {
		fprintf(stderr, "floor: cannot load: %s\n", strerror(errno));
		goto cleanup;
	}
	for (size_t i = 0; i < nsites; i++) {
		LIBBPF_OPTS(bpf_uprobe_opts, uo);

		const struct ls_placement *pl = ls_placement_of(place, i);
		const struct ls_catalog_entry *c = sites[i].entry;

		if (!sites[i].found || (only && strncmp(c->symbol, only, strlen(only))))
			continue;
		for (size_t k = 0; pl && pl->used == LS_PLACE_CALLSITE && k < pl->ncs; k++) {
			const struct ls_callsite *cs = &pl->cs[k];
			const char *obj = ls_placements_obj_open_path(place, cs->obj);

			if (!cs->ok)
				continue;
			uo.retprobe = false;
			links[nlinks] = bpf_program__attach_uprobe_opts(skel->progs.floor_enter, pid, obj, cs->ret_offset, &uo);
			if (links[nlinks])
				nlinks++;
			links[nlinks] = bpf_program__attach_uprobe_opts(skel->progs.floor_enter, pid, obj, cs->call_offset, &uo);
			if (links[nlinks])
				nlinks++;
		}
		if (pl && !pl->entry_probe)
			continue;
		/* Go: where latscope probes it, never a uretprobe: the entry and each RET site. */
		if (c->flags & LS_CAT_GO) {
			int rets = c->kind != LS_KIND_GO_HEADERS && c->conv != LS_ARG_GO_STREAM_BX;

			for (size_t r = 0; rets && r < sites[i].nrets; r++) {
				links[nlinks] = bpf_program__attach_uprobe_opts(skel->progs.floor_enter, pid,
										sites[i].open_path, sites[i].ret_offsets[r], &uo);
				if (links[nlinks])
					nlinks++;
			}
			links[nlinks] = bpf_program__attach_uprobe_opts(skel->progs.floor_enter, pid, sites[i].open_path,
									sites[i].offset, &uo);
			if (links[nlinks])
				nlinks++;
			continue;
		}
		/* A return probe where latscope has one (not on mem_send or the frees: their entry only). */
		if (c->flags & LS_CAT_RETPROBE) {
			uo.retprobe = true;
			links[nlinks] = bpf_program__attach_uprobe_opts(skel->progs.floor_exit, pid, sites[i].open_path,
									sites[i].offset, &uo);
			if (links[nlinks])
				nlinks++;
		}
		uo.retprobe = false;
		links[nlinks] = bpf_program__attach_uprobe_opts(skel->progs.floor_enter, pid, sites[i].open_path,
								sites[i].offset, &uo);
		if (links[nlinks])
			nlinks++;
	}
	fprintf(stderr, "floor: %zu empty probes attached\n", nlinks);
	while (!stop)
		pause();
	ret = 0;
cleanup:
	for (size_t i = 0; i < nlinks; i++)
		bpf_link__destroy(links[i]);
	free(links);
	bench_floor_bpf__destroy(skel);
	ls_placements_free(place);
	free(sites);
	return ret;
}
