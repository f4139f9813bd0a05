#!/bin/sh
# tests/integration/test_net.sh: virtio-net on a TAP. Bad --net values end
# torpor-vmm with one error line and status 1; a VM without --net has no
# eth0; a name that is not a TAP is refused. Then a guest booted from the
# ext4 root with --net (torpor creates the TAP, puts HOST_IP on it and brings
# it up; the guest's address comes from ip= on the kernel command line) pings
# the host and moves 32 MiB of random data over TCP each way
# (build/aarch64/torpor-test-net_xfer here, /bin/net_xfer in the guest); the
# md5 of what was sent and of what arrived agree on both ends. The TAP goes
# away with the VM. TORPOR_TEST_NET (default 10.0.0) picks the /24.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk_lib.sh"

XFER=${TORPOR_TEST_NET_XFER:-$TORPOR_ROOT/build/aarch64/torpor-test-net_xfer}
require_file "$XFER"
require_file "$ROOTFS"
NET=${TORPOR_TEST_NET:-10.0.0}
HOST_IP=$NET.1
GUEST_IP=$NET.2
TAP=tptest$$
MAC=02:00:0a:00:00:02
BYTES=33554432
BG=

_net_cleanup() {
	for _p in $BG; do
		kill -9 "$_p" 2>/dev/null
	done
	_lib_cleanup
}
trap _net_cleanup EXIT

# 1. Bad --net values: one error line, status 1, before any device exists.
bad_net() { # NAME SPEC MESSAGE
	echo "+ $VMM --kernel $KERNEL --net $2" >>"$T/commands"
	"$VMM" --kernel "$KERNEL" --net "$2" </dev/null >"$T/$1.log" 2>&1
	_rc=$?
	[ "$_rc" = 1 ] || fail "--net $2: exit status $_rc, expected 1"
	[ "$(wc -l <"$T/$1.log")" = 1 ] || fail "--net $2: not one line: $(cat "$T/$1.log")"
	grep -q "^torpor-vmm: error: --net: .*$3" "$T/$1.log" ||
		fail "--net $2: unexpected message: $(cat "$T/$1.log")"
	echo "--net $2: $(cat "$T/$1.log")"
}
bad_net no-tap "mac=$MAC" "no tap=NAME"
bad_net bad-mac "tap=$TAP,mac=02:00:0a:00:00:zz" "is not a MAC address"
bad_net mcast-mac "tap=$TAP,mac=01:00:5e:00:00:01" "multicast"
bad_net bad-ip "tap=$TAP,host_ip=$HOST_IP" "not an IPv4 address with a prefix length"
bad_net bad-name "tap=a/b" "not an interface name"
bad_net unknown "tap=$TAP,bridge=br0" "unknown option \"bridge=br0\""

# 2. No --net, no network device (lo, and sit0 of the kernel's IPv6, only).
vmm_start "$T/nonet.log" --kernel "$KERNEL" --initrd "$ROOTFS" --memory 128M \
	--cmdline "$(guest_cmdline 'echo NETDEVS $(ls /sys/class/net)')"
vmm_wait 60
[ "$VMM_RC" = 0 ] || fail "the VM without --net exited with $VMM_RC"
assert_line "$T/nonet.log" '^NETDEVS .*lo' "the VM without --net did not list its interfaces"
tr -d '\r' <"$T/nonet.log" | grep '^NETDEVS' | grep -q eth && fail "a VM without --net has an eth device"

# The rest needs TAP devices.
[ "$(id -u)" = 0 ] || skip "creating a TAP needs root (CAP_NET_ADMIN); the checks without one passed"
[ -c /dev/net/tun ] || skip "no /dev/net/tun (load the tun module); the checks without one passed"
[ -e "/sys/class/net/$TAP" ] && fail "$TAP exists already"

# 3. An interface that is not a TAP is refused, and left alone.
vmm_start "$T/not-tap.log" --kernel "$KERNEL" --initrd "$ROOTFS" --net tap=lo \
	--cmdline "$(guest_cmdline 'true')"
vmm_wait 30
[ "$VMM_RC" = 1 ] || fail "--net tap=lo: exit status $VMM_RC, expected 1"
assert_line "$T/not-tap.log" 'TAP lo: TUNSETIFF: .*exists and is not a TAP' \
	"--net tap=lo: no clear error"

# 4. The guest pings the host and moves 32 MiB each way.
head -c "$BYTES" /dev/urandom >"$T/to-guest"
"$XFER" -t 110 listen 5001 recv "$T/from-guest" >"$T/xfer-in.log" 2>&1 &
BG="$BG $!"
in_pid=$!
"$XFER" -t 110 listen 5002 send "$T/to-guest" >"$T/xfer-out.log" 2>&1 &
BG="$BG $!"
out_pid=$!
wait_for_line "$T/xfer-in.log" 'listening' 10 || fail "net_xfer did not listen on port 5001"
wait_for_line "$T/xfer-out.log" 'listening' 10 || fail "net_xfer did not listen on port 5002"

guest_cmd="echo MAC \$(cat /sys/class/net/eth0/address); ping -c 3 -W 10 $HOST_IP && head -c $BYTES /dev/urandom >/tmp/out && echo OUTSUM \$(md5sum </tmp/out) && net_xfer -t 100 connect $HOST_IP 5001 send /tmp/out && net_xfer -t 100 connect $HOST_IP 5002 recv /tmp/in && echo INSUM \$(md5sum </tmp/in)"
vmm_start "$T/vm.log" --kernel "$KERNEL" --memory 256M --log-level debug \
	--disk "path=$ROOTFS_EXT4,overlay=$T/root.ovl" \
	--net "tap=$TAP,mac=$MAC,host_ip=$HOST_IP/24" \
	--cmdline "$BLK_CMDLINE ip=$GUEST_IP::$HOST_IP:255.255.255.0::eth0:off torpor.run=\"$guest_cmd\""
vmm_wait 100
[ "$VMM_RC" = 0 ] || fail "torpor-vmm exited with $VMM_RC"
assert_line "$T/vm.log" "^MAC $MAC\$" "the guest's MAC is not $MAC"
assert_line "$T/vm.log" '3 packets transmitted, 3 (packets )?received' "the guest cannot ping $HOST_IP"
assert_line "$T/vm.log" 'torpor-init: exit status=0' "the guest's transfers failed"
assert_line "$T/vm.log" 'virtio-net@.*TAP offloads 0xf' \
	"checksum and TSO offload were not negotiated with this TAP"
wait "$in_pid" || fail "host receiver failed: $(cat "$T/xfer-in.log")"
wait "$out_pid" || fail "host sender failed: $(cat "$T/xfer-out.log")"
BG=

out_sum=$(blk_value "$T/vm.log" OUTSUM)
in_sum=$(blk_value "$T/vm.log" INSUM)
[ -n "$out_sum" ] && [ -n "$in_sum" ] || fail "the guest printed no checksums"
[ "$(md5sum <"$T/from-guest" | cut -d' ' -f1)" = "${out_sum%% *}" ] ||
	fail "guest->host: the host received other bytes than the guest sent"
[ "$(md5sum <"$T/to-guest" | cut -d' ' -f1)" = "${in_sum%% *}" ] ||
	fail "host->guest: the guest received other bytes than the host sent"
[ -e "/sys/class/net/$TAP" ] && fail "the TAP $TAP torpor created is still there after the VM"
echo "guest->host: $(tail -n 1 "$T/xfer-in.log")"
echo "host->guest: $(tail -n 1 "$T/xfer-out.log")"
echo "ping and 2 x 32 MiB over $TAP ok: md5 ${out_sum%% *} / ${in_sum%% *}"
