#!/bin/sh
# tests/integration/test_dump_dtb.sh: --dump-dtb writes the device tree the
# guest would boot with (one cpu node per vCPU) and exits without running it.
. "$(dirname "$0")/lib.sh"

out=$T/guest.dtb
timeout 30 "$VMM" --kernel "$KERNEL" --initrd "$ROOTFS" --vcpus 3 --dump-dtb "$out" </dev/null \
	>"$T/out" 2>&1 || fail "--dump-dtb failed: $(cat "$T/out")"
magic=$(od -A n -t x1 -N 4 "$out" | tr -d ' ')
[ "$magic" = d00dfeed ] || fail "not a flattened device tree (magic $magic)"
# Node names are NUL-terminated strings in the structure block.
cpus=$(tr '\000' '\n' <"$out" | grep -c 'cpu@[0-9]')
[ "$cpus" = 3 ] || fail "expected 3 cpu nodes, found $cpus"
for s in 'arm,gic-v3' 'ns16550a' 'arm,psci-0.2' 'arm,armv8-timer' 'linux,initrd-start'; do
	grep -q "$s" "$out" || fail "device tree lacks $s"
done
