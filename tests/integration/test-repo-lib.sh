#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Shared helpers of the repository tests (sourced, not run).
set -euo pipefail

B=${CFS_BUILDDIR:?CFS_BUILDDIR not set}
CFS=$B/tools/composefs/composefs
# the build tree has no installed layout: tell "composefs mount --fuse" where its daemon is
export COMPOSEFS_FUSE=$B/tools/composefs-fuse/composefs-fuse
[ -x "$CFS" ] || { echo "composefs not built: $CFS" >&2; exit 1; }
# commands the helpers below run; a missing one must stop the test, not give empty files
for c in openssl python3; do
	command -v "$c" >/dev/null || { echo "FAIL: the repository tests need the '$c' command (package $c)" >&2; exit 1; }
done
W=$(mktemp -d "${TMPDIR:-/tmp}/cfs-repo-test.XXXXXX")
MOUNTS=()
PIDS=()

cleanup() {
	local m p
	for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill -9 "$p" 2>/dev/null || true; done
	for m in "${MOUNTS[@]+"${MOUNTS[@]}"}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
	rm -rf "$W"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

# The test helpers of the project, when built.
TREE_COMPARE=""
[ -x "$B/tests/tools/tree-compare" ] && TREE_COMPARE=$B/tests/tools/tree-compare
GEN=""
[ -x "$B/tests/tools/gen-tree" ] && GEN=$B/tests/tools/gen-tree

# gen_tree SEED DIR: the project's seeded random tree (tests/tools/gen-tree SEED DIR, which
# the tests calling this depend on in meson.build).
gen_tree() {
	local err
	[ -n "$GEN" ] || fail "$B/tests/tools/gen-tree not built"
	err=$("$GEN" "$1" "$2" 2>&1 >/dev/null) || fail "gen-tree $1 $2: $err"
}

# write_file PATH SIZE SEED: deterministic content of SIZE bytes.
write_file() {
	mkdir -p "$(dirname "$1")"
	if [ "$2" -eq 0 ]; then
		: >"$1"
	else
		# openssl's counter mode gives fast, seed-determined bytes; head ends it with SIGPIPE,
		# so the size, not the pipeline's status, tells whether it worked
		{ openssl enc -aes-128-ctr -nosalt -pass "pass:$3" -pbkdf2 -iter 1 </dev/zero 2>/dev/null || true; } |
			head -c "$2" >"$1"
		[ "$(stat -c %s "$1")" = "$2" ] || fail "write_file $1: $(stat -c %s "$1") bytes written, $2 wanted"
	fi
}

# bulk_files DIR N_DIRS FILES_PER_DIR SEED: many files of 8..72 KiB, contents
# determined by SEED and the name (python: one process instead of thousands).
bulk_files() {
	python3 - "$@" <<'PY'
import hashlib, os, sys
root, ndirs, nfiles, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
for d in range(1, ndirs + 1):
    os.makedirs(f"{root}/d{d}", exist_ok=True)
    for f in range(1, nfiles + 1):
        size = (d * nfiles + f) % 17 * 4096 + 8192 + f
        block = hashlib.sha256(f"{seed}/{d}/{f}".encode()).digest() * 2048
        with open(f"{root}/d{d}/f{f}", "wb") as out:
            out.write((block * (size // len(block) + 1))[:size])
PY
}

# count_objects REPO: files under objects/XX/ (temporary files excluded).
count_objects() {
	find "$1/objects" -mindepth 2 -type f ! -name '.*' | wc -l
}

# object_list REPO: sorted hex digests of its objects.
object_list() {
	find "$1/objects" -mindepth 2 -type f ! -name '.*' | awk -F/ '{print $(NF-1) $NF}' | sort
}

# expected_objects HASH DIR...: sorted digests of the files stored as objects
# (regular files larger than the 64 bytes that are inlined).
expected_objects() {
	local alg=$1
	shift
	find "$@" -type f -size +64c -print0 | xargs -0 -r "$CFS" measure --hash "$alg" -- |
		grep -aE '^[0-9a-f]{64}([0-9a-f]{64})?  ' | awk '{print $1}' | sort -u
}

# compare_trees SRC MOUNTED [TREE-COMPARE OPTION...]: identical, per tree-compare
# when built, else content + listing.
compare_trees() {
	local a=$1 b=$2
	shift 2
	if [ -n "$TREE_COMPARE" ]; then
		"$TREE_COMPARE" "$@" "$a" "$b" >&2 || fail "$b differs from $a"
	else
		diff -r --no-dereference "$a" "$b" >&2 || fail "$b differs from $a"
	fi
}

do_mount() {
	MOUNTS+=("$3")
	mkdir -p "$3"
	"$CFS" --repo "$1" mount "$2" "$3"
}
