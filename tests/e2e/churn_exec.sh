#!/usr/bin/env bash
# exec() under latscope: tests/progs/execer execs another executable (a copy of itself)
# that makes 500 probed calls through the same libssl. uprobes are per file, filtered by
# process: the library's probes keep counting across the exec, exactly; trace says the
# target exec'd, naming the new executable; nothing is left attached.
. "$(dirname "$0")/../lib.sh"

cp "$ROOT/build/progs/execer" "$TMP/execer-new"
start_ready ex "$ROOT/build/progs/execer" 500 "$TMP/execer-new"
EX=$READY_PID
start_trace "$TMP/t.json" -p "$EX" --json
kill -USR1 "$EX"
for _ in $(seq 100); do grep -q '^done 500$' "$TMP/ex.out" && break; sleep 0.1; done
grep -q '^done 500$' "$TMP/ex.out" || { cat "$TMP/ex.err"; fail "the exec'd program did not finish"; }
for _ in $(seq 40); do grep -q "exec'd" "$TMP/t.json.err" && break; sleep 0.1; done
check "trace says the target exec'd, naming the new executable" grep -q "pid $EX exec'd $TMP/execer-new:" "$TMP/t.json.err"
stop_trace "$TMP/t.json"
calls=$(jq '[.probes[] | select(.probe == "SSL_clear") | .calls] | add // 0' <<< "$S")
check "libssl's probes count across the exec, exactly ($calls of 500)" test "$calls" -eq 500
assert_no_probes
