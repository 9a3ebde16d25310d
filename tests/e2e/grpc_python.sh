#!/usr/bin/env bash
# gRPC Python (Debian's python3-grpcio: gRPC core inside the stripped extension module
# cygrpc, TLS from the system libssl over memory BIOs; messages through libprotobuf, via
# python3-protobuf's C++ implementation). Its server reads and decodes every message on
# one polling thread and hands calls to worker threads, which encode and (mostly) write
# the response themselves. A decode on a thread that reads and never encodes belongs to
# a request read whole: the one whose message ends with the bytes the decode ended on,
# else the oldest in the order requests opened; an encode belongs to the next response
# its thread starts (a response the transport hands to another thread takes the oldest
# encode left waiting). Two h2load runs at once, 4 RPCs in flight each: small requests
# to Fast and large ones (LARGE values and names, echoed back) to Slow, whose handler
# sleeps SLOW_MS. Every RPC's size class is known from its bytes; a decode or encode
# given to the wrong request shows as a small RPC with a large one's time or the
# reverse. Here about 1% of calls have no decode (the polling thread's first ones,
# before it has shown that it never encodes) and under 2% land on the other class.
# At most 5% of either may.
. "$(dirname "$0")/../lib.sh"
# The small requests drive the server at full speed and every call must be reported: full
# tracing costs it more than the default budget (7.5% measured on one host), which would
# rightly trace a share of the time once the run outlasts the budget's slack (130 of 300
# large calls reported on a slower one).
export LATSCOPE_OVERHEAD=off
N=${N:-300} LARGE=${LARGE:-2000} SLOW_MS=${SLOW_MS:-20}
PY=/usr/bin/python3 SRV=$ROOT/tests/progs/pygrpc/server.py M=/latscope.pygrpc.Echo
"$PY" -c 'import grpc; from google.protobuf.internal import api_implementation as a; assert a.Type() == "cpp"' ||
	fail "python3-grpcio and python3-protobuf (C++ implementation) are needed: make deps"

make_cert
start_listener pygrpc "$PY" "$SRV" --cert "$TMP/cert.pem" --key "$TMP/key.pem" --slow-ms "$SLOW_MS"
SPID=$SERVER_PID
"$PY" "$SRV" --body 1 > "$TMP/small.bin"
"$PY" "$SRV" --body "$LARGE" > "$TMP/large.bin"
SS=$(stat -c %s "$TMP/small.bin") LS=$(stat -c %s "$TMP/large.bin")
load() { # load BODY METHOD OUT: h2load's per-request log in OUT.log
	h2load -n "$N" -c 2 -m 4 -t 1 -d "$1" -H 'content-type: application/grpc' -H 'te: trailers' \
		--log-file "$3.log" "https://127.0.0.1:$PORT$M/$2" > "$3" 2>&1
}
start_trace "$TMP/t.json" -p "$SPID" --json --all -d 120
load "$TMP/small.bin" Fast "$TMP/small.txt" &
SMALL=$!
load "$TMP/large.bin" Slow "$TMP/large.txt" || { cat "$TMP/large.txt"; fail "h2load (large requests) failed"; }
wait "$SMALL" || { cat "$TMP/small.txt"; fail "h2load (small requests) failed"; }
stop_trace "$TMP/t.json"
grep -q "$N succeeded" "$TMP/small.txt" || { cat "$TMP/small.txt"; fail "small requests failed"; }
grep -q "$N succeeded" "$TMP/large.txt" || { cat "$TMP/large.txt"; fail "large requests failed"; }
T=$TMP/t.json
check "no records dropped" test "$(jq '.dropped' <<< "$S")" -eq 0
jq -r --argjson s "$SS" --argjson b "$LS" 'select(.type=="request") |
	[(if .bytes_in == $s and .method == "'$M'/Fast" then "small" elif .bytes_in == $b and .method == "'$M'/Slow" then "large" else "other" end),
	 .phases.decode, .phases.encode, .phases.app, ((.matched // []) | join(","))] | @tsv' "$T" > "$TMP/r.tsv"
size_classes "$TMP/r.tsv" "$N" 5 5
echo "unmatched: $(jq -r '.counters.proto_unmatched // 0' <<< "$S")"
nom=$(awk -F'\t' '$2 > 0 && $5 !~ /proto_by_thread_order/' "$TMP/r.tsv" | wc -l)
check "every request with a decode says how it was matched: proto_by_thread_order ($nom do not)" test "$nom" -eq 0
# The handler's sleep is app time, with Python's and grpc's own work around it (a worker
# to take the call, the GIL, the reply): at least the sleep the server measured, at most
# what the client saw of the whole call (the server's time is inside it).
awk '$1 == "large" { print $4 }' "$TMP/r.tsv" > "$TMP/app"
app50=$(pct "$TMP/app" 0.5)
srv50=$(server_stats pygrpc "$SPID" | jq -r '.slow_delay_ns.p50')
awk '{ print $3 * 1000 }' "$TMP/large.txt.log" > "$TMP/cli.ns"
cli50=$(pct "$TMP/cli.ns" 0.5)
check "Slow app p50 $((app50 / 1000))us: from the server's measured sleep p50 $((srv50 / 1000))us to the client's p50 $((cli50 / 1000))us" \
	test "$app50" -ge "$srv50" -a "$app50" -le "$cli50"
assert_no_probes
