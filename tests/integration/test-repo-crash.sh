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

# kill_when PID CMD...: step PID with SIGSTOP/SIGCONT; once CMD succeeds while it is stopped,
# SIGKILL it there. So the kill lands while the process is still running at a known point of
# its work; fails when the process ends first. The caller checks it died of the signal.
kill_when() {
	local pid=$1 state
	shift
	while :; do
		kill -STOP "$pid" 2>/dev/null || fail "process $pid gone before the kill point"
		state=$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || true)
		case $state in Z | X | '') fail "process $pid finished before the kill point ($*)" ;; esac
		if "$@"; then
			kill -9 "$pid"
			return 0
		fi
		kill -CONT "$pid"
		sleep 0.002
	done
}
# wait_killed PID WHAT: PID must have died of SIGKILL, not finished on its own
wait_killed() {
	local rc=0
	wait "$1" 2>/dev/null || rc=$?
	[ "$rc" = 137 ] || fail "$2: exit status $rc, not killed by SIGKILL (137): the kill did not land mid-run"
}
# Objects are published in batches, so the stored count jumps, and a run under load could go
# from below a kill point to its end between two steps. Staged objects (temporary files in
# objects/, one per object as it is written) count too: that sum grows one by one, and the
# run still has its last batch and the image to write when it reaches any point below 100 %.
objects_at_least() {
	local staged
	staged=$(find "$R/objects" -maxdepth 1 -type f -name '.tmp-*-*' | wc -l)
	[ $(($(count_objects "$R") + staged)) -ge "$1" ]
}
objects_at_most() { [ "$(count_objects "$R")" -le "$1" ]; }
always() { true; }

total=$(expected_objects sha256 "$S" | wc -l)
[ "$total" -gt 1000 ] || fail "only $total distinct files in the source"
# kill points: right at the start, then after 10%, 30%, 60%, 90% of the objects are stored
# (objects stay between runs: each run stores the rest and gets further)
kills=0
for pct in 0 10 30 60 90; do
	"$CFS" --repo "$R" create-image "$S" big >/dev/null 2>&1 &
	pid=$!
	PIDS+=("$pid")
	if [ "$pct" = 0 ]; then
		kill_when "$pid" always
	else
		kill_when "$pid" objects_at_least $((total * pct / 100))
	fi
	wait_killed "$pid" "create-image killed at ${pct}% of the objects"
	[ ! -e "$R/images/refs/big" ] || fail "killed at ${pct}%: the ref exists, the run had finished"
	kills=$((kills + 1))
	echo "killed at ${pct}%: $(count_objects "$R") of $total objects stored"
	check_no_corruption "killed at ${pct}% of the objects"
done
ok "$kills create-image runs killed with SIGKILL mid-run (0..90% of the objects); fsck found no corruption"

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
# kill points: at the start, then once gc has removed a third and two thirds of the objects
for frac in 0 1 2; do
	"$CFS" --repo "$R" create-image "$S" again >/dev/null
	"$CFS" --repo "$R" untag again
	n=$(count_objects "$R")
	"$CFS" --repo "$R" gc >/dev/null 2>&1 &
	pid=$!
	PIDS+=("$pid")
	if [ "$frac" = 0 ]; then
		kill_when "$pid" always
	else
		kill_when "$pid" objects_at_most $((n - n * frac / 3))
	fi
	wait_killed "$pid" "gc killed at $frac/3"
	echo "gc killed at $frac/3: $(count_objects "$R") of $n objects left"
	check_no_corruption "gc killed at $frac/3"
done
"$CFS" --repo "$R" gc >/dev/null
"$CFS" --repo "$R" fsck >/dev/null || fail "fsck after an interrupted gc was finished"
[ "$(count_objects "$R")" = 0 ] || fail "objects left after the final gc: $(count_objects "$R")"
ok "gc killed at different points: no corruption, a re-run finishes it"

echo "repository crash tests passed"
