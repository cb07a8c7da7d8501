#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Locking: gc excludes writers (waits, or fails with --no-wait); concurrent create-image + gc stress.
# shellcheck source=test-repo-lib.sh
. "$(dirname "$0")/test-repo-lib.sh"

R=$W/repo
"$CFS" --repo "$R" init >/dev/null
mkdir -p "$W/small"
write_file "$W/small/f" 10000 small
"$CFS" --repo "$R" create-image "$W/small" small >/dev/null

# --- the lock is flock(2) on the repository directory (as composefs-rs does) ---
if command -v flock >/dev/null; then
	flock -s "$R" sleep 3 &
	PIDS+=($!)
	sleep 0.5
	rc=0; "$CFS" --repo "$R" --no-wait gc 2>"$W/err" || rc=$?
	[ "$rc" = 1 ] && grep -q busy "$W/err" || fail "gc --no-wait while a writer holds the lock: exit $rc: $(cat "$W/err")"
	start=$(date +%s.%N)
	"$CFS" --repo "$R" gc >/dev/null || fail "waiting gc"
	waited=$(echo "$(date +%s.%N) - $start" | bc)
	[ "$(echo "$waited > 1.5" | bc)" = 1 ] || fail "gc did not wait for the writer (${waited}s)"
	ok "gc fails with --no-wait and otherwise waits (${waited}s) while a writer holds the lock"

	flock -x "$R" sleep 2 &
	PIDS+=($!)
	sleep 0.5
	rc=0; "$CFS" --repo "$R" --no-wait create-image "$W/small" x 2>"$W/err" || rc=$?
	[ "$rc" = 1 ] && grep -q busy "$W/err" || fail "create-image --no-wait during gc: exit $rc: $(cat "$W/err")"
	"$CFS" --repo "$R" create-image "$W/small" x >/dev/null || fail "waiting create-image"
	ok "writers fail with --no-wait and otherwise wait while gc holds the lock"
	wait
fi

# --- stress: two writers re-pointing three names, one collector, for a bounded time ---
POOL=$W/pool
bulk_files "$POOL" 10 25 stress
DURATION=${CFS_STRESS_SECONDS:-20}

writer() { # ID
	local id=$1 i=0 end=$(($(date +%s) + DURATION)) v d
	while [ "$(date +%s)" -lt "$end" ]; do
		i=$((i + 1))
		v=$W/variants/w$id-$i
		mkdir -p "$v"
		# five of the ten pool directories, chosen by the round: images overlap
		for k in $(seq 0 4); do cp -al "$POOL/d$(((i * 3 + id + k * 2) % 10 + 1))" "$v/" 2>/dev/null || true; done
		write_file "$v/unique" 5000 "w$id-$i"
		d=$("$CFS" --repo "$R" create-image "$v" "n$((i % 3))") || { echo "writer $id: create-image failed" >&2; return 1; }
		echo "$d $v" >>"$W/log-$id"
	done
}
collector() {
	local end=$(($(date +%s) + DURATION)) n=0
	while [ "$(date +%s)" -lt "$end" ]; do
		"$CFS" --repo "$R" gc >>"$W/gclog" || { echo "gc failed" >&2; return 1; }
		n=$((n + 1))
		sleep 0.2
	done
	echo "$n" >"$W/gcruns"
}
writer 1 & p1=$!
writer 2 & p2=$!
collector & p3=$!
PIDS+=("$p1" "$p2" "$p3")
wait "$p1" || fail "writer 1"
wait "$p2" || fail "writer 2"
wait "$p3" || fail "collector"
rounds=$(cat "$W/log-1" "$W/log-2" | wc -l)
removed=$(awk '{s += $2} END {print s + 0}' "$W/gclog")
ok "$rounds create-image runs and $(cat "$W/gcruns") gc runs concurrently for ${DURATION}s ($removed objects collected)"
[ "$rounds" -ge 4 ] || fail "too few rounds to mean anything"

"$CFS" --repo "$R" fsck >"$W/fsck" || { cat "$W/fsck" >&2; fail "fsck after the stress run"; }
ok "fsck clean: no image lost an object"

for n in n0 n1 n2; do
	[ -L "$R/images/refs/$n" ] || continue
	d=$(basename "$(readlink "$R/images/refs/$n")")
	src=$(cat "$W/log-1" "$W/log-2" | awk -v d="$d" '$1 == d {print $2; exit}')
	[ -n "$src" ] || fail "$n: digest $d was never printed by a writer"
	do_mount "$R" "$n" "$W/m-$n"
	# the variants hard-link the pool: link counts differ by design
	compare_trees "$src" "$W/m-$n" --ignore=nlink
	umount "$W/m-$n"
	ok "$n mounts and equals the tree it was built from"
done

"$CFS" --repo "$R" gc >/dev/null
for n in n0 n1 n2 small x; do
	[ -L "$R/images/refs/$n" ] && "$CFS" --repo "$R" image-objects "$n"
done | sort -u >"$W/live"
for n in n0 n1 n2 small x; do
	[ -L "$R/images/refs/$n" ] && basename "$(readlink "$R/images/refs/$n")"
done >>"$W/live"
sort -u "$W/live" -o "$W/live"
object_list "$R" >"$W/have"
diff -u "$W/live" "$W/have" >&2 || fail "after a final gc the store is not exactly the named images' objects"
ok "a final gc leaves exactly the objects of the named images"

echo "repository stress tests passed"
