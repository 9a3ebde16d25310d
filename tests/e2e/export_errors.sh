#!/usr/bin/env bash
# latscope export's bad input: each gets exit status 2 (usage) or 1 (runtime), one line
# naming the problem, and nothing started: no "listening" line, no probe left.
. "$(dirname "$0")/../lib.sh"

start_h2server
# expect STATUS PATTERN ARGS...: export ARGS exits STATUS and says PATTERN, having started nothing.
expect() {
	local want=$1 pattern=$2 rc=0; shift 2
	timeout 20 "$LATSCOPE" export "$@" > "$TMP/out" 2> "$TMP/err" || rc=$?
	if [[ $rc != "$want" ]] || ! grep -q -- "$pattern" "$TMP/err" || grep -q 'listening' "$TMP/err"; then
		cat "$TMP/err" >&2
		fail "export $*: exit $rc (wanted $want), stderr above (wanted '$pattern', nothing listening)"
	fi
	pass "export $*: exit $want, '$(grep -m1 -- "$pattern" "$TMP/err")'"
}
expect 2 'needs -p PID' --listen 127.0.0.1:0
expect 1 'no such process' -p 999999999 --listen 127.0.0.1:0
expect 2 'invalid pid' -p abc
expect 1 'kernel thread' -p 2 --listen 127.0.0.1:0
expect 1 'invalid listen address' -p "$H2SERVER_PID" --listen 127.0.0.1
expect 1 'invalid listen address' -p "$H2SERVER_PID" --listen 'host.example:80'
expect 1 'cannot listen on 127.0.0.1:'"$PORT"': Address already in use' -p "$H2SERVER_PID" --listen "127.0.0.1:$PORT"
expect 2 'unknown log format' -p "$H2SERVER_PID" --log-format xml
expect 2 'invalid --max-methods' -p "$H2SERVER_PID" --max-methods 0
expect 2 'invalid OTLP endpoint' -p "$H2SERVER_PID" --otlp-endpoint 127.0.0.1:4318
expect 2 'invalid Pyroscope URL' -p "$H2SERVER_PID" --pyroscope pyroscope:4040
expect 2 'invalid Parca URL' -p "$H2SERVER_PID" --parca parca:7070
expect 2 'invalid --profile-hz' -p "$H2SERVER_PID" --profile-hz 0
expect 2 'invalid --profile-every' -p "$H2SERVER_PID" --profile-every 10ms
expect 2 'invalid --max-series' -p "$H2SERVER_PID" --max-series x
expect 2 'invalid --exe' --exe relative/path
expect 2 'invalid --rescan' --comm x --rescan 1ms
expect 2 'unexpected argument' -p "$H2SERVER_PID" extra
assert_no_probes
