#!/usr/bin/env bash
# Fuzz the call-site placement (lib/placement: callers' disassembly, blocks, branch
# targets, return sites, PLT stubs, relocations, unwind bounds) and the instruction
# classes (lib/insnclass) with real code: tlscalls' calls to SSL_write (refused: a
# branch into the return span) and SSL_read (placed, and taken through a function
# pointer), the example h2 server's calls to SSL_read, libssl's 8 calls to
# X509_chain_up_ref, and a Go function's caller, built and stripped.
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/fuzz/fuzz.sh"
mkdir -p "$TMP/corpus"
# seed NAME MODE FUNCTION FILE: mode byte, function name, NUL, the ELF file
seed() {
	[[ -s $4 ]] || fail "$4 missing (make test builds it)"
	{ printf "\\x$(printf %02x "$2")%s\\0" "$3"; cat "$4"; } > "$TMP/corpus/$1"
}
seed tls-write 2 SSL_write "$ROOT/build/progs/tlscalls"
seed tls-read 0 SSL_read "$ROOT/build/progs/tlscalls"
seed h2server 2 SSL_read "$ROOT/build/examples/h2server"
seed libssl 10 X509_chain_up_ref /usr/lib/x86_64-linux-gnu/libssl.so.3
seed go 6 main.work "$ROOT/build/tests/fuzz-seeds/gosmall"
seed go-stripped 22 main.work "$ROOT/build/tests/fuzz-seeds/gosmall-stripped"
# Each input is a whole ELF file disassembled: 50-80 inputs/s here, so 40 s for the 1000 that
# fuzz_run asks for, with room for a slower host.
FUZZ_TEST_SECS=40 fuzz_run placement "$TMP/corpus"
