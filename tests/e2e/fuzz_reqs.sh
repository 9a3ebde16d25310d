#!/usr/bin/env bash
# Fuzz the user-space request path (header fragments, HPACK, request records) for a
# bounded time, from a seed corpus of real header blocks written by nghttp2's encoder.
. "$(dirname "$0")/../lib.sh"
FUZZ=$ROOT/build/tests/fuzz_reqs
[[ -x $FUZZ ]] || fail "$FUZZ not built (make test builds it)"
mkdir -p "$TMP/corpus"
# Seeds: RFC 7541 C.3 requests as header records (kind 0, END flag 2, stream 1/3/5, conn 7), and a request record.
printf '\x00\x02\x01\x07\x14\x82\x86\x84\x41\x0f\x77\x77\x77\x2e\x65\x78\x61\x6d\x70\x6c\x65\x2e\x63\x6f\x6d\x01\x00\x01\x07\x10' > "$TMP/corpus/c31"
printf '\x00\x02\x03\x07\x0e\x82\x86\x84\xbe\x58\x08\x6e\x6f\x2d\x63\x61\x63\x68\x65\x05\x00\x03\x07\x01' > "$TMP/corpus/c32"
# A joined connection's block that waits (kind 0x40: LS_HD_SEQWAIT), its table (kind 0x50: :path /ab), its request.
printf '\x40\x12\x01\x07\x03\x82\x87\xbe\x50\x80\x11\x07\x0b\x40\x05:path\x03/ab\x01\x00\x01\x07\x01' > "$TMP/corpus/joined"
printf '\x00\x04\x05\x07\x03\x82\x87\x85\x00\x06\x05\x07\x02\xbf\x40\x01\x00\x05\x07\x02' > "$TMP/corpus/split"
"$FUZZ" -max_total_time="${FUZZ_SECS:-30}" -rss_limit_mb=1024 -print_final_stats=1 "$TMP/corpus" > "$TMP/fuzz.log" 2>&1 ||
	{ tail -40 "$TMP/fuzz.log"; fail "the fuzzer found a crash (reproducer in the log above)"; }
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$TMP/fuzz.log")
cov=$(grep -o 'cov: [0-9]*' "$TMP/fuzz.log" | tail -1)
check "fuzz_reqs ran ${FUZZ_SECS:-30} s without a crash, leak or sanitizer report ($runs inputs, $cov)" test "${runs:-0}" -gt 1000
