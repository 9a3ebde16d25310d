#!/usr/bin/env bash
# Run one command as root in a throwaway QEMU VM booted from a stock Debian kernel, for the
# tests that need a kernel other than the host's (default: Debian 12's 6.1).
#   tests/vm/vmrun.sh [--kernel-deb PATTERN] [--timeout SECS] [--mem SIZE] [--cpus N] [--tcg-single] [--rw] [--verbose] -- CMD ARGS...
# The guest sees the host's / read-only under a RAM overlay: what CMD writes vanishes with the
# VM (--rw shares the current directory writable). CMD runs in the current directory with the
# caller's environment; its output (stdout and stderr merged) is streamed, and the script exits
# with its status: 124 on timeout, 125 when the VM could not be set up or booted. The kernel
# package is the newest matching PATTERN [linux-image-6.1.0-*-amd64]; --timeout [600] covers one
# boot and the command; --mem [2G]; --cpus [nproc, at most 4]; --verbose shows the boot log;
# --tcg-single runs every vCPU on one host thread when the guest is emulated (see below).
# Kernels are cached in ${LATSCOPE_VM_CACHE:-/var/cache/latscope-vm}, one directory per version.
set -euo pipefail

die() { echo "vmrun: $*" >&2; exit 125; }
say() { echo "vmrun: $*" >&2; }
usage="usage: tests/vm/vmrun.sh [--kernel-deb PATTERN] [--timeout SECS] [--mem SIZE] [--cpus N] [--tcg-single] [--rw] [--verbose] -- CMD ARGS..."

PATTERN='linux-image-6.1.0-*-amd64' TIMEOUT=600 MEM=2G CPUS=$(nproc) RW=0 VERBOSE=0 TCG=multi
((CPUS <= 4)) || CPUS=4
# Absolute: the guest is told where it is.
CACHE=$(realpath -m "${LATSCOPE_VM_CACHE:-/var/cache/latscope-vm}")
while (($#)); do
	case $1 in
	--kernel-deb) PATTERN=$2; shift 2 ;;
	--timeout) TIMEOUT=$2; shift 2 ;;
	--mem) MEM=$2; shift 2 ;;
	--cpus) CPUS=$2; shift 2 ;;
	--tcg-single) TCG=single; shift ;;
	--rw) RW=1; shift ;;
	--verbose) VERBOSE=1; shift ;;
	--) shift; break ;;
	*) die "unknown option '$1'; $usage" ;;
	esac
done
(($#)) || die "no command; $usage"
((EUID == 0)) || die "run as root (apt-get, the cache in $CACHE)"
# The cache path travels on the guest's kernel command line, where a blank splits it.
[[ $CACHE != *[[:space:]]* ]] || die "the cache directory must not contain white space: $CACHE"

# Host tools, from Debian (deps/packages.txt lists them too). The package lists of a fresh
# machine may be empty: update them once when an install or the kernel lookup finds nothing.
updated=0
apt_update() { ((updated)) && return 1; updated=1; say "apt-get update"; apt-get update -q >&2; }
need() { # need PACKAGE
	say "installing $1"
	export DEBIAN_FRONTEND=noninteractive
	apt-get install -y -q --no-install-recommends "$1" >&2 ||
		{ apt_update && apt-get install -y -q --no-install-recommends "$1" >&2; } || die "cannot install $1"
}
command -v qemu-system-x86_64 > /dev/null || need qemu-system-x86
command -v flock > /dev/null || need util-linux
# The static busybox: it runs in the initramfs, where there is no libc.
dpkg-query -W -f '${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' || need busybox-static
BUSYBOX=/bin/busybox

# One runner at a time builds the cache (and runs apt); the lock is dropped before booting,
# so that VMs run side by side.
mkdir -p "$CACHE/run"
exec 9> "$CACHE/lock"
flock 9

# The newest package matching PATTERN that apt can download: the highest candidate version,
# and of equal ones the shortest name (linux-image-6.1.0-52-amd64, not its -cloud- or -rt- flavour).
# PATTERN must match versioned packages only: 'linux-image-6.1*-amd64' would also match Debian 12's
# 6.12 kernels and their metapackage, linux-image-6.12-amd64.
resolve() {
	local n names=()
	for n in $(apt-cache pkgnames "${PATTERN%%[*?[]*}"); do
		# shellcheck disable=SC2053 # a glob
		[[ $n != $PATTERN ]] || names+=("$n")
	done
	((${#names[@]})) || return 0
	apt-cache policy "${names[@]}" | awk '/^[^ ]/ { n = $1; sub(/:$/, "", n) }
		$1 == "Candidate:" && $2 != "(none)" { print $2, length(n), n }' | sort -k1,1Vr -k2,2n | awk '{ print $3, $1; exit }'
}
read -r PKG VER < <(resolve) || { apt_update && read -r PKG VER < <(resolve); } || die "no kernel package matches '$PATTERN'"
KDIR=$CACHE/${PKG}_$VER

# Built once per kernel version: the package's kernel and modules, and an initramfs with busybox
# and the few modules that mount the host's root (9p over virtio-pci) under an overlay.
if [[ ! -e $KDIR/ready ]]; then
	say "preparing $PKG $VER in $KDIR (once)"
	rm -rf "$KDIR"
	mkdir -p "$KDIR"
	# apt's download sandbox user (_apt) cannot write to a root-owned directory.
	(cd "$KDIR" && apt-get download -q -o APT::Sandbox::User=root "$PKG=$VER" >&2) || die "apt-get download $PKG=$VER failed"
	dpkg-deb -x "$KDIR"/*.deb "$KDIR/root"
	rm "$KDIR"/*.deb
	KVER=$(ls "$KDIR/root/lib/modules")
	[[ -f $KDIR/root/boot/vmlinuz-$KVER ]] || die "$PKG has no kernel image"
	# Under emulation, the BIOS boot of the compressed kernel and its self-decompression take ~3 s:
	# a kernel with CONFIG_PVH starts from its uncompressed ELF directly. The bzImage header tells
	# where the (xz) payload is; without xz, or with another compressor, the bzImage it is.
	Z=$KDIR/root/boot/vmlinuz-$KVER
	ln -s "${Z#"$KDIR"/}" "$KDIR/kernel"
	if grep -q '^CONFIG_PVH=y' "$KDIR/root/boot/config-$KVER" && command -v xz > /dev/null; then
		setup=$((($(od -An -tu1 -j $((0x1f1)) -N1 "$Z") + 1) * 512))
		read -r off _ < <(od -An -tu4 -j $((0x248)) -N4 "$Z")
		if xz -dc --single-stream < <(tail -c +$((setup + off + 1)) "$Z") > "$KDIR/vmlinux" 2>/dev/null; then
			ln -sfn vmlinux "$KDIR/kernel"
		else
			rm -f "$KDIR/vmlinux"
		fi
	fi
	# The package leaves modules.dep to its postinst: the guest's modprobe needs it.
	"$BUSYBOX" depmod -b "$KDIR/root" "$KVER"
	I=$KDIR/initramfs M=lib/modules/$KVER
	mkdir -p "$I"/{bin,dev,proc,sys,"$M"}
	cp "$BUSYBOX" "$I/bin/"
	# modules.dep lists every module a module needs, transitively.
	grep -E '(^|/)(virtio_pci|9pnet_virtio|9p|overlay)\.ko:' "$KDIR/root/$M/modules.dep" | tr -d : | tr ' ' '\n' |
		sort -u | (cd "$KDIR/root/$M" && xargs cp --parents -t "$I/$M")
	"$BUSYBOX" depmod -b "$I" "$KVER"
	# The guest's PID 1, in two stages. Busybox only: the host's programs are on the host's root.
	cat > "$I/init" << 'EOF'
#!/bin/busybox sh
bb=/bin/busybox
[ "$1" = stage2 ] && bb=/.vmrun/busybox
# Our options, vmrun.NAME=VALUE on the kernel command line, as $vm_NAME.
$bb mount -t proc proc /proc
for o in $($bb cat /proc/cmdline); do
	case $o in vmrun.*=*) o=${o#vmrun.}; eval "vm_${o%%=*}=\${o#*=}" ;; esac
done
# A failed setup is reported as such on the status port: the host does not boot again.
die() {
	echo "vmrun (guest): $*" > /dev/console
	echo "setup failed: $*" > /dev/ttyS1
	echo 0 > /proc/sys/kernel/printk
	$bb poweroff -f
}
if [ "$1" != stage2 ]; then
	# Stage 1, in the initramfs: the host's / (9p, read-only) under a tmpfs overlay becomes the root.
	$bb mount -t sysfs sysfs /sys
	$bb mount -t devtmpfs devtmpfs /dev
	$bb modprobe -a virtio_pci 9pnet_virtio 9p overlay || die "cannot load the 9p and overlay modules"
	$bb mkdir -p /host /ram /root
	$bb mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000,cache=loose host /host || die "cannot mount the host's root"
	$bb mount -t tmpfs -o mode=0755 ram /ram
	$bb mkdir /ram/upper /ram/work
	$bb mount -t overlay -o lowerdir=/host,upperdir=/ram/upper,workdir=/ram/work root /root || die "cannot mount the overlay"
	$bb mkdir -p /root/.vmrun
	$bb cp $bb /init /root/.vmrun/
	$bb umount /proc /sys
	$bb mount --move /dev /root/dev
	exec $bb switch_root /root /.vmrun/busybox sh /.vmrun/init stage2
fi
# Stage 2, on the overlay: the file systems the tests expect of a Debian system.
$bb mount -t sysfs sysfs /sys
$bb mkdir -p /dev/pts /dev/shm
$bb mount -t devpts devpts /dev/pts
for d in /dev/shm /run; do $bb mount -t tmpfs tmpfs $d; done
# A tmpfs /tmp hides the host's: not when the cache or the current directory is there (vmrun.tmp=host).
[ "$vm_tmp" = host ] || $bb mount -t tmpfs tmpfs /tmp
$bb mount -t debugfs debugfs /sys/kernel/debug
$bb mount -t tracefs tracefs /sys/kernel/tracing
$bb mount -t bpf bpf /sys/fs/bpf
$bb mount -t cgroup2 cgroup2 /sys/fs/cgroup
# The guest kernel's modules, where modprobe looks (the host's /lib/modules has the host's),
# and busybox's module tools, also for the kernel's own module requests.
kver=$($bb uname -r)
$bb mkdir -p /lib/modules/$kver /.vmrun/bin
$bb mount --bind "$vm_kdir/root/lib/modules/$kver" /lib/modules/$kver || die "cannot mount the modules"
for t in modprobe insmod rmmod lsmod depmod modinfo; do $bb ln -s ../busybox /.vmrun/bin/$t; done
echo /.vmrun/bin/modprobe > /proc/sys/kernel/modprobe
$bb ip link set lo up
$bb hostname latscope-vm
# The command's output goes to the console as it is, without carriage returns.
$bb stty -F /dev/ttyS0 -onlcr
# "started" first: from then on a failure is the command's, and it is not run again.
echo started > /dev/ttyS1
/bin/bash "$vm_run/cmd.sh" < /dev/null > /dev/ttyS0 2>&1
echo "exit $?" > /dev/ttyS1
echo 0 > /proc/sys/kernel/printk
$bb poweroff -f
EOF
	chmod +x "$I/init"
	# Uncompressed: saves the guest a decompression under emulation.
	(cd "$I" && find . | "$BUSYBOX" cpio -o -H newc > "$KDIR/initramfs.cpio") 2>/dev/null || die "cannot build the initramfs"
	rm -rf "$I"
	echo "$KVER" > "$KDIR/kver"
	touch "$KDIR/ready"
fi
KVER=$(< "$KDIR/kver")
exec 9>&-

# This run's files, in the cache: the guest sees the host's / but has its own /tmp.
RUN=$(mktemp -d "$CACHE/run/XXXXXX")
QPID=
cleanup() {
	[[ -z $QPID ]] || { kill "$QPID" 2>/dev/null; wait "$QPID" 2>/dev/null; }
	rm -rf "$RUN"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP
# cmd.sh, run by the guest's bash: the caller's environment (less bash's own variables), the
# module tools first in PATH, the writable share, the directory, the command.
{
	export -p | grep -Ev '^declare -[a-zA-Z-]* (BASH[A-Z_]*|SHELLOPTS|SHLVL|PWD|OLDPWD|_)(=|$)'
	echo 'export PATH=/.vmrun/bin:$PATH'
	((RW)) && printf '/.vmrun/busybox mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 cwd %q || exit 125\n' "$PWD"
	# A TMPDIR under /tmp is gone with the guest's tmpfs /tmp.
	echo '[[ -z ${TMPDIR:-} ]] || mkdir -p "$TMPDIR"'
	printf 'cd %q || exit 125\nexec' "$PWD"
	printf ' %q' "$@"
	echo
} > "$RUN/cmd.sh"

# KVM only with real VT-x or AMD-V: a nested kvm_pvm /dev/kvm cannot boot a stock kernel.
# Otherwise TCG, one host thread per vCPU; or one for all (--tcg-single): slower, but the kernel
# patching its own code while another vCPU runs it (static keys, tracepoints switched on and
# off) can leave that vCPU looping at the patched site under multi-threaded TCG.
ACCEL=(-accel "tcg,thread=$TCG" -cpu max)
[[ -w /dev/kvm && (-d /sys/module/kvm_intel || -d /sys/module/kvm_amd) ]] && ACCEL=(-accel kvm -cpu host)
APPEND="console=ttyS0 panic=-1 vmrun.run=$RUN vmrun.kdir=$KDIR"
((VERBOSE)) || APPEND+=" quiet"
[[ $CACHE/ == /tmp/* || $(pwd -P)/ == /tmp/* ]] && APPEND+=" vmrun.tmp=host"
# ttyS0 (stdio): the console, with the command's output. ttyS1 (a file): the status port.
QEMU=(qemu-system-x86_64 "${ACCEL[@]}" -smp "$CPUS" -m "$MEM" -nodefaults -no-user-config -display none -no-reboot
	-chardev stdio,id=console,signal=off -serial chardev:console
	-chardev "file,id=status,path=$RUN/status" -serial chardev:status
	-kernel "$KDIR/kernel" -initrd "$KDIR/initramfs.cpio" -append "$APPEND"
	-virtfs local,path=/,mount_tag=host,security_model=none,readonly=on,multidevs=remap)
((RW)) && QEMU+=(-virtfs "local,path=$PWD,mount_tag=cwd,security_model=none,multidevs=remap")

# A boot under emulation now and then stalls: one more boot when the command never started.
for try in 1 2; do
	((VERBOSE)) && say "booting $KVER (${ACCEL[1]%%,*}, $CPUS cpus, $MEM), try $try"
	: > "$RUN/status"
	# timeout(1) ends QEMU even if this script is killed; in the background so traps still run.
	timeout -k 5 "$TIMEOUT" "${QEMU[@]}" < /dev/null &
	QPID=$!
	qrc=0
	wait "$QPID" || qrc=$?
	QPID=
	status=$(tr -d '\r' < "$RUN/status")
	rc=$(sed -n 's/^exit \([0-9]*\)$/\1/p' <<< "$status")
	[[ -z $rc ]] || exit "$rc"
	[[ $status != *"setup failed"* ]] || die "${status#*setup failed: }"
	if [[ $status == *started* ]]; then
		((qrc == 124 || qrc == 137)) && { say "timed out after ${TIMEOUT}s"; exit 124; }
		die "the VM died while the command ran (qemu status $qrc)"
	fi
	((try == 2)) || say "the VM stopped before the command started (qemu status $qrc): booting again"
done
((qrc == 124 || qrc == 137)) && { say "the VM did not boot in ${TIMEOUT}s"; exit 124; }
die "the VM did not boot (qemu status $qrc); try --verbose"
