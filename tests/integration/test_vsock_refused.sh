#!/bin/sh
# tests/integration/test_vsock_refused.sh: connections nobody takes fail
# cleanly on both sides, and the device goes on working:
# - the guest connects to host ports with no listener at <uds>_<port> (no
#   file; a stale socket file) and to another CID: connect() fails with
#   ECONNRESET (how Linux reports a refused vsock connection);
# - the host client asks for a guest port nobody listens on: one line
#   "ERR connection refused", then EOF;
# then streams both ways work on the same VM. Also: a second VMM on the same
# socket path is refused while the first runs; SIGTERM removes the socket
# file; a stale socket file left by a killed VMM is replaced by the next one.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk_lib.sh"
. "$(dirname "$0")/vsock_lib.sh"

"$VSOCK_HOST" stale "${VSOCK_UDS}_6998" || fail "cannot make a stale socket file"
vsock_host_bg "$T/hlisten.log" -t 100 listen port=6000
vsock_vm_start "$T/vm.log" "vsock_tool -t 60 connect port=6999,refused port=6998,refused port=6000,cid=5,refused && vsock_tool -t 60 listen port=5000 connect port=6000,send=64K,reply=64K,seed=60 && sleep 600"
vsock_wait_ready "$VMM_LOG" 2 60 || fail "the guest did not get to its listener"

for p in 6999 6998; do
	assert_line "$VMM_LOG" "^VSOCK-STREAM connect port=$p .* refused=ECONNRESET ok$" \
		"the guest's connect to host port $p (no listener) did not fail with ECONNRESET"
done
assert_line "$VMM_LOG" "^VSOCK-STREAM connect port=6000 seed=6000000 .* refused=ECONNRESET ok$" \
	"the guest's connect to CID 5 did not fail with ECONNRESET"

# The host: a port nobody listens on, then (after it) a real stream.
vsock_host "$T/hconnect.log" -t 60 connect port=5999,refused port=5000,send=64K,reply=64K,seed=50,after ||
	fail "the host client failed: $(tr -d '\r' <"$T/hconnect.log" | grep FAIL | head -n 3)"
assert_line "$T/hconnect.log" '^VSOCK-STREAM connect port=5999 .* refused="ERR connection refused" ok$' \
	"the host did not get \"ERR connection refused\" and EOF for port 5999"
vsock_done "$T/hconnect.log" 2
# The guest prints its side of a stream after the host has its own: wait for it.
wait_for_line "$VMM_LOG" '^VSOCK-DONE streams=2 ' 30 || fail "the guest's second round did not end"
vsock_done "$VMM_LOG" 2
vsock_pairs "$T/hconnect.log" "$VMM_LOG" 1
vsock_wait_bg
[ "$VSOCK_BG_RC" = 0 ] || fail "the host listener failed"
vsock_pairs "$VMM_LOG" "$T/hlisten.log" 1

# A second VMM on the same socket path is refused while the first runs.
first=$VMM_PID first_log=$VMM_LOG
timeout -s KILL 20 "$VMM" --kernel "$KERNEL" --memory 64M --vsock "cid=4,uds=$VSOCK_UDS" \
	--no-console-input </dev/null >"$T/second.log" 2>&1 && fail "a second VMM started on $VSOCK_UDS"
grep -q "in use by a running process" "$T/second.log" ||
	fail "the second VMM did not say the socket is in use: $(tail -n 3 "$T/second.log")"
[ -S "$VSOCK_UDS" ] || fail "the refused second VMM removed the first one's socket"

# SIGTERM: the VMM stops and removes its socket.
kill -TERM "$first"
vmm_wait 30
[ ! -e "$VSOCK_UDS" ] || fail "$VSOCK_UDS is still there after SIGTERM (exit status $VMM_RC)"
# One warning is expected: the guest's REQUEST to CID 5.
assert_line "$first_log" 'warn: vsock: guest packet REQUEST [0-9]+->6000 refused: dst_cid is not the host' \
	"the VMM did not log the guest's packet to CID 5"
if tr -d '\r' <"$first_log" | grep -E '(warn|error).*vsock|vsock.*(warn|error)' |
	grep -v 'dst_cid is not the host' | head -n 3 | grep .; then
	fail "the VMM logged other vsock warnings or errors"
fi

# A stale socket file (a VMM killed with SIGKILL leaves one) is replaced.
"$VSOCK_HOST" stale "$VSOCK_UDS" || fail "cannot make a stale socket file"
vsock_vm_start "$T/vm2.log" "vsock_tool -t 60 listen port=5000"
vsock_wait_ready "$VMM_LOG" 1 60 || fail "the VMM did not start over a stale socket file"
vsock_host "$T/hconnect2.log" -t 60 connect port=5000,send=64K,reply=64K,seed=70 ||
	fail "no stream through the VMM that replaced a stale socket"
vmm_wait 30
[ "$VMM_RC" = 0 ] || fail "torpor-vmm exited with $VMM_RC"
vsock_pairs "$T/hconnect2.log" "$VMM_LOG" 1
[ ! -e "$VSOCK_UDS" ] || fail "$VSOCK_UDS is still there after the VMM exited"
echo "refusals: guest ECONNRESET x3, host ERR + EOF; streams afterwards ok; in-use path refused; socket removed on SIGTERM and exit; stale socket replaced"
