#!/usr/bin/env bash
# Fuzz lib/elfsym (symbol tables, versioned and pattern look-ups, file offsets and
# code, Go build info, a stripped Go binary's .gopclntab) with lib/gofunc and
# lib/gooffsets on top, from real ELF files: a small C program, the example h2
# server, libssl (.dynsym with symbol versions) and a small Go program, as built
# and stripped.
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/fuzz/fuzz.sh"
mkdir -p "$TMP/corpus"
for f in build/progs/tlscalls build/examples/h2server build/tests/fuzz-seeds/gosmall build/tests/fuzz-seeds/gosmall-stripped \
	/usr/lib/x86_64-linux-gnu/libssl.so.3; do
	[[ $f == /* ]] || f=$ROOT/$f
	[[ -s $f ]] || fail "$f missing (make test builds it)"
	cp "$f" "$TMP/corpus/"
done
fuzz_run elfsym "$TMP/corpus" -dict="$ROOT/tests/fuzz/seeds/elfsym.dict"
