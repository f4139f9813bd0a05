#!/bin/sh
# tests/integration/test_snapshot_bad.sh: --restore refuses every damaged or
# mismatched snapshot with one clear error line and exit status 1, before it
# creates a VM: wrong magic, truncated, bad checksum, wrong arch, memory file
# of the wrong size, memory file of another snapshot, missing diff parent,
# changed parent, and an override that does not fit the snapshot.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk_lib.sh"
. "$(dirname "$0")/agent_lib.sh"

sock=$T/c1.sock
agent_vm_start "$T/console1.log" --control "$sock"
tp vm pause "$sock" >/dev/null || fail "pause failed"
tp vm snapshot "$sock" "$T/state.bin" "$T/mem.bin" full || fail "full snapshot failed"
tp vm snapshot "$sock" "$T/state2.bin" "$T/mem2.bin" full || fail "second full snapshot failed"
tp vm snapshot "$sock" "$T/state3.bin" "$T/mem3.bin" diff || fail "diff snapshot failed"
vmm_kill

n=0
# expect NAME STATE PATTERN [EXTRA-ARGS]: status 1, one error line matching PATTERN, no VM.
expect() {
	_name=$1 _state=$2 _pat=$3
	shift 3
	n=$((n + 1))
	_out=$T/bad-$n.out
	timeout 30 "$VMM" --restore "$_state" --vsock "cid=3,uds=$T/r.vsock" "$@" >"$_out" 2>&1 </dev/null
	_rc=$?
	[ "$_rc" = 1 ] || fail "$_name: exit status $_rc, expected 1: $(tr '\n' ' ' <"$_out")"
	[ "$(grep -c . "$_out")" = 1 ] || fail "$_name: expected one line, got: $(cat "$_out")"
	grep -qE -- "$_pat" "$_out" || fail "$_name: no /$_pat/ in: $(cat "$_out")"
	echo "$_name: $(cat "$_out")"
}

cp "$T/state.bin" "$T/s.magic"
printf 'XORPSNAP' | dd of="$T/s.magic" bs=1 seek=0 conv=notrunc 2>/dev/null
expect "wrong magic" "$T/s.magic" 'magic'

size=$(wc -c <"$T/state.bin")
head -c $((size / 2)) "$T/state.bin" >"$T/s.trunc"
expect "truncated state" "$T/s.trunc" 'truncated|short|size|end'

cp "$T/state.bin" "$T/s.crc"
off=$((size - 3))
b=$(od -An -tu1 -j "$off" -N1 "$T/s.crc" | tr -d ' ')
printf "$(printf '\\%03o' $(((b + 1) % 256)))" | dd of="$T/s.crc" bs=1 seek="$off" conv=notrunc 2>/dev/null
expect "bad checksum" "$T/s.crc" 'checksum'

cp "$T/state.bin" "$T/s.arch"
printf 'x86_64\0\0' | dd of="$T/s.arch" bs=1 seek=8 conv=notrunc 2>/dev/null
expect "wrong arch or header" "$T/s.arch" 'arch|checksum'

# Memory file of the wrong size: the state names mem.bin.
cp "$T/mem.bin" "$T/mem.keep"
truncate -s $(($(wc -c <"$T/mem.bin") - 4096)) "$T/mem.bin"
expect "memory file of the wrong size" "$T/state.bin" 'mem.bin.*(size|bytes|truncated)'
cp "$T/mem.keep" "$T/mem.bin"

# Another snapshot's memory file under the right name.
cp "$T/mem2.bin" "$T/mem.bin"
expect "memory file of another snapshot" "$T/state.bin" 'not the memory file|id'
cp "$T/mem.keep" "$T/mem.bin"

# The diff's parent missing, then replaced by another file.
mv "$T/mem2.bin" "$T/mem2.keep"
expect "missing parent" "$T/state3.bin" 'mem2.bin'
cp "$T/mem.keep" "$T/mem2.bin"
expect "changed parent" "$T/state3.bin" 'mem2.bin.*(id|parent|size)|parent'
mv "$T/mem2.keep" "$T/mem2.bin"

expect "missing state file" "$T/nope.bin" 'nope.bin'
expect "disk count override" "$T/state.bin" '--disk' --disk "path=$ROOTFS_EXT4" --disk "path=$ROOTFS_EXT4"

# And the good one still restores.
vmm_start "$T/console2.log" --restore "$T/state3.bin" --vsock "cid=3,uds=$T/r.vsock"
AGENT_UDS=$T/r.vsock
until "$CLI" ping "$AGENT_UDS" --timeout 5 >/dev/null 2>&1; do
	_vmm_alive || fail "the restore of the intact diff snapshot failed: $(tail -n 3 "$T/console2.log")"
	sleep 0.5
done
echo "intact diff snapshot restored; $n bad ones refused"
agent_vm_stop
