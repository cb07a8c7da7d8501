#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Temporary files (issue 10): a writer that fails removes its own; those of a
# killed writer are removed by gc and fsck --repair in a repository, and by the
# next mkcomposefs in a plain --digest-store directory, which leaves running
# writers' files alone.
set -euo pipefail

B=${CFS_BUILDDIR:?}
MKCFS=$B/tools/mkcomposefs/mkcomposefs
CFS=$B/tools/composefs/composefs
# shellcheck source=sanitizer-lib.sh
. "$(dirname "$0")/sanitizer-lib.sh"
T=$(mktemp -d "${TMPDIR:-/tmp}/cfs-tempfiles.XXXXXX")
MNT=$T/small
PIDS=()
cleanup() {
	local p
	for p in "${PIDS[@]+"${PIDS[@]}"}"; do kill -9 "$p" 2>/dev/null || true; done
	umount "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }
[ "$(id -u)" = 0 ] || fail "needs root (mounts a size-limited tmpfs)"

# temps DIR: the temporary files and writer locks anywhere under DIR
temps() { find "$1" -name '.tmp*' | sort; }

# files DIR N SIZE: N files of SIZE bytes of distinct random content
files() {
	python3 -c '
import os, sys
d, n, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(d, exist_ok=True)
for i in range(n):
    with open(os.path.join(d, "f%d" % i), "wb") as f:
        f.write(os.urandom(size))
' "$@"
}

# expect_fail WHAT CMD...: CMD exits 1 (a sanitizer report is not a clean refusal)
expect_fail() {
	local what=$1 rc=0
	shift
	"$@" >"$T/out" 2>"$T/err" || rc=$?
	! sanitizer_report "$T/err" "$rc" || { cat "$T/err" >&2; fail "$what: sanitizer report"; }
	[ "$rc" = 1 ] || { cat "$T/err" >&2; fail "$what: exit $rc, wanted 1"; }
}

# ---- ENOSPC: the failing writer leaves no temporary file, the next command works ----
files "$T/big" 200 65536     # 12.5 MiB of distinct content: more than the file system holds
files "$T/little" 4 8192
mkdir -p "$MNT"
mount -t tmpfs -o size=8m tmpfs "$MNT"
R=$MNT/repo
"$CFS" --repo "$R" init >/dev/null
expect_fail "create-image of a tree larger than the file system" "$CFS" --repo "$R" create-image "$T/big" big
grep -q 'No space left on device' "$T/err" || fail "create-image: unexpected message: $(cat "$T/err")"
[ -z "$(temps "$MNT")" ] || fail "create-image left temporary files after ENOSPC: $(temps "$MNT" | wc -l)"
img=$("$CFS" --repo "$R" create-image "$T/little" little) || fail "create-image after a failed one"
"$CFS" --repo "$R" fsck >"$T/out" || fail "fsck after ENOSPC: $(cat "$T/out")"
ok "create-image on a full file system: exit 1, no temporary file left, the next one works"

expect_fail "mkcomposefs --digest-store on a full file system" "$MKCFS" --digest-store="$MNT/store" "$T/big" "$T/big.cfs"
[ -z "$(temps "$MNT")" ] || fail "mkcomposefs left temporary files after ENOSPC"
ok "mkcomposefs --digest-store on a full file system: no temporary file left"
umount "$MNT"

# kill_writer WATCHDIR CMD...: start CMD, kill -9 it once a temporary file of
# its own appears in WATCHDIR (a writer that is gone, as after a crash)
kill_writer() {
	local dir=$1 pid i
	shift
	"$@" >/dev/null 2>&1 &
	pid=$!
	PIDS+=("$pid")
	for ((i = 0; i < 3000; i++)); do
		if compgen -G "$dir/.tmp-*-*" >/dev/null; then
			kill -9 "$pid"
			wait "$pid" 2>/dev/null || true
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.01
	done
	wait "$pid" 2>/dev/null || true
	fail "the writer ($*) finished before a temporary file of it was seen"
}

files "$T/large" 1500 65536  # 94 MiB: long enough to be caught while writing

# ---- a repository: fsck --repair and gc remove a killed writer's temporaries ----
R=$T/repo
"$CFS" --repo "$R" init >/dev/null
"$CFS" --repo "$R" create-image "$T/little" little >/dev/null
kill_writer "$R/objects" "$CFS" --repo "$R" create-image -j1 "$T/large"
n=$(temps "$R" | wc -l)
[ "$n" -gt 1 ] || fail "the killed create-image left no temporary files to clean ($n)"
rc=0; "$CFS" --repo "$R" fsck --metadata-only >"$T/out" || rc=$?
[ "$rc" = 1 ] && grep -q '^temporary-file: ' "$T/out" || fail "fsck did not report the temporary files (exit $rc)"
"$CFS" --repo "$R" fsck --metadata-only --repair >"$T/out" || fail "fsck --repair: $(cat "$T/out")"
grep -q "^temporary files: $n removed" "$T/out" || fail "fsck --repair: $(cat "$T/out")"
[ -z "$(temps "$R")" ] || fail "fsck --repair left $(temps "$R")"
"$CFS" --repo "$R" fsck >"$T/out" || fail "fsck after --repair: $(cat "$T/out")"
"$CFS" --repo "$R" fsck --json --repair >"$T/out" || fail "fsck --json --repair"
grep -q '"temporary_files_removed": 0' "$T/out" || fail "fsck --json: $(cat "$T/out")"
ok "fsck --repair removes the $n temporary files of a killed create-image; fsck is clean after"

kill_writer "$R/objects" "$CFS" --repo "$R" create-image -j1 "$T/large"
n=$(temps "$R" | wc -l)
"$CFS" --repo "$R" gc >"$T/out" || fail "gc"
grep -q " $n temporary files" "$T/out" || fail "gc: $(cat "$T/out") (wanted $n temporary files)"
[ -z "$(temps "$R")" ] || fail "gc left $(temps "$R")"
"$CFS" --repo "$R" fsck >/dev/null || fail "fsck after gc"
[ "$("$CFS" --repo "$R" images | grep -c little)" = 1 ] || fail "gc lost the named image"
ok "gc removes the $n temporary files of a killed create-image and keeps the named image"

# --repair needs a writable repository and waits like gc: with --no-wait and a
# writer holding the lock (flock on the repository directory), it refuses
flock -F -s "$R" sleep 30 >/dev/null 2>&1 &
PIDS+=("$!")
sleep 0.2
expect_fail "fsck --repair --no-wait during a write" "$CFS" --repo "$R" --no-wait fsck --repair
grep -q 'busy' "$T/err" || fail "fsck --repair --no-wait: $(cat "$T/err")"
"$CFS" --repo "$R" --no-wait fsck >/dev/null || fail "plain fsck must not need the exclusive lock"
ok "fsck --repair takes the exclusive lock (refused with --no-wait while a writer runs)"

# ---- a plain --digest-store directory: the next writer removes dead writers' files ----
S=$T/store
kill_writer "$S" "$MKCFS" --threads=1 --digest-store="$S" "$T/large" "$T/large.cfs"
dead=$(temps "$S" | wc -l)
[ "$dead" -gt 1 ] || fail "the killed mkcomposefs left no temporary files ($dead)"
compgen -G "$S/.tmp-*.lock" >/dev/null || fail "the killed writer left no writer lock"
# a running writer: its lock is held, its files must stay
live=0123456789abcdef
: >"$S/.tmp-$live.lock"
echo data >"$S/.tmp-$live-0000000000000001"
flock -F "$S/.tmp-$live.lock" sleep 60 >/dev/null 2>&1 &
PIDS+=("$!")
# names of another form (other programs, older versions) are not ours to judge
echo other >"$S/.tmp-other"
sleep 0.2
"$MKCFS" --digest-store="$S" "$T/little" "$T/little.cfs" || fail "mkcomposefs after a killed one"
left=$(temps "$S")
[ "$left" = "$(printf '%s\n' "$S/.tmp-$live-0000000000000001" "$S/.tmp-$live.lock" "$S/.tmp-other" | sort)" ] ||
	fail "after the next mkcomposefs, left: $left"
ok "mkcomposefs removes the $dead files of a killed writer, keeps a running writer's and foreign names"
