#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# The installed layout works: `meson install` into a DESTDIR puts mount.composefs where
# mount(8) looks (`mount -t composefs` runs it), man pages in their sections, and the
# installed programs find each other without any build-tree path.
set -eu -o pipefail

B=${CFS_BUILDDIR:?CFS_BUILDDIR must point at the build directory}
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
ok() {
	echo "ok: $*"
}
[ "$(id -u)" = 0 ] || fail "the mount checks need root"
command -v python3 >/dev/null || fail "python3 (meson's interpreter) not found"

W=$(mktemp -d "${TMPDIR:-/tmp}/cfs-install-test.XXXXXX")
MNTS=()
cleanup() {
	local m
	for m in "${MNTS[@]}"; do
		mountpoint -q "$m" 2>/dev/null && umount "$m" 2>/dev/null
		mountpoint -q "$m" 2>/dev/null && umount -l "$m" 2>/dev/null
	done
	rm -rf "$W"
}
trap cleanup EXIT
D=$W/dest

# the configured directories, as meson reports them
opt() {
	meson introspect "$B" --buildoptions |
		python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == sys.argv[1]))' "$1"
}
prefix=$(opt prefix)
bindir=$prefix/$(opt bindir)
mandir=$prefix/$(opt mandir)
helperdir=$(opt mount_helper_dir)
case $helperdir in /*) ;; *) helperdir=$prefix/$helperdir ;; esac

meson install -C "$B" --destdir "$D" --no-rebuild --quiet >"$W/install.log" 2>&1 ||
	{ cat "$W/install.log" >&2; fail "meson install"; }

for p in mkcomposefs composefs-info composefs-dump composefs composefs-fuse; do
	[ -x "$D$bindir/$p" ] || fail "$p not installed in $bindir"
done
[ -x "$D$helperdir/mount.composefs" ] || fail "mount.composefs not installed in $helperdir"
[ "$helperdir" = /sbin ] || [ "$helperdir" = /usr/sbin ] ||
	echo "note: mount_helper_dir=$helperdir is not where mount(8) looks (/sbin)"
for m in man1/mkcomposefs.1 man1/composefs-info.1 man1/composefs-dump.1 man1/composefs-fuse.1 \
	man1/composefs.1 man5/composefs-dump.5 man8/mount.composefs.8; do
	[ -s "$D$mandir/$m" ] || fail "man page $m not installed in $mandir"
	man -l "$D$mandir/$m" >/dev/null 2>&1 || [ ! -x "$(command -v man)" ] || fail "man page $m does not render"
done
compdir=$(find "$D" -path '*/bash-completion/completions' -type d | head -n1)
[ -n "$compdir" ] && [ -s "$compdir/composefs" ] || fail "bash completion not installed"
for p in mkcomposefs composefs-info composefs-dump mount.composefs composefs-fuse; do
	[ "$(readlink -f "$compdir/$p")" = "$(readlink -f "$compdir/composefs")" ] || fail "no bash completion for $p"
done
ok "programs in $bindir, mount.composefs in $helperdir, man pages in sections 1, 5 and 8, bash completions"

# no installed program refers to the build tree (debug info aside: it names the compile dir)
for f in "$D$bindir"/* "$D$helperdir/mount.composefs"; do
	objcopy --strip-debug "$f" "$W/stripped"
	if grep -qaF "$B" "$W/stripped"; then
		fail "$(basename "$f") mentions the build tree $B: $(grep -aoF "$B" "$W/stripped" | head -n1)"
	fi
	grep -qaF "$(cd "$B/.." && pwd)" "$W/stripped" && fail "$(basename "$f") mentions the source tree"
done
ok "no build-tree or source-tree path in the installed programs"

# ---- the installed programs at work ------------------------------------------------------
mkdir -p "$W/src/d" "$W/m" "$W/f"
printf 'installed\n' >"$W/src/d/file"
head -c 100000 /dev/urandom >"$W/src/big"
R=$W/repo
run() { # an installed program, with nothing of the build tree in its environment
	env -u COMPOSEFS_FUSE -u CFS_BUILDDIR PATH=/usr/sbin:/usr/bin:/sbin:/bin "$D$bindir/$@"
}
run composefs --repo "$R" init >/dev/null
digest=$(run composefs --repo "$R" create-image "$W/src" sample)
[ ${#digest} = 64 ] || fail "create-image printed '$digest'"

# composefs mount --fuse runs the composefs-fuse installed beside it
MNTS+=("$W/f")
run composefs --repo "$R" mount sample "$W/f" --fuse || fail "installed composefs mount --fuse"
findmnt -n -o FSTYPE "$W/f" | grep -q '^fuse' || fail "not a FUSE mount"
cmp "$W/src/big" "$W/f/big" || fail "FUSE mount: content differs"
daemon=""
for p in $(pgrep -x composefs-fuse); do
	exe=$(readlink "/proc/$p/exe" || true)
	[ "$exe" = "$D$bindir/composefs-fuse" ] && daemon=$exe
done
[ -n "$daemon" ] || fail "the FUSE daemon is not the installed composefs-fuse"
umount "$W/f"
ok "installed composefs mount --fuse runs the installed composefs-fuse"

# mount -t composefs finds the installed helper: in a private mount namespace, the helper
# directory is overlaid with DESTDIR's copy (the host's /sbin is left alone)
target=$(readlink -f "$helperdir")
MNTS+=("$W/m")
unshare -m --propagation private sh -euc '
	mount -t overlay cfs-install -o "lowerdir=$1:$2" "$2"
	mount -t composefs -o "basedir=$3/objects" "$3/images/$4" "$5"
	cmp "$6/big" "$5/big"
	grep -qx installed "$5/d/file"
	findmnt -n -o FSTYPE,SOURCE "$5" | grep -q "^overlay *composefs$"
	umount "$5"' sh "$D$helperdir" "$target" "$R" "$digest" "$W/m" "$W/src" ||
	fail "mount -t composefs with the installed helper"
ok "mount -t composefs runs the installed mount.composefs"
