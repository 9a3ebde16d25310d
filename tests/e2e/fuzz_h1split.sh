#!/usr/bin/env bash
# Fuzz the HTTP/1 framing the BPF walk runs (bpf/h1split.h) and the request-line parser
# (lib/http1.c), tests/fuzz/fuzz_h1split.c: the same messages whatever the buffers the
# stream is cut into, from the seeds in tests/fuzz/seeds/h1split (pipelined requests with
# bodies, chunked both ways, interim, bodiless and close-delimited responses, an upgrade).
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/fuzz/fuzz.sh"
mkdir -p "$TMP/corpus"
cp "$ROOT"/tests/fuzz/seeds/h1split/* "$TMP/corpus/"
fuzz_run h1split "$TMP/corpus" -max_len=4096
