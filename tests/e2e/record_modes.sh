#!/usr/bin/env bash
# Both call-graph modes of record on one target with a known 70/30 CPU split:
# each gives spin_seventy its share within 6 points, and the DWARF mode's
# stacks reach the threads' start. Light enough for the 6.1 VM (vm_record.sh),
# where it shows the sampling programs pass that kernel's verifier.
. "$(dirname "$0")/../lib.sh"
DUR=${DUR:-3}
start_ready split "$ROOT/build/progs/cpusplit" 2
SPLIT=$READY_PID
for mode in fp dwarf; do
	"$LATSCOPE" record -p "$SPLIT" -d "$DUR" -F 999 --call-graph "$mode" -o "$TMP/$mode.folded" 2> "$TMP/$mode.err" ||
		{ cat "$TMP/$mode.err"; fail "record --call-graph $mode failed"; }
	cat "$TMP/$mode.err"
	read -r s70 s30 <<< "$(awk '/spin_seventy/ { a += $NF } /spin_thirty/ { b += $NF } END { print a + 0, b + 0 }' "$TMP/$mode.folded")"
	if [[ ${JUDGE_SPLIT:-1} == 0 ]]; then
		check "$mode: samples in both functions ($s70 + $s30)" test "$s70" -gt 0 -a "$s30" -gt 0
		echo "  (split not judged: $s70 / $s30 in an emulated guest, whose clocks do not keep the target's 70/30 of CPU time)"
		continue
	fi
	# 400 samples: a standard error of 2.3 points on the share, so +- 6 points is a 2.6-sigma band.
	check "$mode: enough samples for the split ($((s70 + s30)) >= 400)" test $((s70 + s30)) -ge 400
	p=$(awk -v a="$s70" -v b="$s30" 'BEGIN { printf "%.1f", 100 * a / (a + b) }')
	check "$mode: spin_seventy has $p% of the spin samples (70 +- 6)" awk -v p="$p" 'BEGIN { exit !(p >= 64 && p <= 76) }'
done
rooted=$(awk '/^_start;.*;main;spin_|;worker;spin_/ { s += $NF } END { print s + 0 }' "$TMP/dwarf.folded")
spins=$(awk '/spin_(seventy|thirty)/ { s += $NF } END { print s + 0 }' "$TMP/dwarf.folded")
check "dwarf: $rooted of $spins spin samples unwind to _start (main thread) or from libc into worker (>= 95%)" \
	test $((rooted * 100)) -ge $((spins * 95))
grep -q 'dwarf: [0-9]* unwound' "$TMP/dwarf.err" || fail "record --call-graph dwarf does not report its unwinding"
kill "$SPLIT"
assert_no_probes
