#include "bpfconf.h"
#include "uprobe_multi.h"

#include <string.h>

#include <bpf/libbpf.h>

#include "latscope.skel.h"

void ls_bpf_configure(struct latscope_bpf *skel, const struct ls_bpf_config *c)
{
	struct bpf_program *p;

	skel->rodata->emit_calls = c->emit_calls ? 1 : 0;
	skel->rodata->emit_requests = c->emit_requests ? 1 : 0;
	skel->rodata->track_proto = c->track_proto ? 1 : 0;
	skel->rodata->track_thread_req = c->track_thread_req ? 1 : 0;
	skel->rodata->offcpu_all_threads = c->offcpu_all_threads ? 1 : 0;
	skel->rodata->emit_samples = c->emit_samples ? 1 : 0;
	skel->rodata->ustack_size = c->ustack_size;
	skel->rodata->cg_auto = c->cg_auto && c->ustack_size ? 1 : 0;
	skel->rodata->reject_features = c->reject_features;
	if (c->threshold_ns)
		skel->data->threshold_ns = c->threshold_ns;
	/* One stack-copy slot per CPU in DWARF mode; a single unused one otherwise. */
	bpf_map__set_max_entries(skel->maps.ustack_buf, c->ustack_size ? (__u32)libbpf_num_possible_cpus() : 1);
	if (!c->uprobe_multi)
		return;
	/* Every uprobe program: programs sharing the HTTP/2 walk's program array must share an attach type. */
	bpf_object__for_each_program(p, skel->obj) {
		const char *sec = bpf_program__section_name(p);

		if (!strcmp(sec, "uprobe") || !strcmp(sec, "uretprobe"))
			bpf_program__set_expected_attach_type(p, LS_BPF_TRACE_UPROBE_MULTI);
	}
}
