#!/usr/bin/env bash
# make demo: a TLS + HTTP/2 server under load, and latscope watching it.
# Starts nghttpd with a throwaway certificate, drives it with h2load, and runs
# `latscope trace` against it; stops everything it started on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
LATSCOPE=build/latscope
DEMO_SECS=${DEMO_SECS:-5}
tmp=$(mktemp -d /tmp/latscope-demo.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM

openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
	-addext subjectAltName=IP:127.0.0.1,DNS:localhost -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null
mkdir -p "$tmp/doc" && head -c 2048 /dev/urandom | base64 > "$tmp/doc/index.html"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
nghttpd -a 127.0.0.1 -d "$tmp/doc" "$port" "$tmp/key.pem" "$tmp/cert.pem" >/dev/null 2>&1 &
server=$!; pids+=("$server")
for _ in $(seq 50); do (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null && break; sleep 0.1; done

echo "== nghttpd (pid $server) on https://127.0.0.1:$port/ =="
echo "== latscope probes -p $server =="
"$LATSCOPE" probes -p "$server"
echo
echo "== latscope trace -p $server -d ${DEMO_SECS}s, while h2load sends requests (first 25 lines, then the summary) =="
"$LATSCOPE" trace -p "$server" -d "$DEMO_SECS" > "$tmp/trace.txt" &
tracer=$!; pids+=("$tracer")
sleep 1
h2load -n 20000 -c 10 -m 10 -t 2 "https://127.0.0.1:$port/index.html" | grep -E '^(finished|requests|traffic|time for request)' || true
wait "$tracer"
head -25 "$tmp/trace.txt"
echo "   ..."
sed -n '/^summary:/,$p' "$tmp/trace.txt"
