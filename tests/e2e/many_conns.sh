#!/usr/bin/env bash
# 10,000 concurrent TLS connections (tests/progs/tlsconns), idle after their HTTP/2 preface, then all closed,
# against the example server while traced: the per-connection maps (conns, ssl_fds,
# hs_start, sessions, rx_socks, reqs) and threads hold them while they are open and
# return to their idle level once they are closed; well-behaved requests on the same
# server meanwhile are counted exactly (the kernel's histogram count equals h2load's
# successes); trace -v's own table agrees; nothing is left attached.
. "$(dirname "$0")/../lib.sh"
# 10,000 handshakes and h2load at full speed, every connection and request counted: trace
# everything. Where a probe hit costs ~5 us (another host of this kind), that load is past
# the default budget, and a gap rightly empties the connection table.
export LATSCOPE_OVERHEAD=off

N=${CONNS:-10000}
# The server holds a descriptor per connection (and the client, which raises its own).
ulimit -n 20000 || fail "cannot allow 20000 open files"
# ECDSA: a handshake costs the server a tenth of RSA's, and 10,000 of them fit in seconds.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost \
	-addext subjectAltName=IP:127.0.0.1 -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null
start_h2server
start_trace "$TMP/t.json" -p "$H2SERVER_PID" --json

MAPS=(conns ssl_fds hs_start sessions rx_socks reqs threads)
declare -A idle
occupancy() { local m; for m in "${MAPS[@]}"; do printf '%s=%s ' "$m" "$(map_entries "$TRACE_PID" "$m")"; done; }
for m in "${MAPS[@]}"; do idle[$m]=$(map_entries "$TRACE_PID" "$m"); done
# A thread has its entry from its first probed call on: the server's own threads are its idle level.
idle[threads]=$(ls /proc/"$H2SERVER_PID"/task | wc -l)
echo "idle: $(occupancy)"

mkfifo "$TMP/ctl"
"$ROOT/build/progs/tlsconns" "$PORT" "$N" < "$TMP/ctl" > "$TMP/conns.out" 2> "$TMP/conns.err" &
CONNS_PID=$!
PIDS_TO_KILL+=("$CONNS_PID")
exec 7> "$TMP/ctl"
t0=$SECONDS
for _ in $(seq 900); do
	grep -q '^open' "$TMP/conns.out" && break
	kill -0 "$CONNS_PID" 2>/dev/null || break
	sleep 0.1
done
grep -q "^open $N failed 0$" "$TMP/conns.out" || { cat "$TMP/conns.out" "$TMP/conns.err"; fail "the $N connections did not open"; }
pass "$N TLS connections open and idle in $((SECONDS - t0)) s"

# Well-behaved requests while they are open.
grpc_load Fast 2000 -c 4 -m 4 > "$TMP/h2load.txt" || { cat "$TMP/h2load.txt"; fail "h2load failed"; }
ok=$(sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p' "$TMP/h2load.txt")
check "h2load's 2000 requests succeeded ($ok)" test "$ok" -eq 2000

held=$(map_entries "$TRACE_PID" conns)
fds=$(map_entries "$TRACE_PID" ssl_fds)
echo "open: $(occupancy)"
# Each connection's read of its preface made its conns entry, its handshake's reads its fd.
# conns is an LRU map of 16384: allow eviction to have taken some before it is full.
check "conns holds the open connections ($held of $N)" test "$held" -ge $((N * 8 / 10))
check "ssl_fds holds their sockets ($fds of $N)" test "$fds" -ge $((N * 8 / 10))

echo close >&7
exec 7>&-
wait "$CONNS_PID" || fail "the connection holder failed"
grep -q "^closed $N$" "$TMP/conns.out" || fail "the connections were not closed"
# The server closes its side when it reads the client's close: until it holds only its listener.
for _ in $(seq 300); do
	(($(ls /proc/"$H2SERVER_PID"/fd | wc -l) < 20)) && break
	sleep 0.1
done
(($(ls /proc/"$H2SERVER_PID"/fd | wc -l) < 20)) || fail "the server still holds $(ls /proc/"$H2SERVER_PID"/fd | wc -l) descriptors"
# Deletes happen at SSL_free and TCP_CLOSE, in the server's thread and softirqs: give the last a moment.
sleep 0.5
echo "closed: $(occupancy)"
for m in "${MAPS[@]}"; do
	now=$(map_entries "$TRACE_PID" "$m")
	check "$m back to its idle level ($now, idle ${idle[$m]})" test "$now" -le "${idle[$m]}"
done

stop_trace "$TMP/t.json"
count=$(jq '.requests[0].count' <<< "$S")
check "every well-behaved request counted exactly ($count of 2000)" test "$count" -eq 2000
freed=$(jq '.counters.tls_objects_freed' <<< "$S")
check "each connection's end was seen (SSL_free: $freed)" test "$freed" -ge "$N"
hp=$(jq '.tables.hpack_conns' <<< "$S")
check "user space holds no decoder of a closed connection ($hp)" test "$hp" -eq 0
tc=$(jq '[.tables.maps[] | select(.name == "conns")][0] | "\(.entries) \(.capacity)"' -r <<< "$S")
check "trace -v's table shows conns idle too ($tc)" test "${tc% *}" -le "${idle[conns]}"
lost=$(jq '[.tables.maps[] | .lost // 0] | add' <<< "$S")
echo "losses counted by the tables: $lost; dropped records: $(jq .dropped <<< "$S")"
"$LATSCOPE" probes -p "$H2SERVER_PID" -v --json > "$TMP/probes.json" 2>/dev/null || fail "probes -v failed"
cap=$(jq -s '[.[] | select(.type == "tables") | .tables.maps[] | select(.name == "conns") | .capacity][0]' "$TMP/probes.json")
check "probes -v --json lists the capacities (conns: $cap)" test "$cap" -eq 16384
assert_no_probes
