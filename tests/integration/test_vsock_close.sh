#!/bin/sh
# tests/integration/test_vsock_close.sh: a side that closes its socket right
# after its last write, while the other side is not reading, loses nothing:
# - guest → host: the guest sends 300 KiB to a host listener that does not
#   read and closes; what the host socket does not take (it takes 128 to
#   240 KiB) waits in the VMM; Linux gives up waiting for the close after
#   8 s and resets the stream; 12 s later the host starts reading and must
#   still get every byte, then EOF;
# - host → guest: the host client sends 320 KiB to a guest listener that does
#   not read and closes; 256 KiB fill the guest's buffer, the rest waits in
#   the host socket; the guest then reads every byte, then EOF.
# The readers are released by a second connection (hold/release groups).
# Sizes stay below what fits in the buffers (at least 384 KiB either way),
# or the writer would block for good.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk_lib.sh"
. "$(dirname "$0")/vsock_lib.sh"

vsock_host_bg "$T/hlisten.log" -t 100 listen port=6001,hold port=6002,release
vsock_vm_start "$T/vm.log" "vsock_tool -t 100 listen port=5001,hold port=5002,release & L=\$!; vsock_tool -t 30 connect port=6001,send=300K,seed=61,close && sleep 12 && vsock_tool -t 30 connect port=6002,seed=62 && wait \$L"
# Two tools print VSOCK-READY: the listener and the first connector.
vsock_wait_ready "$VMM_LOG" 2 60 || fail "the guest tools did not start"
vsock_host "$T/hconnect.log" -t 30 connect port=5001,send=320K,seed=51,close ||
	fail "the host client failed: $(tr -d '\r' <"$T/hconnect.log" | grep FAIL | head -n 3)"
sleep 2
vsock_host "$T/hrelease.log" -t 30 connect port=5002,seed=52 || fail "the releasing stream failed"
vmm_wait 60
[ "$VMM_RC" = 0 ] || fail "torpor-vmm exited with $VMM_RC"
vsock_wait_bg
[ "$VSOCK_BG_RC" = 0 ] || fail "the host listener failed: $(grep FAIL "$T/hlisten.log" | head -n 3)"

cat "$T/hconnect.log" "$T/hrelease.log" >"$T/hall.log"
vsock_pairs "$T/hall.log" "$VMM_LOG" 2
vsock_pairs "$VMM_LOG" "$T/hlisten.log" 2
vsock_done "$T/hlisten.log" 2
assert_line "$T/hlisten.log" '^VSOCK-STREAM accept port=6001 .* recv=307200 .* ok$' \
	"the host did not get the 300 KiB the guest sent before it closed"
assert_line "$VMM_LOG" '^VSOCK-STREAM accept port=5001 .* recv=327680 .* ok$' \
	"the guest did not get the 320 KiB the host sent before it closed"
echo "300 KiB guest -> host and 320 KiB host -> guest delivered after the writer closed"
