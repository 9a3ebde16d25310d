#!/usr/bin/env bash
# A gRPC server on @grpc/grpc-js (tests/progs/grpcjs/server.js: pure JavaScript on
# Node.js's own http2, with OpenSSL and nghttp2 inside the node executable), the gRPC
# server of Node.js services. Installed from the npm registry into build/grpcjs (pinned
# in tests/progs/grpcjs/package.json; no install script runs). One connection at a time,
# multiplexed, several at once, and a Slow method of known delay: every call reported once
# under its method with grpc-status 0, no response unmatched, every handshake seen, and
# Slow's app phase the delay the server measured in its handler.
. "$(dirname "$0")/../lib.sh"
# h2load drives the server at full speed and every call must be reported: where a hit
# costs 5 us, full tracing costs this server more than the default budget, which would
# rightly trace a share of the time (2910 of 3200 Fast calls reported on one such host).
export LATSCOPE_OVERHEAD=off

SLOW_MS=${SLOW_MS:-20}
command -v node > /dev/null || fail "node not installed: this test needs Node.js (Node 20 at /usr/bin/node here)"
command -v npm > /dev/null || fail "npm not installed (see deps/packages.txt)"
JS=$ROOT/build/grpcjs
if [[ ! -d $JS/node_modules/@grpc/grpc-js ]] || ! cmp -s "$JS/package.json" "$ROOT/tests/progs/grpcjs/package.json"; then
	mkdir -p "$JS"
	cp "$ROOT/tests/progs/grpcjs/package.json" "$JS/"
	(cd "$JS" && npm install --no-audit --no-fund --omit=dev --ignore-scripts) > "$TMP/npm.txt" 2>&1 ||
		{ cat "$TMP/npm.txt"; fail "npm install of @grpc/grpc-js failed (it needs the npm registry)"; }
fi

make_cert
start_listener grpcjs env NODE_PATH="$JS/node_modules" node "$ROOT/tests/progs/grpcjs/server.js" \
	--cert "$TMP/cert.pem" --key "$TMP/key.pem" --slow-ms "$SLOW_MS"
JPID=$SERVER_PID
start_trace "$TMP/t.json" -p "$JPID" --json --all -d 120

sent_fast=0 sent_slow=0 conns=0
"$ROOT/build/examples/grpcbody" -o "$TMP/empty.bin"
jsload() { # jsload METHOD N ARGS...: h2load unary calls of METHOD (an empty message)
	local method=$1 n=$2; shift 2
	h2load -n "$n" -d "$TMP/empty.bin" -H 'content-type: application/grpc' -H 'te: trailers' "$@" \
		"https://127.0.0.1:$PORT/latscope.grpcjs.Echo/$method"
}
run() { # run METHOD N C M: one h2load run, all of which must succeed
	jsload "$1" "$2" -c "$3" -m "$4" -t 1 > "$TMP/h2load.txt" 2>&1 || { cat "$TMP/h2load.txt"; fail "h2load $1 failed"; }
	grep -q "$2 succeeded" "$TMP/h2load.txt" || { cat "$TMP/h2load.txt"; fail "h2load $1 -c $3 -m $4: not all succeeded"; }
	conns=$((conns + $3))
	if [[ $1 == Fast ]]; then sent_fast=$((sent_fast + $2)); else sent_slow=$((sent_slow + $2)); fi
}
run Fast 200 1 1
run Fast 1000 1 10
run Fast 1000 4 10
run Slow 200 2 5
# Both at once, on connections of their own.
jsload Slow 100 -c 2 -m 2 -t 1 > "$TMP/mix-slow.txt" 2>&1 &
MIX=$!
run Fast 1000 2 10
wait "$MIX" || { cat "$TMP/mix-slow.txt"; fail "h2load Slow (mixed) failed"; }
grep -q "100 succeeded" "$TMP/mix-slow.txt" || { cat "$TMP/mix-slow.txt"; fail "h2load Slow (mixed): not all succeeded"; }
sent_slow=$((sent_slow + 100)) conns=$((conns + 2))
pass "h2load: $sent_fast Fast and $sent_slow Slow calls on $conns connections, all succeeded"

S=$(server_stats grpcjs "$JPID")
kill -INT "$TRACE_PID"
wait_trace
[[ $TRACE_RC == 0 ]] || { cat "$TMP/t.json.err"; fail "trace exited with $TRACE_RC"; }
T=$TMP/t.json

afast=$(jq -r '.answered.Fast' <<< "$S"); aslow=$(jq -r '.answered.Slow' <<< "$S")
check "the server answered what h2load sent ($afast Fast, $aslow Slow)" test "$afast" -eq "$sent_fast" -a "$aslow" -eq "$sent_slow"
check "no records dropped" test "$(jq -r 'select(.type=="summary") | .dropped' "$T")" -eq 0
count() { jq -s "[.[] | select(.type==\"request\") | select($1)] | length" "$T"; }
nfast=$(count '.method=="/latscope.grpcjs.Echo/Fast"'); nslow=$(count '.method=="/latscope.grpcjs.Echo/Slow"')
nall=$(count 'true')
kcount=$(jq -r 'select(.type=="summary") | .requests[0].count' "$T")
check "Fast calls reported ($nfast) = answered ($afast)" test "$nfast" -eq "$afast"
check "Slow calls reported ($nslow) = answered ($aslow)" test "$nslow" -eq "$aslow"
check "no other request ($nall = $nfast + $nslow), kernel count $kcount agrees" \
	test "$nall" -eq $((nfast + nslow)) -a "$kcount" -eq "$nall"
ok=$(count '.http_method=="POST" and .status==200 and .grpc_status==0')
check "every call is POST, :status 200, grpc-status 0 ($ok of $nall)" test "$ok" -eq "$nall"
unmatched=$(jq -r 'select(.type=="summary") | .counters.unmatched_responses' "$T")
check "no response without its request (unmatched_responses $unmatched)" test "$unmatched" -eq 0
bad=$(count '(.phases | add) as $s | (($s - .total_ns) | fabs) > ([.total_ns * 0.01, 2000] | max) or .overlap == true')
check "phases add up to the total for every call ($bad do not)" test "$bad" -eq 0
hs=$(jq -r 'select(.type=="summary") | .handshakes' "$T")
check "handshakes counted ($hs) = connections opened ($conns)" test "$hs" -eq "$conns"

jq -r 'select(.type=="request" and .method=="/latscope.grpcjs.Echo/Slow") | .phases.app' "$T" > "$TMP/slow_app"
app50=$(pct "$TMP/slow_app" 0.5)
srv50=$(jq -r '.slow_delay_ns.p50' <<< "$S")
# The handler's timer is the app time, with grpc-js's own work around it on the same thread
# (a few hundred microseconds here): 10% or 1 ms above the measured delay, whichever is more.
check "Slow app p50 $((app50 / 1000))us: from the server's measured delay p50 $((srv50 / 1000))us to 10% (or 1 ms) above (injected ${SLOW_MS} ms)" \
	test "$app50" -ge "$srv50" -a "$app50" -le $((srv50 + (srv50 / 10 > 1000000 ? srv50 / 10 : 1000000)))
assert_no_probes
