. tests/integration/lib.sh
for rf in "$TORPOR_ROOT/build/guest/rootfs.cpio.gz" "$TORPOR_ROOT/build/aarch64/rootfs-head.cpio.gz"; do
	vmm_start $T/s.log --kernel $KERNEL --initrd $rf --on-reboot restart --cmdline "$(guest_cmdline 'reboot -f')"
	sleep 100
	vmm_kill
	echo "STRESS $(basename $rf): boots=$(grep -c 'torpor-init: ready' $T/s.log) segv=$(grep -c 'signal=11' $T/s.log) panics=$(grep -c 'Kernel panic' $T/s.log)"
	grep -B3 -A3 "signal=11\|Kernel panic" $T/s.log | head -30
done
