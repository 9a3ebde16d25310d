#!/usr/bin/env bash
# The symbolizer against elfutils' eu-addr2line -f -i (the oracle): function
# names, inline chains and file:line:column for a fixed corpus of addresses
# sampled from each binary's own .text (seeded, so every run checks the same
# addresses): a generated -O2 -g program full of inlined calls, latscope
# itself, and Debian's stripped libssl, libcrypto and libc. Then kernel
# addresses against a lookup of /proc/kallsyms done here.
. "$(dirname "$0")/../lib.sh"

LIBDIR=/usr/lib/x86_64-linux-gnu
python3 - "$LATSCOPE" "$TMP" \
	"$ROOT/build/progs/inlines:3500" "$LATSCOPE:2000" "$ROOT/build/progs/cxxinline:1500" \
	"$LIBDIR/libssl.so.3:1500" "$LIBDIR/libcrypto.so.3:2000" "$LIBDIR/libc.so.6:2000" <<'PY' || fail "symbolizer differs from eu-addr2line"
import json, random, subprocess, sys

latscope, tmp, targets = sys.argv[1], sys.argv[2], sys.argv[3:]

def text_range(path):
    for line in subprocess.run(["readelf", "-SW", path], capture_output=True, text=True, check=True).stdout.splitlines():
        f = line.replace("[ ", "[").split()
        if len(f) > 5 and f[1] == ".text":
            return int(f[3], 16), int(f[5], 16)
    raise SystemExit("%s: no .text" % path)

def loc(s):
    if s == "??:0":
        return (None, 0, 0)
    parts = s.rsplit(":", 2)
    if len(parts) == 3 and parts[1].isdigit() and parts[2].isdigit():
        return (parts[0], int(parts[1]), int(parts[2]))
    parts = s.rsplit(":", 1)
    return (parts[0], int(parts[1]), 0)

def oracle(path, addrs):
    """eu-addr2line's answer per address: a list of (func, file, line, column), innermost first; [] for ??."""
    out = subprocess.run(["eu-addr2line", "-f", "-i", "-a", "-C", "-e", path], input="".join("0x%x\n" % a for a in addrs),
                         capture_output=True, text=True).stdout.splitlines()  # exits 1 when any address is ??
    res, i = [], 0
    while i < len(out):
        assert out[i].startswith("0x"), out[i]
        name, first = out[i + 1].split(" inlined at ")[0], loc(out[i + 2])
        frames, i = [(name,) + first], i + 3
        while i < len(out) and not out[i].startswith("0x"):
            frames.append((out[i],) + loc(out[i + 1]))
            i += 2
        res.append([] if name == "??" else frames)
    assert len(res) == len(addrs)
    return res

def ours(args, addrs):
    out = subprocess.run([latscope, "symbolize", "--json", "-i"] + args, input="".join("0x%x\n" % a for a in addrs),
                         capture_output=True, text=True, check=True).stdout.splitlines()
    res = []
    for l in out:
        o = json.loads(l)
        res.append([] if o["func"] is None else
                   [(f["func"], f.get("file"), f.get("line", 0), f.get("column", 0)) for f in o["frames"]])
    assert len(res) == len(addrs)
    return res

total = good = 0
bad = []
for t in targets:
    path, n = t.rsplit(":", 1)
    lo, size = text_range(path)
    rnd = random.Random(20261201)
    addrs = sorted(lo + rnd.randrange(size) for _ in range(int(n)))
    want, got = oracle(path, addrs), ours(["-e", path], addrs)
    ok = sum(w == g for w, g in zip(want, got))
    inl = sum(len(w) > 1 for w in want)
    lines = sum(bool(w) and w[0][1] is not None for w in want)
    print("%-45s %5d addresses, %5d with file:line, %5d inside inlined calls: %5d equal (%.2f%%)"
          % (path, len(addrs), lines, inl, ok, 100.0 * ok / len(addrs)))
    total += len(addrs)
    good += ok
    bad += [(path, a, w, g) for a, w, g in zip(addrs, want, got) if w != g]
def short(frames):
    return " <- ".join("%s %s:%d:%d" % (f[0] if len(f[0]) < 60 else f[0][:57] + "...", (f[1] or "??").split("/")[-1],
                                      f[2], f[3]) for f in frames) or "??"
def binutils(path, a):
    """binutils' addr2line -f -i -C for one address, as frames (names and file:line only): a second opinion."""
    out = subprocess.run(["addr2line", "-f", "-i", "-C", "-e", path, "0x%x" % a], capture_output=True, text=True).stdout.splitlines()
    return [(out[i], loc(out[i + 1].split(" (discriminator")[0])[:2]) for i in range(0, len(out) - 1, 2)]
for path, a, w, g in bad[:40]:
    second = binutils(path, a)
    agree = "latscope" if second == [(f[0], f[1:3]) for f in g] else "eu-addr2line" if second == [(f[0], f[1:3]) for f in w] else "neither"
    print("  mismatch %s 0x%x (binutils addr2line agrees with %s)\n    eu-addr2line: %s\n    latscope:     %s"
          % (path, a, agree, short(w), short(g)))
pct = 100.0 * good / total
print("ok - symbolizer equals eu-addr2line -f -i on %d of %d addresses (%.2f%%, need >= 99.5%%)" % (good, total, pct)
      if pct >= 99.5 and total >= 10000 else "not ok - %d of %d (%.2f%%)" % (good, total, pct))
sys.exit(0 if pct >= 99.5 and total >= 10000 else 1)
PY
pass "symbolizer: user addresses"

# Kernel: the function whose kallsyms address is the last at or below the address (the first listed among aliases).
python3 - "$LATSCOPE" <<'PY' || fail "kernel symbolization differs from kallsyms"
import bisect, json, random, subprocess, sys
syms = []
for i, line in enumerate(open("/proc/kallsyms")):
    f = line.split()
    if f[1] in "tTwW" and int(f[0], 16):
        syms.append((int(f[0], 16), i, f[2]))
syms.sort()
starts = [s[0] for s in syms]
rnd = random.Random(20261201)
addrs = []
while len(addrs) < 2000:
    k = rnd.randrange(len(syms) - 1)
    if syms[k + 1][0] > syms[k][0]:
        addrs.append(syms[k][0] + rnd.randrange(syms[k + 1][0] - syms[k][0]))
def expect(a):
    j = bisect.bisect_right(starts, a) - 1
    while j > 0 and starts[j - 1] == starts[j]:
        j -= 1
    return syms[j][2], a - syms[j][0]
out = subprocess.run([sys.argv[1], "symbolize", "-k", "--json"], input="".join("0x%x\n" % a for a in addrs),
                     capture_output=True, text=True, check=True).stdout.splitlines()
got = [(json.loads(l)["func"], json.loads(l)["offset"]) for l in out]
bad = [(hex(a), e, g) for a, e, g in zip(addrs, map(expect, addrs), got) if e != g]
for b in bad[:20]:
    print("  mismatch", b)
print("%d kernel addresses, %d equal the kallsyms lookup" % (len(addrs), len(addrs) - len(bad)))
sys.exit(1 if bad or len(got) != len(addrs) else 0)
PY
pass "symbolizer: 2000 kernel addresses equal the kallsyms lookup (name and offset)"

# A Go binary stripped of .symtab and DWARF: names come from .gopclntab when the tree has the
# reader (symbolizer/gopclntab.h), otherwise every address says why it is unknown.
strip -o "$TMP/gostripped" "$ROOT/build/progs/gohttp2"
read -r lo size < <(readelf -SW "$TMP/gostripped" | sed 's/\[ /[/' | awk '$2 == ".text" { print $4, $6 }')
goaddr=$(printf '0x%x' $((0x$lo + 0x$size / 2)))
gojson=$("$LATSCOPE" symbolize -e "$TMP/gostripped" --json "$goaddr")
if [[ -f $ROOT/symbolizer/gopclntab.h ]]; then
	check "stripped Go binary: $goaddr names a Go function ($gojson)" \
		jq -e '.func != null and (.func | test("^[a-z0-9_./]+\\."))' <<< "$gojson"
else
	check "stripped Go binary: $goaddr is unknown, reason \"stripped Go binary\" ($gojson)" \
		jq -e '.func == null and .reason == "stripped Go binary"' <<< "$gojson"
fi

# PLT stubs, against objdump's names for them: every stub objdump names after a symbol
# (lazy .plt of the example server, .plt.got, libssl's), at its start and 6 bytes in.
for obj in "$ROOT/build/examples/h2server" "$LATSCOPE" "$(ldd "$ROOT/build/examples/h2server" | awk '/libssl/ { print $3 }')"; do
	objdump -d -j .plt -j .plt.got -j .plt.sec "$obj" 2> /dev/null |
		sed -n 's/^\([0-9a-f]*\) <\([^*][^>]*@plt\)>:$/\1 \2/p' > "$TMP/plt.want"
	head -40 "$TMP/plt.want" | gawk '{ printf "0x%x %s+0x0\n0x%x %s+0x6\n", strtonum("0x" $1), $2, strtonum("0x" $1) + 6, $2 }' > "$TMP/plt.exp"
	"$LATSCOPE" symbolize -e "$obj" $(awk '{ print $1 }' "$TMP/plt.exp") | awk '{ print $1, $2 }' > "$TMP/plt.got"
	n=$(wc -l < "$TMP/plt.exp"); bad=$(diff "$TMP/plt.exp" "$TMP/plt.got" | grep -c '^>' || true)
	diff "$TMP/plt.exp" "$TMP/plt.got" | head -6
	check "PLT stubs of $(basename "$obj") named as objdump names them ($((n - bad)) of $n addresses)" \
		test "$n" -ge 2 -a "$bad" -eq 0
done

# Bad input: clear errors, documented exit codes.
rc=0; "$LATSCOPE" symbolize -p 2147483000 0x1 2> "$TMP/err" || rc=$?
check "symbolize -p of a missing pid: exit 1, '$(cat "$TMP/err")'" \
	sh -c "[ $rc = 1 ] && grep -qx 'latscope: pid 2147483000: no such process' '$TMP/err'"
rc=0; "$LATSCOPE" symbolize -e /nonexistent/file 0x1 2> "$TMP/err" || rc=$?
check "symbolize -e of a missing file: exit 1, '$(cat "$TMP/err")'" \
	sh -c "[ $rc = 1 ] && grep -q '^latscope: /nonexistent/file: ' '$TMP/err'"
rc=0; "$LATSCOPE" symbolize -e "$LATSCOPE" 0xzz 2> "$TMP/err" || rc=$?
check "symbolize of a bad address: exit 2, '$(head -1 "$TMP/err")'" sh -c "[ $rc = 2 ]"
