#!/usr/bin/env bash
# make bench: what trace --stacks costs per slow request. The example server's Slow burns
# BURN_MS of CPU in its handler, so that every request is slow (threshold 1 ms) and has
# samples to fold; two connections keep its event loop busy. Interleaved rounds of
# trace and trace --stacks on the same load: the server's requests/s, latscope's own CPU
# time (from /proc/PID/schedstat) per slow request, and the records the kernel sent.
# Prints a markdown section on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
ROUNDS=${ROUNDS:-3}
REQS=${STACKS_REQS:-1000}
BURN_MS=${BURN_MS:-2}
run() { # run NAME TRACE-ARGS...: one load under latscope trace; appends req/s and CPU ns per slow request
	local name=$1 cpu0 cpu1 rps nslow; shift
	"$LATSCOPE" trace -p "$H2SERVER_PID" -t 1ms --json -v "$@" > "$TMP/$name.json" 2> "$TMP/$name.err" & BG=$!
	wait_attached "$TMP/$name.err" "uprobes attached"
	cpu0=$(cut -d' ' -f1 "/proc/$BG/schedstat")
	rps=$(grpc_load Slow "$REQS" -c 2 -m 1 -t 1 2>&1 | sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p')
	cpu1=$(cut -d' ' -f1 "/proc/$BG/schedstat")
	kill -INT "$BG"; wait "$BG" || true
	nslow=$(jq -s '[.[] | select(.type=="request" and .slow)] | length' "$TMP/$name.json")
	echo "$rps" >> "$TMP/rps.$name"
	echo $(((cpu1 - cpu0) / (nslow > 0 ? nslow : 1))) >> "$TMP/cpu.$name"
	jq -r 'select(.type=="summary") | .counters.samples' "$TMP/$name.json" >> "$TMP/samples.$name"
}
start_h2server --method Slow:sleep=0,burn=$BURN_MS
grpc_load Fast 1 > /dev/null 2>&1 || true
for _ in $(seq "$ROUNDS"); do
	run trace
	run stacks --stacks
done
echo "## trace --stacks: cost per slow request (bench/stacks.sh: example server, Slow burns $BURN_MS ms, h2load -n $REQS -c 2 -m 1, threshold 1 ms, median of $ROUNDS interleaved runs)"
echo ""
echo "| configuration | server req/s | latscope CPU per slow request | CPU samples taken |"
echo "|---|---|---|---|"
for name in trace stacks; do
	label=$([[ $name == trace ]] && echo "trace" || echo "trace --stacks")
	echo "| $label | $(median < "$TMP/rps.$name") | $(($(median < "$TMP/cpu.$name") / 1000)) us | $(median < "$TMP/samples.$name") |"
done
echo ""
