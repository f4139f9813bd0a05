#!/bin/sh
# tests/integration/test_net_bad_chain.sh: malformed RX and TX chains written
# by a guest program (tests/guest/virtio_net_bad.c, through /dev/mem, with the
# virtio-net driver unbound) each put the device in DEVICE_NEEDS_RESET with a
# configuration-change interrupt and one warning line; a well-formed frame
# and one asking for an offload that was not negotiated are served without a
# reset; a receive buffer with room for the header only stays unused while
# the host sends ARP requests (the frames that do not fit are dropped). The
# VMM keeps running, and after a reset the guest's own driver works again: it
# pings the host.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk_lib.sh"

NET=${TORPOR_TEST_NET:-10.0.0}
TAP=tpbad$$
[ "$(id -u)" = 0 ] || skip "creating a TAP needs root (CAP_NET_ADMIN)"
[ -c /dev/net/tun ] || skip "no /dev/net/tun (load the tun module)"

# Find eth0's virtio-mmio device, unbind its driver, run the cases, bind it
# again, configure the new eth0 by hand and ping (once the host has stopped
# its ARP requests: a neighbour entry it gave up on can cost the first reply).
cmd="d=; for p in /sys/bus/platform/devices/*.virtio_mmio; do [ -e \$p/virtio*/net/eth0 ] && d=\${p##*/}; done; echo VICTIM \$d; echo \$d >/sys/bus/platform/drivers/virtio-mmio/unbind; virtio_net_bad \${d%%.*}; echo NETBADRC \$?; echo \$d >/sys/bus/platform/drivers/virtio-mmio/bind; sleep 3; ip addr add $NET.2/24 dev eth0 && ip link set eth0 up && ping -c 3 -W 10 $NET.1"
# ARP requests for the guest's address all along: frames for the small buffer.
(while :; do ping -c 1 -W 1 "$NET.2" >/dev/null 2>&1; sleep 0.2; done) &
pinger=$!
trap 'kill -9 "$pinger" 2>/dev/null; _lib_cleanup' EXIT
vmm_start "$T/bad.log" --kernel "$KERNEL" --memory 256M --log-level debug \
	--disk "path=$ROOTFS_EXT4,overlay=$T/vm.ovl" --net "tap=$TAP,host_ip=$NET.1/24" \
	--cmdline "$(blk_cmdline "$cmd")"
wait_for_line "$T/bad.log" '^NETBAD-DONE' 90
kill -9 "$pinger" 2>/dev/null
vmm_wait 100
[ "$VMM_RC" = 0 ] || fail "torpor-vmm exited with $VMM_RC"

victim=$(blk_value "$T/bad.log" VICTIM)
[ -n "$victim" ] || fail "the guest did not find eth0's virtio-mmio device"
tr -d '\r' <"$T/bad.log" | grep '^NETBAD' | sed 's/^/  /'
[ "$(blk_value "$T/bad.log" NETBADRC)" = 0 ] || fail "a case failed (see the NETBAD lines)"
assert_line "$T/bad.log" '^NETBAD-DONE ran=9 failed=0' "not every case ran"

# One warning line per malformed chain, naming the device; no errors.
nbad=$(tr -d '\r' <"$T/bad.log" | grep '^NETBAD .* PASS' | grep -vc '^NETBAD good-')
nlines=$(tr -d '\r' <"$T/bad.log" | grep -c "torpor-vmm: warn: virtio-net@${victim%%.*}: .*device needs reset")
[ "$nbad" = 6 ] || fail "$nbad malformed cases passed, expected 6"
dropped=$(tr -d '\r' <"$T/bad.log" | sed -n 's/.*virtio-net@.*: rx [0-9]* packets (\([0-9]*\) dropped).*/\1/p')
[ "${dropped:-0}" -ge 1 ] || fail "no received frame was dropped: the small-buffer case saw no traffic"
[ "$nlines" = "$nbad" ] || fail "$nlines 'needs reset' log lines for $nbad malformed chains"
if tr -d '\r' <"$T/bad.log" | grep -q 'torpor-vmm: error'; then
	fail "the VMM logged an error"
fi
assert_line "$T/bad.log" '3 packets transmitted, [1-3] (packets )?received' \
	"after the reset the guest's driver cannot reach the host"
big=$(tr -d '\r' <"$T/bad.log" | grep -c 'dropped a received frame: too big')
[ "$big" -ge 1 ] || fail "no frame was dropped for being too big for its buffer"
echo "$nbad malformed chains: each needed a reset; $dropped received frames dropped ($big too big for a buffer);"
echo "the driver works again afterwards"
