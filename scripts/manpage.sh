#!/usr/bin/env bash
# scripts/manpage.sh LATSCOPE > latscope.8: latscope(8) written from the binary's own
# help (the command list of `latscope --help`, then each command's --help, verbatim),
# so that the manual and the options cannot drift apart.
set -euo pipefail
bin=$1
version=$("$bin" --version | sed -n '1s/^latscope //p')
# roff: backslashes escaped, a line starting with '.' or "'" kept as text.
esc() { sed -e 's/\\/\\e/g' -e "s/^\\([.']\\)/\\\\\\&\\1/"; }
commands=$("$bin" --help | awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 } on && /^$/ { on = 0 }')

cat <<ROFF
.TH LATSCOPE 8 "" "latscope $version" "System Administration"
.SH NAME
latscope \\- where does a slow request's time go: eBPF latency tracer and profiler of running servers
.SH SYNOPSIS
.B latscope
.I COMMAND
.RI [ OPTIONS ]
.br
.B latscope \\-\\-version
.SH DESCRIPTION
latscope attaches to running servers by PID (no restart, no code change) and splits
each HTTP/2 or gRPC request into exclusive phases: kernel network, TLS, HTTP/2 framing,
protobuf decode and encode, queueing and the application. It needs root, or
CAP_BPF and CAP_PERFMON (and CAP_SYS_PTRACE to read other users' processes), and a
kernel with BTF.
.PP
ROFF
echo ".nf"
"$bin" --help | esc
echo ".fi"
echo ".SH COMMANDS"
for c in $commands; do
	echo ".SS latscope $c"
	echo ".nf"
	"$bin" "$c" --help | esc
	echo ".fi"
done
cat <<'ROFF'
.SH EXIT STATUS
0 success, 1 runtime error, 2 usage error (each command's own list is above).
.SH FILES
.TP
.I /lib/systemd/system/latscope.service
runs
.B latscope export
as a service; its targets and options come from
.IR /etc/default/latscope .
.TP
.I /sys/kernel/btf/vmlinux
the kernel's BTF, which latscope's BPF programs are relocated against.
.SH SEE ALSO
.BR bpftool (8),
.BR perf (1),
.BR prometheus (1)
ROFF
