#!/bin/sh
# tests/integration/test_blk_sigkill.sh: the VMM killed with SIGKILL right
# after the guest flushed loses nothing that was flushed (overlay and raw
# image); the file system comes back clean on the next boot.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk_lib.sh"

ovl=$T/vm.ovl
head -c 16777216 /dev/zero >"$T/raw.img"

# Write, flush (sync), print the checksum, then keep writing without a flush.
cmd="head -c 8388608 /dev/urandom >/root/k; sync; echo FLUSHED \$(md5sum </root/k); dd if=/dev/urandom of=/dev/vdb bs=65536 count=16 conv=fsync 2>/dev/null; echo RAWFLUSHED \$(head -c 1048576 /dev/vdb | md5sum); head -c 4194304 /dev/urandom >/root/unflushed; sleep 600"
vmm_start "$T/kill.log" --kernel "$KERNEL" --memory 256M \
	--disk "path=$ROOTFS_EXT4,overlay=$ovl" --disk "path=$T/raw.img" \
	--cmdline "$(blk_cmdline "$cmd")"
wait_for_line "$T/kill.log" '^RAWFLUSHED ' 90 || fail "the guest never reported its flushes"
vmm_kill
sum=$(blk_value "$T/kill.log" FLUSHED)
rawsum=$(blk_value "$T/kill.log" RAWFLUSHED)
[ -n "$sum" ] && [ -n "$rawsum" ] || fail "no checksums in the log"

# The raw image on the host holds what was flushed.
[ "$(head -c 1048576 "$T/raw.img" | md5sum | cut -d' ' -f1)" = "${rawsum%% *}" ] ||
	fail "the raw image lost flushed data"

blk_vm "$T/after.log" 60 "echo SUM \$(md5sum </root/k); ls -l /root" \
	--disk "path=$ROOTFS_EXT4,overlay=$ovl"
[ "$(blk_value "$T/after.log" SUM)" = "$sum" ] || fail "flushed file changed after SIGKILL: $(blk_value "$T/after.log" SUM) != $sum"
if tr -d '\r' <"$T/after.log" | grep -qiE 'EXT4-fs error|corrupt'; then
	fail "the file system has errors after SIGKILL"
fi
echo "SIGKILL after flush: nothing flushed was lost (md5 $sum)"
