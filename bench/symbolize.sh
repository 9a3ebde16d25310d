#!/usr/bin/env bash
# Symbolizer throughput: latscope symbolize -i against binutils' addr2line -f -i
# and llvm-symbolizer --inlines, on one corpus of addresses per binary (sampled
# from the binary's .text with a fixed seed): a generated -O2 -g program full of
# inlined calls, Debian's libssl and libcrypto (symbol tables only) and libc
# (with its debug file when libc6-dbg is installed). Each tool reads the
# addresses on stdin, once, in one run; CPU time (user + system) decides the
# ratio, wall time is shown beside it. Usage: bench/symbolize.sh [ADDRESSES]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-100000}
LLVM=$(command -v llvm-symbolizer || ls /usr/bin/llvm-symbolizer-* 2> /dev/null | sort -V | tail -1)
LIBDIR=/usr/lib/x86_64-linux-gnu
python3 - "$N" "$LLVM" build/latscope build/progs/inlines "$LIBDIR/libssl.so.3" "$LIBDIR/libcrypto.so.3" "$LIBDIR/libc.so.6" <<'PY'
import os, random, resource, subprocess, sys, time
n, llvm, latscope, bins = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4:]

def text_range(path):
    for line in subprocess.run(["readelf", "-SW", path], capture_output=True, text=True, check=True).stdout.splitlines():
        f = line.replace("[ ", "[").split()
        if len(f) > 5 and f[1] == ".text":
            return int(f[3], 16), int(f[5], 16)

def run(cmd, data):
    r0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    p = subprocess.run(cmd, input=data, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    wall, r1 = time.monotonic() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode not in (0, 1):  # eu-style tools exit 1 when an address is unknown
        raise SystemExit("%s failed (%d)" % (cmd[0], p.returncode))
    return (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), wall, len(p.stdout.splitlines())

print("| binary | addresses | latscope symbolize -i | addr2line -f -i | %s --inlines | vs the faster other |" % os.path.basename(llvm))
print("|---|---|---|---|---|---|")
for b in bins:
    lo, size = text_range(b)
    rnd = random.Random(20261201)
    data = "".join("0x%x\n" % (lo + rnd.randrange(size)) for _ in range(n)).encode()
    tools = [("latscope", [latscope, "symbolize", "-e", b, "-i"]),
             ("addr2line", ["addr2line", "-f", "-i", "-e", b]),
             ("llvm", [llvm, "--obj=" + b, "--inlines", "--functions"])]
    res = {name: run(cmd, data) for name, cmd in tools}
    rate = {k: n / max(v[0], 1e-6) for k, v in res.items()}
    best_other = max(rate["addr2line"], rate["llvm"])
    cell = lambda k: "%.0fk/s (%.2fs cpu, %.2fs wall)" % (rate[k] / 1000, res[k][0], res[k][1])
    print("| %s | %d | %s | %s | %s | %.2fx |" % (os.path.basename(b), n, cell("latscope"), cell("addr2line"), cell("llvm"),
                                                rate["latscope"] / best_other))
PY
