#!/usr/bin/env bash
# make bench: latscope's overhead, measured side by side in one run.
#  1. per-call cost of the TLS probes (SSL_write + SSL_read over a memory BIO pair),
#     against the same sites with empty BPF programs (the floor) and with nothing;
#  2. requests/s of nghttpd and of the example server under h2load, with and without
#     latscope attached;
#  3. user-space request assembly rate; 4. the C++ gRPC server (bench/grpc_cpp.sh).
# Prints the tables and writes them to build/bench-results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/lib.sh
ROUNDS=${ROUNDS:-3}
OUT=build/bench-results.md
: > "$OUT"
say() { echo "$*" | tee -a "$OUT"; }
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# Runs "$@" in the background until the current measurement ends; sets BG.
bg_start() { "$@" > /dev/null 2> "$TMP/bg.err" & BG=$!; }
bg_stop() { kill -INT "$BG" 2>/dev/null || true; wait "$BG" 2>/dev/null || true; }
wait_attached() { # wait_attached FILE PATTERN
	for _ in $(seq 200); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
	cat "$1" >&2; fail "not attached"
}

say "# latscope benchmarks"
say ""
say "$(date -u '+%Y-%m-%d %H:%M UTC'), kernel $(uname -r), $(nproc) CPUs, $(openssl version | cut -d' ' -f1-2), kernel hook: $("$LATSCOPE" probes -p $$ --json | jq -r .kernel_hook)"
say ""

# ---- 1. Per-call cost ---------------------------------------------------------
make_cert
build/bench/sslloop "$TMP/cert.pem" "$TMP/key.pem" > "$TMP/loop.out" &
LOOP=$!; PIDS_TO_KILL+=("$LOOP")
for _ in $(seq 50); do grep -q ready "$TMP/loop.out" && break; sleep 0.1; done
sample_loop() { # sample_loop NAME: the next 3 one-second ns/round readings
	local from; from=$(wc -l < "$TMP/loop.out")
	sleep 3.3
	tail -n +"$((from + 1))" "$TMP/loop.out" | grep -o '^[0-9.]*' | head -3 >> "$TMP/loop.$1"
}
for r in $(seq "$ROUNDS"); do
	sample_loop none
	build/bench/floor "$LOOP" SSL_ 2> "$TMP/floor.err" > /dev/null & BG=$!
	wait_attached "$TMP/floor.err" "empty probes attached"; sleep 0.3
	sample_loop floor; bg_stop
	"$LATSCOPE" trace -p "$LOOP" --no-records -v > /dev/null 2> "$TMP/t.err" & BG=$!
	wait_attached "$TMP/t.err" "uprobes attached"; sleep 0.3
	sample_loop norec; bg_stop
	"$LATSCOPE" trace -p "$LOOP" --calls -v > /dev/null 2> "$TMP/t.err" & BG=$!
	wait_attached "$TMP/t.err" "uprobes attached"; sleep 0.3
	sample_loop calls; bg_stop
done
kill "$LOOP"
n0=$(median < "$TMP/loop.none"); nf=$(median < "$TMP/loop.floor"); nr=$(median < "$TMP/loop.norec"); nc=$(median < "$TMP/loop.calls")
say "## 1. Per-call cost of the TLS probes (bench/sslloop: SSL_write + SSL_read per round, entry + return probe each)"
say ""
say "| configuration | ns per round (median of $((ROUNDS * 3))) | probe cost per call | vs empty programs |"
say "|---|---|---|---|"
awk -v n0="$n0" -v nf="$nf" -v nr="$nr" -v nc="$nc" 'BEGIN {
	pf = (nf - n0) / 2; pr = (nr - n0) / 2; pc = (nc - n0) / 2
	printf "| no probes | %.0f | - | - |\n", n0
	printf "| empty programs at the same sites (floor) | %.0f | %.2f us | 1.00x |\n", nf, pf / 1000
	printf "| latscope trace --no-records | %.0f | %.2f us | %.2fx |\n", nr, pr / 1000, pr / pf
	printf "| latscope trace --calls (a record per call) | %.0f | %.2f us | %.2fx |\n", nc, pc / 1000, pc / pf
}' | tee -a "$OUT"
say ""

# ---- 2. Throughput under h2load -----------------------------------------------
throughput() { # throughput NAME PID URL [h2load args...]: appends req/s of one run to $TMP/rps.NAME
	local name=$1 url=$3; shift 3
	h2load -n "${BENCH_REQS:-30000}" -c 10 -m 10 -t 1 "$@" "$url" 2>&1 | sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' >> "$TMP/rps.$name"
}
bench_server() { # bench_server LABEL PID URL [h2load args...]
	local label=$1 pid=$2 url=$3; shift 3
	rm -f "$TMP"/rps.*
	for r in $(seq "$ROUNDS"); do
		throughput none "$pid" "$url" "$@"
		"$LATSCOPE" trace -p "$pid" --no-records -v > /dev/null 2> "$TMP/t.err" & BG=$!
		wait_attached "$TMP/t.err" "uprobes attached"
		throughput norec "$pid" "$url" "$@"; bg_stop
		"$LATSCOPE" trace -p "$pid" -v --json > "$TMP/trace.json" 2> "$TMP/t.err" & BG=$!
		wait_attached "$TMP/t.err" "uprobes attached"
		throughput trace "$pid" "$url" "$@"; bg_stop
	done
	local a b c hits
	a=$(median < "$TMP/rps.none"); b=$(median < "$TMP/rps.norec"); c=$(median < "$TMP/rps.trace")
	# Library probe hits (entry + return count as one call) per request, from the last traced run.
	hits=$(jq -r 'select(.type=="summary") | ([.probes[] | select(.probe | test("^tcp_") | not) | .calls] | add) / ([.requests[].count] | add)' "$TMP/trace.json")
	awk -v l="$label" -v a="$a" -v b="$b" -v c="$c" -v h="$hits" 'BEGIN {
		printf "| %s | %.0f | %.0f (%.0f%%) | %.0f (%.0f%%) | %.1f | %.1f us |\n", l, a, b, 100 * b / a, c, 100 * c / a, h,
			(1e6 / b - 1e6 / a) / h }' | tee -a "$OUT"
}
say "## 2. Throughput at saturation (h2load -n ${BENCH_REQS:-30000} -c 10 -m 10 -t 1, median of $ROUNDS runs each, interleaved)"
say ""
say "| server | req/s without latscope | with trace --no-records | with trace (request records) | probed calls per request | added time per call (no-records) |"
say "|---|---|---|---|---|---|"
start_nghttpd 200
bench_server "nghttpd (GET, 200 B)" "$NGHTTPD_PID" "https://127.0.0.1:$PORT/index.html"
kill "$NGHTTPD_PID"
start_h2server
grpc_load Fast 1 > /dev/null 2>&1 || true
bench_server "example server (unary gRPC Fast)" "$H2SERVER_PID" "https://127.0.0.1:$PORT/latscope.example.Echo/Fast" \
	-d "$TMP/empty.bin" -H 'content-type: application/grpc' -H 'te: trailers'
say ""

# ---- 3. User-space request assembly on one core ------------------------------------
say "## 3. User-space request assembly (bench/reqrate: HPACK + per-method aggregation, 4 records per request)"
say ""
say "    $(taskset -c 0 build/bench/reqrate 1000000)"
say ""
# ---- 4. The C++ gRPC server: throughput kept and probe hits per RPC ----------------------
bench/grpc_cpp.sh | tee -a "$OUT"
echo "results written to $OUT"
