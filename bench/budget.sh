#!/usr/bin/env bash
# The overhead budget (--overhead) at saturation: what a server under h2load keeps of its
# throughput under `latscope trace` tracing everything (--overhead off), under the budgets
# 10%, 5% (the default) and 1%, and under 0.01% (the library probes nearly never on: what
# the kernel hooks, which stay, and latscope itself cost), against runs alone, interleaved
# round by round (the machine's state drifts: side by side is what compares; what a run kept
# is its pace over the mean of the runs alone just before and after it, the median of those
# is reported).
# As latscope meets a service, the load runs first and latscope attaches to it under way. A
# run's pace is the server's own: its read and write bytes (/proc/PID/io, a fixed number per
# request) per second over SECS inside the trace, from when latscope says it is attached (its
# start-up, measured by bench/startup.sh, and its exit are outside), and over SECS from the
# same point of the load in a run alone. The client's requests/s over its whole run is shown
# beside it. The budget holds over latscope's session: a run whose load started after the
# attach would meet the bucket's start fill and the income of the idle seconds before the
# load spent inside it (runs measured that way read 1-3 points lower at 5%). Per budgeted
# run also latscope's own account: the probes' measured cost, what the budget charged,
# latscope's own CPU, the share of time traced (its estimated request count is
# bench/estimate.sh's), and what latscope measured the run lost: its windows' traffic
# per second (open to detach's end) against its gaps', over the windows' share of the run
# (overhead.traffic_lost_pct: the gaps are the control, in the same run, so the host's
# drift over minutes is not in it, and neither is what a gap itself costs: the floor).
# Markdown on stdout (appended to $1 when given).
# Servers: the example server (unary gRPC Fast with SPIN_US of CPU per request, 10 unless
# given) and nghttpd (a 100-byte GET). At saturation means the server is what limits the
# requests/s: each server's CPU over its runs alone is reported, and a row says so when it
# is under 90% of a CPU (the client limits them then, and "kept" measures the client).
# Without the spin, the example server used 64% of a CPU on a 2-CPU machine where h2load
# used all of the other: its requests/s were the client's.
# Usage: bench/budget.sh [OUT]   (SECS=8 ROUNDS=3)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
OUT=${1:-/dev/null}
SECS=${SECS:-8}
ROUNDS=${ROUNDS:-3}
MODES=(${MODES:-alone off 10 5 2 1 0.01})
HZ=$(getconf CLK_TCK)
# cpu_ticks PID: the process's user and system time so far, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
# io_bytes PID: the process's read and write bytes so far.
io_bytes() { awk '/^(rchar|wchar):/ { n += $2 } END { print n }' "/proc/$1/io"; }

# one SERVER PID MODE URL ARGS...: one run. Appended: the server's bytes/s over the span to
# $TMP/SERVER.MODE and, after the mode, to $TMP/SERVER.seq (every run in order); the client's
# req/s over its run to $TMP/SERVER.MODE.rps; for a budget latscope's own account to
# $TMP/SERVER.MODE.acct (cost %, share, charged %, latscope's own CPU %).
one() {
	local srv=$1 pid=$2 mode=$3 url=$4 t="" l b0 b1 t0 t1 c0 pace; shift 4
	h2load -D $((SECS + 4)) -c 8 -m 10 -t 1 "$@" "$url" > "$TMP/load.txt" 2>&1 &
	l=$!
	sleep 1
	if [[ $mode != alone ]]; then
		"$LATSCOPE" trace -p "$pid" --overhead "$mode" --json -v -d $((SECS + 1)) > "$TMP/t.json" 2> "$TMP/t.err" &
		t=$!
		wait_attached "$TMP/t.err"
	else
		sleep 0.5
	fi
	t0=$(date +%s%N) b0=$(io_bytes "$pid") c0=$(cpu_ticks "$pid")
	sleep "$SECS"
	t1=$(date +%s%N) b1=$(io_bytes "$pid")
	# The server's share of a CPU over a run alone: 100% when it is what limits the requests/s.
	[[ $mode != alone ]] || echo "$(( ($(cpu_ticks "$pid") - c0) * 100 * 1000000000 / (HZ * (t1 - t0)) ))" >> "$TMP/$srv.cpu"
	pace=$(( (b1 - b0) * 1000000000 / (t1 - t0) ))
	echo "$pace" >> "$TMP/$srv.$mode"
	echo "$mode $pace" >> "$TMP/$srv.seq"
	[[ -z $t ]] || wait "$t" || fail "$srv: latscope trace --overhead $mode failed: $(tail -3 "$TMP/t.err")"
	wait "$l" || fail "$srv: h2load failed"
	sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' "$TMP/load.txt" >> "$TMP/$srv.$mode.rps"
	[[ -n $t && $mode != off ]] || return 0
	grep '"sampled_share"' "$TMP/t.json" | jq -r \
		'[.overhead.measured_pct, .sampled_share, .overhead.charged_pct,
		  (100 * .overhead.self_ns / .overhead.denominator_ns), (.overhead.traffic_lost_pct // "-")] | @tsv' >> "$TMP/$srv.$mode.acct"
}

bench_server() { # bench_server NAME PID URL ARGS...
	local srv=$1 pid=$2 url=$3; shift 3
	# A run alone before every traced one and after the last: each traced run has a neighbour
	# alone on either side, a run's length away (with one alone a round, the later modes of
	# a round sat minutes from theirs, and the host's drift read as their cost).
	for _ in $(seq "$ROUNDS"); do
		for m in "${MODES[@]}"; do
			[[ $m == alone ]] && continue
			one "$srv" "$pid" alone "$url" "$@"
			one "$srv" "$pid" "$m" "$url" "$@"
		done
	done
	one "$srv" "$pid" alone "$url" "$@"
	for m in "${MODES[@]}"; do
		local r cost share label kept charged self
		r=$(median < "$TMP/$srv.$m.rps")
		# Kept: each run against the mean of the runs alone just before and after it (the host's
		# speed drifts by tens of percent over minutes; the neighbours share its state), the median.
		kept=1
		[[ $m == alone ]] || kept=$(awk -v m="$m" '{ k[NR] = $1; v[NR] = $2 }
			END { for (i = 2; i < NR; i++) if (k[i] == m) print v[i] / ((v[i - 1] + v[i + 1]) / 2) }' "$TMP/$srv.seq" | median)
		cost=- share=- charged=- self=- plost=-
		if [[ -s $TMP/$srv.$m.acct ]]; then
			cost=$(cut -f1 "$TMP/$srv.$m.acct" | median)%
			share=$(cut -f2 "$TMP/$srv.$m.acct" | median)
			charged=$(cut -f3 "$TMP/$srv.$m.acct" | median)%
			self=$(cut -f4 "$TMP/$srv.$m.acct" | median | awk '{ printf "%.2f%%", $1 }')
			plost=-
			! cut -f5 "$TMP/$srv.$m.acct" | grep -q '[0-9]' ||
				plost=$(cut -f5 "$TMP/$srv.$m.acct" | grep '[0-9]' | median | awk '{ printf "%.1f%%", $1 }')
		fi
		case $m in
		alone) local busy
			busy=$(median < "$TMP/$srv.cpu" | awk '{ printf "%d", $1 }')
			label="without latscope (server at $busy% of a CPU)"
			[[ $busy -ge 90 ]] || label+=", not saturated: the client limits it" ;;
		off) label="trace --overhead off" ;;
		0.01) label="trace --overhead 0.01 (a window every ~10 s: the kernel hooks' floor)" ;;
		*) label="trace --overhead $m" ;;
		esac
		say "$(awk -v s="$srv" -v l="$label" -v r="$r" -v c="$cost" -v sh="$share" \
			-v ch="$charged" -v me="$self" -v k="$kept" -v pl="$plost" \
			'BEGIN { printf "| %s | %s | %.0f | %.1f%% | %s | %s | %s | %s | %s |\n", s, l, r, 100 * k, pl, c, ch, me, sh }')"
	done
	# Every run, in the order they ran: the host's drift is read from these, not the medians.
	echo "$srv: $(awk '{ printf "%s%s %.1f", (NR > 1 ? ", " : ""), $1, $2 / 1e6 }' "$TMP/$srv.seq")" >> "$TMP/runs.txt"
}

say "| server | run | client's req/s over its run (median) | kept: the server's pace (median of each run over its neighbours alone) | lost in the run, latscope's measure (windows' pace against the gaps') | probes' measured cost (% of a CPU) | charged | latscope's own CPU | sampled_share |"
say "|---|---|---|---|---|---|---|---|---|"
saturated_servers bench_server
say ""
say "Each run in order, the mode and the server's read and write MB/s over its span:"
say ""
sed 's/^/    /' "$TMP/runs.txt" | tee -a "$OUT"
