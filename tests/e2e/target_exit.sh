#!/usr/bin/env bash
# Targets that go away under latscope. (1) The server is killed (SIGKILL) in the middle of
# h2load: trace says so, prints its summary (every request record the kernel counted is
# there) and exits 0 by itself. (2) The target exits and another process takes its pid
# (forced through /proc/sys/kernel/ns_last_pid): latscope tells it from the target by its
# start time, says the target exited, and stops, instead of taking the newcomer's kernel
# calls for the target's. Nothing is left attached after either.
. "$(dirname "$0")/../lib.sh"

# (1) killed mid-load
start_h2server
start_trace "$TMP/t.json" -p "$H2SERVER_PID" --json --all
grpc_load Fast 200000 -c 4 -m 4 > "$TMP/h2load.txt" 2>&1 &
LOAD=$!
PIDS_TO_KILL+=("$LOAD")
sleep 1.5
kill -KILL "$H2SERVER_PID"
t0=$SECONDS
for _ in $(seq 100); do kill -0 "$TRACE_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$TRACE_PID" 2>/dev/null && fail "trace still runs 10 s after its target was killed"
wait_trace
wait "$LOAD" 2>/dev/null || true
check "trace exits 0 by itself when its target dies ($TRACE_RC, after $((SECONDS - t0)) s)" test "$TRACE_RC" -eq 0
check "it says the target exited" grep -q "pid $H2SERVER_PID exited" "$TMP/t.json.err"
S=$(jq -c 'select(.type == "summary")' "$TMP/t.json")
check "the summary says why it ended ($(jq -r .end <<< "$S"))" test "$(jq -r .end <<< "$S")" = "target exited"
count=$(jq '.requests[0].count' <<< "$S")
printed=$(jq -s '[.[] | select(.type == "request")] | length' "$TMP/t.json")
dropped=$(jq '.counters.request_records_dropped' <<< "$S")
check "requests before the kill all reported ($printed printed + $dropped dropped = $count counted)" \
	test "$count" -gt 0 -a $((printed + dropped)) -eq "$count"
assert_no_probes "target killed"

# (2) the pid taken by another process
start_h2server
OLD=$H2SERVER_PID
start_trace "$TMP/r.json" -p "$OLD" --json
kill -KILL "$OLD"
wait "$OLD" 2>/dev/null || true
reused=0
for _ in $(seq 50); do
	echo $((OLD - 1)) > /proc/sys/kernel/ns_last_pid
	sleep 30 &
	NEW=$!
	PIDS_TO_KILL+=("$NEW")
	((NEW == OLD)) && { reused=1; break; }
	kill "$NEW"
done
((reused)) || fail "could not start a process with pid $OLD (50 tries)"
pass "pid $OLD now names another process ($(cat /proc/"$NEW"/comm))"
for _ in $(seq 100); do kill -0 "$TRACE_PID" 2>/dev/null || break; sleep 0.1; done
kill -0 "$TRACE_PID" 2>/dev/null && fail "trace still runs 10 s after its target's pid was taken by another process"
wait_trace
check "trace exits 0 ($TRACE_RC)" test "$TRACE_RC" -eq 0
check "it says the target exited though its pid lives on" grep -q "pid $OLD exited" "$TMP/r.json.err"
kill -0 "$NEW" && pass "the newcomer is untouched"
assert_no_probes "pid reused"
