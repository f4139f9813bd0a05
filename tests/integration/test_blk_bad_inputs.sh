#!/bin/sh
# tests/integration/test_blk_bad_inputs.sh: each bad disk setting or file
# gives exactly one clear error line and exit status 1, promptly: missing or
# unusable images, a damaged or foreign overlay, and images or overlays
# another VM holds.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/blk_lib.sh"

head -c 1048576 /dev/urandom >"$T/a.img"
head -c 1048576 /dev/urandom >"$T/b.img"
: >"$T/empty.img"
head -c 8192 /dev/urandom >"$T/junk.ovl"
mkdir "$T/dir"

K="--kernel $KERNEL"
n=0
expect() { # PATTERN ARGS...: status 1 and one matching error line on stderr
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

# An overlay made over a.img (--dump-dtb builds the VM, disks included, then exits).
"$VMM" $K --disk "path=$T/a.img,overlay=$T/a.ovl" --dump-dtb "$T/dtb" </dev/null >"$T/mk.log" 2>&1 ||
	fail "creating an overlay with --dump-dtb failed: $(cat "$T/mk.log")"
[ -s "$T/a.ovl" ] || fail "no overlay was created"

expect 'no path=IMG'                 $K --disk "overlay=$T/x.ovl"
expect 'unknown option "rw"'         $K --disk "path=$T/a.img,rw"
expect 'serial .* at most 20'        $K --disk "path=$T/a.img,serial=123456789012345678901"
expect 'at most 16'                  $K $(for i in $(seq 17); do printf -- '--disk path=%s ' "$T/a.img"; done)
expect 'none.img: No such file'      $K --disk "path=$T/none.img"
expect 'smaller than one 512-byte'   $K --disk "path=$T/empty.img"
expect 'dir: Is a directory'         $K --disk "path=$T/dir"
expect 'not a regular file or a block' $K --disk "path=/dev/null,ro"
expect 'not a torpor overlay'        $K --disk "path=$T/a.img,overlay=$T/junk.ovl"
expect 'different base image'        $K --disk "path=$T/b.img,overlay=$T/a.ovl"
expect 'cannot open .*none.ovl'      $K --disk "path=$T/a.img,overlay=$T/none.ovl,ro"
[ ! -e "$T/none.ovl" ] || fail "a read-only disk created its overlay"

# Held by a running VM: its overlay, and its writable image.
vmm_start "$T/holder.log" --kernel "$KERNEL" --memory 256M \
	--disk "path=$ROOTFS_EXT4,overlay=$T/root.ovl" --disk "path=$T/b.img" \
	--cmdline "$(blk_cmdline 'echo HOLDING; sleep 600')"
wait_for_line "$T/holder.log" '^HOLDING' 60 || fail "the holding VM did not boot"
expect 'root.ovl is in use by another VM' $K --disk "path=$ROOTFS_EXT4,overlay=$T/root.ovl"
expect 'b.img: in use by another VM'      $K --disk "path=$T/b.img,ro"
expect 'b.img: in use by another VM'      $K --disk "path=$T/b.img,overlay=$T/b.ovl"
# ... while its base may be shared.
"$VMM" $K --disk "path=$ROOTFS_EXT4,ro" --dump-dtb "$T/dtb2" </dev/null >"$T/share.log" 2>&1 ||
	fail "a second reader of a shared base was refused: $(cat "$T/share.log")"
vmm_kill
echo "$n bad disk inputs: one clear error each"
