#!/usr/bin/env bash
# latscope record on targets with known behaviour: a program spending 70%/30%
# of its CPU in two functions on three threads, and one that sleeps 50 ms per
# loop in a known function (off-CPU).
. "$(dirname "$0")/../lib.sh"

start_ready split "$ROOT/build/progs/cpusplit" 3
SPLIT=$READY_PID
"$LATSCOPE" record -p "$SPLIT" -d 6 -F 999 -o "$TMP/split.folded" 2> "$TMP/rec.err" || { cat "$TMP/rec.err"; fail "record failed"; }
cat "$TMP/rec.err"
total=$(awk '{ s += $NF } END { print s }' "$TMP/split.folded")
seventy=$(awk '/spin_seventy/ { s += $NF } END { print s + 0 }' "$TMP/split.folded")
thirty=$(awk '/spin_thirty/ { s += $NF } END { print s + 0 }' "$TMP/split.folded")
with_main=$(awk '/(^|;)main;/ { s += $NF } END { print s + 0 }' "$TMP/split.folded")
p70=$(awk -v a="$seventy" -v b="$seventy" -v c="$thirty" 'BEGIN { printf "%.1f", 100 * a / (b + c) }')
echo "samples: $total; spin_seventy $seventy, spin_thirty $thirty ($p70% / $(awk -v p="$p70" 'BEGIN{print 100-p}')%)"
check "enough samples for a ~1-point standard error ($total >= 1500)" test "$total" -ge 1500
check "spin_seventy's share $p70% is 70 +- 3 points" awk -v p="$p70" 'BEGIN { exit !(p >= 67 && p <= 73) }'
check "the two functions hold >= 95% of the samples ($((seventy + thirty)) of $total)" test $(((seventy + thirty) * 100)) -ge $((total * 95))
check "stacks reach main through the threads' start ($with_main of $((seventy + thirty)) via main;)" test "$with_main" -gt 0
# The main thread runs the loop from main; the others start in worker (from libc's start_thread).
rooted=$(awk '/(^|;)(main|worker);(spin_|worker;spin_)/ { s += $NF } END { print s + 0 }' "$TMP/split.folded")
# A frame-pointer walk from a sample on a function's first instructions (before its
# push %rbp / mov %rsp,%rbp) skips the caller: a few per 10,000 samples at most.
awk '/spin_/ && !/(^|;)(main|worker);(spin_|worker;spin_)/' "$TMP/split.folded" | head -3
check "spin samples unwind to their thread's start function, main or worker, but for prologue hits ($rooted of $((seventy + thirty)), >= 99.9%)" \
	test $((rooted * 1000)) -ge $(((seventy + thirty) * 999))
if command -v perf > /dev/null && perf record -e cpu-clock -F 999 -g -o "$TMP/perf.data" -p "$SPLIT" -- sleep 2 > /dev/null 2>&1; then
	perf report -i "$TMP/perf.data" --stdio --no-children --sort sym 2> /dev/null | grep -E 'spin_(seventy|thirty)' | head -2 | sed 's/^/  perf: /'
else
	echo "  (perf cannot sample here: compared with the known split only)"
fi
# The same target as an SVG flame graph: valid XML, and every frame as wide as its share of samples.
"$LATSCOPE" record -p "$SPLIT" -d 2 -F 999 -o "$TMP/split.svg" 2> "$TMP/svg.err" || { cat "$TMP/svg.err"; fail "record -o .svg failed"; }
python3 - "$TMP/split.svg" > "$TMP/svg.check" <<'PY' || { cat "$TMP/svg.check"; fail "SVG check failed"; }
import re, sys, xml.dom.minidom
doc = xml.dom.minidom.parse(sys.argv[1])            # raises on invalid XML
svg = doc.documentElement
width, total = float(svg.getAttribute("width")), int(svg.getAttribute("data-total"))
worst, n = 0.0, 0
for g in doc.getElementsByTagName("g"):
    title = g.getElementsByTagName("title")[0].firstChild.data
    count = int(re.search(r"\((\d+) samples", title).group(1))
    w = float(g.getElementsByTagName("rect")[0].getAttribute("width"))
    worst = max(worst, abs(w - width * count / total))
    n += 1
names = " ".join(g.getElementsByTagName("title")[0].firstChild.data for g in doc.getElementsByTagName("g"))
assert "spin_seventy" in names and "spin_thirty" in names, "expected frames missing"
assert worst < 0.01, "a frame's width is off by %.3f px" % worst
print("%d frames, widths within %.4f px of count/total x %d px" % (n, worst, width))
PY
pass "SVG flame graph: valid XML, $(cat "$TMP/svg.check")"
kill "$SPLIT"

start_ready sleep "$ROOT/build/progs/sleeper"
SLEEPER=$READY_PID
"$LATSCOPE" record -p "$SLEEPER" -d 3 --off-cpu -o "$TMP/off.folded" 2> "$TMP/off.err" || { cat "$TMP/off.err"; fail "record --off-cpu failed"; }
blocked_us=$(awk '/^\[off-cpu\];.*wait_for_it/ { s += $NF } END { print s + 0 }' "$TMP/off.folded")
# 3 s of recording, 50 ms per loop: ~60 loops, ~3 s blocked in wait_for_it. A sleep is
# counted when it ends, so one that began before the recording adds up to 50 ms more.
rec_ms=$(sed -n 's/.*stacks, \([0-9.]*\)s at .*/\1/p' "$TMP/off.err" | awk '{ printf "%d", $1 * 1000 }')
[[ -n $rec_ms ]] || { cat "$TMP/off.err"; fail "record did not say how long it recorded"; }
check "off-CPU: wait_for_it blocked ${blocked_us} us of a ${rec_ms} ms recording (80% of it .. all of it + one 50 ms sleep + rounding)" \
	test "$blocked_us" -ge $((rec_ms * 800)) -a "$blocked_us" -le $(((rec_ms + 110) * 1000))
loops=$(awk -v b="$blocked_us" 'BEGIN { printf "%d", b / 50000 }')
check "off-CPU: ~50 ms per iteration ($loops iterations of 50 ms in 3 s: 48..62)" test "$loops" -ge 48 -a "$loops" -le 62
grep -q 'nanosleep' "$TMP/off.folded" || grep -q 'hrtimer_nanosleep_\[k\]\|schedule_\[k\]' "$TMP/off.folded" || fail "off-CPU stacks show no sleeping frames"
pass "off-CPU stacks show where it sleeps: $(grep wait_for_it "$TMP/off.folded" | sort -t' ' -k2 -nr | head -1 | cut -c1-160)"
kill "$SLEEPER"
assert_no_probes
