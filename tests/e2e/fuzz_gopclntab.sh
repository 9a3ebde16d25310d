#!/usr/bin/env bash
# Fuzz symbolizer/gopclntab (a Go binary's function table, line tables and inline
# trees) with mutated real Go binaries: a small program built stripped, its table
# relabelled as the Go 1.20 and Go 1.16 layouts, and without section headers (the
# table is then found by scanning the read-only segments).
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/fuzz/fuzz.sh"
go=$ROOT/build/tests/fuzz-seeds/gosmall-stripped
[[ -s $go ]] || fail "$go not built (make test builds it)"
mkdir -p "$TMP/corpus"
cp "$go" "$TMP/corpus/go1.18"
off=$(readelf -SW "$go" | sed -n 's/^ *\[ *[0-9]*\] \.gopclntab  *[A-Z]*  *[0-9a-f]*  *\([0-9a-f]*\) .*/\1/p')
[[ -n $off ]] || fail "no .gopclntab in $go"
patch() { # patch FILE OFFSET BYTES: overwrite in place
	printf "$3" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
cp "$go" "$TMP/corpus/go1.20" && patch "$TMP/corpus/go1.20" $((16#$off)) '\xf1'
cp "$go" "$TMP/corpus/go1.16" && patch "$TMP/corpus/go1.16" $((16#$off)) '\xfa'
cp "$go" "$TMP/corpus/no-sections" && patch "$TMP/corpus/no-sections" 40 '\0\0\0\0\0\0\0\0'
# Whole Go binaries: about 160 inputs/s here, so 24 s for fuzz_run's 1000 with room to spare.
FUZZ_TEST_SECS=24 fuzz_run gopclntab "$TMP/corpus"
