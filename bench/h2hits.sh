#!/usr/bin/env bash
# make bench, issue 3: probe hits per request on the example server, and the cost of one
# hit with latscope's programs against the floor (empty programs at the same uprobe sites),
# from throughput at saturation measured side by side (none, floor, latscope interleaved).
# Prints a markdown section on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
ROUNDS=${ROUNDS:-3}
REQS=${BENCH_REQS:-30000}
rps() { # rps NAME: one h2load run against the example server, req/s appended to $TMP/rps.NAME
	grpc_load Fast "$REQS" -c 10 -m 10 -t 1 2>&1 | sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' >> "$TMP/rps.$1"
}
start_h2server
grpc_load Fast 1 > /dev/null 2>&1 || true
for _ in $(seq "$ROUNDS"); do
	rps none
	build/bench/floor "$H2SERVER_PID" > /dev/null 2> "$TMP/floor.err" & BG=$!
	wait_attached "$TMP/floor.err" "empty probes attached"
	rps floor
	kill -INT "$BG"; wait "$BG" || true
	"$LATSCOPE" trace -p "$H2SERVER_PID" --json -v > "$TMP/trace.json" 2> "$TMP/t.err" & BG=$!
	wait_attached "$TMP/t.err" "uprobes attached"
	rps latscope
	kill -INT "$BG"; wait "$BG" || true
done
a=$(median < "$TMP/rps.none"); f=$(median < "$TMP/rps.floor"); l=$(median < "$TMP/rps.latscope")
# Hits per request from the last latscope run: a library call is two uprobe hits (entry and
# return) or one (an entry probe only: mem_send); kernel hooks (TCP send/receive, data-ready)
# fire once each but have no floor here.

read -r hits knet nreq < <(jq -r 'select(.type=="summary") |
	"\([.probes[] | select(.probe | test("^tcp_") | not) | .hits] | add) \([.probes[] | select(.probe | test("^tcp_")) | .calls] | add) \([.requests[].count] | add)"' "$TMP/trace.json")
echo "## Probe hits per request and cost per hit, example server (h2load -n $REQS -c 10 -m 10 -t 1, unary gRPC Fast, median of $ROUNDS interleaved runs)"
echo ""
echo "| configuration | req/s | uprobe hits per request | added time per request | per uprobe hit | vs floor |"
echo "|---|---|---|---|---|---|"
awk -v a="$a" -v f="$f" -v l="$l" -v c="$hits" -v k="$knet" -v n="$nreq" 'BEGIN {
	h = c / n; df = 1e6 / f - 1e6 / a; dl = 1e6 / l - 1e6 / a
	printf "| no probes | %.0f | - | - | - | - |\n", a
	printf "| empty programs at the same sites (floor) | %.0f | %.1f | %.2f us | %.2f us | 1.00x |\n", f, h, df, df / h
	printf "| latscope trace (request model, slow-request records) | %.0f | %.1f (+ %.1f kernel TCP hook hits) | %.2f us | %.2f us | %.2fx |\n", l, h, k / n, dl, dl / h, dl / df
}'
echo ""
