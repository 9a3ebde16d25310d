#!/usr/bin/env bash
# The profiler on a Go target: `latscope record` on the Go gRPC server while clients call
# Burn, whose handler spins in main.hotLoop. The folded stacks must name Go frames and put
# main.hotLoop (under the handler, main.(*server).Burn) in most on-CPU samples of the
# server; on the stripped build the names come from .gopclntab.
. "$(dirname "$0")/../lib.sh"

for variant in "" -stripped; do
	start_gogrpc $variant
	# The client itself in the background (not through the gogrpc_client function, whose
	# subshell would take the signal that is meant to stop it).
	"$ROOT/build/examples/gogrpc-client" -addr "127.0.0.1:$PORT" -ca "$TMP/cert.pem" -c 1 -d 60s -mix Burn -burn-us 3000 \
		> "$TMP/client$variant.txt" &
	CLIENT=$!
	sleep 1
	out=$TMP/cpu$variant.folded
	"$LATSCOPE" record -p "$GOGRPC_PID" -d 3 -F 199 -o "$out" 2> "$TMP/record.err" || { cat "$TMP/record.err"; fail "record failed"; }
	kill -INT "$CLIENT"
	wait "$CLIENT" || fail "client failed during record"
	kill "$GOGRPC_PID"; wait "$GOGRPC_PID" 2>/dev/null || true
	total=$(awk '{ n += $NF } END { print n + 0 }' "$out")
	hot=$(awk '/main\.hotLoop/ { n += $NF } END { print n + 0 }' "$out")
	under=$(awk '/main\.\(\*server\)\.Burn;([^;]*;)*main\.hotLoop/ { n += $NF } END { print n + 0 }' "$out")
	gofr=$(grep -c 'runtime\.\|google\.golang\.org/grpc' "$out" || true)
	echo "gogrpc-server$variant: $total samples, $hot in main.hotLoop ($under under main.(*server).Burn)"
	{ grep 'main\.hotLoop' "$out" || true; } | sort -t' ' -k2 -nr | head -2 | cut -c1-300
	check "gogrpc-server$variant: Go frames symbolized ($gofr stacks name runtime or grpc functions)" test "$gofr" -gt 0
	check "gogrpc-server$variant: main.hotLoop in >= 50% of the samples ($hot of $total), called by the Burn handler" \
		test "$total" -gt 30 -a $((hot * 2)) -ge "$total" -a $((under * 10)) -ge $((hot * 9))
done
assert_no_probes
