#!/usr/bin/env bash
# latscope export --pyroscope and --parca: every interval, one CPU and one off-CPU profile
# per target reach a receiver started here (Pyroscope and Parca are not packaged in
# Debian 12): a Pyroscope one (tests/progs/pyrorecv, Python's http.server) through its
# push API and, when it lacks it, through /ingest?format=pprof; a Parca one
# (tests/progs/parcarecv, gRPC over h2c with python3-h2) through WriteRaw. Each profile must parse with
# `go tool pprof -raw`, carry the series labels (service_name, pid, comm, hostname) and
# the samples' phase and slow labels; the CPU time in the samples of all intervals must
# add up to what the server's process used meanwhile (/proc/PID/stat), within 35%:
# sampling at 49 Hz while it burns ~1.5 s of CPU gives ~75 samples, whose count varies
# by ~12% (the rest is margin for a loaded machine); an interval counted twice or lost
# would miss by 2x or by a third.
. "$(dirname "$0")/../lib.sh"

N=300
BURN_MS=5
export GOCACHE=$TMP/gocache HOME=$TMP
command -v go > /dev/null || fail "go is not installed (deps/packages.txt: golang-go)"
start_h2server --method Slow:burn=$BURN_MS

# run_export MODE: a receiver (MODE push or legacy: Pyroscope's, parca: Parca's) and export
# pushing to it every 2 s while N requests run; sets DIR.
run_export() {
	DIR=$TMP/$1
	mkdir -p "$DIR"
	local hport=$PORT dest=--pyroscope
	if [[ $1 == parca ]]; then
		start_listener "recv-$1" /usr/bin/python3 "$ROOT/tests/progs/parcarecv/receiver.py" "$DIR"
		dest=--parca
	else
		start_listener "recv-$1" /usr/bin/python3 "$ROOT/tests/progs/pyrorecv/receiver.py" "$DIR" "$1"
	fi
	local rport=$PORT
	PORT=$hport
	: > "$TMP/export-$1.err"
	"$LATSCOPE" export -p "$H2SERVER_PID" --listen 127.0.0.1:0 -t 1ms "$dest" "http://127.0.0.1:$rport/" \
		--profile-every 2s --off-cpu --kernel-hook "$KHOOK" 2> "$TMP/export-$1.err" &
	EXP_PID=$!
	PIDS_TO_KILL+=("$EXP_PID")
	wait_export "$TMP/export-$1.err"
	CPU0=$(proc_cpu "$H2SERVER_PID")
	grpc_load Slow "$N" -c 2 > "$TMP/load-$1.txt" 2>&1 || fail "h2load failed"
	sleep 2.5
	# SIGTERM pushes the interval under way before the exit.
	kill -TERM "$EXP_PID"
	local rc=0
	wait "$EXP_PID" || rc=$?
	CPU=$(($(proc_cpu "$H2SERVER_PID") - CPU0))
	check "$1: export exits 0 on SIGTERM ($rc)" test "$rc" -eq 0
}

# proc_cpu PID: the process's CPU time so far, in ns (utime + stime).
proc_cpu() { awk -v hz="$(getconf CLK_TCK)" '{ printf "%d\n", ($14 + $15) * 1000000000 / hz }' "/proc/$1/stat"; }
# raw FILE: go tool pprof -raw's text of a profile.
raw() { go tool pprof -raw "$1" 2> /dev/null; }
# cpu_ns FILE [FUNC]: nanoseconds of CPU in the profile's samples (those whose stack holds FUNC).
cpu_ns() {
	raw "$1" | awk -v fn="${2:-}" '
		/^Samples:/ { sec = "s"; next }
		/^Locations/ { sec = "l"; next }
		/^Mappings/ { sec = "" }
		sec == "s" && /: / { split($0, a, ":"); split(a[1], v, " "); n++; cpu[n] = v[2]; locs[n] = a[2] }
		sec == "l" && /^ +[0-9]+: 0x/ { id = $1; sub(":", "", id) }
		sec == "l" && fn != "" && index($0, " " fn " ") { want[id] = 1 }
		END {
			for (i = 1; i <= n; i++) {
				k = split(locs[i], l, " ")
				for (j = 1; j <= k; j++) if (fn == "" || l[j] in want) { s += cpu[i]; break }
			}
			printf "%d\n", s
		}'
}

/usr/bin/python3 -c 'import h2' 2>/dev/null || fail "python3-h2 is not installed (deps/packages.txt)"
for mode in push legacy parca; do
	run_export "$mode"
	ncpu=$(grep -l '"process_cpu"' "$DIR"/*.json 2>/dev/null | wc -l)
	noff=$(grep -l '"latscope_off_cpu"' "$DIR"/*.json 2>/dev/null | wc -l)
	check "$mode: CPU and off-CPU profiles received ($ncpu and $noff)" test "$ncpu" -ge 2 -a "$noff" -ge 2
	dropped=$(grep -c 'dropped' "$TMP/export-$mode.err" || true)
	check "$mode: export dropped no profile, as the receiver took each ($dropped dropped)" test "$dropped" -eq 0
	bad=0
	for j in "$DIR"/*.json; do
		raw "${j%.json}.pb.gz" | grep -q '^PeriodType: cpu nanoseconds' || bad=$((bad + 1))
	done
	check "$mode: every profile parses with go tool pprof -raw ($bad do not)" test "$bad" -eq 0
	labels_ok() {
		jq -e -s --arg pid "$H2SERVER_PID" --arg host "$(hostname)" 'all(.[]; .service_name == "h2server" and
			.pid == $pid and .comm == "h2server" and .hostname == $host)' "$DIR"/*.json > /dev/null
	}
	check "$mode: series labelled service_name, pid, comm, hostname" labels_ok
	total=0 burnt=0
	for j in $(grep -l '"process_cpu"' "$DIR"/*.json); do
		total=$((total + $(cpu_ns "${j%.json}.pb.gz")))
		burnt=$((burnt + $(cpu_ns "${j%.json}.pb.gz" burn_cpu)))
	done
	check "$mode: CPU in the samples of all intervals, $((total / 1000000)) ms ($((burnt / 1000000)) ms in burn_cpu), is the server's $((CPU / 1000000)) ms (35%)" \
		within "$total" "$CPU" 0.35
	slow=0
	for j in $(grep -l '"process_cpu"' "$DIR"/*.json); do
		raw "${j%.json}.pb.gz" | grep -q 'slow:\[yes\]' && slow=$((slow + 1))
	done
	phase=$(for j in $(grep -l '"process_cpu"' "$DIR"/*.json); do raw "${j%.json}.pb.gz"; done | grep -c 'phase:\[app\]' || true)
	check "$mode: samples keep their labels (phase:[app] $phase times, slow:[yes] in $slow profiles)" \
		test "$phase" -gt 0 -a "$slow" -gt 0
done
check "legacy: the receiver without the push API got the profiles through /ingest" \
	grep -q 'POST /ingest?name=process_cpu' "$TMP/recv-legacy.err"
assert_no_probes
