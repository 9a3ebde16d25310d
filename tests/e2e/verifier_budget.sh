#!/usr/bin/env bash
# Every BPF program latscope can load, in every configuration that changes its code, verifies
# within latscope's budget on this kernel: at most 200,000 processed instructions (a fifth of
# the kernel's limit) and 8 states per instruction. Prints the table. Program types this
# kernel refuses before verifying (fentry where trampolines are not permitted) are listed
# as such and not counted; everything else must have been verified.
. "$(dirname "$0")/../lib.sh"

# One run (verifying every pair takes most of a minute, longer under emulation); its exit
# status is checked against its report at the end.
rc=0
"$LATSCOPE" probes --verifier --json > "$TMP/v.json" 2> "$TMP/v.err" || rc=$?
jq -e '.type == "verifier"' "$TMP/v.json" > /dev/null || { cat "$TMP/v.err"; fail "probes --verifier printed no report"; }
echo "kernel $(uname -r):"
jq -r '.programs[] | [.name, .config, .feature, .insns, .processed_insns, .max_states_per_insn, .peak_states,
	.verification_us, (if .verified then (if .within_budget then "ok" else "OVER: \(.reason // "budget")" end)
	else "not loadable here: \(.reason)" end)] | @tsv' "$TMP/v.json" |
	awk -F'\t' 'BEGIN { printf "%-16s %-7s %-9s %6s %10s %6s %6s %9s  %s\n", "PROGRAM", "CONFIG", "FEATURE",
		"INSNS", "PROCESSED", "STATES", "PEAK", "TIME(us)", "VERDICT" }
		{ printf "%-16s %-7s %-9s %6s %10s %6s %6s %9s  %s\n", $1, $2, $3, $4, $5, $6, $7, $8, $9 }'

limit_i=$(jq '.budget_insns' "$TMP/v.json")
limit_s=$(jq '.budget_states_per_insn' "$TMP/v.json")
check "the budget is a fifth of the kernel's limit and 8 states per instruction ($limit_i, $limit_s)" \
	test "$limit_i" -eq 200000 -a "$limit_s" -eq 8
n=$(jq '[.programs[] | select(.verified)] | length' "$TMP/v.json")
all=$(jq '.programs | length' "$TMP/v.json")
# Programs are the object's global functions outside .text (which holds the global subprograms).
obj=$ROOT/build/bpf/latscope.bpf.o
text=$(readelf -SW "$obj" | sed -n 's/^ *\[ *\([0-9]*\)\] \.text .*/\1/p')
progs=$(readelf -sW "$obj" | awk -v t="$text" '$4 == "FUNC" && $5 == "GLOBAL" && $7 != t && $7 != "UND"' | wc -l)
named=$(jq '[.programs[].name] | unique | length' "$TMP/v.json")
nconf=$(jq '[.programs[].config] | unique | length' "$TMP/v.json")
echo "$n of $all (program, configuration) pairs verified"
# trace, trace --stacks, record (fp), dwarf and auto: configs[] of lib/verifier.c.
check "every program of the object is in the report ($named of $progs), in 5 configurations ($nconf, $all pairs)" \
	test "$named" -eq "$progs" -a "$nconf" -eq 5 -a "$all" -eq $((5 * progs))
# The programs every kernel with BTF can load: uprobes, the HTTP/2 walk, raw tracepoints,
# perf events; and the send side of at least one kernel hook variant.
for p in tls_walk probe_exit cs_exit go_ret go_grpc_enter on_cpu_sample on_switch sys_enter; do
	k=$(jq --arg p "$p" '[.programs[] | select(.name == $p and .verified)] | length' "$TMP/v.json")
	check "$p verified in every configuration ($k of 5)" test "$k" -eq 5
done
v=$(jq -r '[.programs[] | select((.name == "fx_send" or .name == "kr_send" or .name == "tp_send") and .verified) | .name] | unique | join(" ")' "$TMP/v.json")
check "a kernel hook variant's send program verified here (${v:-none})" test -n "$v"
over=$(jq -r '.programs[] | select(.verified and (.within_budget | not)) | "\(.name)/\(.config): \(.processed_insns) insns, \(.max_states_per_insn) states/insn \(.reason // "")"' "$TMP/v.json")
check "no program rejected or over the budget${over:+: $over}" test -z "$over"
worst=$(jq -r '[.programs[] | select(.verified)] | max_by(.processed_insns) | "\(.name)/\(.config) \(.processed_insns)"' "$TMP/v.json")
states=$(jq -r '[.programs[] | select(.verified)] | max_by(.max_states_per_insn) | "\(.name)/\(.config) \(.max_states_per_insn)"' "$TMP/v.json")
echo "most processed instructions: $worst; most states per instruction: $states"
# The exit status says the same as the report: 0 when every program fits, 1 otherwise.
failed=$(jq '.failed' "$TMP/v.json")
check "probes --verifier exits $rc with $failed failed" \
	test "$failed" -eq 0 -a "$rc" -eq 0 -o "$failed" -gt 0 -a "$rc" -eq 1
assert_no_probes "after probes --verifier"
