#!/usr/bin/env bash
# gRPC C++ under concurrency, where decode and encode must find their own request:
# the greeter's handler threads take calls in any order, and a BIO pair offers no fd.
# Two h2load runs at once, 8 RPCs in flight each: small requests (one nested Address)
# and large ones (ADDR_BIG Addresses, echoed back in the reply, so both their decode
# and their encode take far longer). Every RPC's size class is known from its bytes;
# a decode or encode given to the wrong request shows up as a small RPC with a large
# one's time or the reverse. Held on their handler thread until a response starts
# (proto_by_handler_thread), 2-5% of them land on the other class here (each swap
# counts twice): almost none where the handler thread writes its own response, about
# one in eight where another thread writes it (the oldest waiting call is taken, and
# calls of several connections wait together). Matched by the order requests
# completed, as before, it was ~24%. At most 8% may.
. "$(dirname "$0")/../lib.sh"
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
	[(if .bytes_in == $s then "small" elif .bytes_in == $b then "big" else "other" end), .phases.decode, .phases.encode] | @tsv' "$T" > "$TMP/r.tsv"
ns=$(awk '$1=="small"' "$TMP/r.tsv" | wc -l) nb=$(awk '$1=="big"' "$TMP/r.tsv" | wc -l) no=$(awk '$1=="other"' "$TMP/r.tsv" | wc -l)
check "every RPC counted once with its method: $ns small = $N, $nb large = $N ($no of neither size)" \
	test "$ns" -eq "$N" -a "$nb" -eq "$N" -a "$no" -eq 0
col() { awk -v c="$1" -v k="$2" '$1 == c { print $k }' "$TMP/r.tsv" > "$TMP/col"; }
col small 2; ds=$(pct "$TMP/col" 0.5); col big 2; db=$(pct "$TMP/col" 0.5)
col small 3; es=$(pct "$TMP/col" 0.5); col big 3; eb=$(pct "$TMP/col" 0.5)
echo "decode p50: small $ds ns, large $db ns; encode p50: small $es ns, large $eb ns"
check "the classes are told apart: large decode p50 >= 10x small ($db vs $ds), encode too ($eb vs $es)" \
	test "$ds" -gt 0 -a "$db" -ge $((ds * 10)) -a "$es" -gt 0 -a "$eb" -ge $((es * 10))
# The boundary between the classes: the geometric mean of their medians.
read -r dcut ecut <<< "$(awk -v a="$ds" -v b="$db" -v c="$es" -v d="$eb" 'BEGIN { printf "%d %d\n", sqrt(a * b), sqrt(c * d) }')"
read -r d0 e0 dw ew <<< "$(awk -v dc="$dcut" -v ec="$ecut" '
	$2 == 0 { d0++ } $3 == 0 { e0++ }
	($1 == "small" && $2 > dc) || ($1 == "big" && $2 > 0 && $2 < dc) { dw++ }
	($1 == "small" && $3 > ec) || ($1 == "big" && $3 > 0 && $3 < ec) { ew++ }
	END { printf "%d %d %d %d\n", d0, e0, dw, ew }' "$TMP/r.tsv")"
unmatched=$(jq -r 'select(.type=="summary") | .counters.proto_unmatched // 0' "$T")
echo "without decode: $d0, without encode: $e0, decode of the other size: $dw, encode of the other size: $ew, unmatched: $unmatched"
total=$((2 * N))
check "decode > 0 and encode > 0 for at least 99% of RPCs ($d0 and $e0 of $total without)" \
	test $((d0 * 100)) -le "$total" -a $((e0 * 100)) -le "$total"
check "decodes and encodes of the other size class: at most 8% ($dw and $ew of $total)" \
	test $((dw * 100)) -le $((total * 8)) -a $((ew * 100)) -le $((total * 8))
nom=$(jq -s '[.[] | select(.type=="request" and .phases.decode > 0) | select((.matched // []) | index("proto_by_handler_thread") | not)] | length' "$T")
check "every request with a decode says how it was matched: proto_by_handler_thread ($nom do not)" test "$nom" -eq 0
kill -INT "$SPID"
assert_no_probes
