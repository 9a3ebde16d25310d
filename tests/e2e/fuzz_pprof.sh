#!/usr/bin/env bash
# Fuzz the pprof writer (lib/pprof) with profiles of real names: the mappings of
# real objects (paths, build-ids), locations named by their symbols (demangled C++,
# Go, libssl's) and by addr2line's inline chains (function, file, line), samples
# with labels. Lines of tab-separated fields (tests/fuzz/fuzz_pprof.c).
. "$(dirname "$0")/../lib.sh"
. "$ROOT/tests/fuzz/fuzz.sh"
mkdir -p "$TMP/corpus"
buildid() { readelf -n "$1" 2>/dev/null | sed -n 's/^ *Build ID: //p' | head -1; }
# mapping OBJECT: an M line, and an L line for each of its first functions (nm -C)
mapping() {
	printf 'M400000\t%x\t0\t%s\t%s\n' $((0x400000 + $(stat -c %s "$1"))) "$1" "$(buildid "$1")"
	{ nm -C --defined-only "$1"; nm -D -C --defined-only "$1"; } 2>/dev/null |
		awk -v n="$2" '$2 ~ /^[Tt]$/ && n-- > 0 { a = $1; $1 = $2 = ""; sub(/^ +/, ""); printf "L%s\t%s\n", a, $0 }'
}
cxx=$ROOT/build/progs/cxxinline
{
	printf 'T\tsamples/count\tcpu/nanoseconds\n'
	mapping "$cxx" 12
	# Inline chains as addr2line reads them: function, then file:line, innermost first.
	for a in $(nm "$cxx" | awk '$2 ~ /^[Tt]$/ && n++ < 8 { print $1 }'); do
		printf 'L%s' "$a"
		addr2line -f -i -C -e "$cxx" "0x$a" | paste - - | while IFS=$'\t' read -r fn fl; do
			printf '\t%s\t%s\t%x' "$fn" "${fl%:*}" "$(sed 's/[^0-9].*//' <<< "${fl##*:}0")"
		done
		printf '\n'
	done
	printf 'S6\t1\t989680\tthread\tmain\n'
	printf 'S2\t3\t1e8480\tthread\tworker 1\tphase\tapp\n'
} > "$TMP/corpus/cxx"
{
	mapping /usr/lib/x86_64-linux-gnu/libssl.so.3 20
	printf 'S4\t7\n'
	mapping "$ROOT/build/tests/fuzz-seeds/gosmall" 20
	printf 'S8\t2\tgoroutine\t1\n'
	printf 'S3\t1\n'
} > "$TMP/corpus/ssl-go"
fuzz_run pprof "$TMP/corpus"
