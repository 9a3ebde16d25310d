#!/usr/bin/env bash
# Steady load for a while under trace: latscope's RSS, its map occupancy and its dropped
# records stay flat. h2load runs back to back for SOAK_SECS (default 45; make soak: 1800),
# 5 s each with fresh connections (8 clients, 250 requests/s each), so that connections
# and their entries come and go all along. Every SOAK_SAMPLE seconds a row: latscope's
# RSS, the entries of the per-connection and per-thread maps, the dropped records.
# Flat means: after a first round of warm-up, the second half's peak RSS is at most 4 MiB
# above the first half's, no map's peak (the requests': its lowest) is above the first
# half's by more than the 8 connections of one more round, nothing is dropped; and every request h2load saw
# succeed is counted (and at most the 8 a round leaves in flight more).
. "$(dirname "$0")/../lib.sh"
# Steady load near what the default budget allows, for longer than its few seconds of
# slack, and every request counted: the probes stay on throughout.
export LATSCOPE_OVERHEAD=off

SECS=${SOAK_SECS:-45}
SAMPLE=${SOAK_SAMPLE:-5}
MAPS=(conns reqs ssl_fds rx_socks sessions threads)
start_h2server
start_trace "$TMP/t.json" -p "$H2SERVER_PID" --json
[[ -s $TMP/empty.bin ]] || "$ROOT/build/examples/grpcbody" -o "$TMP/empty.bin"
end=$((SECONDS + SECS))
(
	while ((SECONDS < end)); do
		h2load -D 5 -c 8 --rps 250 -d "$TMP/empty.bin" -H 'content-type: application/grpc' -H 'te: trailers' \
			"https://127.0.0.1:$PORT/latscope.example.Echo/Fast" | sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p'
	done > "$TMP/succeeded"
) &
LOAD=$!
PIDS_TO_KILL+=("$LOAD")
rss() { sed -n 's/^VmRSS:[[:space:]]*\([0-9]*\) kB/\1/p' /proc/"$TRACE_PID"/status; }
printf '| s | latscope RSS (KiB) |%s dropped |\n' "$(printf ' %s |' "${MAPS[@]}")" | tee "$TMP/soak.md"
printf '|---|---|%s---|\n' "$(printf -- '---|%.0s' "${MAPS[@]}")" | tee -a "$TMP/soak.md"
t0=$SECONDS
# The first round warms latscope up (its first records, HPACK tables, allocator arenas).
sleep 6
while kill -0 "$LOAD" 2>/dev/null; do
	row="| $((SECONDS - t0)) | $(rss) |"
	for m in "${MAPS[@]}"; do row+=" $(map_entries "$TRACE_PID" "$m") |"; done
	row+=" $(counter "$TRACE_PID" 0) |"
	echo "$row" | tee -a "$TMP/soak.md"
	sleep "$SAMPLE"
done
wait "$LOAD" || true
kill -INT "$TRACE_PID"; wait_trace
[[ $TRACE_RC == 0 ]] || { cat "$TMP/t.json.err"; fail "trace exited with $TRACE_RC"; }
[[ -n ${SOAK_TABLE:-} ]] && cp "$TMP/soak.md" "$SOAK_TABLE"

rows=$(grep -c '^| [0-9]' "$TMP/soak.md")
((rows >= 4)) || fail "only $rows samples"
h=$((rows / 2))
# Column 3 is RSS, then one per map, then dropped. RSS swings by several MiB as the
# allocator returns memory: a leak shows as the second half's peak above the first's.
col() { grep '^| [0-9]' "$TMP/soak.md" | awk -F'|' -v c="$1" -v from="$2" -v to="$3" 'NR >= from && NR <= to { print $c + 0 }'; }
peak() { col "$1" "$2" "$3" | sort -n | tail -1; }
early=$(peak 3 1 "$h")
late=$(peak 3 $((h + 1)) "$rows")
check "latscope's RSS flat (peak $early KiB in the first half, $late KiB in the second)" test "$late" -le $((early + 4096))
i=4
for m in "${MAPS[@]}"; do
	early=$(peak "$i" 1 "$h")
	late=$(peak "$i" $((h + 1)) "$rows")
	if [[ $m == reqs ]]; then
		# Requests last milliseconds, those of a connection that closed before its response
		# until a sweep some seconds later: a sample at a round's end can catch a burst of
		# them (14 once, against 4). A leak raises the floor: the second half's lowest.
		late=$(col "$i" $((h + 1)) "$rows" | sort -n | head -1)
		check "$m occupancy flat (peak $early in the first half, lowest $late in the second)" test "$late" -le $((early + 8))
	else
		check "$m occupancy flat (peak $early in the first half, $late in the second)" test "$late" -le $((early + 8))
	fi
	i=$((i + 1))
done
S=$(jq -c 'select(.type == "summary")' "$TMP/t.json")
echo "counters: $(jq -c .counters <<< "$S")"
dropped=$(jq .dropped <<< "$S")
check "no record dropped ($dropped)" test "$dropped" -eq 0
ok=$(awk '{ s += $1 } END { print s + 0 }' "$TMP/succeeded")
rounds=$(wc -l < "$TMP/succeeded")
count=$(jq '.requests[0].count' <<< "$S")
# h2load -D stops waiting when its time is up: a response the server finished then (at
# most one per connection, 8 a round) is counted by the kernel, not by h2load.
check "every request counted ($count; h2load saw $ok succeed, $rounds rounds)" \
	test "$ok" -gt 0 -a "$count" -ge "$ok" -a "$count" -le $((ok + 8 * rounds))
assert_no_probes
