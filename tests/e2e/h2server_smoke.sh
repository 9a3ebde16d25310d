#!/bin/bash
# Smoke test of the example target server: build/examples/h2server and build/examples/grpcbody
# must already be built. Drives it with h2load and nghttp over TLS and checks that every request
# succeeds, that Slow's injected 20 ms shows up as ~20 ms of latency without serialising
# requests, that large replies, GETs, errors and --method overrides work, and that SIGTERM
# exits 0. Needs openssl, h2load and nghttp (nghttp2-client).
set -uo pipefail

cd "$(dirname "$0")/../.." || exit 1
H2SERVER=${H2SERVER:-build/examples/h2server}
GRPCBODY=${GRPCBODY:-build/examples/grpcbody}
GRPC=(-H 'content-type: application/grpc' -H 'te: trailers')
ECHO=latscope.example.Echo

pass=0
fail=0
server_pid=
tmp=$(mktemp -d /tmp/h2server_smoke.XXXXXX)

cleanup() {
	if [ -n "$server_pid" ]; then
		kill -KILL "$server_pid" 2>/dev/null
		wait "$server_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT

ok() { echo "ok - $*"; pass=$((pass + 1)); }
not_ok() { echo "FAIL - $*"; fail=$((fail + 1)); }
check() {
	local what=$1
	shift
	if "$@"; then ok "$what"; else not_ok "$what"; fi
}
# float_between X LO HI: LO <= X <= HI
float_between() { awk -v x="$1" -v lo="$2" -v hi="$3" 'BEGIN { exit !(x != "" && x >= lo && x <= hi) }'; }
float_at_least() { awk -v x="$1" -v lo="$2" 'BEGIN { exit !(x != "" && x >= lo) }'; }

for tool in "$H2SERVER" "$GRPCBODY"; do
	if [ ! -x "$tool" ]; then
		echo "h2server_smoke: $tool not built (run make first)" >&2
		exit 1
	fi
done
for tool in openssl h2load nghttp; do
	if ! command -v "$tool" >/dev/null; then
		echo "h2server_smoke: $tool not installed (see deps/packages.txt)" >&2
		exit 1
	fi
done

# start_server ARGS...: runs h2server on a free port, sets server_pid and url.
start_server() {
	: >"$tmp/server.out"
	"$H2SERVER" -p 0 --cert "$tmp/cert.pem" --key "$tmp/key.pem" "$@" \
		>"$tmp/server.out" 2>"$tmp/server.err" &
	server_pid=$!
	for _ in $(seq 50); do
		grep -q '^listening on ' "$tmp/server.out" && break
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	url="https://$(sed -n 's/^listening on //p' "$tmp/server.out")"
	[ "$url" != "https://" ]
}

# stop_server: SIGTERM, then the exit status must be 0.
stop_server() {
	local rc
	kill -TERM "$server_pid"
	wait "$server_pid"
	rc=$?
	server_pid=
	return "$rc"
}

# load OUT ARGS...: h2load into OUT; then succeeded/ok2xx/mean_ms/rps describe the run.
load() {
	local out=$1
	shift
	timeout 30 h2load "$@" >"$out" 2>&1
	succeeded=$(awk '/^requests:/ { for (i = 1; i <= NF; i++) if ($i ~ /^succeeded/) print $(i - 1) }' "$out")
	ok2xx=$(awk '/^status codes:/ { print $3 }' "$out")
	rps=$(awk '/^finished in/ { print $4 }' "$out")
	mean_ms=$(awk '/^time for request:/ {
		v = $6; u = v; sub(/[a-z]+$/, "", v); sub(/^[0-9.]+/, "", u)
		print (u == "us") ? v / 1000 : (u == "s") ? v * 1000 : v }' "$out")
	grep -E '^(finished|requests|status codes|time for request)' "$out" | sed 's/^/     /'
}

echo "# certificate and request bodies"
check "gencert.sh writes cert.pem and key.pem" \
	examples/h2server/gencert.sh "$tmp"
check "grpcbody writes the Fast body (5-byte prefix, empty message)" \
	"$GRPCBODY" -o "$tmp/fast.bin"
check "fast body is exactly 5 bytes" test "$(stat -c %s "$tmp/fast.bin")" -eq 5
check "grpcbody writes the Slow body (sleep_ms 20)" \
	"$GRPCBODY" --sleep-ms 20 -o "$tmp/slow.bin"
check "grpcbody writes the Big body (resp_bytes 1 MiB)" \
	"$GRPCBODY" --resp-bytes 1048576 -o "$tmp/big.bin"

echo "# server"
if ! start_server; then
	not_ok "h2server prints 'listening on ADDR:PORT'"
	cat "$tmp/server.err"
	echo "h2server_smoke: $pass passed, $fail failed"
	exit 1
fi
ok "h2server listens on $url"

echo "# Fast: 20000 requests, 10 connections x 10 streams"
load "$tmp/fast.txt" -n 20000 -c 10 -m 10 -t 2 -d "$tmp/fast.bin" "${GRPC[@]}" "$url/$ECHO/Fast"
check "Fast: 20000 succeeded (got $succeeded)" test "${succeeded:-0}" -eq 20000
check "Fast: 20000 2xx (got $ok2xx)" test "${ok2xx:-0}" -eq 20000
fast_rps=$rps

echo "# Slow: 2000 requests sleeping 20 ms, 100 in flight"
load "$tmp/slow.txt" -n 2000 -c 10 -m 10 -t 2 -d "$tmp/slow.bin" "${GRPC[@]}" "$url/$ECHO/Slow"
check "Slow: 2000 succeeded (got $succeeded)" test "${succeeded:-0}" -eq 2000
check "Slow: mean latency within 20..30 ms (got $mean_ms ms)" float_between "$mean_ms" 20 30
# 100 streams in flight for 20 ms each is 5000 req/s; one at a time would be 50.
check "Slow: sleeps overlap, >= 2500 req/s (got $rps)" float_at_least "$rps" 2500

echo "# Big: 1 MiB replies under flow control"
load "$tmp/big.txt" -n 40 -c 4 -m 4 -t 1 -d "$tmp/fast.bin" "${GRPC[@]}" "$url/$ECHO/Big"
check "Big: 40 succeeded (got $succeeded)" test "${succeeded:-0}" -eq 40
timeout 10 nghttp -v -d "$tmp/fast.bin" "${GRPC[@]}" "$url/$ECHO/Big" >"$tmp/big.v" 2>&1
timeout 10 nghttp -d "$tmp/big.bin" "${GRPC[@]}" "$url/$ECHO/Fast" >"$tmp/big.body" 2>/dev/null
# 5-byte prefix + field tag + 3-byte length + 1048576 payload bytes
check "Big: nghttp gets a 1048585-byte gRPC message" test "$(stat -c %s "$tmp/big.body")" -eq 1048585
check "Big: trailers carry grpc-status 0" grep -q 'grpc-status: 0' "$tmp/big.v"

echo "# plain HTTP/2 and errors"
timeout 10 nghttp -nv "$url/" >"$tmp/get.v" 2>&1
check "GET /: status 200" grep -q ':status: 200' "$tmp/get.v"
check "GET /some/path: text body" \
	test "$(timeout 10 nghttp "$url/some/path" 2>/dev/null)" = "latscope h2server"
timeout 10 nghttp -nv -d "$tmp/fast.bin" "$url/nope" >"$tmp/404.v" 2>&1
check "POST /nope: status 404" grep -q ':status: 404' "$tmp/404.v"
timeout 10 nghttp -nv -d "$tmp/fast.bin" "${GRPC[@]}" "$url/$ECHO/Nope" >"$tmp/12.v" 2>&1
check "unknown gRPC method: grpc-status 12" grep -q 'grpc-status: 12' "$tmp/12.v"
check "SIGTERM: exit status 0" stop_server

echo "# --method overrides win over the request"
if start_server -t 2 --method Fast:sleep=30,resp=100; then
	load "$tmp/over.txt" -n 400 -c 10 -m 10 -t 2 -d "$tmp/fast.bin" "${GRPC[@]}" "$url/$ECHO/Fast"
	check "Fast:sleep=30: 400 succeeded (got $succeeded)" test "${succeeded:-0}" -eq 400
	check "Fast:sleep=30: mean latency within 30..40 ms (got $mean_ms ms)" \
		float_between "$mean_ms" 30 40
	timeout 10 nghttp -d "$tmp/big.bin" "${GRPC[@]}" "$url/$ECHO/Fast" >"$tmp/over.body" 2>/dev/null
	check "Fast:resp=100 wins over resp_bytes 1 MiB" test "$(stat -c %s "$tmp/over.body")" -eq 107
	check "SIGTERM with 2 threads: exit status 0" stop_server
else
	not_ok "h2server -t 2 starts"
fi

echo "# Fast: ${fast_rps:-?} req/s"
echo "h2server_smoke: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
