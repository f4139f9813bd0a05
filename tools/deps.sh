#!/usr/bin/env bash
# tools/deps.sh: install, idempotently, every Debian package that building,
# testing, benchmarking and the demo need, and unpack the arm64 packages the
# aarch64 build links against into a sysroot in the cache. Safe to run again:
# it acts only on what is missing and says what it does.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

HOST_ARCH=$(dpkg --print-architecture)

# Packages for the build machine itself.
HOST_PKGS=(
	make gcc pkg-config ca-certificates xz-utils cpio gzip file
	e2fsprogs bc bison flex libssl-dev libelf-dev rsync python3 kmod
	libcmocka-dev libfdt-dev libjansson-dev libhttp-parser-dev liburing-dev
	clang llvm libclang-rt-14-dev
	linux-source-6.1
)
if [ "$HOST_ARCH" != arm64 ]; then
	HOST_PKGS+=(gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu libc6-dev-arm64-cross
		qemu-system-arm qemu-utils)
fi

# arm64 packages unpacked (not installed) into the sysroot: the static
# libraries and headers torpor links against, busybox for the guests, and
# Debian's arm64 kernel for the test host.
SYSROOT_PKGS=(libfdt-dev libfdt1 libjansson-dev libjansson4 libhttp-parser-dev
	libhttp-parser2.9 liburing-dev liburing2 libnl-3-dev libnl-3-200 libnl-route-3-dev
	libnl-route-3-200 busybox-static)
TESTHOST_KERNEL_PKG=linux-image-arm64

SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
updated=
apt_update() {
	[ -n "$updated" ] && return 0
	echo "deps: apt-get update"
	$SUDO apt-get update -q
	updated=1
}

missing=()
for p in "${HOST_PKGS[@]}"; do
	if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed'; then
		missing+=("$p")
	fi
done

if [ "$HOST_ARCH" != arm64 ] && ! dpkg --print-foreign-architectures | grep -qx arm64; then
	echo "deps: adding the arm64 architecture to dpkg (package lists only; nothing arm64 is installed)"
	$SUDO dpkg --add-architecture arm64
	updated=
	apt_update
fi

if [ ${#missing[@]} -gt 0 ]; then
	echo "deps: installing: ${missing[*]}"
	apt_update
	$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

# The sysroot is keyed by the versions of what goes into it.
mkdir -p "$TORPOR_CACHE"
if [ -z "$(apt-cache policy libfdt-dev:arm64 2>/dev/null | awk '/Candidate:/ {print $2}')" ]; then
	apt_update
fi
versions=
for p in "${SYSROOT_PKGS[@]}" "$TESTHOST_KERNEL_PKG"; do
	v=$(apt-cache policy "$p:arm64" | awk '/Candidate:/ {print $2}')
	if [ -z "$v" ] || [ "$v" = "(none)" ]; then
		apt_update
		v=$(apt-cache policy "$p:arm64" | awk '/Candidate:/ {print $2}')
	fi
	versions+="$p=$v "
done
# The test host kernel: the metapackage names the versioned image package.
kpkg=$(apt-cache depends "$TESTHOST_KERNEL_PKG:arm64" | awk '/Depends: linux-image-[0-9]/ {print $2; exit}')
kpkg=${kpkg%:arm64}
versions+="$kpkg"
key=$(printf '%s' "$versions" | sha256sum | cut -c1-16)
sysroot="$TORPOR_CACHE/sysroot-arm64-$key"
if [ ! -e "$sysroot/.complete" ]; then
	echo "deps: unpacking arm64 packages into $sysroot"
	rm -rf "$sysroot" "$sysroot.tmp"
	mkdir -p "$sysroot.tmp/debs"
	(cd "$sysroot.tmp/debs" && apt-get download -q "${SYSROOT_PKGS[@]/%/:arm64}" "$kpkg:arm64")
	for d in "$sysroot.tmp"/debs/*.deb; do
		dpkg-deb -x "$d" "$sysroot.tmp"
	done
	rm -rf "$sysroot.tmp/debs"
	touch "$sysroot.tmp/.complete"
	mv "$sysroot.tmp" "$sysroot"
fi
ln -sfn "$sysroot" "$TORPOR_CACHE/sysroot-arm64"
echo "deps: ready (sysroot $TORPOR_CACHE/sysroot-arm64)"
