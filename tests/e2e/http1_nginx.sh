#!/usr/bin/env bash
# HTTP/1.1 over TLS on Debian's nginx: a config of its own in $TMP (its certificate made
# now), static files, `return 404`-style errors, and a slow plain-HTTP upstream of known
# delay (tests/progs/http1/upstream.py) behind proxy_pass. Keep-alive connections (curl with
# many URLs, ab -k), pipelined batches written at once (tests/progs/http1/pipeline.py: GET,
# HEAD, a POST with a body, errors and a chunked response in one TLS record): every request
# is reported once, with its method, path and status, as protocol http/1.1; pipelined
# requests are separate; /slow's app phase is the upstream's measured delay.
. "$(dirname "$0")/../lib.sh"

SLOW_MS=${SLOW_MS:-100}  # the upstream's /slow delay
NKEEP=${NKEEP:-60}       # URLs of the keep-alive curl run (a third each 200, 404, 503)
NAB=${NAB:-1000}         # ab -k requests
NSLOW=${NSLOW:-20}       # /slow requests
ROUNDS=${ROUNDS:-10}     # pipelined batches per connection
command -v nginx > /dev/null || fail "nginx not installed (nginx-light, see deps/packages.txt)"
command -v ab > /dev/null || fail "ab not installed (apache2-utils, see deps/packages.txt)"

make_cert
start_listener upstream python3 "$ROOT/tests/progs/http1/upstream.py" --slow-ms "$SLOW_MS"
UPORT=$PORT
NPORT=$(free_port)
mkdir -p "$TMP/www"
echo hello > "$TMP/www/index.html"
cat > "$TMP/nginx.conf" <<CONF
daemon off;
master_process off;
worker_processes 1;
pid $TMP/nginx.pid;
error_log $TMP/nginx.err;
events { worker_connections 256; }
http {
	access_log off;
	client_body_temp_path $TMP/body;
	proxy_temp_path $TMP/proxy;
	fastcgi_temp_path $TMP/fastcgi;
	uwsgi_temp_path $TMP/uwsgi;
	scgi_temp_path $TMP/scgi;
	keepalive_requests 100000;
	server {
		listen 127.0.0.1:$NPORT ssl;
		ssl_certificate $TMP/cert.pem;
		ssl_certificate_key $TMP/key.pem;
		root $TMP/www;
		location /unavail { return 503; }
		location /slow { proxy_pass http://127.0.0.1:$UPORT; }
		location /chunk { proxy_pass http://127.0.0.1:$UPORT; }
	}
}
CONF
nginx -c "$TMP/nginx.conf" -p "$TMP" > "$TMP/nginx.out" 2>&1 &
NGINX=$!
PIDS_TO_KILL+=("$NGINX")
wait_port "$NPORT"
URL=https://127.0.0.1:$NPORT

start_trace "$TMP/t.json" -p "$NGINX" --json --all -d 120

# ---- keep-alive: one curl, many URLs, one connection ---------------------------------------
: > "$TMP/k.txt"
for i in $(seq $((NKEEP / 3))); do
	printf 'url = "%s/index.html"\noutput = /dev/null\nurl = "%s/nope"\noutput = /dev/null\nurl = "%s/unavail"\noutput = /dev/null\n' \
		"$URL" "$URL" "$URL" >> "$TMP/k.txt"
done
curl -sk --http1.1 -K "$TMP/k.txt" -w '%{http_code} %{num_connects}\n' > "$TMP/curl.txt" ||
	fail "curl keep-alive run failed"
got=$(awk '{ n[$1]++; c += $2 } END { printf "%d %d %d %d", n[200], n[404], n[503], c }' "$TMP/curl.txt")
check "curl: $NKEEP answers, 200/404/503 a third each, on one connection ($got)" \
	test "$got" = "$((NKEEP / 3)) $((NKEEP / 3)) $((NKEEP / 3)) 1"

# ---- ab -k: four keep-alive connections ----------------------------------------------------
ab -k -n "$NAB" -c 4 "$URL/index.html" > "$TMP/ab.txt" 2>&1 || { cat "$TMP/ab.txt"; fail "ab failed"; }
grep -q "^Complete requests: *$NAB$" "$TMP/ab.txt" && grep -q "^Failed requests: *0$" "$TMP/ab.txt" &&
	grep -q "^Keep-Alive requests: *$NAB$" "$TMP/ab.txt" || { cat "$TMP/ab.txt"; fail "ab: not all $NAB kept alive and answered"; }
pass "ab -k: $NAB requests on 4 keep-alive connections"

# ---- pipelined batches: six requests in one write, twice over two connections --------------
python3 "$ROOT/tests/progs/http1/pipeline.py" "$NPORT" 2 "$ROUNDS" GET:/index.html HEAD:/index.html \
	POST:/index.html GET:/nope GET:/unavail GET:/chunk > "$TMP/pipe.json" || fail "pipelined client failed"
P=$(cat "$TMP/pipe.json")
echo "pipelined: $P"
np=$((2 * ROUNDS))
check "pipelined: each of the $((6 * np)) requests answered as expected" test "$(jq -c .responses <<< "$P")" = \
	"$(jq -nc --argjson n "$np" '{"GET /index.html 200": $n, "HEAD /index.html 200": $n, "POST /index.html 405": $n,
		"GET /nope 404": $n, "GET /unavail 503": $n, "GET /chunk 200": $n}')"

# ---- /slow through the upstream, on one keep-alive connection ------------------------------
: > "$TMP/s.txt"
for i in $(seq "$NSLOW"); do printf 'url = "%s/slow"\noutput = /dev/null\n' "$URL" >> "$TMP/s.txt"; done
curl -sk --http1.1 -K "$TMP/s.txt" -w '%{http_code}\n' > "$TMP/slow.txt" || fail "curl /slow failed"
check "/slow: $NSLOW answers 200" test "$(grep -c '^200$' "$TMP/slow.txt")" -eq "$NSLOW"

S=$(server_stats upstream "$SERVER_PID")
kill -INT "$TRACE_PID"
wait_trace
[[ $TRACE_RC == 0 ]] || { cat "$TMP/t.json.err"; fail "trace exited with $TRACE_RC"; }
T=$TMP/t.json
echo "upstream: $S"
counters=$(jq -c 'select(.type=="summary") | .counters' "$T")
echo "counters: $counters"

# ---- every request once, with method, path and status --------------------------------------
count() { # count METHOD PATH STATUS: requests reported so
	jq -s --arg m "$1" --arg p "$2" --argjson s "$3" \
		'[.[] | select(.type=="request" and .http_method==$m and .method==$p and .status==$s)] | length' "$T"
}
nall=$(jq -s '[.[] | select(.type=="request")] | length' "$T")
want=$((NKEEP + NAB + 6 * np + NSLOW))
check "no records dropped" test "$(jq -r 'select(.type=="summary") | .dropped' "$T")" -eq 0
check "requests reported ($nall) = requests made ($want)" test "$nall" -eq "$want"
check "every request is protocol http/1.1" \
	test "$(jq -s '[.[] | select(.type=="request" and .protocol=="http/1.1")] | length' "$T")" -eq "$nall"
n=$(count GET /index.html 200)
check "GET /index.html 200: $n = $((NKEEP / 3)) + $NAB + $np" test "$n" -eq $((NKEEP / 3 + NAB + np))
n=$(count GET /nope 404)
check "GET /nope 404: $n = $((NKEEP / 3)) + $np" test "$n" -eq $((NKEEP / 3 + np))
n=$(count GET /unavail 503)
check "GET /unavail 503: $n = $((NKEEP / 3)) + $np, each an error" test "$n" -eq $((NKEEP / 3 + np)) -a \
	"$(jq -s '[.[] | select(.type=="request" and .status==503 and .error==true)] | length' "$T")" -eq "$n"
check "HEAD /index.html 200 (a head without its body): $np" test "$(count HEAD /index.html 200)" -eq "$np"
check "POST /index.html 405 (its body skipped): $np" test "$(count POST /index.html 405)" -eq "$np"
check "GET /chunk 200 (a chunked response): $np" test "$(count GET /chunk 200)" -eq "$np"
check "GET /slow 200: $NSLOW" test "$(count GET /slow 200)" -eq "$NSLOW"
check "no framing lost (h1_desync $(jq .h1_desync <<< "$counters"))" test "$(jq .h1_desync <<< "$counters")" -eq 0
check "no response without its request (unmatched_responses $(jq .unmatched_responses <<< "$counters"))" \
	test "$(jq .unmatched_responses <<< "$counters")" -eq 0
check "no HTTP/2 walk on these connections (h2_desync $(jq .h2_desync <<< "$counters"))" \
	test "$(jq .h2_desync <<< "$counters")" -eq 0

# Pipelined: each connection's six requests of a batch are separate, numbered in order (the
# two connections, one after the other, may have had the same SSL object: streams by value).
got=$(jq -s -c '[.[] | select(.type=="request" and .http_method=="HEAD") | .stream] | sort' "$T")
check "pipelined: on each connection, HEAD was the 2nd of each batch of 6 (streams 2, 8, ...)" \
	test "$got" = "$(jq -nc --argjson n "$ROUNDS" '[range(0; $n) | . * 6 + 2, . * 6 + 2] | sort')"
# Of a pipelined batch written at once, several requests shared the read that carried them.
check "pipelined: requests read together say so (shared > 1)" \
	test "$(jq -s '[.[] | select(.type=="request" and .http_method=="HEAD" and .shared > 1)] | length' "$T")" -ge 1

# ---- phases: no HTTP/2 phases, and they add up ---------------------------------------------
check "no h2_in/h2_out/decode/encode time on any request" test "$(jq -s '[.[] | select(.type=="request") |
	select(.phases.h2_in + .phases.h2_out + .phases.decode + .phases.encode > 0)] | length' "$T")" -eq 0
addsup='select(.type=="request") | select(.overlap == true or ((.phases | add) - .total_ns | fabs) > ([.total_ns * 0.01, 2000] | max))'
bad=$(jq -s "[.[] | $addsup] | length" "$T")
((bad == 0)) || jq -c "$addsup" "$T" | head -5
check "phases add up to the total for every request ($bad do not)" test "$bad" -eq 0
n=$(jq -s '[.[] | select(.type=="request" and .phases.tls_in > 0 and .phases.tls_out > 0 and .phases.net_out > 0)] | length' "$T")
check "tls_in, tls_out and net_out measured on every request ($n of $nall)" test "$n" -eq "$nall"

# ---- /slow's app time is the upstream's delay ----------------------------------------------
# nginx's app time for /slow is its connect to the upstream, the upstream's delay and the
# proxying: the delay is measured in the upstream, and ±5% of 100 ms leaves 5 ms for the rest.
jq -r 'select(.type=="request" and .method=="/slow") | .phases.app' "$T" > "$TMP/slow_app"
app50=$(pct "$TMP/slow_app" 0.5)
up50=$(jq -r '.slow_delay_ns.p50' <<< "$S")
check "/slow app p50 $((app50 / 1000))us within 5% of the upstream's measured delay p50 $((up50 / 1000))us (injected ${SLOW_MS} ms)" \
	within "$app50" "$up50" 0.05

# ---- handshakes: one per connection (1 + 4 + 2 + 1) ----------------------------------------
hs=$(jq -r 'select(.type=="summary") | .handshakes' "$T")
check "handshakes counted ($hs) = connections opened (8)" test "$hs" -eq 8

kill "$NGINX" 2>/dev/null || true
wait "$NGINX" 2>/dev/null || true
assert_no_probes
