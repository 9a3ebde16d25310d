#!/usr/bin/env bash
# The Go gRPC example server (grpc-go, protobuf-go) traced without uretprobes: a 20 ms
# handler delay found in app, every phase measured and adding up to the total, methods
# named by grpc-go's own operateHeaders (also on a connection latscope joined mid-flight),
# decode/encode matched to their request by the transport stream the handler goroutine
# serves, and as many requests as the client made.
# GOGRPC_STRIPPED=1 runs the same on the -s -w build: functions from .gopclntab, struct
# offsets from the version table.
. "$(dirname "$0")/../lib.sh"
# The client's RPCs at full speed (Deep recursing 64 calls), every one counted and named:
# trace everything. Where a probe hit costs ~5 us (another host of this kind), that load is
# past the default budget, and after a gap grpc-go's names wait for the next HEADERS.
export LATSCOPE_OVERHEAD=off

if [[ ${GOGRPC_STRIPPED:-0} == 1 ]]; then
	start_gogrpc -stripped -slow-ms 20
	want_symbols=.gopclntab want_offsets='^table: '
else
	start_gogrpc -slow-ms 20
	want_symbols=.symtab want_offsets='^DWARF$'
fi

"$LATSCOPE" probes -p "$GOGRPC_PID" --json > "$TMP/p.json"
for sym in 'crypto/tls.(*Conn).Read' 'crypto/tls.(*Conn).Write' 'golang.org/x/net/http2.(*Framer).ReadFrame' \
	'google.golang.org/grpc/internal/transport.(*http2Server).operateHeaders' \
	'google.golang.org/grpc.(*Server).processUnaryRPC' 'google.golang.org/grpc.(*Server).processStreamingRPC' \
	'google.golang.org/grpc/encoding/proto.codec.Unmarshal' 'google.golang.org/grpc/encoding/proto.codec.Marshal'; do
	jq -e --arg s "$sym" --arg y "$want_symbols" \
		'.probes[] | select(.symbol == $s and .found == true and .return_probe == "none" and .ret_sites > 0 and .symbols == $y)' \
		"$TMP/p.json" > /dev/null ||
		{ jq -c --arg s "$sym" '.probes[] | select(.symbol == $s)' "$TMP/p.json"; fail "$sym: not found from $want_symbols, or with a return probe"; }
done
pass "grpc-go, crypto/tls, http2 and codec probes found in $want_symbols, RET sites only, no return probe"
offs=$(jq -r '.probes[] | select(.symbol | test("operateHeaders")) | .offsets' "$TMP/p.json")
check "struct offsets from $want_offsets ($offs)" grep -Eq "$want_offsets" <<< "$offs"

# 1. Requests from the start of their connection.
start_trace "$TMP/t.json" -p "$GOGRPC_PID" --json --all -d 60
gogrpc_client -c 2 -n 60 -mix Fast,Slow,Stream,Deep -depth 64 -count 5 > "$TMP/client.txt" || { cat "$TMP/client.txt"; fail "client RPCs failed"; }
kill -INT "$TRACE_PID"; wait_trace
cat "$TMP/client.txt"
T=$TMP/t.json
total=$(jq -s '[.[] | select(.type=="request")] | length' "$T")
for m in Fast Slow Stream Deep; do
	sent=$(sed -n "s/^$m ok \([0-9]*\) failed 0$/\1/p" "$TMP/client.txt")
	got=$(jq -s --arg m "/latscope.gogrpc.Echo/$m" '[.[] | select(.type=="request" and .method==$m and .grpc_status==0)] | length' "$T")
	oh=$(jq -s --arg m "/latscope.gogrpc.Echo/$m" '[.[] | select(.type=="request" and .method==$m and .method_from=="operateHeaders")] | length' "$T")
	# On a mismatch, show the requests of this method that were not counted, and the counters.
	[[ $got == "$sent" ]] || { jq -c --arg m "/latscope.gogrpc.Echo/$m" 'select(.type=="request" and .method==$m and
		.grpc_status!=0) | {stream, method_from, status, grpc_status, total_ns}' "$T";
		jq -c 'select(.type=="summary") | {dropped, unnamed_requests, counters}' "$T"; }
	# Named exactly, every one by grpc-go's operateHeaders.
	check "$m: $got requests named = $sent the client made ($oh by operateHeaders)" \
		test "$got" -eq "$sent" -a "$oh" -eq "$sent"
done
sent=$(sed -n 's/^total ok \([0-9]*\) failed 0$/\1/p' "$TMP/client.txt")
check "request count $total = the client's $sent" test "$total" -eq "$sent"

jq -r 'select(.type=="request" and .method=="/latscope.gogrpc.Echo/Slow") | .phases.app' "$T" > "$TMP/app"
jq -r 'select(.type=="request" and .method=="/latscope.gogrpc.Echo/Fast") | .phases.app' "$T" > "$TMP/app_fast"
a50=$(pct "$TMP/app" 0.5)
f50=$(pct "$TMP/app_fast" 0.5)
h50=$(sed -n 's/^slow_handler_ns_p50 //p' "$TMP/client.txt")
# app also holds what every request spends between goroutines (reader -> handler -> writer):
# the delay is what Slow adds to it over Fast, which runs the same path without sleeping.
check "Slow: app p50 $((a50 / 1000))us - Fast's $((f50 / 1000))us is the injected 20 ms within 5%" within $((a50 - f50)) 20000000 0.05
check "Slow: app p50 $((a50 / 1000))us within 5% of the delay the handler itself measured ($((h50 / 1000))us)" within "$a50" "$h50" 0.05

n=$(jq -s '[.[] | select(.type=="request")] | length' "$T")
bad=$(jq -s '[.[] | select(.type=="request") | select(((.phases | add) - .total_ns | fabs) > ([.total_ns * 0.01, 2000] | max))] | length' "$T")
unflagged=$(jq -s '[.[] | select(.type=="request" and .overlap != true) | select(((.phases | add) - .total_ns | fabs) > ([.total_ns * 0.01, 2000] | max))] | length' "$T")
check "phases add up to the total within 1% for >= 97% of requests ($bad of $n do not, all flagged overlap)" test $((bad * 100)) -le $((n * 3)) -a "$unflagged" -eq 0
for ph in tls_in h2_in decode encode h2_out tls_out; do
	k=$(jq -s "[.[] | select(.type==\"request\" and .phases.$ph > 0)] | length" "$T")
	check "$ph > 0 for >= 95% of requests ($k of $n)" test $((k * 100)) -ge $((n * 95))
done
k=$(jq -s '[.[] | select(.type=="request" and any(.matched[]?; . == "proto_by_goroutine_stream"))] | length' "$T")
check "decode/encode matched by the handler goroutine's transport stream for >= 95% ($k of $n)" test $((k * 100)) -ge $((n * 95))
# Stream sends 5 messages: 5 encodes against 1 for a unary method.
e_stream=$(jq -s '[.[] | select(.type=="request" and .method=="/latscope.gogrpc.Echo/Stream") | .phases.encode] | add / length' "$T")
e_fast=$(jq -s '[.[] | select(.type=="request" and .method=="/latscope.gogrpc.Echo/Fast") | .phases.encode] | add / length' "$T")
check "Stream's 5 replies cost more encode than Fast's one (mean ${e_stream%.*} ns vs ${e_fast%.*} ns)" \
	awk -v a="$e_stream" -v b="$e_fast" 'BEGIN { exit !(a > 2 * b) }'

# 2. A connection that was open before latscope attached: HPACK cannot decode it, operateHeaders names it.
gogrpc_client -c 1 -d 12s -mix Fast > "$TMP/joined.txt" &
CLIENT=$!
sleep 2
start_trace "$TMP/j.json" -p "$GOGRPC_PID" --json --all -d 4
wait_trace
wait "$CLIENT" || fail "client failed during the joined trace"
nj=$(jq -s '[.[] | select(.type=="request")] | length' "$TMP/j.json")
named=$(jq -s '[.[] | select(.type=="request" and .method=="/latscope.gogrpc.Echo/Fast" and .method_from=="operateHeaders")] | length' "$TMP/j.json")
jq -s -c '[.[] | select(.type=="request")] | group_by([.method, .method_from]) | map({method: .[0].method, from: .[0].method_from, reason: .[0].method_reason, n: length})' "$TMP/j.json"
check "joined mid-connection: $named of $nj requests named by operateHeaders (>= 95%, and some seen)" test "$nj" -gt 20 -a $((named * 100)) -ge $((nj * 95))

# 3. New connections whose first HEADERS comes with the preface (h2load writes them at once):
# grpc-go reads it on the goroutine that accepted the connection, before its reader goroutine
# has read anything, and that goroutine is often a recycled one. Every request is still named
# by operateHeaders, through the transport's own connection.
start_trace "$TMP/n.json" -p "$GOGRPC_PID" --json --all -d 60
"$ROOT/build/examples/grpcbody" -o "$TMP/empty.bin"
for _ in 1 2 3; do
	h2load -n 20 -c 10 -m 1 -d "$TMP/empty.bin" -H 'content-type: application/grpc' -H 'te: trailers' \
		"https://127.0.0.1:$PORT/latscope.gogrpc.Echo/Fast" > "$TMP/h2load-new.txt" 2>&1 || fail "h2load failed"
	grep -q '^requests: 20 total, 20 started, 20 done, 20 succeeded' "$TMP/h2load-new.txt" || { cat "$TMP/h2load-new.txt"; fail "h2load: not every request succeeded"; }
done
kill -INT "$TRACE_PID"; wait_trace
nn=$(jq -s '[.[] | select(.type=="request")] | length' "$TMP/n.json")
named=$(jq -s '[.[] | select(.type=="request" and .method=="/latscope.gogrpc.Echo/Fast" and .method_from=="operateHeaders")] | length' "$TMP/n.json")
jq -s -c '[.[] | select(.type=="request")] | group_by(.method_from) | map({from: .[0].method_from, n: length})' "$TMP/n.json"
check "30 new connections, HEADERS with the preface: $named of $nn requests named by operateHeaders (60)" \
	test "$nn" -eq 60 -a "$named" -eq 60

# Paced requests: the reader goroutine parks inside crypto/tls between them and wakes on
# whichever thread; a request starts when its bytes arrived, not when the read began waiting.
start_trace "$TMP/p.json" -p "$GOGRPC_PID" --json --all --overhead off -d 60
h2load -D 3 -c 2 -m 1 -t 1 --rps 100 -d "$TMP/empty.bin" -H 'content-type: application/grpc' -H 'te: trailers' \
	--log-file="$TMP/paced.log" "https://127.0.0.1:$PORT/latscope.gogrpc.Echo/Fast" > "$TMP/h2load-paced.txt" 2>&1 ||
	fail "h2load (paced) failed"
kill -INT "$TRACE_PID"; wait_trace
jq -r 'select(.type=="request" and .method=="/latscope.gogrpc.Echo/Fast") | .total_ns' "$TMP/p.json" > "$TMP/paced_srv"
awk '{ print $3 * 1000 }' "$TMP/paced.log" > "$TMP/paced_cli"
srv50=$(pct "$TMP/paced_srv" 0.5); cli50=$(pct "$TMP/paced_cli" 0.5)
check "paced Fast ($(wc -l < "$TMP/paced_srv") requests): server p50 $((srv50 / 1000)) us within the client's p50 $((cli50 / 1000)) us (x1.2 + 200 us)" \
	awk -v s="$srv50" -v c="$cli50" 'BEGIN { exit !(s > 0 && s <= 1.2 * c + 200000) }'
assert_no_probes
