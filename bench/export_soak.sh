#!/usr/bin/env bash
# latscope export under steady load for SECS seconds (default 600): the example server
# answers a mix of Slow (2 ms injected) and Fast gRPC requests at a fixed rate from
# h2load runs of 15 s each, every run on new connections (client churn). Every 10 s:
# export's RSS, the series and requests it counts (from its /metrics), its connections
# forgotten, and the entries of the kernel's per-connection, per-request and per-thread
# maps of export's own session. Prints a Markdown table, the RSS and occupancy change
# from the end of warm-up (WARM s, default 120) to the end, and export's own CPU time.
set -euo pipefail
cd "$(dirname "$0")/.."
. tests/lib.sh
SECS=${1:-600}
WARM=${WARM:-120}
RPS=${RPS:-100} # per client, 4 clients

start_h2server --method Slow:sleep=2
"$LATSCOPE" export -p "$H2SERVER_PID" --listen 127.0.0.1:0 2> "$TMP/export.err" &
EXP=$!
PIDS_TO_KILL+=("$EXP")
for _ in $(seq 300); do grep -q 'latscope: attached:' "$TMP/export.err" && break; sleep 0.1; done
MPORT=$(sed -n 's|.* listening: http://127.0.0.1:\([0-9]*\)/metrics$|\1|p' "$TMP/export.err")
[[ -n $MPORT ]] || { cat "$TMP/export.err"; fail "export did not start"; }

# The load: alternating methods, 4 clients, RPS each, 15 s per h2load run.
(
	while :; do
		for m in Slow Fast; do
			grpc_load "$m" $((RPS * 4 * 15)) -c 4 -m 4 --rps "$RPS" > /dev/null 2>&1 || true
		done
	done
) &
LOAD=$!
PIDS_TO_KILL+=("$LOAD")

# The ids of the maps export's session holds open, by name.
map_ids() {
	for f in /proc/"$EXP"/fdinfo/*; do sed -n 's/^map_id:[[:space:]]*//p' "$f" 2>/dev/null; done | sort -un
}
entries() { # entries NAME: element count of export's map NAME
	local id
	for id in $(map_ids); do
		if [[ $(bpftool -j map show id "$id" 2>/dev/null | jq -r .name) == "$1" ]]; then
			bpftool -j map dump id "$id" 2>/dev/null | jq length
			return
		fi
	done
	echo "-"
}
metric() { curl -sf "http://127.0.0.1:$MPORT/metrics" | awk -v m="$1" 'index($1, m) == 1 { s += $NF } END { print s + 0 }'; }

cpu() { awk '{ print $14 + $15 }' /proc/"$EXP"/stat; }
cpu0=$(cpu)
echo "| t (s) | RSS (KiB) | series | requests | conns forgotten | conns | reqs | threads |"
echo "|---|---|---|---|---|---|---|---|"
t0=$(date +%s)
while :; do
	t=$(($(date +%s) - t0))
	rss=$(awk '/^VmRSS/ { print $2 }' /proc/"$EXP"/status)
	row="| $t | $rss | $(metric latscope_series) | $(metric rpc_server_call_duration_seconds_count) |"
	row+=" $(metric latscope_connections_expired_total) | $(entries conns) | $(entries reqs) | $(entries threads) |"
	echo "$row"
	echo "$t $rss $(entries conns) $(entries threads)" >> "$TMP/samples"
	((t >= SECS)) && break
	sleep 10
done
cpu1=$(cpu)
kill "$LOAD" 2>/dev/null || true
echo "export's CPU: $(((cpu1 - cpu0) / $(getconf CLK_TCK))) s in $t s, $(metric rpc_server_call_duration_seconds_count) requests counted"
echo "/metrics: $(curl -sf "http://127.0.0.1:$MPORT/metrics" | wc -c) bytes"
awk -v w="$WARM" '$1 >= w && !a { a = 1; r0 = $2; c0 = $3; h0 = $4 } { r = $2; c = $3; h = $4 }
	END { printf "RSS from %d s to the end: %d -> %d KiB (%+.1f%%); conns %s -> %s, threads %s -> %s\n",
		w, r0, r, 100 * (r - r0) / r0, c0, c, h0, h }' "$TMP/samples"
kill -TERM "$EXP"
wait "$EXP" || true
