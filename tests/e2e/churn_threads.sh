#!/usr/bin/env bash
# Threads come and go by the thousand: tests/progs/threadchurn starts 6000 threads, at
# most 50 at a time, each making one probed call (SSL_new's SSL_clear) and one SSL_free,
# more threads than the threads map holds (4096). Every call is counted, no thread is
# refused for a full table, every exit is seen, and the threads map ends where it began
# (no entry of a dead thread); nothing is left attached.
. "$(dirname "$0")/../lib.sh"
# Needs every thread's calls seen at the load it drives: past the budget where hits
# cost ten times more (the rule in tests/lib.sh).
export LATSCOPE_OVERHEAD=off

N=${THREADS:-6000}
start_ready churn "$ROOT/build/progs/threadchurn" "$N" 50
CHURN=$READY_PID
start_trace "$TMP/t.json" -p "$CHURN" --json
idle=$(map_entries "$TRACE_PID" threads)
t0=$SECONDS
kill -USR1 "$CHURN"
for _ in $(seq 600); do grep -q "^done $N$" "$TMP/churn.out" && break; sleep 0.1; done
grep -q "^done $N$" "$TMP/churn.out" || fail "threadchurn did not finish its $N threads"
pass "$N threads started and ended in $((SECONDS - t0)) s"
sleep 0.3
left=$(map_entries "$TRACE_PID" threads)
live=$(ls /proc/"$CHURN"/task | wc -l)
check "the threads map is back to its idle level ($left entries, $idle before, $live threads alive)" \
	test "$left" -le "$idle"
stop_trace "$TMP/t.json"
calls=$(jq '[.probes[] | select(.probe == "SSL_clear") | .calls] | add // 0' <<< "$S")
check "every thread's call counted ($calls SSL_clear of $N)" test "$calls" -eq "$N"
freed=$(jq '.counters.tls_objects_freed' <<< "$S")
check "every SSL_free seen ($freed of $N)" test "$freed" -eq "$N"
exits=$(jq '.counters.thread_exits' <<< "$S")
check "every thread's exit seen ($exits of $N)" test "$exits" -ge "$N"
full=$(jq '.counters.thread_table_full' <<< "$S")
check "no thread refused for a full table ($full)" test "$full" -eq 0
tab=$(jq '[.tables.maps[] | select(.name == "threads")][0].entries' <<< "$S")
check "trace -v's table agrees ($tab threads entries)" test "$tab" -le "$idle"
assert_no_probes
