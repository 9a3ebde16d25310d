#!/usr/bin/env bash
# The C++ gRPC server (examples/greeter) at saturation under h2load, without latscope, with
# `trace --no-records` and with `trace` (request records), interleaved, one run each by
# default (ROUNDS): requests/s, the ratio kept, and the probe hits per RPC from the traced
# run's summary (library probes, entry + return counted once; kernel tcp_* apart).
# Prints a markdown section on stdout. Run from the repository root, as root.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
ROUNDS=${ROUNDS:-1}
N=${BENCH_REQS:-20000}
G=build/examples
M=/latscope.greeter.Greeter/SayHello

rps() { # rps NAME: one h2load run, req/s appended to $TMP/rps.NAME
	h2load -n "$N" -c 10 -m 10 -t 1 -d "$TMP/body.bin" -H 'content-type: application/grpc' -H 'te: trailers' \
		"https://127.0.0.1:$PORT$M" 2>&1 | sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' >> "$TMP/rps.$1"
}

make_cert
start_listener greeter "$G/greeter-server" --cert "$TMP/cert.pem" --key "$TMP/key.pem" -p 0
"$G/greeter-body" --addresses 3 -o "$TMP/body.bin"
h2load -n 200 -c 2 -m 2 -t 1 -d "$TMP/body.bin" -H 'content-type: application/grpc' -H 'te: trailers' \
	"https://127.0.0.1:$PORT$M" > /dev/null 2>&1 # warm up: connections, thread pool
for _ in $(seq "$ROUNDS"); do
	rps none
	"$LATSCOPE" trace -p "$SERVER_PID" --no-records -v > /dev/null 2> "$TMP/t.err" & BG=$!
	wait_attached "$TMP/t.err"; rps norec; kill -INT "$BG"; wait "$BG" || true
	"$LATSCOPE" trace -p "$SERVER_PID" --json -v > "$TMP/trace.json" 2> "$TMP/t.err" & BG=$!
	wait_attached "$TMP/t.err"; rps trace; kill -INT "$BG"; wait "$BG" || true
done
a=$(median < "$TMP/rps.none"); b=$(median < "$TMP/rps.norec"); c=$(median < "$TMP/rps.trace")
S=$(jq -c 'select(.type=="summary")' "$TMP/trace.json")
rpcs=$(jq -r '[.requests[].count] | add // 0' <<< "$S")
[[ $rpcs -gt 0 ]] || fail "the traced run saw no RPC"
echo "## C++ gRPC server (examples/greeter, unary SayHello; h2load -n $N -c 10 -m 10 -t 1, $ROUNDS run(s) each)"
echo ""
echo "| req/s without latscope | with trace --no-records | with trace (request records) |"
echo "|---|---|---|"
awk -v a="$a" -v b="$b" -v c="$c" 'BEGIN { printf "| %.0f | %.0f (%.2fx) | %.0f (%.2fx) |\n", a, b, b / a, c, c / a }'
echo ""
echo "Probe hits per RPC (traced run, $rpcs RPCs):"
echo ""
echo "| probe | calls | per RPC |"
echo "|---|---|---|"
jq -r --argjson n "$rpcs" '.probes[] | select(.calls > 0) | "| \(.probe) | \(.calls) | \((.calls / $n * 100 | round) / 100) |"' <<< "$S"
jq -r --argjson n "$rpcs" '"| all library probes | \([.probes[] | select(.probe | test("^tcp_") | not) | .calls] | add) | \(([.probes[] | select(.probe | test("^tcp_") | not) | .calls] | add) / $n * 100 | round / 100) |"' <<< "$S"
echo ""
