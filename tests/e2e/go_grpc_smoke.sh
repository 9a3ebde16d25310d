#!/usr/bin/env bash
# A short run on the Go gRPC server: every Go program loads and attaches (also under
# the 6.1 kernel's verifier, where vm_kernel_hooks.sh runs this), requests are timed
# with decode/encode and named by operateHeaders, as many as the client made; those
# the client cancelled (a reset stream) are counted, not reported.
. "$(dirname "$0")/../lib.sh"
# Needs every call seen at the load it drives: past the budget where hits
# cost ten times more (the rule in tests/lib.sh).
export LATSCOPE_OVERHEAD=off

start_gogrpc -slow-ms 50
start_trace "$TMP/t.json" -p "$GOGRPC_PID" --json --all -d 120
# FastOpen: grpc-go ends the response and resets the stream in one write (the request stands).
# SlowCancel: the client resets the stream 20 ms into the server's 50 ms (no response, unless
# the reset crossed it: an emulated guest's timers can be that late); not the last call, whose
# reset the client's exit may not send.
gogrpc_client -c 1 -n "${GO_SMOKE_N:-20}" -mix Fast,SlowCancel,Slow,Stream,FastOpen -cancel-ms 20 > "$TMP/client.txt" ||
	{ cat "$TMP/client.txt"; fail "client RPCs failed"; }
kill -INT "$TRACE_PID"; wait_trace
hook=$(sed -n 's/^latscope: kernel hook \([a-z]*\);.*/\1/p' "$TMP/t.json.err")
echo "kernel hook: $hook"
[[ $KHOOK == auto || $hook == "$KHOOK" ]] || fail "kernel hook is $hook, expected $KHOOK"
cancelled=$(sed -n 's/^SlowCancel ok \([0-9]*\) failed 0$/\1/p' "$TMP/client.txt")
sent=$(($(sed -n 's/^total ok \([0-9]*\) failed 0$/\1/p' "$TMP/client.txt") - cancelled))
reset=$(jq 'select(.type=="summary") | .counters.requests_reset' "$TMP/t.json")
n=$(jq -s '[.[] | select(.type=="request" and (.method | startswith("/latscope.gogrpc.Echo/")))] | length' "$TMP/t.json")
oh=$(jq -s '[.[] | select(.type=="request" and .method_from=="operateHeaders" and (.method | startswith("/latscope.gogrpc.Echo/")))] | length' "$TMP/t.json")
d=$(jq -s '[.[] | select(.type=="request" and .phases.decode > 0 and .phases.encode > 0 and any(.matched[]?; . == "proto_by_goroutine_stream"))] | length' "$TMP/t.json")
tls=$(jq -s '[.[] | select(.type=="request" and .phases.tls_in > 0 and .phases.tls_out > 0 and .phases.h2_in > 0)] | length' "$TMP/t.json")
check "trace exited cleanly (status $TRACE_RC)" test "$TRACE_RC" -eq 0
# What a miss looks like, should one come: the methods by source, and the summary's counters.
echo "methods: $(jq -s -c '[.[] | select(.type=="request") | "\(.method) \(.method_from)"] | group_by(.) | map({(.[0]): length}) | add' "$TMP/t.json")"
echo "client: $(tr '\n' ' ' < "$TMP/client.txt")"
echo "summary: $(jq -c 'select(.type=="summary") | {dropped, counters}' "$TMP/t.json")"
# One connection (the client's default): its streams are 1, 3, 5, ..., the second of every
# five calls a SlowCancel. Which of the others went unreported; which cancelled ones were.
streams() { # streams WHICH: the streams of the calls that are (==) or are not (!=) SlowCancel
	jq -n -c --argjson n "$((sent + cancelled))" "[range(0; \$n) | select(. % 5 $1 1) | 2 * . + 1]"
}
got=$(jq -s -c '[.[] | select(.type=="request") | .stream]' "$TMP/t.json")
missed=$(jq -n -r --argjson e "$(streams '!=')" --argjson s "$got" '$e - $s | map(tostring) | join(" ")')
answered=$(jq -n --argjson c "$(streams ==)" --argjson s "$got" '[$s[] | select(. as $x | $c | index($x))] | length')
echo "streams not reported: $missed"
echo "cancelled calls the server answered before it read the reset: $answered"
# Every one named by grpc-go's operateHeaders (also the first of its connection, which grpc-go
# reads on the goroutine that accepted it).
check "$n requests named = the client's $sent, and $answered cancelled ones answered ($oh of them by operateHeaders)" \
	test -z "$missed" -a "$n" -eq $((sent + answered)) -a "$oh" -eq "$n"
check "$d of them with decode and encode matched by the handler goroutine" test "$d" -eq "$n"
check "the client's $cancelled cancelled calls counted as reset ($reset) or answered ($answered)" \
	test "$cancelled" -gt 0 -a $((reset + answered)) -eq "$cancelled"
# The Go TLS returns hand their plaintext to the HTTP/2 walk (a tail call; its own copy for Go).
check "$tls of them with tls_in, tls_out and h2_in > 0 (the walk of Go TLS plaintext)" test "$tls" -eq "$n"
assert_no_probes
