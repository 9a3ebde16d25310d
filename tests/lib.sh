# Shared helpers for latscope's end-to-end tests (bash). Source it from a test:
#   . "$(dirname "$0")/../lib.sh"
# A test prints what it checks, exits 0 on success and non-zero on the first failure.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
LATSCOPE=$ROOT/build/latscope
TMP=$(mktemp -d /tmp/latscope-test.XXXXXX)
PIDS_TO_KILL=()
# The kernel hook a test run uses: auto here, forced by the VM runs.
KHOOK=${LATSCOPE_KHOOK:-auto}
# latscope runs with its default overhead budget (5%): below it the probes stay attached
# and every request counts, so the tests that count exactly at a light load hold under it.
# A test that counts every request at a load where full tracing would cost more than the
# budget on a host whose probe hits cost ten times more says so itself (export
# LATSCOPE_OVERHEAD=off, and why): run with LATSCOPE_OVERHEAD=0.5, such a test fails.

# LATSCOPE_TEST_KEEP=1 keeps a failed test's files (traces, logs) and says where.
cleanup() {
	local rc=$? p
	# Only the test's own shell: a child forked for a background command runs this trap
	# when a signal reaches it before it has exec'd (bash's fatal-signal handler), and
	# would remove the test's files under it.
	[[ $BASHPID == "$$" ]] || return 0
	for p in "${PIDS_TO_KILL[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${PIDS_TO_KILL[@]}"; do wait "$p" 2>/dev/null || true; done
	if ((rc != 0)) && [[ ${LATSCOPE_TEST_KEEP:-} == 1 ]]; then
		echo "kept: $TMP" >&2
	else
		rm -rf "$TMP"
	fi
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
pass() { echo "ok - $*"; }
check() { # check DESCRIPTION COMMAND...: run COMMAND, fail with DESCRIPTION if it fails
	local what=$1; shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}

# tracefs is where legacy probes would show; mount it if nobody did.
ensure_tracefs() {
	[[ -e /sys/kernel/tracing/uprobe_events ]] || mount -t tracefs tracefs /sys/kernel/tracing 2>/dev/null || true
}

# The names of latscope's BPF programs, as the kernel shows them (15 characters),
# read from the built object so that a new program is covered without editing a list.
latscope_prog_names() {
	readelf -sW "$ROOT/build/bpf/latscope.bpf.o" | awk '$4 == "FUNC" && $5 == "GLOBAL" { print substr($8, 1, 15) }' | sort -u | paste -sd'|'
}

# No BPF program of latscope loaded, no legacy uprobe or kprobe left.
assert_no_probes() {
	local left i held list names
	ensure_tracefs
	names=$(latscope_prog_names)
	[[ -n $names ]] || fail "no program names in $ROOT/build/bpf/latscope.bpf.o"
	# Programs are freed after an RCU grace period once their last fd closes: allow 3 s.
	# A program some live process still holds (another latscope run on this machine)
	# is not a leak: a leaked one is held by the kernel alone.
	for i in $(seq 30); do
		# Processes exit while they are read: cat's failure there is not the test's.
		held=$({ cat /proc/[0-9]*/fdinfo/* 2>/dev/null || true; } | sed -n 's/^prog_id:[[:space:]]*//p' | sort -u | tr '\n' ' ')
		list=$(bpftool -j prog list 2>/dev/null || true)
		# A program unloaded mid-listing makes bpftool print an error object: list again.
		if ! jq -e 'type == "array"' <<< "$list" > /dev/null 2>&1; then
			left="(bpftool prog list failed)"
			sleep 0.1
			continue
		fi
		left=$(jq -r --arg held " $held" --arg names "^($names)\$" '.[] | objects
			| select(.name? // "" | test($names))
			| select(.id as $id | $held | contains(" \($id) ") | not) | "\(.id):\(.name)"' <<< "$list" | tr '\n' ' ')
		[[ -z $left ]] && break
		sleep 0.1
	done
	[[ -z $left ]] || fail "latscope BPF programs still loaded after exit: $left"
	if [[ -s /sys/kernel/tracing/uprobe_events ]] && grep -q latscope /sys/kernel/tracing/uprobe_events; then
		fail "legacy uprobes left in tracefs: $(cat /sys/kernel/tracing/uprobe_events)"
	fi
	if [[ -s /sys/kernel/tracing/kprobe_events ]] && grep -q tcp_ /sys/kernel/tracing/kprobe_events; then
		fail "legacy kprobes left in tracefs"
	fi
	pass "no latscope probe left in the kernel${1:+ ($1)}"
}

# A throwaway self-signed certificate (never committed).
make_cert() {
	[[ -s $TMP/cert.pem ]] && return
	openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost \
		-addext subjectAltName=IP:127.0.0.1,DNS:localhost \
		-keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_port() { # wait_port PORT: until something listens on 127.0.0.1:PORT (10 s)
	local i
	for i in $(seq 100); do
		(exec 3<>/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0
		sleep 0.1
	done
	fail "nothing listens on port $1"
}

# start_nghttpd: sets NGHTTPD_PID and PORT; serves $TMP/doc over TLS + h2.
start_nghttpd() {
	make_cert
	mkdir -p "$TMP/doc"
	head -c "${1:-100}" /dev/zero | tr '\0' x > "$TMP/doc/index.html"
	PORT=$(free_port)
	nghttpd -a 127.0.0.1 -d "$TMP/doc" "$PORT" "$TMP/key.pem" "$TMP/cert.pem" >/dev/null 2>&1 &
	NGHTTPD_PID=$!
	PIDS_TO_KILL+=("$NGHTTPD_PID")
	wait_port "$PORT"
}

# wait_line PID FILE PATTERN WHAT: until FILE (a latscope command's stderr) has a line
# matching PATTERN, 30 s at most; the command (PID) exiting first fails at once.
wait_line() {
	local pid=$1 file=$2 pattern=$3 what=$4 i
	for i in $(seq 300); do
		grep -q "$pattern" "$file" 2>/dev/null && return 0
		kill -0 "$pid" 2>/dev/null || { cat "$file" >&2; fail "$what exited early"; }
		sleep 0.1
	done
	cat "$file" >&2
	fail "$what did not attach within 30 s"
}

# start_trace OUT ARGS...: latscope trace in the background; sets TRACE_PID.
# Returns once latscope has attached (its -v line on stderr), so load that follows is seen.
start_trace() {
	local out=$1; shift
	# Emptied here, not only by the background redirection: a file left by an earlier
	# trace would show its 'attached' line before this one has started.
	: > "$out"; : > "$out.err"
	"$LATSCOPE" trace --kernel-hook "$KHOOK" -v "$@" > "$out" 2> "$out.err" &
	TRACE_PID=$!
	PIDS_TO_KILL+=("$TRACE_PID")
	wait_line "$TRACE_PID" "$out.err" 'uprobes attached' "latscope trace"
}

# wait_export LOG [WHAT]: until the latscope export running as EXP_PID says in LOG that it
# attached (30 s; it exiting first fails at once); sets MPORT to its /metrics port.
wait_export() {
	local log=$1 what=${2:-latscope export} i
	for i in $(seq 300); do
		grep -q 'latscope: attached:' "$log" && break
		kill -0 "$EXP_PID" 2>/dev/null || break
		sleep 0.1
	done
	grep -q 'latscope: attached:' "$log" || { cat "$log" >&2; fail "$what did not attach within 30 s"; }
	MPORT=$(sed -n 's|.* listening: http://127.0.0.1:\([0-9]*\)/metrics$|\1|p' "$log")
}

wait_trace() { # wait_trace: until latscope trace exits; its status in TRACE_RC
	TRACE_RC=0
	wait "$TRACE_PID" || TRACE_RC=$?
}

# stop_trace OUT: interrupt the latscope trace started by start_trace OUT, fail unless it
# exits with 0, and set S to the summary record of its JSON output.
stop_trace() {
	kill -INT "$TRACE_PID"; wait_trace
	[[ $TRACE_RC == 0 ]] || { cat "$1.err" >&2; fail "trace exited with $TRACE_RC"; }
	S=$(jq -c 'select(.type == "summary")' "$1")
	# For the log: whether the budget held its probes on all along (an exact count needs it).
	jq -r 'if .overhead.budget_pct then "trace: overhead \(.overhead.measured_pct)% of a \(.overhead.budget_pct)% budget, lowest duty \(.overhead.duty_min), sampled share \(.sampled_share)" else "trace: no budget (--overhead off)" end' <<< "$S"
}

# start_ready NAME COMMAND...: start a test program that prints "ready" once set up, its
# output in $TMP/NAME.out and $TMP/NAME.err; sets READY_PID and stops it at exit.
start_ready() {
	local name=$1 i; shift
	"$@" > "$TMP/$name.out" 2> "$TMP/$name.err" &
	READY_PID=$!
	PIDS_TO_KILL+=("$READY_PID")
	for i in $(seq 100); do
		grep -q ready "$TMP/$name.out" && return 0
		kill -0 "$READY_PID" 2>/dev/null || break
		sleep 0.1
	done
	cat "$TMP/$name.err" >&2
	fail "$name did not start"
}

# size_classes TSV N MISS_PCT OTHER_PCT: the decode/encode checks of a test with two message
# sizes at once. TSV: one line per request, "small", "large" or "other" (its size class),
# its decode ns, its encode ns. Checks that N of each class and no other were reported,
# that a large decode and encode take 10x a small one (medians), that at most MISS_PCT%
# of requests lack either and at most OTHER_PCT% got the other class's (a decode or
# encode on the other side of the geometric mean of the two medians).
size_classes() {
	local tsv=$1 n=$2 miss=$3 other=$4 ns nl no ds dl es el dcut ecut d0 e0 dw ew total=$(($2 * 2))
	ns=$(awk '$1=="small"' "$tsv" | wc -l) nl=$(awk '$1=="large"' "$tsv" | wc -l) no=$(awk '$1=="other"' "$tsv" | wc -l)
	check "every RPC counted once with its method: $ns small = $n, $nl large = $n ($no of neither size)" \
		test "$ns" -eq "$n" -a "$nl" -eq "$n" -a "$no" -eq 0
	p50() { awk -v c="$1" -v k="$2" '$1 == c && $k > 0 { print $k }' "$tsv" > "$TMP/col"; pct "$TMP/col" 0.5; }
	ds=$(p50 small 2) dl=$(p50 large 2) es=$(p50 small 3) el=$(p50 large 3)
	echo "decode p50: small $ds ns, large $dl ns; encode p50: small $es ns, large $el ns"
	check "the classes are told apart: large decode p50 >= 10x small ($dl vs $ds), encode too ($el vs $es)" \
		test "$ds" -gt 0 -a "$dl" -ge $((ds * 10)) -a "$es" -gt 0 -a "$el" -ge $((es * 10))
	read -r dcut ecut <<< "$(awk -v a="$ds" -v b="$dl" -v c="$es" -v d="$el" 'BEGIN { printf "%d %d\n", sqrt(a * b), sqrt(c * d) }')"
	read -r d0 e0 dw ew <<< "$(awk -v dc="$dcut" -v ec="$ecut" '
		$2 == 0 { d0++ } $3 == 0 { e0++ }
		($1 == "small" && $2 > dc) || ($1 == "large" && $2 > 0 && $2 < dc) { dw++ }
		($1 == "small" && $3 > ec) || ($1 == "large" && $3 > 0 && $3 < ec) { ew++ }
		END { printf "%d %d %d %d\n", d0, e0, dw, ew }' "$tsv")"
	echo "without decode: $d0, without encode: $e0, decode of the other size: $dw, encode of the other size: $ew"
	check "decode > 0 and encode > 0 for all but $miss% of RPCs ($d0 and $e0 of $total without)" \
		test $((d0 * 100)) -le $((total * miss)) -a $((e0 * 100)) -le $((total * miss))
	check "decodes and encodes of the other size class: at most $other% ($dw and $ew of $total)" \
		test $((dw * 100)) -le $((total * other)) -a $((ew * 100)) -le $((total * other))
}

# start_listener NAME COMMAND...: start a server that prints "listening on 127.0.0.1:PORT";
# sets SERVER_PID and PORT, and stops it at exit.
start_listener() {
	local name=$1 i; shift
	# Made here, not only by the background redirection: on a busy machine the child may not
	# have opened them yet when the loop below first reads.
	: > "$TMP/$name.out"; : > "$TMP/$name.err"
	"$@" > "$TMP/$name.out" 2> "$TMP/$name.err" &
	SERVER_PID=$!
	PIDS_TO_KILL+=("$SERVER_PID")
	for i in $(seq 100); do
		PORT=$(sed -n 's/^listening on 127.0.0.1:\([0-9]*\)$/\1/p' "$TMP/$name.out")
		[[ -n $PORT ]] && return 0
		sleep 0.1
	done
	cat "$TMP/$name.err" >&2
	fail "$name did not start"
}

# start_h2server ARGS...: the example gRPC server on a free port; sets H2SERVER_PID and PORT.
start_h2server() {
	make_cert
	start_listener h2server "$ROOT/build/examples/h2server" --cert "$TMP/cert.pem" --key "$TMP/key.pem" -p 0 "$@"
	H2SERVER_PID=$SERVER_PID
}

# echo_load SECS RPS SERVICE [H2LOAD-OPTION...]: a moderate load on the Echo service of the
# server on PORT, in the background (LOAD_PID): RPS requests/s over 4 long-lived connections,
# Fast and Slow in turn, empty messages; h2load's output in $TMP/load.txt.
echo_load() {
	local secs=$1 rps=$2 svc=$3
	shift 3
	[[ -s $TMP/empty.bin ]] || "$ROOT/build/examples/grpcbody" -o "$TMP/empty.bin"
	h2load -D "$secs" -c 4 -m 4 -t 1 --rps $((rps / 4)) -d "$TMP/empty.bin" "$@" \
		-H 'content-type: application/grpc' -H 'te: trailers' \
		"https://127.0.0.1:$PORT/$svc/Fast" "https://127.0.0.1:$PORT/$svc/Slow" > "$TMP/load.txt" 2>&1 &
	LOAD_PID=$!
	PIDS_TO_KILL+=("$LOAD_PID")
}

# server_stats NAME PID: a test server's own account, the JSON line it prints on SIGUSR1 to
# $TMP/NAME.out (the listener's output); fails when none comes within 5 s.
server_stats() {
	local out=$TMP/$1.out i
	kill -USR1 "$2"
	for i in $(seq 50); do
		grep -q '^{' "$out" && break
		sleep 0.1
	done
	grep '^{' "$out" | tail -1 | grep . || fail "$1 printed no statistics on SIGUSR1"
}

# grpc_load METHOD N ARGS...: h2load raw gRPC requests (empty message unless -d is given in ARGS).
grpc_load() {
	local method=$1 n=$2; shift 2
	[[ -s $TMP/empty.bin ]] || "$ROOT/build/examples/grpcbody" -o "$TMP/empty.bin"
	h2load -n "$n" -d "$TMP/empty.bin" -H 'content-type: application/grpc' -H 'te: trailers' "$@" \
		"https://127.0.0.1:$PORT/latscope.example.Echo/$method"
}

# pct FILE Q: the Q-quantile (0..1, nearest rank) of the numbers in FILE, one per line.
pct() {
	sort -n "$1" | awk -v q="$2" '{ v[NR] = $1 } END { if (!NR) { print 0; exit } r = int(q * NR + 0.999999); if (r < 1) r = 1; print v[r] }'
}

# within A B TOL: |A - B| <= TOL * B (floating point).
within() {
	awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t * b) }'
}

# start_gohttp2 ARGS...: the Go net/http h2 test server on a free port; sets GOHTTP2_PID and PORT.
start_gohttp2() {
	make_cert
	start_listener gohttp2 "$ROOT/build/progs/gohttp2" -cert "$TMP/cert.pem" -key "$TMP/key.pem" "$@"
	GOHTTP2_PID=$SERVER_PID
}

# start_gogrpc [-stripped] ARGS...: the example Go gRPC server on a free port (its stderr,
# where SIGQUIT's stack dump goes, in $TMP/gogrpc.err); sets GOGRPC_PID and PORT.
start_gogrpc() {
	local bin=$ROOT/build/examples/gogrpc-server
	[[ ${1:-} == -stripped ]] && { bin=$bin-stripped; shift; }
	make_cert
	start_listener gogrpc "$bin" -cert "$TMP/cert.pem" -key "$TMP/key.pem" "$@"
	GOGRPC_PID=$SERVER_PID
}

# gogrpc_client ARGS...: the example Go gRPC client against $PORT (prints "METHOD ok N failed M" lines).
gogrpc_client() {
	"$ROOT/build/examples/gogrpc-client" -addr "127.0.0.1:$PORT" -ca "$TMP/cert.pem" "$@"
}

# map_id PID NAME: the id of the BPF map NAME the latscope process PID holds open
# (other latscope runs on the machine have maps of that name too).
map_id() {
	local id
	for id in $({ cat /proc/"$1"/fdinfo/* 2>/dev/null || true; } | sed -n 's/^map_id:[[:space:]]*//p' | sort -un); do
		if [[ $(bpftool -j map show id "$id" 2>/dev/null | jq -r .name) == "$2" ]]; then
			echo "$id"
			return 0
		fi
	done
	fail "latscope (pid $1) holds no map named $2"
}

# map_entries PID NAME: the entries now in latscope's map NAME.
map_entries() {
	local id
	id=$(map_id "$1" "$2")
	bpftool -j map dump id "$id" | jq length
}

# counter PID INDEX: latscope's counter INDEX (enum ls_counter) now, summed over CPUs.
counter() {
	local id
	id=$(map_id "$1" counters)
	bpftool -j map lookup id "$id" key $(($2 & 255)) $(($2 >> 8 & 255)) 0 0 | jq '[.formatted.values[].value] | add'
}
