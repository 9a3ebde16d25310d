#!/usr/bin/env bash
# Fuzz the HTTP/2 frame splitter that the BPF program runs (bpf/h2split.h) for a bounded
# time: any stream, cut into any buffers, must split exactly as a reference splitter
# splits it whole.
. "$(dirname "$0")/../lib.sh"
FUZZ=$ROOT/build/tests/fuzz_h2split
SECS=${FUZZ_H2SPLIT_SECS:-${FUZZ_SECS:-12}}
[[ -x $FUZZ ]] || fail "$FUZZ not built (make test builds it)"
mkdir -p "$TMP/corpus"
# Seeds. Built streams (mode bit 0), with the client preface (bit 1), cut at up to 9/10/17 bytes
# (bits 2-5): SETTINGS, padded HEADERS with priority, CONTINUATION, DATA with END_STREAM, RST_STREAM.
printf '\x17\x01\x02\x03\x04\x05\x00\x01\x06\x01\x2c\x01\x10\x61\x62\x63\x04\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f\x70\x71\x72\x73\x02\x04\x01\x03\x71\x72\x73\x00\x01\x01\x05\x68\x65\x6c\x6c\x6f' > "$TMP/corpus/built"
printf '\x15\x09\x08\x07\x06\x01\x25\x03\x20\x03\x01\x00\x00\x02\x09\x01\x03\x04\x00\x01\x00\x20\x01\x03\x0a' > "$TMP/corpus/padded"
# A raw stream (mode 0): preface, empty SETTINGS, a HEADERS frame with END_HEADERS | END_STREAM.
printf '\x00\x11\x22\x33\x44PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00\x00\x00\x03\x01\x05\x00\x00\x00\x01\x82\x86\x84' > "$TMP/corpus/raw"
"$FUZZ" -max_total_time="$SECS" -max_len=4096 -rss_limit_mb=1024 -print_final_stats=1 "$TMP/corpus" > "$TMP/fuzz.log" 2>&1 ||
	{ tail -40 "$TMP/fuzz.log"; fail "the fuzzer found a disagreement or a crash (reproducer in the log above)"; }
runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$TMP/fuzz.log")
cov=$(grep -o 'cov: [0-9]*' "$TMP/fuzz.log" | tail -1)
check "fuzz_h2split ran $SECS s: every fragmentation split like the reference ($runs inputs, $cov)" test "${runs:-0}" -gt 1000
