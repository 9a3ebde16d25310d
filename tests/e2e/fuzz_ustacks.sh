#!/usr/bin/env bash
# Fuzz the records of --call-graph dwarf: lib/ustacks (record checks, interning,
# counting) and lib/dwunwind (libdwfl unwinding of the copied stack). The seed is
# a real sample: the fuzzer takes one of its own thread (registers and top of
# stack) before it reads the corpus, so that it unwinds through real CFI in the
# very process that fuzzes; records of other pids are sent to no process.
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/fuzz/fuzz.sh"
mkdir -p "$TMP/corpus"
LS_FUZZ_USTACK_SEED=$TMP/corpus/self fuzz_run ustacks "$TMP/corpus"
