#!/usr/bin/env bash
# Where a budget's percentiles differ from full tracing's: two traces of the same requests
# at once. At a fixed moderate load (as bench/accuracy.sh), `trace --overhead off` attaches
# first and `trace --overhead $BUDGET` joins it; the full trace starts 1 s before it and ends
# (SIGINT) half a second after it.
# Every request the budgeted trace reports is looked up in the full trace (same connection
# and stream, start within 1 ms), which splits a percentile's difference in two:
#  - measurement: the same request's total in both traces (relative difference per request);
#  - selection: the full trace's percentiles over all its requests against the same
#    percentiles over only the requests the budget's windows saw.
# A request the budgeted trace reports and the full one does not is counted ("budget only").
# The budget (BUDGET=half, the default) is half of what a 3 s full trace cost alone, as
# latscope measured it (probe_est_ns): the windows then cover about half the time.
# Markdown on stdout (appended to $1).
# Usage: bench/paired.sh [OUT]   (SECS=8 ROUNDS=3 RPS=1000 BUDGET=half SERVERS="h2server gogrpc")
set -euo pipefail
export LC_ALL=C
cd "$(dirname "$0")/.."
. bench/lib.sh
OUT=${1:-/dev/null}
SECS=${SECS:-8}
ROUNDS=${ROUNDS:-3}
RPS=${RPS:-1000}
SERVERS=${SERVERS:-h2server gogrpc}
SLOW_MS=5

# load SECS: the moderate load (LOAD_PID), under way for a second.
load() {
	echo_load "$1" "$RPS" "$SVC"
	sleep 1
}

# trace MODE SECS NAME: latscope trace in the background (T), once attached; JSON in $TMP/NAME.json.
trace() {
	"$LATSCOPE" trace -p "$SPID" --overhead "$1" --json --all -v -d "$2" > "$TMP/$3.json" 2> "$TMP/$3.err" &
	T=$!
	wait_attached "$TMP/$3.err"
}

# rows NAME: "conn/stream start total method" of NAME.json's requests, sorted by key.
rows() {
	jq -r 'select(.type == "request" and .method != null) |
		"\(.conn)/\(.stream) \(.start_ns) \(.total_ns) \(.method | split("/") | last)"' "$TMP/$1.json" | sort -k1,1
}

for server in $SERVERS; do
	if [[ $server == gogrpc ]]; then
		start_gogrpc -slow-ms "$SLOW_MS"
		SPID=$GOGRPC_PID SVC=latscope.gogrpc.Echo NAME="Go gRPC example (grpc-go)"
	else
		start_h2server --method Slow:sleep=$SLOW_MS
		SPID=$H2SERVER_PID SVC=latscope.example.Echo NAME="example server (nghttp2)"
	fi
	budget=${BUDGET:-half}
	if [[ $budget == half ]]; then
		load 6
		trace off 3 cal
		wait "$T" || fail "latscope trace (calibration) failed"
		wait "$LOAD_PID" || fail "h2load failed"
		budget=$(jq -r 'select(.type == "summary") | 50 * .probe_est_ns / .duration_ns' "$TMP/cal.json" |
			awk '{ printf "%.2g", $1 }')
	fi
	: > "$TMP/pairs"
	: > "$TMP/acct"
	: > "$TMP/classes"
	for r in $(seq "$ROUNDS"); do
		load $((SECS + 15))
		trace off $((SECS + 30)) full
		F=$T
		sleep 1
		trace "$budget" "$SECS" part
		wait "$T" || fail "latscope trace --overhead $budget failed"
		sleep 0.5
		kill -INT "$F"
		wait "$F" || fail "latscope trace --overhead off failed"
		kill "$LOAD_PID" 2> /dev/null || true
		wait "$LOAD_PID" 2> /dev/null || true
		rows full > "$TMP/full.rows"
		rows part > "$TMP/part.rows"
		# Round, method, in window (1) or not, full trace's total, budget's total ("-": not reported).
		join -a1 -o 1.4,1.2,1.3,2.2,2.3 -e - "$TMP/full.rows" "$TMP/part.rows" |
			awk -v r="$r" '{ w = $4 != "-" && $4 - $2 <= 1e6 && $2 - $4 <= 1e6; print r, $1, w, $3, $5 }' >> "$TMP/pairs"
		# Budget-only: reported by the budget, not by the full trace (or at another start).
		join -a2 -o 1.2,2.2 -e - "$TMP/full.rows" "$TMP/part.rows" |
			awk '$1 == "-" || ($1 - $2 > 1e6 || $2 - $1 > 1e6) { n++ } END { print n + 0 }' > "$TMP/only"
		# Windows as the budget's requests show them (starts more than 20 ms apart: a gap
		# between), and the full trace's requests classed by where they started.
		awk '{ print $2 }' "$TMP/part.rows" | sort -n |
			windows > "$TMP/windows"
		awk 'NR == FNR { lo[NR] = $1; hi[NR] = $2; n = NR; next }
			{ c = "elsewhere"
			  for (i = 1; i <= n; i++) {
				if ($2 >= lo[i] && $2 <= hi[i]) { c = "in a window"; break }
				if ($2 > hi[i] && $2 - hi[i] <= 150e6) c = "150 ms after a window"
			  }
			  print $4, c "\t" $3 }' "$TMP/windows" "$TMP/full.rows" >> "$TMP/classes"
		share=$(jq -r 'select(.type == "summary") | .sampled_share // 1' "$TMP/part.json")
		echo "$share $(wc -l < "$TMP/part.rows") $(cat "$TMP/only")" >> "$TMP/acct"
	done
	kill "$SPID"
	wait "$SPID" 2> /dev/null || true
	say "$NAME, --overhead $budget ($ROUNDS rounds of $SECS s; sampled_share, budget's requests, budget only: $(tr '\n' ';' < "$TMP/acct" | sed 's/;$//; s/;/; /g')):"
	say ""
	say "| method | full, all requests: p50 / p99 (ms), n | full, the budget's requests only | budget | same request: relative difference median / p99 / max |"
	say "|---|---|---|---|---|"
	for m in Fast Slow; do
		all=$(awk -v m="$m" '$2 == m { print $4 }' "$TMP/pairs" | cell)
		sel=$(awk -v m="$m" '$2 == m && $3 { print $4 }' "$TMP/pairs" | cell)
		bud=$(awk -v m="$m" '$2 == m && $3 { print $5 }' "$TMP/pairs" | cell)
		rel=$(awk -v m="$m" '$2 == m && $3 { d = ($5 - $4) / $4; print (d < 0 ? -d : d) }' "$TMP/pairs" | sort -g |
			awk '{ v[NR] = $1 } END { if (NR) printf "%.2f%% / %.2f%% / %.2f%%", 100 * v[int((NR + 1) / 2)], 100 * v[int(NR * 0.99 + 0.5)], 100 * v[NR]; else print "-" }')
		say "| $m | $all | $sel | $bud | $rel |"
	done
	say ""
	say "Where the full trace's requests started (windows inferred from the budget's requests):"
	say ""
	say "| method | in a window: p50 / p99 (ms), n | 150 ms after a window | elsewhere |"
	say "|---|---|---|---|"
	for m in Fast Slow; do
		row="| $m |"
		for c in "in a window" "150 ms after a window" "elsewhere"; do
			row+=" $(awk -F'\t' -v k="$m $c" '$1 == k { print $2 }' "$TMP/classes" | cell) |"
		done
		say "$row"
	done
	say ""
done
say "Both traces of a round ran at once on the same server and load ($RPS requests/s over 4 connections); requests pooled over the rounds."
