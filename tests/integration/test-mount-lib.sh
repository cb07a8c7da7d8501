#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Shared setup of the mount.composefs tests: tools, a scratch directory, cleanup of mounts.
set -eu -o pipefail

B=${CFS_BUILDDIR:?CFS_BUILDDIR must point at the build directory}
MKCFS=$B/tools/mkcomposefs/mkcomposefs
MOUNT=$B/tools/mount.composefs/mount.composefs
TC=$B/tests/tools/tree-compare
GEN=$B/tests/tools/gen-tree
VDIGEST=$B/tests/tools/verity-digest

fail() {
	echo "FAIL: $*" >&2
	exit 1
}
ok() {
	echo "ok: $*"
}

if [ "$(id -u)" != 0 ]; then
	echo "SKIP: kernel mounts need root"
	exit 77
fi
for t in "$MKCFS" "$MOUNT" "$TC" "$GEN" "$VDIGEST"; do
	[ -x "$t" ] || fail "$t not built"
done

W=$(mktemp -d "${TMPDIR:-/tmp}/cfs-mount-test.XXXXXX")
MOUNTS=()
cleanup_hooks=()
cleanup() {
	local i m
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
		m=${MOUNTS[i]}
		mountpoint -q "$m" 2>/dev/null && umount "$m" 2>/dev/null || true
		mountpoint -q "$m" 2>/dev/null && umount -l "$m" 2>/dev/null || true
	done
	for h in "${cleanup_hooks[@]}"; do
		eval "$h" || true
	done
	rm -rf "$W"
}
trap cleanup EXIT

# remember a mount point so that a failing test still unmounts it
track() {
	MOUNTS+=("$1")
}

# cfs_mount IMAGE MNT OPTIONS: mount with our helper, failing the test on error
cfs_mount() {
	mkdir -p "$2"
	track "$2"
	"$MOUNT" -o "$3" "$1" "$2" || fail "mount.composefs -o $3 $1 $2"
}

# expect_fail EXIT_CODE PATTERN CMD...: CMD must exit with EXIT_CODE and print PATTERN on stderr
expect_fail() {
	local want=$1 pat=$2 rc=0
	shift 2
	"$@" 2>"$W/stderr" || rc=$?
	[ "$rc" = "$want" ] || fail "'$*' exited $rc, expected $want; stderr: $(cat "$W/stderr")"
	grep -q -- "$pat" "$W/stderr" || fail "'$*': stderr lacks '$pat': $(cat "$W/stderr")"
}

# fs-verity sha256 digest (hex) of a file
vdigest() {
	"$VDIGEST" "$1" | sed 's/^sha256://; s/ .*//'
}

# kmsg_mark, then kmsg_since: the kernel log lines written after the mark (by anyone: the
# log is the machine's, so look for specific messages only). Root reads it, so a failure is
# one of the test.
kmsg_mark() {
	local last
	last=$(dmesg) || fail "cannot read the kernel log (dmesg)"
	KMSG_MARK=$(printf '%s\n' "$last" | tail -n 1 | sed -n 's/^\[ *\([0-9.]*\)\].*/\1/p')
	[ -n "$KMSG_MARK" ] || fail "kernel log: no [seconds] timestamp on its last line: $(printf '%s\n' "$last" | tail -n 1)"
}
kmsg_since() {
	dmesg | awk -v m="${KMSG_MARK:-0}" '{ t = $0; sub(/^\[ */, "", t); sub(/\].*/, "", t); if (t + 0 > m + 0) print }'
}

# the object file backing a (non-inline) file of a source tree in STORE
object_of() {
	local d
	d=$(vdigest "$1")
	echo "$2/${d:0:2}/${d:2}"
}

# gen_tree SEED DIR [COUNT]: the project's seeded random tree, with whiteouts
gen_tree() {
	"$GEN" --whiteouts "$1" "$2" "${3:-400}" >/dev/null || fail "gen-tree $1 $2"
}
