#!/usr/bin/env bash
# The C++ gRPC server (examples/greeter: Debian's libgrpc++, TLS over a BIO pair, chttp2,
# libprotobuf) under its own client and under h2load: every RPC counted once with its
# method, decode and encode once per message (nested messages do not count again), app
# within 5% of the injected delay, and every phase of a slow RPC measured.
. "$(dirname "$0")/../lib.sh"
# Needs every RPC seen at the load it drives: past the budget where hits
# cost ten times more (the rule in tests/lib.sh).
export LATSCOPE_OVERHEAD=off
DELAY_MS=${DELAY_MS:-20}
UNARY=${UNARY:-100} STREAMS=${STREAMS:-30} REPLIES=4 H2=${H2:-200} H1=${H1:-100}
G=$ROOT/build/examples
M=/latscope.greeter.Greeter

make_cert
start_listener greeter "$G/greeter-server" --cert "$TMP/cert.pem" --key "$TMP/key.pem" -p 0
SPID=$SERVER_PID
client() { "$G/greeter-client" -t "127.0.0.1:$PORT" --ca "$TMP/cert.pem" --addresses 3 "$@"; }
client -n 3 > /dev/null || fail "greeter-client cannot reach the server"

# ---- probes: every protobuf and gRPC symbol found, with its library --------------------
"$LATSCOPE" probes -p "$SPID" --json > "$TMP/p.json"
for lib in protobuf grpc; do
	found=$(jq -r --arg l "$lib" '[.probes[] | select(.library == $l and .found)] | length' "$TMP/p.json")
	miss=$(jq -r --arg l "$lib" '[.probes[] | select(.library == $l and (.found | not))] | length' "$TMP/p.json")
	bad=$(jq -r --arg l "$lib" '[.probes[] | select(.library == $l and .found and (.path | test("/lib" + $l + "[.]so") | not))] | length' "$TMP/p.json")
	check "probes: $found $lib symbols found ($miss missing), each in its library ($bad elsewhere)" test "$found" -gt 0 -a "$miss" -eq 0 -a "$bad" -eq 0
done
for sym in _Z24grpc_chttp2_perform_read _Z23grpc_chttp2_begin_write _Z21grpc_chttp2_end_write grpc_call_start_batch \
	_ZN6google8protobuf11MessageLite23ParseFromZeroCopyStream _ZNK6google8protobuf11MessageLite25SerializeToZeroCopyStream; do
	jq -e --arg s "$sym" '[.probes[] | select(.found and (.symbol | startswith($s)))] | length == 1' "$TMP/p.json" > /dev/null ||
		fail "probes: $sym not found"
done
end_write=$(jq -r '.probes[] | select(.symbol | startswith("_Z21grpc_chttp2_end_write")) | .symbol' "$TMP/p.json")
pass "probes: chttp2 and libprotobuf entry points found; the absl pattern resolved to $end_write"
"$LATSCOPE" probes -p "$SPID" > "$TMP/p.txt"
grep -Eq '^grpc_call_start_batch +grpc +found +0x[0-9a-f]+ +/.*libgrpc\.so' "$TMP/p.txt" || { cat "$TMP/p.txt"; fail "plain probes output lacks grpc_call_start_batch"; }
pass "plain probes output lists grpc_call_start_batch with libgrpc"

# ---- its own client (unary, server streaming), then h2load (raw gRPC bodies) ------------
# One trace session for both (each detach of ~70 uprobes costs seconds on a loaded machine).
# h2load's requests carry a payload, so their DATA size tells them apart.
"$G/greeter-body" --delay-ms "$DELAY_MS" --addresses 3 --payload-bytes 64 -o "$TMP/body.bin"
"$G/greeter-body" --delay-ms "$DELAY_MS" --addresses 3 --payload-bytes 128 -o "$TMP/body1.bin"
HSIZE=$(stat -c %s "$TMP/body.bin") H1SIZE=$(stat -c %s "$TMP/body1.bin")
start_trace "$TMP/t.json" -p "$SPID" --json --all -t 5ms -d 90
client -n "$UNARY" -c 1 --delay-ms "$DELAY_MS" > "$TMP/c1.out" || fail "unary client: $(cat "$TMP/c1.out")"
client -n "$STREAMS" -c 1 -m SayHellos --count "$REPLIES" --delay-ms "$DELAY_MS" > "$TMP/c2.out" || fail "streaming client"
h2load -n "$H2" -c 4 -m 4 -t 1 -d "$TMP/body.bin" -H 'content-type: application/grpc' -H 'te: trailers' \
	"https://127.0.0.1:$PORT$M/SayHello" > "$TMP/h2load.txt" 2>&1 || { cat "$TMP/h2load.txt"; fail "h2load"; }
# One at a time: what app must match is the handler's delay, not the wait for a free handler thread.
h2load -n "$H1" -c 1 -m 1 -t 1 -d "$TMP/body1.bin" -H 'content-type: application/grpc' -H 'te: trailers' \
	"https://127.0.0.1:$PORT$M/SayHello" > "$TMP/h2load1.txt" 2>&1 || { cat "$TMP/h2load1.txt"; fail "h2load -c 1"; }
kill -INT "$TRACE_PID"; wait_trace
T=$TMP/t.json
echo "client: $(cat "$TMP/c1.out"); $(cat "$TMP/c2.out")"
grep -q "ok=$UNARY failed=0 replies=$UNARY " "$TMP/c1.out" || fail "unary client: $(cat "$TMP/c1.out")"
grep -q "ok=$STREAMS failed=0 replies=$((STREAMS * REPLIES)) " "$TMP/c2.out" || fail "streaming client: $(cat "$TMP/c2.out")"
grep -q "$H2 succeeded" "$TMP/h2load.txt" || { cat "$TMP/h2load.txt"; fail "h2load requests failed"; }
grep -q "$H1 succeeded" "$TMP/h2load1.txt" || { cat "$TMP/h2load1.txt"; fail "h2load -c 1 requests failed"; }
jq -c --argjson h "$HSIZE" --argjson h1 "$H1SIZE" 'select(.type=="request") | .src = (if .bytes_in == $h then "h2load" elif .bytes_in == $h1 then "h2load1" else "client" end)' "$T" > "$TMP/r.json"
R=$TMP/r.json
n1=$(jq -s --arg m "$M/SayHello" '[.[] | select(.src=="client" and .method==$m)] | length' "$R")
n2=$(jq -s --arg m "$M/SayHellos" '[.[] | select(.src=="client" and .method==$m)] | length' "$R")
nh=$(jq -s --arg m "$M/SayHello" '[.[] | select(.src=="h2load" and .method==$m)] | length' "$R")
nh1=$(jq -s --arg m "$M/SayHello" '[.[] | select(.src=="h2load1" and .method==$m)] | length' "$R")
all=$(jq -s 'length' "$R")
check "every RPC counted once with its method: client SayHello $n1 = $UNARY, SayHellos $n2 = $STREAMS, h2load SayHello $nh = $H2 + $nh1 = $H1, $all in all" \
	test "$n1" -eq "$UNARY" -a "$n2" -eq "$STREAMS" -a "$nh" -eq "$H2" -a "$nh1" -eq "$H1" -a "$all" -eq $((UNARY + STREAMS + H2 + H1))
# Each run has its own connections; a freed SSL object's address can come back for the next.
dup=$(jq -r '"\(.conn) \(.stream) \(.method) \(.src)"' "$R" | sort | uniq -d | wc -l)
check "no (connection, stream) of one run reported twice ($dup)" test "$dup" -eq 0
parse=$(jq -r 'select(.type=="summary") | [.probes[] | select(.probe=="MessageLite::Parse") | .ok] | add // 0' "$T")
ser=$(jq -r 'select(.type=="summary") | [.probes[] | select(.probe=="MessageLite::Serialize") | .ok] | add // 0' "$T")
check "decode once per request message, nested Person/Address not counted again ($parse = $UNARY + $STREAMS + $H2 + $H1)" \
	test "$parse" -eq $((UNARY + STREAMS + H2 + H1))
check "encode once per reply message ($ser = $UNARY + $STREAMS x $REPLIES + $H2 + $H1)" test "$ser" -eq $((UNARY + STREAMS * REPLIES + H2 + H1))
nodec=$(jq -s '[.[] | select(.phases.decode == 0)] | length' "$R")
# No fd on a BIO pair: a decode waits on its handler thread until a response starts
# (proto_by_handler_thread); one whose call no response takes is counted unmatched.
# Allowed for 1% at most (grpc_cpp_concurrent measures how often one goes astray).
nrpc=$(jq -s 'length' "$R")
check "decode > 0 for at least 99% of RPCs ($nodec of $nrpc without)" test $((nodec * 100)) -le "$nrpc"
noenc=$(jq -s '[.[] | select((.src=="client" or .src=="h2load1") and .phases.encode == 0)] | length' "$R")
check "client and h2load -c 1 (one RPC at a time): every RPC has encode > 0 ($noenc without)" test "$noenc" -eq 0
# Under concurrency an encode no request takes is counted, never given to another request.
noenc=$(jq -s '[.[] | select(.src=="h2load" and .phases.encode == 0)] | length' "$R")
unmatched=$(jq -r 'select(.type=="summary") | .counters.proto_unmatched // 0' "$T")
check "h2load (16 in flight): encode > 0 for every RPC but those counted unmatched ($noenc without, $unmatched unmatched of $H2)" \
	test "$noenc" -le "$unmatched"
for src in client h2load1; do
	jq -r --arg m "$M/SayHello" --arg s "$src" 'select(.src==$s and .method==$m) | .phases.app' "$R" > "$TMP/app"
	app50=$(pct "$TMP/app" 0.5)
	check "$src: SayHello app p50 $app50 ns within 5% of the injected ${DELAY_MS} ms" within "$app50" $((DELAY_MS * 1000000)) 0.05
done
nomatch=$(jq -s '[.[] | select((.matched // []) | index("net_by_thread_time") | not)] | length' "$R")
check "every request says its kernel time was matched by thread and time (BIO pair: no fd) ($nomatch do not)" test "$nomatch" -eq 0
bad=$(jq -s '[.[] | select(((.phases | add) - .total_ns | fabs) > ([.total_ns * 0.01, 2000] | max))] | length' "$R")
check "phases add up to the total within 1% ($bad do not)" test "$bad" -eq 0
# The seed's path: a slow RPC with every phase measured.
full=$(jq -s --arg m "$M/SayHello" '[.[] | select(.src=="client" and .method==$m and .slow) | select(.phases | (.net_in > 0 and .tls_in > 0 and .h2_in > 0 and .decode > 0 and .app > 0 and .encode > 0 and .h2_out > 0 and .tls_out > 0 and .net_out > 0))] | length' "$R")
check "slow RPCs with net_in, tls_in, h2_in, decode, app, encode, h2_out, tls_out, net_out all > 0: $full of $UNARY" \
	test "$full" -ge $((UNARY * 9 / 10))
jq -s -c --arg m "$M/SayHello" '[.[] | select(.src=="client" and .method==$m and .slow) | .phases] | .[0]' "$R"
jq -s -c '[.[] | .phases | to_entries[] | select(.value == 0 and .key != "queue") | .key] | group_by(.) | map({(.[0]): length}) | add // {} | "phases at 0: \(.)"' "$R"
kill -INT "$SPID"
assert_no_probes
