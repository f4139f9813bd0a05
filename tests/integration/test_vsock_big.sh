#!/bin/sh
# tests/integration/test_vsock_big.sh: one vsock stream, opened by the host
# (CONNECT <port> on the VMM's socket), carries TORPOR_TEST_VSOCK_MIB MiB
# (default 100) each way at the same time, host → guest and guest → host.
# Both ends check every byte, and the two sides' FNV-1a checksums and byte
# counts must agree in both directions. (Guest-opened streams carry 8 MiB
# each way in test_vsock_stall.) About 10 s in an idle test host; a test
# host that shares its CPUs with others can take 5 times that.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk_lib.sh"
. "$(dirname "$0")/vsock_lib.sh"

mib=${TORPOR_TEST_VSOCK_MIB:-100}

vsock_vm_start "$T/vm.log" "vsock_tool -t 110 listen port=5000"
vsock_wait_ready "$VMM_LOG" 1 60 || fail "the guest listener did not come up"
vsock_host "$T/hconnect.log" -t 110 connect "port=5000,send=${mib}M,reply=${mib}M,seed=55" ||
	fail "the host client failed: $(tr -d '\r' <"$T/hconnect.log" | grep FAIL | head -n 3)"
vmm_wait 60
[ "$VMM_RC" = 0 ] || fail "torpor-vmm exited with $VMM_RC"
vsock_done "$T/hconnect.log" 1
vsock_done "$VMM_LOG" 1
vsock_pairs "$T/hconnect.log" "$VMM_LOG" 1
ms=$(vsock_field "$T/hconnect.log" '^VSOCK-STREAM connect' ms)
echo "$mib MiB each way on one stream in $ms ms:" \
	"$(awk -v ms="$ms" -v b="$((mib * 1048576))" 'BEGIN { printf "%.1f", (ms > 0 ? b / ms / 1000 : 0) }') MB/s each way"
