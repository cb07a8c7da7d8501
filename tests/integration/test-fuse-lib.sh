# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Shared helpers of the composefs-fuse tests (sourced, not a test by itself).
# shellcheck shell=bash

set -euo pipefail
# shellcheck source=sanitizer-lib.sh
. "$(dirname "$0")/sanitizer-lib.sh"

: "${CFS_BUILDDIR:?CFS_BUILDDIR must point at the build directory}"
MKCFS=$CFS_BUILDDIR/tools/mkcomposefs/mkcomposefs
FUSE=$CFS_BUILDDIR/tools/composefs-fuse/composefs-fuse

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

[ -x "$FUSE" ] || skip "composefs-fuse was not built (libfuse3 missing)"
[ -x "$MKCFS" ] || fail "mkcomposefs not built: $MKCFS"
[ "$(id -u)" = 0 ] || skip "needs root for the kernel mount it compares against"
[ -e /dev/fuse ] || fail "/dev/fuse missing"

W=$(mktemp -d "${TMPDIR:-/tmp}/cfs-fuse-test.XXXXXX")
chmod 755 "$W"
MOUNTS=()
declare -A FUSE_PID=() FUSE_LOG=()

cleanup() {
	local i
	# a test that opened /dev/fuse to users puts its mode back
	[ -z "${FUSE_DEV_MODE:-}" ] || chmod "$FUSE_DEV_MODE" /dev/fuse
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
		# the mount table, not stat(): root may not stat another user's FUSE mount
		if grep -q " ${MOUNTS[i]} " /proc/self/mounts; then
			fusermount3 -u "${MOUNTS[i]}" 2>/dev/null || umount "${MOUNTS[i]}" 2>/dev/null ||
				umount -l "${MOUNTS[i]}" 2>/dev/null || true
		fi
	done
	for i in "${FUSE_PID[@]}"; do
		kill "$i" 2>/dev/null || true
	done
	rm -rf "$W" "${USER_BIN:-}"
}
trap cleanup EXIT
# a timeout's SIGTERM runs the cleanup too
trap 'exit 1' TERM INT

# fuse_mount DIR LOG OPTIONS [EXTRA ARGS...]: run the daemon in the foreground
# (backgrounded here, stderr to LOG) and wait until DIR is mounted.
fuse_mount() {
	local dir=$1 log=$2 opts=$3 pid i
	shift 3
	mkdir -p "$dir"
	"$FUSE" -f -o "$opts" "$@" "$dir" 2>"$log" &
	pid=$!
	MOUNTS+=("$dir")
	FUSE_PID[$dir]=$pid
	FUSE_LOG[$dir]=$log
	for ((i = 0; i < 200; i++)); do
		mountpoint -q "$dir" && return 0
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	cat "$log" >&2
	fail "composefs-fuse did not mount $dir ($opts)"
}

# fuse_umount DIR: unmount and check that the daemon exits with status 0.
fuse_umount() {
	local dir=$1 pid=${FUSE_PID[$1]} rc=0
	fusermount3 -u "$dir" 2>/dev/null || umount "$dir"
	wait "$pid" || rc=$?
	unset "FUSE_PID[$dir]"
	[ "$rc" = 0 ] || { tail -n 30 "${FUSE_LOG[$dir]:-/dev/null}" >&2; fail "composefs-fuse on $dir exited with status $rc"; }
	! sanitizer_report "${FUSE_LOG[$dir]:-/dev/null}" "$rc" || { cat "${FUSE_LOG[$dir]}" >&2; fail "composefs-fuse on $dir: sanitizer report"; }
}

# kernel_mount IMAGE OBJECTS DIR: the reference view, EROFS + overlayfs by hand.
kernel_mount() {
	local img=$1 objs=$2 dir=$3
	mkdir -p "$dir.erofs" "$dir"
	mount -t erofs -o ro,loop "$img" "$dir.erofs"
	MOUNTS+=("$dir.erofs")
	mount -t overlay overlay -o "ro,lowerdir=$dir.erofs::$objs,redirect_dir=on,metacopy=on" "$dir"
	MOUNTS+=("$dir")
}

kernel_umount() {
	umount "$1"
	umount "$1.erofs"
}

# listing DIR: every attribute a client can see, one line per file, sorted:
# type, mode, owner, nlink, size, mtime (ns), inode, link target, device
# numbers, all xattrs (hex) and a content hash.
listing() {
	(
		cd "$1"
		find . -printf '%p|%y|%m|%U|%G|%n|%s|%T@|%i|%l\n' | LC_ALL=C sort
		find . \( -type c -o -type b \) -exec stat -c '%n|%t:%T' {} + | LC_ALL=C sort
		find . -print0 | LC_ALL=C sort -z | xargs -0 getfattr -h -d -m - -e hex 2>&1
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum
	)
}

# rand_file PATH SIZE: SIZE pseudo-random bytes.
rand_file() {
	head -c "$2" /dev/urandom >"$1"
}

# mk_tree DIR: a tree with every file type, odd sizes, names, modes, xattrs,
# ACLs, hardlinks, a sparse file, a whiteout and a large directory.
mk_tree() {
	local d=$1 i
	mkdir -p "$d/dir/sub/deeper" "$d/empty-dir" "$d/big-dir" "$d/wh-dir"
	printf 'hello\n' >"$d/small"
	: >"$d/empty"
	for i in 1 4095 4096 4097 8191 65536 100000; do rand_file "$d/dir/size-$i" $i; done
	rand_file "$d/large1" $((3 * 1024 * 1024 + 123))
	rand_file "$d/large2" $((2 * 1024 * 1024 + 7))
	rand_file "$d/large3" $((1024 * 1024 + 4096))
	rand_file "$d/dir/sub/deeper/file" 12345
	truncate -s 20M "$d/sparse"
	printf 'in the middle' | dd of="$d/sparse" bs=1 seek=$((10 * 1024 * 1024 + 5)) conv=notrunc status=none
	ln -s small "$d/link"
	ln -s /nonexistent/absolute/target "$d/dangling"
	ln -s "$(printf 'x%.0s' $(seq 1 1000))" "$d/long-link"
	ln "$d/small" "$d/dir/hardlink-small"
	ln "$d/dir/size-100000" "$d/hardlink-100000"
	ln "$d/dir/size-100000" "$d/dir/sub/hardlink-100000"
	mknod "$d/cdev" c 1 3
	mknod "$d/bdev" b 7 0
	mkfifo "$d/fifo"
	python3 -c 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$d/socket" 2>/dev/null || true
	mknod "$d/wh-dir/whiteout" c 0 0
	printf 'visible\n' >"$d/wh-dir/other"
	printf 'spaces\n' >"$d/dir/with space"
	printf 'utf8\n' >"$d/dir/ünïcødé"
	printf 'long\n' >"$d/dir/$(printf 'n%.0s' $(seq 1 255))"
	for i in $(seq 1 400); do : >"$d/big-dir/entry-$i"; done
	chmod 4755 "$d/dir/size-1"
	chmod 0000 "$d/dir/size-4095"
	chmod 1777 "$d/empty-dir"
	chown 1234:5678 "$d/dir/size-4096"
	touch -h -d '2001-02-03 04:05:06.123456789' "$d/dir/size-4097" "$d/link"
	setfattr -n user.plain -v value "$d/small"
	setfattr -n user.bin -v 0x00ff00 "$d/dir/size-1"
	setfattr -n trusted.secret -v t "$d/dir/size-1" 2>/dev/null || true
	setfattr -n trusted.overlay.custom -v escaped "$d/dir" 2>/dev/null || true
	setfattr -n security.test -v s "$d/large1" 2>/dev/null || true
	setfattr -n user.on-dir -v d "$d/dir/sub"
	setfattr -h -n trusted.on-link -v l "$d/link" 2>/dev/null || true
	setfacl -m u:4321:r "$d/dir/size-8191" 2>/dev/null || true
	setfacl -d -m g:4321:rx "$d/dir/sub" 2>/dev/null || true
	printf 'secret\n' >"$d/acl-denied"
	setfacl -m u:65534:--- "$d/acl-denied" 2>/dev/null || true
}
