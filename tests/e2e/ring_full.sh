#!/usr/bin/env bash
# A consumer too slow for the ring buffer: latscope is stopped (SIGSTOP) for 2 s (longer
# if the ring buffer has not overflowed by then) while
# h2load keeps the example server busy. Records are then lost only as counted drops:
# the request records trace printed plus those counted as dropped are exactly the
# requests the kernel's histogram counted, which are exactly h2load's successes; the
# summary's "dropped" is not zero; latscope carries on after SIGCONT and exits cleanly.
. "$(dirname "$0")/../lib.sh"
# The ring buffer is flooded on purpose, the probes on throughout: no budget.
export LATSCOPE_OVERHEAD=off

N=${REQUESTS:-60000}
start_h2server
start_trace "$TMP/t.json" -p "$H2SERVER_PID" --json --all
# A header larger than HPACK's table (4096) is sent whole in every request: each header
# block record carries LS_HD_MAX bytes, and 2 s of them are more than the 16 MiB ring.
PAD=$(head -c 4200 /dev/zero | tr '\0' p)
grpc_load Fast "$N" -c 16 -m 16 -H "x-pad: $PAD" > "$TMP/h2load.txt" &
LOAD_PID=$!
PIDS_TO_KILL+=("$LOAD_PID")
sleep 1
kill -STOP "$TRACE_PID"
sleep 2
# On a slower machine 2 s may not fill 16 MiB: stay stopped until the kernel counts a drop
# (LS_CNT_RB_DROPS, counter 0), up to 10 s more, while the load lasts.
for _ in $(seq 100); do
	(($(counter "$TRACE_PID" 0) > 0)) && break
	kill -0 "$LOAD_PID" 2>/dev/null || break
	sleep 0.1
done
kill -CONT "$TRACE_PID"
wait "$LOAD_PID" || { cat "$TMP/h2load.txt"; fail "h2load failed"; }
ok=$(sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p' "$TMP/h2load.txt")
check "h2load's $N requests succeeded ($ok)" test "$ok" -eq "$N"
kill -INT "$TRACE_PID"; wait_trace
[[ $TRACE_RC == 0 ]] || { cat "$TMP/t.json.err"; fail "trace exited with $TRACE_RC after SIGSTOP/SIGCONT"; }
jq -e . "$TMP/t.json" > /dev/null || fail "trace --json printed a line that is not JSON"
S=$(jq -c 'select(.type == "summary")' "$TMP/t.json")
[[ -n $S ]] || fail "no summary"
printed=$(jq -s '[.[] | select(.type == "request")] | length' "$TMP/t.json")
count=$(jq '.requests[0].count' <<< "$S")
dropped=$(jq '.dropped' <<< "$S")
rq_dropped=$(jq '.counters.request_records_dropped' <<< "$S")
echo "h2load $ok, histogram $count, printed $printed, request records dropped $rq_dropped, records dropped $dropped"
check "the ring buffer overflowed while latscope was stopped (dropped $dropped)" test "$dropped" -gt 0
check "the histograms stay exact: their count is h2load's ($count of $ok)" test "$count" -eq "$ok"
check "printed + counted as dropped = every request ($printed + $rq_dropped = $count)" \
	test $((printed + rq_dropped)) -eq "$count"
check "request records dropped are among the records dropped ($rq_dropped <= $dropped)" test "$rq_dropped" -le "$dropped"
assert_no_probes
