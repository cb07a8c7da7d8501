#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Boot a Debian 6.12 kernel with fs-verity under qemu and check verity-backed composefs mounts there.
#
# Environment:
#   CFS_BUILDDIR    build directory (required; meson sets it)
#   CFS_VM_CACHE    where the extracted kernel is kept (default /var/cache/composefs-c-vm);
#                   filled with "apt-get download" of the newest
#                   linux-image-6.12.*-cloud-amd64-unsigned when empty
#   CFS_VM_TIMEOUT  seconds before the guest is killed (default 900)
#   CFS_VM_KEEP     set to keep the work directory (initramfs, disk, console log)
#
# Exit: 0 all guest checks passed, 1 a check failed or the guest did not
# report, 77 qemu (or a kernel for it) is not available at all.
set -eu -o pipefail
# set -e ends the script silently: say where
trap 'echo "FAIL: ${BASH_SOURCE[0]##*/} line $LINENO: \"$BASH_COMMAND\" failed" >&2' ERR

B=${CFS_BUILDDIR:?CFS_BUILDDIR must point at the build directory}
HERE=$(cd "$(dirname "$0")" && pwd)
CACHE=${CFS_VM_CACHE:-/var/cache/composefs-c-vm}
TIMEOUT=${CFS_VM_TIMEOUT:-900}

skip() {
	echo "SKIP: $*"
	exit 77
}
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

QEMU=$(command -v qemu-system-x86_64) || skip "qemu-system-x86_64 not installed (apt-get install qemu-system-x86)"
"$QEMU" --version >/dev/null 2>&1 || skip "qemu-system-x86_64 does not run"
[ "$(uname -m)" = x86_64 ] || skip "the VM test uses an amd64 kernel"
[ "$(id -u)" = 0 ] || skip "building the guest tree (devices, xattrs) needs root"
for t in busybox mkfs.ext4 cpio xz; do
	command -v "$t" >/dev/null || fail "$t not installed (packages: busybox-static e2fsprogs cpio xz-utils)"
done
for t in tools/mkcomposefs/mkcomposefs tools/mount.composefs/mount.composefs \
	tests/tools/tree-compare tests/tools/gen-tree tests/tools/verity-digest; do
	[ -x "$B/$t" ] || fail "$B/$t not built"
done
FSVERITY=$(command -v fsverity) || fail "fsverity not installed (package fsverity)"

# ---- the kernel --------------------------------------------------------------
find_kernel() { # newest cached kernel, or nothing (never fails: the cache may be empty)
	local k
	for k in "$CACHE"/kern/boot/vmlinuz-6.12.*-cloud-amd64; do
		if [ -f "$k" ]; then printf '%s\n' "$k"; fi
	done | sort -V | tail -n 1
}
KERNEL=$(find_kernel)
if [ -z "$KERNEL" ]; then
	command -v apt-get >/dev/null || skip "no kernel in $CACHE and no apt-get to fetch one"
	# a package list older than the newest security kernel names a file the mirror no longer has
	apt-get update -qq >/dev/null 2>&1 || echo "warning: apt-get update failed; using the package lists as they are" >&2
	pkg=$(apt-cache search --names-only '^linux-image-6\.12\.[0-9]+\+deb12-cloud-amd64-unsigned$' 2>/dev/null |
		awk '{print $1}' | sort -V | tail -n 1)
	[ -n "$pkg" ] || skip "no linux-image-6.12.*-cloud-amd64-unsigned package known to apt (bookworm-security needed)"
	echo "fetching $pkg into $CACHE"
	mkdir -p "$CACHE"
	# apt-get download drops privileges to _apt where it can; a cache it cannot write into
	# (a build tree under /root) only earns a warning, so keep that off the log
	(cd "$CACHE" && apt-get download "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2;
		dpkg -x "$pkg"_*.deb kern) || skip "cannot download or unpack $pkg"
	KERNEL=$(find_kernel)
	[ -n "$KERNEL" ] || fail "no vmlinuz in $pkg"
fi
KVER=${KERNEL##*/vmlinuz-}
MODDIR=$CACHE/kern/lib/modules/$KVER
[ -d "$MODDIR" ] || fail "no modules for $KVER in $CACHE"

W=$(mktemp -d "${TMPDIR:-/tmp}/cfs-vm.XXXXXX")
if [ -z "${CFS_VM_KEEP:-}" ]; then
	trap 'rm -rf "$W"' EXIT
else
	echo "work directory: $W"
fi
R=$W/root
mkdir -p "$R"/{bin,cfs,dev,proc,sys,tmp,modules,lib,lib64}

# ---- initramfs: busybox, our tools with their libraries, modules --------------
copy_with_libs() {
	local src=$1 dst=$2 lib
	cp -L "$src" "$dst"
	# "name => /path (0x...)" and "/path (0x...)" lines; paths may hold spaces
	while IFS= read -r lib; do
		case $lib in
		/lib/* | /lib64/* | /usr/lib/*) ;;
		*) # our own library from the build tree: where the guest's loader looks by default
			[ -e "$R/lib/${lib##*/}" ] || cp -L "$lib" "$R/lib/${lib##*/}"
			continue ;;
		esac
		[ -e "$R$lib" ] && continue
		mkdir -p "$R$(dirname "$lib")"
		cp -L "$lib" "$R$lib"
	done < <(ldd "$src" 2>/dev/null | sed -n -e 's/^.*=> \(\/.*\) (0x[0-9a-f]*)$/\1/p' -e 's/^[[:space:]]*\(\/.*\) (0x[0-9a-f]*)$/\1/p')
}
copy_with_libs "$(command -v busybox)" "$R/bin/busybox"
for t in tools/mkcomposefs/mkcomposefs tools/mount.composefs/mount.composefs \
	tests/tools/tree-compare tests/tools/gen-tree tests/tools/verity-digest; do
	copy_with_libs "$B/$t" "$R/cfs/"
done
copy_with_libs "$FSVERITY" "$R/cfs/fsverity"

# Modules the guest needs, dependencies first (read from each module's .modinfo).
declare -A loaded=()
order=()
add_module() {
	local name=$1 f dep
	[ -n "${loaded[$name]:-}" ] && return 0
	loaded[$name]=1
	f=$(find "$MODDIR/kernel" -name "$name.ko*" -print -quit)
	if [ -z "$f" ]; then
		f=$(find "$MODDIR/kernel" -name "${name//_/-}.ko*" -print -quit)
	fi
	[ -n "$f" ] || return 0 # built in
	case $f in
	*.xz) xz -dc "$f" >"$R/modules/$name.ko" ;;
	*) cp "$f" "$R/modules/$name.ko" ;;
	esac
	for dep in $(tr '\0' '\n' <"$R/modules/$name.ko" | sed -n 's/^depends=//p' | tr ',' ' '); do
		add_module "$dep"
	done
	order+=("$name")
}
for m in virtio_blk loop erofs overlay; do
	add_module "$m"
done
printf '%s\n' "${order[@]}" >"$R/modules/order"
cp "$HERE/guest-init.sh" "$R/init"
chmod 755 "$R/init"
(cd "$R" && find . | cpio -o -H newc --quiet) >"$W/initramfs.cpio"

# ---- the disk: ext4 with the verity feature ----------------------------------
truncate -s 512M "$W/disk.img"
mkfs.ext4 -q -F -O verity -b 4096 "$W/disk.img"

# ---- boot ----------------------------------------------------------------------
echo "booting $KVER under qemu (TCG) with $(wc -c <"$W/initramfs.cpio") bytes of initramfs"
start=$(date +%s)
rc=0
timeout "$TIMEOUT" "$QEMU" -machine q35 -accel tcg -cpu max -m 1024 -smp 1 \
	-nographic -no-reboot -nic none \
	-kernel "$KERNEL" -initrd "$W/initramfs.cpio" \
	-append "console=ttyS0 panic=-1 quiet loglevel=4" \
	-drive "file=$W/disk.img,format=raw,if=virtio" \
	</dev/null >"$W/console.log" 2>&1 || rc=$?
end=$(date +%s)
# Keep only our lines, whatever terminal noise precedes them on the same line.
tr -d '\r' <"$W/console.log" | grep -ao 'CFS-[A-Z]*.*' >"$W/console.txt" || true
cat "$W/console.txt"
echo "guest ran for $((end - start)) s (qemu exit $rc)"
if [ "$rc" = 124 ]; then
	tail -n 30 "$W/console.log" >&2
	fail "guest timed out after $TIMEOUT s"
fi

# ---- verdict -------------------------------------------------------------------
grep -q '^CFS-DONE' "$W/console.txt" || { tail -n 40 "$W/console.log" >&2; fail "guest did not finish"; }
grep -q "^CFS-KERNEL 6\.12\." "$W/console.txt" || fail "guest did not run a 6.12 kernel"
failed=$(grep -c '^CFS-RESULT [^ ]* FAIL' "$W/console.txt" || true)
[ "$failed" = 0 ] || fail "$failed guest check(s) failed"
for name in objects-verity verity-mount tamper-noverity tamper-content tamper-restored \
	legacy-mount loop-mount tryverity digest-kernel-wrong digest-kernel digest-memfd; do
	grep -q "^CFS-RESULT $name ok" "$W/console.txt" || fail "guest check $name did not report ok"
done
echo "ok: all fs-verity checks passed in the $KVER guest"
