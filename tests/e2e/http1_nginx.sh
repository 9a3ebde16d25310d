#!/usr/bin/env bash
# HTTP/1.1 over TLS on Debian's nginx: a config of its own in $TMP (its certificate made
# now), static files, `return 404`-style errors, and a slow plain-HTTP upstream of known
# delay (tests/progs/http1/upstream.py) behind proxy_pass. Keep-alive connections (curl with
# many URLs, ab -k), pipelined batches written at once (tests/progs/http1/pipeline.py: GET,
# HEAD, a POST with a body, errors and a chunked response in one TLS record): every request
# is reported once, with its method, path and status, as protocol http/1.1; pipelined
# requests are separate; /slow's app phase is the upstream's measured delay.
. "$(dirname "$0")/../lib.sh"
# Bursts at full speed (ab -k, pipelined batches) and every request measured whole: trace
# everything. Where a hit costs ~5 us, ab -k on nginx is past the default budget
# (sampled_share 0.73 seen: 1077 of 1200 requests, none of the pipelined ones).
export LATSCOPE_OVERHEAD=off
. "$ROOT/tests/progs/http1/checks.sh"

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
		listen 127.0.0.1:$NPORT$([[ $SCHEME == https ]] && echo ' ssl');
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
URL=$SCHEME://127.0.0.1:$NPORT

start_trace "$TMP/t.json" -p "$NGINX" --json --all -d 120

# ---- keep-alive, ab -k, pipelined, /slow ---------------------------------------------------
h1_keepalive "$URL" "$NKEEP" /index.html /nope /unavail
got=$(awk '{ n[$1]++; c += $2 } END { printf "%d %d %d %d", n[200], n[404], n[503], c }' "$TMP/curl.txt")
check "curl: $NKEEP answers, 200/404/503 a third each, on one connection ($got)" \
	test "$got" = "$((NKEEP / 3)) $((NKEEP / 3)) $((NKEEP / 3)) 1"
h1_ab "$URL/index.html" "$NAB"
np=$((2 * ROUNDS))
h1_pipelined "$NPORT" "$ROUNDS" "$(jq -nc --argjson n "$np" '{"GET /index.html 200": $n, "HEAD /index.html 200": $n,
	"POST /index.html 405": $n, "GET /nope 404": $n, "GET /unavail 503": $n, "GET /chunk 200": $n}')" \
	GET:/index.html HEAD:/index.html POST:/index.html GET:/nope GET:/unavail GET:/chunk
h1_keepalive "$URL" "$NSLOW" /slow
check "/slow: $NSLOW answers 200" test "$(grep -c '^200 ' "$TMP/curl.txt")" -eq "$NSLOW"

S=$(server_stats upstream "$SERVER_PID")
kill -INT "$TRACE_PID"
wait_trace
[[ $TRACE_RC == 0 ]] || { cat "$TMP/t.json.err"; fail "trace exited with $TRACE_RC"; }
T=$TMP/t.json
echo "upstream: $S"

# ---- every request once, with method, path and status --------------------------------------
h1_common "$T" $((NKEEP + NAB + 6 * np + NSLOW)) "$ROUNDS"
n=$(h1_count "$T" GET /index.html 200)
check "GET /index.html 200: $n = $((NKEEP / 3)) + $NAB + $np" test "$n" -eq $((NKEEP / 3 + NAB + np))
n=$(h1_count "$T" GET /nope 404)
check "GET /nope 404: $n = $((NKEEP / 3)) + $np" test "$n" -eq $((NKEEP / 3 + np))
n=$(h1_count "$T" GET /unavail 503)
check "GET /unavail 503: $n = $((NKEEP / 3)) + $np, each an error" test "$n" -eq $((NKEEP / 3 + np)) -a \
	"$(jq -s '[.[] | select(.type=="request" and .status==503 and .error==true)] | length' "$T")" -eq "$n"
check "HEAD /index.html 200 (a head without its body): $np" test "$(h1_count "$T" HEAD /index.html 200)" -eq "$np"
check "POST /index.html 405 (its body skipped): $np" test "$(h1_count "$T" POST /index.html 405)" -eq "$np"
check "GET /chunk 200 (a chunked response): $np" test "$(h1_count "$T" GET /chunk 200)" -eq "$np"
check "GET /slow 200: $NSLOW" test "$(h1_count "$T" GET /slow 200)" -eq "$NSLOW"

# ---- /slow's app time is the upstream's delay ----------------------------------------------
# nginx's app time for /slow is its connect to the upstream, the upstream's delay and the
# proxying: the delay is measured in the upstream, and ±5% of 100 ms leaves 5 ms for the rest.
h1_slow_app "$T" "$(jq -r '.slow_delay_ns.p50' <<< "$S")" "$SLOW_MS" upstream

# ---- connections: 1 + 4 + 2 + 1 ------------------------------------------------------------
h1_connections "$T" 8

kill "$NGINX" 2>/dev/null || true
wait "$NGINX" 2>/dev/null || true
assert_no_probes
