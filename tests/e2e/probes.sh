#!/usr/bin/env bash
# latscope probes: OpenSSL symbols resolved to the library nghttpd really maps, at the
# offsets the ELF file says; reported missing, with a reason, for a process without TLS.
. "$(dirname "$0")/../lib.sh"

start_nghttpd
"$LATSCOPE" probes -p "$NGHTTPD_PID" --json > "$TMP/p.json" 2> "$TMP/p.err" || { cat "$TMP/p.err"; fail "probes failed"; }
libssl=$(awk '$6 ~ /libssl\.so/ {print $6; exit}' "/proc/$NGHTTPD_PID/maps")
[[ -n $libssl ]] || fail "nghttpd maps no libssl"
readelf -W --dyn-syms "$libssl" > "$TMP/dynsym"
readelf -Wl "$libssl" > "$TMP/phdrs"
for sym in SSL_read SSL_write SSL_read_ex SSL_write_ex SSL_do_handshake; do
	got=$(jq -r ".probes[] | select(.symbol==\"$sym\") | \"\(.found) \(.path) \(.offset)\"" "$TMP/p.json")
	read -r found path off <<< "$got"
	[[ $found == true && $path == "$libssl" ]] || fail "$sym: got '$got', expected found in $libssl"
	# The uprobe offset must be the symbol's file offset: readelf's value (p_vaddr == p_offset for .text here).
	val=$(gawk -v s="$sym" '$8 == s || $8 ~ "^"s"@" {print strtonum("0x"$2); exit}' "$TMP/dynsym")
	seg=$(gawk -v v="$val" '$1=="LOAD" { o=strtonum($2); va=strtonum($3); fs=strtonum($5); if (v >= va && v < va+fs) { print v - va + o; exit } }' "$TMP/phdrs")
	[[ $off == "$seg" ]] || fail "$sym: offset $off, readelf says $seg"
	pass "$sym found in $libssl at file offset $off (readelf agrees)"
done
hook=$(jq -r .kernel_hook "$TMP/p.json")
[[ $hook != none ]] || fail "no kernel hook chosen"
jq -e '.kernel_hook_tried | length > 0' "$TMP/p.json" > /dev/null || fail "no record of which kernel hooks were tried"
pass "kernel hook $hook chosen; tried: $(jq -r '[.kernel_hook_tried[] | "\(.hook)=\(.result)"] | join("; ")' "$TMP/p.json")"

"$LATSCOPE" probes -p "$NGHTTPD_PID" > "$TMP/p.txt"
grep -Eq "^SSL_read +tls +found +0x[0-9a-f]+ +$libssl$" "$TMP/p.txt" || { cat "$TMP/p.txt"; fail "plain output lacks the SSL_read line"; }
pass "plain output lists SSL_read with its library"

sleep 300 & SLEEP_PID=$!; PIDS_TO_KILL+=("$SLEEP_PID")
"$LATSCOPE" probes -p "$SLEEP_PID" --json > "$TMP/s.json"
missing=$(jq '[.probes[] | select(.library=="openssl" and .found==false and (.reason | test("^not mapped")))] | length' "$TMP/s.json")
total=$(jq '[.probes[] | select(.library=="openssl")] | length' "$TMP/s.json")
[[ $missing -eq $total && $total -ge 7 ]] || { cat "$TMP/s.json"; fail "sleep: $missing of $total OpenSSL probes reported missing"; }
pass "sleep: all $total OpenSSL probes missing, reason: $(jq -r '[.probes[] | select(.found==false)][0].reason' "$TMP/s.json")"
assert_no_probes
