#!/bin/sh
# tests/integration/test_blk_ro.sh: a read-only disk can be read and mounted
# read-only, refuses writes (the guest sees an error; the device answers a
# hand-made write request with VIRTIO_BLK_S_IOERR) and its file is unchanged.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk_lib.sh"

head -c 2097152 /dev/urandom >"$T/ro.img"
ro_sum=$(sha "$T/ro.img")
base_sum=$(sha "$ROOTFS_EXT4")

# vdb: the random image, read-only; vdc: the ext4 base itself, read-only
# (shared with vda's base).
cmd="echo RO \$(cat /sys/block/vdb/ro); echo READ \$(md5sum </dev/vdb); dd if=/dev/zero of=/dev/vdb bs=4096 count=1 conv=fsync 2>&1; echo DDRC \$?; mkdir /mnt; mount -o ro /dev/vdc /mnt && echo MOUNTED \$(md5sum </mnt/init); touch /mnt/x 2>&1; echo TOUCHRC \$?; umount /mnt; d=; for p in /sys/bus/platform/devices/*.virtio_mmio; do [ -e \$p/virtio*/block/vdb ] && d=\${p##*/}; done; echo \$d >/sys/bus/platform/drivers/virtio-mmio/unbind; virtio_bad_chain \${d%%.*} ro-write good-get-id"
blk_vm "$T/ro.log" 90 "$cmd" \
	--disk "path=$ROOTFS_EXT4,overlay=$T/vm.ovl" --disk "path=$T/ro.img,ro,serial=ro-disk" \
	--disk "path=$ROOTFS_EXT4,ro"
[ "$(blk_value "$T/ro.log" RO)" = 1 ] || fail "the guest does not see vdb as read-only"
[ "$(blk_value "$T/ro.log" READ | cut -d' ' -f1)" = "$(md5sum <"$T/ro.img" | cut -d' ' -f1)" ] ||
	fail "reading the read-only disk gave other data"
[ "$(blk_value "$T/ro.log" DDRC)" != 0 ] || fail "dd to the read-only disk succeeded"
assert_line "$T/ro.log" '^MOUNTED ' "mounting the read-only ext4 disk read-only failed"
[ "$(blk_value "$T/ro.log" TOUCHRC)" != 0 ] || fail "writing to a read-only mount succeeded"
assert_line "$T/ro.log" '^BADCHAIN ro-write PASS' "the device did not answer a raw write with IOERR"
assert_line "$T/ro.log" '^BADCHAIN good-get-id PASS .*id="ro-disk"' "GET_ID on the read-only disk"
[ "$(sha "$T/ro.img")" = "$ro_sum" ] || fail "the read-only image changed"
[ "$(sha "$ROOTFS_EXT4")" = "$base_sum" ] || fail "the base image changed"
echo "read-only disk: readable, mountable ro, writes refused by guest and device, file unchanged"
