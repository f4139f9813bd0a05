#!/bin/sh
# tests/integration/test_snapshot_clock.sh: the arch half of a restore on
# real KVM. A 2-vCPU guest snapshotted while busy goes on in a new VMM where
# it stopped: the same tick sequence (no reboot), a monotonic clock that
# neither goes backwards nor jumps by the time the snapshot sat on disk
# (docs/snapshot-arch-aarch64.md), timers that fire (sleep), timer
# interrupts on both vCPUs, and pause/resume.
#
# Console only: no disk, no vsock, so the guest's own clock is what is
# checked (test_snapshot.sh covers devices, the agent and wall-clock time).
. "$(dirname "$0")/lib.sh"
require_file "$CLI"
"$VMM" --help 2>&1 | grep -q -e '--restore' ||
	skip "torpor-vmm has no --restore (no snapshot support in this build)"

cmd='(while true; do :; done) & i=0; while true; do i=$((i+1)); read up idle </proc/uptime; echo tick-$i $up; [ $((i%10)) = 0 ] && grep arch_timer /proc/interrupts; sleep 0.2; done'

vmm_start "$T/a.log" --kernel "$KERNEL" --initrd "$ROOTFS" --vcpus 2 --memory 256M \
	--control "$T/a.sock" --cmdline "$(guest_cmdline "$cmd")"
wait_for_line "$T/a.log" '^tick-20 ' 90 || fail "guest never ticked"
p0=$(ms_now)
"$CLI" vm pause "$T/a.sock" || fail "vm pause failed"
"$CLI" vm snapshot "$T/a.sock" "$T/state.bin" "$T/mem.bin" full || fail "vm snapshot failed"
# The guest's counter runs while the VM is paused, up to the save, and again
# from the restore until the vCPUs run: that much (plus ticks) it may jump. The
# time the snapshot then sits unused it must not see.
slack=$((($(ms_now) - p0) / 1000 + 5))
GAP=$((10 + 2 * slack))
"$CLI" vm stop "$T/a.sock" || fail "vm stop failed"
vmm_wait 60

ticks() { tr -d '\r' <"$1" | grep -E '^tick-[0-9]+ [0-9.]+$'; }
last=$(ticks "$T/a.log" | tail -1)
n1=$(echo "$last" | sed 's/^tick-\([0-9]*\) .*/\1/')
u1=$(echo "$last" | cut -d' ' -f2)
sleep "$GAP"

vmm_start "$T/b.log" --restore "$T/state.bin" --control "$T/b.sock"
wait_for_line "$T/b.log" "^tick-$((n1 + 30)) " 90 || fail "restored guest did not go on from tick-$n1"
first=$(ticks "$T/b.log" | head -1)
f=$(echo "$first" | sed 's/^tick-\([0-9]*\) .*/\1/')
# tick-n1+1 may have been half written when the snapshot was taken.
[ "$f" -gt "$n1" ] && [ "$f" -le $((n1 + 2)) ] ||
	fail "restored guest's first tick is '$first', not tick-$((n1 + 1)) (rebooted?)"
# Uptime never goes backwards and does not jump by the gap.
ticks "$T/b.log" | awk -v u1="$u1" -v slack="$slack" '
	{ u = $2 + 0 }
	NR == 1 && u < u1 { print "uptime went back: " u1 " before the snapshot, " u " after"; bad = 1 }
	NR == 1 && u - u1 > slack { print "uptime jumped by " u - u1 " s across the snapshot"; bad = 1 }
	NR > 1 && u < prev { print "uptime went back: " prev " then " u; bad = 1 }
	{ prev = u }
	END { exit bad }' >"$T/clock" || fail "$(head -1 "$T/clock")"
# Both vCPUs take timer interrupts after the restore (whole lines only: the
# snapshot may have caught one half printed).
tr -d '\r' <"$T/b.log" | grep -E '^ *[0-9]+: +[0-9]+ +[0-9]+ .*arch_timer$' | awk '
	NR == 1 { a = $2; b = $3 }
	END { if (!(NR >= 2 && $2 > a && $3 > b)) { print "arch_timer counts stuck: " a " " b " -> " $2 " " $3; exit 1 } }' \
	>"$T/irqs" || fail "$(cat "$T/irqs")"

"$CLI" vm pause "$T/b.sock" || fail "vm pause of the restored VM failed"
"$CLI" vm resume "$T/b.sock" || fail "vm resume of the restored VM failed"
n2=$(ticks "$T/b.log" | tail -1 | sed 's/^tick-\([0-9]*\) .*/\1/')
wait_for_line "$T/b.log" "^tick-$((n2 + 5)) " 30 || fail "restored guest stuck after pause/resume"
echo "tick-$n1 at uptime $u1 s before the snapshot, $first after a ${GAP} s gap (allowed jump ${slack} s)"
"$CLI" vm stop "$T/b.sock" || fail "vm stop failed"
vmm_wait 30
