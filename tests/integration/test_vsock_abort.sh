#!/bin/sh
# tests/integration/test_vsock_abort.sh: a side that dies in the middle of
# 16 busy streams (8 MiB each way each) ends them on the other side, and the
# device goes on working:
# - the host client is killed (SIGKILL) mid-transfer: every one of the
#   guest's 16 streams ends (an error or a short read, reported as FAIL by
#   the guest's listener, which must still finish);
# - the guest's client is killed mid-transfer: every one of the host
#   listener's 16 streams ends the same way;
# then a new stream each way on the same VM carries 1 MiB each way intact,
# and the VMM exits cleanly with no vsock errors in its log.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk_lib.sh"
. "$(dirname "$0")/vsock_lib.sh"

vsock_host_bg "$T/hlisten.log" -t 100 listen port=6000,n=16 port=6001
vsock_vm_start "$T/vm.log" "vsock_tool -t 60 listen port=5000,n=16; timeout -s KILL 4 vsock_tool -t 60 connect port=6000,n=16,send=8M,reply=8M,seed=600; vsock_tool -t 60 listen port=5001 connect port=6001,send=1M,reply=1M,seed=61"
vsock_wait_ready "$VMM_LOG" 1 60 || fail "the guest listener did not come up"

# 1. The host client dies.
"$VSOCK_HOST" "vsock:$VSOCK_UDS" -t 60 connect port=5000,n=16,send=8M,reply=8M,seed=500 \
	>"$T/hkilled.log" 2>&1 &
killed=$!
sleep 3
kill -9 "$killed"
wait "$killed" 2>/dev/null
grep -q '^VSOCK-DONE' "$T/hkilled.log" && fail "the host client finished before it was killed (too fast to test)"
wait_for_line "$VMM_LOG" '^VSOCK-DONE streams=16 ' 30 ||
	fail "the guest's streams did not all end after the host client died"
assert_line "$VMM_LOG" '^VSOCK-DONE streams=16 ok=[0-9]+ fail=([1-9]|1[0-6]) ' \
	"the guest did not notice that the host client died"

# 2. The guest client dies (after 4 s); the host listener's streams end.
wait_for_line "$T/hlisten.log" '^VSOCK-STREAM accept port=6000 ' 60 ||
	fail "the guest's client did not reach the host"
vsock_wait_ready "$VMM_LOG" 3 60 || fail "the guest did not get to its last listener"
n6000=$(grep -c '^VSOCK-STREAM accept port=6000 ' "$T/hlisten.log")
[ "$n6000" = 16 ] || fail "only $n6000 of the host's 16 streams ended after the guest client died"
grep '^VSOCK-STREAM accept port=6000 ' "$T/hlisten.log" | grep -q FAIL ||
	fail "the host did not notice that the guest client died"

# 3. The device still works both ways.
vsock_host "$T/hconnect.log" -t 60 connect port=5001,send=1M,reply=1M,seed=51 ||
	fail "the host client failed after the aborts: $(grep FAIL "$T/hconnect.log" | head -n 3)"
vmm_wait 60
[ "$VMM_RC" = 0 ] || fail "torpor-vmm exited with $VMM_RC"
vsock_wait_bg
vsock_pairs "$T/hconnect.log" "$VMM_LOG" 1
tr -d '\r' <"$VMM_LOG" | grep '^VSOCK-STREAM connect port=6001 ' >"$T/g6001.log"
vsock_pairs "$T/g6001.log" "$T/hlisten.log" 1
[ ! -e "$VSOCK_UDS" ] || fail "$VSOCK_UDS is still there after the VMM exited"
if tr -d '\r' <"$VMM_LOG" | grep -E '(warn|error).*vsock|vsock.*(warn|error)' | head -n 3 | grep .; then
	fail "the VMM logged vsock warnings or errors"
fi
# What each side saw, for the log.
why() { tr -d '\r' <"$1" | grep "^VSOCK-STREAM accept port=$2 .* FAIL" | sed 's/.* FAIL //; s/[0-9][0-9]*/N/g' | sort | uniq -c; }
echo "the guest's streams from the killed host client:"
why "$VMM_LOG" 5000
echo "the host's streams from the killed guest client:"
why "$T/hlisten.log" 6000
echo "host client killed: guest $(tr -d '\r' <"$VMM_LOG" | grep '^VSOCK-DONE streams=16' | head -n 1 | cut -d' ' -f2-4);" \
	"guest client killed: host saw $(grep '^VSOCK-STREAM accept port=6000 ' "$T/hlisten.log" | grep -c FAIL) of 16 fail; then 1 MiB each way ok"
