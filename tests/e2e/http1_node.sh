#!/usr/bin/env bash
# HTTP/1.1 over TLS on Node.js's https module (tests/progs/nodehttps/server.js): OpenSSL is
# linked into the node executable, TLS runs over memory BIOs and the handshake inside
# SSL_read. Keep-alive (curl with many URLs, ab -k) and pipelined batches written at once
# (tests/progs/http1/pipeline.py): every request is reported once with its method, path and
# status as protocol http/1.1, chunked responses included; each connection's handshake is
# counted; /slow's app phase is the setTimeout delay the server measured.
. "$(dirname "$0")/../lib.sh"

SLOW_MS=${SLOW_MS:-50}   # /slow's setTimeout
NKEEP=${NKEEP:-80}       # URLs of the keep-alive curl run (a quarter each /fast, /chunked, /nope, /unavail)
NAB=${NAB:-1000}         # ab -k requests
NSLOW=${NSLOW:-20}       # /slow requests
ROUNDS=${ROUNDS:-10}     # pipelined batches per connection
command -v node > /dev/null || fail "node not installed: this test needs Node.js (Node 20 at /usr/bin/node here)"
command -v ab > /dev/null || fail "ab not installed (apache2-utils, see deps/packages.txt)"

make_cert
start_listener nodehttps node "$ROOT/tests/progs/nodehttps/server.js" --cert "$TMP/cert.pem" --key "$TMP/key.pem" \
	--slow-ms "$SLOW_MS"
NPID=$SERVER_PID
NPORT=$PORT
URL=https://127.0.0.1:$NPORT

start_trace "$TMP/t.json" -p "$NPID" --json --all -d 120

# ---- keep-alive: one curl, many URLs, one connection ---------------------------------------
: > "$TMP/k.txt"
for i in $(seq $((NKEEP / 4))); do
	for p in fast chunked nope unavail; do printf 'url = "%s/%s"\noutput = /dev/null\n' "$URL" "$p" >> "$TMP/k.txt"; done
done
curl -sk --http1.1 -K "$TMP/k.txt" -w '%{http_code} %{num_connects}\n' > "$TMP/curl.txt" ||
	fail "curl keep-alive run failed"
got=$(awk '{ n[$1]++; c += $2 } END { printf "%d %d %d %d", n[200], n[404], n[503], c }' "$TMP/curl.txt")
check "curl: $NKEEP answers (200 a half, 404 and 503 a quarter each) on one connection ($got)" \
	test "$got" = "$((NKEEP / 2)) $((NKEEP / 4)) $((NKEEP / 4)) 1"

# ---- ab -k: four keep-alive connections ----------------------------------------------------
ab -k -n "$NAB" -c 4 "$URL/fast" > "$TMP/ab.txt" 2>&1 || { cat "$TMP/ab.txt"; fail "ab failed"; }
grep -q "^Complete requests: *$NAB$" "$TMP/ab.txt" && grep -q "^Failed requests: *0$" "$TMP/ab.txt" &&
	grep -q "^Keep-Alive requests: *$NAB$" "$TMP/ab.txt" || { cat "$TMP/ab.txt"; fail "ab: not all $NAB kept alive and answered"; }
pass "ab -k: $NAB requests on 4 keep-alive connections"

# ---- pipelined batches: six requests in one write, over two connections ---------------------
python3 "$ROOT/tests/progs/http1/pipeline.py" "$NPORT" 2 "$ROUNDS" GET:/fast HEAD:/fast POST:/fast \
	GET:/chunked GET:/unavail GET:/nope > "$TMP/pipe.json" || fail "pipelined client failed"
P=$(cat "$TMP/pipe.json")
echo "pipelined: $P"
np=$((2 * ROUNDS))
check "pipelined: each of the $((6 * np)) requests answered as expected" test "$(jq -c .responses <<< "$P")" = \
	"$(jq -nc --argjson n "$np" '{"GET /fast 200": $n, "HEAD /fast 200": $n, "POST /fast 200": $n,
		"GET /chunked 200": $n, "GET /unavail 503": $n, "GET /nope 404": $n}')"

# ---- /slow, on one keep-alive connection ---------------------------------------------------
: > "$TMP/s.txt"
for i in $(seq "$NSLOW"); do printf 'url = "%s/slow"\noutput = /dev/null\n' "$URL" >> "$TMP/s.txt"; done
curl -sk --http1.1 -K "$TMP/s.txt" -w '%{http_code}\n' > "$TMP/slow.txt" || fail "curl /slow failed"
check "/slow: $NSLOW answers 200" test "$(grep -c '^200$' "$TMP/slow.txt")" -eq "$NSLOW"

S=$(server_stats nodehttps "$NPID")
kill -INT "$TRACE_PID"
wait_trace
[[ $TRACE_RC == 0 ]] || { cat "$TMP/t.json.err"; fail "trace exited with $TRACE_RC"; }
T=$TMP/t.json
echo "server: $S"
counters=$(jq -c 'select(.type=="summary") | .counters' "$T")
echo "counters: $counters"

# ---- every request once, with method, path and status --------------------------------------
count() { # count METHOD PATH STATUS: requests reported so
	jq -s --arg m "$1" --arg p "$2" --argjson s "$3" \
		'[.[] | select(.type=="request" and .http_method==$m and .method==$p and .status==$s)] | length' "$T"
}
nall=$(jq -s '[.[] | select(.type=="request")] | length' "$T")
want=$((NKEEP + NAB + 6 * np + NSLOW))
served=$(jq '[.answered[]] | add' <<< "$S")
check "the server answered $served = $want requests" test "$served" -eq "$want"
check "no records dropped" test "$(jq -r 'select(.type=="summary") | .dropped' "$T")" -eq 0
check "requests reported ($nall) = requests made ($want)" test "$nall" -eq "$want"
check "every request is protocol http/1.1" \
	test "$(jq -s '[.[] | select(.type=="request" and .protocol=="http/1.1")] | length' "$T")" -eq "$nall"
n=$(count GET /fast 200)
check "GET /fast 200: $n = $((NKEEP / 4)) + $NAB + $np" test "$n" -eq $((NKEEP / 4 + NAB + np))
n=$(count GET /chunked 200)
check "GET /chunked 200 (chunked, in three writes): $n = $((NKEEP / 4)) + $np" test "$n" -eq $((NKEEP / 4 + np))
n=$(count GET /nope 404)
check "GET /nope 404: $n = $((NKEEP / 4)) + $np" test "$n" -eq $((NKEEP / 4 + np))
n=$(count GET /unavail 503)
check "GET /unavail 503: $n = $((NKEEP / 4)) + $np, each an error" test "$n" -eq $((NKEEP / 4 + np)) -a \
	"$(jq -s '[.[] | select(.type=="request" and .status==503 and .error==true)] | length' "$T")" -eq "$n"
check "HEAD /fast 200 (a head without its body): $np" test "$(count HEAD /fast 200)" -eq "$np"
check "POST /fast 200 (its body skipped): $np" test "$(count POST /fast 200)" -eq "$np"
check "GET /slow 200: $NSLOW" test "$(count GET /slow 200)" -eq "$NSLOW"
check "no framing lost (h1_desync $(jq .h1_desync <<< "$counters"))" test "$(jq .h1_desync <<< "$counters")" -eq 0
check "no response without its request (unmatched_responses $(jq .unmatched_responses <<< "$counters"))" \
	test "$(jq .unmatched_responses <<< "$counters")" -eq 0
check "no HTTP/2 walk on these connections (h2_desync $(jq .h2_desync <<< "$counters"))" \
	test "$(jq .h2_desync <<< "$counters")" -eq 0
got=$(jq -s -c '[.[] | select(.type=="request" and .http_method=="HEAD") | .stream] | sort' "$T")
check "pipelined: on each connection, HEAD was the 2nd of each batch of 6 (streams 2, 8, ...)" \
	test "$got" = "$(jq -nc --argjson n "$ROUNDS" '[range(0; $n) | . * 6 + 2, . * 6 + 2] | sort')"

# ---- phases --------------------------------------------------------------------------------
check "no h2_in/h2_out/decode/encode time on any request" test "$(jq -s '[.[] | select(.type=="request") |
	select(.phases.h2_in + .phases.h2_out + .phases.decode + .phases.encode > 0)] | length' "$T")" -eq 0
addsup='select(.type=="request") | select(.overlap == true or ((.phases | add) - .total_ns | fabs) > ([.total_ns * 0.01, 2000] | max))'
bad=$(jq -s "[.[] | $addsup] | length" "$T")
((bad == 0)) || jq -c "$addsup" "$T" | head -5
check "phases add up to the total for every request ($bad do not)" test "$bad" -eq 0
n=$(jq -s '[.[] | select(.type=="request" and .phases.tls_in > 0 and .phases.tls_out > 0 and .phases.net_out > 0)] | length' "$T")
check "tls_in, tls_out and net_out measured on every request ($n of $nall)" test "$n" -eq "$nall"
# Over memory BIOs a request's receive is matched by thread and time: the handshake's and a
# closed connection's are not, so no request starts long before it was sent (none of these
# waits; the slowest here take a few ms on a loaded machine, 50 ms is a wide margin).
n=$(jq -s '[.[] | select(.type=="request" and .method != "/slow" and .total_ns > 50000000)] | length' "$T")
check "no request but /slow takes 50 ms or more ($n do)" test "$n" -eq 0

# ---- /slow's app time is the delay the server measured -------------------------------------
jq -r 'select(.type=="request" and .method=="/slow") | .phases.app' "$T" > "$TMP/slow_app"
app50=$(pct "$TMP/slow_app" 0.5)
srv50=$(jq -r '.slow_delay_ns.p50' <<< "$S")
check "/slow app p50 $((app50 / 1000))us within 5% of the server's measured delay p50 $((srv50 / 1000))us (injected ${SLOW_MS} ms)" \
	within "$app50" "$srv50" 0.05

# ---- handshakes: run inside SSL_read, one per connection (1 + 4 + 2 + 1) --------------------
hs=$(jq -r 'select(.type=="summary") | .handshakes' "$T")
check "handshakes counted ($hs) = connections opened (8)" test "$hs" -eq 8

kill "$NPID" 2>/dev/null || true
assert_no_probes
