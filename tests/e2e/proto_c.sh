#!/usr/bin/env bash
# decode/encode phases from protobuf-c in the example server: a request with a
# large repeated field decodes >= 10x slower than an empty one, each request
# gets exactly its own decode, and the phases still add up.
. "$(dirname "$0")/../lib.sh"
# 400 requests as fast as h2load sends them, every decode counted: trace everything. Where a
# probe hit costs ~5 us, that pace is past the default budget (a suite here measured 24% of
# the server's CPU, and the windows saw 71-88% of the requests).
export LATSCOPE_OVERHEAD=off

start_h2server --method Slow:sleep=0
"$ROOT/build/examples/grpcbody" --values 100000 -o "$TMP/big.bin"
start_trace "$TMP/t.json" -p "$H2SERVER_PID" --json --all -d 60
grpc_load Fast 300 -c 1 -m 1 -t 1 > /dev/null 2>&1 || fail "h2load Fast"
h2load -n 100 -c 1 -m 1 -t 1 -d "$TMP/big.bin" -H 'content-type: application/grpc' -H 'te: trailers' \
	"https://127.0.0.1:$PORT/latscope.example.Echo/Slow" > "$TMP/big.txt" 2>&1 || fail "h2load big"
grep -q "100 succeeded" "$TMP/big.txt" || { cat "$TMP/big.txt"; fail "large requests failed"; }
kill -INT "$TRACE_PID"; wait_trace
T=$TMP/t.json
jq -r 'select(.type=="request" and .method=="/latscope.example.Echo/Fast") | .phases.decode' "$T" > "$TMP/small"
jq -r 'select(.type=="request" and .method=="/latscope.example.Echo/Slow") | .phases.decode' "$T" > "$TMP/large"
s50=$(pct "$TMP/small" 0.5); l50=$(pct "$TMP/large" 0.5)
check "decode p50: 100000-value message ${l50} ns >= 10x empty message ${s50} ns" test "$s50" -gt 0 -a "$l50" -ge $((s50 * 10))
nodec=$(jq -s '[.[] | select(.type=="request" and (.phases.decode == 0 or .phases.encode == 0))] | length' "$T")
check "every request has decode > 0 and encode > 0 ($nodec without)" test "$nodec" -eq 0
bad=$(jq -s '[.[] | select(.type=="request") | select(((.phases | add) - .total_ns | fabs) > ([.total_ns * 0.01, 2000] | max))] | length' "$T")
check "phases add up to the total within 1% for every request ($bad do not)" test "$bad" -eq 0
unmatched=$(jq -r 'select(.type=="summary") | .counters.proto_unmatched // 0' "$T")
check "no decode or encode left unmatched ($unmatched)" test "$unmatched" -eq 0
pbc=$(jq -r 'select(.type=="summary") | [.probes[] | select(.probe=="protobuf_c_message_unpack") | .ok] | add // 0' "$T")
check "protobuf_c_message_unpack counted once per request ($pbc = 400)" test "$pbc" -eq 400
assert_no_probes
