# The run of one fuzz target, for tests/e2e/fuzz_*.sh (sourced after tests/lib.sh).
#
# fuzz_run NAME CORPUS [LIBFUZZER-OPTION...]: replay every input of
# tests/fuzz/regress/NAME/ (each one crashed once), then fuzz build/tests/fuzz_NAME
# from the seeds in CORPUS for FUZZ_SECS seconds (`make fuzz`: 300; else FUZZ_TEST_SECS, which
# a slow target's script raises from 12).
# A crash, leak, sanitizer report or an input slower than 10 s fails the test;
# its reproducer is kept as build/fuzz-artifacts/NAME-*. At least 1000 inputs
# must have run. Errors inside elfutils are not the targets' (tests/fuzz/asan.supp).

fuzz_run() {
	local name=$1 corpus=$2
	shift 2
	local bin=$ROOT/build/tests/fuzz_$name secs=${FUZZ_SECS:-${FUZZ_TEST_SECS:-12}} regress=$ROOT/tests/fuzz/regress/$name
	local art=$ROOT/build/fuzz-artifacts opts runs cov rate rss files=()

	[[ -x $bin ]] || fail "$bin not built (make test builds it)"
	export ASAN_OPTIONS=suppressions=$ROOT/tests/fuzz/asan.supp${ASAN_OPTIONS:+:$ASAN_OPTIONS}
	mkdir -p "$art"
	opts=(-rss_limit_mb=2048 -timeout=10 -artifact_prefix="$art/$name-" "$@")
	[[ -d $regress ]] && files=("$regress"/*)
	[[ -e ${files[0]:-} ]] || files=()
	if ((${#files[@]})); then
		"$bin" "${opts[@]}" "${files[@]}" > "$TMP/regress.log" 2>&1 ||
			{ tail -40 "$TMP/regress.log"; fail "fuzz_$name: an input of tests/fuzz/regress/$name crashes again"; }
		pass "fuzz_$name: ${#files[@]} regression inputs replayed without a crash"
	fi
	# The regression inputs seed the run too (libFuzzer writes new inputs only to the first directory).
	"$bin" "${opts[@]}" -max_total_time="$secs" -print_final_stats=1 "$corpus" ${files[@]:+"$regress"} > "$TMP/fuzz.log" 2>&1 ||
		{ tail -40 "$TMP/fuzz.log"; fail "fuzz_$name found a crash (reproducer: $art/$name-*; log above)"; }
	runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$TMP/fuzz.log")
	rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$TMP/fuzz.log")
	rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$TMP/fuzz.log")
	cov=$(grep -o 'cov: [0-9]*' "$TMP/fuzz.log" | tail -1)
	check "fuzz_$name ran $secs s without a crash, leak, hang or sanitizer report ($runs inputs, $rate/s, $cov, peak RSS $rss MB)" \
		test "${runs:-0}" -gt 1000
}
