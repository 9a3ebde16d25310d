#!/usr/bin/env bash
# latscope export on the grpc-go server: every call the client made is counted under
# its method with gRPC's status (names from grpc-go's operateHeaders, status from the
# response's HPACK), Slow's 20 ms handler lands in its bucket, and the server, whose
# goroutine stacks a uretprobe would corrupt, still serves after export detaches. Calls
# the client cancels (a reset stream, no response) are counted apart, not as requests.
. "$(dirname "$0")/../lib.sh"
# Needs every call seen at the load it drives: past the budget where hits
# cost ten times more (the rule in tests/lib.sh).
export LATSCOPE_OVERHEAD=off

ROUNDS=30
start_gogrpc
: > "$TMP/export.err"
"$LATSCOPE" export -p "$GOGRPC_PID" --listen 127.0.0.1:0 --kernel-hook "$KHOOK" 2> "$TMP/export.err" &
EXP_PID=$!
PIDS_TO_KILL+=("$EXP_PID")
wait_export "$TMP/export.err"
gogrpc_client -n "$ROUNDS" > "$TMP/client.txt" 2>&1 || { cat "$TMP/client.txt"; fail "the Go client failed"; }
fast=$(sed -n 's/^Fast ok \([0-9]*\) failed 0$/\1/p' "$TMP/client.txt")
slow=$(sed -n 's/^Slow ok \([0-9]*\) failed 0$/\1/p' "$TMP/client.txt")
[[ -n $fast && -n $slow ]] || { cat "$TMP/client.txt"; fail "the client reported failures"; }
metric() { curl -sf "http://127.0.0.1:$MPORT/metrics" | awk -v m="$1" 'index($0, m) == 1 { s += $NF } END { print s + 0 }'; }
SEL='rpc_server_call_duration_seconds_count{service_name="gogrpc-server",rpc_system_name="grpc",rpc_method="latscope.gogrpc.Echo/'
for i in $(seq 100); do
	[[ $(metric "${SEL}Fast\",rpc_status_code=\"OK\"}") == "$fast" && $(metric "${SEL}Slow\",rpc_status_code=\"OK\"}") == "$slow" ]] && break
	sleep 0.1
done
check "Fast: $fast calls counted with status OK ($(metric "${SEL}Fast\",rpc_status_code=\"OK\"}"))" \
	test "$(metric "${SEL}Fast\",rpc_status_code=\"OK\"}")" -eq "$fast"
check "Slow: $slow calls counted with status OK ($(metric "${SEL}Slow\",rpc_status_code=\"OK\"}"))" \
	test "$(metric "${SEL}Slow\",rpc_status_code=\"OK\"}")" -eq "$slow"
# grpc-go's Slow sleeps 20 ms: none can be under it, and the median lands in (0.02, 0.025]
# (the server's own work is well under 5 ms; on a loaded machine a few calls wait longer for a CPU).
b20=$(metric 'rpc_server_call_duration_seconds_bucket{service_name="gogrpc-server",rpc_system_name="grpc",rpc_method="latscope.gogrpc.Echo/Slow",rpc_status_code="OK",le="0.02"}')
b25=$(metric 'rpc_server_call_duration_seconds_bucket{service_name="gogrpc-server",rpc_system_name="grpc",rpc_method="latscope.gogrpc.Echo/Slow",rpc_status_code="OK",le="0.025"}')
check "Slow: none under 20 ms, the median in (0.02, 0.025] ($b20 at or under 20 ms, $b25 of $slow at or under 25 ms)" \
	test "$b20" -eq 0 -a $((2 * b25)) -ge "$slow"
# Calls the client gives up on 5 ms into Slow's 20: each one counted as reset (or answered,
# should a response ever be walked before the reset is read). A Fast call after each: the
# client's exit may close the connection before the last call's reset is sent.
gogrpc_client -c 1 -n 10 -mix SlowCancel,Fast -cancel-ms 5 > "$TMP/cancel.txt" 2>&1 || { cat "$TMP/cancel.txt"; fail "SlowCancel failed"; }
cancelled=$(sed -n 's/^SlowCancel ok \([0-9]*\) failed 0$/\1/p' "$TMP/cancel.txt")
for i in $(seq 100); do
	resets=$(metric 'latscope_reset_requests_total ')
	answered=$(($(metric "${SEL}Slow\",rpc_status_code=\"OK\"}") - slow))
	((resets + answered >= cancelled)) && break
	sleep 0.1
done
check "the $cancelled cancelled calls: $resets in latscope_reset_requests_total, $answered answered" \
	test "$cancelled" -eq 10 -a $((resets + answered)) -eq "$cancelled"
kill -TERM "$EXP_PID"
rc=0
wait "$EXP_PID" || rc=$?
check "export exits 0 on SIGTERM ($rc)" test "$rc" -eq 0
assert_no_probes
serves() { gogrpc_client -n 5 > "$TMP/after.txt" 2>&1; }
check "the Go server still serves after export detached" serves
