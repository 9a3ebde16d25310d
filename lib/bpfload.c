#include "bpfload.h"
#include "feature.h"
#include "util.h"
#include "verifier.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "latscope.skel.h"

#define DEFAULT_BTF "/sys/kernel/btf/vmlinux"
#define STATS_LOG (64u << 10)  /* log level 4: the verdict and statistics */
#define FULL_LOG (16u << 20)   /* log level 1, after a failure: the rejected path */

struct ls_bpf {
	struct latscope_bpf *maps;
	struct latscope_bpf *feat[LS_FEAT_COUNT];
	struct ls_feat_status st[LS_FEAT_COUNT];
	struct ls_bpf_config conf;
	char btf_path[256];
};

static struct latscope_bpf *open_instance(const struct ls_bpf *b)
{
	LIBBPF_OPTS(bpf_object_open_opts, oo);
	struct latscope_bpf *sk;
	struct bpf_program *p;

	if (strcmp(b->btf_path, DEFAULT_BTF) != 0)
		oo.btf_custom_path = b->btf_path;
	sk = latscope_bpf__open_opts(&oo);
	if (!sk)
		return NULL;
	ls_bpf_configure(sk, &b->conf);
	bpf_object__for_each_program(p, sk->obj)
		bpf_program__set_autoload(p, false);
	return sk;
}

int ls_bpf_open(const char *btf_path, const struct ls_bpf_config *c, struct ls_bpf **out, char *err)
{
	struct ls_bpf *b = calloc(1, sizeof(*b));
	int ret;

	*out = NULL;
	if (!b)
		return ls_err(err, ENOMEM, "out of memory");
	b->conf = *c;
	snprintf(b->btf_path, sizeof(b->btf_path), "%s", btf_path ? btf_path : DEFAULT_BTF);
	/* 1. open, 2. configure (no program), 3. load: the maps and the frozen read-only configuration. */
	b->maps = open_instance(b);
	if (!b->maps) {
		ret = ls_err(err, errno, "cannot open BPF object: %s", strerror(errno));
		goto fail;
	}
	ret = latscope_bpf__load(b->maps);
	if (ret) {
		ret = ls_err(err, -ret, "cannot create BPF maps: %s%s", strerror(-ret),
			     ret == -EPERM ? " (needs root, or CAP_BPF and CAP_PERFMON)" : "");
		goto fail;
	}
	*out = b;
	return 0;
fail:
	ls_bpf_free(b);
	return ret;
}

static void clear_status(struct ls_feat_status *st)
{
	free(st->log);
	memset(st, 0, sizeof(*st));
}

void ls_bpf_free(struct ls_bpf *b)
{
	if (!b)
		return;
	for (int f = 0; f < LS_FEAT_COUNT; f++) {
		latscope_bpf__destroy(b->feat[f]);
		clear_status(&b->st[f]);
	}
	latscope_bpf__destroy(b->maps);
	free(b);
}

/* Reuse the first instance's maps: every instance shares one set of maps and globals. */
static int share_maps(struct ls_bpf *b, struct latscope_bpf *sk)
{
	struct bpf_map *m;

	bpf_object__for_each_map(m, sk->obj) {
		struct bpf_map *src = bpf_object__find_map_by_name(b->maps->obj, bpf_map__name(m));
		int ret;

		if (!src)
			return -ENOENT;
		ret = bpf_map__reuse_fd(m, bpf_map__fd(src));
		if (ret)
			return ret;
	}
	return 0;
}

/* Whether prog belongs to feature f (and variant h). */
static int in_group(const char *prog, enum ls_feature f, enum ls_khook h)
{
	enum ls_khook ph = ls_khook_of_prog(prog);

	return ls_feature_of_prog(prog) == f && (ph == LS_KHOOK_NONE || ph == h);
}

int ls_bpf_load(struct ls_bpf *b, enum ls_feature f, enum ls_khook h)
{
	struct ls_feat_status *st = &b->st[f];
	struct latscope_bpf *sk = NULL;
	struct bpf_program *p;
	char *logs[32] = { 0 };
	int ret, i = 0, n = 0;

	if (b->feat[f])
		return 0;
	clear_status(st);
	sk = open_instance(b);
	if (!sk) {
		ret = -errno;
		snprintf(st->reason, sizeof(st->reason), "cannot open BPF object: %s", strerror(-ret));
		goto fail;
	}
	ret = share_maps(b, sk);
	if (ret) {
		snprintf(st->reason, sizeof(st->reason), "cannot share the maps: %s", strerror(-ret));
		goto fail;
	}
	/* Only this group's programs, each with a log of its verdict and statistics. */
	bpf_object__for_each_program(p, sk->obj) {
		if (!in_group(bpf_program__name(p), f, h) || n >= (int)(sizeof(logs) / sizeof(logs[0])))
			continue;
		logs[n] = calloc(1, STATS_LOG);
		bpf_program__set_autoload(p, true);
		if (logs[n]) {
			bpf_program__set_log_buf(p, logs[n], STATS_LOG);
			bpf_program__set_log_level(p, 4);
		}
		n++;
	}
	ret = latscope_bpf__load(sk);
	if (ret) {
		/* Programs load in order and the first refusal stops the rest: the last log written is its. */
		const char *prog = NULL, *log = NULL;

		i = 0;
		bpf_object__for_each_program(p, sk->obj) {
			if (!in_group(bpf_program__name(p), f, h) || i >= n)
				continue;
			if (logs[i] && logs[i][0]) {
				prog = bpf_program__name(p);
				log = logs[i];
			}
			i++;
		}
		if (prog && ls_feature_of_prog(prog) == f)
			snprintf(st->prog, sizeof(st->prog), "%s", prog);
		if (log)
			ls_verifier_verdict(log, st->reason, sizeof(st->reason));
		if (!st->reason[0])
			snprintf(st->reason, sizeof(st->reason), "%s", strerror(-ret));
		else if (ret == -EACCES || ret == -E2BIG || ret == -EINVAL)
			snprintf(st->reason + strlen(st->reason), sizeof(st->reason) - strlen(st->reason),
				 " (rejected by the verifier)");
		if (log)
			st->log = strdup(log);
		goto fail;
	}
	b->feat[f] = sk;
	st->state = LS_FEAT_ON;
	for (i = 0; i < n; i++)
		free(logs[i]);
	return 0;
fail:
	st->state = LS_FEAT_FAILED;
	latscope_bpf__destroy(sk);
	for (i = 0; i < n; i++)
		free(logs[i]);
	return ret < 0 ? ret : -EINVAL;
}

void ls_bpf_unload(struct ls_bpf *b, enum ls_feature f)
{
	latscope_bpf__destroy(b->feat[f]);
	b->feat[f] = NULL;
	clear_status(&b->st[f]);
}

void ls_bpf_fail(struct ls_bpf *b, enum ls_feature f, const char *prog, const char *reason)
{
	latscope_bpf__destroy(b->feat[f]);
	b->feat[f] = NULL;
	clear_status(&b->st[f]);
	b->st[f].state = LS_FEAT_FAILED;
	snprintf(b->st[f].prog, sizeof(b->st[f].prog), "%s", prog ? prog : "");
	snprintf(b->st[f].reason, sizeof(b->st[f].reason), "%s", reason);
}

struct latscope_bpf *ls_bpf_maps(struct ls_bpf *b)
{
	return b->maps;
}

struct latscope_bpf *ls_bpf_feature(struct ls_bpf *b, enum ls_feature f)
{
	return f < LS_FEAT_COUNT ? b->feat[f] : NULL;
}

const struct ls_feat_status *ls_bpf_status(const struct ls_bpf *b, enum ls_feature f)
{
	return &b->st[f];
}

int ls_bpf_prog_time(struct ls_bpf *b, struct ls_bpf_time *out)
{
	memset(out, 0, sizeof(*out));
	for (int f = 0; f < LS_FEAT_COUNT; f++) {
		struct bpf_program *p;

		if (!b->feat[f])
			continue;
		bpf_object__for_each_program(p, b->feat[f]->obj) {
			struct bpf_prog_info info;
			__u32 len = sizeof(info);
			int fd = bpf_program__fd(p);
			const char *sec = bpf_program__section_name(p);

			if (fd < 0)
				continue;
			memset(&info, 0, sizeof(info));
			if (bpf_obj_get_info_by_fd(fd, &info, &len))
				return -errno;
			out->run_ns += info.run_time_ns;
			out->runs += info.run_cnt;
			if (!strncmp(sec, "uprobe", 6) || !strncmp(sec, "uretprobe", 9)) {
				out->uprobe_ns += info.run_time_ns;
				out->uprobe_runs += info.run_cnt;
			}
		}
	}
	return 0;
}
