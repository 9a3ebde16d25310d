#!/usr/bin/env bash
# DESIGN.md's recipes touch the files they name and no others: in a throwaway copy of the
# tree, add a phase (the enum in bpf/latscope.h, a row in lib/phase.c), a probed library
# (a probe id in bpf/latscope.h; its name, catalog entry and file name in lib/catalog.c),
# a trace output format (a row in cli/cmd_trace.c's trace_formats), a record output format
# (a row and a writer in cli/cmd_record.c) and a top panel (a view, its draw function, a key
# and its binding in cli/tui.c), build, and check each shows where it should: trace --help,
# the tables' unit test, probes, the BPF object (within the verifier budget), record's and
# trace's outputs, the binary's help screen text.
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
# 2. A probed library: a probe id, its name, a catalog entry, the library's file name.
sed -i 's/^\tLS_PROBE_COUNT,$/\tLS_PROBE_DUMMY,\n&/' bpf/latscope.h
python3 - <<'PY'
s = open('lib/catalog.c').read()
s = s.replace('static const struct ls_catalog_entry catalog[] = {',
	'static const struct ls_catalog_entry catalog[] = {\n\t{ "dummylib", "dummy_decode", "proto", LS_PROBE_DUMMY, LS_ARG_PTR_RESULT, LS_KIND_DECODE, LS_CAT_RETPROBE, NULL },', 1)
s = s.replace('\t[LS_PROBE_SSL_READ] = "SSL_read",', '\t[LS_PROBE_DUMMY] = "dummy_decode",\n\t[LS_PROBE_SSL_READ] = "SSL_read",', 1)
s = s.replace('\t{ "grpc", "libgrpc." },', '\t{ "grpc", "libgrpc." },\n\t{ "dummylib", "libdummy." },', 1)
open('lib/catalog.c', 'w').write(s)
PY
# 3. A trace output format: one row (this one reuses the text output).
sed -i 's/^\t{ "json", &json_sink },$/&\n\t{ "plain", \&text_sink },/' cli/cmd_trace.c
# 4. A record output format: a writer and one row.
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
# 5. A top panel: a view, its draw function, a key opening it and the key's binding.
python3 - <<'PY'
s = open('cli/tui.c').read()
s = s.replace('enum view { VIEW_MAIN, VIEW_DETAIL, VIEW_HELP };', 'enum view { VIEW_MAIN, VIEW_DETAIL, VIEW_HELP, VIEW_LEGEND };', 1)
s = s.replace('\tK_FILTER, K_HELP,', '\tK_FILTER, K_HELP, K_LEGEND,', 1)
s = s.replace('\t{ { \'h\', \'?\', KEY_F(1) }, "h ? F1", K_HELP, "help", "this help" },',
	'\t{ { \'h\', \'?\', KEY_F(1) }, "h ? F1", K_HELP, "help", "this help" },\n'
	'\t{ { \'L\', 0 }, "L", K_LEGEND, "legend", "the phase legend, alone on the screen" },', 1)
s = s.replace('static void draw_help(struct tui *t, const struct top_snap *snap, const char *status);',
	'static void draw_help(struct tui *t, const struct top_snap *snap, const char *status);\n'
	'static void draw_legend_view(struct tui *t, const struct top_snap *snap, const char *status);', 1)
s = s.replace('\t[VIEW_HELP] = { "help", 0, draw_help, help_key, NULL, 0 },',
	'\t[VIEW_HELP] = { "help", 0, draw_help, help_key, NULL, 0 },\n'
	'\t[VIEW_LEGEND] = { "legend", 0, draw_legend_view, help_key, NULL, 0 },', 1)
s = s.replace('\tcase K_HELP:\n', '\tcase K_LEGEND:\n\t\tt->back = t->view;\n\t\tt->view = VIEW_LEGEND;\n\t\tbreak;\n\tcase K_HELP:\n', 1)
s += """
static void draw_legend_view(struct tui *t, const struct top_snap *snap, const char *status)
{
	(void)t;
	(void)snap;
	(void)status;
	mvaddstr(0, 0, "phases (any key returns)");
	for (unsigned int p = 0; p < LS_PHASE_COUNT; p++)
		mvprintw(2 + (int)p, 2, "%c %s", ls_phase_letter(p), ls_phase_name(p));
}
"""
open('cli/tui.c', 'w').write(s)
PY
touched=$(git status --porcelain | awk '{ print $2 }' | sort | tr '\n' ' ')
check "the recipes touch only the files they name ($touched)" \
	test "$touched" = "bpf/latscope.h cli/cmd_record.c cli/cmd_trace.c cli/tui.c lib/catalog.c lib/phase.c "
make -s -j2 BUILD=build build/latscope build/tests/test_tables > "$TMP/build.log" 2>&1 || { tail -30 "$TMP/build.log"; fail "the tree with the additions does not build"; }
check "the phase table covers the new phase (test_tables)" build/tests/test_tables
check "trace --help lists it" grep -q "^  dummy  *a phase added by the recipes test" <(build/latscope trace --help)
check "the top binary carries the new panel's key in its help table" grep -q "the phase legend, alone on the screen" <(strings build/latscope)
build/latscope probes --verifier > "$TMP/v.txt" 2>&1
check "every BPF program still within the verifier budget with one more phase" grep -q "^tls_walk .* ok$" "$TMP/v.txt"
sleep 30 & SLEEPER=$!
PIDS_TO_KILL+=("$SLEEPER")
build/latscope probes -p "$SLEEPER" --json > "$TMP/probes.json" 2>/dev/null
check "probes lists the new library's function, missing with its reason" \
	jq -e '.probes[] | select(.symbol == "dummy_decode" and .library == "dummylib" and .found == false and (.reason | test("dummylib")))' "$TMP/probes.json"
rc=0
build/latscope trace -p "$SLEEPER" -d 200ms --format plain > "$TMP/plain.txt" 2>&1 || rc=$?
check "trace --format plain is accepted and runs (exit $rc)" test "$rc" -eq 0
rc=0
build/latscope record -p "$SLEEPER" -d 300ms -o "$TMP/p.count" 2> "$TMP/rec.err" || rc=$?
check "record writes the new format from its extension (exit $rc: $(cat "$TMP/p.count" 2>/dev/null))" \
	grep -qE '^[0-9]+ stacks$' "$TMP/p.count"
assert_no_probes
