#!/bin/sh
# tests/integration/test_blk_sigkill_loop.sh: the guest writes and flushes
# file after file while the VMM is killed with SIGKILL at an arbitrary moment
# (often in the middle of the next flush); every file whose flush had
# completed is intact on the next boot, three times over on one overlay.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk_lib.sh"

ovl=$T/vm.ovl
total=0
for round in 1 2 3; do
	cmd="i=0; while [ \$i -lt 200 ]; do head -c 131072 /dev/urandom >/root/r$round-\$i; sync; echo GEN $round-\$i \$(md5sum </root/r$round-\$i); i=\$((i+1)); done; sleep 600"
	vmm_start "$T/kill$round.log" --kernel "$KERNEL" --memory 256M \
		--disk "path=$ROOTFS_EXT4,overlay=$ovl" --cmdline "$(blk_cmdline "$cmd")"
	wait_for_line "$T/kill$round.log" "^GEN $round-$((round * 3)) " 90 || fail "round $round: the guest never got going"
	# An arbitrary moment: 0 to 900 ms later.
	sleep "0.$(awk -v s="$$$round" 'BEGIN { srand(s); printf "%03d", int(rand() * 900) }')"
	vmm_kill
	# Whole lines only: the kill may cut the last one short on the console.
	tr -d '\r' <"$T/kill$round.log" | grep -E "^GEN $round-[0-9]+ [0-9a-f]{32} +-\$" >"$T/gens$round"
	total=$((total + $(wc -l <"$T/gens$round")))
done

# Every flushed file of every round, read back by a fresh VM.
check="for f in /root/r*; do echo HAVE \${f#/root/r} \$(md5sum <\$f); done"
blk_vm "$T/check.log" 90 "$check" --disk "path=$ROOTFS_EXT4,overlay=$ovl"
cat "$T"/gens? | while read -r _ name sum _; do
	got=$(tr -d '\r' <"$T/check.log" | sed -n "s/^HAVE $name \([0-9a-f]*\).*/\1/p")
	[ "$got" = "$sum" ] || { echo "$name: flushed $sum, found '${got:-nothing}'"; exit 1; }
done || fail "a flushed file was lost or changed after SIGKILL"
if tr -d '\r' <"$T/check.log" | grep -qiE 'EXT4-fs error|corrupt'; then
	fail "the file system has errors"
fi
echo "3 SIGKILLs at arbitrary moments: all $total flushed files intact"
