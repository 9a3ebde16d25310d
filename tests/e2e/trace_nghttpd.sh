#!/usr/bin/env bash
# latscope trace against nghttpd (OpenSSL 3 + nghttp2) under h2load: TLS call
# counts and bytes match what the run moved, handshakes match connections, and
# kernel network records belong to the same connections.
. "$(dirname "$0")/../lib.sh"
# Needs every TLS call and byte seen at the load it drives: past the budget where hits
# cost ten times more (the rule in tests/lib.sh).
export LATSCOPE_OVERHEAD=off

CONNS=${CONNS:-7}
REQS=${REQS:-3000}
start_nghttpd 200
before=$(date +%s%N)
start_trace "$TMP/trace.json" -p "$NGHTTPD_PID" --calls --json -d "${TRACE_SECS:-30}"
h2load -n "$REQS" -c "$CONNS" -m 10 -t 1 "https://127.0.0.1:$PORT/index.html" > "$TMP/h2load.txt" 2>&1 ||
	{ cat "$TMP/h2load.txt"; fail "h2load failed"; }
grep -q "$REQS succeeded" "$TMP/h2load.txt" || { cat "$TMP/h2load.txt"; fail "h2load requests did not all succeed"; }
# h2load's "traffic: ... (N) total" counts the plaintext bytes it read: what nghttpd's SSL_write handed over.
client_rx=$(sed -n 's/^traffic: .*(\([0-9]*\)) total.*/\1/p' "$TMP/h2load.txt")
kill -INT "$TRACE_PID"
wait_trace
after=$(date +%s%N)
[[ $TRACE_RC == 0 ]] || { cat "$TMP/trace.json.err"; fail "latscope trace exited with $TRACE_RC"; }
T=$TMP/trace.json
hook=$(jq -r 'select(.type=="summary") | .kernel_hook' "$T")
echo "kernel hook: $hook; h2load: $REQS requests on $CONNS connections, client received $client_rx bytes"
[[ $KHOOK == auto || $hook == "$KHOOK" ]] || fail "kernel hook is $hook, expected $KHOOK"

# The run's start on both clocks places every record on the wall clock: all inside the test's own span.
started=$(grep '"type":"summary"' "$T" | grep -o '"unix_ns":[0-9]*' | cut -d: -f2)
check "the run started ($started) between the test's start ($before) and end ($after)" \
	test "$started" -ge "$before" -a "$started" -le "$after"
outside=$(jq -s --argjson a "$before" --argjson z "$after" '(.[] | select(.type=="summary") | .started) as $s |
	[.[] | select(.type=="call") | .ts_ns - $s.monotonic_ns + $s.unix_ns | select(. < $a or . > $z)] | length' "$T")
check "every call record's time, on the wall clock, within the test's span ($outside outside)" test "$outside" -eq 0

dropped=$(jq -r 'select(.type=="summary") | .dropped' "$T")
check "no records dropped ($dropped)" test "$dropped" -eq 0

# Every successful SSL_write is a record; their bytes add up to what the client received.
w_bytes=$(jq -s '[.[] | select(.type=="call" and (.probe=="SSL_write" or .probe=="SSL_write_ex")) | .bytes] | add // 0' "$T")
w_sum=$(jq -s '[.[] | select(.type=="summary") | .probes[] | select(.probe=="SSL_write" or .probe=="SSL_write_ex") | .bytes] | add // 0' "$T")
check "SSL_write bytes from records ($w_bytes) = summary ($w_sum)" test "$w_bytes" -eq "$w_sum"
check "SSL_write bytes ($w_bytes) = bytes h2load received ($client_rx)" test "$w_bytes" -eq "$client_rx"

r_cnt=$(jq -s '[.[] | select(.type=="call" and (.probe=="SSL_read" or .probe=="SSL_read_ex"))] | length' "$T")
r_ok=$(jq -s '[.[] | select(.type=="summary") | .probes[] | select(.probe=="SSL_read" or .probe=="SSL_read_ex") | .ok] | add // 0' "$T")
r_bytes=$(jq -s '[.[] | select(.type=="call" and (.probe=="SSL_read" or .probe=="SSL_read_ex")) | .bytes] | add // 0' "$T")
check "successful SSL_read records ($r_cnt) = summary ok count ($r_ok)" test "$r_cnt" -eq "$r_ok"
# What the client sent: per connection the 24-byte preface + SETTINGS (+ WINDOW_UPDATE, SETTINGS ACK):
# 24..200 bytes; per request one HEADERS frame: 9-byte header + an HPACK block of at least 1 byte
# (all indexed after the first request) and at most ~100 bytes (first request, literal :authority/:path).
lo=$((REQS * 10 + CONNS * 24)); hi=$((REQS * 110 + CONNS * 200))
check "SSL_read bytes ($r_bytes) within the request framing bounds [$lo, $hi]" test "$r_bytes" -ge "$lo" -a "$r_bytes" -le "$hi"
neg=$(jq -s '[.[] | select(.type=="call" and .bytes <= 0 and (.handshake|not))] | length' "$T")
check "no record for a call that moved no bytes ($neg)" test "$neg" -eq 0
zero=$(jq -s '[.[] | select(.type=="call" and .dur_ns <= 0)] | length' "$T")
check "every call has a duration > 0 ($zero without)" test "$zero" -eq 0

# Handshakes: one per connection h2load opened, each with a duration.
hs=$(jq -s '[.[] | select(.type=="call" and .handshake==true)] | length' "$T")
hs_pos=$(jq -s '[.[] | select(.type=="call" and .handshake==true and .dur_ns > 0 and .handshake_span_ns >= .dur_ns)] | length' "$T")
hs_sum=$(jq -r 'select(.type=="summary") | .handshakes' "$T")
check "handshakes reported ($hs) = connections opened ($CONNS)" test "$hs" -eq "$CONNS"
check "summary handshakes ($hs_sum) = $CONNS" test "$hs_sum" -eq "$CONNS"
check "every handshake has duration > 0 and span >= duration ($hs_pos of $hs)" test "$hs_pos" -eq "$hs"

# Connections: each SSL* maps to one socket fd, and kernel records exist for those fds.
conns=$(jq -s '[.[] | select(.type=="call") | .conn] | unique | length' "$T")
check "TLS connections seen ($conns) = $CONNS" test "$conns" -eq "$CONNS"
fds=$(jq -s -r '[.[] | select(.type=="call" and .fd != null) | .fd] | unique | .[]' "$T" | sort -n | tr '\n' ' ')
nfds=$(echo $fds | wc -w)
check "a socket fd learnt for every connection ($nfds fds: $fds)" test "$nfds" -eq "$CONNS"
for fd in $fds; do
	rx=$(jq -s "[.[] | select(.type==\"net\" and .dir==\"recv\" and .fd==$fd) | .bytes] | add // 0" "$T")
	tx=$(jq -s "[.[] | select(.type==\"net\" and .dir==\"send\" and .fd==$fd) | .bytes] | add // 0" "$T")
	pr=$(jq -s "[.[] | select(.type==\"call\" and .fd==$fd and (.probe|startswith(\"SSL_read\"))) | .bytes] | add // 0" "$T")
	pw=$(jq -s "[.[] | select(.type==\"call\" and .fd==$fd and (.probe|startswith(\"SSL_write\"))) | .bytes] | add // 0" "$T")
	# TLS adds a header, tag and padding to every record and a handshake: ciphertext exceeds plaintext.
	[[ $rx -gt $pr && $tx -gt $pw ]] || fail "fd $fd: kernel recv $rx <= TLS read $pr or kernel send $tx <= TLS write $pw"
done
pass "kernel net records on every TLS fd carry more bytes than the plaintext (TLS overhead)"
net_sum=$(jq -s '[.[] | select(.type=="net" and .dir=="send") | .bytes] | add // 0' "$T")
net_stat=$(jq -s '[.[] | select(.type=="summary") | .probes[] | select(.probe=="tcp_sendmsg") | .bytes] | add // 0' "$T")
check "kernel send bytes from records ($net_sum) = summary ($net_stat)" test "$net_sum" -eq "$net_stat"
assert_no_probes
