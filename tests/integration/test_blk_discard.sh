#!/bin/sh
# tests/integration/test_blk_discard.sh: WRITE_ZEROES and DISCARD from the
# guest (BLKZEROOUT / BLKDISCARD) on a raw image and on an overlay: zeroed
# ranges read back as zeros from the guest and, for the raw image, in the
# host file; the base under the overlay is untouched.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk_lib.sh"

head -c 4194304 /dev/urandom >"$T/raw.img"
head -c 4194304 /dev/urandom >"$T/base.img"
raw_tail=$(tail -c 2097152 "$T/raw.img" | md5sum | cut -d' ' -f1)
base_sum=$(sha "$T/base.img")
zero_mib=$(head -c 1048576 /dev/zero | md5sum | cut -d' ' -f1)

# vdb raw: zero [0, 1M), discard [1M, 2M). vdc overlay: zero [4K, 1M+4K),
# discard [2M, 3M). The guest sees 4 KiB logical blocks on an overlay disk,
# so Linux never sends a request for part of a block: virtio_bad_chain sends
# a 512-byte write and a 512-byte write-zeroes by hand (driver unbound).
cmd="blk_ioctl zeroout /dev/vdb 0 1048576 && blk_ioctl discard /dev/vdb 1048576 1048576 && blk_ioctl zeroout /dev/vdc 4096 1048576 && blk_ioctl discard /dev/vdc 2097152 1048576 && echo 3 >/proc/sys/vm/drop_caches && echo VDB0 \$(head -c 1048576 /dev/vdb | md5sum) && echo VDC0 \$(dd if=/dev/vdc bs=4096 skip=1 count=256 2>/dev/null | md5sum) && echo VDCHEAD \$(head -c 4096 /dev/vdc | md5sum) && echo VDCTAIL \$(tail -c 1048576 /dev/vdc | md5sum) && for p in /sys/bus/platform/devices/*.virtio_mmio; do [ -e \$p/virtio*/block/vdc ] && d=\${p##*/}; done && echo \$d >/sys/bus/platform/drivers/virtio-mmio/unbind && virtio_bad_chain \${d%%.*} partial-write partial-zero"
blk_vm "$T/dz.log" 90 "$cmd" \
	--disk "path=$ROOTFS_EXT4,overlay=$T/vm.ovl" --disk "path=$T/raw.img" \
	--disk "path=$T/base.img,overlay=$T/data.ovl"

[ "$(blk_value "$T/dz.log" VDB0 | cut -d' ' -f1)" = "$zero_mib" ] || fail "raw: the zeroed MiB does not read as zeros"
[ "$(head -c 1048576 "$T/raw.img" | md5sum | cut -d' ' -f1)" = "$zero_mib" ] || fail "raw: the host file is not zero there"
[ "$(tail -c 2097152 "$T/raw.img" | md5sum | cut -d' ' -f1)" = "$raw_tail" ] || fail "raw: data past the ranges changed"
[ "$(blk_value "$T/dz.log" VDC0 | cut -d' ' -f1)" = "$zero_mib" ] || fail "overlay: the zeroed MiB does not read as zeros"
[ "$(blk_value "$T/dz.log" VDCHEAD | cut -d' ' -f1)" = "$(head -c 4096 "$T/base.img" | md5sum | cut -d' ' -f1)" ] ||
	fail "overlay: the block before the zeroed range changed"
[ "$(blk_value "$T/dz.log" VDCTAIL | cut -d' ' -f1)" = "$(tail -c 1048576 "$T/base.img" | md5sum | cut -d' ' -f1)" ] ||
	fail "overlay: the last MiB changed"
assert_line "$T/dz.log" '^BADCHAIN partial-write PASS' "overlay: a partial-block write lost the rest of the block"
assert_line "$T/dz.log" '^BADCHAIN partial-zero PASS' "overlay: a partial-block write-zeroes went wrong"
[ "$(sha "$T/base.img")" = "$base_sum" ] || fail "the base under the overlay changed"
echo "write-zeroes and discard: raw and overlay ok"
