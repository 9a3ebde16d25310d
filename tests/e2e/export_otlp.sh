#!/usr/bin/env bash
# latscope export --otlp-endpoint: each slow request of the example server becomes an
# OTLP/JSON trace, received by a small OTLP/HTTP receiver started here (Python's
# http.server, offline; no OpenTelemetry collector is packaged in Debian 12): ids of
# 32 and 16 hex digits, one SERVER span per slow request named after its method with
# the conventions' attributes and resource, one INTERNAL child per non-zero phase
# under it, laid end to end and adding up to it; a request sent with a traceparent
# keeps its trace id and parent; the receiver's first two answers are 503 and every
# span still arrives. Fast requests, under the threshold, send nothing.
. "$(dirname "$0")/../lib.sh"
# Needs every slow request's span seen at the load it drives: past the budget where hits
# cost ten times more (the rule in tests/lib.sh).
export LATSCOPE_OVERHEAD=off

SLOW_N=20
TRACE_ID=0af7651916cd43dd8448eb211c80319c
PARENT_ID=b7ad6b7169203331
mkdir -p "$TMP/spans"
start_listener receiver /usr/bin/python3 "$ROOT/tests/progs/otlprecv/receiver.py" "$TMP/spans" 2
RPORT=$PORT
start_h2server --method Slow:sleep=20
EXP_ERR=$TMP/export.err
: > "$EXP_ERR"
"$LATSCOPE" export -p "$H2SERVER_PID" --listen 127.0.0.1:0 -t 10ms --otlp-endpoint "http://127.0.0.1:$RPORT/" \
	--kernel-hook "$KHOOK" 2> "$EXP_ERR" &
EXP_PID=$!
PIDS_TO_KILL+=("$EXP_PID")
wait_export "$EXP_ERR"

grpc_load Slow "$SLOW_N" -c 2 > "$TMP/slow.txt" 2>&1 || fail "h2load Slow failed"
grpc_load Fast 200 -c 2 > "$TMP/fast.txt" 2>&1 || fail "h2load Fast failed"
grpc_load Slow 1 -H "traceparent: 00-$TRACE_ID-$PARENT_ID-01" > "$TMP/tp.txt" 2>&1 || fail "h2load traceparent failed"
# Upper-case hex is not W3C's form: ignored, as the specification says (a new trace).
grpc_load Slow 1 -H "traceparent: 00-${TRACE_ID^^}-$PARENT_ID-01" > "$TMP/tp2.txt" 2>&1 || fail "h2load traceparent failed"
WANT=$((SLOW_N + 2))

# All spans received so far, one per line.
spans() { cat "$TMP"/spans/*.json 2>/dev/null | jq -c '.resourceSpans[] | .resource as $r | .scopeSpans[].spans[] | . + {res: $r}'; }
nserver() { spans | jq -s '[.[] | select(.kind == 2)] | length'; }
for i in $(seq 300); do
	[[ $(nserver) -ge $WANT ]] && break
	sleep 0.1
done
spans > "$TMP/all.jsonl"
check "the receiver got one SERVER span per slow request ($(nserver) of $WANT)" test "$(nserver)" -eq "$WANT"
check "the receiver answered 503 twice first (the sender retried)" test "$(grep -c '" 503 ' "$TMP/receiver.err")" -eq 2
J() { jq -s "$@" "$TMP/all.jsonl"; }
check "ids: 32 hex digits for traces, 16 for spans" test "$(J 'all(.[]; (.traceId | test("^[0-9a-f]{32}$")) and (.spanId | test("^[0-9a-f]{16}$")))')" = true
check "SERVER spans are named after the method, with rpc.* attributes" test "$(J '[.[] | select(.kind == 2)] |
	all(.[]; .name == "latscope.example.Echo/Slow" and
		(.attributes | map({key, value: (.value.stringValue // .value.intValue)}) | from_entries) as $a |
		$a["rpc.system.name"] == "grpc" and $a["rpc.method"] == "latscope.example.Echo/Slow" and $a["rpc.status_code"] == "OK")')" = true
check "resource: service.name, process.pid, process.executable.name, host.name" test "$(J --arg pid "$H2SERVER_PID" '
	all(.[]; (.res.attributes | map({key, value: (.value.stringValue // .value.intValue)}) | from_entries) as $r |
		$r["service.name"] == "h2server" and $r["process.pid"] == $pid and $r["process.executable.name"] == "h2server"
		and ($r["host.name"] | length > 0))')" = true
# Every child: INTERNAL, under a SERVER span of its trace, inside it, end to end; the phases add up to the parent.
cat > "$TMP/tree.jq" <<'EOF'
[.[] | select(.kind == 2)] as $servers
| [.[] | select(.kind == 1)] as $kids
| ($kids | all(.[]; .parentSpanId as $p | .traceId as $t | any($servers[]; .spanId == $p and .traceId == $t))) as $parented
| [$servers[] | . as $s | [$kids[] | select(.parentSpanId == $s.spanId)] | sort_by(.startTimeUnixNano | tonumber) as $c
	| { n: ($c | length),
	    inside: all($c[]; (.startTimeUnixNano | tonumber) >= ($s.startTimeUnixNano | tonumber) and
	                      (.endTimeUnixNano | tonumber) <= ($s.endTimeUnixNano | tonumber)),
	    chained: ([range(1; $c | length) as $i | $c[$i].startTimeUnixNano == $c[$i - 1].endTimeUnixNano] | all),
	    first: ($c[0].startTimeUnixNano == $s.startTimeUnixNano),
	    sum: ([$c[] | (.endTimeUnixNano | tonumber) - (.startTimeUnixNano | tonumber)] | add),
	    total: (($s.endTimeUnixNano | tonumber) - ($s.startTimeUnixNano | tonumber)) }] as $t
| { parented: $parented, kids: ($kids | length), min_kids: ([$t[].n] | min), inside: ([$t[].inside] | all),
    chained: ([$t[].chained, $t[].first] | all), sums: ([$t[] | ((.sum - .total) | fabs) / .total] | max) }
EOF
jq -s -f "$TMP/tree.jq" "$TMP/all.jsonl" > "$TMP/tree.json"
cat "$TMP/tree.json"
check "every INTERNAL span has a SERVER parent in its trace" test "$(jq .parented "$TMP/tree.json")" = true
check "each slow request has its phases as children (at least 3: app and the TLS calls)" test "$(jq .min_kids "$TMP/tree.json")" -ge 3
check "children lie inside their parent" test "$(jq .inside "$TMP/tree.json")" = true
check "children are laid end to end from the parent's start" test "$(jq .chained "$TMP/tree.json")" = true
# Phases add up to the total exactly unless measured phases overlap (then app is 0 and they exceed it).
check "the children's durations add up to the parent's (within 1%: $(jq .sums "$TMP/tree.json"))" \
	awk -v d="$(jq .sums "$TMP/tree.json")" 'BEGIN { exit !(d <= 0.01) }'
tp=$(J --arg t "$TRACE_ID" --arg p "$PARENT_ID" '[.[] | select(.kind == 2 and .traceId == $t and .parentSpanId == $p)] | length')
check "the request sent with a traceparent keeps its trace id and parent span ($tp span)" test "$tp" -eq 1
roots=$(J '[.[] | select(.kind == 2 and (has("parentSpanId") | not))] | length')
check "a malformed traceparent is ignored: the others start traces of their own ($roots)" test "$roots" -eq $((WANT - 1))
sent=$(curl -sf "http://127.0.0.1:$MPORT/metrics" | sed -n 's/^latscope_otlp_requests_total{outcome="sent"} //p')
retries=$(curl -sf "http://127.0.0.1:$MPORT/metrics" | sed -n 's/^latscope_otlp_retries_total //p')
check "export counts $WANT sent and at least 2 retries ($sent, $retries)" test "$sent" -eq "$WANT" -a "$retries" -ge 2
kill -TERM "$EXP_PID"
rc=0
wait "$EXP_PID" || rc=$?
check "export exits 0 on SIGTERM ($rc)" test "$rc" -eq 0
assert_no_probes
