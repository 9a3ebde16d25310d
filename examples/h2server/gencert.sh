#!/bin/bash
# Write a self-signed certificate for 127.0.0.1 and localhost: DIR/cert.pem and DIR/key.pem.
set -euo pipefail

if [ $# -ne 1 ]; then
	echo "usage: gencert.sh DIR" >&2
	exit 2
fi
dir=$1
mkdir -p "$dir"
# openssl prints progress on stderr even when it succeeds: show it only on failure.
if ! out=$(openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj /CN=localhost \
	-addext subjectAltName=IP:127.0.0.1,DNS:localhost \
	-keyout "$dir/key.pem" -out "$dir/cert.pem" 2>&1); then
	echo "gencert.sh: openssl failed:" >&2
	echo "$out" >&2
	exit 1
fi
