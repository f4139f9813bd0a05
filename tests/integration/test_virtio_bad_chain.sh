#!/bin/sh
# tests/integration/test_virtio_bad_chain.sh: malformed descriptor chains
# written by a guest program (tests/guest/virtio_bad_chain.c, through
# /dev/mem, with the device's driver unbound) each put that virtio-blk device
# in DEVICE_NEEDS_RESET with a configuration-change interrupt and one log
# line; the VMM and the other disk keep working, and after a reset the
# device works again for the guest's own driver.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk_lib.sh"

head -c 1048576 /dev/urandom >"$T/victim.img"
victim_sum=$(md5sum <"$T/victim.img" | cut -d' ' -f1)

# Find vdb's virtio-mmio device, unbind its driver, run every case, bind it again.
cmd="d=; for p in /sys/bus/platform/devices/*.virtio_mmio; do [ -e \$p/virtio*/block/vdb ] && d=\${p##*/}; done; echo VICTIM \$d; echo \$d >/sys/bus/platform/drivers/virtio-mmio/unbind; virtio_bad_chain \${d%%.*} all; echo BADRC \$?; echo \$d >/sys/bus/platform/drivers/virtio-mmio/bind; sleep 1; echo VDB \$(md5sum </dev/vdb); echo still-here >/root/after; sync; echo 3 >/proc/sys/vm/drop_caches; echo ROOT \$(cat /root/after)"
blk_vm "$T/bad.log" 100 "$cmd" \
	--disk "path=$ROOTFS_EXT4,overlay=$T/vm.ovl" --disk "path=$T/victim.img"

victim=$(blk_value "$T/bad.log" VICTIM)
[ -n "$victim" ] || fail "the guest did not find vdb's virtio-mmio device"
tr -d '\r' <"$T/bad.log" | grep '^BADCHAIN' | sed 's/^/  /'
[ "$(blk_value "$T/bad.log" BADRC)" = 0 ] || fail "a malformed-chain case failed (see BADCHAIN lines)"
assert_line "$T/bad.log" '^BADCHAIN-DONE ran=18 failed=0' "not every case ran"

# One warning line per malformed chain, naming the device; nothing else went wrong.
nbad=$(tr -d '\r' <"$T/bad.log" | grep '^BADCHAIN .* PASS' | grep -vc -- '-good-\|good-')
nlines=$(tr -d '\r' <"$T/bad.log" | grep -c "torpor-vmm: warn: virtio-blk@${victim%%.*}: .*device needs reset")
[ "$nlines" = "$nbad" ] || fail "$nlines 'needs reset' log lines for $nbad malformed chains"
if tr -d '\r' <"$T/bad.log" | grep -q 'torpor-vmm: error'; then
	fail "the VMM logged an error"
fi

# The device works again after the reset; the root disk never stopped.
[ "$(blk_value "$T/bad.log" VDB | cut -d' ' -f1)" = "$victim_sum" ] ||
	fail "vdb read after rebinding gave other data"
[ "$(blk_value "$T/bad.log" ROOT)" = still-here ] || fail "the root disk stopped working"
[ "$(md5sum <"$T/victim.img" | cut -d' ' -f1)" = "$victim_sum" ] || fail "the victim image changed"
echo "$nbad malformed chains: each needed a reset, VMM and root disk unaffected"
