#!/bin/sh
# tests/integration/test_console_input.sh: bytes written to the VMM's stdin
# reach the guest through the 16550 UART and its interrupt.
. "$(dirname "$0")/lib.sh"

log=$T/console.log
vmm_start "$log" --kernel "$KERNEL" --initrd "$ROOTFS" \
	--cmdline "$(guest_cmdline 'read a; read b; echo "got:$a+$b"')"
wait_for_line "$log" '^torpor-init: ready' 60 || fail "guest never became ready"
vmm_input "first-line"
vmm_input "second-line"
wait_for_line "$log" 'got:first-line\+second-line' 30 || fail "console input did not reach the guest"
vmm_wait 30
assert_line "$log" 'torpor-init: exit status=0'
[ "$VMM_RC" = 0 ] || fail "torpor-vmm exited with $VMM_RC"
