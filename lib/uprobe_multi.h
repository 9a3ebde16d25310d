/*
 * uprobe_multi links (Linux 6.6): many uprobes of one program in one binary
 * as one link, removed with one RCU wait instead of one per uprobe. Debian
 * 12's libbpf predates them, so the link is made with the bpf() syscall.
 */
#ifndef LS_UPROBE_MULTI_H
#define LS_UPROBE_MULTI_H

#include <stdint.h>
#include <sys/types.h>

#define LS_BPF_TRACE_UPROBE_MULTI 48 /* enum bpf_attach_type, Linux 6.6 uapi */

/*
 * 1 when the kernel described by btf_path has uprobe_multi links, else 0 (the latest path's
 * answer is remembered).
 */
int ls_kernel_has_uprobe_multi(const char *btf_path);

/* One link for n uprobes of prog_fd in path, for pid. Returns the link fd, or -1 with errno set. */
int ls_uprobe_multi_link(int prog_fd, pid_t pid, const char *path, const uint64_t *offs, const uint64_t *cookies,
			 uint32_t n, int retprobe);

#endif
