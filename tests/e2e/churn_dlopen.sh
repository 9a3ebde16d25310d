#!/usr/bin/env bash
# A library loaded after attach: tests/progs/dlopener has no TLS library when latscope
# attaches, then dlopen()s libssl and calls it. Its functions are not probed (attaching
# on the fly is not done): trace must say so, naming the library, within its 2 s check,
# and go on and exit cleanly.
. "$(dirname "$0")/../lib.sh"

start_ready dl "$ROOT/build/progs/dlopener"
DL=$READY_PID
# No library to probe yet: start_trace's attach line still comes (0 uprobes).
start_trace "$TMP/t.txt" -p "$DL" -d 8
check "no libssl in the target when latscope attached" grep -q "no TLS or HTTP/2 library found" "$TMP/t.txt.err"
kill -USR1 "$DL"
for _ in $(seq 50); do grep -q loaded "$TMP/dl.out" && break; sleep 0.1; done
grep -q loaded "$TMP/dl.out" || { cat "$TMP/dl.err"; fail "dlopener did not load libssl"; }
for _ in $(seq 60); do grep -q "loaded .*libssl" "$TMP/t.txt.err" && break; sleep 0.1; done
check "trace says libssl came after it attached and is not probed" \
	grep -q "pid $DL loaded .*libssl\.so\.3 after latscope attached: its functions are not probed" "$TMP/t.txt.err"
n=$(grep -c "after latscope attached" "$TMP/t.txt.err")
check "said once ($n)" test "$n" -eq 1
wait_trace
check "trace exits 0 at the end of its run ($TRACE_RC)" test "$TRACE_RC" -eq 0
assert_no_probes
