#!/usr/bin/env bash
# Run every latscope test: unit test programs (build/tests/test_*) and the
# end-to-end scripts (tests/e2e/*.sh). Prints one line per test and closes with
# "N passed, N failed". Logs: build/test-logs/. Usage: tests/run.sh [NAME-REGEX]
set -uo pipefail
cd "$(dirname "$0")/.."
filter=${1:-.}
logs=build/test-logs
mkdir -p "$logs"
passed=0 failed=0 failures=()

run_one() { # run_one NAME TIMEOUT COMMAND...
	local name=$1 limit=$2; shift 2
	local t0=$SECONDS rc=0
	timeout -k 10 "$limit" "$@" > "$logs/$name.log" 2>&1 || rc=$?
	local dt=$((SECONDS - t0))
	if ((rc == 0)); then
		passed=$((passed + 1))
		printf 'PASS %-32s %4ds  %s\n' "$name" "$dt" "$(grep -c '^ok - ' "$logs/$name.log") checks"
	else
		failed=$((failed + 1)); failures+=("$name")
		((rc == 124)) && echo "timed out after ${limit}s" >> "$logs/$name.log"
		printf 'FAIL %-32s %4ds  (exit %d)\n' "$name" "$dt" "$rc"
		tail -25 "$logs/$name.log" | sed 's/^/    | /'
	fi
}

if [[ $(id -u) != 0 ]]; then
	echo "tests: latscope attaches BPF programs: run the tests as root" >&2
	exit 1
fi
for bin in build/tests/test_*; do
	[[ -x $bin ]] || continue
	name=unit/$(basename "$bin")
	[[ $name =~ $filter ]] || continue
	run_one "${name//\//_}" 300 "$bin"
done
for script in tests/e2e/*.sh; do
	name=e2e/$(basename "$script" .sh)
	[[ $name =~ $filter ]] || continue
	limit=300
	[[ $name == e2e/vm_* ]] && limit=900
	# 200 whole latscope runs against a loaded Go server: ~1.3-1.5 s each (its own budget: 420 s).
	[[ $name == e2e/go_grpc_cycles ]] && limit=540
	# Fuzzers run FUZZ_SECS (make fuzz: 300 s), after replaying their regression inputs.
	[[ $name == e2e/fuzz_* ]] && limit=$((${FUZZ_SECS:-40} + 120))
	run_one "${name//\//_}" "$limit" "$script"
done
echo
((failed)) && echo "failed: ${failures[*]} (logs in $logs/)"
echo "$passed passed, $failed failed"
((failed == 0))
