#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# composefs-fuse shows exactly what the kernel (EROFS + overlayfs) mount shows, and reads right.
# shellcheck source=test-fuse-lib.sh
. "$(dirname "$0")/test-fuse-lib.sh"

"$FUSE" --help | grep -q 'source=IMAGE' || fail "--help"
"$FUSE" --version >/dev/null || fail "--version"
rc=0; "$FUSE" "$W" 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "missing source= should be a usage error (2), got $rc"
rc=0; "$FUSE" -o source=/nonexistent,basedir=/ "$W" 2>"$W/err" || rc=$?
[ "$rc" = 1 ] && grep -q nonexistent "$W/err" || fail "missing image: exit $rc, $(cat "$W/err")"
rc=0; "$FUSE" -o source=/dev/null,basedir=/,verity=sometimes "$W" 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "bad verity= should be a usage error (2), got $rc"
rc=0; "$FUSE" -o source=/dev/null,basedir=/,readahead_kb=lots "$W" 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "bad readahead_kb= should be a usage error (2), got $rc"
ok "options and exit codes"

mk_tree "$W/src"
"$MKCFS" --digest-store="$W/objs" "$W/src" "$W/img.cfs"
trees=("$W/src")

# The project's seeded random trees (tests/tools), compared with their source too.
GEN=$CFS_BUILDDIR/tests/tools/gen-tree
CMP=$CFS_BUILDDIR/tests/tools/tree-compare
[ -x "$GEN" ] && [ -x "$CMP" ] || fail "tests/tools/gen-tree and tree-compare must be built"

compare_image() {
	local img=$1 objs=$2 name=$3
	kernel_mount "$img" "$objs" "$W/k-$name"
	fuse_mount "$W/f-$name" "$W/log-$name" "source=$img,basedir=$objs,allow_other"
	listing "$W/k-$name" >"$W/k-$name.list"
	listing "$W/f-$name" >"$W/f-$name.list"
	diff -u "$W/k-$name.list" "$W/f-$name.list" >&2 ||
		fail "$name: FUSE mount differs from the kernel mount"
	ok "$name: $(grep -c '|' "$W/k-$name.list") entries identical to the kernel mount (attributes, inode numbers, xattrs, contents)"
}

compare_image "$W/img.cfs" "$W/objs" main
"$CMP" --cfs-whiteouts --ignore=dir-nlink "$W/src" "$W/f-main" || fail "main: FUSE mount differs from its source tree"
ok "main: tree-compare source vs FUSE mount"
for seed in 4242 777; do
	"$GEN" --whiteouts "$seed" "$W/gen-$seed" 300 >/dev/null
	"$MKCFS" --digest-store="$W/gen-objs" "$W/gen-$seed" "$W/gen-$seed.cfs"
	compare_image "$W/gen-$seed.cfs" "$W/gen-objs" "gen-$seed"
	"$CMP" --cfs-whiteouts "$W/gen-$seed" "$W/f-gen-$seed" || fail "gen-tree $seed: FUSE mount differs from the source"
	ok "gen-tree seed $seed: tree-compare source vs FUSE mount"
	kernel_umount "$W/k-gen-$seed"
	fuse_umount "$W/f-gen-$seed"
done

F=$W/f-main
K=$W/k-main
# Whiteouts: the escaped one is an empty file like on the kernel mount, the
# root's 00..ff whiteouts are hidden.
[ -f "$F/wh-dir/whiteout" ] && [ ! -s "$F/wh-dir/whiteout" ] || fail "escaped whiteout not shown as empty file"
[ ! -e "$F/00" ] && [ ! -e "$F/ff" ] || fail "root whiteouts visible"
# Hardlinks share one inode with the right link count.
[ "$(stat -c %i "$F/hardlink-100000")" = "$(stat -c %i "$F/dir/sub/hardlink-100000")" ] || fail "hardlink inode"
[ "$(stat -c %h "$F/hardlink-100000")" = 3 ] || fail "hardlink nlink"
ok "whiteouts and hardlinks"

# Permissions are the kernel's, ACLs included, for other users too (allow_other).
if getfacl -n -c "$W/src/acl-denied" 2>/dev/null | grep -q 'user:65534:---'; then
	asnobody() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
	asnobody cat "$K/small" >/dev/null || fail "kernel mount: nobody cannot read small"
	asnobody cat "$F/small" >/dev/null || fail "FUSE: nobody cannot read small"
	if asnobody cat "$K/acl-denied" >/dev/null 2>&1; then fail "kernel mount ignores the ACL"; fi
	if asnobody cat "$F/acl-denied" >/dev/null 2>&1; then fail "FUSE ignores the ACL"; fi
	if asnobody cat "$F/dir/size-4095" >/dev/null 2>&1; then fail "FUSE ignores mode 0000"; fi
	ok "permissions and ACLs enforced like the kernel mount"
else
	echo "note: $W/src does not keep ACLs; ACL enforcement not checked"
fi

# Reads at odd offsets and lengths, against the source.
for spec in 0:1 1:4095 4095:2 4096:4096 12345:100000 $((3 * 1024 * 1024)):1000 $((3 * 1024 * 1024 + 120)):10; do
	off=${spec%%:*} len=${spec##*:}
	a=$(dd if="$W/src/large1" iflag=skip_bytes,count_bytes skip="$off" count="$len" status=none | sha256sum)
	b=$(dd if="$F/large1" iflag=skip_bytes,count_bytes skip="$off" count="$len" status=none | sha256sum)
	[ "$a" = "$b" ] || fail "read $len bytes at $off"
done
b=$(dd if="$F/sparse" iflag=skip_bytes,count_bytes skip=$((10 * 1024 * 1024)) count=64 status=none | tr -d '\0')
[ "$b" = "in the middle" ] || fail "sparse file read: '$b'"
[ -z "$(dd if="$F/large3" iflag=skip_bytes skip=$((2 * 1024 * 1024)) status=none)" ] || fail "read past EOF"
ok "reads at odd offsets, past EOF, sparse file"

# The read-ahead window: 4096 KiB by default (set by the daemon as root), the
# kernel's own with readahead_kb=0, and reads still right with both.
ra=$(cat "/sys/class/bdi/$(mountpoint -d "$F")/read_ahead_kb")
[ "$ra" = 4096 ] || fail "default read-ahead window: $ra KiB"
fuse_mount "$W/f-ra" "$W/log-ra" "source=$W/img.cfs,basedir=$W/objs,readahead_kb=0"
ra0=$(cat "/sys/class/bdi/$(mountpoint -d "$W/f-ra")/read_ahead_kb")
[ "$ra0" != 4096 ] || fail "readahead_kb=0 still set 4096 KiB"
cmp "$W/src/large1" "$W/f-ra/large1" || fail "read with the kernel's read-ahead window"
fuse_umount "$W/f-ra"
ok "read-ahead window $ra KiB by default, $ra0 KiB with readahead_kb=0"

# Concurrent readers of the same and different files, on a fresh mount: each
# object's Merkle tree is built exactly once however many open it at once.
fuse_mount "$W/f-conc" "$W/log-conc" "source=$W/img.cfs,basedir=$W/objs,stats"
echo 3 >/proc/sys/vm/drop_caches
want=$(sha256sum <"$W/src/large1")
pids=()
for i in 1 2 3 4 5 6; do
	(for f in large1 large2 large3 dir/size-100000; do cat "$W/f-conc/$f" >/dev/null; done
	 [ "$(sha256sum <"$W/f-conc/large1")" = "$want" ]) &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || fail "concurrent reader"; done
fuse_umount "$W/f-conc"
grep -q 'trees built 4,' "$W/log-conc" || fail "concurrent opens: $(cat "$W/log-conc")"
ok "6 concurrent readers, one tree per object ($(tail -n1 "$W/log-conc"))"

# Readdir without plus (seekdir/telldir style continuation) sees every entry once.
n=$(ls -f "$F/big-dir" | wc -l)
[ "$n" = 402 ] || fail "big-dir lists $n entries, want 402"
ok "large directory"

# statfs and read-only behaviour.
stat -f "$F" >/dev/null || fail "statfs"
if : 2>/dev/null >"$F/small"; then fail "write succeeded"; fi
ok "statfs, read-only"

# An image without SELinux labels is a file system without label support:
# getxattr(security.selinux) answers "not supported", as it does for ACLs in an
# image without ACLs, and `ls -l` stops asking for every file. Directories are
# opened by the kernel alone. So a cold `ls -lR` costs no per-file round trip.
err=$(getfattr -n security.selinux "$F/small" 2>&1) && fail "security.selinux on an unlabelled image: $err"
case $err in *"Operation not supported"*) ;; *) fail "unlabelled image, security.selinux: $err" ;; esac
# (a tree without ACLs: with them the kernel must ask for each file's ACL once)
mkdir "$W/noacl"
cp -r "$W/src/dir" "$W/src/link" "$W/src/large1" "$W/noacl/"
# names that spell the label's name are not labels
mkdir "$W/noacl/selinux" && echo x >"$W/noacl/selinux/security.selinux"
"$MKCFS" --digest-store="$W/objs" "$W/noacl" "$W/noacl.cfs"
fuse_mount "$W/f-dbg" "$W/log-dbg" "source=$W/noacl.cfs,basedir=$W/objs" -d
ls -lR "$W/f-dbg" >"$W/ls-dbg"
n_files=$(grep -c '^[-lbcps]' "$W/ls-dbg")
n_dirs=$(grep -c '^d' "$W/ls-dbg")
err=$(getfattr -n security.selinux "$W/f-dbg/selinux/security.selinux" 2>&1) && fail "unlabelled image: $err"
case $err in *"Operation not supported"*) ;; *) fail "unlabelled image with such names, security.selinux: $err" ;; esac
fuse_umount "$W/f-dbg"
for op in OPENDIR RELEASEDIR GETXATTR LOOKUP GETATTR; do
	eval "n_$op=$(grep -c "opcode: $op " "$W/log-dbg" || true)"
done
# shellcheck disable=SC2154
{ [ "$n_OPENDIR" -le 1 ] && [ "$n_RELEASEDIR" = 0 ] && [ "$n_GETXATTR" -le 4 ] &&
	[ "$n_LOOKUP" -le 2 ] && [ "$n_GETATTR" -le 2 ]; } ||
	fail "ls -lR of $n_files files, $n_dirs dirs: $n_OPENDIR OPENDIR, $n_RELEASEDIR RELEASEDIR, $n_GETXATTR GETXATTR, $n_LOOKUP LOOKUP, $n_GETATTR GETATTR"
ok "ls -lR of $n_files files and $n_dirs directories: $n_OPENDIR OPENDIR, $n_GETXATTR GETXATTR, $n_LOOKUP LOOKUP, $n_GETATTR GETATTR requests"
cat >"$W/labels.dump" <<'DUMP'
/ 0 40755 2 0 0 0 0.0 - - -
/labelled 5 100644 1 0 0 0 0.0 - hello - security.selinux=system_u:object_r:usr_t:s0
/plain 5 100644 1 0 0 0 0.0 - hello -
DUMP
"$MKCFS" --from-file "$W/labels.dump" "$W/labels.cfs"
fuse_mount "$W/f-lab" "$W/log-lab" "source=$W/labels.cfs,basedir=$W/objs"
[ "$(getfattr --only-values -n security.selinux "$W/f-lab/labelled")" = system_u:object_r:usr_t:s0 ] ||
	fail "labelled image: security.selinux of a labelled file"
err=$(getfattr -n security.selinux "$W/f-lab/plain" 2>&1) && fail "labelled image, unlabelled file: $err"
case $err in *"No such attribute"*) ;; *) fail "labelled image, unlabelled file: $err" ;; esac
fuse_umount "$W/f-lab"
ok "security.selinux: not supported without labels in the image, exact with them"

kernel_umount "$K"
fuse_umount "$F"
ok "clean unmount, daemon exit 0"

# SIGTERM: the daemon unmounts and exits 0.
fuse_mount "$W/f-term" "$W/log-term" "source=$W/img.cfs,basedir=$W/objs"
pid=${FUSE_PID[$W/f-term]}
cat "$W/f-term/small" >/dev/null
kill -TERM "$pid"
rc=0; wait "$pid" || rc=$?
unset "FUSE_PID[$W/f-term]"
[ "$rc" = 0 ] || fail "SIGTERM: exit status $rc"
! mountpoint -q "$W/f-term" || fail "SIGTERM: still mounted"
ok "SIGTERM: unmounted, exit 0"

# Multithreaded default and -s single-threaded both serve; several basedirs, first hit wins.
mkdir -p "$W/objs-empty" "$W/objs-decoy"
fuse_mount "$W/f-multi" "$W/log-multi" "source=$W/img.cfs,basedir=$W/objs-empty:$W/objs:$W/objs-decoy" -s
cmp "$W/src/large2" "$W/f-multi/large2" || fail "second basedir"
fuse_umount "$W/f-multi"
ok "basedir list, -s"
# Unprivileged mount through fusermount3. Debian's udev rules make /dev/fuse
# 0666; where it is not (containers), it is opened to users for this test and
# its mode put back at exit (test-fuse-lib.sh, cleanup).
command -v fusermount3 >/dev/null || fail "fusermount3 is missing (Debian package fuse3)"
mode=$(stat -c %a /dev/fuse)
if [ "$mode" != 666 ]; then
	FUSE_DEV_MODE=$mode
	chmod 666 /dev/fuse
fi
# shellcheck source=user-lib.sh
. "$(dirname "$0")/user-lib.sh"
asuser() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
U=$W/user
mkdir -p "$U/m"
chmod 755 "$W"
cp "$W/img.cfs" "$U/"
cp -a "$W/objs" "$U/objs"
chown -R 65534:65534 "$U"
asuser env LD_LIBRARY_PATH="$USER_BIN" "$(user_prog "$FUSE")" -o "source=$U/img.cfs,basedir=$U/objs" "$U/m" ||
	fail "unprivileged mount"
MOUNTS+=("$U/m")
asuser cmp "$U/m/large2" "$W/src/large2" || fail "unprivileged read"
[ "$(asuser getfattr --only-values -n user.plain "$U/m/small")" = value ] || fail "unprivileged: user.* xattr"
if asuser getfattr -d -m - "$U/m/dir/size-1" | grep -q trusted.; then fail "trusted.* listed to a user"; fi
ra=$(cat "/sys/class/bdi/$(asuser mountpoint -d "$U/m")/read_ahead_kb")
[ "$ra" != 4096 ] || fail "an unprivileged daemon changed the read-ahead window"
grep -q " $U/m fuse.composefs .*user_id=65534" /proc/self/mounts || fail "not mounted as the user: $(grep "$U/m" /proc/self/mounts)"
asuser fusermount3 -u "$U/m" || fail "unprivileged unmount"
ok "unprivileged mount via fusermount3 (user 65534): reads, user.* xattrs, no trusted.*, kernel read-ahead ($ra KiB)"
echo "PASS"
