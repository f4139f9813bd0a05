#!/bin/sh
# bench/part-vsock.sh WHERE: virtio-vsock throughput between the host and a
# guest, host → guest and guest → host, beside the same transfer over a Unix
# socket and over loopback TCP on this machine, in the same run, as ratios.
#
# One program on both ends of every transfer: the stream engine of
# tests/common/vsock_xfer.h, as build/aarch64/torpor-test-vsock here and as
# /bin/vsock_tool in the guest (its ext4 root). A transfer is one stream of
# TORPOR_BENCH_VSOCK_MIB MiB (default 64) of pseudo-random bytes, which the
# receiver checks byte by byte and hashes (FNV-1a), in 64 KiB reads and
# writes; its time runs from connect() until the receiver has read the
# sender's EOF and said so (its own EOF), measured by the host-side client.
# Each transfer runs TORPOR_BENCH_VSOCK_RUNS times (default 3), one after
# the other; the median counts:
#   vsock: the client connects to the VMM's socket (CONNECT <port>) and the
#          guest (1 vCPU, 256 MiB) accepts; the client sends (host → guest),
#          or the guest sends (guest → host);
#   unix / tcp: the client and a second instance of it on this machine,
#          over a Unix socket / TCP on 127.0.0.1, the same two directions.
# Prints a header naming WHERE, then one labelled line per direction:
# MB/s (10^6 bytes/s) for vsock, unix and tcp, and vsock/unix, vsock/tcp
# (vsock's throughput divided by the other's).
set -eu
where=${1:-unlabelled}
B=build/aarch64
VMM=$B/torpor-vmm
TOOL=$B/torpor-test-vsock
KERNEL=build/guest/Image
ROOT=build/guest/rootfs.ext4
MIB=${TORPOR_BENCH_VSOCK_MIB:-64}
RUNS=${TORPOR_BENCH_VSOCK_RUNS:-3}
VM_TIMEOUT=600

for f in "$VMM" "$TOOL" "$KERNEL" "$ROOT"; do
	[ -f "$f" ] || { echo "bench vsock: $f is missing (run make all guest)"; exit 1; }
done
T=$(mktemp -d "${TMPDIR:-/tmp}/torpor-bench-vsock.XXXXXX")
vmm_pid=
srv_pid=
cleanup() {
	for p in $vmm_pid $srv_pid; do
		kill -9 "$p" 2>/dev/null || true
	done
	rm -rf "$T"
}
trap cleanup EXIT

bad() {
	echo "bench vsock: $1"
	[ -f "${2:-}" ] && tail -n 30 "$2" | tr -d '\r'
	exit 1
}

# wait_ready LOG: until LOG has a VSOCK-READY line (60 s).
wait_ready() {
	i=0
	until [ -f "$1" ] && tr -d '\r' <"$1" | grep -q '^VSOCK-READY'; do
		i=$((i + 1))
		[ "$i" -le 600 ] || bad "no VSOCK-READY in $(basename "$1")" "$1"
		sleep 0.1
	done
}

# xfer NAME ADDR GROUP: RUNS transfers by the client; the median milliseconds into $T/NAME.ms.
xfer() {
	_i=0
	: >"$T/$1.all"
	while [ "$_i" -lt "$RUNS" ]; do
		_i=$((_i + 1))
		"$TOOL" "$2" -t "$VM_TIMEOUT" connect "$3,seed=$((_i * 10))" >"$T/$1.$_i.log" 2>&1 ||
			bad "$1: transfer $_i failed" "$T/$1.$_i.log"
		tr -d '\r' <"$T/$1.$_i.log" |
			sed -n 's/^VSOCK-STREAM connect .* ms=\([0-9]*\) ok$/\1/p' >>"$T/$1.all"
	done
	sort -n "$T/$1.all" | sed -n "$(((RUNS + 1) / 2))p" >"$T/$1.ms"
}

h2g="port=5000,send=${MIB}M"
g2h="port=5001,reply=${MIB}M"
listen="listen port=5000,n=$RUNS port=5001,n=$RUNS"

# 1. vsock: the guest accepts one stream per direction.
"$VMM" --kernel "$KERNEL" --memory 256M --no-console-input \
	--disk "path=$ROOT,overlay=$T/root.ovl" --vsock "cid=3,uds=$T/vm.vsock" \
	--cmdline "console=ttyS0 quiet panic=-1 root=/dev/vda rw torpor.run=\"vsock_tool -t $VM_TIMEOUT $listen\"" \
	</dev/null >"$T/vm.log" 2>&1 &
vmm_pid=$!
wait_ready "$T/vm.log"
xfer vsock-h2g "vsock:$T/vm.vsock" "$h2g"
xfer vsock-g2h "vsock:$T/vm.vsock" "$g2h"
wait "$vmm_pid" || bad "torpor-vmm failed" "$T/vm.log"
vmm_pid=
tr -d '\r' <"$T/vm.log" | grep -q "^VSOCK-DONE streams=$((2 * RUNS)) ok=$((2 * RUNS)) fail=0" ||
	bad "the guest side failed" "$T/vm.log"

# 2. The same over a Unix socket and loopback TCP, both ends on this machine.
base() { # NAME ADDR
	# shellcheck disable=SC2086 # $listen: several words
	"$TOOL" "$2" -t "$VM_TIMEOUT" $listen >"$T/$1-srv.log" 2>&1 &
	srv_pid=$!
	wait_ready "$T/$1-srv.log"
	xfer "$1-h2g" "$2" "$h2g"
	xfer "$1-g2h" "$2" "$g2h"
	wait "$srv_pid" || bad "$1: the server side failed" "$T/$1-srv.log"
	srv_pid=
}
base unix "unix:$T/u"
base tcp tcp:127.0.0.1

# line WHAT DIR: the figures of the transfers in direction DIR (h2g, g2h).
line() {
	v=$(cat "$T/vsock-$2.ms") u=$(cat "$T/unix-$2.ms") t=$(cat "$T/tcp-$2.ms")
	[ -n "$v" ] && [ -n "$u" ] && [ -n "$t" ] || bad "a transfer gave no time ($1)"
	awk -v what="$1" -v v="$v" -v u="$u" -v t="$t" -v b="$((MIB * 1048576))" -v where="$where" '
		function mbps(ms) { return ms > 0 ? b / ms / 1000 : 0 }
		BEGIN {
			printf "  %-13s vsock %7.1f MB/s  unix %7.1f MB/s  tcp %7.1f MB/s  vsock/unix %.3f  vsock/tcp %.3f  [%s]\n",
				what, mbps(v), mbps(u), mbps(t), (v > 0 ? u / v : 0), (v > 0 ? t / v : 0), where }'
}

echo "virtio-vsock vs a Unix socket and loopback TCP on the host, $where:"
echo "  one stream of $MIB MiB at a time, checked byte by byte and hashed by the receiver, median of $RUNS;"
echo "  vsock: host client <-> guest (1 vCPU) through torpor-vmm; unix, tcp: two host processes"
line "host -> guest" h2g
line "guest -> host" g2h
