#!/usr/bin/env bash
# queue: how long a request's bytes waited in the socket before the process read them.
# The example server runs one event loop; a handler that blocks it (Slow:block=N, a
# sleep inside the handler) makes requests arriving meanwhile on other connections wait
# in their sockets for the rest of the block. Those requests must show that wait as
# queue (their total, which now starts when the bytes reached the socket, matching what
# the client saw for each within 5%), and still add up; on an idle server queue stays
# near 0.
. "$(dirname "$0")/../lib.sh"
# Needs every stall seen at the load it drives: past the budget where hits
# cost ten times more (the rule in tests/lib.sh).
export LATSCOPE_OVERHEAD=off

BLOCK_MS=${BLOCK_MS:-200}
NBLOCK=${NBLOCK:-4}
# What "near 0" means on an idle server: a wake-up and a read away. Under software
# emulation (the 6.1 VM) that alone takes milliseconds, so the VM run passes a larger bound
# and a longer block.
IDLE_MAX_US=${IDLE_MAX_US:-1000}
# How many stalled requests must have waited in the socket rather than in the server: one
# per two blocks. Under emulation the event loop wakes late and often reads a Fast request
# in the same pass as the Slow one, before the block: that one waits in app, rightly; the
# VM run asks for one.
QUEUED_MIN=${QUEUED_MIN:-$(((NBLOCK + 1) / 2))}
# Each Fast connection sends at FAST_RPS, one request at a time: a connection whose request
# is still being served when a block starts sends nothing during it. Under emulation a Fast
# request takes ~10 ms, so the VM run sends less often, leaving the connections idle
# between requests as they are here.
FAST_RPS=${FAST_RPS:-100}
start_h2server --method Slow:sleep=0,block=$BLOCK_MS
start_trace "$TMP/t.json" -p "$H2SERVER_PID" --json --all -d 60
# Idle: one request at a time, nothing else running in the server.
grpc_load Fast 300 -c 1 -m 1 -t 1 > "$TMP/idle.txt" 2>&1 || fail "h2load idle"
# Blocked: two connections sending a Fast request every 1/FAST_RPS s (10 ms); meanwhile NBLOCK
# Slow requests, 0.4 s apart (so that no request waits through two blocks), each stop the
# event loop for BLOCK_MS. Each connection's next request then arrives within 10 ms of the
# block's start.
grpc_load Fast 100000 -c 2 -m 1 -t 1 --rps "$FAST_RPS" -D $((5 + NBLOCK * (BLOCK_MS + 1000) / 1000)) --log-file="$TMP/fast.log" > "$TMP/fast.txt" 2>&1 &
LOAD=$!
sleep 0.8
for _ in $(seq "$NBLOCK"); do
	grpc_load Slow 1 -c 1 -m 1 -t 1 --log-file="$TMP/slow1.log" > "$TMP/slow.txt" 2>&1 || fail "h2load Slow"
	cat "$TMP/slow1.log" >> "$TMP/slow.log"
	sleep 0.2
done
wait "$LOAD" || fail "h2load Fast (blocked) failed"
sleep 0.2
kill -INT "$TRACE_PID"; wait_trace
[[ $TRACE_RC == 0 ]] || { cat "$TMP/t.json.err"; fail "trace exited with $TRACE_RC"; }
T=$TMP/t.json
grep -q "queue not measured" "$TMP/t.json.err" && { cat "$TMP/t.json.err"; fail "the data-ready hook did not attach"; }
echo "kernel hook: $(jq -r 'select(.type=="summary") | .kernel_hook' "$T")"
check "no records dropped" test "$(jq -r 'select(.type=="summary") | .dropped' "$T")" -eq 0
bad=$(jq -s '[.[] | select(.type=="request") | (.phases | add) as $s | select(($s - .total_ns | fabs) > ([.total_ns * 0.01, 2000] | max) or .overlap == true)] | length' "$T")
check "phases (with queue) add up to the total within 1% (or 2us) for every request ($bad do not)" test "$bad" -eq 0

F=/latscope.example.Echo/Fast
# Requests in start order: the first 300 Fast ones are the idle run.
jq -s -r "[.[] | select(.type==\"request\" and .method==\"$F\")] | sort_by(.start_ns) | .[:300][] | .phases.queue" "$T" > "$TMP/idle_q"
idle50=$(pct "$TMP/idle_q" 0.5); idle90=$(pct "$TMP/idle_q" 0.9)
check "idle server: 300 requests, queue p50 ${idle50}ns and p90 ${idle90}ns below ${IDLE_MAX_US} us" \
	test "$(wc -l < "$TMP/idle_q")" -eq 300 -a "$idle50" -lt $((IDLE_MAX_US * 1000)) -a "$idle90" -lt $((IDLE_MAX_US * 1000))

# Fast requests stalled by a block: the ones whose bytes arrived during it waited in the
# socket (queue); one already read when the block began waits for its reply to be written
# after it (app, the server's own time). Either way the request's total now shows the stall.
half=$((BLOCK_MS * 500000))
jq -r "select(.type==\"request\" and .method==\"$F\" and .total_ns > $half) | \"\(.phases.queue) \(.phases.app) \(.total_ns)\"" "$T" > "$TMP/stalled"
awk -v h=$((BLOCK_MS * 500)) '$3 > h { print $3 }' "$TMP/fast.log" | sort -n > "$TMP/cli_tot"
ns=$(wc -l < "$TMP/stalled"); nc=$(wc -l < "$TMP/cli_tot")
echo "client stalls (us): $(tr "\n" " " < "$TMP/cli_tot")"; echo "server Fast totals over 10 ms: $(jq -r "select(.type==\"request\" and .method==\"$F\" and .total_ns > 10000000) | \"\\(.total_ns / 1000 | floor)/q\\(.phases.queue / 1000 | floor)/a\\(.phases.app / 1000 | floor)\"" "$T" | tr "\n" " ")"
nq=$(awk -v h=$half '$1 > h' "$TMP/stalled" | wc -l)
echo "stalled Fast requests: $ns seen by latscope ($nq in queue), $nc by the client"
check "every stall the client saw ($nc, >= $NBLOCK) is in a request's total ($ns)" test "$ns" -eq "$nc" -a "$nc" -ge "$NBLOCK"
odd=$(awk -v h=$half '!(($1 > h) != ($2 > h))' "$TMP/stalled" | wc -l)
check "each stalled request waited in queue or in app, exactly one of them ($odd do not)" test "$odd" -eq 0
check "stalled requests that arrived during a block waited in the socket ($nq of $ns, at least $QUEUED_MIN)" \
	test "$nq" -ge "$QUEUED_MIN"
awk -v h=$half '$1 > h { print $1 }' "$TMP/stalled" > "$TMP/wq"
awk -v h=$half '$1 > h { print $3 - $1 }' "$TMP/stalled" > "$TMP/wrest"
qmin=$(pct "$TMP/wq" 0); qmax=$(pct "$TMP/wq" 1); rest=$(pct "$TMP/wrest" 1)
echo "their queue: ${qmin}..${qmax} ns (a block lasts ${BLOCK_MS} ms, longer when the machine is busy)"
check "the rest of their total stays small (max ${rest} ns < 2.5% of the block): the wait is queue" \
	test "$rest" -lt $((BLOCK_MS * 25000))
# The known wait of each stalled request is what the client measured for it (one arriving
# d ms into a block waits BLOCK - d). The wait is in its total (queue, checked above to be
# nearly all of it, or app): sorted, the i-th total must match the i-th client latency
# within 5%. (Not "<=": the start is now the bytes' arrival, and the end, the return of the
# write that handed the reply to the kernel, can come after the client has read it.)
jq -r "select(.type==\"request\" and .method==\"$F\" and .total_ns > $half) | .total_ns / 1000 | floor" "$T" | sort -n > "$TMP/srv_tot"
far=$(paste "$TMP/srv_tot" "$TMP/cli_tot" | awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > 0.05 * $2) n++ } END { print n + 0 }')
check "each stalled request's total matches a client latency within 5% ($far do not; server/client: $(paste -d/ "$TMP/srv_tot" "$TMP/cli_tot" | tr '\n' ' ')us)" \
	test "$far" -eq 0
# The blocking handler itself is app time.
jq -r 'select(.type=="request" and .method=="/latscope.example.Echo/Slow") | .phases.app' "$T" > "$TMP/slow_app"
awk '{ print $3 * 1000 }' "$TMP/slow.log" > "$TMP/slow_cli"
sa=$(pct "$TMP/slow_app" 0.5); sc=$(pct "$TMP/slow_cli" 0.5)
check "Slow (blocking handler) app p50 ${sa}ns within 5% of its client latency ${sc}ns, which is >= the ${BLOCK_MS} ms block" \
	eval "within $sa $sc 0.05 && test $sc -ge $((BLOCK_MS * 1000000))"
assert_no_probes
