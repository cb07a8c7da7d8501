#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Manual check, outside the test suite (CI has no reference build: Debian 12 packages no
# composefs): run a reference composefs build's own programs, linked against ITS
# libcomposefs.so.1, with ours substituted through LD_LIBRARY_PATH, and compare with the same
# programs on the reference library.
#   scripts/lcfs-ref-check.sh REF_BUILD_DIR [OUR_BUILD_DIR]
# REF_BUILD_DIR is the reference's meson build directory (tools/, tests/, libcomposefs/).
set -euo pipefail
R=${1:?usage: lcfs-ref-check.sh REF_BUILD_DIR [OUR_BUILD_DIR]}
B=${2:-$(dirname "$0")/../build}
OUR=$(cd "$B/compat/libcomposefs" && pwd)
A=$(cd "$(dirname "$0")/../tests/assets/compat" && pwd)
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
ours() { LD_LIBRARY_PATH=$OUR "$@"; }
fails=0
bad() { echo "DIFF: $*"; fails=$((fails + 1)); }

ours ldd "$R/tools/mkcomposefs" | grep -qF "$OUR/libcomposefs.so.1" || { echo "our library is not picked up"; exit 1; }
ours "$R/tests/test-lcfs" && echo "ok reference test-lcfs on our library" || bad "test-lcfs"
for f in "$A"/*.dump "$A"/*.dump.gz; do
	name=$(basename "$f")
	case $name in should-fail-*) continue ;; esac
	if [[ $name == *.gz ]]; then gzip -dc "$f" >"$T/in.dump"; else cp "$f" "$T/in.dump"; fi
	v=()
	[ -f "$f.version" ] && v=("--min-version=$(cat "$f.version")" "--max-version=$(cat "$f.version")")
	ours "$R/tools/mkcomposefs" "${v[@]}" --from-file "$T/in.dump" "$T/ours.img" || { bad "$name: mkcomposefs"; continue; }
	"$R/tools/mkcomposefs" "${v[@]}" --from-file "$T/in.dump" "$T/ref.img"
	cmp -s "$T/ours.img" "$T/ref.img" || bad "$name: mkcomposefs image"
	for cmd in ls dump objects missing-objects; do
		ours "$R/tools/composefs-info" "$cmd" "$T/ref.img" >"$T/o" 2>&1 || echo "rc=$?" >>"$T/o"
		"$R/tools/composefs-info" "$cmd" "$T/ref.img" >"$T/r" 2>&1 || echo "rc=$?" >>"$T/r"
		cmp -s "$T/o" "$T/r" || bad "$name: composefs-info $cmd"
	done
	ours "$R/tools/composefs-dump" "$T/ref.img" "$T/o.img"
	"$R/tools/composefs-dump" "$T/ref.img" "$T/r.img"
	cmp -s "$T/o.img" "$T/r.img" || bad "$name: composefs-dump"
	echo "ok $name: mkcomposefs, composefs-info ls/dump/objects/missing-objects, composefs-dump"
done
# a directory through mkcomposefs (lcfs_build and friends), with and without --digest-store
mkdir -p "$T/src/d" "$T/s1" "$T/s2"
printf 'x\n' >"$T/src/d/small"
head -c 70000 /dev/urandom >"$T/src/big"
ln -s d/small "$T/src/link"
ln "$T/src/big" "$T/src/hard"
setfattr -n user.k -v v "$T/src/big" 2>/dev/null || true
ours "$R/tools/mkcomposefs" "$T/src" "$T/o.img"
"$R/tools/mkcomposefs" "$T/src" "$T/r.img"
cmp -s "$T/o.img" "$T/r.img" || bad "mkcomposefs of a directory"
ours "$R/tools/mkcomposefs" --digest-store="$T/s1" "$T/src" "$T/o.img"
"$R/tools/mkcomposefs" --digest-store="$T/s2" "$T/src" "$T/r.img"
cmp -s "$T/o.img" "$T/r.img" || bad "mkcomposefs --digest-store"
diff -r "$T/s1" "$T/s2" >/dev/null || bad "digest stores differ"
echo "ok mkcomposefs of a directory, with and without --digest-store"
echo "$fails differences"
[ "$fails" = 0 ]
