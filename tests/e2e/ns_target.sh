#!/usr/bin/env bash
# A target in its own mount and PID namespace (unshare -m -p --fork), running on its own
# copy of libssl and libnghttp2 under a path that exists only inside its namespace (a
# tmpfs mounted there). latscope, given the host pid, finds the libraries through
# /proc/PID/root, attaches, and counts every request exactly; nothing is left behind.
. "$(dirname "$0")/../lib.sh"
# Needs every request seen at the load it drives: past the budget where hits
# cost ten times more (the rule in tests/lib.sh).
export LATSCOPE_OVERHEAD=off

make_cert
LIBDIR=/mnt/latscope-ns-$$
inner='mount -t tmpfs tmpfs /mnt && mkdir -p "$0" &&
	cp "$(ldconfig -p | sed -n "s/.*libssl.so.3 (libc6,x86-64) => //p" | head -1)" \
	   "$(ldconfig -p | sed -n "s/.*libnghttp2.so.14 (libc6,x86-64) => //p" | head -1)" "$0"/ &&
	LD_LIBRARY_PATH="$0" exec "$@"'
start_listener h2ns unshare -m -p --fork --propagation private bash -c "$inner" "$LIBDIR" \
	"$ROOT/build/examples/h2server" --cert "$TMP/cert.pem" --key "$TMP/key.pem" -p 0
TARGET=$(cat /proc/"$SERVER_PID"/task/*/children | tr -d ' ')
[[ -n $TARGET ]] || fail "no server process under unshare"
PIDS_TO_KILL+=("$TARGET")
check "the server runs in its own PID namespace" \
	test "$(readlink /proc/"$TARGET"/ns/pid)" != "$(readlink /proc/self/ns/pid)"
check "its libssl is its own copy at $LIBDIR" grep -q "$LIBDIR/libssl.so.3" /proc/"$TARGET"/maps
check "that path does not exist outside its namespace" test ! -e "$LIBDIR/libssl.so.3"

"$LATSCOPE" probes -p "$TARGET" > "$TMP/probes.txt" 2>&1 || { cat "$TMP/probes.txt"; fail "probes failed"; }
check "probes finds SSL_read in the namespace's copy" grep -q "SSL_read .*$LIBDIR/libssl.so.3" "$TMP/probes.txt"
start_trace "$TMP/t.json" -p "$TARGET" --json
grpc_load Fast 500 -c 4 > "$TMP/h2load.txt" || { cat "$TMP/h2load.txt"; fail "h2load failed"; }
ok=$(sed -n 's/^requests: .* \([0-9]*\) succeeded.*/\1/p' "$TMP/h2load.txt")
stop_trace "$TMP/t.json"
count=$(jq '.requests[0].count' <<< "$S")
check "every request counted ($count of $ok)" test "$ok" -eq 500 -a "$count" -eq "$ok"
named=$(jq -s '[.[] | select(.type == "summary") | .methods[] | select(.method == "/latscope.example.Echo/Fast") | .count] | add // 0' "$TMP/t.json")
check "and named by HPACK ($named)" test "$named" -eq "$ok"
assert_no_probes
