#!/usr/bin/env bash
# latscope record -o x.pb.gz: go tool pprof reads the file, and its top
# functions are those of the folded output of the same recording; locations
# carry file:line with inlined calls as extra lines, mappings carry build-ids.
. "$(dirname "$0")/../lib.sh"
command -v go > /dev/null || fail "go (golang-go) is needed for go tool pprof"
export GOFLAGS= GOPROXY=off GOCACHE="$TMP/go-cache" HOME="$TMP"

start_ready split "$ROOT/build/progs/cpusplit" 3
SPLIT=$READY_PID
"$LATSCOPE" record -p "$SPLIT" -d 4 -F 499 -o "$TMP/p.folded" -o "$TMP/p.pb.gz" 2> "$TMP/rec.err" || { cat "$TMP/rec.err"; fail "record failed"; }
cat "$TMP/rec.err"
kill "$SPLIT"
check "the pprof file is gzip" sh -c "gzip -t '$TMP/p.pb.gz'"
go tool pprof -top -sample_index=samples -nodefraction=0 -nodecount=100000 "$TMP/p.pb.gz" > "$TMP/top.txt" 2> "$TMP/top.err" ||
	{ cat "$TMP/top.err"; fail "go tool pprof cannot read the profile"; }
head -14 "$TMP/top.txt"
go tool pprof -top -cum -sample_index=samples -nodefraction=0 -nodecount=100000 "$TMP/p.pb.gz" > "$TMP/cum.txt" 2> "$TMP/top.err" ||
	{ cat "$TMP/top.err"; fail "go tool pprof -top -cum failed"; }
python3 - "$TMP/top.txt" "$TMP/cum.txt" "$TMP/p.folded" <<'PY' || fail "pprof top functions differ from the folded output"
import collections, sys

def pprof_rows(path, col):
    rows, started = [], False
    for line in open(path):
        f = line.split()
        if started and len(f) >= 6:
            # pprof marks functions inlined at some (or all) of their sites; the name is the rest.
            fn = " ".join(f[5:]).replace(" (partial-inline)", "").replace(" (inline)", "")
            rows.append((fn.replace(" ", "_").replace(";", "_"), int(f[col])))
        started |= f[:1] == ["flat"]
    return rows

def name(frame):
    return frame[:-4] if frame.endswith("_[k]") else frame

flat, cum = collections.Counter(), collections.Counter()
for line in open(sys.argv[3]):
    stack, n = line.rsplit(" ", 1)
    # A sample whose stack was lost has no location in pprof: no frame to compare.
    frames = [name(f) for f in stack.split(";") if f != "[no_stack]"]
    if not frames:
        continue
    flat[frames[-1]] += int(n)
    for f in set(frames):
        cum[f] += int(n)

def compare(what, rows, ours):
    top = [r for r in rows if r[1] > 0][:5]
    print("pprof -top%s: %s" % (what, ", ".join("%s %d" % r for r in top)))
    print("folded%s:     %s" % (what, ", ".join("%s %d" % kv for kv in ours.most_common(5))))
    # Equal counts may come in either order: each name must have our count, and the counts our ranking.
    assert all(ours[n] == v for n, v in top), "a top function's count differs"
    assert [v for _, v in top] == sorted(ours.values(), reverse=True)[:len(top)], "the top counts differ"
    return len(top)

nflat = compare("", pprof_rows(sys.argv[1], 0), flat)
ncum = compare(" -cum", pprof_rows(sys.argv[2], 3), cum)
assert ncum == 5, "fewer than 5 functions"
print("ok - go tool pprof -top lists the folded output's top functions with the same counts "
      "(%d by self samples, 5 by cumulative samples, %d samples)" % (nflat, sum(flat.values())))
PY
go tool pprof -raw "$TMP/p.pb.gz" > "$TMP/raw.txt" 2>&1 || fail "go tool pprof -raw failed"
bid=$(readelf -n "$ROOT/build/progs/cpusplit" | awk '/Build ID/ { print $3 }')
check "the cpusplit mapping carries its build-id $bid" grep -q "cpusplit $bid" "$TMP/raw.txt"
check "locations carry file:line (spin_seventy at cpusplit.c)" grep -qE 'spin_seventy .*/tests/progs/cpusplit.c:[0-9]+' "$TMP/raw.txt"
# worker() is inlined into main(): one location, two lines, the caller last.
check "an inlined call is one location with the inlined function first, then its caller" \
	awk '/^ +[0-9]+: 0x/ { prev = $4; next } /^ +main / && prev == "worker" { found = 1 } END { exit !found }' "$TMP/raw.txt"
check "sample types: samples/count, cpu/nanoseconds (the default), off_cpu/nanoseconds" \
	grep -qE '^samples/count cpu/nanoseconds\[dflt\] off_cpu/nanoseconds' "$TMP/raw.txt"
check "every sample's CPU time is its count times the period" awk '/^Period:/ { p = $2 }
	/^ +[0-9]+ +[0-9]+ +[0-9]+: / { n++; if ($2 != $1 * p) bad++ } END { exit !(n > 0 && !bad) }' "$TMP/raw.txt"

# Off-CPU time in pprof: a thread sleeping 50 ms per loop in wait_for_it, for 3 s.
start_ready sleep "$ROOT/build/progs/sleeper"
SLEEPER=$READY_PID
"$LATSCOPE" record -p "$SLEEPER" -d 3 --off-cpu -o "$TMP/off.pb.gz" 2> "$TMP/off.err" || { cat "$TMP/off.err"; fail "record --off-cpu failed"; }
kill "$SLEEPER"
go tool pprof -top -cum -sample_index=off_cpu -unit=ms -nodefraction=0 "$TMP/off.pb.gz" > "$TMP/off.txt" 2>&1 || { cat "$TMP/off.txt"; fail "go tool pprof on the off-CPU profile failed"; }
off_ms=$(awk '$NF == "wait_for_it" { v = $4; sub(/ms$/, "", v); print int(v) }' "$TMP/off.txt")
# No more blocked time than the recording lasted (its window bounds blocks that straddle it).
dur_ms=$(sed -n 's/^Duration: \([0-9.]*\)s,.*/\1/p' "$TMP/off.txt" | awk '{ print int($1 * 1000 + 0.5) }')
check "off_cpu/nanoseconds: wait_for_it blocked ${off_ms:-?} ms of the recording's ${dur_ms:-?} ms (at least 2400)" \
	test "${off_ms:-0}" -ge 2400 -a "${dur_ms:-0}" -ge 3000 -a "${off_ms:-0}" -le "${dur_ms:-0}"
assert_no_probes
