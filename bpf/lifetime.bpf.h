/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * The end of a target thread or of a TCP socket: what is keyed by it goes with it.
 * Part of bpf/latscope.bpf.c (one object, one skeleton): included from there, last,
 * as it touches the maps of every other fragment.
 */

/*
 * sched_process_exit runs in the exiting thread, once per thread. Without it a
 * server that starts and ends threads by the thousand would fill `threads` with
 * dead ones, and the calls of its new threads would go untracked.
 */
SEC("raw_tp/sched_process_exit")
int thread_exit(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id;

	if (!target_slot(id >> 32))
		return 0;
	bpf_map_delete_elem(&threads, &tid);
	bpf_map_delete_elem(&sys_calls, &tid);
	bpf_map_delete_elem(&net_calls, &tid);
	bpf_map_delete_elem(&gcur, &tid);
	bpf_map_delete_elem(&offstart, &tid);
	count(LS_CNT_THREAD_EXITS);
	return 0;
}

/*
 * A TCP socket closes (any task's context, often a softirq): its receive stamps
 * go. Every socket passes here once, so rx_socks holds open sockets only.
 */
SEC("raw_tp/inet_sock_set_state")
int sock_closed(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 sk = ctx->args[0];

	if ((int)ctx->args[2] != TCP_CLOSE)
		return 0;
	bpf_map_delete_elem(&rx_socks, &sk);
	return 0;
}
