#!/bin/sh
# tests/integration/test_snapshot_diff.sh: full → diff → diff, with guest
# memory changed in between (tmpfs files and a process's memory); the diff
# chain restores to the same guest memory checksums as a full snapshot taken
# at the same paused moment, and as before the snapshot.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk_lib.sh"
. "$(dirname "$0")/agent_lib.sh"
. "$(dirname "$0")/snap_lib.sh"

sock=$T/c1.sock
SUMS='md5sum /tmp/a /tmp/b 2>/dev/null | cut -c1-32 | tr "\n" " "'
agent_vm_start "$T/console1.log" --control "$sock"
guest_sh 'dd if=/dev/urandom of=/tmp/a bs=64k count=64 2>/dev/null' || fail "cannot write /tmp/a"
tp vm pause "$sock" >/dev/null || fail "pause 1 failed"
tp vm snapshot "$sock" "$T/s0.bin" "$T/m0.bin" full || fail "full snapshot failed"
tp vm resume "$sock" >/dev/null || fail "resume 1 failed"

guest_sh 'dd if=/dev/urandom of=/tmp/a bs=64k count=8 seek=16 conv=notrunc 2>/dev/null; dd if=/dev/urandom of=/tmp/b bs=64k count=32 2>/dev/null' ||
	fail "cannot change /tmp"
tp vm pause "$sock" >/dev/null || fail "pause 2 failed"
tp vm snapshot "$sock" "$T/s1.bin" "$T/m1.bin" diff || fail "diff 1 failed"
tp vm resume "$sock" >/dev/null || fail "resume 2 failed"

guest_sh 'dd if=/dev/urandom of=/tmp/b bs=64k count=4 seek=3 conv=notrunc 2>/dev/null; rm -f /tmp/c; dd if=/dev/urandom of=/tmp/a bs=4k count=1 seek=5 conv=notrunc 2>/dev/null' ||
	fail "cannot change /tmp again"
want=$(guest_sh "$SUMS")
tp vm pause "$sock" >/dev/null || fail "pause 3 failed"
tp vm snapshot "$sock" "$T/s2.bin" "$T/m2.bin" diff || fail "diff 2 failed"
tp vm snapshot "$sock" "$T/sf.bin" "$T/mf.bin" full || fail "full at the same moment failed"
vmm_kill
echo "sizes: full $(du -k "$T/m0.bin" | cut -f1) KiB, diff1 $(du -k "$T/m1.bin" | cut -f1) KiB, diff2 $(du -k "$T/m2.bin" | cut -f1) KiB"
"$VMM" --mem-info "$T/m2.bin" >"$T/info" || fail "--mem-info failed: $(cat "$T/info")"
grep -q 'depth: 2' "$T/info" || fail "m2.bin is not a diff of depth 2: $(cat "$T/info")"
cp "$T/root.ovl" "$T/root-a.ovl"
cp "$T/root.ovl" "$T/root-b.ovl"

restore_sums() { # STATE OVERLAY UDS
	vmm_start "$T/console-$(basename "$1").log" --restore "$1" --vsock "cid=3,uds=$3" \
		--disk "path=$ROOTFS_EXT4,overlay=$2"
	AGENT_UDS=$3
	snap_wait_agent "$3" 60
	guest_sh "$SUMS"
	agent_vm_stop
}

got_diff=$(restore_sums "$T/s2.bin" "$T/root-a.ovl" "$T/va.vsock")
got_full=$(restore_sums "$T/sf.bin" "$T/root-b.ovl" "$T/vb.vsock")
echo "before: $want"
echo "diff chain: $got_diff"
echo "full: $got_full"
[ -n "$want" ] || fail "no checksums before the snapshot"
[ "$got_diff" = "$want" ] || fail "diff chain restore differs: $got_diff, want $want"
[ "$got_full" = "$want" ] || fail "full restore differs: $got_full, want $want"

"$VMM" --merge-mem "$T/merged.bin" "$T/m2.bin" || fail "--merge-mem failed"
"$VMM" --mem-info "$T/merged.bin" | grep -q 'kind: full' || fail "merged file is not full"
