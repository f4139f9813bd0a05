#!/bin/sh
# tests/integration/test_blk_two_vms.sh: two VMs run at once over one base
# image, each with its own overlay, and never see each other's writes; the
# base stays byte-identical.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk_lib.sh"

base_sum=$(sha "$ROOTFS_EXT4")

# Both at once: the base is shared (read-only, shared lock).
for v in a b; do
	vmm_start "$T/$v.log" --kernel "$KERNEL" --memory 256M \
		--disk "path=$ROOTFS_EXT4,overlay=$T/$v.ovl" \
		--cmdline "$(blk_cmdline "echo $v >/root/who; echo $v >/root/only-$v; head -c 4194304 /dev/urandom >/root/blob; sync; echo SUM \$(md5sum </root/blob)")"
	eval "pid_$v=\$VMM_PID"
done
for v in a b; do
	eval "VMM_PID=\$pid_$v"
	VMM_LOG=$T/$v.log
	vmm_wait 90
	[ "$VMM_RC" = 0 ] || fail "VM $v: torpor-vmm exited with $VMM_RC"
	assert_line "$T/$v.log" 'torpor-init: exit status=0' "VM $v: the guest command failed"
done
sum_a=$(blk_value "$T/a.log" SUM)
sum_b=$(blk_value "$T/b.log" SUM)

# Each overlay, booted again, holds its own VM's files and none of the other's.
for v in a b; do
	o=$([ $v = a ] && echo b || echo a)
	blk_vm "$T/$v-again.log" 60 \
		"echo WHO \$(cat /root/who); ls -1 /root; echo SUM \$(md5sum </root/blob)" \
		--disk "path=$ROOTFS_EXT4,overlay=$T/$v.ovl"
	[ "$(blk_value "$T/$v-again.log" WHO)" = "$v" ] || fail "VM $v's overlay says who=$(blk_value "$T/$v-again.log" WHO)"
	assert_line "$T/$v-again.log" "^only-$v\$" "VM $v lost its own file"
	if tr -d '\r' <"$T/$v-again.log" | grep -q "^only-$o\$"; then
		fail "VM $v sees VM $o's file"
	fi
	eval "want=\$sum_$v"
	[ "$(blk_value "$T/$v-again.log" SUM)" = "$want" ] || fail "VM $v's blob changed"
done
[ "$sum_a" != "$sum_b" ] || fail "both VMs wrote the same random blob?"
[ "$(sha "$ROOTFS_EXT4")" = "$base_sum" ] || fail "the base image changed"
echo "two VMs, one base: writes kept apart, base unchanged"
