#!/usr/bin/env bash
# tools/build-kernel.sh: build the minimal arm64 guest kernel Image from
# Debian's linux-source-6.1 and tools/kernel/torpor.config, cached in
# $TORPOR_CACHE/kernel-<hash>/ keyed by the fragment, this script and the
# linux-source package version.
set -euo pipefail

usage() {
	cat <<EOF
usage: tools/build-kernel.sh OUT
       tools/build-kernel.sh --smoke IMAGE

Build (or take from the cache) the arm64 guest kernel Image and write it to
OUT. The kernel is Debian's linux-source-6.1 configured from allnoconfig plus
tools/kernel/torpor.config (everything built in, no modules).

Cache:   \$TORPOR_CACHE/kernel-<hash>/{Image,config}   (TORPOR_CACHE=$TORPOR_CACHE)
         <hash> = sha256(fragment, this script, linux-source version)
Work:    \$TORPOR_CACHE/kernel-src-<version>/ (unpacked source, shared)
         \$TORPOR_CACHE/kernel-obj/            (kbuild O= dir, incremental)
Env:     TORPOR_KERNEL_JOBS  make -j value (default: nproc)

--smoke IMAGE boots IMAGE under qemu-system-aarch64 -M virt (TCG, PL011
console) with a tiny busybox initramfs, a virtio-blk and a virtio-net device
(virtio-mmio), and checks that it reaches /init and sees both devices.
EOF
}

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

log() { echo "build-kernel: $*"; }
die() { echo "build-kernel: error: $*" >&2; exit 1; }

# The /init of the smoke-test initramfs.
smoke_init() {
	cat <<'EOF'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc; mount -t sysfs sysfs /sys; mount -t devtmpfs dev /dev
echo "SMOKE-INIT $(uname -r) cpus=$(nproc) uptime=$(cut -d' ' -f1 /proc/uptime)"
[ -b /dev/vda ] && echo SMOKE-BLK
[ -e /sys/class/net/eth0 ] && echo SMOKE-NET
poweroff -f
EOF
}

# Boot IMAGE directly under qemu's virt machine; check it reaches /init.
smoke() {
	local image=$1 busybox=$TORPOR_CACHE/sysroot-arm64/bin/busybox
	[ -f "$image" ] || die "$image: no such file"
	[ -f "$busybox" ] || die "$busybox: missing (run tools/deps.sh)"
	command -v qemu-system-aarch64 >/dev/null || die "qemu-system-aarch64 not found"
	smoke_dir=$(mktemp -d "${TMPDIR:-/tmp}/torpor-smoke.XXXXXX")
	[ -n "$smoke_dir" ] && [ -d "$smoke_dir" ] || die "mktemp failed"
	trap 'rm -rf "$smoke_dir"' EXIT
	mkdir -p "$smoke_dir/root/bin" "$smoke_dir/root/proc" "$smoke_dir/root/sys" "$smoke_dir/root/dev"
	cp "$busybox" "$smoke_dir/root/bin/busybox"
	smoke_init >"$smoke_dir/root/init"
	chmod 0755 "$smoke_dir/root/init"
	(cd "$smoke_dir/root" && find . | cpio -o -H newc -R 0:0 --quiet | gzip) >"$smoke_dir/initrd.gz"
	log "smoke boot: qemu-system-aarch64 -M virt -cpu max (TCG) -kernel $image"
	timeout 120 qemu-system-aarch64 -M virt -cpu max -smp 2 -m 256 -nographic -no-reboot \
		-kernel "$image" -initrd "$smoke_dir/initrd.gz" -append "console=ttyAMA0 panic=-1" \
		-drive if=none,id=d0,format=raw,file=null-co:// -device virtio-blk-device,drive=d0 \
		-netdev user,id=n0 -device virtio-net-device,netdev=n0 -nic none \
		</dev/null >"$smoke_dir/console" 2>&1 || true
	tr -d '\r' <"$smoke_dir/console" >"$smoke_dir/console.txt"
	grep -E '^SMOKE-' "$smoke_dir/console.txt" | sed 's/^/build-kernel:   /' || true
	if ! grep -q '^SMOKE-INIT' "$smoke_dir/console.txt"; then
		tail -n 30 "$smoke_dir/console.txt" >&2
		die "smoke boot: /init was not reached"
	fi
	grep -q '^SMOKE-BLK' "$smoke_dir/console.txt" || die "smoke boot: no /dev/vda (virtio-blk over virtio-mmio)"
	grep -q '^SMOKE-NET' "$smoke_dir/console.txt" || die "smoke boot: no eth0 (virtio-net over virtio-mmio)"
	log "smoke boot ok"
}

case "${1:-}" in
-h | --help) usage; exit 0 ;;
--smoke)
	[ $# -eq 2 ] || { usage >&2; exit 2; }
	smoke "$2"
	exit 0
	;;
"" | -*) usage >&2; exit 2 ;;
esac
[ $# -eq 1 ] || { usage >&2; exit 2; }
out=$1

fragment=$here/kernel/torpor.config
src_tar=/usr/src/linux-source-6.1.tar.xz
[ -r "$fragment" ] || die "$fragment: missing"
[ -r "$src_tar" ] || die "$src_tar: missing (run tools/deps.sh: it installs linux-source-6.1)"
src_ver=$(dpkg-query -W -f='${Version}' linux-source-6.1 2>/dev/null) ||
	die "linux-source-6.1 is not installed (run tools/deps.sh)"

case "$(uname -m)" in
aarch64 | arm64) cross= ;;
*) cross=aarch64-linux-gnu- ;;
esac
command -v "${cross}gcc" >/dev/null || die "${cross}gcc not found (run tools/deps.sh)"

key=$({ sha256sum <"$fragment"; sha256sum <"$0"; echo "$src_ver"; } | sha256sum | cut -c1-16)
cached=$TORPOR_CACHE/kernel-$key

# Copy the cached Image to OUT (a copy, not a link: nothing written to OUT
# can reach the cache); the rename makes OUT appear complete or not at all.
install_out() {
	mkdir -p "$(dirname "$out")"
	cp "$cached/Image" "$out.tmp.$$"
	mv -f "$out.tmp.$$" "$out"
	log "$out <- $cached/Image ($(stat -c %s "$out") bytes)"
}

if [ -e "$cached/Image" ]; then
	log "cache hit: $cached (linux-source $src_ver)"
	install_out
	exit 0
fi

# The whole build is one function, so bash has read all of it before the
# long make starts (editing this file during a build is then harmless).
build() {
	mkdir -p "$TORPOR_CACHE"
	# One build at a time per cache (several clones or engineers may share it).
	exec 9>"$TORPOR_CACHE/kernel.lock"
	if ! flock -n 9; then
		log "another kernel build holds $TORPOR_CACHE/kernel.lock; waiting"
		flock 9
	fi
	if [ -e "$cached/Image" ]; then
		log "cache hit after waiting: $cached"
		install_out
		exit 0
	fi
	log "cache miss: building $cached (linux-source $src_ver)"

	# Unpack the source once per package version.
	src=$TORPOR_CACHE/kernel-src-$src_ver
	if [ ! -e "$src/.complete" ]; then
		log "unpacking $src_tar into $src"
		rm -rf "$src" "$src.tmp"
		mkdir -p "$src.tmp"
		tar -xJf "$src_tar" -C "$src.tmp" --strip-components=1
		touch "$src.tmp/.complete"
		mv "$src.tmp" "$src"
	fi

	# Kbuild output directory: persistent so that a changed fragment rebuilds
	# only what changed. It belongs to one source version.
	obj=$TORPOR_CACHE/kernel-obj
	if [ "$(cat "$obj/.torpor-src" 2>/dev/null)" != "$src_ver" ]; then
		log "fresh object dir $obj"
		rm -rf "$obj"
		mkdir -p "$obj"
		echo "$src_ver" >"$obj/.torpor-src"
	fi

	jobs=${TORPOR_KERNEL_JOBS:-$(nproc)}
	kmake=(make -C "$src" O="$obj" ARCH=arm64 CROSS_COMPILE="$cross"
		KBUILD_BUILD_USER=torpor KBUILD_BUILD_HOST=torpor
		KBUILD_BUILD_TIMESTAMP="$(date -u -R -d "@$(stat -c %Y "$src_tar")")")

	log "configuring: allnoconfig + $(basename "$fragment")"
	"${kmake[@]}" -s allnoconfig
	(cd "$obj" && ARCH=arm64 CROSS_COMPILE="$cross" \
		"$src/scripts/kconfig/merge_config.sh" -m -O "$obj" "$obj/.config" "$fragment" >/dev/null)
	"${kmake[@]}" -s olddefconfig

	# Every option the fragment asks for must be in the final config: kconfig
	# silently drops options whose dependencies are missing.
	missing=()
	while IFS= read -r line; do
		case "$line" in
		CONFIG_*=*)
			if ! grep -qxF "$line" "$obj/.config"; then
				missing+=("$line (got: $(grep -E "^(# )?${line%%=*}[= ]" "$obj/.config" || echo unset))")
			fi
			;;
		"# CONFIG_"*" is not set")
			sym=${line#\# }
			sym=${sym%% *}
			if grep -q "^$sym=" "$obj/.config"; then
				missing+=("$line (got: $(grep "^$sym=" "$obj/.config"))")
			fi
			;;
		esac
	done <"$fragment"
	if [ ${#missing[@]} -gt 0 ]; then
		echo "build-kernel: error: options from $fragment not in the final .config" >&2
		echo "build-kernel: (their dependencies are probably missing from the fragment):" >&2
		printf 'build-kernel:   %s\n' "${missing[@]}" >&2
		exit 1
	fi
	log "config ok: all $(grep -c '^CONFIG_' "$fragment") fragment options present"

	log "building Image: make -j$jobs (ARCH=arm64 CROSS_COMPILE=${cross:-<native>}); this takes minutes"
	start=$(date +%s)
	"${kmake[@]}" -j"$jobs" Image
	log "built in $(($(date +%s) - start)) s"
	# A kernel that does not boot never reaches the cache.
	if command -v qemu-system-aarch64 >/dev/null; then
		smoke "$obj/arch/arm64/boot/Image"
	else
		log "qemu-system-aarch64 not installed: skipping the smoke boot"
	fi

	tmp=$cached.tmp.$$
	rm -rf "$tmp"
	mkdir -p "$tmp"
	cp "$obj/arch/arm64/boot/Image" "$tmp/Image"
	cp "$obj/.config" "$tmp/config"
	echo "linux-source-6.1 $src_ver" >"$tmp/source"
	rm -rf "$cached"
	mv "$tmp" "$cached"
	log "cached $cached/Image ($(stat -c %s "$cached/Image") bytes)"
}

build
install_out
