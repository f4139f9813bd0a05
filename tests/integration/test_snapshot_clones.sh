#!/bin/sh
# tests/integration/test_snapshot_clones.sh: one full snapshot restored into 3
# VMs at once, each with its own vsock socket and CID (4, 5, 6; the snapshot
# had 3) and its own copy of the overlay
# over the shared base image. All run concurrently: the agent answers on each
# new socket; 32 bytes of /dev/urandom read right after the restore (once the
# VMM logged that it told the agent, which reseeds the guest's RNG) differ
# between the clones; each writes its own marker to tmpfs and to ext4 and
# then sees only its own (plus the state from before the snapshot); after
# they stop, the memory file, the state file, the base image and the saved
# overlay are byte-identical to before, and each overlay copy holds its own
# marker and no other clone's.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk_lib.sh"
. "$(dirname "$0")/agent_lib.sh"
. "$(dirname "$0")/snap_lib.sh"

N=3
t_start=$(ms_now)
# A token of this run, so that no marker can come from anywhere else.
tok=$(head -c 16 /dev/urandom | md5sum | cut -c1-12)
[ ${#tok} = 12 ] || fail "no random token: [$tok]"

# The base cannot change while the first VM runs (it is only read): checksum
# it meanwhile.
md5sum <"$ROOTFS_EXT4" | cut -c1-32 >"$T/sum.base.0" &
sum_pid=$!

sock=$T/c0.sock
agent_vm_start "$T/console0.log" --control "$sock"
guest_sh "echo pre-tmpfs-$tok >/tmp/pre.txt; echo pre-ext4-$tok >/root/pre.txt; sync" ||
	fail "cannot write the state before the snapshot"
tp vm pause "$sock" >/dev/null || fail "pause failed"
tp vm snapshot "$sock" "$T/state.bin" "$T/mem.bin" full || fail "snapshot failed"
[ -s "$T/state.bin" ] && [ -s "$T/mem.bin" ] || fail "snapshot files missing"
tp vm stop "$sock" >/dev/null || fail "vm stop of the paused VM failed"
vmm_wait 30
[ "$VMM_RC" = 0 ] || fail "the snapshotted VMM exited with $VMM_RC"
t_snap=$(ms_now)
echo "booted and snapshotted in $((t_snap - t_start)) ms"

# Checksums before any restore, and one overlay copy per clone.
bg=
for f in mem state; do
	md5sum <"$T/$f.bin" | cut -c1-32 >"$T/sum.$f.0" &
	bg="$bg $!"
done
md5sum <"$T/root.ovl" | cut -c1-32 >"$T/sum.ovl.0"
i=1
while [ "$i" -le "$N" ]; do
	cp "$T/root.ovl" "$T/clone$i.ovl" || fail "cannot copy the overlay"
	i=$((i + 1))
done
for p in $sum_pid $bg; do # not a bare wait: VMMs are background jobs too
	wait "$p"
done
for f in base mem state ovl; do
	[ "$(wc -c <"$T/sum.$f.0")" = 33 ] || fail "no checksum of $f before the restores"
done
t_sums=$(ms_now)
echo "checksums and overlay copies in $((t_sums - t_snap)) ms (overlay copy $(du -k "$T/clone1.ovl" | cut -f1) KiB)"

# All three at once.
i=1
while [ "$i" -le "$N" ]; do
	vmm_start "$T/clone$i.log" --restore "$T/state.bin" --control "$T/c$i.sock" \
		--vsock "cid=$((3 + i)),uds=$T/v$i.vsock" \
		--disk "path=$ROOTFS_EXT4,overlay=$T/clone$i.ovl"
	eval "pid_$i=\$VMM_PID"
	i=$((i + 1))
done

# Select clone I for the helpers (guest_sh, vmm_wait, wait_for_line, fail).
use() {
	eval "VMM_PID=\$pid_$1"
	VMM_LOG=$T/clone$1.log
	AGENT_UDS=$T/v$1.vsock
}

i=1
while [ "$i" -le "$N" ]; do
	use $i
	snap_wait_agent "$AGENT_UDS" 60
	wait_for_line "$VMM_LOG" 'restore: (guest agent told|the guest agent was not told)' 30
	assert_line "$VMM_LOG" 'restore: guest agent told' \
		"clone $i: the VMM did not tell the agent: $(grep restore: "$VMM_LOG" | tr '\n' ' ')"
	i=$((i + 1))
done
t_up=$(ms_now)
echo "3 clones answered $((t_up - t_sums)) ms after the restores started"

# RNG output right after the restore, then a ping on each new socket.
i=1
while [ "$i" -le "$N" ]; do
	use $i
	r=$(guest_sh 'head -c 32 /dev/urandom | md5sum | cut -c1-32') || fail "clone $i: cannot read /dev/urandom"
	[ ${#r} = 32 ] || fail "clone $i: bad urandom checksum [$r]"
	eval "rng_$i=\$r"
	p=$(tp ping "$AGENT_UDS") || fail "clone $i: ping on $AGENT_UDS failed: $p"
	case "$p" in
	uptime\ *\ s,\ guest-init\ *) ;;
	*) fail "clone $i: unexpected ping answer: $p" ;;
	esac
	echo "clone $i: urandom $r; ping: $p"
	i=$((i + 1))
done
[ "$rng_1" != "$rng_2" ] && [ "$rng_1" != "$rng_3" ] && [ "$rng_2" != "$rng_3" ] ||
	fail "clones share RNG output after restore: $rng_1 $rng_2 $rng_3"

# Each writes its own marker, tmpfs and ext4 (the latter synced and dropped
# from the page cache, so that reading it back goes to the disk) ...
i=1
while [ "$i" -le "$N" ]; do
	use $i
	guest_sh "echo clone$i-$tok >/tmp/clone.txt && echo clone$i-$tok >/root/clone.txt && sync" ||
		fail "clone $i: cannot write its marker"
	i=$((i + 1))
done
# ... and, once all have written, sees only its own and the saved state.
i=1
while [ "$i" -le "$N" ]; do
	use $i
	got=$(guest_sh 'sync; echo 3 >/proc/sys/vm/drop_caches; cat /tmp/pre.txt /root/pre.txt /tmp/clone.txt /root/clone.txt' | tr '\n' ' ') ||
		fail "clone $i: cannot read back"
	want="pre-tmpfs-$tok pre-ext4-$tok clone$i-$tok clone$i-$tok "
	[ "$got" = "$want" ] || fail "clone $i reads [$got], want [$want]"
	i=$((i + 1))
done
# All three were running all along.
i=1
while [ "$i" -le "$N" ]; do
	use $i
	_vmm_alive || fail "clone $i's VMM is gone before it was asked to stop"
	i=$((i + 1))
done
echo "each clone sees its own marker only, all three running"

i=1
while [ "$i" -le "$N" ]; do
	use $i
	guest_sh 'touch /tmp/agent-test-stop' || fail "clone $i: cannot ask the guest to stop"
	i=$((i + 1))
done
i=1
while [ "$i" -le "$N" ]; do
	use $i
	vmm_wait 60
	[ "$VMM_RC" = 0 ] || fail "clone $i: torpor-vmm exited with $VMM_RC"
	i=$((i + 1))
done
t_down=$(ms_now)
echo "clones ran and stopped in $((t_down - t_up)) ms"
VMM_LOG=

# The snapshot, the base and the saved overlay are unchanged ...
md5sum <"$ROOTFS_EXT4" | cut -c1-32 >"$T/sum.base.1" &
bg=$!
for f in mem state; do
	md5sum <"$T/$f.bin" | cut -c1-32 >"$T/sum.$f.1" &
	bg="$bg $!"
done
md5sum <"$T/root.ovl" | cut -c1-32 >"$T/sum.ovl.1" &
bg="$bg $!"
# ... and each overlay copy holds its own marker and no other clone's (the
# data blocks are raw at their disk offset; NULs dropped to keep lines short).
i=1
while [ "$i" -le "$N" ]; do
	tr -d '\000' <"$T/clone$i.ovl" | grep -o -E "(pre-ext4|clone[0-9])-$tok" | sort -u | tr '\n' ' ' >"$T/markers.$i" &
	bg="$bg $!"
	i=$((i + 1))
done
for p in $bg; do
	wait "$p"
done
for f in base mem state ovl; do
	a=$(cat "$T/sum.$f.0") b=$(cat "$T/sum.$f.1")
	echo "$f: $a → $b"
	[ ${#b} = 32 ] || fail "no checksum of $f after the clones"
	[ "$a" = "$b" ] || fail "the $f file changed: $a → $b"
done
i=1
while [ "$i" -le "$N" ]; do
	m=$(cat "$T/markers.$i")
	echo "clone$i.ovl holds: $m"
	[ "$m" = "clone$i-$tok pre-ext4-$tok " ] || fail "clone $i's overlay holds [$m], want its own marker and the saved state only"
	i=$((i + 1))
done
echo "3 clones of one snapshot: diverged apart, snapshot and base unchanged; total $(($(ms_now) - t_start)) ms"
