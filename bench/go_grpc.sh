#!/usr/bin/env bash
# Go gRPC server throughput with and without latscope, side by side in one run: the
# example Go client (-c 8, unary Fast) for a fixed time against the Go gRPC server with
# nothing attached, with empty BPF programs at the same sites (bench/floor: entry and
# every RET site, the floor of any uprobe tracer), with `trace --no-records`, and with
# `trace` (request records). Rounds are interleaved; medians are printed as a Markdown
# table (appended to $1 when given). Probe hits per RPC come from latscope's own summary.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
OUT=${1:-/dev/null}
ROUNDS=${ROUNDS:-3}
SECS=${GO_BENCH_SECS:-5}
wait_for() { # wait_for FILE PATTERN
	for _ in $(seq 600); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
	cat "$1" >&2; fail "not attached"
}
rps() { # rps NAME: one timed client run, RPCs per second appended to $TMP/rps.NAME
	gogrpc_client -c 8 -conns 2 -d "${SECS}s" -mix Fast > "$TMP/c.out" || { cat "$TMP/c.out"; fail "client failed"; }
	awk -v s="$SECS" '/^total ok/ { printf "%.1f\n", $3 / s }' "$TMP/c.out" >> "$TMP/rps.$1"
}
stop_bg() { kill -INT "$BG" 2>/dev/null || true; wait "$BG" 2>/dev/null || true; }

start_gogrpc
gogrpc_client -c 1 -n 10 -mix Fast > /dev/null
for r in $(seq "$ROUNDS"); do
	rps none
	build/bench/floor "$GOGRPC_PID" > /dev/null 2> "$TMP/floor.err" & BG=$!
	wait_for "$TMP/floor.err" "empty probes attached"
	rps floor; stop_bg
	"$LATSCOPE" trace -p "$GOGRPC_PID" --no-records -v > /dev/null 2> "$TMP/t.err" & BG=$!
	wait_for "$TMP/t.err" "uprobes attached"
	rps norec; stop_bg
	"$LATSCOPE" trace -p "$GOGRPC_PID" --json -v > "$TMP/trace.json" 2> "$TMP/t.err" & BG=$!
	wait_for "$TMP/t.err" "uprobes attached"
	rps trace; stop_bg
done
nprobes=$(sed -n 's/^floor: \([0-9]*\) empty probes attached$/\1/p' "$TMP/floor.err")
# Every probed call is hit twice (entry, then one of its RET sites); grpc-go's handler entry
# points are counted once per call but hit at entry and RET as well.
calls=$(jq -r 'select(.type=="summary") | ([.probes[] | select(.probe | test("^tcp_") | not) | .calls] | add) / ([.requests[].count] | add)' "$TMP/trace.json")
a=$(median < "$TMP/rps.none"); f=$(median < "$TMP/rps.floor"); b=$(median < "$TMP/rps.norec"); c=$(median < "$TMP/rps.trace")
say "## Go gRPC server (examples/gogrpc: grpc-go 1.33, Go 1.19; client -c 8 unary Fast for ${SECS} s, median of $ROUNDS interleaved runs)"
say ""
say "| configuration | RPC/s | kept | added time per RPC | per probe hit | vs empty programs |"
say "|---|---|---|---|---|---|"
awk -v a="$a" -v f="$f" -v b="$b" -v c="$c" -v calls="$calls" 'BEGIN {
	hits = 2 * calls
	df = 1e6 / f - 1e6 / a; db = 1e6 / b - 1e6 / a; dc = 1e6 / c - 1e6 / a
	printf "| nothing attached | %.0f | 100%% | - | - | - |\n", a
	printf "| empty programs at the same sites (floor) | %.0f | %.0f%% | %.1f us | %.2f us | 1.00x |\n", f, 100 * f / a, df, df / hits
	printf "| latscope trace --no-records | %.0f | %.0f%% | %.1f us | %.2f us | %.2fx |\n", b, 100 * b / a, db, db / hits, db / df
	printf "| latscope trace (request records) | %.0f | %.0f%% | %.1f us | %.2f us | %.2fx |\n", c, 100 * c / a, dc, dc / hits, dc / df
}' | tee -a "$OUT"
say ""
say "$nprobes uprobes; $(awk -v c="$calls" 'BEGIN { printf "%.1f", c }') probed calls per RPC, $(awk -v c="$calls" 'BEGIN { printf "%.1f", 2 * c }') probe hits per RPC (entry + RET site). Added time is wall time per RPC at the client's concurrency, on a machine shared with other work."
say ""
