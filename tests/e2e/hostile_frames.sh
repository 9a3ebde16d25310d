#!/usr/bin/env bash
# Hostile HTTP/2 traffic against the example server while it is traced, at the frame level
# (tests/progs/h2hostile/frames.py, one connection per attack, a fresh one when the server
# closes it): HEADERS followed by 10,000 CONTINUATION frames, a 1 MiB header block, an
# HPACK table size update out of order, indexes past every table, 100,000 streams opened
# and reset at once, the preface then garbage, and a valid request written one byte per TLS
# record. Meanwhile a well-behaved client's requests must be counted exactly, latscope's
# memory must stay bounded, its counters must say what it could not follow, and the
# server must go on answering.
. "$(dirname "$0")/../lib.sh"
# Floods of hostile frames beside well-behaved load that must be counted exactly: trace
# everything (a budget would sample the well-behaved requests too).
export LATSCOPE_OVERHEAD=off

N=${N:-3000}
FRAMES=$ROOT/tests/progs/h2hostile/frames.py
/usr/bin/python3 -c 'import hpack' 2>/dev/null || fail "python3-hpack is not installed (deps/packages.txt: python3-h2)"
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

start_h2server
start_trace "$TMP/t.json" -p "$H2SERVER_PID" --json --all -v -d 300
# Warm up: the first requests allocate HPACK tables and the symbolizer's first look.
grpc_load Fast 200 -c 1 -m 1 > /dev/null 2>&1 || fail "h2load warm-up failed"
rss0=$(rss_kb "$TRACE_PID")

grpc_load Fast "$N" -c 2 -m 4 > "$TMP/h2load.txt" 2>&1 &
LOAD=$!
for a in continuation bigblock sizeupdate badindex garbage bytesplit; do
	timeout 60 /usr/bin/python3 "$FRAMES" "$PORT" "$a" || fail "attack $a: the client failed"
done
timeout 120 /usr/bin/python3 "$FRAMES" "$PORT" rapidreset 100000 || fail "attack rapidreset: the client failed"
wait "$LOAD" || { cat "$TMP/h2load.txt"; fail "h2load failed during the attacks"; }
grep -q "^requests: $N total, $N started, $N done, $N succeeded" "$TMP/h2load.txt" ||
	{ cat "$TMP/h2load.txt"; fail "the server did not answer every well-behaved request during the attacks"; }
pass "the server answered all $N well-behaved requests during the attacks"
kill -0 "$TRACE_PID" 2>/dev/null || { cat "$TMP/t.json.err"; fail "latscope died during the attacks"; }
rss1=$(rss_kb "$TRACE_PID")
# Bounded: a 1 MiB block is cut to the header fragment's bound, 100,000 streams to the
# walk's batch; what grows is the request assembly's per-connection state (a few of them).
check "latscope's memory bounded: RSS ${rss0} -> ${rss1} KiB (at most +32 MiB)" test "$rss1" -le $((rss0 + 32768))
# After the attacks, the server and latscope still work: requests counted on a new connection.
grpc_load Fast 100 -c 1 -m 1 > "$TMP/h2load-after.txt" 2>&1 || fail "h2load after the attacks failed"
kill -INT "$TRACE_PID"
wait_trace
[[ $TRACE_RC == 0 ]] || { cat "$TMP/t.json.err"; fail "trace exited with $TRACE_RC"; }
T=$TMP/t.json

# Fast requests: warm-up, the load, the one written byte by byte, and the 100 after.
want=$((200 + N + 1 + 100))
fast=$(jq -s '[.[] | select(.type=="request" and .method=="/latscope.example.Echo/Fast" and .grpc_status==0 and .status==200)] | length' "$T")
jq -s -c '[.[] | select(.type=="request")] | group_by([.method, .grpc_status]) | map({method: .[0].method, grpc: .[0].grpc_status, n: length})' "$T"
check "well-behaved requests counted exactly: $fast Fast = 200 + $N + 1 (byte by byte) + 100" test "$fast" -eq "$want"
check "no records dropped" test "$(jq -r 'select(.type=="summary") | .dropped' "$T")" -eq 0
jq -c 'select(.type=="summary") | .counters' "$T"
desync=$(jq -r 'select(.type=="summary") | .counters.h2_desync' "$T")
batch=$(jq -r 'select(.type=="summary") | .counters.batch_full' "$T")
check "counters say what could not be followed: h2_desync $desync (garbage after the preface), batch_full $batch (the stream flood)" \
	test "$desync" -ge 1 -a "$batch" -ge 1
# The flood's streams end where their resets are read (CANCEL), batch or not: counted, and
# none left in the request table (the server reads a share of them before it closes a
# connection that resets too much: 33,520 of 100,000 here).
reset=$(jq -r 'select(.type=="summary") | .counters.requests_reset' "$T")
left=$(jq -r 'select(.type=="summary") | .tables.maps[] | select(.name=="reqs") | .entries' "$T")
check "the flood's resets counted ($reset) and its requests gone (reqs: $left entries at the end)" \
	test "$reset" -ge 1000 -a "$left" -le 8
kill -0 "$H2SERVER_PID" || fail "the server died"
pass "the server is still running"
assert_no_probes
