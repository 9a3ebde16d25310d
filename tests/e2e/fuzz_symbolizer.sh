#!/usr/bin/env bash
# Fuzz the symbolizer on ELF files (symbol tables, DWARF lines, scopes and inline
# chains through libdw, .gopclntab of a stripped Go binary, C++ demangling), from
# real objects and addresses of their own functions: a C program, a C++ program
# with inlined calls, libssl (.dynsym only) and a small Go program, built and
# stripped. The other sources cannot come from a file: a process's mappings are
# read from /proc/PID/maps (and its vdso from /proc/PID/mem), the kernel's
# symbols from /proc/kallsyms.
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/fuzz/fuzz.sh"
mkdir -p "$TMP/corpus"
# seed NAME FILE SYMBOLS FLAGS: the FLAGS byte, up to 8 addresses (functions of SYMBOLS, nm's output, and
# points inside them), FILE.
seed() {
	local name=$1 file=$2 syms=$3 flags=$4
	[[ -s $file ]] || fail "$file missing (make test builds it)"
	awk '$2 ~ /^[Tt]$/ { print $1 }' "$syms" | sort -u | python3 -c '
import random, struct, sys
f = [int(l, 16) for l in sys.stdin]
funcs = sorted(set(f[i * len(f) // 4] for i in range(4))) if f else []
addrs = funcs + [a + random.randrange(1, 64) for a in funcs]
sys.stdout.buffer.write(bytes([int(sys.argv[1]), len(addrs)]) + b"".join(struct.pack("<Q", a) for a in addrs))
	' "$flags" > "$TMP/corpus/$name"
	[[ $(stat -c %s "$TMP/corpus/$name") -gt 2 ]] || fail "no function symbols in $syms"
	cat "$file" >> "$TMP/corpus/$name"
}
nm "$ROOT/build/progs/tlscalls" > "$TMP/tlscalls.nm"
nm "$ROOT/build/progs/cxxinline" > "$TMP/cxxinline.nm"
nm -D --defined-only /usr/lib/x86_64-linux-gnu/libssl.so.3 > "$TMP/libssl.nm"
go tool nm "$ROOT/build/tests/fuzz-seeds/gosmall" | awk '{ print $1, $2, $3 }' > "$TMP/go.nm"
seed tlscalls "$ROOT/build/progs/tlscalls" "$TMP/tlscalls.nm" 0
seed cxxinline "$ROOT/build/progs/cxxinline" "$TMP/cxxinline.nm" 4
seed libssl /usr/lib/x86_64-linux-gnu/libssl.so.3 "$TMP/libssl.nm" 2
seed gosmall "$ROOT/build/tests/fuzz-seeds/gosmall" "$TMP/go.nm" 4
seed gosmall-stripped "$ROOT/build/tests/fuzz-seeds/gosmall-stripped" "$TMP/go.nm" 0
seed gosmall-nodwarf "$ROOT/build/tests/fuzz-seeds/gosmall" "$TMP/go.nm" 1
fuzz_run symbolizer "$TMP/corpus"
