#!/bin/sh
# tests/integration/test_power.sh: guest poweroff ends the VMM with 0; guest
# reboot ends it (--on-reboot exit) or boots the VM again (restart), and
# SIGTERM then tears it down cleanly.
. "$(dirname "$0")/lib.sh"
require_file "$CLI"

log=$T/poweroff.log
vmm_start "$log" --kernel "$KERNEL" --initrd "$ROOTFS" --cmdline "$(guest_cmdline 'poweroff -f')"
vmm_wait 60
[ "$VMM_RC" = 0 ] || fail "poweroff: torpor-vmm exited with $VMM_RC"
assert_line "$log" 'torpor-vmm: info: guest powered off'

log=$T/reboot-exit.log
vmm_start "$log" --kernel "$KERNEL" --initrd "$ROOTFS" --on-reboot exit \
	--cmdline "$(guest_cmdline 'reboot -f')"
vmm_wait 60
[ "$VMM_RC" = 0 ] || fail "reboot (exit): torpor-vmm exited with $VMM_RC"
assert_line "$log" 'guest reset: exiting'
[ "$(grep -c 'torpor-init: ready' "$log")" = 1 ] || fail "reboot (exit): guest booted more than once"

sock=$T/vm.sock
log=$T/reboot-restart.log
vmm_start "$log" --kernel "$KERNEL" --initrd "$ROOTFS" --on-reboot restart --control "$sock" \
	--cmdline "$(guest_cmdline 'reboot -f')"
n=0
for _ in $(seq 1 600); do
	n=$(grep -c 'torpor-init: ready' "$log")
	[ "$n" -ge 3 ] && break
	sleep 0.1
done
[ "$n" -ge 3 ] || fail "reboot (restart): guest booted $n times, expected 3 or more"
kill -TERM "$VMM_PID"
vmm_wait 30
[ "$VMM_RC" = 0 ] || fail "SIGTERM: torpor-vmm exited with $VMM_RC"
assert_line "$log" 'restarting the VM'
[ ! -e "$sock" ] || fail "control socket left behind after SIGTERM"
echo "restart: booted $n times, then stopped by SIGTERM"
