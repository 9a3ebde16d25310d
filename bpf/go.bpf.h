/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Go: per-goroutine call stacks, entry after the stack check, uprobes on RETs.
 * Part of bpf/latscope.bpf.c (one object, one skeleton): included from there, in order.
 */

SEC("uprobe")
int go_enter(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 tid = (__u32)id, cookie = (__u32)bpf_get_attach_cookie(ctx);
	struct lsk_gkey key = { .pid = id >> 32, .g = ctx->r14 };
	struct lsk_thread *t;
	struct lsk_call *cl;

	LS_REJECT_IF(LS_FEAT_GO);
	if (!target_slot(id >> 32) || !key.g)
		return 0;
	t = thread_state(&gthreads, &key);
	if (!t)
		return 0;
	/* Entered again before returning: morestack restarted it (when the probe is not past the check). */
	cl = top(t);
	if (cl && LS_COOKIE_PROBE(cl->cookie) == LS_COOKIE_PROBE(cookie))
		return 0;
	if (bpf_map_update_elem(&gcur, &tid, &key, BPF_ANY))
		count(LS_CNT_TABLE_FULL);
	return call_enter(t, key.pid, cookie, ctx->ax, ctx->bx, ctx->cx, 0, bpf_ktime_get_ns());
}

static __always_inline int go_return(struct pt_regs *ctx, const int tls)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 probe = LS_COOKIE_PROBE(bpf_get_attach_cookie(ctx));
	struct lsk_gkey key = { .pid = id >> 32, .g = ctx->r14 };
	struct lsk_thread *t = bpf_map_lookup_elem(&gthreads, &key);
	__u32 d;

	if (!t || !key.g)
		return 0;
	/* Calls above this one on the goroutine's stack lost their returns. */
	for (int i = 0; i < STACK_MAX; i++) {
		struct lsk_call *tc = top(t);

		if (!tc || LS_COOKIE_PROBE(tc->cookie) == probe)
			break;
		t->depth--;
		count(LS_CNT_STALE);
	}
	d = t->depth - 1;
	barrier_var(d);
	if (d >= STACK_MAX || LS_COOKIE_PROBE(t->c[d].cookie) != probe)
		return 0;
	/* At a RET the result is in rax; at a call site's return site, where the caller moved it. */
	return call_return(ctx, t, d, result_reg(ctx), key.pid, (__u32)id, bpf_ktime_get_ns(), tls, key.g);
}

SEC("uprobe")
int go_ret(struct pt_regs *ctx)
{
	return go_return(ctx, 1);
}

SEC("uprobe")
int go_ret_lib(struct pt_regs *ctx)
{
	return go_return(ctx, 0);
}

/*
 * The TLS connection under grpc-go's server transport tr: its net.Conn, either the
 * *tls.Conn itself or grpc's wrapper around it (syscallConn, whose first field is the
 * net.Conn), taken only when the TLS probes know it as a connection of pid.
 */
static __always_inline __u64 transport_conn(__u32 pid, __u64 tr, const struct ls_go_offsets *off)
{
	struct ls_conn_key k = { .pid = pid };
	__u64 data = 0;

	if (!off->h2s_conn || bpf_probe_read_user(&data, sizeof(data), (void *)(tr + off->h2s_conn + 8)) || !data)
		return 0;
	k.conn = data;
	if (bpf_map_lookup_elem(&conns, &k))
		return data;
	if (bpf_probe_read_user(&data, sizeof(data), (void *)(k.conn + 8)) || !data)
		return 0;
	k.conn = data;
	return bpf_map_lookup_elem(&conns, &k) ? data : 0;
}

/*
 * grpc-go's transport decoded a HEADERS frame (operateHeaders, on the
 * connection's reader goroutine): the MetaHeadersFrame carries the decoded
 * fields, so :path is read from them; no HPACK state is needed, which names
 * streams of connections latscope joined mid-flight too. The transport's own
 * net.Conn names the connection; where its layout is unknown, the reader
 * goroutine's last TLS read does, which is wrong before its first read (the
 * server reads the preface, and with it the first HEADERS, on the goroutine that
 * accepted the connection) and when the goroutine is a recycled one. The
 * transport is remembered so that handler goroutines find it from their stream.
 */
static __always_inline int grpc_headers(struct pt_regs *ctx, const struct ls_go_offsets *off, struct lsk_gkey *key)
{
	struct lsk_thread *gt = bpf_map_lookup_elem(&gthreads, key);
	struct lsk_gkey tk = { .pid = key->pid, .g = ctx->ax };
	__u64 conn, hf = 0, fields = 0, nfields = 0;
	struct ls_method_rec *rec;
	__u32 sid = 0;

	conn = transport_conn(key->pid, ctx->ax, off);
	if (!conn && !(conn = gt ? gt->last_conn : 0))
		return 0;
	bpf_map_update_elem(&go_transports, &tk, &conn, BPF_ANY);
	if (bpf_probe_read_user(&hf, sizeof(hf), (void *)(ctx->bx + off->mhf_headers)) || !hf ||
	    bpf_probe_read_user(&sid, sizeof(sid), (void *)(hf + off->hf_frame_header + off->fh_stream_id)) ||
	    bpf_probe_read_user(&fields, sizeof(fields), (void *)(ctx->bx + off->mhf_fields)) ||
	    bpf_probe_read_user(&nfields, sizeof(nfields), (void *)(ctx->bx + off->mhf_fields + 8)))
		return 0;
	/* Pseudo-headers come first: :path is among the first few fields. */
	for (__u32 i = 0; i < 8 && i < nfields; i++) {
		__u64 f = fields + (__u64)i * off->field_size, name[2] = {}, val[2] = {};
		char nm[5] = {};
		__u32 n;

		if (bpf_probe_read_user(name, sizeof(name), (void *)(f + off->field_name)) || name[1] != 5 ||
		    bpf_probe_read_user(nm, sizeof(nm), (void *)name[0]) ||
		    nm[0] != ':' || nm[1] != 'p' || nm[2] != 'a' || nm[3] != 't' || nm[4] != 'h')
			continue;
		if (bpf_probe_read_user(val, sizeof(val), (void *)(f + off->field_value)) || !val[1])
			return 0;
		rec = bpf_ringbuf_reserve(&events, sizeof(*rec), 0);
		if (!rec) {
			count(LS_CNT_RB_DROPS);
			return 0;
		}
		n = val[1] < LS_METHOD_REC_MAX - 1 ? (__u32)val[1] : LS_METHOD_REC_MAX - 1;
		rec->type = LS_REC_METHOD;
		rec->len = (__u16)n;
		rec->pid = key->pid;
		rec->stream = sid;
		rec->_pad = 0;
		rec->conn = conn;
		if (bpf_probe_read_user(rec->name, n & (LS_METHOD_REC_MAX - 1), (void *)val[0]))
			rec->len = 0;
		bpf_ringbuf_submit(rec, rb_flags());
		return 0;
	}
	return 0;
}

/* grpc-go entries that are not timed: a handler goroutine taking a stream, the transport's headers. */
SEC("uprobe")
int go_grpc_enter(struct pt_regs *ctx)
{
	__u64 id = bpf_get_current_pid_tgid();
	__u32 pid = id >> 32, cookie = (__u32)bpf_get_attach_cookie(ctx);
	struct lsk_gkey key = { .pid = pid, .g = ctx->r14 };
	const struct ls_go_offsets *off;
	struct lsk_gkey tk = { .pid = pid };
	struct ls_req_key rk = { .pid = pid };
	struct lsk_req *r;
	__u64 stream, bx, di, *conn;
	__u32 probe = LS_COOKIE_PROBE(cookie);

	if (!target_slot(pid) || !key.g || !(off = bpf_map_lookup_elem(&go_offs, &pid)))
		return 0;
	/* Handlers are counted at their RETs: an entry fires again when morestack restarts the function. */
	if (probe < LS_PROBE_MAX && LS_COOKIE_KIND(cookie) == LS_KIND_GO_HEADERS)
		ls_account(probe, 1, 0, 0);
	if (!emit_requests)
		return 0;
	if (LS_COOKIE_CONV(cookie) == LS_ARG_GO_HEADERS)
		return grpc_headers(ctx, off, &key);
	/* Both registers read as they are: the verifier refuses a computed offset into the context. */
	bx = ctx->bx;
	di = ctx->di;
	barrier_var(bx);
	barrier_var(di);
	stream = LS_COOKIE_CONV(cookie) == LS_ARG_GO_STREAM_BX ? bx : di;
	if (bpf_probe_read_user(&rk.stream, sizeof(rk.stream), (void *)(stream + off->stream_id)) ||
	    bpf_probe_read_user(&tk.g, sizeof(tk.g), (void *)(stream + off->stream_st + 8)))
		return 0;
	conn = bpf_map_lookup_elem(&go_transports, &tk);
	if (!conn)
		return 0;
	rk.conn = *conn;
	bpf_map_update_elem(&go_serving, &key, &rk, BPF_ANY);
	/* The request's stacks are this goroutine's (trace --stacks). */
	r = bpf_map_lookup_elem(&reqs, &rk);
	if (r)
		r->serve_g = key.g;
	return 0;
}

/* A handler returned (RET sites of processUnaryRPC/processStreamingRPC): the goroutine serves no stream. */
SEC("uprobe")
int go_grpc_ret(struct pt_regs *ctx)
{
	struct lsk_gkey key = { .pid = bpf_get_current_pid_tgid() >> 32, .g = ctx->r14 };
	__u32 probe = LS_COOKIE_PROBE(bpf_get_attach_cookie(ctx));

	if (!target_slot(key.pid))
		return 0;
	if (probe < LS_PROBE_MAX)
		ls_account(probe, 1, 0, 0);
	bpf_map_delete_elem(&go_serving, &key);
	return 0;
}
