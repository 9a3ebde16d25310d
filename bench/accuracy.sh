#!/usr/bin/env bash
# What the overhead budget costs in truth: at a fixed moderate load that full tracing can
# afford, runs of `trace --overhead off` and `trace --overhead $BUDGET` (a budget that
# keeps the probes attached only part of the time at that load), interleaved round by
# round on the same server and connections, compared per method: p50 and p99 of the
# requests each run reported, the share of time traced, the share of reported requests
# that are named, and latscope's estimate of the request count against h2load's.
# Server: the example server, Slow (5 ms injected) and Fast (nothing) over 4 long-lived
# connections at RPS requests/s in all. Markdown on stdout (appended to $1 when given).
# Usage: bench/accuracy.sh [OUT]   (SECS=8 ROUNDS=3 RPS=1000 BUDGET=0.5)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
OUT=${1:-/dev/null}
SECS=${SECS:-8}
ROUNDS=${ROUNDS:-3}
RPS=${RPS:-1000}
BUDGET=${BUDGET:-0.5}
METHODS=(Fast Slow)
say() { echo "$*" | tee -a "$OUT"; }

# one MODE: one run of SECS under trace --overhead MODE; per method "p50 p99 count" appended
# to $TMP/MODE.METHOD, and "sampled_share named_share estimated/real" to $TMP/MODE.acct.
one() {
	local mode=$1 t real
	"$LATSCOPE" trace -p "$H2SERVER_PID" --overhead "$mode" --json --all -v -d $((SECS + 2)) > "$TMP/t.json" 2> "$TMP/t.err" &
	t=$!
	wait_attached "$TMP/t.err"
	# 4 connections, each at RPS/4 requests/s, the two methods in turn on each.
	h2load -D "$SECS" -c 4 -m 4 -t 1 --rps $((RPS / 4)) -d "$TMP/empty.bin" \
		-H 'content-type: application/grpc' -H 'te: trailers' \
		"https://127.0.0.1:$PORT/latscope.example.Echo/Fast" "https://127.0.0.1:$PORT/latscope.example.Echo/Slow" \
		> "$TMP/load.txt" 2>&1 || fail "h2load failed"
	wait "$t" || fail "latscope trace --overhead $mode failed"
	for m in "${METHODS[@]}"; do
		jq -r --arg m "/latscope.example.Echo/$m" 'select(.type == "request" and .method == $m) | .total_ns' "$TMP/t.json" |
			sort -n | awk '{ v[NR] = $1 } END { if (NR) printf "%d %d %d\n", v[int((NR + 1) / 2)], v[int(NR * 0.99 + 0.5)], NR }' \
			>> "$TMP/$mode.$m"
	done
	real=$(sed -n 's/^requests: .* \([0-9]*\) done.*/\1/p' "$TMP/load.txt")
	jq -rs --arg real "$real" '
		([.[] | select(.type == "request")] | length) as $n |
		([.[] | select(.type == "request" and (.method // "") != "" and (.method | startswith("?") | not))] | length) as $named |
		(.[] | select(.type == "summary")) as $s |
		[($s.sampled_share // 1), (if $n > 0 then $named / $n else 0 end),
		 (($s.requests_estimated // $n) / ($real | tonumber))] | @tsv' "$TMP/t.json" >> "$TMP/$mode.acct"
}

start_h2server --method Slow:sleep=5
[[ -s $TMP/empty.bin ]] || build/examples/grpcbody -o "$TMP/empty.bin"
for _ in $(seq "$ROUNDS"); do
	one off
	one "$BUDGET"
done
say "| method | trace | p50 (ms) | p99 (ms) | requests reported | p50 vs off | p99 vs off |"
say "|---|---|---|---|---|---|---|"
for m in "${METHODS[@]}"; do
	o50=$(cut -d' ' -f1 "$TMP/off.$m" | median)
	o99=$(cut -d' ' -f2 "$TMP/off.$m" | median)
	for mode in off "$BUDGET"; do
		p50=$(cut -d' ' -f1 "$TMP/$mode.$m" | median)
		p99=$(cut -d' ' -f2 "$TMP/$mode.$m" | median)
		n=$(cut -d' ' -f3 "$TMP/$mode.$m" | median)
		say "$(awk -v m="$m" -v mode="$mode" -v a="$p50" -v b="$p99" -v n="$n" -v oa="$o50" -v ob="$o99" 'BEGIN {
			printf "| %s | --overhead %s | %.3f | %.3f | %d | %+.1f%% | %+.1f%% |\n", m, mode, a / 1e6, b / 1e6, n,
				100 * (a - oa) / oa, 100 * (b - ob) / ob }')"
	done
done
say ""
say "| trace | sampled_share | named / reported | estimated / real count |"
say "|---|---|---|---|"
for mode in off "$BUDGET"; do
	say "| --overhead $mode | $(cut -f1 "$TMP/$mode.acct" | median) | $(cut -f2 "$TMP/$mode.acct" | median) | $(cut -f3 "$TMP/$mode.acct" | median) |"
done
say ""
say "Medians of $ROUNDS rounds of $SECS s each, the two runs interleaved; $RPS requests/s over 4 connections."
