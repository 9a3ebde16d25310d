#!/usr/bin/env bash
# --phases attaches only what the phases asked for need: with tls, the TLS probes
# and nothing else (no HTTP/2 probe, no kernel hook); with h2,net, no TLS probe.
. "$(dirname "$0")/../lib.sh"

start_nghttpd 200
"$LATSCOPE" probes -p "$NGHTTPD_PID" --phases tls --json > "$TMP/p.json"
bad=$(jq '[.probes[] | select(.phase=="h2" and .found)] | length' "$TMP/p.json")
n_h2=$(jq '[.probes[] | select(.phase=="h2" and (.reason // "" | test("phase h2 not requested")))] | length' "$TMP/p.json")
[[ $bad -eq 0 && $n_h2 -ge 4 ]] || { jq '.probes[] | select(.phase=="h2")' "$TMP/p.json"; fail "--phases tls: HTTP/2 probes not all left out"; }
jq -e '.probes[] | select(.symbol=="SSL_read") | .found' "$TMP/p.json" > /dev/null || fail "--phases tls: SSL_read not found"
jq -e '[.probes[] | select(.library=="kernel" and .found == false and (.reason | test("phase net not requested")))] | length == 2' "$TMP/p.json" > /dev/null ||
	fail "--phases tls: the kernel hooks are not reported as left out"
pass "probes --phases tls: no HTTP/2 probe attached, $n_h2 of them say \"$(jq -r '[.probes[] | select(.phase=="h2" and (.reason // "" | test("phase")))][0].reason' "$TMP/p.json")\""

run() { # run NAME PHASES: summary of a trace with those phases under h2load
	start_trace "$TMP/$1.json" -p "$NGHTTPD_PID" --phases "$2" --json
	h2load -n 500 -c 2 -m 4 -t 1 "https://127.0.0.1:$PORT/index.html" > "$TMP/h2load.txt" 2>&1 || { cat "$TMP/h2load.txt"; fail "h2load failed"; }
	kill -INT "$TRACE_PID"
	wait_trace
	[[ $TRACE_RC == 0 ]] || { cat "$TMP/$1.json.err"; fail "trace --phases $2 exited with $TRACE_RC"; }
	jq -r 'select(.type=="summary") | [.probes[].probe] | join(" ")' "$TMP/$1.json" > "$TMP/$1.probes"
}
run tls tls
grep -q SSL_read "$TMP/tls.probes" || fail "--phases tls: no SSL_read calls ($(cat "$TMP/tls.probes"))"
grep -Eq 'nghttp2|tcp_' "$TMP/tls.probes" && fail "--phases tls: also saw $(cat "$TMP/tls.probes")"
pass "trace --phases tls: only $(cat "$TMP/tls.probes")"
run h2net h2,net
grep -q nghttp2_session_mem_recv "$TMP/h2net.probes" && grep -q tcp_sendmsg "$TMP/h2net.probes" ||
	fail "--phases h2,net: missing HTTP/2 or kernel calls ($(cat "$TMP/h2net.probes"))"
grep -q SSL_ "$TMP/h2net.probes" && fail "--phases h2,net: also saw $(cat "$TMP/h2net.probes")"
pass "trace --phases h2,net: only $(cat "$TMP/h2net.probes")"
set +e
"$LATSCOPE" trace -p "$NGHTTPD_PID" --phases tls,http > /dev/null 2> "$TMP/err"; rc=$?
set -e
[[ $rc == 2 ]] && grep -q "^latscope: invalid phases 'tls,http'" "$TMP/err" || { cat "$TMP/err"; fail "bad --phases: status $rc"; }
pass "bad --phases: exit 2, $(head -1 "$TMP/err")"
assert_no_probes
