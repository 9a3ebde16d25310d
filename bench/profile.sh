#!/usr/bin/env bash
# record's cost, measured side by side in one run:
#  1. sampling overhead on a CPU-bound target that reports its own work rate
#     (bench/spinrate, one busy thread per CPU): latscope record with
#     --call-graph fp, auto (the default) and dwarf, against perf record -g and
#     perf record --call-graph dwarf at the same frequency, 99 Hz and 999 Hz;
#  2. the same modes on a target whose hot code keeps no frame pointers (python3);
#  3. post-processing of 1M samples to an SVG flame graph (bench/profile_post):
#     time and peak memory.
# Appends its tables to build/bench-results.md when run from bench/run.sh (OUT=...).
set -euo pipefail
cd "$(dirname "$0")/.."
. bench/lib.sh
ROUNDS=${ROUNDS:-3}
OUT=${OUT:-build/bench-profile.md}

build/bench/spinrate "$(nproc)" > "$TMP/target.out" &
TARGET=$!; PIDS_TO_KILL+=("$TARGET")
for _ in $(seq 50); do grep -q ready "$TMP/target.out" && break; sleep 0.1; done
# The sampling program's own run time (kernel.bpf_stats_enabled), for the latscope runs: ns per sample.
prog_stats() { # prog_stats PID: "run_time_ns run_cnt" of the on_cpu_sample program PID holds
	local ids
	ids=$({ cat /proc/"$1"/fdinfo/* 2> /dev/null || true; } | sed -n 's/^prog_id:[[:space:]]*//p' | sort -u | tr '\n' ' ')
	bpftool -j prog show 2> /dev/null | jq -r --arg ids " $ids " '[.[] | objects | select(.name == "on_cpu_sample")
		| select(.id as $i | $ids | contains(" \($i) "))] | "\(map(.run_time_ns // 0) | add // 0) \(map(.run_cnt // 0) | add // 0)"'
}
proc_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat" 2> /dev/null || echo 0; }
rate_window() { # rate_window NAME: the next 3 one-second readings of work per target CPU second; the profiler's CPU
	local from t0 t1; from=$(wc -l < "$TMP/target.out")
	t0=$( [[ -n ${BG:-} ]] && proc_ticks "$BG" || echo 0)
	[[ $1 == latscope_* ]] && read -r ns0 cnt0 <<< "$(prog_stats "$BG")"
	sleep 3.3
	t1=$( [[ -n ${BG:-} ]] && proc_ticks "$BG" || echo 0)
	if [[ $1 == latscope_* ]]; then
		read -r ns1 cnt1 <<< "$(prog_stats "$BG")"
		awk -v a="$ns0" -v b="$ns1" -v c="$cnt0" -v d="$cnt1" 'BEGIN { if (d > c) printf "%.0f\n", (b - a) / (d - c) }' >> "$TMP/nsper.$1"
	fi
	tail -n +"$((from + 1))" "$TMP/target.out" | awk '{ print $3 }' | head -3 >> "$TMP/rate.$1"
	awk -v a="$t0" -v b="$t1" -v hz="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f\n", 100 * (b - a) / hz / 3.3 }' >> "$TMP/cpu.$1"
}
PERF_OK=1
perf record -e cpu-clock -F 99 -g -o "$TMP/probe.data" -p "$TARGET" -- sleep 0.5 > /dev/null 2>&1 || PERF_OK=0
profiler() { # profiler CONFIG HZ: start it in the background (BG), return once it samples
	local cfg=$1 hz=$2
	case $cfg in
	latscope_fp|latscope_auto|latscope_dwarf)
		local cg=${cfg#latscope_}
		"$LATSCOPE" record -p "$TARGET" -d 10m -F "$hz" --call-graph "$cg" -v -o "$TMP/ls.folded" > /dev/null 2> "$TMP/ls.err" &
		BG=$!
		for _ in $(seq 300); do grep -q 'sampling pid' "$TMP/ls.err" && return 0; sleep 0.1; done
		cat "$TMP/ls.err" >&2; fail "latscope record did not start";;
	perf_fp|perf_dwarf)
		local cg=(-g); [[ $cfg == perf_dwarf ]] && cg=(--call-graph dwarf,16384)
		perf record -q -e cpu-clock -F "$hz" "${cg[@]}" -o "$TMP/perf.data" -p "$TARGET" > /dev/null 2> "$TMP/perf.err" &
		BG=$!
		sleep 1;;
	esac
}
stop() { # stop CONFIG: end the profiler; for auto, note how many of its samples took the stack copy
	kill -INT "$BG" 2> /dev/null || true; wait "$BG" 2> /dev/null || true; rm -f "$TMP/perf.data"
	[[ $1 == latscope_auto ]] && awk '/CPU samples/ { t = $2 } /dwarf: [0-9]+ unwound/ { u = $3 } END { if (t) print u + 0, t }' \
		"$TMP/ls.err" >> "$TMP/copied.$1"
	return 0
}

STATS_WAS=$(sysctl -n kernel.bpf_stats_enabled 2> /dev/null || echo 0)
sysctl -q -w kernel.bpf_stats_enabled=1 > /dev/null 2>&1 || true
trap 'sysctl -q -w kernel.bpf_stats_enabled="$STATS_WAS" > /dev/null 2>&1 || true; cleanup' EXIT
configs=(none latscope_fp latscope_auto latscope_dwarf)
((PERF_OK)) && configs+=(perf_fp perf_dwarf)
say "## Profiler sampling overhead (bench/spinrate: $(nproc) busy threads on $(nproc) CPUs)"
say ""
say "Target work per CPU second of the target with the profiler attached / without (in-kernel sampling cost lands on the target's CPU time), median of $((ROUNDS * 3)) one-second readings, configurations interleaved; and the profiler process's own CPU (user-space unwinding, writing)."
say ""
((PERF_OK)) || say "perf cannot sample here ($(perf record -e cpu-clock -F 99 -g -o "$TMP/probe.data" -p "$TARGET" -- sleep 0.5 2>&1 | tail -1)): latscope only."
say "| frequency | configuration | units per target CPU-s | kept | target overhead | work vs under perf, same call graph | profiler CPU | BPF ns per sample |"
say "|---|---|---|---|---|---|---|---|"
for hz in 99 999; do
	rm -f "$TMP"/rate.* "$TMP"/cpu.* "$TMP"/nsper.* "$TMP"/copied.*
	for r in $(seq "$ROUNDS"); do
		for cfg in "${configs[@]}"; do
			if [[ $cfg == none ]]; then BG=; rate_window none; continue; fi
			profiler "$cfg" "$hz"
			sleep 0.5
			rate_window "$cfg"
			stop "$cfg"
		done
	done
	base=$(median < "$TMP/rate.none")
	for cfg in "${configs[@]}"; do
		m=$(median < "$TMP/rate.$cfg")
		vs=-
		case $cfg in
		latscope_fp) [[ -s $TMP/rate.perf_fp ]] && vs=$(median < "$TMP/rate.perf_fp");;
		latscope_dwarf) [[ -s $TMP/rate.perf_dwarf ]] && vs=$(median < "$TMP/rate.perf_dwarf");;
		esac
		nsper=-
		[[ -s $TMP/nsper.$cfg ]] && nsper=$(median < "$TMP/nsper.$cfg")
		awk -v hz="$hz" -v c="$cfg" -v m="$m" -v b="$base" -v p="$vs" -v cpu="$(median < "$TMP/cpu.$cfg")" -v ns="$nsper" 'BEGIN {
			o = 100 * (1 - m / b); r = "-"
			if (p != "-") r = sprintf("%.3fx", m / p)
			printf "| %d Hz | %s | %.0f | %.1f%% | %.1f%% | %s | %.1f%% | %s |\n", hz, c, m, 100 * m / b, o, r, cpu, ns }' | tee -a "$OUT"
	done
	[[ -s $TMP/copied.latscope_auto ]] && awk -v hz="$hz" '{ u += $1; t += $2 } END {
		printf "auto at %d Hz: %d of %d samples (%.1f%%) landed in code without frame pointers and took the stack copy.\n", hz, u, t, t ? 100 * u / t : 0 }' \
		"$TMP/copied.latscope_auto" >> "$TMP/auto_notes"
done
say ""
[[ -s $TMP/auto_notes ]] && { cat "$TMP/auto_notes"; echo; } | tee -a "$OUT"
kill "$TARGET"

# ---- auto where the hot code keeps no frame pointers --------------------------------
# python3's interpreter loop (Debian builds it without frame pointers): every sample lands
# in code auto unwinds from a stack copy, so auto should cost what dwarf costs, not fp's.
say "## Call-graph modes on a target without frame pointers (python3 busy loop, 999 Hz)"
say ""
say "BPF ns per sample (kernel.bpf_stats_enabled), the share of samples that took the stack copy, and record's own CPU, median of $ROUNDS interleaved 3.3 s windows per mode."
say ""
say "| configuration | BPF ns per sample | samples copied | profiler CPU |"
say "|---|---|---|---|"
python3 -c 'while True: pass' &
TARGET=$!; PIDS_TO_KILL+=("$TARGET")
rm -f "$TMP"/nsper.* "$TMP"/cpu.* "$TMP"/copied.*
for r in $(seq "$ROUNDS"); do
	for cfg in latscope_fp latscope_auto latscope_dwarf; do
		profiler "$cfg" 999
		sleep 0.5
		rate_window "$cfg" > /dev/null
		kill -INT "$BG" 2> /dev/null || true; wait "$BG" 2> /dev/null || true
		awk '/CPU samples/ { t = $2 } /dwarf: [0-9]+ unwound/ { u = $3 } END { if (t) print u + 0, t }' "$TMP/ls.err" >> "$TMP/copied.$cfg"
	done
done
for cfg in latscope_fp latscope_auto latscope_dwarf; do
	copied=$(awk '{ u += $1; t += $2 } END { printf "%.1f%% (%d of %d)", t ? 100 * u / t : 0, u, t }' "$TMP/copied.$cfg")
	say "| ${cfg#latscope_} | $(median < "$TMP/nsper.$cfg") | $copied | $(median < "$TMP/cpu.$cfg")% |"
done
say ""
kill "$TARGET"

# ---- post-processing ---------------------------------------------------------------
for l in libc.so.6 libssl.so.3 libcrypto.so.3; do
	f=$(ldconfig -p | awk -v l="$l" '$1 == l && /x86-64/ { print $NF; exit }')
	[[ -n $f ]] && nm -D --defined-only "$f" | awk '$2 ~ /^[TW]$/ { sub(/@.*/, "", $3); print $3 }'
done | sort -u > "$TMP/names"
say "## record post-processing: 1M samples to an SVG flame graph (bench/profile_post)"
say ""
/usr/bin/time -v build/bench/profile_post "$TMP/names" "$TMP/post.svg" 1000000 > "$TMP/post.out" 2> "$TMP/post.time" ||
	{ cat "$TMP/post.out" "$TMP/post.time"; fail "profile_post failed"; }
say "    $(cat "$TMP/post.out")"
say "    /usr/bin/time: $(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$TMP/post.time") wall, $(awk -F': ' '/User time|System time/ { s += $2 } END { printf "%.2f s", s }' "$TMP/post.time") CPU, $(sed -n 's/.*Maximum resident set size (kbytes): //p' "$TMP/post.time") KiB max RSS, SVG $(stat -c %s "$TMP/post.svg") bytes"
say ""
