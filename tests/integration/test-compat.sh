#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# The library writer reproduces the reference image (sha256) of every compat asset; fsck.erofs
# accepts each image; should-fail inputs are refused; as root the kernel mounts and reads one.
set -euo pipefail
# shellcheck source=sanitizer-lib.sh
. "$(dirname "$0")/sanitizer-lib.sh"

B=${CFS_BUILDDIR:?CFS_BUILDDIR not set}
A=${CFS_COMPAT_ASSETS:?CFS_COMPAT_ASSETS not set}
D2I=$B/tests/tools/dump2img
fail() { echo "FAIL: $*"; exit 1; }

[ -d "$A" ] || { echo "SKIP: compat assets directory $A not found"; exit 77; }
[ -x "$D2I" ] || fail "$D2I not built"
have_fsck=1
command -v fsck.erofs > /dev/null || { echo "note: fsck.erofs not installed, image checks skipped"; have_fsck=0; }

T=$(mktemp -d /tmp/cfs-compat.XXXXXX)
MNT=
cleanup() {
	if [ -n "$MNT" ] && mountpoint -q "$MNT"; then umount "$MNT" || true; fi
	rm -rf "$T"
}
trap cleanup EXIT

n=0
for f in "$A"/*.dump "$A"/*.dump.gz; do
	[ -e "$f" ] || continue
	name=$(basename "$f")
	case $name in should-fail-*) continue ;; esac
	[ -f "$f.sha256" ] || fail "$name: no $name.sha256"
	opts=()
	if [ -f "$f.version" ]; then
		v=$(tr -d '[:space:]' < "$f.version")
		opts+=("--min-version=$v" "--max-version=$v")
	fi
	# the reference's tests build these three outside strict mode
	case $name in
	no-newline.dump | longlink.dump | honggfuzz-longlink-unterminated.dump) opts+=(--no-strict) ;;
	esac
	in=$f
	if [[ $name == *.gz ]]; then
		in=$T/input.dump
		gzip -dc "$f" > "$in"
	fi
	img=$T/$name.img
	"$D2I" "${opts[@]}" "$in" "$img" 2> "$T/err" || { cat "$T/err"; fail "$name: dump2img failed"; }
	! sanitizer_report "$T/err" 0 || { cat "$T/err"; fail "$name: sanitizer report"; }
	got=$(sha256sum < "$img" | cut -d' ' -f1)
	want=$(cut -d' ' -f1 < "$f.sha256")
	[ "$got" = "$want" ] || fail "$name: image sha256 $got, reference $want"
	if [ $have_fsck = 1 ]; then
		fsck.erofs "$img" > "$T/fsck.log" 2>&1 || { cat "$T/fsck.log"; fail "$name: fsck.erofs rejects the image"; }
	fi
	echo "ok $name: identical to the reference (${opts[*]:-defaults})"
	n=$((n + 1))
	rm -f "$T/input.dump"
done
[ "$n" -gt 0 ] || fail "no assets found in $A"

# the digest printed on the way equals the image's fs-verity digest
d1=$("$D2I" --print-digest "$A/special.dump" "$T/special.img")
[ ${#d1} = 64 ] || fail "--print-digest printed '$d1'"
d2=$("$D2I" --print-digest "$A/special.dump" "$T/special2.img")
[ "$d1" = "$d2" ] || fail "digest not deterministic"
cmp -s "$T/special.img" "$T/special2.img" || fail "image not deterministic"
echo "ok digest computed while writing: $d1"

m=0
for f in "$A"/should-fail-*.dump; do
	[ -e "$f" ] || continue
	rc=0
	"$D2I" "$f" "$T/fail.img" 2> "$T/err" || rc=$?
	! sanitizer_report "$T/err" "$rc" || { cat "$T/err"; fail "$(basename "$f"): sanitizer report"; }
	[ "$rc" = 1 ] || fail "$(basename "$f"): exit code $rc, expected 1"
	m=$((m + 1))
done
echo "ok $m should-fail inputs refused"

if [ "$(id -u)" = 0 ]; then
	MNT=$T/mnt
	mkdir "$MNT"
	mount -t erofs -o loop,ro "$T/special.img" "$MNT" || fail "kernel cannot mount the special.dump image"
	[ -c "$MNT/00" ] || fail "root whiteout 00 missing"
	[ "$(stat -c %s "$MNT/inline")" = 15 ] || fail "inline file size"
	printf 'FOOBAR\nINAFILE\n' | cmp -s - "$MNT/inline" || fail "inline file content"
	getfattr -n trusted.overlay.overlay.redirect --only-values "$MNT/escaped-xattr" 2> /dev/null |
		grep -q '^/foo$' || fail "escaped overlay xattr not readable through the kernel"
	getfattr -n user.foo --only-values "$MNT/inline" 2> /dev/null | grep -q '^bar-2$' ||
		fail "xattr user.foo not readable through the kernel"
	find "$MNT" > /dev/null || fail "walking the mounted image"
	umount "$MNT"
	echo "ok kernel mounts and reads the special.dump image"
else
	echo "note: not root, kernel mount check skipped"
fi
echo "PASS ($n assets byte-identical)"
