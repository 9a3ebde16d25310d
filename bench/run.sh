#!/usr/bin/env bash
# make bench: latscope's overhead, measured side by side in one run.
#  1. per-call cost of the TLS probes (SSL_write + SSL_read over a memory BIO pair),
#     against the same sites with empty BPF programs (the floor) and with nothing;
#  2. requests/s of nghttpd and of the example server under h2load, with and without
#     latscope attached;
#     then probe hits per request on the example server (bench/h2hits.sh) and the Go
#     gRPC server with and without latscope (bench/go_grpc.sh); the throughput kept under
#     the overhead budgets (bench/budget.sh), the budget's estimated request count on a
#     load already running (bench/estimate.sh), and what a budget changes in the latencies
#     reported (bench/accuracy.sh, with the client's own latencies classed by where the
#     windows were), split into measurement and selection by tracing the
#     same requests both ways at once (bench/paired.sh); the syscall reader (plaintext HTTP/2)
#     against the TLS path (bench/h2c.sh);
#  3. user-space request assembly rate; then latscope top's own CPU (bench/top.sh),
#     symbolizer throughput against addr2line and llvm-symbolizer (bench/symbolize.sh),
#     profiler sampling overhead against perf and 1M-sample post-processing
#     (bench/profile.sh), per-request stacks (bench/stacks.sh), the C++ gRPC server (bench/grpc_cpp.sh), and how long
#     attaching and detaching take (bench/startup.sh); last, the verifier's work per
#     program on this kernel and on Debian's 6.1 (bench/verifier.sh).
# Prints the tables and writes them to build/bench-results.md.
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
ROUNDS=${ROUNDS:-3}
OUT=build/bench-results.md
: > "$OUT"

# Runs "$@" in the background until the current measurement ends; sets BG.
bg_start() { "$@" > /dev/null 2> "$TMP/bg.err" & BG=$!; }
bg_stop() { kill -INT "$BG" 2>/dev/null || true; wait "$BG" 2>/dev/null || true; }

say "# latscope benchmarks"
say ""
say "$(date -u '+%Y-%m-%d %H:%M UTC'), kernel $(uname -r), $(nproc) CPUs, $(openssl version | cut -d' ' -f1-2), kernel hook: $("$LATSCOPE" probes -p $$ --json | jq -r .kernel_hook)"
say ""

# ---- 1. Per-call cost ---------------------------------------------------------
make_cert
build/bench/sslloop "$TMP/cert.pem" "$TMP/key.pem" > "$TMP/loop.out" &
LOOP=$!; PIDS_TO_KILL+=("$LOOP")
for _ in $(seq 50); do grep -q ready "$TMP/loop.out" && break; sleep 0.1; done
sample_loop() { # sample_loop NAME: 3 one-second ns/round readings, skipping the one in progress (it may predate the attach)
	local from; from=$(wc -l < "$TMP/loop.out")
	sleep 4.3
	tail -n +"$((from + 2))" "$TMP/loop.out" | grep -o '^[0-9.]*' | head -3 >> "$TMP/loop.$1"
}
for r in $(seq "$ROUNDS"); do
	sample_loop none
	for place in entry auto; do
		build/bench/floor "$LOOP" SSL_ "$place" 2> "$TMP/floor.err" > /dev/null & BG=$!
		wait_attached "$TMP/floor.err" "empty probes attached"; sleep 0.3
		sample_loop "floor_$place"; bg_stop
	done
	"$LATSCOPE" trace -p "$LOOP" --placement entry --no-records -v > /dev/null 2> "$TMP/t.err" & BG=$!
	wait_attached "$TMP/t.err" "uprobes attached"; sleep 0.3
	sample_loop entry; bg_stop
	"$LATSCOPE" trace -p "$LOOP" --no-records -v > /dev/null 2> "$TMP/t.err" & BG=$!
	wait_attached "$TMP/t.err" "uprobes attached"; sleep 0.3
	sample_loop norec; bg_stop
	"$LATSCOPE" trace -p "$LOOP" --calls -v > /dev/null 2> "$TMP/t.err" & BG=$!
	wait_attached "$TMP/t.err" "uprobes attached"; sleep 0.3
	sample_loop calls; bg_stop
done
"$LATSCOPE" probes -p "$LOOP" -v 2>/dev/null | sed -n '/^placement/,$p' |
	awk '/^[^ ]/ { on = ($1 == "SSL_read" || $1 == "SSL_write") } on' > "$TMP/loop.place" || true
kill "$LOOP"
n0=$(median < "$TMP/loop.none"); fe=$(median < "$TMP/loop.floor_entry"); fa=$(median < "$TMP/loop.floor_auto")
ne=$(median < "$TMP/loop.entry"); nr=$(median < "$TMP/loop.norec"); nc=$(median < "$TMP/loop.calls")
say "## 1. Per-call cost of the TLS probes (bench/sslloop: SSL_write + SSL_read per round)"
say ""
say "Placement of latscope's default (auto) run, from \`latscope probes -v\`:"
say ""
sed 's/^/    /' "$TMP/loop.place" | tee -a "$OUT"
say ""
say "| configuration | ns per round (median of $((ROUNDS * 3))) | probe cost per call | vs empty programs at the same sites |"
say "|---|---|---|---|"
awk -v n0="$n0" -v fe="$fe" -v fa="$fa" -v ne="$ne" -v nr="$nr" -v nc="$nc" 'BEGIN {
	pfe = (fe - n0) / 2; pfa = (fa - n0) / 2; pe = (ne - n0) / 2; pr = (nr - n0) / 2; pc = (nc - n0) / 2
	printf "| no probes | %.0f | - | - |\n", n0
	printf "| empty programs, entry + uretprobe at the function | %.0f | %.2f us | 1.00x |\n", fe, pfe / 1000
	printf "| latscope trace --placement entry --no-records | %.0f | %.2f us | %.2fx |\n", ne, pe / 1000, pe / pfe
	printf "| empty programs at latscope'"'"'s sites (auto placement) | %.0f | %.2f us | 1.00x |\n", fa, pfa / 1000
	printf "| latscope trace --no-records (auto placement) | %.0f | %.2f us | %.2fx |\n", nr, pr / 1000, pr / pfa
	printf "| latscope trace --calls (a record per call) | %.0f | %.2f us | %.2fx |\n", nc, pc / 1000, pc / pfa
	printf "\nauto placement vs entry + uretprobe at the function entry: %.1fx cheaper per call (empty programs: %.1fx)\n", pe / pr, pfe / pfa
}' | tee -a "$OUT"
say ""

# ---- 2. Throughput under h2load -----------------------------------------------
cpu_ns() { # cpu_ns PID: CPU time of all the process's threads so far (ns; uprobe handling and BPF programs included)
	cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f\n", s }'
}
throughput() { # throughput NAME PID URL [h2load args...]: appends req/s, and the server's CPU ns per request, of one run
	local name=$1 pid=$2 url=$3 c0 c1 n=${BENCH_REQS:-30000}; shift 3
	c0=$(cpu_ns "$pid")
	h2load -n "$n" -c 10 -m 10 -t 1 "$@" "$url" 2>&1 | sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p' >> "$TMP/rps.$name"
	c1=$(cpu_ns "$pid")
	echo $(((c1 - c0) / n)) >> "$TMP/cpu.$name"
}
bench_server() { # bench_server LABEL PID URL [h2load args...]
	local label=$1 pid=$2 url=$3; shift 3
	rm -f "$TMP"/rps.* "$TMP"/cpu.*
	for r in $(seq "$ROUNDS"); do
		throughput none "$pid" "$url" "$@"
		build/bench/floor "$pid" "" auto 2> "$TMP/floor.err" > /dev/null & BG=$!
		wait_attached "$TMP/floor.err" "empty probes attached"
		throughput floor "$pid" "$url" "$@"; bg_stop
		"$LATSCOPE" trace -p "$pid" --placement entry --no-records -v > /dev/null 2> "$TMP/t.err" & BG=$!
		wait_attached "$TMP/t.err" "uprobes attached"
		throughput entry "$pid" "$url" "$@"; bg_stop
		"$LATSCOPE" trace -p "$pid" --no-records -v > /dev/null 2> "$TMP/t.err" & BG=$!
		wait_attached "$TMP/t.err" "uprobes attached"
		throughput norec "$pid" "$url" "$@"; bg_stop
		"$LATSCOPE" trace -p "$pid" -v --json > "$TMP/trace.json" 2> "$TMP/t.err" & BG=$!
		wait_attached "$TMP/t.err" "uprobes attached"
		throughput trace "$pid" "$url" "$@"; bg_stop
	done
	local a f e b c hits est
	a=$(median < "$TMP/rps.none"); f=$(median < "$TMP/rps.floor"); e=$(median < "$TMP/rps.entry")
	b=$(median < "$TMP/rps.norec"); c=$(median < "$TMP/rps.trace")
	# Library probe calls and hits per request, and latscope's own estimate of probe time per request, from the last traced run.
	hits=$(jq -r 'select(.type=="summary") | ([.probes[] | select(.probe | test("^tcp_") | not) | .calls] | add) / ([.requests[].count] | add)' "$TMP/trace.json")
	est=$(jq -r 'select(.type=="summary") | "\(.probe_hits_per_request // 0) \(.probe_est_ns_per_request // 0)"' "$TMP/trace.json")
	awk -v l="$label" -v a="$a" -v f="$f" -v e="$e" -v b="$b" -v c="$c" -v h="$hits" -v est="$est" 'BEGIN {
		split(est, x, " ")
		pf = (1e6 / f - 1e6 / a) / h; pb = (1e6 / b - 1e6 / a) / h
		printf "| %s | %.0f | %.0f (%.0f%%) | %.0f (%.0f%%) | %.0f (%.0f%%) | %.0f (%.0f%%) | %.1f calls, %.1f hits | %.2f us (floor %.2f us, %.2fx) | %.1f us |\n",
			l, a, f, 100 * f / a, e, 100 * e / a, b, 100 * b / a, c, 100 * c / a, h, x[1], pb, pf, pb / pf, x[2] / 1000 }' | tee -a "$OUT"
	# The same from the server's own CPU time per request: immune to what else runs on the machine.
	local ca cf ce cb cc
	ca=$(median < "$TMP/cpu.none"); cf=$(median < "$TMP/cpu.floor"); ce=$(median < "$TMP/cpu.entry")
	cb=$(median < "$TMP/cpu.norec"); cc=$(median < "$TMP/cpu.trace")
	awk -v l="$label" -v a="$ca" -v f="$cf" -v e="$ce" -v b="$cb" -v c="$cc" -v h="$hits" 'BEGIN {
		printf "| %s, server CPU per request | %.1f us | %.1f us (%.0f%%) | %.1f us (%.0f%%) | %.1f us (%.0f%%) | %.1f us (%.0f%%) | | %.2f us (floor %.2f us, %.2fx) | |\n",
			l, a / 1000, f / 1000, 100 * a / f, e / 1000, 100 * a / e, b / 1000, 100 * a / b, c / 1000, 100 * a / c,
			(b - a) / h / 1000, (f - a) / h / 1000, (b - a) / (f - a) }' | tee -a "$CPUT"
}
say "## 2. Throughput at saturation (h2load -n ${BENCH_REQS:-30000} -c 10 -m 10 -t 1, median of $ROUNDS runs each, interleaved)"
say ""
say "| server | req/s without latscope | empty programs at latscope's sites | trace --placement entry --no-records | trace --no-records | trace (request records) | per request | added time per call (no-records) | latscope's estimate of probe time per request |"
say "|---|---|---|---|---|---|---|---|---|"
CPUT=$TMP/cpu-table.md
: > "$CPUT"
start_nghttpd 200
bench_server "nghttpd (GET, 200 B)" "$NGHTTPD_PID" "https://127.0.0.1:$PORT/index.html"
kill "$NGHTTPD_PID"
start_h2server
grpc_load Fast 1 > /dev/null 2>&1 || true
bench_server "example server (unary gRPC Fast)" "$H2SERVER_PID" "https://127.0.0.1:$PORT/latscope.example.Echo/Fast" \
	-d "$TMP/empty.bin" -H 'content-type: application/grpc' -H 'te: trailers'
say ""
say "The same runs measured by the server's CPU time per request (sum of its threads' run time over the h2load run,"
say "divided by the requests; the kept share is CPU without / CPU with, what a saturated single-threaded server keeps):"
say ""
say "| server | CPU per request without latscope | empty programs at latscope's sites | trace --placement entry --no-records | trace --no-records | trace (request records) | | added CPU per call (no-records) | |"
say "|---|---|---|---|---|---|---|---|---|"
tee -a "$OUT" < "$CPUT"
say ""

# ---- Probe hits per request and cost per hit against the floor -----------
bench/h2hits.sh | tee -a "$OUT"

# ---- Go gRPC server: throughput, probe hits per RPC, cost per hit vs the floor ------
bench/go_grpc.sh "$OUT"

# ---- The overhead budget: throughput kept at --overhead off / 10 / 5 / 1 --------------
say "## Overhead budget at saturation (bench/budget.sh: h2load -c 8 -m 10 -t 1, latscope attached under way, the server's pace over 8 s of the trace, interleaved rounds)"
say ""
bench/budget.sh "$OUT"
say ""
say "## The budget's estimated request count on a running load (bench/estimate.sh: latscope attached under way)"
say ""
bench/estimate.sh "$OUT"
say ""
say "## Accuracy under a budget (bench/accuracy.sh: a fixed moderate load, budgeted against full)"
say ""
bench/accuracy.sh "$OUT"
say ""
say "## The same requests under both at once (bench/paired.sh: measurement against selection)"
say ""
bench/paired.sh "$OUT"
say ""

# ---- Plaintext HTTP/2 from socket syscalls against the TLS path ---------------------
bench/h2c.sh | tee -a "$OUT"

# ---- 3. User-space request assembly on one core ------------------------------------
say "## 3. User-space request assembly (bench/reqrate: HPACK + per-method aggregation, 4 records per request)"
say ""
say "    $(taskset -c 0 build/bench/reqrate 1000000)"
say ""
OUT=$OUT bench/top.sh # latscope top's own CPU at 1 s refresh against 20k req/s
say "## Symbolizer throughput (bench/symbolize.sh: one corpus per binary, CPU time decides)"
say ""
bench/symbolize.sh | tee -a "$OUT"
say ""
# ---- Profiler: sampling overhead against perf, post-processing of 1M samples ----
OUT="$OUT" ROUNDS="$ROUNDS" bench/profile.sh
# ---- trace --stacks: latscope's CPU per slow request, the server's throughput ----
ROUNDS="$ROUNDS" bench/stacks.sh | tee -a "$OUT"
# ---- The C++ gRPC server: throughput kept and probe hits per RPC ----------------------
bench/grpc_cpp.sh | tee -a "$OUT"
# ---- Attach and detach: how long latscope takes to join a running target and leave it ----
say "## Attach and detach (bench/startup.sh)"
say ""
bench/startup.sh "$OUT"
say ""
# ---- The verifier's work per program, here and on Debian's 6.1 ---------------------------
say "## Verifier budget (bench/verifier.sh)"
say ""
bench/verifier.sh "$OUT"
echo "results written to $OUT"
