#!/usr/bin/env bash
# tools/demo.sh: `make demo` — boot one microVM (2 vCPUs) with torpor-vmm on
# real KVM and show, framed, that the guest is a separate Linux system.
set -euo pipefail

usage() {
	cat <<'EOF'
usage: tools/demo.sh

Boot a microVM with torpor-vmm (2 vCPUs, 256 MiB, the minimal guest kernel
and rootfs from build/guest/) that runs `uname -a; nproc; cat /proc/cmdline;
head -3 /proc/meminfo`, and show its console between two rules next to the
host's own kernel. On x86_64 this runs inside the test host (tools/testhost,
qemu TCG with nested KVM); on aarch64 with /dev/kvm, directly. Needs `make
all guest` first (`make demo` does it).
EOF
}

case "${1:-}" in
-h | --help) usage; exit 0 ;;
"") ;;
*) usage >&2; exit 2 ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

# The demo itself, POSIX sh, run from the repo root (or /torpor in the test
# host, which has the same layout).
demo_script() {
	cat <<'EOF'
vmm=build/aarch64/torpor-vmm
for f in "$vmm" build/guest/Image build/guest/rootfs.cpio.gz; do
	[ -f "$f" ] || { echo "demo: $f is missing; run make all guest"; exit 1; }
done
rule() { printf '%s\n' "+--- $1 $(printf '%*s' $((72 - ${#1})) '' | tr ' ' -)"; }
ms() { awk '{ printf "%d\n", $1 * 1000 }' /proc/uptime; }
echo
rule "host"
echo "| kernel: $(uname -r) ($(uname -m)), $(nproc) CPUs, /dev/kvm: $(ls /dev/kvm 2>/dev/null || echo missing)"
echo "| starting: torpor-vmm --vcpus 2 --memory 256M"
rule "guest console (microVM: 2 vCPUs, 256 MiB)"
t0=$(ms)
{
	"$vmm" --kernel build/guest/Image --initrd build/guest/rootfs.cpio.gz \
		--vcpus 2 --memory 256M \
		--cmdline 'console=ttyS0 quiet panic=-1 torpor.run="uname -a; nproc; cat /proc/cmdline; head -3 /proc/meminfo"' \
		2>/tmp/demo-vmm.err </dev/null
	echo $? >/tmp/demo-vmm.rc
} | tr -d '\r' | sed 's/^/| /'
rc=$(cat /tmp/demo-vmm.rc)
t1=$(ms)
rule "end of guest console"
if [ -s /tmp/demo-vmm.err ]; then
	echo "torpor-vmm log:"
	sed 's/^/  /' /tmp/demo-vmm.err
fi
echo "torpor-vmm exit status $rc, $((t1 - t0)) ms from start to exit (wall, this host)"
rm -f /tmp/demo-vmm.err /tmp/demo-vmm.rc
[ "$rc" = 0 ]
echo
EOF
}

arch=$(uname -m)
if [ "$arch" = aarch64 ] || [ "$arch" = arm64 ]; then
	[ -c /dev/kvm ] || { echo "demo: this aarch64 host has no /dev/kvm" >&2; exit 1; }
	echo "demo: running natively on $arch with /dev/kvm"
	cd "$root"
	exec sh -c "$(demo_script)"
fi
echo "demo: $arch host: booting the aarch64 test host (qemu TCG, nested KVM); this takes a few seconds"
exec "$root/tools/testhost" run --timeout 600 -- "$(demo_script)"
