#!/usr/bin/env bash
# DESIGN.md's recipes touch the files they name and no others: in a throwaway copy of the
# tree, add a phase (the enum in bpf/latscope.h, a row in lib/phase.c), a trace output
# format (a row in cli/cmd_trace.c's trace_formats) and a record output format (a row and
# a writer in cli/cmd_record.c), build, and check the new phase, formats and tables show
# everywhere they should: trace --help, the phase-table unit test, the BPF object (within
# the verifier budget), record's outputs.
. "$(dirname "$0")/../lib.sh"

COPY=$TMP/tree
mkdir -p "$COPY"
(cd "$ROOT" && git ls-files -z | xargs -0 cp --parents -t "$COPY") || fail "cannot copy the tree"
cd "$COPY"
git init -q && git add -A && git -c user.email=t@t -c user.name=t commit -qm base

# 1. A phase: enum value before LS_PHASE_COUNT, table row.
sed -i 's/^\tLS_PH_QUEUE,$/\tLS_PH_QUEUE,\n\tLS_PH_DUMMY,/' bpf/latscope.h
sed -i 's/^\t{ LS_PH_QUEUE, "queue",/\t{ LS_PH_DUMMY, "dummy", '"'"'y'"'"', LS_COLOUR_GREEN, 0, "a phase added by the recipes test" },\n&/' lib/phase.c
# The row goes after queue's (two lines): move it there.
python3 - <<'PY'
s = open('lib/phase.c').read()
row = '\t{ LS_PH_DUMMY, "dummy", \'y\', LS_COLOUR_GREEN, 0, "a phase added by the recipes test" },\n'
s = s.replace(row, '', 1)
i = s.index('{ LS_PH_QUEUE, "queue"')
j = s.index('},\n', i) + 3
s = s[:j] + row + s[j:]
open('lib/phase.c', 'w').write(s)
PY
# 2. A trace output format: one row (this one reuses the text output).
sed -i 's/^\t{ "json", &json_sink },$/&\n\t{ "plain", \&text_sink },/' cli/cmd_trace.c
# 3. A record output format: a writer and one row.
python3 - <<'PY'
s = open('cli/cmd_record.c').read()
s = s.replace('/* The output formats:', '''/* Stack count only: the recipes test's format. */
static int write_count(FILE *f, const struct rec_out *r)
{
	return fprintf(f, "%zu stacks\\n", r->lines->n) < 0;
}

/* The output formats:''', 1)
s = s.replace('\t{ "svg", { ".svg" }, 0, write_svg },', '\t{ "svg", { ".svg" }, 0, write_svg },\n\t{ "count", { ".count" }, 0, write_count },', 1)
open('cli/cmd_record.c', 'w').write(s)
PY
touched=$(git status --porcelain | awk '{ print $2 }' | sort | tr '\n' ' ')
check "the recipes touch only the files they name ($touched)" \
	test "$touched" = "bpf/latscope.h cli/cmd_record.c cli/cmd_trace.c lib/phase.c "
make -s -j2 BUILD=build build/latscope build/tests/test_tables > "$TMP/build.log" 2>&1 || { tail -30 "$TMP/build.log"; fail "the tree with the additions does not build"; }
check "the phase table covers the new phase (test_tables)" build/tests/test_tables
check "trace --help lists it" grep -q "^  dummy  *a phase added by the recipes test" <(build/latscope trace --help)
build/latscope probes --verifier > "$TMP/v.txt" 2>&1
check "every BPF program still within the verifier budget with one more phase" grep -q "^tls_walk .* ok$" "$TMP/v.txt"
sleep 30 & SLEEPER=$!
PIDS_TO_KILL+=("$SLEEPER")
rc=0
build/latscope trace -p "$SLEEPER" -d 200ms --format plain > "$TMP/plain.txt" 2>&1 || rc=$?
check "trace --format plain is accepted and runs (exit $rc)" test "$rc" -eq 0
rc=0
build/latscope record -p "$SLEEPER" -d 300ms -o "$TMP/p.count" 2> "$TMP/rec.err" || rc=$?
check "record writes the new format from its extension (exit $rc: $(cat "$TMP/p.count" 2>/dev/null))" \
	grep -qE '^[0-9]+ stacks$' "$TMP/p.count"
assert_no_probes
