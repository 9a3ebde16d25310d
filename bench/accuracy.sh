#!/usr/bin/env bash
# What the overhead budget costs in truth: at a fixed moderate load that full tracing can
# afford, runs of `trace --overhead off` and `trace --overhead $BUDGET` (a budget that
# keeps the probes attached only part of the time at that load), one of each a round on
# the same server, connections and load, compared per method: p50 and p99 of the requests
# the runs of each mode reported, over all rounds (short rounds, many of them: each
# round's load falls differently, and the host's speed drifts over minutes), the share of
# time traced, the share of reported requests that are named, and latscope's estimate of
# the request count against h2load's.
# Servers: the example server (nghttp2) and the Go gRPC example (grpc-go), Slow (5 ms
# injected) and Fast (nothing) over 4 long-lived connections at RPS requests/s in all.
# The client's own latencies of the same runs (h2load --log-file, told apart by the 5 ms)
# show what each trace's percentiles should be: those of the requests it started while
# traced, or in a budgeted run of those it started inside a window (the windows being on,
# the server is slower or faster there than under full tracing; the trace reports what its
# requests saw). In the budgeted runs they are also classed by where each request started
# against the windows (in one, just after one closed, just before one opened, elsewhere):
# what the windows' requests leave out. Markdown on stdout (appended to $1).
# The budget (BUDGET=half, the default) is half of what full tracing cost in the first
# round's run, as latscope measured it (probe_est_ns over the run): the probes are then on
# about half the time whatever a hit costs on the machine, and the budgeted runs report
# enough requests for a p99. A number sets it instead; BUDGET=100, which full tracing does
# not reach at this load, compares full tracing with itself: the host's own noise in the
# same table.
# Usage: bench/accuracy.sh [OUT]   (SECS=3 ROUNDS=30 RPS=1000 BUDGET=half SERVERS="h2server gogrpc")
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
OUT=${1:-/dev/null}
SECS=${SECS:-3}
ROUNDS=${ROUNDS:-30}
RPS=${RPS:-1000}
BUDGET_ASKED=${BUDGET:-half}
SERVERS=${SERVERS:-h2server gogrpc}
METHODS=(Fast Slow)
SLOW_MS=5

# Values on stdin: "p50 p99 count" ("0 0 0" when none: a round keeps its line).
pct3() { sort -n | awk '{ v[NR] = $1 } END { if (NR) printf "%d %d %d\n", v[int((NR + 1) / 2)], v[int(NR * 0.99 + 0.5)], NR; else print "0 0 0" }'; }

# one MODE: one run of SECS under trace --overhead MODE on the round's load, its records to
# $TMP/t.MODE.json.
one() {
	"$LATSCOPE" trace -p "$SPID" --overhead "$1" --json --all -v -d "$SECS" > "$TMP/t.$1.json" 2> "$TMP/t.err" ||
		fail "latscope trace --overhead $1 failed"
}

# tally MODE: the run of MODE against the client's log of the round, read after the load has
# ended (h2load's log complete): per method "p50 p99 count" appended to $TMP/MODE.METHOD,
# and "sampled_share named_share estimated/real" to $TMP/MODE.acct.
tally() {
	local mode=$1 real t0 t1 off
	cp "$TMP/t.$mode.json" "$TMP/t.json"
	# The trace's span on the client's clock, and its records' clock against it (the summary's).
	read -r t0 t1 off < <(trace_span "$TMP/t.json")
	[[ $mode == off ]] || classes "$t0" "$t1" "$off" > "$TMP/round.classes"
	for m in "${METHODS[@]}"; do
		jq -r --arg m "/$SVC/$m" 'select(.type == "request" and .method == $m) | .total_ns' "$TMP/t.json" |
			tee -a "$TMP/$mode.$m.pool" | pct3 >> "$TMP/$mode.$m"
		# The client's latency of the requests the trace should report (us -> ns): all it started
		# while traced, or, under a budget, those it started in a window. Fast: below nine tenths
		# of the injected delay (a Slow request takes all of it; a Fast one's tail can pass half).
		if [[ $mode == off ]]; then
			awk -v m="$m" -v h=$((SLOW_MS * 900)) -v a="$t0" -v b="$t1" \
				'$1 >= a && $1 < b && (m == "Fast") == ($3 < h) { print $3 * 1000 }' "$TMP/lat.log"
		else
			awk -v m="$m" '$1 == m && $2 == "in" { print $3 }' "$TMP/round.classes"
		fi | tee -a "$TMP/$mode.$m.client.pool" | pct3 >> "$TMP/$mode.$m.client"
	done
	[[ $mode == off ]] || cat "$TMP/round.classes" >> "$TMP/$mode.classes"
	# The requests the client started while traced.
	real=$(awk -v a="$t0" -v b="$t1" '$1 >= a && $1 < b' "$TMP/lat.log" | wc -l)
	jq -rs --arg real "$real" '
		([.[] | select(.type == "request")] | length) as $n |
		([.[] | select(.type == "request" and (.method // "") != "" and (.method | startswith("?") | not))] | length) as $named |
		(.[] | select(.type == "summary")) as $s |
		[($s.sampled_share // 1), (if $n > 0 then $named / $n else 0 end),
		 (($s.requests_estimated // $n) / ($real | tonumber))] | @tsv' "$TMP/t.json" >> "$TMP/$mode.acct"
	# The round on stderr, to follow the host's state: each method's p50 (ms), the per-hit cost
	# measured at start (traps, ns), the BPF time per uprobe program run (ns), the server's CPU
	# over the run (% of one) and the share of time traced.
	jq -rs --arg mode "$mode" --arg svc "$SVC" '
		def p50(m): [.[] | select(.type == "request" and .method == m) | .total_ns] | sort |
			if length > 0 then .[(length - 1) / 2 | floor] / 1e6 else 0 end;
		def ratio(a; b): if (b // 0) > 0 then (a / b | floor) else "-" end;
		(.[] | select(.type == "summary")) as $s |
		"\($mode): Fast p50 \(p50("/" + $svc + "/Fast")) ms, Slow p50 \(p50("/" + $svc + "/Slow")) ms, " +
		"trap \(ratio($s.probe_trap_est_ns; $s.probe_hits)) ns per hit, BPF \(ratio($s.bpf_uprobe_ns; $s.bpf_uprobe_runs)) ns per uprobe run, " +
		"server \(ratio(100 * $s.target_cpu_ns; $s.duration_ns))% of a CPU, share \($s.sampled_share // 1)"' \
		"$TMP/t.json" >&2
}

# classes T0 T1 OFF: "method class latency_ns" of each request the client started between T0 and
# T1 (us since the epoch) in a budgeted run, classed by where it started against the
# budget's windows. The windows are inferred from the requests the budget reported (their
# starts, CLOCK_MONOTONIC; more than 20 ms between two marks a gap): a request started in
# one, at most 150 ms after one closed, at most 150 ms before one opened, or elsewhere.
# OFF ties the two clocks: what the wall clock is ahead of the monotonic one (trace_span).
classes() {
	jq -r 'select(.type == "request") | .start_ns' "$TMP/t.json" | sort -n |
		windows > "$TMP/windows"
	awk -v off="$3" -v lo="$1" -v hi="$2" -v h=$((SLOW_MS * 900)) '
		NR == FNR { s[NR] = $1; e[NR] = $2; n = NR; next }
		$1 >= lo && $1 < hi {
			t = $1 * 1000 - off; c = "elsewhere"
			for (i = 1; i <= n; i++) {
				if (t >= s[i] && t <= e[i]) { c = "in"; break }
				if (t > e[i] && t - e[i] <= 150e6) c = "after"
				else if (c == "elsewhere" && t < s[i] && s[i] - t <= 150e6) c = "before"
			}
			print ($3 < h ? "Fast" : "Slow"), c, $3 * 1000
		}' "$TMP/windows" "$TMP/lat.log"
}

for server in $SERVERS; do
	rm -f "$TMP"/off.* "$TMP/${BUDGET:-off}".*
	if [[ $server == gogrpc ]]; then
		start_gogrpc -slow-ms "$SLOW_MS"
		SPID=$GOGRPC_PID SVC=latscope.gogrpc.Echo NAME="Go gRPC example (grpc-go: names from operateHeaders)"
	else
		start_h2server --method Slow:sleep=$SLOW_MS
		SPID=$H2SERVER_PID SVC=latscope.example.Echo NAME="example server (nghttp2: names from HPACK, tables read after gaps)"
	fi
	# Both runs of a round on one load: h2load's four connections send on timers of their own,
	# in phase or not as each start happens to fall, and a 0.2 ms method's median moves with
	# that by a factor of two (requests that arrive together are served one after another)
	# from one h2load to the next under the same trace. The load runs first and latscope
	# attaches to it under way, as to a service: a budget's first window (whole from attach)
	# sees the steady load, not h2load's start. Rounds in the order off, budget, budget, off,
	# off, budget, ...: a drift of the host's speed over the run meets both modes alike, not
	# the one that always runs second.
	for r in $(seq "$ROUNDS"); do
		rm -f "$TMP/lat.log" # h2load appends to its log: each round's starts a new one
		echo_load $((2 * SECS + 8)) "$RPS" "$SVC" --log-file="$TMP/lat.log"
		sleep 1
		if ((r % 2 == 0)); then
			order=("$BUDGET" off)
		else
			order=(off "${BUDGET:-}")
		fi
		one "${order[0]}"
		if [[ $r == 1 ]]; then
			jq -r 'select(.type == "summary") | 100 * .probe_est_ns / .duration_ns' "$TMP/t.off.json" > "$TMP/full_cost"
			BUDGET=$BUDGET_ASKED
			[[ $BUDGET != half ]] || BUDGET=$(awk '{ printf "%.2g", $1 / 2 }' "$TMP/full_cost")
			order[1]=$BUDGET
		fi
		one "${order[1]}"
		wait "$LOAD_PID" || fail "h2load failed"
		tally "${order[0]}"
		tally "${order[1]}"
	done
	kill "$SPID"
	wait "$SPID" 2> /dev/null || true
	say "$NAME:"
	say ""
	say "| method | trace | p50 (ms) | p99 (ms) | requests reported | p50 vs off | p99 vs off | median of the rounds' p50 / p99 vs off | the client's p50 / p99 (ms) of the requests it should report | p50 vs the client's |"
	say "|---|---|---|---|---|---|---|---|---|---|"
	for m in "${METHODS[@]}"; do
		read -r o50 o99 _ < <(pct3 < "$TMP/off.$m.pool")
		r50=$(cut -d' ' -f1 "$TMP/off.$m" | median)
		r99=$(cut -d' ' -f2 "$TMP/off.$m" | median)
		for mode in off "$BUDGET"; do
			read -r p50 p99 n < <(pct3 < "$TMP/$mode.$m.pool")
			read -r c50 c99 _ < <(pct3 < "$TMP/$mode.$m.client.pool")
			q50=$(cut -d' ' -f1 "$TMP/$mode.$m" | median)
			q99=$(cut -d' ' -f2 "$TMP/$mode.$m" | median)
			say "$(awk -v m="$m" -v mode="$mode" -v a="$p50" -v b="$p99" -v n="$n" -v oa="$o50" -v ob="$o99" \
				-v ca="$c50" -v cb="$c99" -v qa="$q50" -v qb="$q99" -v ra="$r50" -v rb="$r99" 'BEGIN {
				printf "| %s | --overhead %s | %.3f | %.3f | %d | %+.1f%% | %+.1f%% | %+.1f%% / %+.1f%% | %.3f / %.3f | %+.1f%% |\n", m, mode,
					a / 1e6, b / 1e6, n, 100 * (a - oa) / oa, 100 * (b - ob) / ob,
					100 * (qa - ra) / ra, 100 * (qb - rb) / rb, ca / 1e6, cb / 1e6,
					(ca > 0 ? 100 * (a - ca) / ca : 0) }')"
		done
	done
	say ""
	# Each round's budgeted percentile against the same round's full one: their mean and twice
	# its standard error, what separates a difference of the modes from the host's round to
	# round noise.
	for m in "${METHODS[@]}"; do
		say "$(paste -d' ' "$TMP/off.$m" "$TMP/$BUDGET.$m" | awk -v m="$m" '
			$1 > 0 && $2 > 0 && $4 > 0 && $5 > 0 {
				n++; a = 100 * ($4 - $1) / $1; b = 100 * ($5 - $2) / $2
				sa += a; qa += a * a; sb += b; qb += b * b
			}
			function se(s, q) { return n > 1 ? 2 * sqrt((q - s * s / n) / (n - 1) / n) : 0 }
			END { printf "%s, round by round (budgeted against the same round'"'"'s full trace, %d rounds): p50 %+.1f%% ± %.1f%%, p99 %+.1f%% ± %.1f%% (mean ± twice its standard error)\n",
				m, n, n ? sa / n : 0, se(sa, qa), n ? sb / n : 0, se(sb, qb) }')"
	done
	say ""
	say "The client's latency in the budgeted runs by where each request started against the windows"
	say "(inferred from the budget's requests), pooled over the rounds: p50 / p99 (ms), requests."
	say ""
	say "| method | all | in a window | at most 150 ms after one | at most 150 ms before one | elsewhere |"
	say "|---|---|---|---|---|---|"
	for m in "${METHODS[@]}"; do
		row="| $m | $(awk -v m="$m" '$1 == m { print $3 }' "$TMP/$BUDGET.classes" | cell) |"
		for c in in after before elsewhere; do
			row+=" $(awk -v m="$m" -v c="$c" '$1 == m && $2 == c { print $3 }' "$TMP/$BUDGET.classes" | cell) |"
		done
		say "$row"
	done
	say ""
	say "| trace | sampled_share | named / reported | estimated / real count |"
	say "|---|---|---|---|"
	for mode in off "$BUDGET"; do
		say "| --overhead $mode | $(cut -f1 "$TMP/$mode.acct" | median) | $(cut -f2 "$TMP/$mode.acct" | median) | $(cut -f3 "$TMP/$mode.acct" | median) |"
	done
	say ""
done
say "$ROUNDS rounds of $SECS s traced each way, one after the other on one h2load per round (latscope attached 1 s into"
say "it; off first in odd rounds, second in even ones); $RPS requests/s over 4 connections."
say "Percentiles over the requests of all rounds of a mode (the rounds interleaved, the host's drift meets both alike);"
say "the shares and ratios are medians of the rounds. A round's budgeted run reports a third of full tracing's requests"
say "or fewer: its own p99 is its second-largest value or so, a noisier estimate (the medians of the rounds' percentiles,"
say "one more column, for comparison)."
