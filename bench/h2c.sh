#!/usr/bin/env bash
# make bench, issue 14: the syscall reader (plaintext HTTP/2 from socket syscalls) against
# the TLS path on the same example server: throughput without and with latscope, and
# latscope's BPF run time per request (the kernel's run-time statistics: every program,
# kernel hooks included). Then what the syscall tracepoint costs a process that is no
# target: dd's 1-byte read/write loop with latscope tracing another process, the
# syscall reader refused (LATSCOPE_TEST_REJECT=sockio) and loaded.
# Prints a markdown section on stdout.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
ROUNDS=${ROUNDS:-3}
REQS=${BENCH_REQS:-20000}
DD_N=${DD_N:-1000000}

# rps NAME SCHEME: one h2load run, req/s appended to $TMP/rps.NAME
rps() {
	h2load -n "$REQS" -c 10 -m 10 -t 1 -d "$TMP/empty.bin" -H 'content-type: application/grpc' -H 'te: trailers' \
		"$2://127.0.0.1:$PORT/latscope.example.Echo/Fast" 2>&1 |
		sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' >> "$TMP/rps.$1"
}
# traced NAME SCHEME [ARGS]: the same run under latscope trace; BPF ns per request appended to $TMP/bpf.NAME
traced() {
	"$LATSCOPE" trace -p "$SRV" --json -v "${@:3}" > "$TMP/trace.json" 2> "$TMP/t.err" & BG=$!
	wait_attached "$TMP/t.err" "uprobes attached"
	rps "$1" "$2"
	kill -INT "$BG"; wait "$BG" || true
	jq -r 'select(.type=="summary") | "\(.bpf_run_ns) \([.requests[].count] | add)"' "$TMP/trace.json" |
		awk '{ if ($2) printf "%.0f\n", $1 / $2 }' >> "$TMP/bpf.$1"
}
build/examples/grpcbody -o "$TMP/empty.bin"
make_cert
for mode in tls plain; do
	if [[ $mode == tls ]]; then
		start_listener h2server build/examples/h2server --cert "$TMP/cert.pem" --key "$TMP/key.pem" -p 0
		scheme=https
	else
		start_listener h2server build/examples/h2server --plain -p 0
		scheme=http
	fi
	SRV=$SERVER_PID
	for _ in $(seq "$ROUNDS"); do
		rps "none_$mode" "$scheme"
		traced "latscope_$mode" "$scheme"
		# The syscall reader alone: no uprobe (no h2_*, decode, encode), the request model whole.
		[[ $mode == plain ]] && traced latscope_net "$scheme" --phases net
	done
	kill "$SRV"; wait "$SRV" 2>/dev/null || true
done

echo "## The syscall reader against the TLS path (example server, h2load -n $REQS -c 10 -m 10 -t 1, unary gRPC Fast, median of $ROUNDS interleaved runs)"
echo ""
echo "| server mode | req/s without latscope | req/s with latscope trace | throughput kept | latscope BPF time per request |"
echo "|---|---|---|---|---|"
for mode in tls plain net; do
	a=$(median < "$TMP/rps.none_${mode/net/plain}"); l=$(median < "$TMP/rps.latscope_$mode"); b=$(median < "$TMP/bpf.latscope_$mode")
	case $mode in
	tls) label="TLS: uprobes on OpenSSL, nghttp2, protobuf-c" ;;
	plain) label="h2c (--plain): syscall reader, uprobes on nghttp2, protobuf-c" ;;
	net) label="h2c (--plain), trace --phases net: syscall reader alone, no uprobe" ;;
	esac
	awk -v m="$label" -v a="$a" -v l="$l" -v b="$b" 'BEGIN { printf "| %s | %.0f | %.0f | %.0f%% | %.2f us |\n", m, a, l, 100 * l / a, b / 1000 }'
done
echo ""

# ---- a process that is no target: dd's read/write loop ---------------------------------
ddrate() { # ddrate NAME: ns per syscall of a 1-byte dd copy (a read and a write per byte), appended to $TMP/dd.NAME
	local t0 t1
	t0=$(date +%s%N)
	dd if=/dev/zero of=/dev/null bs=1 count="$DD_N" 2> /dev/null
	t1=$(date +%s%N)
	echo $(((t1 - t0) / (2 * DD_N))) >> "$TMP/dd.$1"
}
start_listener h2server build/examples/h2server --plain -p 0 # an idle target
IDLE=$SERVER_PID
for _ in $(seq "$((ROUNDS + 2))"); do
	ddrate none
	LATSCOPE_TEST_REJECT=sockio "$LATSCOPE" trace -p "$IDLE" -v > /dev/null 2> "$TMP/t.err" & BG=$!
	wait_attached "$TMP/t.err" "uprobes attached"
	ddrate nosio
	kill -INT "$BG"; wait "$BG" || true
	"$LATSCOPE" trace -p "$IDLE" -v > /dev/null 2> "$TMP/t.err" & BG=$!
	wait_attached "$TMP/t.err" "uprobes attached"
	ddrate sio
	# The kernel's own account of the program (run-time statistics are on while latscope runs):
	# nearly every run in this window is one of dd's syscalls.
	bpftool prog show name sio_exit --json 2> /dev/null |
		jq -r 'if type == "array" then .[0] else . end | select(.run_cnt > 0) | .run_time_ns / .run_cnt' >> "$TMP/prog.sio" || true
	kill -INT "$BG"; wait "$BG" || true
done
n=$(median < "$TMP/dd.none"); s0=$(median < "$TMP/dd.nosio"); s1=$(median < "$TMP/dd.sio")
echo "## What the syscall tracepoints cost a process that is no target (dd bs=1 count=$DD_N: a read and a write per byte, median of $((ROUNDS + 2)) interleaved runs)"
echo ""
echo "| latscope tracing another process | ns per syscall | added |"
echo "|---|---|---|"
echo "| not running | $n | - |"
echo "| trace, syscall reader refused (sys_enter only) | $s0 | +$((s0 - n)) ns |"
echo "| trace (sys_enter and the syscall reader's sys_exit) | $s1 | +$((s1 - n)) ns (sys_exit: +$((s1 - s0)) ns) |"
echo ""
[[ -s $TMP/prog.sio ]] && printf 'sio_exit itself, by the kernel'"'"'s run-time statistics: %.0f ns per run (median of %d).\n\n' \
	"$(median < "$TMP/prog.sio")" "$(wc -l < "$TMP/prog.sio")"
