#!/usr/bin/env bash
# What latscope says its probes cost is what they cost here: on bench/sslloop (SSL_write +
# SSL_read per round over a memory BIO pair; ns per round in the thread's CPU time),
# trace's estimate per call (the calibrated cost per hit of each probe's placement, plus
# latscope's own program time) against the measured slowdown per call, within 30%, with
# the probes at the function (entry: single-stepped, plus a uretprobe) and at its call
# sites (auto). The calibration itself is checked too: a single-stepped hit dearer than
# an emulated one.
. "$(dirname "$0")/../lib.sh"
# The loop is saturated and the probes' cost is what is measured: no budget.
export LATSCOPE_OVERHEAD=off

make_cert
start_ready loop "$ROOT/build/bench/sslloop" "$TMP/cert.pem" "$TMP/key.pem"
LOOP=$READY_PID
readings() { # readings N: the median of the next N one-second ns/round readings
	local from; from=$(wc -l < "$TMP/loop.out")
	sleep $(($1 + 1)).2
	tail -n +"$((from + 2))" "$TMP/loop.out" | grep -o '^[0-9.]*' | head -"$1" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}
for place in entry auto; do
	# The loop's own speed drifts by a fifth over tens of seconds here: its base is taken
	# right before each placement's run.
	base=$(readings 3)
	echo "no probes: $base ns per round"
	"$LATSCOPE" trace -p "$LOOP" --no-records --placement "$place" --json -v -d 6 > "$TMP/$place.json" 2> "$TMP/$place.err" &
	TRACE_PID=$!
	for _ in $(seq 100); do grep -q 'uprobes attached' "$TMP/$place.err" && break; sleep 0.1; done
	probed=$(readings 3)
	wait_trace
	[[ $TRACE_RC == 0 ]] || { cat "$TMP/$place.err"; fail "trace exited with $TRACE_RC"; }
	grep 'probe cost per hit' "$TMP/$place.err" || fail "no calibration line under -v"
	est=$(jq -r '[.probes[] | select(.probe == "SSL_read" or .probe == "SSL_write") | .est_cost_ns_per_call] | add / length' "$TMP/$place.json")
	where=$(jq -r '[.probes[] | select(.probe == "SSL_read" or .probe == "SSL_write") | .placement] | unique | join(",")' "$TMP/$place.json")
	# Two probed calls per round.
	meas=$(awk -v p="$probed" -v b="$base" 'BEGIN { printf "%.0f", (p - b) / 2 }')
	echo "--placement $place ($where): $probed ns per round; measured $meas ns per call, latscope's estimate $est ns"
	check "$place: the estimate ($est ns per call) is the measured slowdown ($meas ns) within 30%" \
		awk -v e="$est" -v m="$meas" 'BEGIN { d = e - m; if (d < 0) d = -d; exit !(m > 0 && d <= 0.3 * m) }'
done
line=$(grep -m1 'probe cost per hit' "$TMP/entry.err")
sstep=$(grep -o 'single-step [0-9.]*us' <<< "$line" | grep -o '[0-9.]*')
jump=$(grep -o 'jump [0-9.]*us' <<< "$line" | grep -o '[0-9.]*')
check "calibrated here: a single-stepped hit (${sstep}us) costs more than an emulated one (${jump}us)" \
	awk -v s="$sstep" -v j="$jump" 'BEGIN { exit !(s > j && j > 0) }'
kill "$LOOP"
assert_no_probes
