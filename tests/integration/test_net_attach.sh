#!/bin/sh
# tests/integration/test_net_attach.sh: --net on a TAP that exists already
# (made persistent beforehand, as a supervisor would, here with busybox
# tunctl or ip tuntap; down, with an address of its own). torpor attaches,
# brings the link up and does not touch the address when no host_ip is
# given; the guest reaches that address; the TAP stays after the VM. A
# host_ip the TAP already has is fine. A second VM on the same TAP while the
# first runs is refused with one clear line. TORPOR_TEST_NET_ATTACH (default
# 10.0.1) picks the /24.
. "$(dirname "$0")/lib.sh"

require_file "$ROOTFS"
NET=${TORPOR_TEST_NET_ATTACH:-10.0.1}
TAP=tpatt$$

[ "$(id -u)" = 0 ] || skip "making a persistent TAP needs root (CAP_NET_ADMIN)"
[ -c /dev/net/tun ] || skip "no /dev/net/tun (load the tun module)"
if command -v tunctl >/dev/null 2>&1; then
	tunctl -t "$TAP" >"$T/tunctl.log" 2>&1 || fail "tunctl -t $TAP: $(cat "$T/tunctl.log")"
	del_tap() { tunctl -d "$TAP" >/dev/null 2>&1; }
elif ip tuntap add dev "$TAP" mode tap 2>/dev/null; then
	del_tap() { ip tuntap del dev "$TAP" mode tap 2>/dev/null; }
else
	skip "neither tunctl nor ip tuntap can make a persistent TAP here"
fi
_attach_cleanup() {
	del_tap
	_lib_cleanup
}
trap _attach_cleanup EXIT
ip addr add "$NET.1/24" dev "$TAP" || fail "ip addr add $NET.1/24 dev $TAP failed"
flags=$(cat "/sys/class/net/$TAP/flags")
[ $((flags & 1)) = 0 ] || fail "$TAP is up before the test"

# inet4 TAP: the IPv4 addresses on the TAP, one a line.
inet4() {
	ip -4 addr show dev "$TAP" | awk '$1 == "inet" { print $2 }'
}

# net_vm LOG NET-SPEC CMD: boot the initramfs with --net NET-SPEC and ip=, run CMD.
net_vm() {
	vmm_start "$1" --kernel "$KERNEL" --initrd "$ROOTFS" --memory 128M --net "$2" \
		--cmdline "$DEFAULT_CMDLINE ip=$NET.2::$NET.1:255.255.255.0::eth0:off torpor.run=\"$3\""
}

# 1. No host_ip: attached, link up, the address untouched.
net_vm "$T/attach.log" "tap=$TAP" "ping -c 2 -W 10 $NET.1"
vmm_wait 60
[ "$VMM_RC" = 0 ] || fail "torpor-vmm exited with $VMM_RC"
assert_line "$T/attach.log" '2 packets transmitted, 2 (packets )?received' \
	"the guest cannot reach $NET.1 on the existing TAP"
[ -e "/sys/class/net/$TAP" ] || fail "the persistent TAP is gone after the VM"
[ "$(inet4)" = "$NET.1/24" ] || fail "the TAP's addresses changed: $(inet4 | tr '\n' ' ')"
flags=$(cat "/sys/class/net/$TAP/flags")
[ $((flags & 1)) = 1 ] || fail "torpor did not bring $TAP up"
echo "attached to $TAP: link up, addresses $(inet4)"

# 2. host_ip that the TAP has already: no error, still one address.
net_vm "$T/same-ip.log" "tap=$TAP,host_ip=$NET.1/24" "ping -c 1 -W 10 $NET.1"
vmm_wait 60
[ "$VMM_RC" = 0 ] || fail "host_ip the TAP already has: torpor-vmm exited with $VMM_RC"
[ "$(inet4)" = "$NET.1/24" ] || fail "the TAP's addresses changed: $(inet4 | tr '\n' ' ')"

# 3. While a VM holds the TAP, another one cannot attach to it.
net_vm "$T/holder.log" "tap=$TAP" "echo HOLDING; sleep 30"
holder=$VMM_PID
holder_log=$VMM_LOG
wait_for_line "$T/holder.log" '^HOLDING' 30 || fail "the first VM did not start"
"$VMM" --kernel "$KERNEL" --initrd "$ROOTFS" --net "tap=$TAP" </dev/null >"$T/second.log" 2>&1
rc=$?
[ "$rc" = 1 ] || fail "a second VM on a TAP in use: exit status $rc, expected 1"
assert_line "$T/second.log" "TAP $TAP: TUNSETIFF: .*another process is attached" \
	"a second VM on a TAP in use: no clear error"
echo "second VM: $(tr -d '\r' <"$T/second.log" | grep TUNSETIFF)"
VMM_PID=$holder VMM_LOG=$holder_log
vmm_kill
[ -e "/sys/class/net/$TAP" ] || fail "the persistent TAP is gone after a killed VM"

# 4. The TAP deleted under a running VM: one warning, the VM runs on and ends normally.
net_vm "$T/deleted.log" "tap=$TAP" "ping -c 1 -W 10 $NET.1; echo DELETE-NOW; sleep 5; echo AFTER"
wait_for_line "$T/deleted.log" '^DELETE-NOW' 60 || fail "the VM for the deletion did not start"
ip link delete "$TAP" || fail "ip link delete $TAP failed"
vmm_wait 60
[ "$VMM_RC" = 0 ] || fail "after its TAP was deleted: torpor-vmm exited with $VMM_RC"
assert_line "$T/deleted.log" "warn: virtio-net@.*: TAP $TAP hung up" "no warning when the TAP went away"
assert_line "$T/deleted.log" '^AFTER$' "the guest did not run on after its TAP was deleted"
echo "TAP deleted under the VM: $(tr -d '\r' <"$T/deleted.log" | grep 'hung up' | sed 's/^torpor-vmm: //')"
