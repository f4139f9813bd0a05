#!/bin/sh
# tests/integration/test_init_net.sh: guest-init's network set-up from the
# kernel command line. Bad or unusable values give one warning each and the
# guest boots on (no eth0 without --net, an address without /prefix, a bad
# host name falls back to "torpor"). With --net on a TAP, torpor.ip and
# torpor.gw configure eth0 and the default route, and the guest pings the
# host. TORPOR_TEST_INIT_NET (default 10.0.7) picks the /24.
. "$(dirname "$0")/lib.sh"
require_file "$KERNEL"
require_file "$ROOTFS"

NET=${TORPOR_TEST_INIT_NET:-10.0.7}
TAP=tpinit$$

# 1. No network device; a bad host name.
log=$T/nonet.log
vmm_start "$log" --kernel "$KERNEL" --initrd "$ROOTFS" --memory 128M \
	--cmdline "$DEFAULT_CMDLINE torpor.ip=$NET.2/24 torpor.hostname=bad_name torpor.run=\"echo HOST \$(hostname); ip link show lo\""
vmm_wait 60
[ "$VMM_RC" = 0 ] || fail "no --net: torpor-vmm exited with $VMM_RC"
assert_line "$log" '^torpor-init: warning: torpor.ip: eth0: No such device \(no network device; start the VM with --net\)$' \
	"no clear warning for torpor.ip without a network device"
assert_line "$log" '^torpor-init: warning: torpor.hostname=bad_name: not a valid host name' \
	"no warning for a bad host name"
assert_line "$log" '^HOST torpor$' "the host name did not fall back to torpor"
assert_line "$log" '^1: lo: <LOOPBACK,UP' "lo is not up"
assert_line "$log" 'torpor-init: exit status=0' "the guest command failed"

# 2. Values that do not parse: a warning each, nothing else.
log=$T/bad.log
vmm_start "$log" --kernel "$KERNEL" --initrd "$ROOTFS" --memory 128M \
	--cmdline "$DEFAULT_CMDLINE torpor.ip=$NET.2 torpor.dns=1.1.1.1,,8.8.8.8 torpor.run=\"test ! -e /etc/resolv.conf\""
vmm_wait 60
[ "$VMM_RC" = 0 ] || fail "bad values: torpor-vmm exited with $VMM_RC"
assert_line "$log" "^torpor-init: warning: torpor.ip=$NET.2: no /prefix length \\(e.g. /24\\); eth0 not configured\$" \
	"no clear warning for an address without a prefix length"
assert_line "$log" '^torpor-init: warning: torpor.dns=1.1.1.1,,8.8.8.8: not a comma-separated list of IPv4 addresses; /etc/resolv.conf not written$' \
	"no clear warning for a bad torpor.dns"
assert_line "$log" 'torpor-init: exit status=0' "/etc/resolv.conf was written from a bad torpor.dns"

# 3. eth0 on a TAP: address, route, ping.
[ "$(id -u)" = 0 ] || skip "a TAP needs root (CAP_NET_ADMIN); the checks without one passed"
[ -c /dev/net/tun ] || skip "no /dev/net/tun (load the tun module); the checks without one passed"
log=$T/net.log
vmm_start "$log" --kernel "$KERNEL" --initrd "$ROOTFS" --memory 128M \
	--net "tap=$TAP,host_ip=$NET.1/24" \
	--cmdline "$DEFAULT_CMDLINE torpor.ip=$NET.2/24 torpor.gw=$NET.1 torpor.run=\"ip addr show eth0; ip route; ping -c 2 -W 10 $NET.1\""
vmm_wait 90
[ "$VMM_RC" = 0 ] || fail "--net: torpor-vmm exited with $VMM_RC"
assert_line "$log" "inet $NET.2/24 brd $NET.255 scope global eth0" "eth0 does not have $NET.2/24"
assert_line "$log" '<BROADCAST,MULTICAST,UP' "eth0 is not up"
assert_line "$log" "^default via $NET.1 dev eth0" "no default route via $NET.1"
assert_line "$log" '2 packets transmitted, 2 (packets )?received' "the guest cannot ping the host"
assert_line "$log" 'torpor-init: exit status=0' "the guest command failed"
if tr -d '\r' <"$log" | grep -qE 'torpor-init: (warning|error)'; then
	fail "guest-init warned: $(tr -d '\r' <"$log" | grep -E 'torpor-init: (warning|error)')"
fi
echo "eth0 $NET.2/24 via $NET.1 from the command line; ping ok"
