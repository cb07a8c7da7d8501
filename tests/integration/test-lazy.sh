#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Lazy mounts: composefs mount --remote (and composefs-fuse -o remote=) against nginx on
# loopback. The mount is up with only the image; an object is fetched on the first open of a
# file that needs it (one request per object, counted in nginx's access log), verified and kept;
# a tampered object is EIO for its file only and never stored; a dead server makes only the
# files not fetched yet fail.
. "$(dirname "$0")/test-repo-lib.sh"
. "$(dirname "$0")/test-pull-lib.sh"
FUSE=$B/tools/composefs-fuse/composefs-fuse
[ -x "$FUSE" ] || fail "composefs-fuse not built"

S=$W/served
SRC=$W/src
mkdir -p "$SRC/etc" "$SRC/usr/lib"
gen_tree 11 "$SRC/gen"
bulk_files "$SRC/usr/lib" 4 10 lazy-seed
write_file "$SRC/etc/hostname.conf" 5000 host
write_file "$SRC/usr/big" $((3 << 20)) big
write_file "$SRC/usr/victim" 20000 victim
"$CFS" --repo "$S" init >/dev/null
DIGEST=$("$CFS" --repo "$S" create-image "$SRC" os/base) || fail "create-image"
n_objects=$("$CFS" --repo "$S" image-objects os/base | wc -l)
start_nginx lazy "$S"
URL=http://127.0.0.1:$PORT
ACCESS=$W/lazy/access.log
object_requests() { grep -c '^/objects/' "$ACCESS" || true; }
object_of() { # the object (XX/rest) behind a file of the served image, from "ls"
	"$B/tools/composefs-info/composefs-info" ls "$S/images/$DIGEST" |
		awk -F'\t' -v p="/$1" '$1 == p { sub(/^@ /, "", $2); print $2 }'
}
host_obj=$(object_of etc/hostname.conf)
victim_obj=$(object_of usr/victim)
[ -f "$S/objects/$host_obj" ] && [ -f "$S/objects/$victim_obj" ] || fail "cannot tell which objects back the test files"

# --- the mount is up with the image alone ---
D=$W/dst
"$CFS" --repo "$D" init >/dev/null
before=$(object_requests)
mkdir -p "$W/m"
MOUNTS+=("$W/m")
"$CFS" --repo "$D" mount --remote "$URL" os/base "$W/m" || fail "mount --remote"
findmnt -n -o FSTYPE "$W/m" | grep '^fuse' >/dev/null || fail "not a FUSE mount"
# (nginx serves the image through the images/refs/ link it follows: no objects/ request at all)
[ "$(object_requests)" = "$before" ] || fail "mounting fetched $(($(object_requests) - before)) objects (want the image only)"
[ "$(count_objects "$D")" = 1 ] || fail "the repository holds $(count_objects "$D") objects after mounting (want the image)"
"$CFS" --repo "$D" images | grep -q "os/base" || fail "the image is not named locally (gc would drop it)"
ok "lazy mount up with the image only (no object requests)"

# --- one small file: one object request, stored under its name, right bytes ---
before=$(object_requests)
cmp "$SRC/etc/hostname.conf" "$W/m/etc/hostname.conf" || fail "first read of a file differs"
[ "$(object_requests)" = $((before + 1)) ] || fail "reading one file made $(($(object_requests) - before)) object requests"
grep -q "^/objects/$host_obj " "$ACCESS" || fail "the object fetched is not the file's"
[ -f "$D/objects/$host_obj" ] || fail "the fetched object is not in the local store"
cmp "$SRC/etc/hostname.conf" "$W/m/etc/hostname.conf" || fail "second read differs"
[ "$(object_requests)" = $((before + 1)) ] || fail "a second read fetched again"
ok "reading one file fetched exactly its object, once, into the repository"

# --- fsck and gc beside the running mount: its writer lock is live, not left behind ---
lock=$(cd "$D/objects" && ls -A | grep -E '^\.tmp-[0-9a-f]{16}\.lock$' || true)
[ -n "$lock" ] || fail "no writer lock in the store while the lazy mount writes into it"
# (the objects not read yet are missing, as in any lazy repository: only temporary files matter here)
"$CFS" --repo "$D" fsck >"$W/fsck.out" 2>&1 && fail "fsck of a lazy repository found every object"
if grep -i 'temporary' "$W/fsck.out"; then fail "fsck beside a running lazy mount reports its files as left behind"; fi
grep -q '^missing-object: ' "$W/fsck.out" || { cat "$W/fsck.out" >&2; fail "fsck of a lazy repository does not report the objects not fetched yet"; }
"$CFS" --repo "$D" gc >"$W/gc.out" 2>&1 || { cat "$W/gc.out" >&2; fail "gc beside a running lazy mount"; }
[ -f "$D/objects/$lock" ] || fail "gc removed the running lazy mount's writer lock"
cmp "$SRC/etc/hostname.conf" "$W/m/etc/hostname.conf" || fail "a fetched file no longer reads after gc"
ok "fsck reports no temporary file and gc keeps the writer lock while the lazy mount runs"

# --- concurrent first opens of one large object share one download ---
before=$(object_requests)
pids=()
for i in 1 2 3 4; do cmp "$SRC/usr/big" "$W/m/usr/big" & pids+=("$!"); done
for p in "${pids[@]}"; do wait "$p" || fail "a concurrent first read failed"; done
[ "$(object_requests)" = $((before + 1)) ] || fail "four readers of one file made $(($(object_requests) - before)) requests"
ok "four concurrent first reads of a 3 MiB file: one download"

# --- a tampered object on the server: EIO for that file only, nothing stored ---
cp "$S/objects/$victim_obj" "$W/victim.obj"
printf 'X' | dd of="$S/objects/$victim_obj" bs=1 seek=100 conv=notrunc status=none
if cat "$W/m/usr/victim" >/dev/null 2>"$W/victim.err"; then fail "a tampered object was served"; fi
grep -q "Input/output error" "$W/victim.err" || fail "tampered object: $(cat "$W/victim.err")"
[ ! -e "$D/objects/$victim_obj" ] || fail "a tampered object was stored under its name"
cmp "$SRC/etc/hostname.conf" "$W/m/etc/hostname.conf" || fail "other files broke after a bad object"
ok "a tampered object: EIO for its file, not stored, the rest readable"

# --- everything else reads right; the server going away fails only what is not here yet ---
cp "$W/victim.obj" "$S/objects/$victim_obj"
cmp "$SRC/usr/victim" "$W/m/usr/victim" || fail "the repaired object does not read"
stop_nginx
NGINX_PIDS=()
unfetched=$(find "$W/m/usr/lib" -type f | head -n 2)
for f in $unfetched; do
	if cat "$f" >/dev/null 2>&1; then fail "$f: never fetched, yet read with the server down"; fi
done
cmp "$SRC/etc/hostname.conf" "$W/m/etc/hostname.conf" || fail "a fetched file failed with the server down"
start_nginx lazy2 "$S"
umount "$W/m"
"$FUSE" -o "source=$D/images/$DIGEST,basedir=$D/objects,remote=http://127.0.0.1:$PORT,digest=$DIGEST" "$W/m" ||
	fail "composefs-fuse -o remote="
compare_trees "$SRC" "$W/m"
umount "$W/m"
[ "$(count_objects "$D")" = $((n_objects + 1)) ] || fail "after reading everything the store has $(count_objects "$D") objects, want the image and its $n_objects"
fsck_clean "$D" "after a lazy mount read everything"
ok "with the server down only unfetched files fail; composefs-fuse -o remote= completes the tree, fsck clean"
