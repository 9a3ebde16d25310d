#!/usr/bin/env bash
# Fuzz the JIT symbol map parser (symbolizer/perfmap.c), which reads what any
# target writes to /tmp/perf-PID.map. Seeds: Node.js and Java agent styles,
# odd lines (CRLF, tabs, control characters, empty and wrapping ranges,
# numbers too long) in tests/fuzz/seeds/perfmap.
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/fuzz/fuzz.sh"
mkdir -p "$TMP/corpus"
cp "$ROOT"/tests/fuzz/seeds/perfmap/*.map "$TMP/corpus/"
fuzz_run perfmap "$TMP/corpus" -max_len=4096
