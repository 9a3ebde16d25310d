#!/usr/bin/env bash
# JIT frames: Node.js with --perf-basic-prof writes /tmp/perf-PID.map, and
# record names the JavaScript function burning the CPU from it (>= 50% of
# the samples carry burnTheCpu; it is all the program does, so nearly all
# do). Without a map the same frames read [jit], and record says why; a map
# that is a symbolic link (say, to a file the target may not read) is not
# followed.
. "$(dirname "$0")/../lib.sh"
NODE=/usr/bin/node
[[ -x $NODE ]] || fail "$NODE missing: this test needs Node.js (Node 20 here)"
JS=$ROOT/tests/progs/nodejit/burn.js

start_node() { # start_node OUT ARGS...: node running burn.js, $! its pid once it prints ready
	local out=$1; shift
	(cd "$TMP" && exec "$NODE" "$@" "$JS") > "$out" &  # node may leave v8 logs in its directory
	NODE_PID=$!; PIDS_TO_KILL+=("$NODE_PID")
	for _ in $(seq 100); do grep -q ready "$out" && break; sleep 0.1; done
	grep -q ready "$out" || fail "node did not start"
}

start_node "$TMP/prof.out" --perf-basic-prof
MAP=/tmp/perf-$NODE_PID.map
trap 'rm -f "$MAP" "/tmp/perf-${BARE:-0}.map"; cleanup' EXIT
# Let the tiers compile it: the map grows as the function is optimized.
for _ in $(seq 50); do grep -q 'burnTheCpu' "$MAP" 2>/dev/null && break; sleep 0.1; done
check "node wrote $MAP with burnTheCpu" grep -q burnTheCpu "$MAP"
"$LATSCOPE" record -p "$NODE_PID" -d 3 -F 199 -o "$TMP/prof.folded" 2> "$TMP/prof.err" ||
	{ cat "$TMP/prof.err"; fail "record of node failed"; }
cat "$TMP/prof.err"
read -r burn total <<< "$(awk '/burnTheCpu/ { b += $NF } { t += $NF } END { print b + 0, t + 0 }' "$TMP/prof.folded")"
# One busy thread at 199 Hz for 3 s: ~600 samples; 100 keep the share's standard error under 5 points.
check "enough samples ($total >= 100)" test "$total" -ge 100
check "burnTheCpu named in $burn of $total samples (>= 50%)" test $((burn * 2)) -ge "$total"
kill "$NODE_PID"

# No map: the frames are [jit], with the reason. Then a map that is a symlink: refused.
start_node "$TMP/bare.out"
BARE=$NODE_PID
rm -f "/tmp/perf-$BARE.map"
"$LATSCOPE" record -p "$BARE" -d 2 -F 199 -o "$TMP/bare.folded" 2> "$TMP/bare.err" ||
	{ cat "$TMP/bare.err"; fail "record of node without a map failed"; }
cat "$TMP/bare.err"
check "without a map, JIT frames read [jit]" grep -q '\[jit\]' "$TMP/bare.folded"
check "record says why: no /tmp/perf-$BARE.map" grep -q "frames \[jit\]: .*no /tmp/perf-$BARE.map" "$TMP/bare.err"
echo secret > "$TMP/secret"
ln -s "$TMP/secret" "/tmp/perf-$BARE.map"
"$LATSCOPE" record -p "$BARE" -d 1 -F 199 -o "$TMP/link.folded" 2> "$TMP/link.err" ||
	{ cat "$TMP/link.err"; fail "record of node with a symlinked map failed"; }
check "a symlinked map is not followed (and said so)" grep -q 'symbolic link, not followed' "$TMP/link.err"
check "nothing of the link's target in the profile" bash -c "! grep -q secret '$TMP/link.folded'"
kill "$BARE"
assert_no_probes
