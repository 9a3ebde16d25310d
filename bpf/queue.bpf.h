/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Queue: when received bytes reached the socket.
 * Part of bpf/latscope.bpf.c (one object, one skeleton): included from there, in order.
 */

/* ---- Queue: when received bytes reached the socket ------------------------------ */

#define RX_RING 8 /* arrivals remembered per socket */

/* A target's TCP socket: rcv_nxt after each data-ready, and when. */
struct lsk_rx {
	__u32 head;
	__u32 isn;         /* rcv_nxt - bytes_received: which connection at this address the stamps are of */
	__u32 seq[RX_RING];
	__u64 ts[RX_RING];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, __u64); /* struct sock * */
	__type(value, struct lsk_rx);
} rx_socks SEC(".maps");

static struct lsk_rx zero_rx;

/*
 * A socket's initial receive sequence (+1), constant for the connection: a freed
 * socket's address is soon another connection's, whose stamps must not mix.
 */
static __always_inline __u32 rx_isn(struct sock *sk, __u32 nxt)
{
	return nxt - (__u32)BPF_CORE_READ((struct tcp_sock *)sk, bytes_received);
}

/* Forget the stamps of a previous connection at the same address. */
static __always_inline void rx_reset(struct lsk_rx *rx, __u32 isn)
{
	rx->head = 0;
	rx->isn = isn;
	for (int i = 0; i < RX_RING; i++)
		rx->ts[i] = 0;
}

/* New bytes are readable on sk (softirq, any task's context): stamp them if sk is a target's. */
static __always_inline int data_ready(struct sock *sk)
{
	__u64 key = (__u64)sk;
	struct lsk_rx *rx = bpf_map_lookup_elem(&rx_socks, &key);
	__u32 nxt, h, isn;

	if (!rx)
		return 0;
	nxt = BPF_CORE_READ((struct tcp_sock *)sk, rcv_nxt);
	isn = rx_isn(sk, nxt);
	if (rx->isn != isn)
		rx_reset(rx, isn);
	h = rx->head;
	if (rx->ts[(h - 1) & (RX_RING - 1)] && rx->seq[(h - 1) & (RX_RING - 1)] == nxt)
		return 0;
	rx->seq[h & (RX_RING - 1)] = nxt;
	rx->ts[h & (RX_RING - 1)] = bpf_ktime_get_ns();
	rx->head = h + 1;
	return 0;
}

/*
 * A receive on sk just returned: when did the last byte it read arrive? The
 * earliest data-ready whose rcv_nxt covers it (a later one when the ring has
 * moved on, which only makes the queue shorter). 0 when unknown; a socket seen
 * for the first time starts being stamped.
 */
static __always_inline __u64 rx_arrival(__u64 sk)
{
	struct lsk_rx *rx = bpf_map_lookup_elem(&rx_socks, &sk);
	__u64 best = 0;
	__u32 end, isn;

	if (!rx) {
		/*
		 * A reset socket is closed (sock_closed ran) while its queued bytes are still
		 * read: stamping it would leave an entry nothing deletes.
		 */
		if (BPF_CORE_READ((struct sock *)sk, __sk_common.skc_state) != TCP_CLOSE)
			bpf_map_update_elem(&rx_socks, &sk, &zero_rx, BPF_NOEXIST);
		return 0;
	}
	/* Stamps of another connection (this address was freed and reused): none of ours yet. */
	isn = rx_isn((struct sock *)sk, BPF_CORE_READ((struct tcp_sock *)sk, rcv_nxt));
	if (rx->isn != isn) {
		rx_reset(rx, isn);
		return 0;
	}
	end = BPF_CORE_READ((struct tcp_sock *)sk, copied_seq);
	for (int i = 0; i < RX_RING; i++) {
		__u64 ts = rx->ts[i];

		if (ts && (__s32)(rx->seq[i] - end) >= 0 && (!best || ts < best))
			best = ts;
	}
	return best;
}

/* The tracepoint's record (its layout has been stable since it appeared): no CO-RE, so it loads anywhere. */
struct lsk_tp_data_ready {
	__u64 common;
	const void *skaddr;
	__u16 family;
	__u16 protocol;
};

SEC("tracepoint/sock/sk_data_ready")
int tp_ready(struct lsk_tp_data_ready *ctx)
{
	LS_REJECT_IF(LS_FEAT_QUEUE);
	if (ctx->protocol != IPPROTO_TCP)
		return 0;
	return data_ready((struct sock *)ctx->skaddr);
}

SEC("kprobe/sock_def_readable")
int BPF_KPROBE(kp_ready, struct sock *sk)
{
	LS_REJECT_IF(LS_FEAT_QUEUE);
	return data_ready(sk);
}

SEC("fentry/sock_def_readable")
int BPF_PROG(fe_ready, struct sock *sk)
{
	LS_REJECT_IF(LS_FEAT_QUEUE);
	return data_ready(sk);
}
