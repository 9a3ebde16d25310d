#!/usr/bin/env bash
# How long latscope takes to attach to a running target and to leave it: from the
# start of `latscope trace -p PID` to "uprobes attached" (discovery, placement, BPF
# load and verification, attach), and from SIGINT to its exit (every probe removed).
# Targets under load: the C example server (h2load) and the Go gRPC server (its
# client). Medians of ROUNDS runs, printed as a Markdown table (appended to $1).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
OUT=${1:-/dev/null}
ROUNDS=${ROUNDS:-5}
now_ms() { date +%s%3N; }

cycle() { # cycle NAME PID: one attach and detach, milliseconds appended to $TMP/NAME.{attach,detach}
	local t0 t1 t2 pid
	t0=$(now_ms)
	"$LATSCOPE" trace -p "$2" --no-records -v > /dev/null 2> "$TMP/t.err" &
	pid=$!
	for _ in $(seq 3000); do grep -q "uprobes attached" "$TMP/t.err" && break; sleep 0.01; done
	grep -q "uprobes attached" "$TMP/t.err" || { cat "$TMP/t.err" >&2; fail "$1: latscope did not attach"; }
	t1=$(now_ms)
	n=$(sed -n 's/.*; \([0-9]*\) uprobes attached.*/\1/p' "$TMP/t.err")
	echo "$n" > "$TMP/$1.n"
	kill -INT "$pid"
	wait "$pid" || fail "$1: latscope exited with an error"
	t2=$(now_ms)
	echo $((t1 - t0)) >> "$TMP/$1.attach"
	echo $((t2 - t1)) >> "$TMP/$1.detach"
}

start_h2server -t 1
"$ROOT/build/examples/grpcbody" -o "$TMP/empty.bin"
h2load -D 600 -c 4 -m 4 -t 1 -d "$TMP/empty.bin" -H 'content-type: application/grpc' -H 'te: trailers' \
	"https://127.0.0.1:$PORT/latscope.example.Echo/Fast" > /dev/null 2>&1 &
H2LOAD=$!; PIDS_TO_KILL+=("$H2LOAD")
sleep 1
for _ in $(seq "$ROUNDS"); do cycle h2server "$H2SERVER_PID"; done
kill "$H2LOAD" 2>/dev/null || true

start_gogrpc -slow-ms 2
"$ROOT/build/examples/gogrpc-client" -addr "127.0.0.1:$PORT" -ca "$TMP/cert.pem" -c 3 -d 600s \
	-mix Fast,Stream,Slow > /dev/null 2>&1 &
GOLOAD=$!; PIDS_TO_KILL+=("$GOLOAD")
sleep 1
for _ in $(seq "$ROUNDS"); do cycle gogrpc "$GOGRPC_PID"; done
kill -INT "$GOLOAD" 2>/dev/null || true

say "| target (under load) | uprobes | attach: start to \"uprobes attached\" (ms) | detach: SIGINT to exit (ms) |"
say "|---|---|---|---|"
for t in h2server gogrpc; do
	say "| $t | $(cat "$TMP/$t.n") | $(median < "$TMP/$t.attach") | $(median < "$TMP/$t.detach") |"
done
say ""
say "Medians of $ROUNDS cycles each."
