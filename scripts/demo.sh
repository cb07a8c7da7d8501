#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Main job on a built-in default: build an image of a sample tree (or of DIR) with an object
# store, mount it with the kernel (root) and with the verifying FUSE daemon, check the mounted
# tree against the source, and print a summary.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

./scripts/install-deps.sh
if [ ! -f build/build.ninja ]; then
	meson setup build >/dev/null
fi
ninja -C build >/dev/null

B=$top/build
mkcomposefs=$B/tools/mkcomposefs/mkcomposefs
info=$B/tools/composefs-info/composefs-info
mountcfs=$B/tools/mount.composefs/mount.composefs
fuse=$B/tools/composefs-fuse/composefs-fuse
compare=$B/tests/tools/tree-compare

work=$(mktemp -d /tmp/composefs-demo.XXXXXX)
mnt_kernel=$work/mnt-kernel mnt_fuse=$work/mnt-fuse
mkdir -p "$mnt_kernel" "$mnt_fuse"
cleanup() {
	mountpoint -q "$mnt_kernel" && umount "$mnt_kernel"
	mountpoint -q "$mnt_fuse" && { fusermount3 -u "$mnt_fuse" 2>/dev/null || umount -l "$mnt_fuse"; }
	rm -rf "$work"
}
trap cleanup EXIT

if [ $# -ge 1 ]; then
	src=$(realpath "$1")
	what="$src"
else
	src=$work/sample
	"$B/tests/tools/gen-tree" 42 "$src" 400 >/dev/null
	# the same content under several names: stored once in the object store
	mkdir -p "$src/copies"
	for i in 1 2 3; do head -c 300000 /usr/bin/bash >"$src/copies/bash-head-$i"; done
	what="built-in sample tree (seed 42)"
fi

echo "source:        $what"
t0=$(date +%s.%N)
digest=$("$mkcomposefs" --print-digest --digest-store="$work/objects" "$src" "$work/image.cfs")
t1=$(date +%s.%N)
printf 'image:         %s bytes, built in %.2f s\n' "$(stat -c %s "$work/image.cfs")" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')"
echo "image digest:  $digest (fs-verity sha256)"
"$info" info "$work/image.cfs" | sed 's/^/  /'
nobj=$(find "$work/objects" -type f | wc -l)
echo "object store:  $nobj objects, $(du -sh --apparent-size "$work/objects" | cut -f1)"
missing=$("$info" missing-objects --basedir="$work/objects" "$work/image.cfs" | wc -l)
[ "$missing" -eq 0 ] || { echo "FAIL: $missing objects missing"; exit 1; }

status=0
if [ "$(id -u)" -eq 0 ]; then
	"$mountcfs" -o "basedir=$work/objects,digest=$digest,tryverity" "$work/image.cfs" "$mnt_kernel"
	if "$compare" --ignore-xattr-prefix=trusted.overlay. "$src" "$mnt_kernel" >"$work/cmp-kernel.txt"; then
		echo "kernel mount:  EROFS+overlayfs, image digest checked (userspace fs-verity when the kernel has none), tree identical to source"
	else
		echo "kernel mount:  DIFFERENT from source:"; head -20 "$work/cmp-kernel.txt"; status=1
	fi
	umount "$mnt_kernel"
else
	echo "kernel mount:  skipped (needs root)"
fi

"$fuse" -o "source=$work/image.cfs,basedir=$work/objects,digest=$digest,verity=require" "$mnt_fuse"
if "$compare" --ignore-xattr-prefix=trusted.overlay. "$src" "$mnt_fuse" >"$work/cmp-fuse.txt"; then
	echo "FUSE mount:    every byte verified against fs-verity digests, tree identical to source"
else
	echo "FUSE mount:    DIFFERENT from source:"; head -20 "$work/cmp-fuse.txt"; status=1
fi
fusermount3 -u "$mnt_fuse" 2>/dev/null || umount "$mnt_fuse"

[ $status -eq 0 ] && echo "result:        OK" || echo "result:        FAILED"
exit $status
