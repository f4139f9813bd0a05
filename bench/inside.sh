#!/bin/sh
# bench/inside.sh WHERE: the benchmarks, run on the machine that has KVM.
# Every figure is labelled with WHERE; compare figures only within one run.
# After the boot benchmark, each bench/part-*.sh runs in name order, as
# `sh bench/part-NAME.sh WHERE`, and prints its own labelled figures; a part
# that fails is reported and the others still run.
set -eu
where=${1:-unlabelled}
B=build/aarch64
echo "== torpor bench: $where"
"$B/torpor-bench-boot" --vmm "$B/torpor-vmm" --kernel build/guest/Image \
	--initrd build/guest/rootfs.cpio.gz --runs 10 --memory 256 --where "$where"
rc=0
for part in bench/part-*.sh; do
	[ -e "$part" ] || continue
	if ! sh "$part" "$where"; then
		echo "bench: $part failed"
		rc=1
	fi
done
exit "$rc"
