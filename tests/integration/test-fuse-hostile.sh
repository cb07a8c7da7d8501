#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# composefs-fuse on corrupt images: refuses to mount or fails single requests, never crashes.
# shellcheck source=test-fuse-lib.sh
. "$(dirname "$0")/test-fuse-lib.sh"

# Not an image at all.
mkdir -p "$W/m"
head -c 65536 /dev/zero | tr '\0' 'x' >"$W/garbage.cfs"
: >"$W/empty.cfs"
for img in garbage empty; do
	rc=0; "$FUSE" -f -o "source=$W/$img.cfs,basedir=$W" "$W/m" 2>"$W/log" || rc=$?
	! sanitizer_report "$W/log" "$rc" || { cat "$W/log" >&2; fail "$img image: sanitizer report"; }
	[ "$rc" = 1 ] || fail "$img image: exit $rc"
	[ -s "$W/log" ] || fail "$img image: no message"
	! mountpoint -q "$W/m" || fail "$img image mounted"
done
ok "non-images refused: $(head -n1 "$W/log")"

mkdir -p "$W/src/d/e"
printf 'hello\n' >"$W/src/inline"
head -c 100000 /dev/urandom >"$W/src/d/ext"
for i in $(seq 1 60); do printf '%s\n' "$i" >"$W/src/d/e/f$i"; done
ln -s inline "$W/src/link"
mknod "$W/src/dev" c 1 3
setfattr -n user.a -v b "$W/src/d"
ln "$W/src/d/ext" "$W/src/hl"
"$MKCFS" --digest-store="$W/objs" "$W/src" "$W/img.cfs"
size=$(stat -c %s "$W/img.cfs")

# Walk everything a client can touch; errors are fine, hangs and crashes are not.
walk() {
	timeout 30 find "$1" >/dev/null 2>&1 || true
	timeout 30 ls -lRa "$1" >/dev/null 2>&1 || true
	timeout 30 getfattr -R -d -m - "$1" >/dev/null 2>&1 || true
	timeout 30 find "$1" -type f -exec cat {} + >/dev/null 2>&1 || true
	timeout 30 find "$1" -type l -exec readlink {} + >/dev/null 2>&1 || true
	timeout 10 stat -f "$1" >/dev/null 2>&1 || true
}

# Damaged copies: structure-aware mutations from tests/tools/image-mutate,
# plus plain byte flips spread over the whole image.
MUT=$CFS_BUILDDIR/tests/tools/image-mutate
[ -x "$MUT" ] || fail "tests/tools/image-mutate not built"
mkdir -p "$W/mut"
"$MUT" 7 40 "$W/img.cfs" "$W/mut" >/dev/null
for i in $(seq 0 19); do
	cp "$W/img.cfs" "$W/mut/flip-$i.img"
	off=$(((i * 7919 + 1024) % size))
	val=$(((i * 37 + 1) % 255 + 1))
	printf "\\$(printf '%03o' "$val")" | dd of="$W/mut/flip-$i.img" bs=1 seek="$off" conv=notrunc status=none
	printf '\377\377\377\377' | dd of="$W/mut/flip-$i.img" bs=1 seek=$(((off + 8) % size)) conv=notrunc status=none
done

refused=0 served=0 n=0
for bad in "$W"/mut/*.img; do
	n=$((n + 1))
	mnt=$W/h$n
	mkdir -p "$mnt"
	"$FUSE" -f -o "source=$bad,basedir=$W/objs" "$mnt" 2>"$W/log-h" &
	pid=$!
	up=0
	for ((t = 0; t < 100; t++)); do
		if mountpoint -q "$mnt"; then up=1; break; fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if [ "$up" = 0 ]; then
		rc=0; wait "$pid" || rc=$?
		! sanitizer_report "$W/log-h" "$rc" || { cat "$W/log-h" >&2; fail "$(basename "$bad"): sanitizer report"; }
		[ "$rc" = 1 ] || fail "$(basename "$bad"): daemon died with status $rc before mounting: $(cat "$W/log-h")"
		refused=$((refused + 1))
		continue
	fi
	MOUNTS+=("$mnt")
	FUSE_PID[$mnt]=$pid
	FUSE_LOG[$mnt]=$W/log-h
	walk "$mnt"
	kill -0 "$pid" 2>/dev/null || { cat "$W/log-h" >&2; fail "$(basename "$bad"): daemon crashed"; }
	fuse_umount "$mnt"
	served=$((served + 1))
done
ok "$n corrupted images: $refused refused at mount, $served served without crashing"
echo PASS
