#!/usr/bin/env bash
# Strings from outside never reach an output raw: a client sends :method, :path and
# grpc-status with quotes, backslashes, newlines, NUL, terminal escape sequences (ESC,
# OSC with BEL) and invalid UTF-8 (header checks off on the client and the example server,
# which answers them). Every trace --json line must be valid JSON whose strings carry
# those bytes escaped; trace's text output, its summary and top --batch must hold no
# control character but newlines; every request the client sent is reported.
. "$(dirname "$0")/../lib.sh"

ROUNDS=${ROUNDS:-20}
CLIENT=$ROOT/tests/progs/h2hostile/client.py
/usr/bin/python3 -c 'import h2' 2>/dev/null || fail "python3-h2 is not installed (deps/packages.txt)"
start_h2server --lax-headers
for mode in json text; do
	args=(--json); [[ $mode == text ]] && args=()
	start_trace "$TMP/$mode.out" -p "$H2SERVER_PID" --all "${args[@]}" -d 30
	"$CLIENT" "$PORT" "$ROUNDS" > "$TMP/client.$mode" || fail "the hostile client failed"
	kill -INT "$TRACE_PID"; wait_trace
	[[ $TRACE_RC == 0 ]] || { cat "$TMP/$mode.out.err"; fail "trace ($mode) exited with $TRACE_RC"; }
	cat "$TMP/client.$mode"
	# No byte below 0x20 but the newline ending each line, and no DEL.
	bad=$({ LC_ALL=C grep -c $'[\x01-\x09\x0b-\x1f\x7f]' "$TMP/$mode.out" "$TMP/$mode.out.err" || true; } |
		awk -F: '{ s += $2 } END { print s + 0 }')
	nul=$(LC_ALL=C tr -cd '\000' < "$TMP/$mode.out" | wc -c)
	check "trace $mode: no control character or NUL in its output or diagnostics ($bad lines, $nul NULs)" \
		test "$bad" -eq 0 -a "$nul" -eq 0
done
sent=$(sed -n 's/^sent \([0-9]*\) answered.*/\1/p' "$TMP/client.json")
jq -e . "$TMP/json.out" > /dev/null && pass "every line of trace --json is valid JSON" || fail "trace --json printed a line that is not JSON"
n=$(jq -s '[.[] | select(.type == "request")] | length' "$TMP/json.out")
check "every request the client sent is reported ($n of $sent)" test "$n" -eq "$sent"
esc=$(jq -r 'select(.type == "request") | .http_method' "$TMP/json.out" | LC_ALL=C grep -c $'\x1b' || true)
check "the methods keep their bytes, escaped in JSON (ESC in $esc decoded methods)" test "$esc" -gt 0
raw=$(grep -c '\\u001b' "$TMP/json.out" || true)
check "ESC is written \\u001b in the JSON lines ($raw lines)" test "$raw" -gt 0
fffd=$(jq -r 'select(.type == "request") | .method' "$TMP/json.out" | grep -c $'\uFFFD' || true)
check "invalid UTF-8 in :path is written as U+FFFD ($fffd requests)" test "$fffd" -gt 0
ok=$(jq -s '[.[] | select(.type == "request" and (.method | test("^/latscope.example.Echo/Fast")))] | length' "$TMP/json.out")
check "a path with a known method prefix is still seen as such ($ok)" test "$ok" -gt 0
grep -q '\\x1b' "$TMP/text.out" && pass "trace's text shows ESC as \\x1b" || fail "trace's text output has no escaped ESC"
rc=0
"$LATSCOPE" top -p "$H2SERVER_PID" --batch -n 2 -i 500ms > "$TMP/top.txt" 2>&1 &
TOP=$!
sleep 0.3
"$CLIENT" "$PORT" 5 > /dev/null || fail "the hostile client failed (top)"
wait "$TOP" || rc=$?
bad=$(LC_ALL=C grep -c $'[\x01-\x09\x0b-\x1f\x7f]' "$TMP/top.txt" || true)
check "top --batch: no control character in its output ($bad lines, exit $rc)" test "$bad" -eq 0 -a "$rc" -eq 0
assert_no_probes
