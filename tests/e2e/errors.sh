#!/usr/bin/env bash
# Bad input and every way latscope can end: a one-line error naming the cause,
# the documented exit status, and no probe left in the kernel afterwards.
. "$(dirname "$0")/../lib.sh"

expect() { # expect STATUS PATTERN DESCRIPTION -- latscope ARGS...
	local want=$1 pat=$2 what=$3; shift 4
	local rc=0
	"$@" > "$TMP/out" 2> "$TMP/err" || rc=$?
	[[ $rc == "$want" ]] || { cat "$TMP/err"; fail "$what: exit status $rc, expected $want"; }
	grep -Eq "$pat" "$TMP/err" || { cat "$TMP/err"; fail "$what: stderr lacks /$pat/"; }
	echo "ok - $what: exit $rc, $(head -1 "$TMP/err")"
	assert_no_probes "$what"
}

# Usage errors: status 2.
expect 2 "unknown command 'frobnicate'" "unknown command" -- "$LATSCOPE" frobnicate
expect 2 "trace needs -p PID" "missing pid" -- "$LATSCOPE" trace
expect 2 "invalid duration 'soon'" "bad duration" -- "$LATSCOPE" trace -p 1 -d soon
expect 2 "invalid pid 'abc'" "bad pid" -- "$LATSCOPE" probes -p abc
expect 2 "invalid kernel hook 'ebpf'" "bad kernel hook" -- "$LATSCOPE" trace -p 1 --kernel-hook ebpf
expect 2 "invalid call graph mode 'lbr' \(auto, fp, dwarf\)" "bad call graph mode" -- "$LATSCOPE" record -p 1 --call-graph lbr
expect 2 "invalid stack size '99999' \(64..65528 bytes\)" "stack size too large" -- "$LATSCOPE" record -p 1 --call-graph dwarf --stack-size 99999
expect 2 "stack-size needs --call-graph auto or dwarf" "stack size with fp" -- "$LATSCOPE" record -p 1 --call-graph fp --stack-size 4k

# Runtime errors: status 1.
gone=999999
while kill -0 "$gone" 2>/dev/null; do gone=$((gone - 1)); done
expect 1 "^latscope: pid $gone: no such process$" "nonexistent pid" -- "$LATSCOPE" trace -p "$gone" -d 1
kthread=$(pgrep -x kthreadd || echo 2)
expect 1 "^latscope: pid $kthread \(kthreadd\): is a kernel thread, not a user process$" "kernel thread" -- "$LATSCOPE" trace -p "$kthread" -d 1
sleep 300 & SLEEP_PID=$!; PIDS_TO_KILL+=("$SLEEP_PID")
expect 1 "^latscope: no kernel BTF at /nonexistent/vmlinux" "missing BTF" -- "$LATSCOPE" trace -p "$SLEEP_PID" -d 1 --btf /nonexistent/vmlinux
expect 1 "^latscope: permission denied: latscope needs root" "no permission" -- \
	setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all --bounding-set=-all "$LATSCOPE" trace -p "$SLEEP_PID" -d 1
if [[ ! -e /sys/bus/event_source/devices/kprobe ]]; then
	expect 1 "kernel hook kprobe cannot be used: kprobe: not available" "forced kprobe without kprobe support" -- \
		"$LATSCOPE" trace -p "$SLEEP_PID" -d 1 --kernel-hook kprobe
fi

# A process without TLS: every OpenSSL probe missing with a reason; the trace still runs on kernel hooks.
expect 0 "SSL_read: not mapped: no (openssl library loaded|loaded object defines it)" "symbol missing (trace -v)" -- "$LATSCOPE" trace -p "$SLEEP_PID" -d 300ms -v
grep -q "^summary:" "$TMP/out" || fail "trace without TLS printed no summary"

# Ends of a running trace: SIGINT, SIGTERM, SIGKILL, the target exiting.
start_nghttpd
for sig in INT TERM; do
	start_trace "$TMP/sig.out" -p "$NGHTTPD_PID"
	kill -"$sig" "$TRACE_PID"
	wait_trace
	[[ $TRACE_RC == 0 ]] || fail "SIG$sig: exit status $TRACE_RC"
	grep -q "^summary:.*interrupted" "$TMP/sig.out" || fail "SIG$sig: no summary"
	echo "ok - SIG$sig: exit 0 with a summary"
	assert_no_probes "after SIG$sig"
done
start_trace "$TMP/kill.out" -p "$NGHTTPD_PID"
kill -KILL "$TRACE_PID"
wait_trace
echo "ok - SIGKILL: status $TRACE_RC"
assert_no_probes "after SIGKILL"

start_trace "$TMP/exit.out" -p "$NGHTTPD_PID" --json
h2load -n 100 -c 2 "https://127.0.0.1:$PORT/index.html" > /dev/null 2>&1 || fail "h2load failed"
kill -TERM "$NGHTTPD_PID"
wait "$NGHTTPD_PID" 2>/dev/null || true
wait_trace
[[ $TRACE_RC == 0 ]] || { cat "$TMP/exit.out.err"; fail "target exit: latscope status $TRACE_RC"; }
grep -q "^latscope: pid $NGHTTPD_PID exited$" "$TMP/exit.out.err" || fail "target exit: no 'pid N exited' message"
jq -e 'select(.type=="summary") | select(.end=="target exited") | .probes[] | select(.probe=="SSL_write" and .ok > 0)' \
	"$TMP/exit.out" > /dev/null || fail "target exit: summary missing or without the calls made before the exit"
echo "ok - target exits mid-trace: latscope reports it, prints the summary, exits 0"
assert_no_probes "after the target exited"
