#!/bin/sh
# tests/integration/test_blk.sh: boot from the ext4 rootfs on virtio-blk over a
# copy-on-write overlay; the guest writes 64 MiB, syncs and powers off; a new
# VM on the same overlay reads back the same checksum; the base image is
# byte-identical to before; GET_ID gives the configured serial.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk_lib.sh"

base_sum=$(sha "$ROOTFS_EXT4")
ovl=$T/vm.ovl

# 1. Write 64 MiB, sync, read it back from the disk (page cache dropped).
blk_vm "$T/write.log" 110 \
	"cat /sys/block/vda/serial; echo; grep ' / ' /proc/mounts; head -c 67108864 /dev/urandom >/root/data; sync; echo 3 >/proc/sys/vm/drop_caches; echo SUM \$(md5sum </root/data)" \
	--disk "path=$ROOTFS_EXT4,overlay=$ovl,serial=torpor-root-0"
assert_line "$T/write.log" '^/dev/root / ext4 rw' "the root is not ext4 mounted rw from the disk"
assert_line "$T/write.log" '^torpor-root-0$' "GET_ID did not give the configured serial"
sum1=$(blk_value "$T/write.log" SUM)
[ -n "$sum1" ] || fail "the guest printed no checksum"
[ -f "$ovl" ] || fail "no overlay file was created"

# 2. A new VM on the same overlay sees the same 64 MiB.
blk_vm "$T/read.log" 90 "echo SUM \$(md5sum </root/data)" \
	--disk "path=$ROOTFS_EXT4,overlay=$ovl"
sum2=$(blk_value "$T/read.log" SUM)
[ "$sum1" = "$sum2" ] || fail "checksum after reboot '$sum2' differs from the written '$sum1'"

# 3. The base never changed; the overlay holds the writes (sparse, not a copy).
[ "$(sha "$ROOTFS_EXT4")" = "$base_sum" ] || fail "the base image changed"
used_kib=$(du -k "$ovl" | cut -f1)
[ "$used_kib" -ge 65536 ] || fail "overlay uses $used_kib KiB, less than the 64 MiB written"
echo "64 MiB round trip ok: md5 $sum1, overlay uses $used_kib KiB, base unchanged"
