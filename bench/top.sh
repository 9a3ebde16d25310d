#!/usr/bin/env bash
# latscope's own CPU while `top` refreshes every second (ncurses, in a tmux pane)
# against the example server at a fixed request rate, side by side with `trace`
# (request records consumed, nothing printed) and `trace --no-records` (kernel
# histograms only) on the same load. The probes' cost is paid in the target's
# threads; what is measured here is the latscope process (utime + stime from
# /proc/PID/stat), as % of one core. Prints a markdown table (appended to $OUT
# when set). Usage: bench/top.sh   (RATE=20000 SECS=10 ROUNDS=1)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
RATE=${RATE:-20000}
SECS=${SECS:-10}
ROUNDS=${ROUNDS:-1}
OUT=${OUT:-/dev/null}
SOCK=latscope-bench-top-$$
trap 'tmux -L "$SOCK" kill-server 2>/dev/null || true; cleanup' EXIT
ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # utime + stime of a process, in clock ticks
HZ=$(getconf CLK_TCK)

start_h2server -t 2
[[ -s $TMP/empty.bin ]] || build/examples/grpcbody -o "$TMP/empty.bin"
# measure PID NAME: % of one core PID used over SECS, after 2 s of warm-up; the load's achieved rate in $TMP/rate.NAME
measure() {
	local pid=$1 name=$2 load a b
	# Fresh connections after the attach, so every request is named (the full per-request path).
	h2load -D $((SECS + 3)) -c 10 -m 10 -t 1 --rps $((RATE / 10)) -d "$TMP/empty.bin" -H 'content-type: application/grpc' \
		-H 'te: trailers' "https://127.0.0.1:$PORT/latscope.example.Echo/Fast" > "$TMP/load.txt" 2>&1 &
	load=$!
	sleep 2
	a=$(ticks "$pid"); sleep "$SECS"; b=$(ticks "$pid")
	wait "$load" || true
	awk -v a="$a" -v b="$b" -v hz="$HZ" -v s="$SECS" 'BEGIN { printf "%.2f\n", 100 * (b - a) / hz / s }'
	sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' "$TMP/load.txt" >> "$TMP/rate.$name"
}
trace_run() { # trace_run NAME ARGS...: latscope trace in the background on the server, measured
	local name=$1; shift
	"$LATSCOPE" trace -p "$H2SERVER_PID" -v "$@" > /dev/null 2> "$TMP/t.err" &
	local t=$!
	for _ in $(seq 300); do grep -q 'uprobes attached' "$TMP/t.err" && break; sleep 0.1; done
	measure "$t" "$name" >> "$TMP/cpu.$name"
	kill -INT "$t"; wait "$t" || true
}
top_run() {
	tmux -L "$SOCK" new-session -d -s top -x 160 -y 50 "$LATSCOPE top -p $H2SERVER_PID -i 1s -v 2> $TMP/top.err"
	for _ in $(seq 300); do grep -q 'uprobes attached' "$TMP/top.err" 2>/dev/null && break; sleep 0.1; done
	local t; t=$(tmux -L "$SOCK" display -p -t top '#{pane_pid}')
	# The pane's shell may have exec'ed latscope or be its parent.
	[[ $(cat "/proc/$t/comm") == latscope ]] || t=$(pgrep -P "$t" -x latscope)
	measure "$t" top >> "$TMP/cpu.top"
	tmux -L "$SOCK" capture-pane -p -t top > "$TMP/top.screen"
	tmux -L "$SOCK" send-keys -t top q
	for _ in $(seq 600); do kill -0 "$t" 2>/dev/null || break; sleep 0.1; done
	tmux -L "$SOCK" kill-server 2>/dev/null || true
}
for _ in $(seq "$ROUNDS"); do
	trace_run norec --no-records
	trace_run trace
	top_run
done
grep -q 'Echo/Fast' "$TMP/top.screen" || { cat "$TMP/top.screen" >&2; fail "top never showed the Fast method"; }
dropped=$(sed -n 's/.*dropped \([0-9]*\).*/\1/p' "$TMP/top.screen" | head -1)
self=$(sed -n 's/.*latscope cpu \([0-9.]*\)%.*/\1/p' "$TMP/top.screen" | head -1)
say "## latscope top: its own CPU at 1 s refresh (bench/top.sh: example server, h2load --rps to $RATE req/s, ${SECS} s per run, median of $ROUNDS)"
say ""
say "| latscope process | CPU, % of one core | req/s achieved |"
say "|---|---|---|"
say "| trace --no-records (kernel histograms only) | $(median < "$TMP/cpu.norec") | $(median < "$TMP/rate.norec") |"
say "| trace (every request record assembled, none printed) | $(median < "$TMP/cpu.trace") | $(median < "$TMP/rate.trace") |"
say "| top -i 1s (ncurses in tmux, 160x50; its own header: ${self:-?}%, ${dropped:-?} records dropped) | $(median < "$TMP/cpu.top") | $(median < "$TMP/rate.top") |"
say ""
