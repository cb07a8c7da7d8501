#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Directory -> image is byte-identical to the reference mkcomposefs 1.0.8: trees from gen-tree
# (fixed seeds), hashes recorded from the reference in tests/assets/gen-tree/vectors.
set -euo pipefail
export LC_ALL=C

B=${CFS_BUILDDIR:?CFS_BUILDDIR not set}
V=${CFS_ASSETS:?CFS_ASSETS not set}/gen-tree/vectors
MK=$B/tools/mkcomposefs/mkcomposefs
GEN=$B/tests/tools/gen-tree
fail() { echo "FAIL: $*"; exit 1; }
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (gen-tree makes devices, chowns, trusted.* xattrs)"; exit 77; }
for x in "$MK" "$GEN"; do [ -x "$x" ] || fail "missing $x"; done
[ -f "$V" ] || fail "missing $V"
grep -q '^# .*reference: composefs v1\.0\.8 ' "$V" || fail "$V does not name the reference version"

T=$(mktemp -d /tmp/cfs-gen-vectors.XXXXXX)
trap 'rm -rf "$T"' EXIT

declare -A kinds=()
last=
while read -r set seed count opts version kind want; do
	case $set in '#'* | '') continue ;; esac
	src=$T/$set-$seed
	if [ "$last" != "$src" ]; then
		[ -z "$last" ] || rm -rf "$last"
		gopts=()
		[ "$opts" = - ] || IFS=, read -r -a gopts <<<"$opts"
		"$GEN" "${gopts[@]}" "$seed" "$src" "$count" >/dev/null
		last=$src
	fi
	vopts=()
	[ "$version" = default ] || vopts=(--min-version="$version" --max-version="$version")
	"$MK" "${vopts[@]}" "$src" "$T/img" || fail "$set $seed v$version: mkcomposefs failed"
	got=$(sha256sum <"$T/img" | cut -d' ' -f1)
	case $kind in
	dir | joined)
		[ "$got" = "$want" ] || fail "$set seed $seed version $version: image sha256 $got, reference ($kind) $want" ;;
	split)
		# the reference splits hard links; ours must not silently do the same
		[ "$(find "$src" -type f -links +1 | wc -l)" -gt 0 ] || fail "$set seed $seed: no hard links in the tree"
		[ "$got" != "$want" ] || fail "$set seed $seed version $version: image equals the reference's split-hardlink image" ;;
	*) fail "unknown kind $kind in $V" ;;
	esac
	kinds[$kind]=$((${kinds[$kind]:-0} + 1))
	echo "ok $set seed $seed version $version: $kind"
done <"$V"
for k in dir joined split; do
	[ "${kinds[$k]:-0}" -ge 9 ] || fail "only ${kinds[$k]:-0} '$k' vectors in $V"
done
echo "PASS (${kinds[dir]} identical to the reference from a directory, ${kinds[joined]} identical to its hard-link-joined image, ${kinds[split]} different from its split image)"
