#!/bin/sh
# tests/integration/test_snapshot.sh: a guest process that counts in memory and
# appends to a file on ext4 keeps counting with nothing lost after pause →
# full snapshot → kill -9 → restore (new vsock socket, a copy of the overlay);
# the agent answers and vsock clients reconnect; the guest's clock is the
# host's within 1 s; CLOCK_MONOTONIC did not go backwards.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk_lib.sh"
. "$(dirname "$0")/agent_lib.sh"
. "$(dirname "$0")/snap_lib.sh"

sock=$T/c1.sock
agent_vm_start "$T/console1.log" --control "$sock"
snap_counter_start
sleep 2
before=$(snap_count) || fail "no count before the snapshot"
mono1=$(guest_sh 'cut -d" " -f1 /proc/uptime')

tp vm pause "$sock" >/dev/null || fail "pause failed"
tp vm snapshot "$sock" "$T/state.bin" "$T/mem.bin" full || fail "snapshot failed"
[ -s "$T/state.bin" ] && [ -s "$T/mem.bin" ] || fail "snapshot files missing"
ls "$T" | grep -q partial && fail "temporary files left: $(ls "$T")"
vmm_kill
cp "$T/root.ovl" "$T/root2.ovl"

# Let host time run on: the guest must take the host's clock on restore.
sleep 3
uds2=$T/vm2.vsock
t0=$(ms_now)
vmm_start "$T/console2.log" --restore "$T/state.bin" --control "$T/c2.sock" \
	--vsock "cid=3,uds=$uds2" --disk "path=$ROOTFS_EXT4,overlay=$T/root2.ovl"
AGENT_UDS=$uds2
snap_wait_agent "$uds2" 60
echo "agent answered $(($(ms_now) - t0)) ms after the restore started"
wait_for_line "$T/console2.log" 'restore: guest agent told' 30 ||
	fail "the VMM did not tell the agent: $(grep restore "$T/console2.log" | tr '\n' ' ')"

after1=$(snap_count) || fail "no count after restore"
sleep 1
after2=$(snap_count)
[ "$after1" -ge "$before" ] || fail "count went back: $before before, $after1 after"
[ "$after2" -gt "$after1" ] || fail "the counter stopped after restore ($after1 → $after2)"
snap_check_count
mono2=$(guest_sh 'cut -d" " -f1 /proc/uptime')
awk -v a="$mono1" -v b="$mono2" 'BEGIN { exit !(b >= a) }' ||
	fail "guest uptime went backwards: $mono1 → $mono2"

host=$(realtime_ms)
guest=$(guest_sh "$REALTIME_MS")
host2=$(realtime_ms)
skew=$(awk -v g="$guest" -v a="$host" -v b="$host2" 'BEGIN { printf "%.0f\n", g - (a + b) / 2 }')
echo "realtime: host $host .. $host2, guest $guest"
[ "${skew#-}" -le 1000 ] || fail "guest realtime clock is $skew ms off the host's"
echo "counted $before before, $after1 → $after2 after restore; clock skew $skew ms; uptime $mono1 → $mono2"

# A second, fresh connection through the restored vsock works too.
tp exec -n "$uds2" -- true || fail "a new agent connection failed after restore"
agent_vm_stop
