#!/usr/bin/env bash
# HTTP/1.1 over plain TCP, read from the socket syscalls without any uprobe (the syscall
# reader): the nginx and Node.js tests' loads and checks over http (SCHEME=http): every
# request once with its method, path and status, keep-alive and pipelined requests apart,
# /slow's app time the delay its server measured, each connection recognised by its first
# request, no TLS time.
. "$(dirname "$0")/../lib.sh"
for t in http1_nginx http1_node; do
	SCHEME=http bash "$ROOT/tests/e2e/$t.sh" || fail "$t over plain TCP failed"
	pass "$t over plain TCP"
done
