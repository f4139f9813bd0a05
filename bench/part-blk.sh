#!/bin/sh
# bench/part-blk.sh WHERE: virtio-blk speed in a guest beside the same
# measured on the host's own file system, in the same run, as ratios.
#
# One program, blkbench (tests/guest/blkbench.c: /bin/blkbench in the guest's
# ext4 root, build/aarch64/torpor-bench-blk here), measures sequential write
# (fdatasync included) and read of TORPOR_BENCH_BLK_MIB MiB (default 256) in
# 1 MiB requests, then 4 KiB reads at random aligned offsets, one at a time,
# for TORPOR_BENCH_BLK_RAND_SECONDS (default 5):
#   host:  on a file in this machine's temp directory (in the test host:
#          tmpfs, like all of its file system, an initramfs in RAM),
#          O_DIRECT if the file system takes it, else buffered (it says so);
#   guest: O_DIRECT on /dev/vdb, a data disk whose image file lies in the
#          same directory: once a raw image (--disk path=IMG), once a sparse
#          base under a copy-on-write overlay (--disk path=BASE,overlay=OVL).
# The guest boots from build/guest/rootfs.ext4 through its own overlay, so
# the image is never changed. Prints one header naming WHERE and one line a
# figure: the figure and unit in the guest and on the host, and guest/host.
set -eu
where=${1:-unlabelled}
B=build/aarch64
VMM=$B/torpor-vmm
TOOL=$B/torpor-bench-blk
KERNEL=build/guest/Image
ROOT=build/guest/rootfs.ext4
MIB=${TORPOR_BENCH_BLK_MIB:-256}
RAND_S=${TORPOR_BENCH_BLK_RAND_SECONDS:-5}
GUEST_MIB=256
VM_TIMEOUT=150

for f in "$VMM" "$TOOL" "$KERNEL" "$ROOT"; do
	[ -f "$f" ] || { echo "bench blk: $f is missing (run make all guest)"; exit 1; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/torpor-bench-blk.XXXXXX")
trap 'rm -rf "$T"' EXIT

fs=$(stat -f -c %T "$T" 2>/dev/null || echo unknown)
if [ "${TORPOR_TESTHOST:-}" = 1 ]; then
	host_fs="$fs, the test host's /tmp (its whole file system is an initramfs in RAM)"
else
	host_fs="$fs at $(dirname "$T")"
fi
args="--size $MIB --bs 1024 --rand-seconds $RAND_S"

# value LOG KEY: the figure of the last "BLKBENCH KEY figure ..." line.
value() {
	tr -d '\r' <"$1" | sed -n "s/^BLKBENCH $2 \([^ ]*\).*/\1/p" | tail -n 1
}

bad() {
	echo "bench blk: $1"
	[ -f "${2:-}" ] && tail -n 30 "$2" | tr -d '\r'
	exit 1
}

# 1. The host's own file system.
# shellcheck disable=SC2086 # $args: several words
"$TOOL" $args --create "$T/host.dat" >"$T/host.log" 2>&1 ||
	bad "blkbench failed on the host" "$T/host.log"
rm -f "$T/host.dat"
host_io=$(value "$T/host.log" io)
case "$host_io" in
buffered) host_io="buffered: $fs refuses O_DIRECT" ;;
esac

# 2. The guest: guest_run NAME DISK-SPEC (the data disk, /dev/vdb).
guest_run() {
	_log=$T/$1.log
	timeout -s KILL "$VM_TIMEOUT" "$VMM" --kernel "$KERNEL" --memory "${GUEST_MIB}M" \
		--no-console-input \
		--disk "path=$ROOT,overlay=$T/root-$1.ovl" --disk "$2" \
		--cmdline "console=ttyS0 quiet panic=-1 root=/dev/vda rw torpor.run=\"blkbench $args /dev/vdb\"" \
		</dev/null >"$_log" 2>&1 || bad "$1: torpor-vmm failed or took over $VM_TIMEOUT s" "$_log"
	tr -d '\r' <"$_log" | grep -q '^torpor-init: exit status=0' ||
		bad "$1: blkbench failed in the guest" "$_log"
	[ "$(value "$_log" io)" = O_DIRECT ] || bad "$1: the guest did not get O_DIRECT" "$_log"
}

truncate -s "${MIB}M" "$T/raw.img"
guest_run raw "path=$T/raw.img"
rm -f "$T/raw.img" "$T/root-raw.ovl"
truncate -s "${MIB}M" "$T/base.img"
guest_run overlay "path=$T/base.img,overlay=$T/data.ovl"
rm -f "$T/base.img" "$T/data.ovl" "$T/root-overlay.ovl"

# line WHAT KEY UNIT: one figure for each guest run beside the host's.
line() {
	_h=$(value "$T/host.log" "$2")
	for _run in raw overlay; do
		_g=$(value "$T/$_run.log" "$2")
		if [ -z "$_g" ] || [ -z "$_h" ]; then
			bad "no $2 figure ($_run / host)"
		fi
		awk -v what="$1" -v run="$_run" -v g="$_g" -v h="$_h" -v unit="$3" 'BEGIN {
			printf "  %-36s guest %-7s %9s %-4s  host %9s %-4s  guest/host %.3g\n",
				what, run, g, unit, h, unit, (h > 0 ? g / h : 0) }'
	done
}

echo "virtio-blk in a guest vs the host's own file system, $where:"
echo "  guest: blkbench, O_DIRECT on /dev/vdb (1 vCPU, $GUEST_MIB MiB RAM), a $MIB MiB disk whose image is a file on the host's $fs:"
echo "         raw = --disk path=IMG; overlay = --disk path=BASE,overlay=OVL (sparse base)"
echo "  host:  the same program on a $MIB MiB file on $host_fs; $host_io"
line "sequential write, 1 MiB, +fdatasync" seq_write_MBps MB/s
line "sequential read, 1 MiB" seq_read_MBps MB/s
line "random read 4 KiB, QD1, ${RAND_S} s" rand_read_iops IOPS
