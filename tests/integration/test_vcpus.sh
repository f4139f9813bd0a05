#!/bin/sh
# tests/integration/test_vcpus.sh: boots with 1, 2 and 4 vCPUs; the guest
# brings every one online (PSCI CPU_ON) and sees exactly that many.
. "$(dirname "$0")/lib.sh"

for n in 1 2 4; do
	log=$T/console-$n.log
	vmm_start "$log" --kernel "$KERNEL" --initrd "$ROOTFS" --vcpus "$n" --memory 256M \
		--cmdline "$(guest_cmdline 'echo online=$(cat /sys/devices/system/cpu/online) nproc=$(nproc)')"
	vmm_wait 90
	[ "$VMM_RC" = 0 ] || fail "$n vCPUs: torpor-vmm exited with status $VMM_RC"
	if [ "$n" = 1 ]; then want="online=0 nproc=1"; else want="online=0-$((n - 1)) nproc=$n"; fi
	assert_line "$log" "^$want\$" "$n vCPUs: guest did not report '$want'"
	echo "$n vCPUs: $want"
done
