#!/usr/bin/env bash
# libprotobuf-lite: a C++ program linked against libprotobuf-lite alone (tests/progs/protolite,
# LITE_RUNTIME messages with nested messages and repeated fields, two threads). probes resolves
# the MessageLite parse and serialize entry points in libprotobuf-lite.so.32, and trace counts
# exactly the parses and serializations the program says it did (nested messages and
# SerializeToArray's tail call into SerializePartialToArray not counted again), with the
# probes at call sites (auto) and at the functions' entries.
. "$(dirname "$0")/../lib.sh"
# Needs every parse and serialize seen at the load it drives: past the budget where hits
# cost ten times more (the rule in tests/lib.sh).
export LATSCOPE_OVERHEAD=off
PROG=$ROOT/build/progs/protolite
THREADS=2 RATE=250 RUN_S=${RUN_S:-3}
MIN=$((THREADS * RATE * RUN_S / 4)) # each loop sleeps to its rate: a busy machine slows it, never below this

# ---- the program maps the lite runtime and not the full one ------------------------------
ldd "$PROG" > "$TMP/ldd.txt"
check "ldd: protolite links libprotobuf-lite.so.32 and not libprotobuf.so" \
	eval 'grep -q "libprotobuf-lite\.so\.32 " "$TMP/ldd.txt" && ! grep -q "libprotobuf\.so" "$TMP/ldd.txt"'

# start_prog: protolite waiting for SIGUSR2 (no parse or serialize before); sets PROG_PID, PROG_OUT.
start_prog() {
	local i
	PROG_OUT=$TMP/prog.$1.out
	"$PROG" --threads "$THREADS" --rate "$RATE" --wait > "$PROG_OUT" 2> "$PROG_OUT.err" &
	PROG_PID=$!
	PIDS_TO_KILL+=("$PROG_PID")
	for i in $(seq 100); do
		grep -q '^ready$' "$PROG_OUT" && return 0
		kill -0 "$PROG_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$PROG_OUT.err" >&2
	fail "protolite did not start"
}

# prog_count NAME: a count from the program's "done" line.
prog_count() {
	sed -n "s/^done .*\b$1=\([0-9]*\).*/\1/p" "$PROG_OUT"
}

start_prog probes
maps=/proc/$PROG_PID/maps
check "the running program maps libprotobuf-lite.so.32 and no libprotobuf.so" \
	eval 'grep -q "/libprotobuf-lite\.so\.32" "$maps" && ! grep -q "/libprotobuf\.so" "$maps"'

# ---- probes: every MessageLite entry point found in libprotobuf-lite.so.32 ----------------
"$LATSCOPE" probes -p "$PROG_PID" --json > "$TMP/p.json"
ML='^_ZN?K?6google8protobuf11MessageLite'
total=$(jq -r --arg ml "$ML" '[.probes[] | select(.symbol | test($ml))] | length' "$TMP/p.json")
inlite=$(jq -r --arg ml "$ML" '[.probes[] | select((.symbol | test($ml)) and .found and .library == "protobuf"
	and (.path | test("/libprotobuf-lite[.]so[.]32")))] | length' "$TMP/p.json")
check "probes: all $total MessageLite entry points found in libprotobuf-lite.so.32 ($inlite)" \
	test "$total" -ge 16 -a "$inlite" -eq "$total"
for sym in _ZN6google8protobuf11MessageLite15ParseFromString _ZN6google8protobuf11MessageLite14ParseFromArray \
	_ZNK6google8protobuf11MessageLite17SerializeToString _ZNK6google8protobuf11MessageLite16SerializeToArray; do
	path=$(jq -r --arg s "$sym" '[.probes[] | select(.found and (.symbol | startswith($s))) | .path] | join(" ")' "$TMP/p.json")
	[[ $path =~ ^/[^\ ]*/libprotobuf-lite\.so\.32(\.[0-9]+)*$ ]] || fail "probes: $sym resolved to '$path', not one libprotobuf-lite.so.32"
done
pass "probes: ParseFromString, ParseFromArray, SerializeToString, SerializeToArray each resolved once, in libprotobuf-lite.so.32"
elsewhere=$(jq -r '[.probes[] | select(.found and (.path // "" | test("/libprotobuf[.]so")))] | length' "$TMP/p.json")
check "probes: nothing resolved in a libprotobuf.so the program does not map ($elsewhere)" test "$elsewhere" -eq 0
# Reflection is not part of the lite runtime: its entries are missing, and say why.
wf=$(jq -r '[.probes[] | select(.symbol | test("WireFormat"))] | length' "$TMP/p.json")
wfwhy=$(jq -r '[.probes[] | select((.symbol | test("WireFormat")) and (.found | not)
	and (.reason | test("lite runtime has no reflection")))] | length' "$TMP/p.json")
check "probes: the $wf WireFormat (reflection) entries are missing because the lite runtime has none ($wfwhy say so)" \
	test "$wf" -gt 0 -a "$wfwhy" -eq "$wf"
kill -TERM "$PROG_PID"; wait "$PROG_PID" || fail "protolite exited with $?"

# ---- trace: latscope's counts equal the program's own -------------------------------------
# The program starts its loop only once latscope has attached (SIGUSR2) and stops it
# (SIGUSR1) before latscope detaches: every call it counts falls inside the trace.
for placement in auto entry; do
	start_prog "$placement"
	T=$TMP/t.$placement.json
	start_trace "$T" -p "$PROG_PID" --json --placement "$placement" -d 60
	kill -USR2 "$PROG_PID"
	sleep "$RUN_S"
	kill -USR1 "$PROG_PID"
	for i in $(seq 100); do grep -q '^done ' "$PROG_OUT" && break; sleep 0.1; done
	grep -q '^done ' "$PROG_OUT" || { cat "$PROG_OUT.err" >&2; fail "$placement: protolite did not stop"; }
	kill -INT "$TRACE_PID"; wait_trace
	check "$placement: latscope trace exited 0" test "$TRACE_RC" -eq 0
	kill -TERM "$PROG_PID"; wait "$PROG_PID" || fail "protolite exited with $?"
	echo "$placement: program: $(cat "$PROG_OUT" | grep '^done ')"
	parsed=$(prog_count parsed) serialized=$(prog_count serialized)
	sp=$(prog_count string_parse) ap=$(prog_count array_parse)
	check "$placement: the program ran ($parsed parses, $serialized serializations; >= $MIN each, both APIs used)" \
		test "$parsed" -ge "$MIN" -a "$serialized" -ge "$MIN" -a "$sp" -gt 0 -a "$ap" -gt 0
	jq -c 'select(.type=="summary") | .probes[] | select(.probe | startswith("MessageLite::"))' "$T"
	pcalls=$(jq -r 'select(.type=="summary") | [.probes[] | select(.probe=="MessageLite::Parse") | .calls] | add // 0' "$T")
	pok=$(jq -r 'select(.type=="summary") | [.probes[] | select(.probe=="MessageLite::Parse") | .ok] | add // 0' "$T")
	scalls=$(jq -r 'select(.type=="summary") | [.probes[] | select(.probe=="MessageLite::Serialize") | .calls] | add // 0' "$T")
	sok=$(jq -r 'select(.type=="summary") | [.probes[] | select(.probe=="MessageLite::Serialize") | .ok] | add // 0' "$T")
	used=$(jq -r 'select(.type=="summary") | [.probes[] | select(.probe | startswith("MessageLite::")) | .placement] | unique | join(",")' "$T")
	check "$placement: MessageLite::Parse counted $pcalls times ($pok ok) = the program's $parsed parses" \
		test "$pcalls" -eq "$parsed" -a "$pok" -eq "$parsed"
	check "$placement: MessageLite::Serialize counted $scalls times ($sok ok) = the program's $serialized serializations" \
		test "$scalls" -eq "$serialized" -a "$sok" -eq "$serialized"
	# A tail call (SerializeToArray -> SerializePartialToArray) returns on the caller's stack
	# slot: it must fold into the caller's frame, not push it out as a lost call.
	stale=$(jq -r 'select(.type=="summary") | .counters.stale_calls' "$T")
	check "$placement: no call frame dropped as stale (tail calls folded into their caller): $stale" test "$stale" -eq 0
	# auto places a probe at the call sites where its entry would be single-stepped (here
	# ParseFromArray and SerializeToArray, called from the program), which depends on the kernel.
	[[ $placement == auto ]] && echo "auto: MessageLite probes placed: $used"
	[[ $placement == entry ]] && check "entry: the MessageLite probes were placed at the functions' entries ($used)" test "$used" = entry
done
assert_no_probes
