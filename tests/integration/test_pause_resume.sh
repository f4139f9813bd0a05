#!/bin/sh
# tests/integration/test_pause_resume.sh: PATCH /vm paused parks every vCPU
# (the guest makes no progress), running releases them (it goes on), and
# PUT /actions stop ends the VMM cleanly; driven with the torpor CLI.
. "$(dirname "$0")/lib.sh"
require_file "$CLI"

sock=$T/vm.sock
log=$T/console.log
vmm_start "$log" --kernel "$KERNEL" --initrd "$ROOTFS" --vcpus 2 --control "$sock" \
	--cmdline "$(guest_cmdline 'i=0; while true; do i=$((i+1)); echo tick-$i; sleep 0.1; done')"
wait_for_line "$log" '^tick-5$' 90 || fail "guest never started ticking"

ticks() { tr -d '\r' <"$log" | grep -c '^tick-'; }

"$CLI" vm status "$sock" >"$T/status1" || fail "vm status failed"
grep -q '"state": *"running"' "$T/status1" || fail "state is not running: $(cat "$T/status1")"

"$CLI" vm pause "$sock" || fail "vm pause failed"
"$CLI" vm status "$sock" >"$T/status2" || fail "vm status failed"
grep -q '"state": *"paused"' "$T/status2" || fail "state is not paused: $(cat "$T/status2")"
a=$(ticks)
sleep 2
b=$(ticks)
[ "$a" = "$b" ] || fail "guest kept running while paused ($a -> $b ticks)"
"$CLI" vm pause "$sock" || fail "pausing a paused VM should succeed"

"$CLI" vm resume "$sock" || fail "vm resume failed"
wait_for_line "$log" "^tick-$((b + 5))\$" 30 || fail "guest did not go on after resume (stuck at $b ticks)"
"$CLI" vm status "$sock" | grep -q '"state": *"running"' || fail "state is not running after resume"
echo "paused at $a ticks, still $b after 2 s, $(ticks) after resume"

"$CLI" vm stop "$sock" || fail "vm stop failed"
vmm_wait 30
[ "$VMM_RC" = 0 ] || fail "torpor-vmm exited with $VMM_RC after stop"
[ ! -e "$sock" ] || fail "control socket $sock left behind"
