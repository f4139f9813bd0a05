#!/bin/sh
# tests/integration/test_bad_inputs.sh: each bad input gives exactly one
# clear error line on stderr and exit status 1, promptly; never a crash or
# a hang.
. "$(dirname "$0")/lib.sh"

head -c 32 "$KERNEL" >"$T/truncated"
printf '{"kernel": "%s", "memory": ' "$KERNEL" >"$T/malformed.json"
printf '{"kernel": "%s", "colour": "blue"}' "$KERNEL" >"$T/unknown.json"
# A valid header claiming a 1 GiB image: does not fit a 256 MiB guest.
{ head -c 16 "$KERNEL"; printf '\000\000\000\100\000\000\000\000'; tail -c +25 "$KERNEL"; } >"$T/huge"

K="--kernel $KERNEL --initrd $ROOTFS"
n=0
# expect PATTERN ARGS...: run the VMM, check status 1 and one error line.
expect() {
	pat=$1
	shift
	n=$((n + 1))
	timeout 30 "$VMM" "$@" </dev/null >"$T/out.$n" 2>"$T/err.$n"
	rc=$?
	err=$(cat "$T/err.$n")
	[ "$rc" = 1 ] || fail "'$*': exit status $rc, expected 1 (stderr: $err)"
	[ "$(wc -l <"$T/err.$n")" = 1 ] || fail "'$*': expected one error line, got: $err"
	echo "$err" | grep -qE "^torpor-vmm: error: .*$pat" || fail "'$*': error line '$err' does not match /$pat/"
	echo "ok: $err"
}

expect 'no kernel'                   --initrd "$ROOTFS"
expect 'No such file'                --kernel "$T/does-not-exist"
expect 'truncated'                   --kernel "$T/truncated"
expect 'not an arm64 Image'          --kernel "$VMM"
expect 'guest RAM'                   --kernel "$T/huge" --memory 256M
expect 'No such file'                --kernel "$KERNEL" --initrd "$T/does-not-exist"
expect 'memory'                      $K --memory 0
expect 'more than this host has'     $K --memory 512G
expect 'memory'                      $K --memory lots
expect 'vcpus'                       $K --vcpus 0
expect 'vcpus .* out of range'       $K --vcpus 100000
expect 'malformed.json'              --config "$T/malformed.json"
expect 'colour'                      --config "$T/unknown.json"
expect 'No such file|cannot'         --config "$T/none.json"
expect 'bogus'                       $K --bogus-flag
expect 'on-reboot'                   $K --on-reboot sometimes
