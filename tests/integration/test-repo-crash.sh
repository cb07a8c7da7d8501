#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# kill -9 during a large create-image: no corruption, a re-run finishes the job.
# shellcheck source=test-repo-lib.sh
. "$(dirname "$0")/test-repo-lib.sh"

R=$W/repo
S=$W/src
"$CFS" --repo "$R" init >/dev/null

# A tree big enough that create-image takes a while: 1500 files of 8..72 KiB
# plus a few large ones (about 60 MiB in all).
bulk_files "$S" 30 50 crash
for i in 1 2 3; do write_file "$S/large$i" $((4 * 1024 * 1024 + i)) "large$i"; done

PROBLEMS='bad-metadata|digest-mismatch|object-unreadable|unexpected-entry|broken-image-link|dangling-ref|invalid-image|missing-object'
# Only corruption counts: leftover temporary files are reported as removable.
check_no_corruption() {
	local rc=0
	"$CFS" --repo "$R" fsck >"$W/fsck" 2>&1 || rc=$?
	if grep -qE "^($PROBLEMS): " "$W/fsck"; then
		cat "$W/fsck" >&2
		fail "$1: fsck found corruption"
	fi
	[ "$rc" = 0 ] || grep -q '^temporary-file: ' "$W/fsck" || { cat "$W/fsck" >&2; fail "$1: fsck exit $rc"; }
}

kills=0
for delay in 0.05 0.2 0.4 0.7 1.0 1.5; do
	"$CFS" --repo "$R" create-image "$S" big >/dev/null 2>&1 &
	pid=$!
	PIDS+=("$pid")
	sleep "$delay"
	if kill -9 "$pid" 2>/dev/null; then
		kills=$((kills + 1))
	fi
	wait "$pid" 2>/dev/null || true
	check_no_corruption "killed after ${delay}s"
done
ok "$kills create-image runs killed with SIGKILL at different points; fsck found no corruption"

D=$("$CFS" --repo "$R" create-image "$S" big)
[ ${#D} = 64 ] || fail "re-run after the kills"
[ "$(readlink "$R/images/refs/big")" = "../$D" ] || fail "ref after the re-run"
ok "re-running create-image finishes the job"

"$CFS" --repo "$R" gc >"$W/gc"
cat "$W/gc"
"$CFS" --repo "$R" fsck >"$W/fsck" || { cat "$W/fsck" >&2; fail "fsck after gc"; }
expected_objects sha256 "$S" >"$W/exp"
(cat "$W/exp"; echo "$D") | sort >"$W/want"
object_list "$R" >"$W/have"
diff -u "$W/want" "$W/have" >&2 || fail "objects after gc are not exactly the image's"
ok "gc removed the leftovers; fsck clean; exactly the image's objects remain"

do_mount "$R" big "$W/m"
compare_trees "$S" "$W/m"
umount "$W/m"
ok "the image mounts and equals its source"

# A crash in the middle of gc leaves only garbage, never a dangling name.
"$CFS" --repo "$R" untag big
for delay in 0.01 0.03 0.1; do
	"$CFS" --repo "$R" create-image "$S" again >/dev/null
	"$CFS" --repo "$R" untag again
	"$CFS" --repo "$R" gc >/dev/null 2>&1 &
	pid=$!
	PIDS+=("$pid")
	sleep "$delay"
	kill -9 "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	check_no_corruption "gc killed after ${delay}s"
done
"$CFS" --repo "$R" gc >/dev/null
"$CFS" --repo "$R" fsck >/dev/null || fail "fsck after an interrupted gc was finished"
[ "$(count_objects "$R")" = 0 ] || fail "objects left after the final gc: $(count_objects "$R")"
ok "gc killed at different points: no corruption, a re-run finishes it"

echo "repository crash tests passed"
