/*
 * The unit tests' end of a request: a request record of pid 42 for (conn, stream), fed to
 * request assembly. Its method, or NULL when no request came back.
 */
#ifndef LS_TEST_REQFINISH_H
#define LS_TEST_REQFINISH_H

#include <string.h>

#include <linux/types.h>
#include "latscope.h"
#include "requests.h"

static const char *finish(struct ls_reqs *r, __u64 conn, __u32 stream, struct ls_req_view *v)
{
	static struct ls_request q;

	memset(&q, 0, sizeof(q));
	q.type = LS_REC_REQUEST;
	q.pid = 42;
	q.conn = conn;
	q.stream = stream;
	q.total_ns = 1000;
	if (ls_reqs_feed(r, &q, sizeof(q), v) != 1)
		return NULL;
	return v->method;
}

#endif
