#!/usr/bin/env bash
# Fuzz the /proc/PID/maps reader (lib/procmaps: the objects a target has mapped)
# with real maps: this shell's, a Python process's with libssl loaded, and a
# program's whose executable was deleted while it ran (" (deleted)" lines). Each
# seed starts with the process's executable on a line of its own.
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/fuzz/fuzz.sh"
mkdir -p "$TMP/corpus"
{ readlink /proc/$$/exe; cat /proc/$$/maps; } > "$TMP/corpus/shell"
python3 -c 'import os, ssl, sys; sys.stdout.write(os.readlink("/proc/self/exe") + "\n" + open("/proc/self/maps").read())' \
	> "$TMP/corpus/python"
cp /bin/sleep "$TMP/sleep"
"$TMP/sleep" 30 &
PIDS_TO_KILL+=($!)
for _ in $(seq 100); do [[ $(readlink /proc/$!/exe) == "$TMP/sleep" ]] && break; sleep 0.05; done
rm "$TMP/sleep"
{ readlink /proc/$!/exe; cat /proc/$!/maps; } > "$TMP/corpus/deleted"
grep -q ' (deleted)$' "$TMP/corpus/deleted" || fail "no deleted executable in the maps of $!"
fuzz_run procmaps "$TMP/corpus"
