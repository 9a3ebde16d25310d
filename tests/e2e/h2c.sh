#!/usr/bin/env bash
# Plaintext HTTP/2 (h2c) from socket syscalls, no TLS anywhere: the example server
# (--plain), grpc-go without credentials (-insecure), nghttpd --no-tls and Node.js
# http2.createServer (--plain 1), each loaded by h2load with prior knowledge
# (http://) on one connection and on four multiplexed ones (grpc-go's slow calls come from
# its own client, which reports the delay the handler measured). Every request is counted
# exactly once under its method (named by HPACK in user space, from the bytes the
# syscall reader fed the walk), every connection is recognised by its preface, and
# where a route sleeps a known time the app phase finds it.
. "$(dirname "$0")/../lib.sh"
# h2load at full speed, every request counted: trace everything. Where a probe hit costs
# ~5 us (another host of this kind), grpc-go's runs are past the default budget and
# windows would rightly see a share of them.
export LATSCOPE_OVERHEAD=off

N=${N:-200}          # requests of each fast run
NS=${NS:-100}        # requests of the slow run
SLOW_MS=${SLOW_MS:-20}
TARGETS=${TARGETS:-h2server gogrpc node nghttpd tls} # a subset for a slow machine (the 6.1 VM)
# The app phase's tolerance. Under software emulation (the 6.1 VM) a runtime's own work
# around the delay (Go's goroutine handoffs, Node's event loop) takes milliseconds and
# varies between routes, so a VM run widens it.
APP_TOL=${APP_TOL:-0.05}
want() { [[ " $TARGETS " == *" $1 "* ]]; }
for c in h2load nghttpd node; do
	command -v "$c" > /dev/null || fail "$c not installed (see deps/packages.txt)"
done

# run_load URL C M N: h2load with prior knowledge; every request must succeed.
run_load() {
	h2load -n "$4" -c "$2" -m "$3" -t 1 "${H2C_LOAD_ARGS[@]}" "$1" > "$TMP/h2load.txt" 2>&1 ||
		{ cat "$TMP/h2load.txt"; fail "h2load -c $2 -m $3 $1 failed"; }
	grep -q "^requests: $4 total, $4 started, $4 done, $4 succeeded" "$TMP/h2load.txt" ||
		{ cat "$TMP/h2load.txt"; fail "h2load: not every request to $1 succeeded"; }
}

# The slow run's load and the delay each target measured it injected (ns): the example
# server's and Node.js's own account (SIGUSR1), grpc-go's client's. One request in flight on
# each of 4 connections: replies due together on a connection share its writes, and a
# request ends with its batch's last (as the client sees it), which a median of single
# delays does not hold; 40 at once took 1-2 ms over it here.
slow_h2load() { run_load "$1" 4 1 "$NS"; }
slow_gogrpc() { # 100 calls from 4 callers on 4 connections; the client prints the handler's own delay
	"$ROOT/build/examples/gogrpc-client" -insecure -addr "127.0.0.1:$PORT" -mix Slow -c 4 -n $((NS / 4)) -conns 4 \
		> "$TMP/client.txt" 2>&1 || { cat "$TMP/client.txt"; fail "gogrpc-client failed"; }
	grep -q "^Slow ok $NS failed 0" "$TMP/client.txt" || { cat "$TMP/client.txt"; fail "gogrpc-client: not every call succeeded"; }
}
truth_gogrpc() { sed -n 's/^slow_handler_ns_p50 //p' "$TMP/client.txt"; }
truth_node() { server_stats nodeh2 "$SERVER_PID" | jq -r .slow_delay_ns.p50; }
truth_h2server() { server_stats h2server "$SERVER_PID" | jq -r .slow_delay_ns.p50; }

# check_target NAME PID BASE FAST SLOW|- [SLOW_LOAD TRUTH]: trace PID under the loads and check what it reported.
check_target() {
	local name=$1 pid=$2 base=$3 fast=$4 slow=$5 load=${6:-slow_h2load} truth=${7:-}
	local T=$TMP/$1.json n_fast n_slow n_all conns
	start_trace "$T" -p "$pid" --json --all -d 80
	run_load "$base$fast" 1 1 "$N"
	run_load "$base$fast" 4 10 "$N"
	conns=5
	if [[ $slow != - ]]; then
		"$load" "$base$slow"
		conns=9
		want=$("$truth")
	fi
	sleep 0.5 # the server's close() of the last connection, after the client's
	kill -INT "$TRACE_PID"
	wait_trace
	[[ $TRACE_RC == 0 ]] || { cat "$T.err"; fail "$name: trace exited with $TRACE_RC"; }
	# What a failure needs to be read: the requests per method and the counters.
	echo "$name: $(jq -sc '[.[] | select(.type=="request") | .method] | group_by(.) | map({(.[0]): length}) | add' "$T")" \
		"$(jq -c 'select(.type=="summary") | .counters | with_entries(select(.value != 0))' "$T")"
	n_fast=$(jq -s --arg m "$fast" '[.[] | select(.type=="request" and .method==$m)] | length' "$T")
	n_all=$(jq -s '[.[] | select(.type=="request")] | length' "$T")
	check "$name: $fast requests ($n_fast) = h2load's $((2 * N))" test "$n_fast" -eq $((2 * N))
	if [[ $slow != - ]]; then
		n_slow=$(jq -s --arg m "$slow" '[.[] | select(.type=="request" and .method==$m)] | length' "$T")
		check "$name: $slow requests ($n_slow) = h2load's $NS" test "$n_slow" -eq "$NS"
		check "$name: no other request ($n_all)" test "$n_all" -eq $((2 * N + NS))
		jq -r --arg m "$slow" 'select(.type=="request" and .method==$m) | .phases.app' "$T" > "$TMP/app"
		jq -r --arg m "$fast" 'select(.type=="request" and .method==$m) | .phases.app' "$T" > "$TMP/app_fast"
		app50=$(pct "$TMP/app" 0.5)
		fast50=$(pct "$TMP/app_fast" 0.5)
		# app holds the injected delay, as the handler measured it where it does (a timer
		# fires late on a busy machine, never early), and the server's own work around it,
		# which the fast route measures (grpc-go hands each request from goroutine to
		# goroutine): the delay <= app <= the delay + the fast route's app, within APP_TOL.
		check "$name: $slow app p50 $((app50 / 1000))us within $APP_TOL of the injected $((want / 1000))us (+ $fast's app $((fast50 / 1000))us)" \
			awk -v a="$app50" -v d="$want" -v f="$fast50" -v t="$APP_TOL" 'BEGIN { exit !(a >= d * (1 - t) && a <= (d + f) * (1 + t)) }'
	else
		check "$name: no other request ($n_all)" test "$n_all" -eq $((2 * N))
	fi
	h2c=$(jq -r 'select(.type=="summary") | .counters.h2c_connections' "$T")
	check "$name: h2c connections recognised ($h2c) = h2load's $conns" test "$h2c" -eq "$conns"
	for k in unmatched_responses h2_desync request_table_full batch_full syscall_iovecs_cut; do
		v=$(jq -r "select(.type==\"summary\") | .counters.$k" "$T")
		check "$name: $k is 0 ($v)" test "$v" -eq 0
	done
	# Closed connections leave nothing behind in the kernel: their framing state goes at
	# close() (sio_socks keeps the fds still open that are no socket: a timerfd, an eventfd).
	# User space's HPACK contexts go on the LS_HD_FRESH record then, or, when a record of
	# the connection raced its close on another CPU (grpc-go writes and closes from two
	# goroutines), when the connection has been idle for a few rounds: not checked here.
	left=$(jq -r 'select(.type=="summary") | .tables.maps[] | select(.name=="conns") | .entries' "$T")
	check "$name: no framing state left of the closed connections (conns: $left)" test "$left" -eq 0
	# app is the remainder, so phases that exceed the total are flagged overlap, never hidden.
	# Go's framer may wait, parked, before a read latscope cannot tie to it (the first reads
	# of a connection run on the goroutine that accepted it): as in go_grpc.sh, a few may.
	bad=$(jq -s '[.[] | select(.type=="request") | (.phases | add) as $s | select(($s - .total_ns | fabs) > ([.total_ns * 0.01, 2000] | max))] | length' "$T")
	unflagged=$(jq -s '[.[] | select(.type=="request" and .overlap != true) | (.phases | add) as $s | select(($s - .total_ns | fabs) > ([.total_ns * 0.01, 2000] | max))] | length' "$T")
	check "$name: phases add up to the total for >= 99% of requests ($bad of $n_all do not, all flagged overlap)" \
		test $((bad * 100)) -le "$n_all" -a "$unflagged" -eq 0
	# Plaintext: the syscalls' kernel time is the network phases, and no TLS time is made up.
	nin=$(jq -s '[.[] | select(.type=="request" and .phases.net_in > 0 and .phases.net_out > 0)] | length' "$T")
	check "$name: net_in and net_out > 0 for most requests ($nin of $n_all)" test "$nin" -ge $((n_all * 9 / 10))
	tls=$(jq -s '[.[] | select(.type=="request" and (.phases.tls_in > 0 or .phases.tls_out > 0))] | length' "$T")
	check "$name: no TLS time on a plaintext request ($tls)" test "$tls" -eq 0
	# nghttp2's output time ends at the socket write its frames go out in (grpc-go's is Go's own).
	if [[ $name != gogrpc ]]; then
		h2o=$(jq -s '[.[] | select(.type=="request" and .phases.h2_out > 0)] | length' "$T")
		check "$name: h2_out > 0 for most requests, ended at the write syscall ($h2o of $n_all)" \
			test "$h2o" -ge $((n_all * 9 / 10))
	fi
	kill "$pid"
}

# gRPC over h2load: one length-prefixed message, and gRPC's headers.
"$ROOT/build/examples/grpcbody" -o "$TMP/empty.bin"
GRPC_ARGS=(-d "$TMP/empty.bin" -H 'content-type: application/grpc' -H 'te: trailers')

if want h2server; then
	H2C_LOAD_ARGS=("${GRPC_ARGS[@]}")
	start_listener h2server "$ROOT/build/examples/h2server" --plain -p 0 --method "Slow:sleep=$SLOW_MS"
	# probes says which protocol paths a trace would follow: here all three.
	"$LATSCOPE" probes -p "$SERVER_PID" --json > "$TMP/p.json" 2> /dev/null
	check "probes: syscall reader, HTTP/2 library and TLS library paths active" \
		test "$(jq -r '[.paths.syscall_reader.active, .paths.http2_library.active, .paths.tls.active] | join(",")' "$TMP/p.json")" = "true,true,true"
	LATSCOPE_TEST_REJECT=sockio "$LATSCOPE" probes -p "$SERVER_PID" --json > "$TMP/p.json" 2> /dev/null
	off=$(jq -r '"\(.paths.syscall_reader.active) \(.paths.syscall_reader.why)"' "$TMP/p.json")
	check "probes: a refused syscall reader is off, with the verifier's reason ($off)" grep -q '^false refused: sio_exit: ' <<< "$off"
	check_target h2server "$SERVER_PID" "http://127.0.0.1:$PORT" /latscope.example.Echo/Fast /latscope.example.Echo/Slow \
		slow_h2load truth_h2server
fi

if want gogrpc; then
	H2C_LOAD_ARGS=("${GRPC_ARGS[@]}")
	start_listener gogrpc "$ROOT/build/examples/gogrpc-server" -insecure -slow-ms "$SLOW_MS"
	check_target gogrpc "$SERVER_PID" "http://127.0.0.1:$PORT" /latscope.gogrpc.Echo/Fast /latscope.gogrpc.Echo/Slow \
		slow_gogrpc truth_gogrpc
fi

if want node; then
	H2C_LOAD_ARGS=()
	start_listener nodeh2 node "$ROOT/tests/progs/nodeh2/server.js" --plain 1 --slow-ms "$SLOW_MS"
	check_target node "$SERVER_PID" "http://127.0.0.1:$PORT" /fast /slow slow_h2load truth_node
fi

if want nghttpd; then
	H2C_LOAD_ARGS=()
	mkdir -p "$TMP/doc"
	head -c 100 /dev/zero | tr '\0' x > "$TMP/doc/index.html"
	PORT=$(free_port)
	nghttpd --no-tls -a 127.0.0.1 -d "$TMP/doc" "$PORT" > /dev/null 2>&1 &
	NGHTTPD_PID=$!
	PIDS_TO_KILL+=("$NGHTTPD_PID")
	wait_port "$PORT"
	check_target nghttpd "$NGHTTPD_PID" "http://127.0.0.1:$PORT" /index.html -
fi

# The same server over TLS: its sockets' first bytes are a TLS record, so the syscall
# reader leaves them alone (ciphertext never reaches the walk) and the uprobes count alone.
if want tls; then
	start_h2server
	start_trace "$TMP/tls.json" -p "$H2SERVER_PID" --json --all -d 60
	grpc_load Fast "$N" -c 4 -m 10 -t 1 > "$TMP/h2load.txt" 2>&1 || { cat "$TMP/h2load.txt"; fail "h2load over TLS failed"; }
	kill -INT "$TRACE_PID"
	wait_trace
	ntls=$(jq -s '[.[] | select(.type=="request" and .method=="/latscope.example.Echo/Fast")] | length' "$TMP/tls.json")
	h2c=$(jq -r 'select(.type=="summary") | .counters.h2c_connections' "$TMP/tls.json")
	check "TLS: every request counted once ($ntls of $N) and no connection taken for h2c ($h2c)" test "$ntls" -eq "$N" -a "$h2c" -eq 0
fi
assert_no_probes
