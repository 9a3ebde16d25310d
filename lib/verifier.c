#include "verifier.h"
#include "bpfconf.h"
#include "feature.h"
#include "uprobe_multi.h"
#include "util.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <bpf/libbpf.h>

#include "latscope.skel.h"

#define DEFAULT_BTF "/sys/kernel/btf/vmlinux"
#define LOG_SIZE (1u << 20)
#define FULL_LOG_SIZE (256u << 20)

/* Configurations that change the verified code: what trace, trace --stacks, record --call-graph fp, dwarf and auto load. */
static const struct {
	const char *name;
	struct ls_bpf_config c;
} configs[] = {
	{ "trace", { .emit_calls = 1, .emit_requests = 1, .track_proto = 1, .track_thread_req = 0, .offcpu_all_threads = 1 } },
	{ "record", { .emit_calls = 0, .emit_requests = 1, .track_proto = 1, .track_thread_req = 1, .offcpu_all_threads = 0 } },
	{ "stacks", { .emit_calls = 0, .emit_requests = 1, .track_proto = 1, .track_thread_req = 1, .offcpu_all_threads = 0,
		      .emit_samples = 1, .ustack_size = 16384, .cg_auto = 1 } },
	{ "dwarf", { .emit_calls = 0, .emit_requests = 0, .track_proto = 0, .track_thread_req = 1, .offcpu_all_threads = 1,
		     .ustack_size = 16384 } },
	{ "auto", { .emit_calls = 0, .emit_requests = 1, .track_proto = 1, .track_thread_req = 1, .offcpu_all_threads = 0,
		    .ustack_size = 16384, .cg_auto = 1 } },
};

/* "processed N insns (limit L) max_states_per_insn M total_states T peak_states P ..." and "verification time U usec". */
static void parse_stats(const char *log, struct ls_verifier_prog *p)
{
	const char *s = strstr(log, "processed ");

	while (s && sscanf(s, "processed %u insns (limit %*u) max_states_per_insn %u total_states %u peak_states %u",
			   &p->processed, &p->max_states, &p->total_states, &p->peak_states) != 4)
		s = strstr(s + 1, "processed ");
	p->verified = s != NULL;
	s = strstr(log, "verification time ");
	if (s) {
		unsigned long long us;

		if (sscanf(s, "verification time %llu usec", &us) == 1)
			p->verify_us = us;
	}
}

/* The verifier's verdict: the last line of its log that is not a statistic. */
void ls_verifier_verdict(const char *log, char *out, size_t len)
{
	const char *end = log + strlen(log), *line_end, *start;

	if (len)
		out[0] = '\0';
	while (end > log) {
		while (end > log && (end[-1] == '\n' || end[-1] == ' '))
			end--;
		line_end = end;
		start = line_end;
		while (start > log && start[-1] != '\n')
			start--;
		end = start;
		if (line_end == start || !strncmp(start, "processed ", 10) || !strncmp(start, "verification time", 17) ||
		    !strncmp(start, "stack depth", 11) || !strncmp(start, "mark_read", 9))
			continue;
		snprintf(out, len, "%.*s", (int)(line_end - start), start);
		return;
	}
}

static int measure_one(const char *btf_path, int multi, size_t ci, const char *prog_name, struct ls_verifier_prog *p,
		       char *log, size_t log_size, unsigned int level)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo);
	struct latscope_bpf *skel;
	struct bpf_program *prog, *it;
	struct ls_bpf_config c = configs[ci].c;
	int ret;

	if (strcmp(btf_path, DEFAULT_BTF) != 0)
		oo.btf_custom_path = btf_path;
	skel = latscope_bpf__open_opts(&oo);
	if (!skel)
		return -errno;
	c.uprobe_multi = multi;
	ls_bpf_configure(skel, &c);
	prog = bpf_object__find_program_by_name(skel->obj, prog_name);
	bpf_object__for_each_program(it, skel->obj)
		bpf_program__set_autoload(it, it == prog);
	log[0] = 0;
	bpf_program__set_log_buf(prog, log, log_size);
	bpf_program__set_log_level(prog, level);
	snprintf(p->name, sizeof(p->name), "%s", prog_name);
	snprintf(p->config, sizeof(p->config), "%s", configs[ci].name);
	snprintf(p->section, sizeof(p->section), "%s", bpf_program__section_name(prog));
	snprintf(p->feature, sizeof(p->feature), "%s", ls_feature_name(ls_feature_of_prog(prog_name)));
	ret = latscope_bpf__load(skel);
	p->err = ret ? -ret : 0;
	p->loaded = ret == 0;
	p->insns = (uint32_t)bpf_program__insn_cnt(prog);
	parse_stats(log, p);
	if (ret) {
		ls_verifier_verdict(log, p->reason, sizeof(p->reason));
		if (!p->reason[0])
			snprintf(p->reason, sizeof(p->reason), "%s", strerror(-ret));
	}
	latscope_bpf__destroy(skel);
	return 0;
}

int ls_verifier_run(const char *btf_path, ls_verifier_log_fn full_log, void *ctx, struct ls_verifier_prog **out,
		    size_t *n, char *err)
{
	struct ls_verifier_prog *v = NULL;
	struct latscope_bpf *skel = NULL;
	struct bpf_program *it;
	char (*names)[64] = NULL;
	size_t nprogs = 0, k = 0;
	char *log = NULL;
	int multi, ret = 0;

	*out = NULL;
	*n = 0;
	if (!btf_path)
		btf_path = DEFAULT_BTF;
	multi = ls_kernel_has_uprobe_multi(btf_path);
	skel = latscope_bpf__open();
	if (!skel)
		return ls_err(err, errno, "cannot open the BPF object: %s", strerror(errno));
	bpf_object__for_each_program(it, skel->obj)
		nprogs++;
	names = calloc(nprogs ? nprogs : 1, sizeof(*names));
	v = calloc(nprogs * (sizeof(configs) / sizeof(configs[0])) + 1, sizeof(*v));
	log = malloc(LOG_SIZE);
	if (!names || !v || !log) {
		ret = ls_err(err, ENOMEM, "out of memory");
		goto cleanup;
	}
	nprogs = 0;
	bpf_object__for_each_program(it, skel->obj)
		snprintf(names[nprogs++], sizeof(names[0]), "%s", bpf_program__name(it));
	for (size_t ci = 0; ci < sizeof(configs) / sizeof(configs[0]); ci++) {
		for (size_t i = 0; i < nprogs; i++) {
			ret = measure_one(btf_path, multi, ci, names[i], &v[k], log, LOG_SIZE, 4 /* statistics only */);
			if (!ret && full_log && v[k].verified && !ls_verifier_within_budget(&v[k])) {
				/* Again with the whole log, for whoever has to shrink it. */
				struct ls_verifier_prog again = { 0 };
				char *big = malloc(FULL_LOG_SIZE);

				if (big && !measure_one(btf_path, multi, ci, names[i], &again, big, FULL_LOG_SIZE, 2 | 4))
					full_log(ctx, &v[k], big);
				free(big);
			}
			if (ret) {
				ret = ls_err(err, -ret, "cannot open the BPF object: %s", strerror(-ret));
				goto cleanup;
			}
			k++;
		}
	}
	*out = v;
	*n = k;
	v = NULL;
cleanup:
	latscope_bpf__destroy(skel);
	free(names);
	free(log);
	free(v);
	return ret;
}

int ls_verifier_within_budget(const struct ls_verifier_prog *p)
{
	return p->verified && p->loaded && p->processed <= LS_VERIFIER_BUDGET_INSNS &&
	       p->max_states <= LS_VERIFIER_BUDGET_STATES;
}
