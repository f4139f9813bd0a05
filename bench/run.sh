#!/usr/bin/env bash
# bench/run.sh: `make bench`. Runs bench/inside.sh where real KVM is: inside
# the test host on x86_64, directly on an arm64 host with /dev/kvm.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(uname -m)" = aarch64 ] && [ -w /dev/kvm ]; then
	exec sh bench/inside.sh "native arm64 KVM ($(uname -r))"
fi
# testhost joins CMD into one shell line: quote the label inside it. 3072 MiB
# (default 2048): torpor-vmm refuses a guest larger than host RAM, and
# bench/part-snapshot.sh boots a 2 GiB one.
exec tools/testhost run --mem 3072 -- "sh bench/inside.sh 'test host: nested KVM in qemu-system-aarch64 TCG on $(uname -m)'"
