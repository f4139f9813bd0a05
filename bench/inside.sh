#!/bin/sh
# bench/inside.sh WHERE: the benchmarks, run on the machine that has KVM.
# Every figure is labelled with WHERE; compare figures only within one run.
set -eu
where=${1:-unlabelled}
B=build/aarch64
echo "== torpor bench: $where"
"$B/torpor-bench-boot" --vmm "$B/torpor-vmm" --kernel build/guest/Image \
	--initrd build/guest/rootfs.cpio.gz --runs 10 --memory 256 --where "$where"
