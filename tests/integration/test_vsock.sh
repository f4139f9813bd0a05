#!/bin/sh
# tests/integration/test_vsock.sh: vsock streams both ways at once on one VM:
# host → guest (the host client writes CONNECT <port> to the VMM's socket)
# and guest → host (the guest connects to CID 2, the VMM connects to
# <uds>_<port>), each one 1 MiB stream and 64 concurrent 256 KiB streams, with
# data both ways in every stream. Every byte is checked on arrival, and the
# byte counts and FNV-1a checksums of both ends must agree for every stream.
# When the guest powers off, the VMM removes its socket file.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk_lib.sh"
. "$(dirname "$0")/vsock_lib.sh"

# Guest → host: the host listens on <uds>_6000 and <uds>_6001 first.
vsock_host_bg "$T/hlisten.log" -t 100 listen port=6000 port=6001,n=64
vsock_vm_start "$T/vm.log" "vsock_tool -t 100 listen port=5000 port=5001,n=64 connect port=6000,send=1M,reply=1M,seed=100 port=6001,n=64,send=256K,reply=256K,seed=1000"
vsock_wait_ready "$VMM_LOG" 1 60 || fail "the guest listener did not come up"
[ -S "$VSOCK_UDS" ] || fail "$VSOCK_UDS is not a socket while the VM runs"
perm=$(stat -c %a "$VSOCK_UDS")
[ "$perm" = 600 ] || fail "$VSOCK_UDS has mode $perm, not 600"

# Host → guest, while the guest's own streams run.
vsock_host "$T/hconnect.log" -t 100 connect port=5000,send=1M,reply=1M,seed=200 \
	port=5001,n=64,send=256K,reply=256K,seed=2000 ||
	fail "the host client failed: $(tr -d '\r' <"$T/hconnect.log" | grep FAIL | head -n 3)"
vmm_wait 60
[ "$VMM_RC" = 0 ] || fail "torpor-vmm exited with $VMM_RC"
vsock_wait_bg
[ "$VSOCK_BG_RC" = 0 ] || fail "the host listener failed: $(grep FAIL "$T/hlisten.log" | head -n 3)"

vsock_done "$T/hconnect.log" 65
vsock_done "$T/hlisten.log" 65
vsock_done "$VMM_LOG" 130
vsock_pairs "$T/hconnect.log" "$VMM_LOG" 65
vsock_pairs "$VMM_LOG" "$T/hlisten.log" 65
# 64 at once: the guest held that many host-initiated streams open together, and the host guest-initiated ones.
gpeak=$(vsock_field "$VMM_LOG" '^VSOCK-DONE' peak_accept)
hpeak=$(vsock_field "$T/hlisten.log" '^VSOCK-DONE' peak_accept)
[ "${gpeak:-0}" -ge 64 ] || fail "the guest had at most ${gpeak:-0} host-initiated streams open at once, not 64"
[ "${hpeak:-0}" -ge 64 ] || fail "the host had at most ${hpeak:-0} guest-initiated streams open at once, not 64"
# The ports of the OK lines: one per stream, from 1073741824 up (and the
# ones the guest sees: vsock_pairs compared them).
tr -d '\r' <"$T/hconnect.log" | sed -n 's/^VSOCK-STREAM connect .* local=\([0-9]*\) .*/\1/p' |
	sort -n | uniq >"$T/local-ports"
[ "$(($(wc -l <"$T/local-ports")))" = 65 ] || fail "not 65 different ports in the OK lines"
[ "$(head -n 1 "$T/local-ports")" -ge 1073741824 ] || fail "an OK line has a port below 1073741824"
[ ! -e "$VSOCK_UDS" ] || fail "$VSOCK_UDS is still there after the VMM exited"
if tr -d '\r' <"$VMM_LOG" | grep -E '(warn|error).*vsock|vsock.*(warn|error)' | head -n 3 | grep .; then
	fail "the VMM logged vsock warnings or errors"
fi
echo "65 + 65 streams ok, checksums agree; open at once: guest $gpeak, host $hpeak; socket file removed"
