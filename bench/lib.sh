# What every benchmark script shares, on top of the tests' helpers (tests/lib.sh).
. tests/lib.sh
# A benchmark measures full tracing unless it says otherwise (budget.sh, accuracy.sh pass --overhead).
export LATSCOPE_OVERHEAD=${LATSCOPE_OVERHEAD:-off}

# median: the median of the numbers on stdin, one per line.
median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# wait_attached FILE [PATTERN]: until FILE (latscope's stderr, or a helper's) shows PATTERN
# ("uprobes attached" unless given), for up to 30 s.
wait_attached() {
	for _ in $(seq 300); do grep -q "${2:-uprobes attached}" "$1" 2>/dev/null && return 0; sleep 0.1; done
	cat "$1" >&2; fail "not attached"
}
