#!/usr/bin/env bash
# The SVG flame graph of `record`, in a real browser: valid XML, opens in
# headless Chromium with no console message or uncaught error, its script
# runs (every frame prepared, click zooms, Escape resets), a screenshot goes
# to build/test-artifacts/. And the frames drawn from a recorded folded
# profile are as wide as that profile's counts, frame by frame.
. "$(dirname "$0")/../lib.sh"
ART=$ROOT/build/test-artifacts
mkdir -p "$ART"
command -v chromium > /dev/null || fail "chromium is not installed (Debian package chromium, in deps/packages.txt)"
chrome() { timeout 60 chromium --headless --no-sandbox --disable-gpu --no-first-run --hide-scrollbars \
	--enable-logging=stderr --v=0 "$@"; }

start_ready split "$ROOT/build/progs/cpusplit" 3
SPLIT=$READY_PID
"$LATSCOPE" record -p "$SPLIT" -d 2 -F 999 --call-graph dwarf -o "$TMP/p.svg" 2> "$TMP/svg.err" ||
	{ cat "$TMP/svg.err"; fail "record -o .svg failed"; }
"$LATSCOPE" record -p "$SPLIT" -d 2 -F 999 -o "$TMP/p.folded" 2> "$TMP/folded.err" ||
	{ cat "$TMP/folded.err"; fail "record -o .folded failed"; }
kill "$SPLIT"
python3 -c 'import sys, xml.dom.minidom; xml.dom.minidom.parse(sys.argv[1])' "$TMP/p.svg" || fail "record's SVG is not valid XML"
pass "record's SVG is valid XML ($(grep -c '<g class="f">' "$TMP/p.svg") frames)"

# The console capture must see errors at all: a page that logs and throws is the control.
printf '%s\n' '<?xml version="1.0"?>' \
	'<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><script>console.error("control"); nosuch();</script></svg>' > "$TMP/bad.svg"
chrome --dump-dom "file://$TMP/bad.svg" > /dev/null 2> "$TMP/bad.log" || fail "chromium cannot run here: $(tail -3 "$TMP/bad.log")"
grep -q 'CONSOLE.*Uncaught ReferenceError' "$TMP/bad.log" || fail "chromium's console capture shows no error from the control page"
pass "console capture works (the control page's error is seen)"

# A harness page loads the SVG in a frame, checks its script prepared every frame, clicks one, presses Escape.
cat > "$TMP/harness.html" <<'HTML'
<!doctype html><html><body><pre id="out">not run</pre>
<iframe id="f" src="p.svg" width="1200" height="800"></iframe>
<script>
document.getElementById('f').addEventListener('load', () => {
  const out = document.getElementById('out');
  try {
    const d = document.getElementById('f').contentDocument, frames = [...d.querySelectorAll('g.f')];
    const ready = frames.filter(g => g.dataset.x !== undefined && g.dataset.n !== undefined).length;
    const target = frames.find(g => g.dataset.n === 'spin_thirty');
    target.dispatchEvent(new MouseEvent('click', { bubbles: true }));
    const zoomed = +target.querySelector('rect').getAttribute('width');
    d.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape', bubbles: true }));
    const reset = +target.querySelector('rect').getAttribute('width');
    out.textContent = JSON.stringify({ frames: frames.length, ready, orig: +target.dataset.w, zoomed, reset });
  } catch (e) { out.textContent = 'harness error: ' + e; }
});
</script></body></html>
HTML
chrome --allow-file-access-from-files --dump-dom "file://$TMP/harness.html" > "$TMP/dom.html" 2> "$TMP/chrome1.log" ||
	fail "chromium failed on the harness page: $(tail -3 "$TMP/chrome1.log")"
result=$(sed -n 's/.*<pre id="out">\([^<]*\)<.*/\1/p' "$TMP/dom.html")
echo "harness: $result"
echo "$result" | jq -e '.frames > 10 and .ready == .frames and .zoomed > 1199 and (.reset - .orig | fabs) < 0.01' > /dev/null ||
	fail "the SVG's script did not prepare, zoom and reset its frames: $result"
pass "script ran in Chromium: every frame prepared, click on spin_thirty zoomed it to full width, Escape reset it"
height=$(sed -n 's/^<svg [^>]* height="\([0-9]*\)".*/\1/p' "$TMP/p.svg")
chrome --window-size="1200,$height" --screenshot="$ART/record_svg.png" "file://$TMP/p.svg" > /dev/null 2> "$TMP/chrome2.log" ||
	fail "chromium screenshot failed: $(tail -3 "$TMP/chrome2.log")"
test -s "$ART/record_svg.png" || fail "no screenshot written"
cp "$TMP/p.svg" "$ART/record_svg.svg"
pass "screenshot: build/test-artifacts/record_svg.png ($(stat -c %s "$ART/record_svg.png") bytes)"
if grep -h 'CONSOLE' "$TMP/chrome1.log" "$TMP/chrome2.log"; then
	fail "console messages while the SVG loaded and was clicked (above)"
fi
pass "no console message or uncaught error while loading, zooming and resetting"

# Frame widths against the folded counts: the recorded folded profile drawn by record's writer.
"$ROOT/build/progs/folded2svg" < "$TMP/p.folded" > "$TMP/f.svg" || fail "folded2svg failed"
python3 - "$TMP/p.folded" "$TMP/f.svg" > "$TMP/widths" <<'PY' || { cat "$TMP/widths"; fail "frame widths do not match the folded counts"; }
import collections, re, sys, xml.dom.minidom
counts = collections.Counter()
for line in open(sys.argv[1]):
    stack, n = line.rstrip("\n").rsplit(" ", 1)
    parts = stack.split(";")
    for i in range(1, len(parts) + 1):
        counts[";".join(parts[:i])] += int(n)
total = sum(int(l.rsplit(" ", 1)[1]) for l in open(sys.argv[1]))
doc = xml.dom.minidom.parse(sys.argv[2])
W = float(doc.documentElement.getAttribute("width"))
frames = []
for g in doc.getElementsByTagName("g"):
    t = g.getElementsByTagName("title")[0].firstChild.data
    m = re.match(r"(.*) \((\d+) samples, [0-9.]+%\)$", t)
    r = g.getElementsByTagName("rect")[0]
    frames.append((float(r.getAttribute("y")), float(r.getAttribute("x")), float(r.getAttribute("width")), m.group(1), int(m.group(2))))
# Rows from the bottom (root) up; a frame's parent is the frame below it that spans its x.
ys = sorted({f[0] for f in frames}, reverse=True)
level = {y: i for i, y in enumerate(ys)}
paths, checked, worst = {}, 0, 0.0
for y, x, w, name, n in sorted(frames, key=lambda f: -f[0]):
    l = level[y]
    if l == 0:
        assert name == "all" and n == total, "root frame %s %d, folded total %d" % (name, n, total)
        paths[(l, x)] = (x, w, "")
        continue
    parent = [p for (pl, _), p in paths.items() if pl == l - 1 and p[0] - 0.01 <= x and x + w <= p[0] + p[1] + 0.02]
    assert len(parent) == 1, "frame %s at level %d has %d parents" % (name, l, len(parent))
    path = (parent[0][2] + ";" if parent[0][2] else "") + name
    paths[(l, x)] = (x, w, path)
    assert counts[path] == n, "%s: SVG says %d, folded says %d" % (path, n, counts[path])
    worst = max(worst, abs(w - W * counts[path] / total))
    checked += 1
drawn = {p[2] for p in paths.values()}
missing = [p for p, c in counts.items() if W * c / total >= 0.1 and p not in drawn]
assert not missing, "folded paths wider than 0.1 px not drawn: %s" % missing[:5]
assert worst < 0.01, "a frame is %.4f px off its folded share" % worst
print("%d frames, each with its folded path's count; widths within %.4f px of count/%d x %d px" % (checked, worst, total, W))
PY
pass "$(cat "$TMP/widths")"
assert_no_probes
