#!/usr/bin/env bash
# The overhead budget (--overhead) at saturation: requests/s of a server under h2load
# alone, under `latscope trace` tracing everything (--overhead off), under the
# budgets 10%, 5% (the default) and 1%, and under 0.01% (the library probes nearly
# never on: what the kernel hooks, which stay, and latscope itself cost), interleaved
# round by round (the machine's state drifts: side by side is what compares; what a run kept
# is its requests/s over the mean of the runs alone just before and after it, the median of
# those is reported). Per budgeted run also latscope's own
# account: the probes' measured cost, the share of time traced, its estimate of the
# request count against h2load's (h2load starts after latscope attached: the session's
# first window holds its connections' TLS handshakes, which weigh the windows' share of
# the bytes up and the estimate 4-6% down on the example server; on a load already
# running it reads within 2%, BENCHMARKS.md). Markdown on stdout (appended to $1 when given).
# Servers: the example server (unary gRPC Fast with SPIN_US of CPU per request, 10 unless
# given) and nghttpd (a 100-byte GET). At saturation means the server is what limits the
# requests/s: each server's CPU over its runs alone is reported, and a row says so when it
# is under 90% of a CPU (the client limits them then, and "kept" measures the client).
# Without the spin, the example server used 64% of a CPU on a 2-CPU machine where h2load
# used all of the other: its requests/s were the client's.
# Usage: bench/budget.sh [OUT]   (SECS=5 ROUNDS=3)
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
OUT=${1:-/dev/null}
SECS=${SECS:-5}
ROUNDS=${ROUNDS:-3}
MODES=(${MODES:-alone off 10 5 2 1 0.01})
HZ=$(getconf CLK_TCK)
# cpu_ticks PID: the process's user and system time so far, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# one SERVER PID MODE URL ARGS...: one h2load run of SECS; req/s appended to $TMP/SERVER.MODE,
# and for a budget latscope's own account to $TMP/SERVER.MODE.acct (cost %, share, estimate / real,
# charged %, latscope's own CPU %).
one() {
	local srv=$1 pid=$2 mode=$3 url=$4 t="" rps real c0; shift 4
	if [[ $mode != alone ]]; then
		"$LATSCOPE" trace -p "$pid" --overhead "$mode" --json -v -d $((SECS + 2)) > "$TMP/t.json" 2> "$TMP/t.err" &
		t=$!
		wait_attached "$TMP/t.err"
	fi
	c0=$(cpu_ticks "$pid")
	h2load -D "$SECS" -c 8 -m 10 -t 1 "$@" "$url" > "$TMP/load.txt" 2>&1 || fail "$srv: h2load failed"
	# The server's share of a CPU over a run alone: 100% when it is what limits the requests/s.
	[[ $mode != alone ]] || echo "$(( ($(cpu_ticks "$pid") - c0) * 100 / (HZ * SECS) ))" >> "$TMP/$srv.cpu"
	rps=$(sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' "$TMP/load.txt")
	echo "$rps" >> "$TMP/$srv.$mode"
	[[ -n $t ]] || return 0
	wait "$t" || fail "$srv: latscope trace --overhead $mode failed"
	[[ $mode != off ]] || return 0
	real=$(sed -n 's/^requests: .* \([0-9]*\) done.*/\1/p' "$TMP/load.txt")
	grep '"sampled_share"' "$TMP/t.json" | jq -r --arg real "$real" \
		'[.overhead.measured_pct, .sampled_share, .requests_estimated / ($real | tonumber), .overhead.charged_pct,
		  (100 * .overhead.self_ns / .overhead.denominator_ns)] | @tsv' >> "$TMP/$srv.$mode.acct"
}

bench_server() { # bench_server NAME PID URL ARGS...
	local srv=$1 pid=$2 url=$3; shift 3
	for _ in $(seq "$ROUNDS"); do
		for m in "${MODES[@]}"; do one "$srv" "$pid" "$m" "$url" "$@"; done
	done
	for m in "${MODES[@]}"; do
		local r cost share est label kept
		r=$(median < "$TMP/$srv.$m")
		# Kept: each run against the mean of the runs alone just before and after it (the host's
		# speed drifts by tens of percent over minutes; the neighbours share its state), the median.
		kept=1
		[[ $m == alone ]] || kept=$(paste -d' ' "$TMP/$srv.alone" "$TMP/$srv.$m" | awk '{ a[NR] = $1; b[NR] = $2 }
			END { for (i = 1; i <= NR; i++) print b[i] / (i < NR ? (a[i] + a[i + 1]) / 2 : a[i]) }' | median)
		cost=- share=- est=- charged=- self=-
		if [[ -s $TMP/$srv.$m.acct ]]; then
			cost=$(cut -f1 "$TMP/$srv.$m.acct" | median)%
			share=$(cut -f2 "$TMP/$srv.$m.acct" | median)
			est=$(cut -f3 "$TMP/$srv.$m.acct" | median)
			charged=$(cut -f4 "$TMP/$srv.$m.acct" | median)%
			self=$(cut -f5 "$TMP/$srv.$m.acct" | median | awk '{ printf "%.2f%%", $1 }')
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
		say "$(awk -v s="$srv" -v l="$label" -v r="$r" -v c="$cost" -v sh="$share" -v e="$est" \
			-v ch="$charged" -v me="$self" -v k="$kept" \
			'BEGIN { printf "| %s | %s | %.0f | %.1f%% | %s | %s | %s | %s | %s |\n", s, l, r, 100 * k, c, ch, me, sh, e }')"
	done
	# Every run, in the order they ran: the host's drift is read from these, not the medians.
	for m in "${MODES[@]}"; do
		echo "$srv, $m: $(tr '\n' ' ' < "$TMP/$srv.$m")" >> "$TMP/runs.txt"
	done
}

say "| server | run | req/s (median of $ROUNDS) | kept (median of each run over its neighbours alone) | probes' measured cost (% of a CPU) | charged | latscope's own CPU | sampled_share | estimated / real count |"
say "|---|---|---|---|---|---|---|---|---|"
saturated_servers bench_server
say ""
say "req/s of each run (rounds in order):"
say ""
sed 's/^/    /' "$TMP/runs.txt" | tee -a "$OUT"
