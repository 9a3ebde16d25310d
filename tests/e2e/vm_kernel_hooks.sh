#!/usr/bin/env bash
# The kprobe and fentry variants cannot run on this host (no kprobes, fentry refused):
# run the nghttpd trace test inside Debian's 6.1 kernel, once with each forced.
. "$(dirname "$0")/../lib.sh"
VMRUN=${VMRUN:-$ROOT/../shared/tools/vmrun.sh}
[[ -x $VMRUN ]] || fail "vmrun not found at $VMRUN (../shared/tools/vmrun.sh)"
for hook in kprobe fentry; do
	echo "--- 6.1 kernel, --kernel-hook $hook"
	(cd "$ROOT" && LATSCOPE_KHOOK=$hook REQS=1000 "$VMRUN" --kernel-deb 'linux-image-6.1*-amd64' --timeout 400 -- \
		tests/e2e/trace_nghttpd.sh) > "$TMP/vm-$hook.log" 2>&1 || { cat "$TMP/vm-$hook.log"; fail "trace test failed in the 6.1 VM with $hook"; }
	sed 's/^/  /' "$TMP/vm-$hook.log"
	grep -q "^kernel hook: $hook;" "$TMP/vm-$hook.log" || fail "the VM run did not use $hook"
	pass "trace test green in the 6.1 VM with --kernel-hook $hook"
done
