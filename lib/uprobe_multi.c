#include "uprobe_multi.h"

#include <limits.h>
#include <pthread.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/btf.h>

/* The latest answer and whose BTF it came from: a kernel's BTF takes tens of ms to parse. */
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static char seen_path[PATH_MAX];
static int seen_has = -1;

int ls_kernel_has_uprobe_multi(const char *btf_path)
{
	struct btf *btf;
	int has;

	pthread_mutex_lock(&seen_lock);
	if (seen_has >= 0 && !strcmp(seen_path, btf_path)) {
		has = seen_has;
		pthread_mutex_unlock(&seen_lock);
		return has;
	}
	btf = btf__parse(btf_path, NULL);
	has = btf && btf__find_by_name_kind(btf, "bpf_uprobe_multi_link", BTF_KIND_STRUCT) >= 0;
	/* A file that did not parse is not remembered: the next call tries again. */
	if (btf && strlen(btf_path) < sizeof(seen_path)) {
		strcpy(seen_path, btf_path);
		seen_has = has;
	}
	btf__free(btf);
	pthread_mutex_unlock(&seen_lock);
	return has;
}

int ls_uprobe_multi_link(int prog_fd, pid_t pid, const char *path, const uint64_t *offs, const uint64_t *cookies,
			 uint32_t n, int retprobe)
{
	/*
	 * union bpf_attr's link_create: prog_fd, target_fd, attach_type, flags,
	 * then uprobe_multi at 16: path, offsets, ref_ctr_offsets, cookies, cnt,
	 * flags (BPF_F_UPROBE_MULTI_RETURN = 1), pid.
	 */
	unsigned char attr[64] = { 0 };
	uint32_t u32 = (uint32_t)prog_fd;
	uint64_t u64;

	memcpy(attr + 0, &u32, 4);
	u32 = LS_BPF_TRACE_UPROBE_MULTI;
	memcpy(attr + 8, &u32, 4);
	u64 = (uintptr_t)path;
	memcpy(attr + 16, &u64, 8);
	u64 = (uintptr_t)offs;
	memcpy(attr + 24, &u64, 8);
	u64 = (uintptr_t)cookies;
	memcpy(attr + 40, &u64, 8);
	memcpy(attr + 48, &n, 4);
	u32 = retprobe ? 1 : 0;
	memcpy(attr + 52, &u32, 4);
	u32 = (uint32_t)pid;
	memcpy(attr + 56, &u32, 4);
	return (int)syscall(__NR_bpf, BPF_LINK_CREATE, attr, sizeof(attr));
}
