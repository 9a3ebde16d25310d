#!/usr/bin/env bash
# The overhead budget's estimated request count on a saturated server already under load,
# as latscope meets a service: h2load runs first (with its per-request log), latscope
# attaches a second into it with `trace --overhead B` for SECS, and its estimate of the
# requests for the whole time is compared with the requests the client started between
# the trace's start and its end (the summary's `started` clocks and `duration_ns` place
# the run on the client's clock). Servers as in bench/budget.sh: the example server (unary
# gRPC Fast, SPIN_US of CPU per request) and nghttpd (a 100-byte GET). Per server and
# budget: estimated / real of each run and their median, the share of time traced and of
# the traffic. (A load started after the attach puts every connection's TLS handshake in
# the session's first window and reads the estimate low: a service meets latscope under way.)
# Markdown on stdout (appended to $1 when given).
# Usage: bench/estimate.sh [OUT]   (SECS=6 ROUNDS=3 BUDGETS="5 2 1" SPIN_US=10)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
OUT=${1:-/dev/null}
SECS=${SECS:-6}
ROUNDS=${ROUNDS:-3}
BUDGETS=(${BUDGETS:-5 2 1})

# one SERVER PID BUDGET URL ARGS...: one run; "estimated/real sampled_share traffic_share" appended to $TMP/SERVER.BUDGET.
one() {
	local srv=$1 pid=$2 b=$3 url=$4 l a z real; shift 4
	rm -f "$TMP/lat.log"
	h2load -D $((SECS + 3)) -c 8 -m 10 -t 1 "$@" --log-file="$TMP/lat.log" "$url" > "$TMP/load.txt" 2>&1 &
	l=$!
	sleep 1
	"$LATSCOPE" trace -p "$pid" --overhead "$b" --json -d "$SECS" > "$TMP/t.json" 2> "$TMP/t.err" ||
		fail "$srv: latscope trace --overhead $b failed: $(tail -3 "$TMP/t.err")"
	wait "$l" || fail "$srv: h2load failed"
	read -r a z _ < <(trace_span "$TMP/t.json")
	real=$(awk -v a="$a" -v z="$z" '$1 >= a && $1 < z' "$TMP/lat.log" | wc -l)
	[[ $real -gt 0 ]] || fail "$srv: no client request inside the trace's span"
	grep '"type":"summary"' "$TMP/t.json" | jq -r --arg real "$real" \
		'[.requests_estimated / ($real | tonumber), .sampled_share, .sampled_traffic_share] | @tsv' >> "$TMP/$srv.$b"
}

bench_server() { # bench_server NAME PID URL ARGS...
	local srv=$1 pid=$2 url=$3; shift 3
	for _ in $(seq "$ROUNDS"); do
		for b in "${BUDGETS[@]}"; do one "$srv" "$pid" "$b" "$url" "$@"; done
	done
	for b in "${BUDGETS[@]}"; do
		say "| $srv | $b% | $(cut -f1 "$TMP/$srv.$b" | awk '{ printf "%s%.3f", (NR > 1 ? ", " : ""), $1 }') | $(cut -f1 "$TMP/$srv.$b" | median | awk '{ printf "%.3f", $1 }') | $(cut -f2 "$TMP/$srv.$b" | median) | $(cut -f3 "$TMP/$srv.$b" | median) |"
	done
}

say "| server | budget | estimated / real, each run | median | sampled_share | sampled_traffic_share |"
say "|---|---|---|---|---|---|"
saturated_servers bench_server
