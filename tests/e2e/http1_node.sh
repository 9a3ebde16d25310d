#!/usr/bin/env bash
# HTTP/1.1 over TLS on Node.js's https module (tests/progs/nodehttps/server.js): OpenSSL is
# linked into the node executable, TLS runs over memory BIOs and the handshake inside
# SSL_read. Keep-alive (curl with many URLs, ab -k) and pipelined batches written at once
# (tests/progs/http1/pipeline.py): every request is reported once with its method, path and
# status as protocol http/1.1, chunked responses included; each connection's handshake is
# counted; /slow's app phase is the setTimeout delay the server measured.
. "$(dirname "$0")/../lib.sh"
# Bursts at full speed (ab -k, pipelined batches) and every request measured whole:
# trace everything.
export LATSCOPE_OVERHEAD=off
. "$ROOT/tests/progs/http1/checks.sh"

SLOW_MS=${SLOW_MS:-50}   # /slow's setTimeout
NKEEP=${NKEEP:-80}       # URLs of the keep-alive curl run (a quarter each /fast, /chunked, /nope, /unavail)
NAB=${NAB:-1000}         # ab -k requests
NSLOW=${NSLOW:-20}       # /slow requests
ROUNDS=${ROUNDS:-10}     # pipelined batches per connection
command -v node > /dev/null || fail "node not installed: this test needs Node.js (Node 20 at /usr/bin/node here)"
command -v ab > /dev/null || fail "ab not installed (apache2-utils, see deps/packages.txt)"

make_cert
tls=(--cert "$TMP/cert.pem" --key "$TMP/key.pem")
[[ $SCHEME == http ]] && tls=(--plain 1)
start_listener nodehttps node "$ROOT/tests/progs/nodehttps/server.js" "${tls[@]}" --slow-ms "$SLOW_MS"
NPID=$SERVER_PID
NPORT=$PORT
URL=$SCHEME://127.0.0.1:$NPORT

start_trace "$TMP/t.json" -p "$NPID" --json --all -d 120

# ---- keep-alive, ab -k, pipelined, /slow ---------------------------------------------------
h1_keepalive "$URL" "$NKEEP" /fast /chunked /nope /unavail
got=$(awk '{ n[$1]++; c += $2 } END { printf "%d %d %d %d", n[200], n[404], n[503], c }' "$TMP/curl.txt")
check "curl: $NKEEP answers (200 a half, 404 and 503 a quarter each) on one connection ($got)" \
	test "$got" = "$((NKEEP / 2)) $((NKEEP / 4)) $((NKEEP / 4)) 1"
sleep 1
h1_ab "$URL/fast" "$NAB"
np=$((2 * ROUNDS))
sleep 1
h1_pipelined "$NPORT" "$ROUNDS" "$(jq -nc --argjson n "$np" '{"GET /fast 200": $n, "HEAD /fast 200": $n,
	"POST /fast 200": $n, "GET /chunked 200": $n, "GET /unavail 503": $n, "GET /nope 404": $n}')" \
	GET:/fast HEAD:/fast POST:/fast GET:/chunked GET:/unavail GET:/nope
sleep 1
h1_keepalive "$URL" "$NSLOW" /slow
check "/slow: $NSLOW answers 200" test "$(grep -c '^200 ' "$TMP/curl.txt")" -eq "$NSLOW"
# A client that gives up on /slow and closes: its request never ends. The next connection
# (a second later) often gets the same SSL object, and its first request the same number:
# it must start afresh, not a second early (the 500 ms check below).
curl -sk --http1.1 -m 0.02 "$URL/slow" > /dev/null 2>&1 && fail "curl -m 0.02 /slow should have given up"
sleep 1
h1_keepalive "$URL" 10 /fast
check "after the abandoned /slow: 10 answers 200" test "$(grep -c '^200 ' "$TMP/curl.txt")" -eq 10

S=$(server_stats nodehttps "$NPID")
kill -INT "$TRACE_PID"
wait_trace
[[ $TRACE_RC == 0 ]] || { cat "$TMP/t.json.err"; fail "trace exited with $TRACE_RC"; }
T=$TMP/t.json
echo "server: $S"

# ---- every request once, with method, path and status --------------------------------------
want=$((NKEEP + NAB + 6 * np + NSLOW + 10))
served=$(jq '[.answered[]] | add' <<< "$S")
check "the server answered $served = $want requests" test "$served" -eq "$want"
h1_common "$T" "$want" "$ROUNDS"
n=$(h1_count "$T" GET /fast 200)
check "GET /fast 200: $n = $((NKEEP / 4)) + $NAB + $np + 10" test "$n" -eq $((NKEEP / 4 + NAB + np + 10))
n=$(h1_count "$T" GET /chunked 200)
check "GET /chunked 200 (chunked, in three writes): $n = $((NKEEP / 4)) + $np" test "$n" -eq $((NKEEP / 4 + np))
n=$(h1_count "$T" GET /nope 404)
check "GET /nope 404: $n = $((NKEEP / 4)) + $np" test "$n" -eq $((NKEEP / 4 + np))
n=$(h1_count "$T" GET /unavail 503)
check "GET /unavail 503: $n = $((NKEEP / 4)) + $np, each an error" test "$n" -eq $((NKEEP / 4 + np)) -a \
	"$(jq -s '[.[] | select(.type=="request" and .status==503 and .error==true)] | length' "$T")" -eq "$n"
check "HEAD /fast 200 (a head without its body): $np" test "$(h1_count "$T" HEAD /fast 200)" -eq "$np"
check "POST /fast 200 (its body skipped): $np" test "$(h1_count "$T" POST /fast 200)" -eq "$np"
check "GET /slow 200: $NSLOW" test "$(h1_count "$T" GET /slow 200)" -eq "$NSLOW"
# Over memory BIOs a request's receive is matched by thread and time: the handshake's and a
# closed connection's are not. Taken for a request's, the receive of the last connection's
# close would start the next connection's first request over a second early (the runs are
# a second apart); none of these requests waits, and 500 ms is far above the stalls of a
# loaded machine (tens of ms).
slow='select(.type=="request" and .method != "/slow" and .total_ns > 500000000)'
n=$(jq -s "[.[] | $slow] | length" "$T")
((n == 0)) || jq -c "$slow | {stream, method, total_ns, phases}" "$T" | head -5
check "no request but /slow takes 500 ms or more ($n do)" test "$n" -eq 0

# ---- /slow's app time is the delay the server measured -------------------------------------
h1_slow_app "$T" "$(jq -r '.slow_delay_ns.p50' <<< "$S")" "$SLOW_MS" server

# ---- connections (1 + 4 + 2 + 1 + 1 + 1): over TLS the handshakes run inside SSL_read ------
h1_connections "$T" 10

kill "$NPID" 2>/dev/null || true
assert_no_probes
