#!/usr/bin/env bash
# trace --stacks: each slow request carries its own stacks. Two thread models, each with
# known truth: the C example server (one event loop thread serves every request) with
# Slow burning 15 ms of CPU in burn_cpu and Big blocking 20 ms in block_handler's raw
# nanosleep; the Go gRPC server (a goroutine per request, moving between threads) with
# Burn spinning 15 ms in main.hotLoop and Slow blocking 20 ms in main.blockInSyscall's
# nanosleep(2). For >= 95% of the slow requests the burning function must hold most of
# that request's CPU samples and at least half of what its burn gives (on_ok below), and
# the blocking function be in an off-CPU stack whose time is within 10% of the injected
# block; fast requests carry no stacks; requests an event
# loop serves one at a time are not marked shared, requests it interleaves are.
. "$(dirname "$0")/../lib.sh"
# Back-to-back requests whose every slow one must carry its stacks: trace everything. Where
# a probe hit costs ~5 us (another host of this kind), the fast requests between them are
# past the default budget, and a gap would rightly miss slow ones.
export LATSCOPE_OVERHEAD=off

N=${N:-40}
BURN_MS=15
BLOCK_MS=20

# on_ok FILE METHOD FUNC: slow requests of METHOD that burned BURN_MS of CPU in FUNC whose
# stacks show it: FUNC in >= 60% of the request's samples and in >= half of what BURN_MS
# gives at the sampling period (less the time the request was off CPU: the burn runs for
# wall time, and a preempted burn takes fewer samples). The rest of a request's CPU (TLS,
# HTTP/2, the probes' traps) is work of its own, 1-4 ms of it where the machine is slow or
# emulated; an emulated machine's timer also skips samples.
BURN_OK='def burn_ok($f; $ms): .stacks as $s
	| ([$s.on_cpu[] | select(.stack | index([$f])) | .samples] | add // 0) as $hot
	| ((($ms * 1000000 - $s.off_cpu_ns) / $s.sample_period_ns) | if . < 0 then 0 else . end) as $want
	| $s.on_cpu_samples >= 3 and $hot * 10 >= $s.on_cpu_samples * 6 and $hot * 2 >= $want;
def slow_of($m): .[] | select(.type=="request" and (.method|endswith($m)) and .stacks);'
on_ok() {
	jq -s --arg m "$2" --arg f "$3" --argjson ms "$BURN_MS" "$BURN_OK"' [slow_of($m) | select(burn_ok($f; $ms))] | length' "$1"
}
# on_bad FILE METHOD FUNC: three requests on_ok rejects, with the innermost frames of each
# of their stacks without FUNC.
on_bad() {
	jq -s -c --arg m "$2" --arg f "$3" --argjson ms "$BURN_MS" "$BURN_OK"' [slow_of($m) | select(burn_ok($f; $ms) | not)] | .[:3][]
		| [.total_ns, .stacks.on_cpu_samples, .stacks.off_cpu_ns, .stacks.on_cpu_omitted,
		   ([.stacks.on_cpu[] | select(.stack | index([$f])) | .samples] | add // 0),
		   [.stacks.on_cpu[] | select(.stack | index([$f]) | not) | [.samples, (.stack[-5:] | join(";"))]]]' "$1"
}
# off_ok FILE METHOD FUNC: slow requests of METHOD with off-CPU time in stacks through
# FUNC (blocked: up to its wake-up) within 10% of the block.
off_ok() {
	jq -s --arg m "$2" --arg f "$3" --argjson b $((BLOCK_MS * 1000000)) '[.[] | select(.type=="request"
		and (.method|endswith($m)) and .stacks) | .stacks
		| ([.off_cpu[] | select(.stack | index([$f])) | .ns] | add // 0) as $t
		| select($t >= $b * 0.9 and $t <= $b * 1.1)] | length' "$1"
}
count() { # count FILE JQ-FILTER: requests matching
	jq -s "[.[] | select(.type==\"request\") | select($2)] | length" "$1"
}
need95() { # need95 DESCRIPTION GOT OF
	check "$1: $2 of $3 (>= 95%)" test "$3" -gt 0 -a $(($2 * 100)) -ge $(($3 * 95))
}

# --- The C example server: one event loop, requests one at a time. -------------------
start_h2server --method Slow:sleep=0,burn=$BURN_MS --method Big:resp=16,block=$BLOCK_MS
start_trace "$TMP/c.json" -p "$H2SERVER_PID" --json --all --stacks -t 5ms -d 60
grpc_load Slow "$N" -c 1 -m 1 > "$TMP/h2load-slow.txt" 2>&1 || fail "h2load Slow"
grpc_load Big "$N" -c 1 -m 1 > "$TMP/h2load-big.txt" 2>&1 || fail "h2load Big"
grpc_load Fast 200 -c 1 -m 1 > "$TMP/h2load-fast.txt" 2>&1 || fail "h2load Fast"
kill -INT "$TRACE_PID"
wait_trace
[[ $TRACE_RC == 0 ]] || { cat "$TMP/c.json.err"; fail "trace exited with $TRACE_RC"; }
C=$TMP/c.json
jq -c 'select(.type=="request" and .stacks) | [.method, .total_ns, .stacks.on_cpu_samples, .stacks.off_cpu_ns, .stacks.shared]' "$C" | sed -n 1,3p
jq -c 'select(.type=="request" and (.method|endswith("/Big"))) | .stacks.off_cpu[0]' "$C" | sed -n 1p | cut -c1-600
nslow=$(count "$C" '.method|endswith("/Slow")'); nbig=$(count "$C" '.method|endswith("/Big")')
check "C: every Slow and Big request seen ($nslow, $nbig of $N each)" test "$nslow" -eq "$N" -a "$nbig" -eq "$N"
ok=$(on_ok "$C" /Slow burn_cpu)
((ok * 100 >= nslow * 95)) || on_bad "$C" /Slow burn_cpu
need95 "C: Slow requests whose samples show their ${BURN_MS} ms in burn_cpu" "$ok" "$nslow"
need95 "C: Big requests off CPU in block_handler for ${BLOCK_MS} ms +-10%" "$(off_ok "$C" /Big block_handler)" "$nbig"
# A nanosleep is a block: the time waiting for a CPU after its wake-up is counted apart, and
# on a machine not saturated it is the smaller part.
vol=$(count "$C" '(.method|endswith("/Big")) and .stacks.off_cpu_runnable_ns * 2 < .stacks.off_cpu_ns')
need95 "C: Big requests off CPU mostly blocked, not waiting for a CPU" "$vol" "$nbig"
fast=$(count "$C" '.method|endswith("/Fast")'); fast_st=$(count "$C" '(.method|endswith("/Fast")) and .stacks != null')
fast_slow=$(count "$C" '(.method|endswith("/Fast")) and .slow')
check "C: fast requests carry no stacks ($fast_st of $fast; $fast_slow were over the threshold)" \
	test "$fast" -eq 200 -a "$fast_st" -eq "$fast_slow"
alone=$(count "$C" '.stacks and .stacks.shared == false')
need95 "C: requests served one at a time are not marked shared" "$alone" $((nslow + nbig))

# Four streams at once on the event loop: each request's thread worked on the others too.
start_trace "$TMP/m.json" -p "$H2SERVER_PID" --json --stacks -t 5ms -d 60
grpc_load Slow 40 -c 1 -m 4 > "$TMP/h2load-mux.txt" 2>&1 || fail "h2load Slow multiplexed"
kill -INT "$TRACE_PID"
wait_trace
[[ $TRACE_RC == 0 ]] || { cat "$TMP/m.json.err"; fail "trace exited with $TRACE_RC"; }
nmux=$(count "$TMP/m.json" '.stacks'); shared=$(count "$TMP/m.json" '.stacks.shared')
# The first of each batch of four finishes before the others: nothing overlapping has finished yet.
check "C, 4 streams at a time: most requests marked shared ($shared of $nmux, >= 60%)" \
	test "$nmux" -ge 40 -a $((shared * 10)) -ge $((nmux * 6))

# record --only-slow and top's hot stacks of slow requests take the same samples: those of
# each slow request's worker while it ran. Fast requests in between add samples of their own
# (TLS, HTTP/2, the event loop), which must not count.
# The load starts once record has attached: reading the target's objects first takes
# seconds on a slow host, and a load started with it was over before it sampled.
"$LATSCOPE" record --kernel-hook "$KHOOK" -v -p "$H2SERVER_PID" -t 5ms --only-slow -d 4 -o "$TMP/slow.folded" 2> "$TMP/rec.err" &
REC=$!
PIDS_TO_KILL+=("$REC")
wait_line "$REC" "$TMP/rec.err" '^latscope: sampling pid' "record --only-slow"
( for _ in 1 2 3; do grpc_load Fast 300 -c 1 -m 1 > /dev/null 2>&1; grpc_load Slow 15 -c 1 -m 1 > /dev/null 2>&1; done ) &
LOAD=$!
wait "$REC" || { cat "$TMP/rec.err"; fail "record --only-slow failed"; }
wait "$LOAD"
total=$(awk '{ n += $NF } END { print n + 0 }' "$TMP/slow.folded")
burn=$(awk '/burn_cpu/ { n += $NF } END { print n + 0 }' "$TMP/slow.folded")
((total >= 20 && burn * 10 >= total * 8)) || grep -v burn_cpu "$TMP/slow.folded" | sort -t' ' -k2 -rn | head -5 | cut -c1-400
check "record --only-slow: burn_cpu in >= 80% of the slow requests' samples ($burn of $total)" \
	test "$total" -ge 20 -a $((burn * 10)) -ge $((total * 8))
"$LATSCOPE" top --kernel-hook "$KHOOK" -v -p "$H2SERVER_PID" -t 5ms --batch -n 2 -i 2s --json > "$TMP/top.json" 2> "$TMP/top.err" &
TOPP=$!
PIDS_TO_KILL+=("$TOPP")
wait_line "$TOPP" "$TMP/top.err" 'uprobes attached' "top --batch"
( for _ in 1 2 3; do grpc_load Fast 300 -c 1 -m 1 > /dev/null 2>&1; grpc_load Slow 15 -c 1 -m 1 > /dev/null 2>&1; done ) &
LOAD=$!
wait "$TOPP" || { cat "$TMP/top.err"; fail "top --batch failed"; }
wait "$LOAD"
read -r slow_only top_total top_burn < <(jq -s -r '.[-1] | "\(.hot_stacks_slow_only) \([.hot_stacks[].samples] | add // 0) \([.hot_stacks[] | select(.frames | index(["burn_cpu"])) | .samples] | add // 0)"' "$TMP/top.json")
((top_total > 0 && top_burn * 10 >= top_total * 8)) ||
	jq -s -c '.[-1].hot_stacks[] | select(.frames | index(["burn_cpu"]) | not) | [.samples, (.frames[-5:] | join(";"))]' "$TMP/top.json" | head -5
check "top: hot stacks of slow requests ($slow_only), burn_cpu in >= 80% of their samples ($top_burn of $top_total)" \
	test "$slow_only" = true -a "$top_total" -gt 0 -a $((top_burn * 10)) -ge $((top_total * 8))

# --- The Go gRPC server: a goroutine per request. -------------------------------------
start_gogrpc -slow-ms "$BLOCK_MS" -slow-syscall
start_trace "$TMP/g.json" -p "$GOGRPC_PID" --json --all --stacks -t 5ms -d 60
gogrpc_client -c 1 -n "$N" -mix Fast,Slow,Burn -burn-us $((BURN_MS * 1000)) > "$TMP/client.txt" 2>&1 || {
	cat "$TMP/client.txt"; fail "Go client failed"; }
kill -INT "$TRACE_PID"
wait_trace
[[ $TRACE_RC == 0 ]] || { cat "$TMP/g.json.err"; fail "trace exited with $TRACE_RC"; }
G=$TMP/g.json
jq -c 'select(.type=="request" and .stacks) | [.method, .total_ns, .stacks.goroutine, .stacks.on_cpu_samples, .stacks.off_cpu_ns]' "$G" | sed -n 1,3p
nburn=$(count "$G" '.method|endswith("/Burn")'); nslow=$(count "$G" '.method|endswith("/Slow")')
check "Go: every Burn and Slow request seen ($nburn, $nslow of $N each)" test "$nburn" -eq "$N" -a "$nslow" -eq "$N"
slowm='(.method|endswith("/Burn") or endswith("/Slow"))'
bygo=$(count "$G" "$slowm and .stacks.goroutine != null")
need95 "Go: slow requests' stacks are their goroutine's" "$bygo" $((nburn + nslow))
ok=$(on_ok "$G" /Burn main.hotLoop)
((ok * 100 >= nburn * 95)) || on_bad "$G" /Burn main.hotLoop
need95 "Go: Burn requests whose samples show their ${BURN_MS} ms in main.hotLoop" "$ok" "$nburn"
need95 "Go: Slow requests off CPU in main.blockInSyscall for ${BLOCK_MS} ms +-10%" "$(off_ok "$G" /Slow main.blockInSyscall)" "$nslow"
fast=$(count "$G" '.method|endswith("/Fast")'); fast_st=$(count "$G" '(.method|endswith("/Fast")) and .stacks != null')
fast_slow=$(count "$G" '(.method|endswith("/Fast")) and .slow')
check "Go: fast requests carry no stacks ($fast_st of $fast; $fast_slow were over the threshold)" \
	test "$fast" -eq "$N" -a "$fast_st" -eq "$fast_slow"
assert_no_probes
