#!/usr/bin/env bash
# record --call-graph dwarf on a TLS server built on Debian's libssl/libcrypto,
# which have no frame pointers: samples inside those libraries must unwind
# through them to the thread's start (>= 90%). Frame-pointer mode is measured
# on the same server under the same load and reported beside it.
. "$(dirname "$0")/../lib.sh"

start_h2server -t 2
"$ROOT/build/examples/grpcbody" -o "$TMP/empty.bin"
# Big replies (1 MiB) keep the workers encrypting: most of their CPU is in libcrypto.
# SO_REUSEPORT spreads connections by their address hash: with 16 of them both workers
# (main and thread_main) get some except once in 2^15 runs; with 4 it was one in 8.
h2load -D 60 -c 16 -m 1 -t 1 -d "$TMP/empty.bin" -H 'content-type: application/grpc' -H 'te: trailers' \
	"https://127.0.0.1:$PORT/latscope.example.Echo/Big" > "$TMP/h2load.out" 2>&1 &
LOAD=$!; PIDS_TO_KILL+=("$LOAD")
sleep 1

# Names of the functions libssl and libcrypto export, from the files the server maps.
: > "$TMP/tls.names"
for lib in $(awk '$6 ~ /lib(ssl|crypto)\.so/ { print $6 }' "/proc/$H2SERVER_PID/maps" | sort -u); do
	nm -D --defined-only "$lib" | awk '{ print $NF }' | sed 's/@.*//' >> "$TMP/tls.names"
	echo "[unknown_in_$(basename "$lib")]" >> "$TMP/tls.names"
done
[[ -s $TMP/tls.names ]] || fail "h2server maps no libssl/libcrypto"

"$LATSCOPE" record -p "$H2SERVER_PID" -d 4 -F 999 --call-graph dwarf -o "$TMP/dwarf.folded" 2> "$TMP/dwarf.err" ||
	{ cat "$TMP/dwarf.err"; fail "record --call-graph dwarf failed"; }
cat "$TMP/dwarf.err"
"$LATSCOPE" record -p "$H2SERVER_PID" -d 4 -F 999 -o "$TMP/fp.folded" 2> "$TMP/fp.err" ||
	{ cat "$TMP/fp.err"; fail "record (frame pointers) failed"; }
cat "$TMP/fp.err"

# For each stack with a libssl/libcrypto frame: does its user part reach the thread's start?
# Main thread: _start;__libc_start_main;...;main. Workers: libc's clone3;start_thread;thread_main
# (libc exports neither, so they may show as [unknown_in_libc.so.6]).
share() { # share FOLDED: "IN_TLS REACHED"
	awk -v names="$TMP/tls.names" '
	BEGIN { while ((getline n < names) > 0) tls[n] = 1 }
	{
		cnt = $NF; sub(/ [0-9]+$/, "")
		k = split($0, f, ";"); nu = 0
		for (i = 1; i <= k; i++) if (f[i] !~ /_\[k\]$/ && f[i] !~ /^\[(phase:|off-cpu|no stack)/) u[++nu] = f[i]
		hit = 0; start = 0
		for (i = 1; i <= nu; i++) { if (u[i] in tls) hit = 1; if (u[i] == "main" || u[i] == "thread_main") start = 1 }
		root = nu ? u[1] : ""
		rooted = start && (root == "_start" || root == "start_thread" || root ~ /^(__)?clone3?$/ || root == "[unknown_in_libc.so.6]")
		if (hit) { in_tls += cnt; if (rooted) reached += cnt }
	}
	END { printf "%d %d\n", in_tls, reached }' "$1"
}
read -r d_in d_ok <<< "$(share "$TMP/dwarf.folded")"
read -r f_in f_ok <<< "$(share "$TMP/fp.folded")"
d_pct=$(awk -v a="$d_ok" -v b="$d_in" 'BEGIN { printf "%.1f", b ? 100 * a / b : 0 }')
f_pct=$(awk -v a="$f_ok" -v b="$f_in" 'BEGIN { printf "%.1f", b ? 100 * a / b : 0 }')
echo "samples in libssl/libcrypto frames reaching the thread's start:"
echo "  --call-graph dwarf: $d_ok of $d_in ($d_pct%)"
echo "  frame pointers:     $f_ok of $f_in ($f_pct%)"
echo "  deepest dwarf stacks through libcrypto:"
{ grep -F 'libcrypto' "$TMP/dwarf.folded" | sort -t' ' -k2 -nr | head -2 | cut -c1-240 | sed 's/^/    /'; } || true
check "enough samples in libssl/libcrypto to judge ($d_in >= 300)" test "$d_in" -ge 300
check "dwarf: >= 90% of libssl/libcrypto samples unwind to the thread's start ($d_pct%)" \
	awk -v p="$d_pct" 'BEGIN { exit !(p >= 90) }'
check "frame-pointer run saw the load too ($f_in samples in libssl/libcrypto >= 100)" test "$f_in" -ge 100
check "both kinds of thread seen: main and thread_main roots" \
	sh -c "grep -q '^_start;.*;main;' '$TMP/dwarf.folded' && grep -q ';thread_main;' '$TMP/dwarf.folded'"
grep -q 'dwarf: [0-9]* unwound' "$TMP/dwarf.err" || fail "record does not report its unwinding outcome"
unwound=$(sed -n 's/.*dwarf: \([0-9]*\) unwound.*/\1/p' "$TMP/dwarf.err")
total=$(awk '{ s += $NF } END { print s + 0 }' "$TMP/dwarf.folded")
check "every unwound sample is in the profile ($unwound unwound, $total in the folded output)" test "$unwound" -eq "$total"
kill "$LOAD" 2> /dev/null || true
assert_no_probes
