#!/usr/bin/env bash
# tools/build-rootfs.sh: build the guest root filesystem (guest-init as /init,
# static busybox, a minimal /etc) as a gzip newc cpio initramfs, or as an ext4
# disk image (--ext4) for a root on virtio-blk.
set -euo pipefail

usage() {
	cat <<EOF
usage: tools/build-rootfs.sh OUT GUEST_INIT
       tools/build-rootfs.sh --ext4 OUT.img SIZE_MiB GUEST_INIT [TOOL...]

Write the guest rootfs to OUT as a gzip-compressed newc cpio initramfs:
/init = GUEST_INIT, /bin/busybox (from \$TORPOR_CACHE/sysroot-arm64) with its
applet symlinks, empty proc sys dev tmp run etc root var, /etc/passwd, group,
hostname. No root privileges needed; the output is deterministic (sorted
entries, owner 0:0, fixed mtimes).

--ext4 writes the same tree as an ext4 file system image of SIZE_MiB MiB
(mke2fs -d: no mounts, no root privileges), for a guest booted with
"root=/dev/vda rw" and no initrd: /sbin/init is a link to /init, and each
TOOL (a static aarch64 program, e.g. a guest-side test helper) goes into
/bin under its own name. 4 KiB blocks, fixed UUID, hash seed and times,
owner 0:0: the image, too, depends only on the inputs.
EOF
}

umask 022
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

mode=cpio
case "${1:-}" in
-h | --help) usage; exit 0 ;;
--ext4) mode=ext4; shift ;;
esac
tools=()
if [ "$mode" = ext4 ]; then
	[ $# -ge 3 ] || { usage >&2; exit 2; }
	out=$1
	size_mib=$2
	guest_init=$3
	shift 3
	tools=("$@")
	[[ "$size_mib" =~ ^[0-9]+$ ]] && [ "$size_mib" -ge 16 ] ||
		{ echo "build-rootfs: error: SIZE_MiB must be a number, at least 16" >&2; exit 2; }
else
	[ $# -eq 2 ] || { usage >&2; exit 2; }
	out=$1
	guest_init=$2
fi

log() { echo "build-rootfs: $*"; }
die() { echo "build-rootfs: error: $*" >&2; exit 1; }

busybox=$TORPOR_CACHE/sysroot-arm64/bin/busybox
[ -f "$guest_init" ] || die "$guest_init: no such file (build it with make)"
[ -f "$busybox" ] || die "$busybox: no such file (run tools/deps.sh)"

# Applets linked into /bin; busybox-static provides all of them.
APPLETS=(sh ash cat echo ls mount umount mkdir rm cp mv ln grep sed awk head
	tail wc sort uniq tr cut sleep true false test '[' printf dd md5sum sha256sum
	cmp date uname hostname ps kill killall nproc stat touch chmod sync reboot
	poweroff halt env id seq yes od hexdump find xargs tee timeout stty tty
	dmesg free uptime vi less more nc ip ifconfig ping sysctl basename dirname
	readlink realpath expr which blkdiscard fstrim fsync blockdev truncate)

# Fixed mtime for every entry: the output depends only on the inputs.
EPOCH=${SOURCE_DATE_EPOCH:-946684800} # 2000-01-01

stage=$(mktemp -d "${TMPDIR:-/tmp}/torpor-rootfs.XXXXXX")
trap 'rm -rf "$stage"' EXIT

stage_tree() {
	local r=$stage/root
	mkdir -p "$r"
	(cd "$r" && mkdir -p bin proc sys dev tmp run etc root var)
	chmod 1777 "$r/tmp"
	chmod 0700 "$r/root"
	install -m 0755 "$guest_init" "$r/init"
	install -m 0755 "$busybox" "$r/bin/busybox"
	local a
	for a in "${APPLETS[@]}"; do
		ln -s busybox "$r/bin/$a"
	done
	printf 'root:x:0:0:root:/root:/bin/sh\n' >"$r/etc/passwd"
	printf 'root:x:0:\n' >"$r/etc/group"
	printf 'torpor\n' >"$r/etc/hostname"
	chmod 0644 "$r/etc/passwd" "$r/etc/group" "$r/etc/hostname"
}

# Pack the staged tree as a gzip newc cpio archive.
pack_cpio() {
	local r=$stage/root
	find "$r" -exec touch -h -d "@$EPOCH" {} +
	(cd "$r" && find . -mindepth 1 -printf '%P\n' | LC_ALL=C sort |
		cpio -o -H newc -R 0:0 --reproducible --quiet) | gzip -9 -n >"$stage/out"
}

# What an ext4 root adds: the kernel looks for /sbin/init, and the tools.
stage_ext4_extras() {
	local r=$stage/root t
	mkdir -p "$r/sbin"
	ln -s ../init "$r/sbin/init"
	for t in "${tools[@]}"; do
		[ -f "$t" ] || die "$t: no such file (build it with make)"
		install -m 0755 "$t" "$r/bin/$(basename "$t")"
	done
}

# Pack the staged tree as an ext4 image, without mounting it.
pack_ext4() {
	local r=$stage/root img=$stage/out
	command -v mke2fs >/dev/null || die "mke2fs not found (package e2fsprogs; run tools/deps.sh)"
	find "$r" -exec touch -h -d "@$EPOCH" {} +
	truncate -s "${size_mib}M" "$img"
	# Fixed UUID, hash seed and time: the image depends only on the inputs.
	E2FSPROGS_FAKE_TIME=$EPOCH mke2fs -q -F -t ext4 -b 4096 -m 0 -L torpor-root \
		-U 6f72746f-7270-4000-8000-726f6f746673 \
		-E root_owner=0:0,hash_seed=6f72746f-7270-4000-8000-686173683031,lazy_itable_init=0 \
		-d "$r" "$img" >/dev/null || die "mke2fs failed"
	# mke2fs -d copies owners and change times from the staged files: set
	# every inode to 0:0 (built by a user, the files would be theirs) and
	# ctime to EPOCH (touch cannot set it), so the image is reproducible.
	(cd "$r" && find . -printf '/%P\n') |
		awk -v t="@$EPOCH" '{ print "sif " $0 " uid 0"; print "sif " $0 " gid 0";
			print "sif " $0 " ctime " t }' >"$stage/fixup"
	E2FSPROGS_FAKE_TIME=$EPOCH debugfs -w -f "$stage/fixup" "$img" >/dev/null 2>&1 || die "debugfs (owner/time fix-up) failed"
}

log "staging /init=$guest_init, busybox with ${#APPLETS[@]} applets"
stage_tree
if [ "$mode" = ext4 ]; then
	stage_ext4_extras
	pack_ext4
else
	pack_cpio
fi
mkdir -p "$(dirname "$out")"
mv -f "$stage/out" "$out.tmp.$$"
chmod 0644 "$out.tmp.$$"
mv -f "$out.tmp.$$" "$out"
log "wrote $out ($(stat -c %s "$out") bytes, sha256 $(sha256sum <"$out" | cut -c1-16))"
