#!/usr/bin/env bash
# Never crash a Go target: latscope attaches to and detaches from the Go gRPC server
# again and again while clients drive unary, streaming and stack-growing (deep
# recursion) RPCs. The server must stay up, every RPC must succeed, and its goroutine
# dump on SIGQUIT must show no "unexpected return pc" (what a return address rewritten
# by a uretprobe looks like to Go's unwinder).
#
# GO_CYCLES cycles (40 in make test, 500 in make soak), each `trace -d 100ms` (a whole
# latscope run: load, attach, trace, detach, exit), must all run. GO_CYCLES_BUDGET (420 s)
# only stops a run that has gone wrong; a cycle takes 1.2-1.6 s on the 2-CPU machines
# (see BENCHMARKS.md): 200 took four and a half of the suite's 30 minutes.
. "$(dirname "$0")/../lib.sh"

cycles=${GO_CYCLES:-40}
budget=${GO_CYCLES_BUDGET:-420}
start_gogrpc -slow-ms 2
"$ROOT/build/examples/gogrpc-client" -addr "127.0.0.1:$PORT" -ca "$TMP/cert.pem" -c 3 -d $((budget + 60))s \
	-mix Fast,Stream,Deep,Slow -depth 200 -count 5 > "$TMP/load.txt" 2> "$TMP/load.err" &
LOAD=$!
PIDS_TO_KILL+=("$LOAD")
t0=$SECONDS
done_cycles=0 traced=0
for i in $(seq "$cycles"); do
	((SECONDS - t0 < budget)) || break
	"$LATSCOPE" trace -p "$GOGRPC_PID" -d 100ms --json > "$TMP/cycle.out" 2> "$TMP/cycle.err" ||
		{ cat "$TMP/cycle.err"; fail "cycle $i: latscope trace failed"; }
	kill -0 "$GOGRPC_PID" 2>/dev/null || fail "the Go server died in cycle $i"
	done_cycles=$i
	# The cycle really attached: its summary counted requests of the Go server.
	jq -e 'select(.type == "summary") | [.requests[].count] | add > 0' "$TMP/cycle.out" > /dev/null 2>&1 && traced=$((traced + 1))
done
elapsed=$((SECONDS - t0))
echo "attach/detach cycles: $done_cycles of $cycles in ${elapsed}s ($(awk -v n="$done_cycles" -v t="$elapsed" 'BEGIN { printf "%.1f", n ? t / n : 0 }') s each)"
# Stop the clients early: calls in flight finish, and they report what they did.
kill -INT "$LOAD"
rc=0
wait "$LOAD" || rc=$?
kill -0 "$GOGRPC_PID" || fail "the Go server died"
cat "$TMP/load.txt"
ok=$(sed -n 's/^total ok \([0-9]*\) failed 0$/\1/p' "$TMP/load.txt")
check "every RPC under attach/detach succeeded: ${ok:-?} RPCs, none failed (client exit $rc)" test "$rc" -eq 0 -a "${ok:-0}" -gt 0
kill -QUIT "$GOGRPC_PID"
wait "$GOGRPC_PID" 2>/dev/null || true
grep -q '^goroutine ' "$TMP/gogrpc.err" || { tail -5 "$TMP/gogrpc.err"; fail "no goroutine dump on SIGQUIT"; }
check "goroutine dump on SIGQUIT: $(grep -c '^goroutine ' "$TMP/gogrpc.err") goroutines, no 'unexpected return pc'" \
	bash -c "! grep -q 'unexpected return pc' '$TMP/gogrpc.err'"
check "the cycles traced requests: $traced of $done_cycles counted some" test "$traced" -ge $((done_cycles * 9 / 10))
check "all $cycles attach/detach cycles ran ($done_cycles in ${elapsed}s; ${budget}s budget)" test "$done_cycles" -eq "$cycles"
assert_no_probes
