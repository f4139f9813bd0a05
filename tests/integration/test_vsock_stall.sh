#!/bin/sh
# tests/integration/test_vsock_stall.sh: a reader that stops reading stalls
# only its own stream. Both ways at once on one VM:
# - the guest accepts a host stream on port 5001 and reads nothing: the host
#   writer blocks (8 MiB to send), while an 8 MiB-each-way stream on port
#   5000 runs to its end;
# - the host accepts a guest stream on <uds>_6001 and reads nothing: the
#   guest writer blocks, while an 8 MiB-each-way stream on 6000 completes.
# The writer checks, when the other stream is done, that its stalled stream
# still has bytes unsent (VSOCK-STALLED ... ok); it then opens a third
# stream, which tells the stalled reader to start reading, and the stalled
# stream must then complete with every byte intact.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk_lib.sh"
. "$(dirname "$0")/vsock_lib.sh"

vsock_host_bg "$T/hlisten.log" -t 100 listen port=6001,hold port=6000 port=6002,release
vsock_vm_start "$T/vm.log" "vsock_tool -t 100 listen port=5001,hold port=5000 port=5002,release connect port=6001,send=8M,seed=61,stall port=6000,send=8M,reply=8M,seed=60 port=6002,seed=62,after"
vsock_wait_ready "$VMM_LOG" 1 60 || fail "the guest listener did not come up"
vsock_host "$T/hconnect.log" -t 100 connect port=5001,send=8M,seed=51,stall \
	port=5000,send=8M,reply=8M,seed=50 port=5002,seed=52,after ||
	fail "the host client failed: $(tr -d '\r' <"$T/hconnect.log" | grep FAIL | head -n 3)"
vmm_wait 60
[ "$VMM_RC" = 0 ] || fail "torpor-vmm exited with $VMM_RC"
vsock_wait_bg
[ "$VSOCK_BG_RC" = 0 ] || fail "the host listener failed: $(grep FAIL "$T/hlisten.log" | head -n 3)"

assert_line "$T/hconnect.log" '^VSOCK-STALLED port=5001 .* ok$' \
	"the host's stream to the guest that did not read was not stalled"
assert_line "$VMM_LOG" '^VSOCK-STALLED port=6001 .* ok$' \
	"the guest's stream to the host that did not read was not stalled"
vsock_done "$T/hconnect.log" 3
vsock_done "$T/hlisten.log" 3
vsock_done "$VMM_LOG" 6
vsock_pairs "$T/hconnect.log" "$VMM_LOG" 3
vsock_pairs "$VMM_LOG" "$T/hlisten.log" 3
echo "stalled: host->guest at $(vsock_field "$T/hconnect.log" '^VSOCK-STALLED' sent) bytes," \
	"guest->host at $(vsock_field "$VMM_LOG" '^VSOCK-STALLED' sent) bytes, while 8 MiB each way passed beside them"
