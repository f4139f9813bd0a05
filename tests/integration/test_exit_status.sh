#!/bin/sh
# tests/integration/test_exit_status.sh: the guest command's exit status or
# terminating signal comes back on the console; the VMM itself exits 0.
. "$(dirname "$0")/lib.sh"

check() { # CMD EXPECTED-LINE
	log=$T/console-$_vmm_n.log
	vmm_start "$log" --kernel "$KERNEL" --initrd "$ROOTFS" --cmdline "$(guest_cmdline "$1")"
	vmm_wait 60
	assert_line "$VMM_LOG" "torpor-init: $2\$" "'$1' did not end with '$2'"
	[ "$VMM_RC" = 0 ] || fail "'$1': torpor-vmm exited with $VMM_RC, expected 0"
	echo "'$1' -> $2"
}

check 'exit 7' 'exit status=7'
check 'true' 'exit status=0'
check 'kill -9 $$' 'exit signal=9'
