#!/usr/bin/env bash
# make install like a Debian tool: DESTDIR and PREFIX honoured; the binary, latscope(8),
# the systemd unit and its defaults file where they belong; the manual renders with
# man -l and shows every option of every command's --help (it is written from them);
# the unit passes systemd-analyze verify, and its capability set is enough: the
# installed binary, run with exactly those capabilities and no new privileges, counts
# the example server's requests. The DaemonSet asks for the same capabilities.
. "$(dirname "$0")/../lib.sh"

DEST=$TMP/root
make -s -C "$ROOT" install DESTDIR="$DEST" PREFIX=/usr > "$TMP/make.log" 2>&1 || { cat "$TMP/make.log"; fail "make install failed"; }
for f in usr/sbin/latscope usr/share/man/man8/latscope.8 usr/lib/systemd/system/latscope.service etc/default/latscope; do
	[[ -s $DEST/$f ]] || fail "make install DESTDIR=... PREFIX=/usr did not install $f"
done
check "make install DESTDIR PREFIX=/usr: usr/sbin/latscope, man8/latscope.8, the unit, etc/default/latscope" test -x "$DEST/usr/sbin/latscope"
check "the unit starts the installed binary" grep -qx 'ExecStart=/usr/sbin/latscope export $LATSCOPE_EXPORT_OPTS' \
	"$DEST/usr/lib/systemd/system/latscope.service"
"$DEST/usr/sbin/latscope" --version > "$TMP/version.txt"
check "--version names the version and the kernel's features ($(paste -sd';' "$TMP/version.txt"))" \
	grep -q '^uprobe_multi links: ' "$TMP/version.txt"

MANWIDTH=200 man -l "$DEST/usr/share/man/man8/latscope.8" 2> "$TMP/man.err" | col -b > "$TMP/man.txt"
check "man -l renders latscope(8) without a warning" test -s "$TMP/man.txt" -a ! -s "$TMP/man.err"
missing=()
for c in $("$LATSCOPE" --help | awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }'); do
	grep -q "latscope $c" "$TMP/man.txt" || missing+=("command $c")
	for o in $("$LATSCOPE" "$c" --help | grep -o -- '--[a-z][a-z-]*' | sort -u); do
		grep -q -- "$o" "$TMP/man.txt" || missing+=("$c $o")
	done
done
check "every command and every option of its --help is in the manual (${missing[*]:-none missing})" test ${#missing[@]} -eq 0

# Installed where the unit's ExecStart exists, so that systemd-analyze can check it whole.
make -s -C "$ROOT" install PREFIX="$TMP/pfx" ETCDIR="$TMP/pfx/etc" > "$TMP/make2.log" 2>&1 || { cat "$TMP/make2.log"; fail "make install PREFIX failed"; }
UNIT=$TMP/pfx/lib/systemd/system/latscope.service
systemd-analyze verify --man=no "$UNIT" > "$TMP/verify.txt" 2>&1 || true
check "systemd-analyze verify: no complaint about the unit ($(wc -l < "$TMP/verify.txt") lines)" test ! -s "$TMP/verify.txt"

# The unit's capabilities, as setpriv spells them: +bpf,+perfmon,...
caps=$(sed -n 's/^CapabilityBoundingSet=//p' "$UNIT" | tr ' ' '\n' | sed 's/^CAP_//' | tr 'A-Z' 'a-z' | sed 's/^/+/' | paste -sd,)
start_h2server
: > "$TMP/export.err"
setpriv --no-new-privs --bounding-set=-all,"$caps" -- "$TMP/pfx/sbin/latscope" export -p "$H2SERVER_PID" \
	--listen 127.0.0.1:0 --kernel-hook "$KHOOK" 2> "$TMP/export.err" &
EXP_PID=$!
PIDS_TO_KILL+=("$EXP_PID")
wait_export "$TMP/export.err" "export with the unit's capabilities ($caps)"
grpc_load Fast 20 > /dev/null 2>&1 || fail "h2load failed"
count() { curl -sf "http://127.0.0.1:$MPORT/metrics" | sed -n 's/^rpc_server_call_duration_seconds_count{.*Echo\/Fast".*} //p'; }
for i in $(seq 100); do [[ $(count) == 20 ]] && break; sleep 0.1; done
check "with only the unit's capabilities ($caps) and no new privileges, export counts 20 of 20" test "$(count)" = 20
kill -TERM "$EXP_PID"
rc=0
wait "$EXP_PID" || rc=$?
check "and exits 0 on SIGTERM ($rc)" test "$rc" -eq 0
assert_no_probes

ds() {
	python3 - "$ROOT/deploy/daemonset.yaml" "$caps" <<'PY'
import sys, yaml
d = yaml.safe_load(open(sys.argv[1]))
spec = d["spec"]["template"]["spec"]
c = spec["containers"][0]
add = sorted(x.lower() for x in c["securityContext"]["capabilities"]["add"])
unit = sorted(x[1:] for x in sys.argv[2].split(","))
ok = d["kind"] == "DaemonSet" and spec.get("hostPID") is True and c["args"][0] == "export" and add == unit
print("kind %s, hostPID %s, args %s, capabilities %s (unit: %s)" % (d["kind"], spec.get("hostPID"), c["args"][:3], add, unit))
sys.exit(0 if ok else 1)
PY
}
check "deploy/daemonset.yaml: a DaemonSet with hostPID, running export, with the unit's capabilities" ds
