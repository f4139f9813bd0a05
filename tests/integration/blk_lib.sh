# tests/integration/blk_lib.sh: helpers for the virtio-blk tests (sourced
# after lib.sh by test_blk*.sh and test_virtio_bad_chain*.sh).
#
#   ROOTFS_EXT4               the ext4 root image (build/guest/rootfs.ext4)
#   blk_cmdline CMD           kernel command line: root=/dev/vda rw, torpor.run="CMD"
#                             (CMD: no double quotes)
#   blk_vm LOG TIMEOUT CMD DISK-FLAGS...
#                             boot from the ext4 root with the given --disk
#                             flags, run CMD, wait for the VMM (fails on a
#                             timeout or a non-zero exit status)
#   blk_value LOG KEY         the value of the last "KEY value" line in LOG
#   sha FILE                  sha256 of FILE

ROOTFS_EXT4=${TORPOR_ROOTFS_EXT4:-$TORPOR_ROOT/build/guest/rootfs.ext4}
require_file "$KERNEL"
require_file "$ROOTFS_EXT4"

BLK_CMDLINE="console=ttyS0 quiet panic=-1 root=/dev/vda rw"

blk_cmdline() {
	printf '%s torpor.run="%s"' "$BLK_CMDLINE" "$1"
}

blk_vm() {
	_log=$1 _to=$2 _cmd=$3
	shift 3
	vmm_start "$_log" --kernel "$KERNEL" --memory 256M "$@" --cmdline "$(blk_cmdline "$_cmd")"
	vmm_wait "$_to"
	[ "$VMM_RC" = 0 ] || fail "torpor-vmm exited with $VMM_RC ($(basename "$_log"))"
	assert_line "$_log" 'torpor-init: exit status=0' "the guest command failed ($(basename "$_log"))"
}

blk_value() {
	tr -d '\r' <"$1" | sed -n "s/^$2 //p" | tail -n 1
}

sha() {
	sha256sum "$1" | cut -d' ' -f1
}
