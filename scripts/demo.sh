#!/usr/bin/env bash
# make demo: the bundled example server (TLS + HTTP/2 + protobuf-c gRPC) under load
# with a fast and a slow method, and latscope watching it. On a terminal it opens
# `latscope top` (q quits); without one (CI, a pipe) it shows which probes were found,
# the slow requests with their phases and a per-method summary, a flame graph, and
# three `top --batch` snapshots. Stops everything it started on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
LATSCOPE=build/latscope
DEMO_SECS=${DEMO_SECS:-5}
tmp=$(mktemp -d /tmp/latscope-demo.XXXXXX)
pids=()
cleanup() {
	local p
	[[ -s $tmp/load.pids ]] && while read -r p; do pids+=("$p"); done < "$tmp/load.pids"
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

examples/h2server/gencert.sh "$tmp" > /dev/null 2>&1
build/examples/h2server --cert "$tmp/cert.pem" --key "$tmp/key.pem" -p 0 --method Slow:sleep=20,burn=3 > "$tmp/server.out" 2>&1 &
server=$!; pids+=("$server")
for _ in $(seq 50); do port=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$tmp/server.out"); [[ -n $port ]] && break; sleep 0.1; done
build/examples/grpcbody -o "$tmp/body.bin"
load() { # load METHOD RATE SECONDS: h2load at RATE requests/s (2 connections)
	h2load -D "$3" -c 2 -m 4 --rps "$(($2 / 2))" -d "$tmp/body.bin" -H 'content-type: application/grpc' -H 'te: trailers' \
		"https://127.0.0.1:$port/latscope.example.Echo/$1" > /dev/null 2>&1 &
	echo "$!" >> "$tmp/load.pids"
}
if [[ -t 0 && -t 1 ]]; then
	# Connections open after the attach (top -v says when, on stderr), so their header
	# compression context is seen from the start.
	(
		for _ in $(seq 300); do grep -q 'uprobes attached' "$tmp/top.err" 2>/dev/null && break; sleep 0.1; done
		load Fast 1000 3600; load Slow 40 3600
	) &
	pids+=("$!")
	rc=0
	"$LATSCOPE" top -p "$server" -t 2ms -v 2> "$tmp/top.err" || rc=$?
	((rc == 0)) || grep -v 'warning:' "$tmp/top.err" >&2
	exit "$rc"
fi

echo "== example server (pid $server) on https://127.0.0.1:$port, methods Fast and Slow (20 ms sleep + 3 ms of CPU in the handler)"
echo "== latscope probes -p $server"
"$LATSCOPE" probes -p "$server" | grep -Ev 'missing.*not mapped'
echo
echo "== latscope trace -p $server -t 10ms -d ${DEMO_SECS}s: slow requests (first 12) and the summary"
# Attach first, then open the connections, so their header compression context is seen from the start.
"$LATSCOPE" trace -p "$server" -t 10ms -d "$DEMO_SECS" -v > "$tmp/trace.txt" 2> "$tmp/trace.err" &
tracer=$!; pids+=("$tracer")
for _ in $(seq 100); do grep -q 'uprobes attached' "$tmp/trace.err" && break; sleep 0.1; done
load Fast 1000 "$((DEMO_SECS + 4))"; load Slow 100 "$((DEMO_SECS + 4))"
wait "$tracer" || { cat "$tmp/trace.err"; exit 1; }
grep -v '^$' "$tmp/trace.txt" | sed -n '1,13p'
echo "   ..."
sed -n '/^summary:/,$p' "$tmp/trace.txt"
echo
mkdir -p build
echo "== latscope record -p $server -d 3s --by-phase -o build/demo-flame.svg"
"$LATSCOPE" record -p "$server" -d 3 --by-phase -o build/demo-flame.svg
echo "open build/demo-flame.svg in a browser: one flame graph, rooted at each request phase"
echo
echo "== latscope top -p $server -t 2ms --batch -n 3: the third snapshot ('make demo' on a terminal opens the live view)"
"$LATSCOPE" top -p "$server" -t 2ms --batch -n 3 -v > "$tmp/top.txt" 2> "$tmp/top.err" &
top=$!; pids+=("$top")
for _ in $(seq 100); do grep -q 'uprobes attached' "$tmp/top.err" && break; sleep 0.1; done
load Fast 1000 5; load Slow 100 5
wait "$top" || { cat "$tmp/top.err"; exit 1; }
sed -n '/^=== snapshot 3/,$p' "$tmp/top.txt" | grep -v '^--- detail'
