#!/bin/sh
# tests/integration/test_snapshot_enospc.sh: a snapshot that runs out of space
# (a small tmpfs) fails with a clear error; the VM stays paused and resumes;
# the older snapshot at the same paths is intact and no temporary file is left.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk_lib.sh"
. "$(dirname "$0")/agent_lib.sh"
. "$(dirname "$0")/snap_lib.sh"

small=$T/small
mkdir -p "$small"
mount -t tmpfs -o size=64m tmpfs "$small" 2>/dev/null || skip "cannot mount a tmpfs (not root?)"
_enospc_cleanup() { umount "$small" 2>/dev/null; }
trap '_enospc_cleanup; _lib_cleanup' EXIT

sock=$T/c1.sock
agent_vm_start "$T/console1.log" --control "$sock"
snap_counter_start
tp vm pause "$sock" >/dev/null || fail "pause failed"
tp vm snapshot "$sock" "$small/state.bin" "$small/mem.bin" full || fail "first snapshot failed"
old=$(cat "$small/state.bin" "$small/mem.bin" | md5sum)
tp vm resume "$sock" >/dev/null || fail "resume failed"
sleep 1

# Leave less room than another memory file needs.
used=$(du -k "$small/mem.bin" | cut -f1)
free=$(df -k "$small" | awk 'NR == 2 { print $4 }')
fill=$((free - used / 2))
[ "$fill" -gt 0 ] && dd if=/dev/zero of="$small/fill" bs=1k count="$fill" 2>/dev/null
tp vm pause "$sock" >/dev/null || fail "pause 2 failed"
tp_rc vm snapshot "$sock" "$small/state.bin" "$small/mem.bin" full 2>"$T/err"
[ "$TP_RC" = 1 ] || fail "snapshot on a full disk: exit status $TP_RC, expected 1"
grep -q 'No space left' "$T/err" || fail "no ENOSPC message: $(cat "$T/err")"
echo "refused: $(cat "$T/err")"
[ "$(cat "$small/state.bin" "$small/mem.bin" | md5sum)" = "$old" ] || fail "the older snapshot changed"
ls "$small" | grep -qE 'partial|tmp-' && fail "temporary files left: $(ls "$small")"
"$CLI" vm status "$sock" | grep -q '"state": *"paused"' || fail "the VM is not paused after the failure"


tp vm resume "$sock" >/dev/null || fail "resume after the failure failed"
a=$(snap_count)
sleep 1
b=$(snap_count)
[ "$b" -gt "$a" ] || fail "the guest does not run after the failed snapshot ($a → $b)"
snap_check_count
rm -f "$small/fill"
tp vm pause "$sock" >/dev/null || fail "pause 3 failed"
tp vm snapshot "$sock" "$small/state.bin" "$small/mem.bin" full || fail "snapshot after the failure failed"
tp vm resume "$sock" >/dev/null
agent_vm_stop
