#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Directory -> mkcomposefs -> image: the image's dump must describe the source exactly,
# the object store must hold every file under its fs-verity digest, fsck.erofs must pass.
set -euo pipefail
export LC_ALL=C

B=${CFS_BUILDDIR:?CFS_BUILDDIR not set}
MK=$B/tools/mkcomposefs/mkcomposefs
INFO=${CFS_COMPOSEFS_INFO:-$B/tools/composefs-info/composefs-info}
GEN=$B/tests/tools/gen-tree
D2D=$B/tests/tools/dir2dump

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }
[ "$(id -u)" = 0 ] || skip "needs root (device nodes, chown, trusted.* xattrs)"
[ -x "$INFO" ] || skip "composefs-info is not built ($INFO)"
for x in "$MK" "$GEN" "$D2D"; do [ -x "$x" ] || fail "missing $x"; done

if command -v fsverity >/dev/null; then
	VERITY="fsverity digest"
else
	echo "note: fsverity (package fsverity) not installed; using our verity-digest helper"
	VERITY="$B/tests/tools/verity-digest"
fi
HAVE_FSCK=1
command -v fsck.erofs >/dev/null || { HAVE_FSCK=0; echo "note: fsck.erofs not installed; that check is skipped"; }

T=$(mktemp -d /tmp/cfs-roundtrip.XXXXXX)
# shellcheck source=user-lib.sh
. "$(dirname "$0")/user-lib.sh"
[ -n "${KEEP_TMP:-}" ] || trap 'rm -rf "$T" "$USER_BIN"' EXIT

# Canonical form of a dump for comparison: directory sizes (layout-specific) become "-";
# every name of a hard-linked inode carries the inode's full line plus "grp=" and the
# smallest of its paths, so the result does not depend on which name a printer calls primary;
# xattrs are sorted.
normalize() {
	awk '
	{ n++; line[n] = $0; idx[$1] = n
	  if (substr($3, 1, 1) == "@") { tgt[n] = $9; member[$9] = 1 } }
	END {
		for (i = 1; i <= n; i++) {
			split(line[i], f, " ")
			if (i in tgt) { t = tgt[i]; if (!(t in minp) || f[1] < minp[t]) minp[t] = f[1] }
		}
		for (p in member) if (!(p in minp) || p < minp[p]) minp[p] = p
		for (i = 1; i <= n; i++) {
			nf = split(line[i], f, " ")
			grp = ""
			if (i in tgt) {
				t = tgt[i]; grp = minp[t]
				if (!(t in idx)) { print "UNRESOLVED-LINK " line[i]; continue }
				nf = split(line[idx[t]], g, " "); g[1] = f[1]
				for (k = 1; k <= nf; k++) f[k] = g[k]
			} else if (f[1] in member) {
				grp = minp[f[1]]
			}
			# xattrs (fields 12..) in name order: their order in an image is not meaningful
			for (a = 13; a <= nf; a++) {
				x = f[a]
				for (b = a - 1; b >= 12 && f[b] > x; b--) f[b + 1] = f[b]
				f[b + 1] = x
			}
			sub(/^@/, "", f[3])
			if (length(f[3]) == 5 && substr(f[3], 1, 1) == "4") f[2] = "-"
			out = f[1]
			for (k = 2; k <= nf; k++) out = out " " f[k]
			if (grp != "") out = out " grp=" grp
			print out
		}
	}' "$1"
}

# check_store STORE SRC EXPECTED_COUNT: names are digests, nothing else in there
check_store() {
	local store=$1 want=$2 have
	if [ -n "$(find "$store" -name '.tmp*' -print -quit)" ]; then
		fail "temporary files left in $store"
	fi
	have=$(find "$store" -type f | wc -l)
	[ "$have" = "$want" ] || fail "$store holds $have objects, expected $want"
	if [ "$have" -gt 0 ]; then
		(cd "$store" && find . -type f -printf '%P\0' | xargs -0 $VERITY) |
		while read -r d name; do
			hex=${d#sha256:}
			[ "${name%%/*}${name#*/}" = "$hex" ] || fail "object $name has digest $hex"
			# shellcheck disable=SC2016
			mode=$(stat -c %a "$store/$name")
			[ "$mode" = 644 ] || fail "object $name has mode $mode"
		done
	fi
	echo "ok: $store: $have objects named by their fs-verity digest"
}

# roundtrip NAME SEED COUNT "MKCOMPOSEFS OPTIONS" "DIR2DUMP OPTIONS" [store]
roundtrip() {
	local name=$1 seed=$2 count=$3 mkopts=$4 d2dopts=$5 use_store=${6:-}
	local src=$T/$name.src img=$T/$name.img store=$T/$name.store n
	"$GEN" "$seed" "$src" "$count" >/dev/null
	if [ -n "$use_store" ]; then
		# shellcheck disable=SC2086
		"$MK" $mkopts --digest-store="$store" "$src" "$img"
	else
		# shellcheck disable=SC2086
		"$MK" $mkopts "$src" "$img"
	fi
	"$INFO" dump "$img" > "$T/$name.got"
	if [ -n "$use_store" ]; then
		# shellcheck disable=SC2086
		"$D2D" $d2dopts --check-store="$store" "$src" > "$T/$name.want" 2> "$T/$name.d2d" ||
			{ cat "$T/$name.d2d"; fail "$name: store content differs from the source"; }
		n=$(tail -n 1 "$T/$name.d2d")
		check_store "$store" "$n"
	else
		# shellcheck disable=SC2086
		"$D2D" $d2dopts "$src" > "$T/$name.want"
	fi
	normalize "$T/$name.got" > "$T/$name.got.n"
	normalize "$T/$name.want" > "$T/$name.want.n"
	if ! diff -u "$T/$name.want.n" "$T/$name.got.n" > "$T/$name.diff"; then
		head -c 4000 "$T/$name.diff"
		fail "$name: composefs-info dump of the image differs from the source tree"
	fi
	grep -q ' grp=' "$T/$name.got.n" || [ "$count" -lt 50 ] ||
		fail "$name: expected some hard links in the tree"
	echo "ok: $name: image describes the source ($(wc -l < "$T/$name.got") entries)"
	if [ "$HAVE_FSCK" = 1 ]; then
		fsck.erofs "$img" > "$T/$name.fsck" 2>&1 || { cat "$T/$name.fsck"; fail "$name: fsck.erofs"; }
		echo "ok: $name: fsck.erofs passes"
	fi
}

roundtrip full 1 300 "" "" store
roundtrip flags 2 250 "--use-epoch --skip-devices --user-xattrs" \
	"--use-epoch --skip-devices --user-xattrs"
roundtrip noxattr 3 150 "--skip-xattrs --threads=1" "--skip-xattrs" store
# More than 4096 objects (4305): the build publishes a batch of them while it goes on; and
# hundreds of files of 64 KiB to 1 MiB + 1, staged with O_DIRECT (a partial last block too)
roundtrip many 4 12000 "" "" store

# Same source again into the same store: nothing new, identical image whatever the threads.
before=$(find "$T/full.store" -type f | wc -l)
"$MK" --threads=1 --digest-store="$T/full.store" "$T/full.src" "$T/again.img"
cmp "$T/full.img" "$T/again.img" || fail "rebuilding with --threads=1 gives a different image"
after=$(find "$T/full.store" -type f | wc -l)
[ "$before" = "$after" ] || fail "store grew from $before to $after objects on a rebuild"
echo "ok: rebuild is byte-identical and adds no objects"

# --print-digest agrees with an independent fs-verity digest of the image.
got=$("$MK" --print-digest "$T/full.src" "$T/digest.img")
want=$($VERITY "$T/digest.img" | cut -d' ' -f1)
[ "sha256:$got" = "$want" ] || fail "--print-digest $got, image digest $want"
only=$("$MK" --print-digest-only "$T/full.src")
[ "$only" = "$got" ] || fail "--print-digest-only $only differs from --print-digest $got"
echo "ok: --print-digest matches the image's fs-verity digest"

# An unreadable file fails the build with its name and leaves no image.
mkdir "$T/bad"
echo "some content that is longer than sixty-four bytes, to be hashed and stored..." > "$T/bad/f"
chmod 000 "$T/bad/f"
if setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
	chmod 777 "$T/bad" "$T"
	rc=0
	for i in 1 2 3 4 5 6 7 8; do head -c 5000 /dev/urandom > "$T/bad/g$i"; done
	setpriv --reuid=65534 --regid=65534 --clear-groups env LD_LIBRARY_PATH="$USER_BIN" "$(user_prog "$MK")" --digest-store="$T/bad.store" \
		"$T/bad" "$T/bad.img" 2> "$T/bad.err" || rc=$?
	[ "$rc" = 1 ] || fail "unreadable file: exit code $rc, expected 1"
	grep -q "bad/f: open: " "$T/bad.err" || { cat "$T/bad.err"; fail "error does not name the file"; }
	[ ! -e "$T/bad.img" ] || fail "an image was left behind after an error"
	[ -z "$(find "$T/bad.store" -name '.tmp*')" ] || fail "temporary objects left after an error"
	echo "ok: unreadable file -> exit 1, named, no image, no temporary objects"
fi
echo "PASS"
