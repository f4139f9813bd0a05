#!/bin/sh
# tests/integration/test_boot.sh: a 1-vCPU cold boot runs a command given on
# the kernel command line, prints its output, and powers off cleanly.
. "$(dirname "$0")/lib.sh"

require_file "$KERNEL"
require_file "$ROOTFS"

log=$T/console.log
vmm_start "$log" --kernel "$KERNEL" --initrd "$ROOTFS" --vcpus 1 --memory 256M \
	--cmdline "$(guest_cmdline 'echo hello-from-guest')"
vmm_wait 60

assert_line "$log" '^torpor-init: ready uptime_ms=[0-9]+' "guest-init never printed its ready line"
assert_line "$log" '^hello-from-guest$' "the guest command's output is missing"
assert_line "$log" 'torpor-init: exit status=0' "the guest command did not exit with status 0"
[ "$VMM_RC" = 0 ] || fail "torpor-vmm exited with status $VMM_RC, expected 0"
echo "boot ok: $(tr -d '\r' <"$log" | grep -oE 'ready uptime_ms=[0-9]+')"
