#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# mount.composefs with upperdir/workdir, image whiteouts in a stacked overlay, and damaged objects.
# shellcheck source=test-mount-lib.sh
. "$(dirname "$0")/test-mount-lib.sh"

S=$W/src
mkdir -p "$S/dir/sub" "$S/wh"
head -c 300000 /dev/urandom >"$S/big"
head -c 70000 /dev/urandom >"$S/dir/sub/medium"
head -c 50000 /dev/urandom >"$S/dir/second"
echo small >"$S/small"
echo keep >"$S/wh/keep"
mknod "$S/wh/hidden" c 0 0
"$MKCFS" --digest-store="$W/store" "$S" "$W/img.cfs" || fail "mkcomposefs"
store_sum() {
	(cd "$W/store" && find . -type f -exec sha256sum {} + | sort)
}
sum0=$(store_sum)

# ---- upperdir / workdir ----------------------------------------------------
mkdir -p "$W/upper" "$W/work"
cfs_mount "$W/img.cfs" "$W/m" "basedir=$W/store,upperdir=$W/upper,workdir=$W/work"
echo new >"$W/m/newfile" || fail "create in writable mount"
echo appended >>"$W/m/dir/sub/medium" || fail "append to an object-backed file"
chmod 600 "$W/m/big" || fail "chmod"
rm "$W/m/dir/second" || fail "rm"
[ "$(cat "$W/upper/newfile")" = new ] || fail "new file not in upperdir"
[ "$(tail -c 9 "$W/upper/dir/sub/medium")" = appended ] || fail "modified file not copied up"
[ "$(head -c 70000 "$W/upper/dir/sub/medium" | sha256sum)" = "$(sha256sum <"$S/dir/sub/medium")" ] ||
	fail "copy-up of an object-backed file lost its data"
[ "$(stat -c %a "$W/m/big")" = 600 ] || fail "chmod not visible"
cmp -s "$W/m/big" "$S/big" || fail "metadata-only copy-up changed content"
[ -c "$W/upper/dir/second" ] || fail "rm did not leave a whiteout in upperdir"
[ ! -e "$W/m/dir/second" ] || fail "removed file still visible"
umount "$W/m"
[ "$(store_sum)" = "$sum0" ] || fail "writes through the mount modified the object store"
cfs_mount "$W/img.cfs" "$W/m" "basedir=$W/store"
[ ! -e "$W/m/newfile" ] && cmp -s "$W/m/dir/sub/medium" "$S/dir/sub/medium" && [ -e "$W/m/dir/second" ] ||
	fail "image view changed after writes to the upper layer"
umount "$W/m"
ok "upperdir/workdir: writes, copy-ups and deletions land in upperdir; objects and image untouched"

rm -rf "$W/upper" "$W/work"
mkdir -p "$W/upper" "$W/work"
cfs_mount "$W/img.cfs" "$W/m" "ro,basedir=$W/store,upperdir=$W/upper,workdir=$W/work"
findmnt -n -o OPTIONS "$W/m" | grep -q '^ro,' || fail "ro not applied"
if echo x 2>/dev/null >"$W/m/newfile"; then fail "write to a ro mount succeeded"; fi
umount "$W/m"
ok "ro with upperdir: read-only mount"

# ---- whiteouts in the image --------------------------------------------------
# In the composefs mount the whiteout is an empty file marked with overlay
# xattrs; stacked as a lower layer of another overlay it hides what is below.
cfs_mount "$W/img.cfs" "$W/m" "basedir=$W/store"
[ -f "$W/m/wh/hidden" ] && [ ! -s "$W/m/wh/hidden" ] || fail "whiteout not an empty file in the composefs mount"
getfattr -n trusted.overlay.whiteout "$W/m/wh/hidden" >/dev/null 2>&1 || fail "whiteout xattr missing"
mkdir -p "$W/bottom/wh" "$W/stack"
echo "must be hidden" >"$W/bottom/wh/hidden"
echo "from bottom" >"$W/bottom/wh/other"
track "$W/stack"
mount -t overlay stack -o "lowerdir=$W/m:$W/bottom" "$W/stack" || fail "stacked overlay"
[ ! -e "$W/stack/wh/hidden" ] || fail "image whiteout did not hide the lower file"
[ "$(cat "$W/stack/wh/other")" = "from bottom" ] || fail "stacked overlay lost a lower file"
[ "$(cat "$W/stack/wh/keep")" = keep ] || fail "stacked overlay lost an image file"
cmp -s "$W/stack/big" "$S/big" || fail "stacked overlay: object-backed file"
umount "$W/stack"
umount "$W/m"
ok "image whiteouts act as whiteouts when the composefs mount is a lower layer"

# ---- damaged objects ---------------------------------------------------------
# Only the file whose object is missing or short fails; no other bytes appear.
obj=$(object_of "$S/big" "$W/store")
[ -f "$obj" ] || fail "object of big not at $obj"
mv "$obj" "$W/big.obj"
cfs_mount "$W/img.cfs" "$W/m" "basedir=$W/store"
if cat "$W/m/big" >/dev/null 2>"$W/err"; then fail "reading a file whose object is missing succeeded"; fi
cmp -s "$W/m/dir/sub/medium" "$S/dir/sub/medium" || fail "other files broken by a missing object"
[ "$(stat -c %s "$W/m/big")" = 300000 ] || fail "stat of a file with a missing object"
umount "$W/m"
ok "missing object: reading that file fails ($(head -1 "$W/err" | sed 's/.*: //')), other files intact"

head -c 100000 "$W/big.obj" >"$obj"
cfs_mount "$W/img.cfs" "$W/m" "basedir=$W/store"
cat "$W/m/big" >"$W/out" 2>/dev/null || true
[ "$(stat -c %s "$W/out")" -lt 300000 ] || fail "truncated object: full size read"
cmp -s "$W/out" <(head -c "$(stat -c %s "$W/out")" "$S/big") || fail "truncated object: bytes other than the file's"
cmp -s "$W/m/dir/sub/medium" "$S/dir/sub/medium" || fail "other files broken by a truncated object"
umount "$W/m"
ok "truncated object: the read stops early ($(stat -c %s "$W/out") of 300000 bytes), never returns other bytes"
mv "$W/big.obj" "$obj"
