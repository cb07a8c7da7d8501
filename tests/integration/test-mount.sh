#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# mount.composefs: command line, kernel mounts of random trees (identical to their source), digests, verity.
# shellcheck source=test-mount-lib.sh
. "$(dirname "$0")/test-mount-lib.sh"

# ---- command line ----------------------------------------------------------
"$MOUNT" --help | grep 'basedir=DIR' >/dev/null || fail "--help"
"$MOUNT" --version | grep 'mount.composefs' >/dev/null || fail "--version"
mkdir -p "$W/m" "$W/emptystore"
printf 'not an image at all, but long enough to have a header............' >"$W/junk"
expect_fail 2 "expected IMAGE and MOUNTPOINT" "$MOUNT"
expect_fail 2 'unknown option "frobnicate"' "$MOUNT" -o basedir=/,frobnicate "$W/junk" "$W/m"
expect_fail 2 "no basedir" "$MOUNT" "$W/junk" "$W/m"
expect_fail 2 "upperdir and workdir" "$MOUNT" -o basedir=/,upperdir=/tmp "$W/junk" "$W/m"
expect_fail 2 "not a sha256" "$MOUNT" -o basedir=/,digest=abcd "$W/junk" "$W/m"
expect_fail 2 "takes no value" "$MOUNT" -o basedir=/,verity=yes "$W/junk" "$W/m"
expect_fail 2 "unsupported file system type" "$MOUNT" -t ext4 -o basedir=/ "$W/junk" "$W/m"
expect_fail 1 "missing.cfs: No such file or directory" "$MOUNT" -o basedir=/ "$W/missing.cfs" "$W/m"
expect_fail 1 "not a composefs image" "$MOUNT" -o basedir=/ "$W/junk" "$W/m"
ok "usage errors exit 2, missing or foreign image exit 1 with a clear message"

# ---- seeded random tree -> image -> kernel mount -> identical --------------
kmsg_mark
gen_tree 1234 "$W/src"
"$MKCFS" --digest-store="$W/store" "$W/src" "$W/img.cfs" || fail "mkcomposefs"
nfiles=$(find "$W/src" | wc -l)
[ "$nfiles" -gt 50 ] || fail "random tree too small ($nfiles entries)"
expect_fail 1 "basedir $W/nostore: No such file or directory" \
	"$MOUNT" -o basedir="$W/nostore" "$W/img.cfs" "$W/m"
expect_fail 1 "mount point $W/nomnt: No such file or directory" \
	"$MOUNT" -o basedir="$W/store" "$W/img.cfs" "$W/nomnt"
if command -v setpriv >/dev/null; then
	chmod 755 "$W"
	# shellcheck source=user-lib.sh
	. "$(dirname "$0")/user-lib.sh"
	cleanup_hooks+=('rm -rf "$USER_BIN"')
	expect_fail 1 "permission denied" setpriv --reuid=65534 --regid=65534 --clear-groups \
		env LD_LIBRARY_PATH="$USER_BIN" "$(user_prog "$MOUNT")" -o basedir="$W/store" "$W/img.cfs" "$W/m"
fi
mountpoint -q "$W/m" && fail "a failed mount left something mounted"
ok "missing basedir, missing mount point, unprivileged caller: exit 1, nothing mounted"

cfs_mount "$W/img.cfs" "$W/m" "basedir=$W/store"
"$TC" --cfs-whiteouts "$W/src" "$W/m" || fail "mounted tree differs from its source"
findmnt -n -o FSTYPE,SOURCE "$W/m" | grep -q '^overlay *composefs$' || fail "not an overlay named composefs"
findmnt -n -o OPTIONS "$W/m" | grep -q "datadir+=$W/store" || fail "basedir not a data-only layer: $(findmnt -n -o OPTIONS "$W/m")"
umount "$W/m"
ok "random tree ($nfiles entries, seed 1234): mount identical to the source in every field"

# In a private mount namespace with an empty /tmp: the EROFS mount is never
# attached anywhere, and nothing is left in /tmp. The work directory stays
# reachable as the current directory and the build directory through fd 3
# (/proc/self/fd/3 reaches it even where the new /tmp hides it: a checkout
# under /tmp).
(cd "$W" && exec 3<"$B" && unshare -m --propagation private sh -euc '
	mount -t tmpfs cfs-test-tmp /tmp
	erofs_before=$(grep -c " - erofs " /proc/self/mountinfo || true)
	# a dynamically linked helper (sanitizer builds) finds the library through fd 3 too
	LD_LIBRARY_PATH=/proc/self/fd/3/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} "/proc/self/fd/3/$1" -o basedir=store img.cfs m
	[ "$(grep -c " - erofs " /proc/self/mountinfo || true)" = "$erofs_before" ] || { echo "EROFS mount visible"; exit 1; }
	[ -z "$(ls -A /tmp)" ] || { echo "left in /tmp: $(ls -A /tmp)"; exit 1; }
	ls m/ >/dev/null
	# the mounts go away with the namespace' sh "${MOUNT#"$B"/}") || fail "private EROFS mount or /tmp check"
ok "the EROFS mount is never visible; nothing is created in /tmp"

# The other ways of getting there must give the same tree.
cfs_mount "$W/img.cfs" "$W/m" "basedir=$W/store,forceloop"
"$TC" --cfs-whiteouts "$W/src" "$W/m" || fail "loop-device mount differs"
loopdev=$(losetup -j "$W/img.cfs" -O NAME -n)
[ -n "$loopdev" ] || fail "forceloop did not use a loop device"
losetup -n -O RO "$loopdev" | grep -q 1 || fail "loop device $loopdev is writable"
umount "$W/m"
for _ in 1 2 3 4 5 6 7 8 9 10; do
	[ -z "$(losetup -j "$W/img.cfs")" ] && break
	sleep 0.2
done
[ -z "$(losetup -j "$W/img.cfs")" ] || fail "loop device not auto-cleared after umount"
ok "forced loop device: read-only, identical tree, device gone after umount"

cfs_mount "$W/img.cfs" "$W/m" "basedir=$W/store,legacymount"
"$TC" --cfs-whiteouts "$W/src" "$W/m" || fail "legacy mount(2) path differs"
findmnt -n -o OPTIONS "$W/m" | grep -q "lowerdir=[^,]*::$W/store" || fail "legacy options"
grep -q ' - erofs ' /proc/self/mountinfo && grep ' - erofs ' /proc/self/mountinfo | grep -q composefs- &&
	fail "legacy path left the EROFS mount attached"
umount "$W/m"
ls -d /run/.composefs-* /tmp/.composefs-* 2>/dev/null && fail "legacy path left a temporary mount point"
ok "legacy mount(2) overlay path: identical tree, temporary EROFS mount point removed"

# Relative paths, two basedirs, a comma in a basedir name.
mkdir -p "$W/s,1" "$W/s2"
cp -a "$W/store/." "$W/s2/"
for d in "$W"/s2/[0-4]*; do mv "$d" "$W/s,1/"; done
(cd "$W" && "$MOUNT" -o 'ro,basedir=s\,1:s2' img.cfs m) || fail "relative, escaped, two basedirs"
track "$W/m"
"$TC" --cfs-whiteouts "$W/src" "$W/m" || fail "two basedirs: tree differs"
findmnt -n -o OPTIONS "$W/m" | grep -q "datadir+=$W/s2" || fail "basedirs not absolute in mountinfo"
umount "$W/m"
ok "two basedirs (one with a comma, escaped), relative paths made absolute"

# ---- digest= ---------------------------------------------------------------
digest=$(vdigest "$W/img.cfs")
wrong=$(printf '%s' "$digest" | tr '0-9a-f' '1-9a-f0')
expect_fail 1 "digest mismatch" "$MOUNT" -o "basedir=$W/store,digest=$wrong" "$W/img.cfs" "$W/m"
mountpoint -q "$W/m" && fail "wrong digest mounted"
cfs_mount "$W/img.cfs" "$W/m" "basedir=$W/store,digest=$(printf '%s' "$digest" | tr a-f A-F),tryverity"
"$TC" --cfs-whiteouts "$W/src" "$W/m" || fail "digest+tryverity mount differs"
umount "$W/m"
ok "digest: wrong one refused (exit 1, nothing mounted), right one (upper case) mounts and reads"

# The checked bytes are the mounted bytes: changing the image after the check
# cannot reach the mount (it reads a sealed private copy).
cp "$W/img.cfs" "$W/img2.cfs"
d2=$(vdigest "$W/img2.cfs")
cfs_mount "$W/img2.cfs" "$W/m" "basedir=$W/store,digest=$d2,tryverity"
dd if=/dev/zero of="$W/img2.cfs" bs=4096 seek=1 count=4 conv=notrunc status=none
echo 3 >/proc/sys/vm/drop_caches
"$TC" --cfs-whiteouts "$W/src" "$W/m" || fail "overwriting the image file changed a digest-pinned mount"
umount "$W/m"
ok "digest-pinned mount unaffected by later writes to the image file"

# digest implies verity: overlayfs requires fs-verity on every object, so each
# read either returns the right bytes (objects have verity) or fails (EIO).
cfs_mount "$W/img.cfs" "$W/m" "basedir=$W/store,digest=$digest"
findmnt -n -o OPTIONS "$W/m" | grep -q 'verity=require' || fail "digest= did not ask for verity=require"
big=$(find "$W/src" -type f -size +8k -print -quit)
rel=${big#"$W/src/"}
if cat "$W/m/$rel" >"$W/out" 2>"$W/err"; then
	cmp -s "$W/out" "$big" || fail "verity=require read returned wrong bytes"
	how="objects have fs-verity: reads verified"
else
	grep -q 'Input/output error' "$W/err" || fail "unexpected error: $(cat "$W/err")"
	how="no fs-verity here: object reads refused with EIO"
fi
ls -lR "$W/m" >/dev/null || fail "listing a verity=require mount"
umount "$W/m"
ok "digest implies verity=require ($how)"

# tryverity: verity only where the basedir's file system supports it, so
# reads work either way.
cfs_mount "$W/img.cfs" "$W/m" "basedir=$W/store,tryverity"
"$TC" --cfs-whiteouts "$W/src" "$W/m" || fail "tryverity mount differs"
if findmnt -n -o OPTIONS "$W/m" | grep -q verity=; then how="verity requested"; else how="no fs-verity on basedir: verity not requested"; fi
umount "$W/m"
ok "tryverity: data readable ($how)"

cfs_mount "$W/img.cfs" "$W/m" "basedir=$W/store,verity"
findmnt -n -o OPTIONS "$W/m" | grep -q 'verity=require' || fail "verity option not passed"
umount "$W/m"
ok "verity: overlay mounted with verity=require"

# ---- mount flags, idmap ----------------------------------------------------
cfs_mount "$W/img.cfs" "$W/m" "basedir=$W/store,nosuid,nodev,noexec,noatime"
opts=$(findmnt -n -o OPTIONS "$W/m")
for f in nosuid nodev noexec noatime; do
	echo "$opts" | grep -q "\\b$f\\b" || fail "$f missing from $opts"
done
umount "$W/m"
ok "nosuid,nodev,noexec,noatime applied"

unshare --user sleep 60 &
nspid=$!
cleanup_hooks+=("kill $nspid")
sleep 0.3
echo "0 100000 65536" >"/proc/$nspid/uid_map"
echo "0 100000 65536" >"/proc/$nspid/gid_map"
cfs_mount "$W/img.cfs" "$W/m" "basedir=$W/store,idmap=/proc/$nspid/ns/user"
want=$(($(stat -c %u "$W/src/$rel") + 100000))
[ "$(stat -c %u "$W/m/$rel")" = "$want" ] || fail "idmap: uid $(stat -c %u "$W/m/$rel"), expected $want"
cmp -s "$W/m/$rel" "$big" || fail "idmap mount content"
umount "$W/m"
ok "idmap: owners shifted by the user namespace mapping"

# ---- -f (fake) and -N (another mount namespace) ------------------------------
"$MOUNT" -f -o "basedir=$W/store" "$W/img.cfs" "$W/m" || fail "-f"
mountpoint -q "$W/m" && fail "-f mounted something"
unshare -m --propagation private sleep 60 &
mntns_pid=$!
cleanup_hooks+=("kill $mntns_pid")
sleep 0.3
"$MOUNT" -N "$mntns_pid" -o "basedir=$W/store" "$W/img.cfs" "$W/m" || fail "-N PID"
mountpoint -q "$W/m" && fail "-N: mounted in our namespace"
nsenter -t "$mntns_pid" -m cat "$W/m/$rel" | cmp -s - "$big" || fail "-N: not mounted in the target namespace"
ok "-f checks without mounting; -N mounts in the given mount namespace only"

# ---- as mount(8)'s helper --------------------------------------------------
helper=/sbin/mount.composefs
if [ -e "$helper" ] || [ -L "$helper" ]; then
	mv "$helper" "$helper.cfs-test-saved"
	cleanup_hooks+=("rm -f $helper; mv $helper.cfs-test-saved $helper")
else
	cleanup_hooks+=("rm -f $helper")
fi
ln -s "$MOUNT" "$helper"
track "$W/m"
mount -t composefs "$W/img.cfs" "$W/m" -o "basedir=$W/store,nosuid" || fail "mount -t composefs"
"$TC" --cfs-whiteouts "$W/src" "$W/m" || fail "mount -t composefs: tree differs"
findmnt -n -o OPTIONS "$W/m" | grep -q nosuid || fail "mount -t composefs: nosuid lost"
umount "$W/m"
mount -r -v -n -t composefs -o "basedir=$W/store" "$W/img.cfs" "$W/m" >/dev/null 2>&1 || fail "mount -r -v -n"
umount "$W/m"
rc=0
mount -t composefs -o "basedir=$W/store,bogus" "$W/img.cfs" "$W/m" 2>"$W/err" || rc=$?
[ "$rc" != 0 ] && grep -q 'unknown option "bogus"' "$W/err" || fail "mount -t composefs with a bad option: rc $rc"
mount -s -t composefs -o "basedir=$W/store,bogus" "$W/img.cfs" "$W/m" || fail "mount -s (sloppy) should ignore unknown options"
umount "$W/m"
rm -f "$helper"
ok "mount -t composefs through /sbin/mount.composefs (flags -r -v -n -s, options, errors)"

# every overlay above was created with its EROFS layer as the first thing tried: no attempt
# the kernel refused and logged on the way (lib/mount/overlay.c, add_lower())
if kmsg_since | grep 'overlayfs: failed to clone lowerpath' >&2; then
	fail "the kernel logged a refused overlay layer during the mounts above"
fi
ok "no overlay layer refused on the way (kernel log)"
