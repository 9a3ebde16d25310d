#!/usr/bin/env bash
# latscope top driven for real in tmux against the example server under load:
# both methods shown with a rate, Slow's p99 at least its injected delay and
# its phase bar mostly app; sorting, filtering, the detail view, resizing, the
# target exiting, and q restoring the terminal. Screens are saved under
# build/test-artifacts/ (capture-pane -e: with colours).
. "$(dirname "$0")/../lib.sh"
# Needs both methods' rows and slow requests seen at the load it drives: past the budget where hits
# cost ten times more (the rule in tests/lib.sh).
export LATSCOPE_OVERHEAD=off

SLOW_MS=20
ART=$ROOT/build/test-artifacts
mkdir -p "$ART"
SOCK=latscope-top-$$
tm() { tmux -L "$SOCK" "$@"; }
trap 'tm kill-server 2>/dev/null || true; cleanup' EXIT

screen() { tm capture-pane -p -t top; }
# wait_screen REGEX [SECONDS]: until the screen matches (default 20 s)
wait_screen() {
	local i
	for i in $(seq $((${2:-20} * 10))); do
		screen | grep -Eq "$1" && return 0
		sleep 0.1
	done
	screen >&2
	fail "screen never showed /$1/"
}
# row METHOD: the table line of a method (its name ends the METHOD column)
row() { screen | grep -E "^[0-9]+ +[^ ]*Echo/$1 " | head -1; }
# to_ns 23.33ms -> 23330000
to_ns() { awk -v v="$1" 'BEGIN { n = v + 0; u = v; sub(/^[0-9.]+/, "", u); m = (u == "s") ? 1e9 : (u == "ms") ? 1e6 : (u == "us") ? 1e3 : 1; printf "%d\n", n * m }'; }
# largest_run BAR: the phase letter with the most cells
largest_run() { echo "$1" | fold -w1 | sort | uniq -c | sort -rn | awk 'NR == 1 { print $2 }'; }

start_h2server --method Slow:sleep=$SLOW_MS
tm new-session -d -s top -x 120 -y 40 "env PS1='$ ' bash --norc --noprofile"
tm send-keys -t top "cd $TMP && $LATSCOPE top --kernel-hook $KHOOK -p $H2SERVER_PID -t 10ms; echo RC=\$?" Enter
wait_screen "^latscope top - pid $H2SERVER_PID \(h2server\)" 30
pass "top attached and drew its header"

# Load starts after the attach, so every connection's header compression is seen from its start.
LOADS=()
start_load() { # Fast at 400 req/s and Slow at 40 req/s on fresh connections, for $1 seconds
	local m
	[[ -s $TMP/empty.bin ]] || "$ROOT/build/examples/grpcbody" -o "$TMP/empty.bin"
	for m in Fast:200 Slow:20; do
		h2load -D "$1" -c 2 -m 4 --rps "${m#*:}" -d "$TMP/empty.bin" -H 'content-type: application/grpc' -H 'te: trailers' \
			"https://127.0.0.1:$PORT/latscope.example.Echo/${m%:*}" > "$TMP/load-${m%:*}.txt" 2>&1 &
		PIDS_TO_KILL+=("$!"); LOADS+=("$!")
	done
}
stop_load() { kill "${LOADS[@]}" 2>/dev/null || true; wait "${LOADS[@]}" 2>/dev/null || true; LOADS=(); }
start_load 40
wait_screen "Echo/Slow .*[a-zA-Z]{5}"
wait_screen "Echo/Fast "
sleep 2.2 # two full intervals under load

fast=$(row Fast); slow=$(row Slow)
echo "Fast row: $fast"
echo "Slow row: $slow"
check "Fast rps > 0 ($(echo "$fast" | awk '{print $3}'))" awk -v r="$(echo "$fast" | awk '{print $3}')" 'BEGIN { exit !(r > 0) }'
check "Slow rps > 0 ($(echo "$slow" | awk '{print $3}'))" awk -v r="$(echo "$slow" | awk '{print $3}')" 'BEGIN { exit !(r > 0) }'
slow_p99=$(to_ns "$(echo "$slow" | awk '{print $7}')")
check "Slow p99 $((slow_p99 / 1000))us >= injected $SLOW_MS ms" test "$slow_p99" -ge $((SLOW_MS * 1000000))
bar=$(echo "$slow" | awk '{print $9}')
check "Slow's phase bar ($bar): largest segment is a=app" test "$(largest_run "$bar")" = a
check "legend names the app letter" bash -c "screen() { tmux -L $SOCK capture-pane -p -t top; }; screen | grep -q 'a=app'"
tm capture-pane -e -p -t top > "$ART/top-main.ansi"
screen > "$ART/top-main.txt"
check "main view saved ($ART/top-main.ansi, $(wc -c < "$ART/top-main.ansi") bytes with escapes)" grep -q $'\e\[' "$ART/top-main.ansi"

# Sorting: by RPS first (Fast has 10x the rate), two presses of s sort by P50: Slow first.
order() { screen | grep -Eo '^[0-9]+ +[^ ]*Echo/(Fast|Slow) ' | grep -Eo '(Fast|Slow)' | tr '\n' ' '; }
check "sorted by RPS: Fast before Slow ($(order))" test "$(order)" = "Fast Slow "
tm send-keys -t top s s
wait_screen 'P50\*'
check "s s sorts by P50: Slow before Fast ($(order))" test "$(order)" = "Slow Fast "

tm send-keys -t top Down Enter
wait_screen "^pid $H2SERVER_PID  /latscope.example.Echo/Fast$" 5
pass "Down then Enter opens the second row's detail (Fast)"
tm send-keys -t top Escape Home
sleep 0.3

# Filter, then the detail view of the one row left.
tm send-keys -t top / S l o w Enter
sleep 0.3
check "/Slow leaves only Slow ($(order))" test "$(order)" = "Slow "
tm send-keys -t top Enter
wait_screen 'LAST SLOW REQUESTS \([1-9]'
nslow=$(screen | sed -n '/LAST SLOW REQUESTS/,$p' | grep -cE '^ +[0-9.]+ +[0-9]+ +0 +[0-9.]+ms +.*app=')
check "detail lists slow requests with their phases ($nslow lines)" test "$nslow" -ge 1
check "detail has the phase table with app" bash -c "tmux -L $SOCK capture-pane -p -t top | grep -Eq '^a app +[0-9.]+ms'"
check "detail has the latency histogram" bash -c "tmux -L $SOCK capture-pane -p -t top | grep -q 'LATENCY HISTOGRAM'"
tm capture-pane -e -p -t top > "$ART/top-detail.ansi"
screen > "$ART/top-detail.txt"
pass "detail view saved ($ART/top-detail.ansi)"
tm send-keys -t top Escape
sleep 0.3
tm send-keys -t top / Enter
sleep 0.3
check "Esc and an empty filter show both rows again ($(order))" test "$(order)" = "Slow Fast "

# Help from the key table.
tm send-keys -t top h
wait_screen 'keys \(any key returns\)'
check "help lists the sort and flame keys" bash -c "tmux -L $SOCK capture-pane -p -t top | grep -Eq '^  s +sort' && tmux -L $SOCK capture-pane -p -t top | grep -Eq '^  f +write a flame graph'"
tm send-keys -t top x
sleep 0.3

# Threshold, pause, flame graph, reset: each says what it did in the status line.
tm send-keys -t top t 5 m s Enter
wait_screen 'threshold now 5.00ms' 5
wait_screen '^latscope top - .*threshold 5.00ms' 5
pass "t 5ms changes the threshold live (header says 5.00ms)"
tm send-keys -t top p
wait_screen 'paused \(data is still collected' 5
up1=$(screen | grep -Eo 'up [0-9]+s' | head -1); sleep 2.2; up2=$(screen | grep -Eo 'up [0-9]+s' | head -1)
check "p pauses the screen ($up1, 2 s later $up2)" test "$up1" = "$up2"
tm send-keys -t top p
tm send-keys -t top f
wait_screen 'flame graph written to latscope-top-[0-9]+-[0-9-]+\.svg' 10
svg=$(screen | grep -Eo 'latscope-top-[0-9]+-[0-9-]+\.svg' | head -1)
check "f wrote $svg, an SVG flame graph" bash -c "grep -q '<svg' '$TMP/$svg' && grep -q 'phase:' '$TMP/$svg'"
tm send-keys -t top r
wait_screen 'statistics reset' 5
pass "r resets the statistics"
tm send-keys -t top t 1 0 m s Enter
wait_screen 'threshold now 10.00ms' 5

# Resizing: the header and table survive at 80x24 and 200x60; below that the screen says so.
for size in 80x24 200x60; do
	w=${size%x*} h=${size#*x}
	tm resize-window -t top -x "$w" -y "$h"
	sleep 1.3
	screen > "$TMP/screen-$size.txt"
	lines=$(wc -l < "$TMP/screen-$size.txt"); widest=$(awk '{ if (length($0) > m) m = length($0) } END { print m }' "$TMP/screen-$size.txt")
	check "$size: $lines lines, none wider than $w ($widest)" test "$lines" -eq "$h" -a "$widest" -le "$w"
	check "$size: header line 1 intact" grep -Eq "^latscope top - pid $H2SERVER_PID \(h2server\)  hook [a-z]+  up [0-9]+s" <(sed -n 1p "$TMP/screen-$size.txt")
	sed -n 2p "$TMP/screen-$size.txt"
	check "$size: header line 2 intact" grep -Eq '^rps [0-9.]+  err [0-9.]+%  p50 .*  drop [0-9]+  probes [0-9.]+%  self [0-9.]+%' <(sed -n 2p "$TMP/screen-$size.txt")
	check "$size: table head and both rows" bash -c "grep -Eq '^PID +METHOD +RPS' '$TMP/screen-$size.txt' && grep -Eq 'Echo/Slow ' '$TMP/screen-$size.txt' && grep -Eq 'Echo/Fast ' '$TMP/screen-$size.txt'"
	check "$size: key line at the bottom" grep -q '^q quit' <(tail -1 "$TMP/screen-$size.txt")
	cp "$TMP/screen-$size.txt" "$ART/top-$size.txt"
done
tm resize-window -t top -x 70 -y 20
wait_screen 'terminal too small \(70x20, need 80x24\)' 5
pass "70x20 says the terminal is too small"
tm resize-window -t top -x 120 -y 40
wait_screen '^PID +METHOD' 5

# q: exit status 0, the shell is back, no alternate screen left.
tm send-keys -t top q
wait_screen '^RC=[0-9]+' 60
check "q exits with status 0 ($(screen | grep -Eo '^RC=[0-9]+'))" bash -c "tmux -L $SOCK capture-pane -p -t top | grep -q '^RC=0$'"
check "terminal restored: alternate screen off" test "$(tm display -p -t top '#{alternate_on}')" = 0
check "terminal restored: cursor visible again" test "$(tm display -p -t top '#{cursor_flag}')" = 1
stop_load
tm send-keys -t top 'clear' Enter
sleep 0.3

# The target exiting: the last data stays on screen with the message; q still exits cleanly.
# This run without colour (NO_COLOR): the phase letters alone tell the segments apart.
tm send-keys -t top "NO_COLOR=1 $LATSCOPE top --kernel-hook $KHOOK -p $H2SERVER_PID -t 10ms; echo RC=\$?" Enter
wait_screen "^latscope top - pid $H2SERVER_PID" 30
start_load 20
# The first interval may not have a Slow request whose p99 bar is all app yet: wait for one.
wait_screen "Echo/Slow .* a{5}"
wait_screen "Echo/Fast "
tm capture-pane -e -p -t top > "$TMP/nocolor.ansi"
cp "$TMP/nocolor.ansi" "$ART/top-nocolor.ansi"
check "NO_COLOR: no colour escape on screen, bars still lettered" bash -c "! grep -Eq \$'\\e\\[([0-9]+;)*(3[0-7]|4[0-7])(;[0-9]+)*m' '$TMP/nocolor.ansi' && grep -Eq 'Echo/Slow .* a{5}' '$TMP/nocolor.ansi'"
check "with colour, the first run's screen had colour escapes" grep -Eq $'\e\[([0-9]+;)*(3[0-7]|4[0-7])(;[0-9]+)*m' "$ART/top-main.ansi"
kill "$H2SERVER_PID"
wait_screen "pid $H2SERVER_PID exited" 10
pass "killing the server shows 'pid $H2SERVER_PID exited'"
sleep 1.2
check "the last data stays on screen after the exit" bash -c "tmux -L $SOCK capture-pane -p -t top | grep -Eq 'Echo/Slow +[0-9.]+ +[0-9]+ +[0-9.]+ms'"
tm capture-pane -e -p -t top > "$ART/top-exited.ansi"
tm send-keys -t top q
wait_screen '^RC=[0-9]+' 60
check "q after the exit: status 0" bash -c "tmux -L $SOCK capture-pane -p -t top | grep -q '^RC=0$'"
check "terminal restored after the exit" test "$(tm display -p -t top '#{alternate_on}')" = 0
assert_no_probes
