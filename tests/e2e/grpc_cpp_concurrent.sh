#!/usr/bin/env bash
# gRPC C++ under concurrency, where decode and encode must find their own request:
# the greeter's handler threads take calls in any order, and a BIO pair offers no fd.
# Two h2load runs at once, 8 RPCs in flight each: small requests (one nested Address)
# and large ones (ADDR_BIG Addresses, echoed back in the reply, so both their decode
# and their encode take far longer). Every RPC's size class is known from its bytes;
# a decode or encode given to the wrong request shows up as a small RPC with a large
# one's time or the reverse. Held on their handler thread until a response starts
# (proto_by_handler_thread), 2-9% of them land on the other class here (each swap
# counts twice; encodes 21-50 of 600 over the last thirteen suites): almost none where
# the handler thread writes its own response, about one in eight where another thread
# writes it (the oldest waiting call is taken, and calls of several connections wait
# together). Matched by the order requests completed, as before, it was ~24%. At most
# 10% may.
. "$(dirname "$0")/../lib.sh"
# 600 RPCs as fast as h2load sends them, every one counted: trace everything. Where a probe
# hit costs ~5 us (another host of this kind), the burst outspends the default budget's
# bucket and windows would rightly see a share of it.
export LATSCOPE_OVERHEAD=off
N=${N:-300} ADDR_BIG=${ADDR_BIG:-3000}
G=$ROOT/build/examples
M=/latscope.greeter.Greeter

make_cert
start_listener greeter "$G/greeter-server" --cert "$TMP/cert.pem" --key "$TMP/key.pem" -p 0
SPID=$SERVER_PID
"$G/greeter-body" --delay-ms 3 --addresses 1 -o "$TMP/small.bin"
"$G/greeter-body" --delay-ms 3 --addresses "$ADDR_BIG" -o "$TMP/big.bin"
SS=$(stat -c %s "$TMP/small.bin") BS=$(stat -c %s "$TMP/big.bin")
load() { # load BODY OUT
	h2load -n "$N" -c 2 -m 4 -t 1 -d "$1" -H 'content-type: application/grpc' -H 'te: trailers' \
		"https://127.0.0.1:$PORT$M/SayHello" > "$2" 2>&1
}
start_trace "$TMP/t.json" -p "$SPID" --json --all -d 90
load "$TMP/small.bin" "$TMP/small.txt" &
SMALL=$!
load "$TMP/big.bin" "$TMP/big.txt" || { cat "$TMP/big.txt"; fail "h2load (large requests) failed"; }
wait "$SMALL" || { cat "$TMP/small.txt"; fail "h2load (small requests) failed"; }
kill -INT "$TRACE_PID"; wait_trace
grep -q "$N succeeded" "$TMP/small.txt" || { cat "$TMP/small.txt"; fail "small requests failed"; }
grep -q "$N succeeded" "$TMP/big.txt" || { cat "$TMP/big.txt"; fail "large requests failed"; }
T=$TMP/t.json
jq -r --argjson s "$SS" --argjson b "$BS" --arg m "$M/SayHello" 'select(.type=="request" and .method==$m) |
	[(if .bytes_in == $s then "small" elif .bytes_in == $b then "large" else "other" end), .phases.decode, .phases.encode] | @tsv' "$T" > "$TMP/r.tsv"
size_classes "$TMP/r.tsv" "$N" 1 10
echo "unmatched: $(jq -r 'select(.type=="summary") | .counters.proto_unmatched // 0' "$T")"
nom=$(jq -s '[.[] | select(.type=="request" and .phases.decode > 0) | select((.matched // []) | index("proto_by_handler_thread") | not)] | length' "$T")
check "every request with a decode says how it was matched: proto_by_handler_thread ($nom do not)" test "$nom" -eq 0
kill -INT "$SPID"
assert_no_probes
