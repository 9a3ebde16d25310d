#!/usr/bin/env bash
# Install the Debian packages latscope needs (deps/packages.txt) that are missing.
# A no-op when everything is present; needs root (or sudo) only when it installs.
# --check: install nothing, exit 1 when something is missing (one dpkg query: quick).
set -euo pipefail
cd "$(dirname "$0")/.."

want=$(sed -e 's/#.*//' -e '/^[[:space:]]*$/d' deps/packages.txt | tr -s ' \n' '\n' | sort -u)
# shellcheck disable=SC2086
# (dpkg-query exits 1 when any of them was never installed: the usual case on a fresh machine)
installed=$({ dpkg-query -W -f='${Package} ${Status}\n' $want 2>/dev/null || true; } | awk '/ install ok installed$/ { print $1 }')
missing=()
for p in $want; do
	grep -qxF "$p" <<< "$installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
	exit 0
fi
[[ ${1:-} == --check ]] && exit 1
echo "deps: installing ${missing[*]}" >&2
SUDO=
if [[ $(id -u) != 0 ]]; then
	command -v sudo >/dev/null || { echo "deps: need root to install: ${missing[*]}" >&2; exit 1; }
	SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
# The package lists of a fresh machine may be empty or stale.
if ! $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/latscope-deps.log 2>&1; then
	$SUDO apt-get update -q >>/tmp/latscope-deps.log 2>&1
	$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}" >>/tmp/latscope-deps.log 2>&1 || {
		tail -20 /tmp/latscope-deps.log >&2; echo "deps: apt-get install failed (log: /tmp/latscope-deps.log)" >&2; exit 1; }
fi
