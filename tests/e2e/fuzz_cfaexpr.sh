#!/usr/bin/env bash
# Fuzz lib/cfaexpr (a CFA expression of a stranger's unwind tables, evaluated at an
# address), seeded with the rules ld writes for PLT stubs: the lazy .plt's at a stub's
# first and 12th byte, the IBT .plt's, and a plain sp + 8.
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/fuzz/fuzz.sh"
mkdir -p "$TMP/corpus"
op() { # op OPCODE [NUMBER]: one operation, 17 bytes
	printf "$(printf '\\x%02x' "$1")"
	local v=${2:-0} i
	for i in 0 1 2 3 4 5 6 7; do printf "$(printf '\\x%02x' $(((v >> (8 * i)) & 255)))"; done
	printf '\0\0\0\0\0\0\0\0'
}
pc() { local i; for i in 0 1 2 3 4 5 6 7; do printf "$(printf '\\x%02x' $((($1 >> (8 * i)) & 255)))"; done; }
plt() { # plt PC K: the .plt rule with the push at byte K
	pc "$1"
	op 0x77 8; op 0x80 0; op 0x3f; op 0x1a; op $((0x30 + $2)); op 0x2a; op 0x33; op 0x24; op 0x22
}
plt $((0x3030)) 11 > "$TMP/corpus/lazy0"
plt $((0x303c)) 11 > "$TMP/corpus/lazy12"
plt $((0x1000)) 10 > "$TMP/corpus/ibt"
{ pc 0; op 0x77 8; } > "$TMP/corpus/sp8"
fuzz_run cfaexpr "$TMP/corpus"
