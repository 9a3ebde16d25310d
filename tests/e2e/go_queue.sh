#!/usr/bin/env bash
# queue on a Go server: a request whose bytes reached the socket while the reader
# goroutine could not run waited in the socket, and that wait is queue, not TLS. The Go
# gRPC example runs on one P (GOMAXPROCS=1); one connection keeps it busy with Burn calls
# (BURN_US of CPU each, back to back, shorter than the runtime's 10 ms preemption), so a
# Fast request on another connection mostly arrives during a burn and its reader goroutine,
# parked inside crypto/tls's Read, runs only when the burn ends: on average half a burn
# later. Its tls_in (decrypting a few dozen bytes) stays small, the wait shows as queue,
# and the phases still add up to the total.
. "$(dirname "$0")/../lib.sh"
export LATSCOPE_OVERHEAD=off
BURN_US=${BURN_US:-6000}

GOMAXPROCS=1 start_gogrpc -slow-ms 1
start_trace "$TMP/t.json" -p "$GOGRPC_PID" --json --all -d 60
gogrpc_client -c 1 -d 5s -mix Burn -burn-us "$BURN_US" > "$TMP/burn.txt" &
BURNER=$!
PIDS_TO_KILL+=("$BURNER")
sleep 0.5
"$ROOT/build/examples/grpcbody" -o "$TMP/empty.bin"
# Paced, one at a time: each Fast lands at a random point of a burn.
h2load -D 3 -c 1 -m 1 -t 1 --rps 50 -d "$TMP/empty.bin" -H 'content-type: application/grpc' -H 'te: trailers' \
	"https://127.0.0.1:$PORT/latscope.gogrpc.Echo/Fast" > "$TMP/h2load.txt" 2>&1 || { cat "$TMP/h2load.txt"; fail "h2load failed"; }
wait "$BURNER" || { cat "$TMP/burn.txt"; fail "the Burn client failed"; }
kill -INT "$TRACE_PID"; wait_trace
[[ $TRACE_RC == 0 ]] || { cat "$TMP/t.json.err" >&2; fail "trace exited with $TRACE_RC"; }

F='select(.type=="request" and .method=="/latscope.gogrpc.Echo/Fast")'
n=$(jq -s "[.[] | $F] | length" "$TMP/t.json")
check "Fast requests traced during the burns ($n)" test "$n" -ge 100
jq -r "$F | .phases.queue // 0" "$TMP/t.json" > "$TMP/queue"
jq -r "$F | .phases.tls_in // 0" "$TMP/t.json" > "$TMP/tls_in"
jq -r "$F | .total_ns" "$TMP/t.json" > "$TMP/total"
q50=$(pct "$TMP/queue" 0.5); qmean=$(awk '{ s += $1 } END { printf "%d", s / NR }' "$TMP/queue")
t90=$(pct "$TMP/tls_in" 0.9); tot50=$(pct "$TMP/total" 0.5)
echo "Fast: queue p50 $((q50 / 1000)) us, mean $((qmean / 1000)) us; tls_in p90 $((t90 / 1000)) us; total p50 $((tot50 / 1000)) us"
# Half a burn on average; the bounds allow the burns' own gaps (a Fast may land between
# two) and a wake-up that comes late on a busy machine.
check "queue: mean $((qmean / 1000)) us within a quarter and a whole of the ${BURN_US} us burn" \
	awk -v q="$qmean" -v b="$BURN_US" 'BEGIN { exit !(q >= b * 250 && q <= b * 1000) }'
check "queue p50 $((q50 / 1000)) us is most of the total's p50 $((tot50 / 1000)) us" \
	awk -v q="$q50" -v t="$tot50" 'BEGIN { exit !(q >= 0.5 * t) }'
# Decrypting a record of a few dozen bytes, probes included: tens of microseconds (hundreds
# under a slow uprobe), never the milliseconds of the wait.
check "tls_in p90 $((t90 / 1000)) us stays below a tenth of the burn" test "$t90" -lt $((BURN_US * 100))
bad=$(jq -s "[.[] | $F | select(((.phases | add) - .total_ns | fabs) > ([.total_ns * 0.01, 2000] | max))] | length" "$TMP/t.json")
check "phases add up to the total within 1% for >= 97% of requests ($bad of $n do not)" test $((bad * 100)) -le $((n * 3))
assert_no_probes
