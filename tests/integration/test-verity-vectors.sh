#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Compare our fs-verity digests with fsverity-utils' `fsverity digest` on fixed-seed random files.
set -euo pipefail

builddir=${CFS_BUILDDIR:?CFS_BUILDDIR is not set}
helper=$builddir/tests/tools/verity-digest
if [ ! -x "$helper" ]; then
	echo "FAIL: test helper $helper was not built"
	exit 1
fi
if ! command -v fsverity >/dev/null 2>&1; then
	echo "SKIP: the fsverity program (Debian package fsverity) is not installed"
	exit 77
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

seed=20261122
passed=0
failed=0

check() { # description expected actual
	if [ "$2" = "$3" ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1))
		echo "FAIL: $1"
		echo "  fsverity: $2"
		echo "  ours:     $3"
	fi
}

for size in 0 1 4095 4096 4097 1048577 33554433; do
	f=$tmp/data-$size
	"$helper" --generate=$seed "$size" >"$f"
	actual_size=$(stat -c %s "$f")
	check "generated file size for $size" "$size" "$actual_size"
	for alg in sha256 sha512; do
		want=$(fsverity digest --hash-alg=$alg "$f")
		# One-shot cfs_verity_digest_fd().
		got=$("$helper" --hash-alg=$alg "$f")
		check "$alg digest_fd, $size bytes" "$want" "$got"
		# Streaming in odd 4097-byte reads, then a Merkle tree checking every block.
		got=$("$helper" --hash-alg=$alg --chunk=4097 --tree "$f")
		check "$alg streaming + tree, $size bytes" "$want" "$got"
		echo "checked $alg, $size bytes: ${want%% *}"
	done
done

# A file of zeros: every leaf hash equal, the padding must still be right.
head -c 1234567 /dev/zero >"$tmp/zeros"
for alg in sha256 sha512; do
	check "$alg zeros" "$(fsverity digest --hash-alg=$alg "$tmp/zeros")" \
		"$("$helper" --hash-alg=$alg --chunk=1048576 "$tmp/zeros")"
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
