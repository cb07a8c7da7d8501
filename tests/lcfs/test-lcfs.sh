#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# The libcomposefs.so.1 drop-in at work: exports = tests/assets/lcfs-symbols.txt; every compat
# asset rebuilt node by node with lcfs_* calls gives the reference's image (sha256); an
# ostree-style tree (payloads xx/yyyy.file, version 0 / max_version 1) gives the image and digest
# mkcomposefs makes of the equivalent dump, and lcfs_mount_image() mounts it with that expected
# digest (checked in userspace where the file has no fs-verity), refusing a wrong one.
set -euo pipefail
# shellcheck source=../integration/sanitizer-lib.sh
. "$CFS_SRCDIR/tests/integration/sanitizer-lib.sh"

B=${CFS_BUILDDIR:?CFS_BUILDDIR not set}
A=${CFS_COMPAT_ASSETS:?CFS_COMPAT_ASSETS not set}
TOOL=$B/tests/lcfs/lcfs-tool
MK=$B/tools/mkcomposefs/mkcomposefs
INFO=$B/tools/composefs-info/composefs-info
LIB=$B/compat/libcomposefs/libcomposefs.so.1
fail() { echo "FAIL: $*"; exit 1; }
[ "$(id -u)" = 0 ] || fail "the mount checks need root"

T=$(mktemp -d /tmp/cfs-lcfs.XXXXXX)
MNT=$T/mnt
cleanup() {
	mountpoint -q "$MNT" 2>/dev/null && umount "$MNT"
	rm -rf "$T"
}
trap cleanup EXIT

# ---- the exported symbols are the reference's, no more, no less
nm -D --defined-only "$LIB" | awk '{ print $3 }' | sort >"$T/exported"
diff "$CFS_SRCDIR/tests/assets/lcfs-symbols.txt" "$T/exported" || fail "exports differ from tests/assets/lcfs-symbols.txt"
[ "$(objdump -p "$LIB" | awk '$1 == "SONAME" { print $2 }')" = libcomposefs.so.1 ] || fail "soname"
ldd "$LIB" >"$T/ldd"
grep -q composefs-c "$T/ldd" && fail "the drop-in needs libcomposefs-c at run time"
echo "ok $(wc -l <"$T/exported") exports, soname libcomposefs.so.1, self-contained"

# ---- compat assets through the lcfs_* tree API and lcfs_write_to()
n=0
for f in "$A"/*.dump "$A"/*.dump.gz; do
	name=$(basename "$f")
	case $name in should-fail-*) continue ;; esac
	in=$f
	if [[ $name == *.gz ]]; then
		in=$T/input.dump
		gzip -dc "$f" >"$in"
	fi
	v=()
	[ -f "$f.version" ] && v=("$(tr -d '[:space:]' <"$f.version")")
	rc=0
	"$TOOL" dump2img "$in" "$T/img" "${v[@]}" 2>"$T/err" || rc=$?
	! sanitizer_report "$T/err" "$rc" || { cat "$T/err"; fail "$name: sanitizer report"; }
	[ "$rc" = 0 ] || { cat "$T/err"; fail "$name: lcfs-tool dump2img"; }
	got=$(sha256sum <"$T/img" | cut -d' ' -f1)
	[ "$got" = "$(cut -d' ' -f1 <"$f.sha256")" ] || fail "$name: image differs from the reference's"
	n=$((n + 1))
done
[ "$n" -ge 10 ] || fail "only $n assets"
echo "ok $n compat assets: lcfs_* trees written byte-identical to the reference"

# ---- ostree-style
S=$T/src
mkdir -p "$S/usr/bin" "$S/usr/share/doc" "$S/etc" "$T/objects" "$MNT"
printf 'small\n' >"$S/etc/hostname"
head -c 100000 /dev/urandom >"$S/usr/bin/tool"
head -c 4096 /dev/urandom >"$S/usr/share/doc/block"
printf '%s' "$(head -c 3000 /dev/urandom | base64 -w0)" >"$S/usr/share/doc/text"
: >"$S/etc/empty"
ln -s ../usr/bin/tool "$S/etc/link"
chmod 0750 "$S/usr/bin/tool"
chown 12:34 "$S/etc/hostname"
digest=$("$TOOL" ostree "$S" "$T/objects" "$T/ostree.img")
[ ${#digest} = 64 ] || fail "lcfs-tool ostree printed '$digest'"
# the same tree as a dump: every regular file refers to xx/yyyy.file with its fs-verity digest
(
	cd "$S"
	find . -mindepth 0 | LC_ALL=C sort | while read -r p; do
		path=${p#.}
		[ -n "$path" ] || path=/
		mode=$(printf '%o' "0x$(stat -c %f "$p")")
		size=$(stat -c %s "$p")
		owner="$(stat -c '%u %g' "$p")"
		if [ -L "$p" ]; then
			echo "$path $size $mode 1 $owner 0 0.0 $(readlink "$p") - -"
		elif [ -d "$p" ]; then
			echo "$path 0 $mode 2 $owner 0 0.0 - - -"
		elif [ "$size" = 0 ]; then
			echo "$path 0 $mode 1 $owner 0 0.0 - - -"
		else
			d=$("$INFO" measure-file "$p")
			echo "$path $size $mode 1 $owner 0 0.0 ${d:0:2}/${d:2}.file - $d"
		fi
	done
) >"$T/ostree.dump"
"$MK" --from-file --min-version=0 --max-version=1 "$T/ostree.dump" "$T/mk.img"
cmp "$T/ostree.img" "$T/mk.img" || fail "ostree-style image differs from mkcomposefs of the equivalent dump"
[ "$("$INFO" measure-file "$T/mk.img")" = "$digest" ] || fail "printed digest is not the image's"
[ -f "$T/objects/${digest:0:2}/${digest:2}.file" ] && fail "the image itself landed among the objects"
echo "ok ostree-style tree: image and digest identical to mkcomposefs of the equivalent dump"

# mounted with the expected digest (no fs-verity on this file: checked in userspace)
"$TOOL" mount "$T/ostree.img" "$T/objects" "$MNT" "$digest" || fail "lcfs_mount_image with the right digest"
for p in etc/hostname usr/bin/tool usr/share/doc/block usr/share/doc/text etc/empty; do
	cmp "$S/$p" "$MNT/$p" || fail "$p differs through the mount"
done
[ "$(readlink "$MNT/etc/link")" = ../usr/bin/tool ] || fail "symlink"
[ "$(stat -c '%a %u %g' "$MNT/etc/hostname")" = "644 12 34" ] || fail "ownership"
[ "$(stat -c '%a' "$MNT/usr/bin/tool")" = 750 ] || fail "mode"
touch "$MNT/new" 2>/dev/null && fail "LCFS_MOUNT_FLAGS_READONLY mount is writable"
umount "$MNT"
wrong=${digest:0:63}$([ "${digest:63}" = 0 ] && echo 1 || echo 0)
out=$("$TOOL" mount "$T/ostree.img" "$T/objects" "$MNT" "$wrong") && fail "mounted with a wrong digest"
[ "$out" = EWRONGVERITY ] || fail "wrong digest: '$out', expected EWRONGVERITY"
mountpoint -q "$MNT" && fail "something stayed mounted after the refusal"
out=$("$TOOL" mount "$T/ostree.img" "$T/missing-objects" "$MNT") && fail "mounted without its object directory"
mountpoint -q "$MNT" && fail "something stayed mounted after the refusal"
echo "ok lcfs_mount_image: expected digest checked, contents through the mount, wrong digest EWRONGVERITY"
