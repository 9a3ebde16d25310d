# The load and the checks tests/e2e/http1_*.sh share (bash, sourced after tests/lib.sh).
# SCHEME=http runs them over plain TCP (the syscall reader), else over TLS.
SCHEME=${SCHEME:-https}

# h1_keepalive URL N PATH...: N requests cycling through PATHs on one curl connection;
# "status connects" per answer in $TMP/curl.txt.
h1_keepalive() {
	local url=$1 n=$2 i p
	shift 2
	: > "$TMP/k.txt"
	for ((i = 0; i < n; i += $#)); do
		for p; do printf 'url = "%s%s"\noutput = /dev/null\n' "$url" "$p" >> "$TMP/k.txt"; done
	done
	curl -sk --http1.1 -K "$TMP/k.txt" -w '%{http_code} %{num_connects}\n' > "$TMP/curl.txt" ||
		fail "curl keep-alive run failed"
}

# h1_ab URL N: ab -k, N requests on 4 keep-alive connections, every one answered.
h1_ab() {
	ab -k -n "$2" -c 4 "$1" > "$TMP/ab.txt" 2>&1 || { cat "$TMP/ab.txt"; fail "ab failed"; }
	grep -q "^Complete requests: *$2$" "$TMP/ab.txt" && grep -q "^Failed requests: *0$" "$TMP/ab.txt" &&
		grep -q "^Keep-Alive requests: *$2$" "$TMP/ab.txt" || { cat "$TMP/ab.txt"; fail "ab: not all $2 kept alive and answered"; }
	pass "ab -k: $2 requests on 4 keep-alive connections"
}

# h1_pipelined PORT ROUNDS EXPECTED METHOD:PATH...: two connections, ROUNDS batches each
# written at once; EXPECTED is the JSON object of responses per "METHOD PATH STATUS".
h1_pipelined() {
	local port=$1 rounds=$2 want=$3 got
	shift 3
	got=$(PLAIN=$([[ $SCHEME == http ]] && echo 1) python3 "$ROOT/tests/progs/http1/pipeline.py" "$port" 2 "$rounds" "$@") ||
		fail "pipelined client failed"
	echo "pipelined: $got"
	check "pipelined: each of the $((2 * rounds * $#)) requests answered as expected" \
		test "$(jq -Sc .responses <<< "$got")" = "$(jq -Sc . <<< "$want")"
}

# h1_count FILE METHOD PATH STATUS: requests traced so.
h1_count() {
	jq -s --arg m "$2" --arg p "$3" --argjson s "$4" \
		'[.[] | select(.type=="request" and .http_method==$m and .method==$p and .status==$s)] | length' "$1"
}

# h1_common FILE WANT ROUNDS: what every HTTP/1 trace here must show: WANT requests, all
# http/1.1, framing kept, no HTTP/2 phase, phases adding up and measured, and pipelined
# batches of 6 whose 2nd request was HEAD numbered in order on each of two connections.
h1_common() {
	local t=$1 want=$2 rounds=$3 nall counters n bad got addsup
	nall=$(jq -s '[.[] | select(.type=="request")] | length' "$t")
	counters=$(jq -c 'select(.type=="summary") | .counters' "$t")
	echo "counters: $counters"
	check "no records dropped" test "$(jq -r 'select(.type=="summary") | .dropped' "$t")" -eq 0
	check "requests reported ($nall) = requests made ($want)" test "$nall" -eq "$want"
	check "every request is protocol http/1.1" \
		test "$(jq -s '[.[] | select(.type=="request" and .protocol=="http/1.1")] | length' "$t")" -eq "$nall"
	for c in h1_desync unmatched_responses h2_desync; do
		check "counters: $c is 0 ($(jq ".$c" <<< "$counters"))" test "$(jq ".$c" <<< "$counters")" -eq 0
	done
	# The two connections, one after the other, may have had the same SSL object: streams by value.
	got=$(jq -s -c '[.[] | select(.type=="request" and .http_method=="HEAD") | .stream] | sort' "$t")
	check "pipelined: on each connection, HEAD was the 2nd of each batch of 6 (streams 2, 8, ...)" \
		test "$got" = "$(jq -nc --argjson n "$rounds" '[range(0; $n) | . * 6 + 2, . * 6 + 2] | sort')"
	check "pipelined: requests read together say so (shared > 1)" \
		test "$(jq -s '[.[] | select(.type=="request" and .http_method=="HEAD" and .shared > 1)] | length' "$t")" -ge 1
	check "no h2_in/h2_out/decode/encode time on any request" test "$(jq -s '[.[] | select(.type=="request") |
		select(.phases.h2_in + .phases.h2_out + .phases.decode + .phases.encode > 0)] | length' "$t")" -eq 0
	addsup='select(.type=="request") | select(.overlap == true or ((.phases | add) - .total_ns | fabs) > ([.total_ns * 0.01, 2000] | max))'
	bad=$(jq -s "[.[] | $addsup] | length" "$t")
	# (head closes the pipe early: under pipefail jq's SIGPIPE must not end the test before its check)
	((bad == 0)) || jq -c "$addsup" "$t" | head -5 || true
	check "phases add up to the total for every request ($bad do not)" test "$bad" -eq 0
	if [[ $SCHEME == http ]]; then
		# Read from the socket syscalls: no TLS, the syscalls' kernel time.
		n=$(jq -s '[.[] | select(.type=="request" and .phases.tls_in == 0 and .phases.tls_out == 0 and .phases.net_in > 0 and .phases.net_out > 0)] | length' "$t")
		check "net_in and net_out measured, no TLS time, on every request ($n of $nall)" test "$n" -eq "$nall"
		return
	fi
	n=$(jq -s '[.[] | select(.type=="request" and .phases.tls_in > 0 and .phases.tls_out > 0 and .phases.net_out > 0)] | length' "$t")
	((n == nall)) || jq -c 'select(.type=="request" and (.phases.tls_in == 0 or .phases.tls_out == 0 or .phases.net_out == 0))
		| {conn, stream, method, total_ns, phases}' "$t" | head -3 || true
	check "tls_in, tls_out and net_out measured on every request ($n of $nall)" test "$n" -eq "$nall"
}

# h1_connections FILE N: one handshake per connection over TLS; over plain TCP, the syscall
# reader recognised each connection by its first request.
h1_connections() {
	local n
	if [[ $SCHEME == http ]]; then
		n=$(jq -r 'select(.type=="summary") | .counters.http1_plain_connections' "$1")
		check "plaintext HTTP/1 connections recognised ($n) = connections opened ($2)" test "$n" -eq "$2"
	else
		n=$(jq -r 'select(.type=="summary") | .handshakes' "$1")
		check "handshakes counted ($n) = connections opened ($2)" test "$n" -eq "$2"
	fi
}

# h1_slow_app FILE SERVER_P50_NS SLOW_MS WHO: /slow's app p50 within 5% of the delay WHO measured.
h1_slow_app() {
	local app50
	jq -r 'select(.type=="request" and .method=="/slow") | .phases.app' "$1" > "$TMP/slow_app"
	app50=$(pct "$TMP/slow_app" 0.5)
	check "/slow app p50 $((app50 / 1000))us within 5% of the $4's measured delay p50 $(($2 / 1000))us (injected $3 ms)" \
		within "$app50" "$2" 0.05
}
