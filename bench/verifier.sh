#!/usr/bin/env bash
# What the verifier makes of every BPF program, on this kernel and on Debian's 6.1 (in the
# project's QEMU runner): processed instructions and states per instruction, per program and
# configuration, against latscope's budget (200,000 and 8). Appends a markdown table to $1.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-/dev/stdout}
table() { # table JSON: one row per program, the largest configuration's figures
	jq -r '.programs | group_by(.name)[] | (map(select(.verified)) | max_by(.processed_insns)) as $w
		| if $w == null then "| \(.[0].name) | \(.[0].feature) | \(.[0].insns) | not loadable here: \(.[0].reason) | | | |"
		  else "| \($w.name) | \($w.feature) | \($w.insns) | \($w.processed_insns) (\($w.config)) | \([.[] | .max_states_per_insn] | max) | \($w.verification_us) | \(if all(.[]; .within_budget or (.verified | not)) then "ok" else "OVER" end) |" end' "$1"
}
header='| program | feature | insns | most processed (config) | states/insn | time (us) | budget |
|---|---|---|---|---|---|---|'
for where in host vm; do
	json=$(mktemp)
	if [[ $where == host ]]; then
		build/latscope probes --verifier --json > "$json" || true
		kernel=$(uname -r)
	else
		tests/vm/vmrun.sh --timeout 600 -- build/latscope probes --verifier --json 2>/dev/null | grep '^{' > "$json" || true
		kernel="Debian 6.1 (tests/vm/vmrun.sh)"
	fi
	if ! jq -e '.type == "verifier"' "$json" > /dev/null 2>&1; then
		echo "verifier: no report on $where" >&2
		rm -f "$json"
		continue
	fi
	{ echo "Kernel $kernel:"; echo; echo "$header"; table "$json"; echo; } >> "$OUT"
	rm -f "$json"
done
