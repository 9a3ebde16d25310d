#!/usr/bin/env bash
# latscope export --comm follows servers by name: started before any exists, it attaches
# to one that starts later (without restarting it), detaches from it when it exits
# (leaving no probe while export keeps running), and attaches to its successor, whose
# requests add to the same series: no pid label, so no series growth across restarts.
# Logs as JSON lines, checked with jq. Then --exe with --cgroup: of two servers running
# the same executable, only the one in a cgroup (v2) made here is traced.
. "$(dirname "$0")/../lib.sh"

# A name of this run's own, so that no other process on the machine matches it.
NAME=lsx$$
cp "$ROOT/build/examples/h2server" "$TMP/$NAME"
EXP_ERR=$TMP/export.err
: > "$EXP_ERR"
"$LATSCOPE" export --comm "$NAME" --rescan 300ms --listen 127.0.0.1:0 --log-format json \
	--kernel-hook "$KHOOK" 2> "$EXP_ERR" &
EXP_PID=$!
PIDS_TO_KILL+=("$EXP_PID")
# wait_log JQ-FILTER: until a log line matches (30 s: attaching takes seconds on a loaded machine).
wait_log() {
	for i in $(seq 300); do
		grep "^{" "$EXP_ERR" | jq -s -e "any(.[]; $1)" > /dev/null 2>&1 && return 0
		kill -0 "$EXP_PID" 2>/dev/null || { cat "$EXP_ERR"; fail "export exited early"; }
		sleep 0.1
	done
	cat "$EXP_ERR" >&2
	return 1
}
check "export waits for a process named $NAME" wait_log '.event == "waiting"'
MPORT=$(grep '^{' "$EXP_ERR" | jq -r 'select(.event == "listening") | .msg' | sed 's|.*:\([0-9]*\)/metrics|\1|')
metric() { curl -sf "http://127.0.0.1:$MPORT/metrics" | { grep -F "$1" || true; } | awk '{ s += $NF } END { print s + 0 }'; }
# wait_metric PATTERN VALUE: until the scrape's lines matching PATTERN sum to VALUE (20 s).
wait_metric() {
	for i in $(seq 200); do
		[[ $(metric "$1") == "$2" ]] && return 0
		sleep 0.1
	done
	echo "last: $1 = $(metric "$1"), wanted $2" >&2
	return 1
}
COUNT="rpc_server_call_duration_seconds_count{service_name=\"$NAME\",rpc_system_name=\"grpc\",rpc_method=\"latscope.example.Echo/Fast\""

make_cert
start_listener first "$TMP/$NAME" --cert "$TMP/cert.pem" --key "$TMP/key.pem" -p 0
FIRST=$SERVER_PID
check "a server started after export is attached (pid $FIRST)" wait_log ".event == \"attach\" and .pid == $FIRST"
wait_log '.event == "attached"' || fail "no 'attached' line"
grpc_load Fast 100 > "$TMP/load1.txt" 2>&1 || fail "h2load failed"
check "its 100 requests are counted" wait_metric "$COUNT" 100
series=$(metric 'latscope_series ')
check "target_info names it" test "$(metric "latscope_target_info{pid=\"$FIRST\"")" -eq 1

kill "$FIRST"
wait "$FIRST" 2>/dev/null || true
check "export detaches from the exited server" wait_log ".event == \"detach\" and .pid == $FIRST"
kill -0 "$EXP_PID" || fail "export exited with its target"
assert_no_probes "export still running, its only target gone"

start_listener second "$TMP/$NAME" --cert "$TMP/cert.pem" --key "$TMP/key.pem" -p 0
SECOND=$SERVER_PID
check "its successor is attached (pid $SECOND)" wait_log ".event == \"attach\" and .pid == $SECOND"
sleep 0.5
grpc_load Fast 50 > "$TMP/load2.txt" 2>&1 || fail "h2load failed"
check "the successor's 50 requests add to the same series (150)" wait_metric "$COUNT" 150
check "no series growth across the restart ($series)" test "$(metric 'latscope_series ')" -eq "$series"
check "target_info: the successor only" test "$(metric 'latscope_target_info{')" -eq 1 -a \
	"$(metric "latscope_target_info{pid=\"$SECOND\"")" -eq 1

kill -TERM "$EXP_PID"
rc=0
wait "$EXP_PID" || rc=$?
check "export exits 0 on SIGTERM ($rc)" test "$rc" -eq 0
cp "$EXP_ERR" "$TMP/comm.err"
# Every line, warnings of the shared code included: one JSON object each.
logs_ok() {
	jq -e -s 'length > 5 and all(.[]; (.time | test("^[0-9-]+T[0-9:.]+Z$")) and (.event | type == "string"))' \
		"$TMP/comm.err" > /dev/null
}
check "every log line is a JSON object with a time and an event ($(wc -l < "$TMP/comm.err") lines)" logs_ok
assert_no_probes

# --exe and --cgroup together select processes that match both.
CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
[[ -n $CG2 ]] || fail "no cgroup v2 hierarchy mounted"
CG=/lsx$$
mkdir "$CG2$CG"
trap 'cleanup; rmdir "$CG2$CG" 2>/dev/null || true' EXIT
start_listener inside "$TMP/$NAME" --cert "$TMP/cert.pem" --key "$TMP/key.pem" -p 0
INSIDE=$SERVER_PID
echo "$INSIDE" > "$CG2$CG/cgroup.procs"
start_listener outside "$TMP/$NAME" --cert "$TMP/cert.pem" --key "$TMP/key.pem" -p 0
OUTSIDE=$SERVER_PID
: > "$EXP_ERR"
"$LATSCOPE" export --exe "$TMP/$NAME" --cgroup "$CG" --listen 127.0.0.1:0 --log-format json \
	--kernel-hook "$KHOOK" 2> "$EXP_ERR" &
EXP_PID=$!
PIDS_TO_KILL+=("$EXP_PID")
check "--exe with --cgroup attaches to the server in $CG (pid $INSIDE)" wait_log ".event == \"attached\""
MPORT=$(grep '^{' "$EXP_ERR" | jq -r 'select(.event == "listening") | .msg' | sed 's|.*:\([0-9]*\)/metrics|\1|')
check "and to it alone, not to pid $OUTSIDE running the same executable elsewhere" \
	test "$(metric 'latscope_target_info{')" -eq 1 -a "$(metric "latscope_target_info{pid=\"$INSIDE\"")" -eq 1
kill -TERM "$EXP_PID"
rc=0
wait "$EXP_PID" || rc=$?
check "export exits 0 on SIGTERM ($rc)" test "$rc" -eq 0
assert_no_probes
