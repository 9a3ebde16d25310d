# What every benchmark script shares, on top of the tests' helpers (tests/lib.sh).
. tests/lib.sh
# A benchmark measures full tracing unless it says otherwise (budget.sh, accuracy.sh pass --overhead).
export LATSCOPE_OVERHEAD=${LATSCOPE_OVERHEAD:-off}

# say TEXT: TEXT on stdout and appended to $OUT (each script's results file, /dev/null when none).
say() { echo "$*" | tee -a "$OUT"; }

# median: the median of the numbers on stdin, one per line.
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# pct_ms: "p50 p99 n" of the latencies on stdin (ns in, ms out; "- - 0" when none).
pct_ms() { sort -n | awk '{ v[NR] = $1 } END { if (NR) printf "%.3f %.3f %d\n", v[int((NR + 1) / 2)] / 1e6, v[int(NR * 0.99 + 0.5)] / 1e6, NR; else print "- - 0" }'; }

# cell: "p50 / p99, n" (ms) of the latencies (ns) on stdin, for a table.
cell() { pct_ms | awk '{ printf "%s / %s, %s", $1, $2, $3 }'; }

# windows: "first last" of each window a budgeted trace had, from its requests' starts (ns,
# one per line, sorted) on stdin; more than 20 ms between two starts marks a gap.
windows() { awk 'NR == 1 { s = $1 } NR > 1 && $1 - p > 20e6 { print s, p; s = $1 } { p = $1 } END { if (NR) print s, p }'; }

# wait_attached FILE [PATTERN]: until FILE (latscope's stderr, or a helper's) shows PATTERN
# ("uprobes attached" unless given), for up to 30 s.
wait_attached() {
	for _ in $(seq 300); do grep -q "${2:-uprobes attached}" "$1" 2>/dev/null && return 0; sleep 0.1; done
	cat "$1" >&2; fail "not attached"
}

# saturated_servers FUNC: runs FUNC NAME PID URL H2LOAD-ARGS... for each server the overhead
# budget's benches saturate: the example server (unary gRPC Fast with SPIN_US of CPU per
# request, 10 unless given) and nghttpd (a 100-byte GET).
saturated_servers() {
	local spin=${SPIN_US:-10}
	start_h2server --method "Fast:spin=$spin"
	[[ -s $TMP/empty.bin ]] || build/examples/grpcbody -o "$TMP/empty.bin"
	"$1" "example server (spin=$spin us)" "$H2SERVER_PID" "https://127.0.0.1:$PORT/latscope.example.Echo/Fast" \
		-d "$TMP/empty.bin" -H 'content-type: application/grpc' -H 'te: trailers'
	start_nghttpd 100
	"$1" nghttpd "$NGHTTPD_PID" "https://127.0.0.1:$PORT/index.html"
}

# trace_span FILE: "T0 T1 OFFSET" of a `trace --json` run in FILE, from its summary: the run's
# start and end on the wall clock (us since the epoch, as h2load's --log-file) and what the
# wall clock is ahead of the monotonic one of the records' start_ns (ns). Integers throughout.
trace_span() {
	local sum u mono dur
	sum=$(grep '"type":"summary"' "$1") || fail "no summary in $1"
	u=$(grep -o '"unix_ns":[0-9]*' <<< "$sum" | cut -d: -f2)
	mono=$(grep -o '"monotonic_ns":[0-9]*' <<< "$sum" | cut -d: -f2)
	dur=$(grep -o '"duration_ns":[0-9]*' <<< "$sum" | head -1 | cut -d: -f2)
	[[ -n $u && -n $mono && -n $dur ]] || fail "$1: the summary gives no start or duration"
	echo "$((u / 1000)) $(((u + dur) / 1000)) $((u - mono))"
}
