#!/usr/bin/env bash
# The request model against ground truth: the example server injects a known
# delay on one method and none on another; latscope's per-request phases must
# find it in `app`, add up to each request's total, count every request once,
# and stay within what the client measured.
. "$(dirname "$0")/../lib.sh"
# h2load at full speed, every request counted against the client's: trace everything.
# Where a probe hit costs ~5 us (another host of this kind), that load is past the default
# budget and windows would rightly see a share of it.
export LATSCOPE_OVERHEAD=off

SLOW_N=${SLOW_N:-1000}
FAST_N=${FAST_N:-3000}
# The injected delay. Under software emulation (the 6.1 VM) the server itself needs ~2 ms
# to wake and answer, so the VM run injects 100 ms (and its timers overshoot: it allows 10%).
SLOW_MS=${SLOW_MS:-20}
# Fast does nothing: its app time is the server's own work (~0.3 ms here; software
# emulation in the VM makes that several times longer, so the VM run raises the bound).
FAST_MAX_US=${FAST_MAX_US:-2000}
start_h2server --method Slow:sleep=$SLOW_MS
start_trace "$TMP/t.json" -p "$H2SERVER_PID" --json --all -d 60
grpc_load Slow "$SLOW_N" -c 4 -m 10 -t 1 --log-file="$TMP/slow.log" > "$TMP/h2load-slow.txt" 2>&1 || fail "h2load Slow failed"
grpc_load Fast "$FAST_N" -c 4 -m 10 -t 1 --log-file="$TMP/fast.log" > "$TMP/h2load-fast.txt" 2>&1 || fail "h2load Fast failed"
kill -INT "$TRACE_PID"
wait_trace
[[ $TRACE_RC == 0 ]] || { cat "$TMP/t.json.err"; fail "trace exited with $TRACE_RC"; }
T=$TMP/t.json
echo "kernel hook: $(jq -r 'select(.type=="summary") | .kernel_hook' "$T")"
slow_ok=$(sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p' "$TMP/h2load-slow.txt")
fast_ok=$(sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p' "$TMP/h2load-fast.txt")
[[ $slow_ok == "$SLOW_N" && $fast_ok == "$FAST_N" ]] || fail "h2load: $slow_ok/$SLOW_N and $fast_ok/$FAST_N succeeded"
check "no records dropped" test "$(jq -r 'select(.type=="summary") | .dropped' "$T")" -eq 0

# Every request counted once, under its method.
nslow=$(jq -s '[.[] | select(.type=="request" and .method=="/latscope.example.Echo/Slow")] | length' "$T")
nfast=$(jq -s '[.[] | select(.type=="request" and .method=="/latscope.example.Echo/Fast")] | length' "$T")
nall=$(jq -s '[.[] | select(.type=="request")] | length' "$T")
kcount=$(jq -r 'select(.type=="summary") | .requests[0].count' "$T")
check "Slow requests seen ($nslow) = h2load's completed ($SLOW_N)" test "$nslow" -eq "$SLOW_N"
check "Fast requests seen ($nfast) = h2load's completed ($FAST_N)" test "$nfast" -eq "$FAST_N"
check "no other request ($nall = $SLOW_N + $FAST_N), kernel count $kcount agrees" test "$nall" -eq $((SLOW_N + FAST_N)) -a "$kcount" -eq "$nall"
# A later connection may reuse a closed one's SSL address: compare within one h2load run (one method).
dup=$(jq -s '[.[] | select(.type=="request")] | group_by(.method) | map(map("\(.conn)/\(.stream)") | length - (unique | length)) | add' "$T")
check "every (connection, stream) once within a run ($dup duplicates)" test "$dup" -eq 0
odd=$(jq -s '[.[] | select(.type=="request" and (.stream % 2 == 0))] | length' "$T")
check "stream ids are client-initiated (odd): $odd even" test "$odd" -eq 0
grpc=$(jq -s '[.[] | select(.type=="request" and .grpc_status == 0 and .status == 200)] | length' "$T")
check "every request has :status 200 and grpc-status 0 ($grpc)" test "$grpc" -eq "$nall"

# Phases add up: app is the remainder, so the measured phases must never exceed the total.
bad=$(jq -s '[.[] | select(.type=="request") | (.phases | add) as $s | select(($s - .total_ns | fabs) > ([.total_ns * 0.01, 2000] | max) or .overlap == true)] | length' "$T")
check "phases add up to the total within 1% (or 2us) for every request ($bad do not)" test "$bad" -eq 0

# Ground truth: Slow sleeps SLOW_MS in its handler, Fast does nothing.
jq -r 'select(.type=="request" and .method=="/latscope.example.Echo/Slow") | .phases.app' "$T" > "$TMP/slow_app"
jq -r 'select(.type=="request" and .method=="/latscope.example.Echo/Fast") | .phases.app' "$T" > "$TMP/fast_app"
slow_app50=$(pct "$TMP/slow_app" 0.5); fast_app50=$(pct "$TMP/fast_app" 0.5)
# Against the nominal delay; the server's own measure of each handler is compared below, tighter.
APP_TOL_PCT=${APP_TOL_PCT:-5}
check "Slow app p50 $((slow_app50 / 1000))us within $APP_TOL_PCT% of $SLOW_MS ms" within "$slow_app50" $((SLOW_MS * 1000000)) "$(awk -v p="$APP_TOL_PCT" 'BEGIN { print p / 100 }')"
check "Fast app p50 $((fast_app50 / 1000))us below $((FAST_MAX_US / 1000)) ms" test "$fast_app50" -lt $((FAST_MAX_US * 1000))
for ph in tls_in h2_in decode encode tls_out h2_out net_out; do
	n=$(jq -s "[.[] | select(.type==\"request\" and .phases.$ph > 0)] | length" "$T")
	# Every request's bytes went through these calls; a read or write shared by many streams counts for each.
	check "$ph > 0 for most requests ($n of $nall)" test "$n" -ge $((nall * 9 / 10))
done

# Server-side totals never exceed what the client saw for the same requests. A request ends
# when its last write returns; on loopback the client may read those bytes (and stop its
# clock) while the server is still in that kernel send, so net_out is left out of the
# server's side: the rest of the total ends before the client could see the response.
# The two sides' percentiles come from separate lists; under emulation (the 6.1 VM run) their
# tails differ by ~1% either way, which SRV_SLACK_PCT allows there (0 here).
# The server's end is taken by the return probe of the write, after the kernel delivered the
# bytes and the probe's own trap (several us on hosts where a hit is single-stepped or costs
# ~10 us): the client may already hold the response by then. SRV_SLACK_US allows that much.
# At the tail one more thing shows: the client, woken by the response on loopback, may
# preempt the server between its write's return from the kernel and the return probe that
# ends the request; the server's clock then runs on through the client's turn on the CPU.
# On a 2-CPU host that turn put the server's p99 of Slow 69 us over the client's with 51 us
# allowed (one run in four), and on another stretch of the host 336 and 501 us over in two
# runs of seven; a turn lasts up to the scheduler's slice (0.75-3 ms by kernel and CPU
# count). So p99 allows SRV_TAIL_SLACK_US more (2 ms: a wrong start or end adds a queue or
# a response, 20 ms on Slow, and the medians keep the tight bound); under emulation the
# turn lasts milliseconds (1 ms seen at p99 of Fast in the 6.1 VM), and the VM run allows
# more.
# Per hit, what the write's probes cost on this host (the trace measured it): 0.6 us on one
# host, 5 us on another of the same kind, where the median server time came 34-37 us over
# the client's with 30 us allowed. Four hits' worth more: the write's return trap before its
# timestamp, and the server's next hits on a CPU the client and latscope share meanwhile.
hit_ns=$(jq -r 'select(.type == "summary") | .probes[] | select(.probe == "SSL_write" and .calls > 0) |
	(.est_cost_ns_per_call / (.hits / .calls)) | floor' "$T")
SRV_SLACK_PCT=${SRV_SLACK_PCT:-0}
SRV_SLACK_US=${SRV_SLACK_US:-$((30 + 4 * ${hit_ns:-0} / 1000))}
SRV_TAIL_SLACK_US=${SRV_TAIL_SLACK_US:-2000}
for m in slow fast; do
	M=$([[ $m == slow ]] && echo Slow || echo Fast)
	jq -r "select(.type==\"request\" and .method==\"/latscope.example.Echo/$M\") | (.total_ns - .phases.net_out) / 1000 | floor" "$T" > "$TMP/${m}_srv"
	awk '{ print $3 }' "$TMP/$m.log" > "$TMP/${m}_cli"
	for q in 0.5 0.99; do
		s=$(pct "$TMP/${m}_srv" $q); c=$(pct "$TMP/${m}_cli" $q)
		slack=$SRV_SLACK_US
		[[ $q == 0.99 ]] && slack=$((slack + SRV_TAIL_SLACK_US))
		check "$M p$q: server total less its kernel send time ${s}us <= client latency ${c}us (+${SRV_SLACK_PCT}%, +${slack}us)" \
			test $((s * 100)) -le $(((c + slack) * (100 + SRV_SLACK_PCT)))
	done
done

# nghttp2's output time is what is left of a run of mem_send calls once the traps of its later
# calls are taken off at their cost measured at start (a hit costs ~5 us on some hosts, where the
# library's own work is under 1 us a call). A hit's cost moves with time on a virtual machine
# (by a third, over seconds): measured too high, the traps took the whole span and the output
# time was lost (h2_out 0 for 2917 of 4000 requests in one run). The costs taken twice as high
# must leave it found.
LATSCOPE_TEST_COST_SCALE=2 start_trace "$TMP/s.json" -p "$H2SERVER_PID" --json --all -d 60
grpc_load Fast 1000 -c 4 -m 10 -t 1 > "$TMP/h2load-scaled.txt" 2>&1 || fail "h2load Fast (costs scaled) failed"
kill -INT "$TRACE_PID"
wait_trace
[[ $TRACE_RC == 0 ]] || { cat "$TMP/s.json.err"; fail "trace (costs scaled) exited with $TRACE_RC"; }
n=$(jq -s '[.[] | select(.type=="request" and .phases.h2_out > 0)] | length' "$TMP/s.json")
ns=$(jq -s '[.[] | select(.type=="request")] | length' "$TMP/s.json")
check "costs measured twice too high: h2_out > 0 for most requests ($n of $ns)" test "$n" -ge $((ns * 9 / 10)) -a "$ns" -ge 1000
assert_no_probes
