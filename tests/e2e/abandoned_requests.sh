#!/usr/bin/env bash
# Requests whose client goes away before the response: h2load is killed 0.5 s into 4
# requests to a method that takes 3 s, 10 times. The server frees each connection when
# it reads its end; the requests can never finish, and the kernel cannot find them from
# the connection. latscope deletes them (once their connection has been gone 2 s) and
# counts them: the reqs map returns to empty, no request is counted as finished, and
# the tables report as many deleted as were opened.
. "$(dirname "$0")/../lib.sh"

start_h2server --method Slow:sleep=3000
start_trace "$TMP/t.json" -p "$H2SERVER_PID" --json
[[ -s $TMP/empty.bin ]] || "$ROOT/build/examples/grpcbody" -o "$TMP/empty.bin"
for _ in $(seq 10); do
	h2load -n 4 -c 1 -m 4 -d "$TMP/empty.bin" -H 'content-type: application/grpc' -H 'te: trailers' \
		"https://127.0.0.1:$PORT/latscope.example.Echo/Slow" > /dev/null 2>&1 &
	sleep 0.5
	kill -KILL $!
	wait $! 2> /dev/null || true
done
opened=$(map_entries "$TRACE_PID" reqs)
echo "requests open in the kernel after the clients left: $opened"
check "the abandoned requests were open ($opened)" test "$opened" -gt 0
for _ in $(seq 100); do (($(map_entries "$TRACE_PID" reqs) == 0)) && break; sleep 0.1; done
left=$(map_entries "$TRACE_PID" reqs)
check "reqs is empty again ($left)" test "$left" -eq 0
stop_trace "$TMP/t.json"
count=$(jq '.requests[0].count' <<< "$S")
check "none counted as finished ($count)" test "$count" -eq 0
swept=$(jq '.tables.requests_of_ended_connections' <<< "$S")
check "the tables count them ($swept deleted, $opened were open)" test "$swept" -ge "$opened"
assert_no_probes
