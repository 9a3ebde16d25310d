#!/usr/bin/env bash
# fork after attach (nginx-style workers): uprobes and latscope's kernel filters are per
# process, so a forked child is not traced even though it inherits the probed code.
# latscope must say so (naming the child's pid), count none of the child's calls as the
# master's, and still count every call of the master exactly; and leave nothing behind.
. "$(dirname "$0")/../lib.sh"

start_ready f "$ROOT/build/progs/forker" 300 1000
MASTER=$READY_PID
start_trace "$TMP/t.json" -p "$MASTER" --json
kill -USR1 "$MASTER"
for _ in $(seq 100); do grep -q '^done' "$TMP/f.out" && break; sleep 0.1; done
KID=$(sed -n 's/^done \([0-9]*\)$/\1/p' "$TMP/f.out")
[[ -n $KID ]] || { cat "$TMP/f.err"; fail "forker did not finish"; }
PIDS_TO_KILL+=("$KID")
for _ in $(seq 40); do grep -q "child process" "$TMP/t.json.err" && break; sleep 0.1; done
check "trace says the forked child ($KID) is not traced" \
	grep -q "pid $MASTER has 1 child process (pid $KID) latscope does not trace" "$TMP/t.json.err"
stop_trace "$TMP/t.json"
calls=$(jq '[.probes[] | select(.probe == "SSL_clear") | .calls] | add // 0' <<< "$S")
check "the master's 300 calls counted, none of the child's 1000 ($calls)" test "$calls" -eq 300
freed=$(jq '.counters.tls_objects_freed' <<< "$S")
check "the same for SSL_free ($freed)" test "$freed" -eq 300
kill "$KID"
assert_no_probes
