#!/usr/bin/env bash
# Inside its windows, a budget measures each request as full tracing does. The example
# server at a moderate load (RPS requests/s over 4 long-lived connections, Fast and a Slow
# of 5 ms in turn): `trace --overhead off` attaches first and stays to the end; a budgeted
# trace joins it for SECS. The budget is half of what a full trace cost alone over 2 s (as
# latscope measured it), so that the windows cover part of the time whatever a hit costs
# on the machine. Every request the budgeted trace reports must be one the full trace
# reports (same connection and stream, start within 1 ms), and at least 98% of them with
# the same total within 5% + 50 us. Each trace stamps its own time at the same probe hits,
# microseconds apart; in 4% of requests here one TLS write read 15-55 us longer in one
# trace than in the other (most likely the thread preempted between the two programs of
# one hit). None may be off by more than 20% + 1 ms. A request counted from the middle, or ended by
# a window's close, would be off by far more.
. "$(dirname "$0")/../lib.sh"

RPS=${RPS:-400}
SECS=${SECS:-6}
SLOW_MS=5
export LC_ALL=C
start_h2server --method Slow:sleep=$SLOW_MS
SVC=latscope.example.Echo

# load SECS: the moderate load (LOAD_PID), under way for a second.
load() {
	echo_load "$1" "$RPS" "$SVC"
	sleep 1
}
# trace NAME MODE SECS: latscope trace in the background (TR), once attached.
trace() {
	"$LATSCOPE" trace -p "$H2SERVER_PID" --overhead "$2" --json --all -v -d "$3" > "$TMP/$1.json" 2> "$TMP/$1.err" &
	TR=$!
	PIDS_TO_KILL+=("$TR")
	wait_line "$TR" "$TMP/$1.err" "uprobes attached" "trace $1"
}
# rows NAME: "conn/stream start_ns total_ns method" per request, sorted by key.
rows() {
	jq -r 'select(.type == "request" and .method != null) | "\(.conn)/\(.stream) \(.start_ns) \(.total_ns) \(.method)"' \
		"$TMP/$1.json" | sort -k1,1
}

load 5
trace cal off 2
wait "$TR" || { cat "$TMP/cal.err"; fail "the calibrating trace failed"; }
wait "$LOAD_PID" || fail "h2load failed"
cost=$(jq -r 'select(.type == "summary") | 100 * .probe_est_ns / .duration_ns' "$TMP/cal.json")
budget=$(awk -v c="$cost" 'BEGIN { printf "%.2g", c / 2 }')
echo "full tracing at $RPS requests/s cost ${cost}% of a CPU here: budget $budget%"
check "full tracing at $RPS requests/s cost something measurable (${cost}% of a CPU)" awk -v c="$cost" 'BEGIN { exit !(c > 0.02) }'

# The full trace ends (SIGINT) half a second after the budgeted one: it sees every request the other saw end.
load $((SECS + 15))
trace full off $((SECS + 30))
FULL=$TR
sleep 1
trace part "$budget" "$SECS"
wait "$TR" || { cat "$TMP/part.err"; fail "trace --overhead $budget failed"; }
sleep 0.5
kill -INT "$FULL"
wait "$FULL" || { cat "$TMP/full.err"; fail "trace --overhead off failed"; }
kill "$LOAD_PID" 2> /dev/null || true

share=$(jq -r 'select(.type == "summary") | .sampled_share' "$TMP/part.json")
windows=$(jq -r 'select(.type == "summary") | .overhead.windows' "$TMP/part.json")
check "the budget's windows cycled: traced part of the time ($share, $windows windows closed)" \
	awk -v s="$share" -v w="$windows" 'BEGIN { exit !(s > 0 && s < 0.9 && w >= 2) }'
rows full > "$TMP/full.rows"
rows part > "$TMP/part.rows"
n=$(wc -l < "$TMP/part.rows")
check "the budgeted trace reported requests of both methods ($n)" \
	test "$n" -ge 40 -a "$(grep -c /Fast "$TMP/part.rows")" -ge 20 -a "$(grep -c /Slow "$TMP/part.rows")" -ge 20
# Per budgeted request: the full trace's start and total, or "-".
join -a2 -o 2.1,1.2,2.2,1.3,2.3 -e - "$TMP/full.rows" "$TMP/part.rows" > "$TMP/pairs"
only=$(awk '$2 == "-" || $2 - $3 > 1e6 || $3 - $2 > 1e6' "$TMP/pairs")
check "every request of the budgeted trace is in the full trace, at the same start ($(printf '%s' "$only" | grep -c . || true) not)" \
	test -z "$only"
awk '$2 != "-" { d = $5 - $4; print (d < 0 ? -d : d), $4, $0 }' "$TMP/pairs" | sort -g > "$TMP/diff"
echo "per request, |budget - full| total: median $(awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }' "$TMP/diff") ns, largest: $(tail -1 "$TMP/diff")"
n=$(wc -l < "$TMP/diff")
near=$(awk '$1 <= 0.05 * $2 + 50000' "$TMP/diff" | wc -l)
check "$near of $n of them have the same total in both within 5% + 50 us (at least 98%)" test $((100 * near)) -ge $((98 * n))
far=$(awk '$1 > 0.2 * $2 + 1000000' "$TMP/diff")
check "none is off by more than 20% + 1 ms ($(printf '%s' "$far" | grep -c . || true) are)" test -z "$far"
assert_no_probes "after both traces"
