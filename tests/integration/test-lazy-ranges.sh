#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Lazy mounts read large objects in HTTP ranges: composefs publish-trees writes the served
# repository's Merkle trees, a lazy mount (nginx on loopback) fetches a tree and then only the
# 1 MiB chunks a read needs (status 206 in nginx's access log, bytes far below the file size),
# checked against the tree; a whole read leaves the object under its name with the right digest.
# A tampered chunk is EIO for the reads covering it only; a tampered tree, a server without
# trees or without Range support fall back to the whole object; a daemon killed mid-range
# leaves no object under a final name and fsck clean. gc and fsck know trees/.
. "$(dirname "$0")/test-repo-lib.sh"
. "$(dirname "$0")/test-pull-lib.sh"
FUSE=$B/tools/composefs-fuse/composefs-fuse
[ -x "$FUSE" ] || fail "composefs-fuse not built"
MIB=$((1 << 20))

S=$W/served
SRC=$W/src
write_file "$SRC/usr/big" $((64 * MIB)) big
write_file "$SRC/usr/tampered" $((8 * MIB)) tampered
write_file "$SRC/usr/slow" $((24 * MIB)) slow
write_file "$SRC/usr/badtree" $((3 * MIB)) badtree
write_file "$SRC/usr/badboth" $((2 * MIB)) badboth
write_file "$SRC/usr/notree" $((2 * MIB)) notree
write_file "$SRC/usr/small" 300000 small
write_file "$SRC/etc/conf" 5000 conf
"$CFS" --repo "$S" init >/dev/null
DIGEST=$("$CFS" --repo "$S" create-image "$SRC" os/base) || fail "create-image"
obj() { "$CFS" measure "$SRC/$1" | awk '{ print substr($1, 1, 2) "/" substr($1, 3) }'; }
big=$(obj usr/big) tampered=$(obj usr/tampered) slow=$(obj usr/slow) badtree=$(obj usr/badtree)
badboth=$(obj usr/badboth) notree=$(obj usr/notree) small=$(obj usr/small)

# --- publish-trees: one tree per object of at least 1 MiB, idempotent, fsck checks them ---
"$CFS" --repo "$S" publish-trees >"$W/pt.out" || fail "publish-trees"
grep -q "^6 objects of at least 1048576 bytes: 6 trees written, 0 already there" "$W/pt.out" ||
	fail "publish-trees: $(cat "$W/pt.out")"
for o in "$big" "$tampered" "$slow" "$badtree" "$badboth" "$notree"; do
	[ -f "$S/trees/$o" ] || fail "no tree for $o"
done
[ ! -e "$S/trees/$small" ] || fail "a tree for an object under the minimum size"
"$CFS" --repo "$S" publish-trees >"$W/pt.out" || fail "publish-trees again"
grep -q ": 0 trees written, 6 already there" "$W/pt.out" || fail "publish-trees is not idempotent: $(cat "$W/pt.out")"
"$CFS" --repo "$S" publish-trees --min-size 256K >"$W/pt.out" || fail "publish-trees --min-size"
grep -q "^7 objects of at least 262144 bytes: 1 trees written, 6 already there" "$W/pt.out" ||
	fail "publish-trees --min-size 256K: $(cat "$W/pt.out")"
[ "$(find "$S/trees" -name '.*' | wc -l)" = 0 ] || fail "publish-trees left temporary files"
"$CFS" --repo "$S" publish-trees --min-size 1X >/dev/null 2>&1 && fail "a bad --min-size was accepted"
fsck_clean "$S" "with published trees"
# a tree that is not its object's is found; gc removes the trees of objects it removes
cp "$S/trees/$small" "$W/small.tree"
cp "$S/trees/$notree" "$S/trees/$small"
"$CFS" --repo "$S" fsck >"$W/fsck.out" 2>&1 && fail "fsck accepted another object's tree"
grep -q "^bad-tree: trees/$small: the tree of another object" "$W/fsck.out" || fail "fsck: $(cat "$W/fsck.out")"
cp "$W/small.tree" "$S/trees/$small"
G=$W/gcrepo
cp -a "$S" "$G"
"$CFS" --repo "$G" untag os/base
"$CFS" --repo "$G" gc >"$W/gc.out" || fail "gc"
grep -q ", 7 trees, " "$W/gc.out" || fail "gc did not remove the trees: $(cat "$W/gc.out")"
[ "$(find "$G/trees" -type f | wc -l)" = 0 ] || fail "trees left after gc"
fsck_clean "$G" "after gc"
cp -a "$S" "$G.2"
"$CFS" --repo "$G.2" gc >"$W/gc.out" || fail "gc keeping everything"
grep -q ", 0 trees, " "$W/gc.out" || fail "gc removed trees of live objects: $(cat "$W/gc.out")"
ok "publish-trees writes the trees of large objects (idempotent); fsck checks them, gc removes them with their objects"

# the served copy: a tampered chunk in one object, a tree that is not its object's, a
# tampered tree with a tampered object, and no tree for one object
printf 'X' | dd of="$S/objects/$tampered" bs=1 seek=$((5 * MIB + 100)) conv=notrunc status=none
printf 'XXXXXXXX' | dd of="$S/trees/$badtree" bs=1 seek=200 conv=notrunc status=none
printf 'XXXXXXXX' | dd of="$S/trees/$badboth" bs=1 seek=200 conv=notrunc status=none
printf 'X' | dd of="$S/objects/$badboth" bs=1 seek=1000 conv=notrunc status=none
rm "$S/trees/$notree"
start_nginx ranges "$S"
URL=http://127.0.0.1:$PORT
ACCESS=$W/ranges/access.log
# requests for one object: "STATUS BYTES" lines
requests() { awk -v u="/$1" '$1 == u { print $2, $3 }' "$2"; }
bytes_of() { requests "$1" "$2" | awk '{ s += $2 } END { print s + 0 }'; }

# --- the first 4 KiB of a 64 MiB file: a tree and range requests only ---
D=$W/dst
"$CFS" --repo "$D" init >/dev/null
mkdir -p "$W/m"
MOUNTS+=("$W/m")
"$CFS" --repo "$D" mount --remote "$URL" os/base "$W/m" || fail "mount --remote"
cmp <(head -c 4096 "$W/m/usr/big") <(head -c 4096 "$SRC/usr/big") || fail "the first 4 KiB differ"
[ "$(requests "trees/$big" "$ACCESS")" != "" ] || fail "no tree requested"
requests "trees/$big" "$ACCESS" | grep -qv '^200 ' && fail "tree request: $(requests "trees/$big" "$ACCESS")"
[ -n "$(requests "objects/$big" "$ACCESS")" ] || fail "no range request for the object"
requests "objects/$big" "$ACCESS" | grep -qv '^206 ' && fail "a request that is not a range: $(requests "objects/$big" "$ACCESS")"
sent=$(bytes_of "objects/$big" "$ACCESS")
[ "$sent" -le $((8 * MIB)) ] || fail "$sent bytes sent to read 4 KiB of a 64 MiB file"
[ ! -e "$D/objects/$big" ] || fail "an incomplete object under its final name"
ok "first 4 KiB of a 64 MiB file: tree + $(requests "objects/$big" "$ACCESS" | wc -l) range request(s) (206), $sent bytes"

# --- the whole file: same bytes, then the object is stored under its name, digest right ---
cmp "$SRC/usr/big" "$W/m/usr/big" || fail "the whole file differs"
requests "objects/$big" "$ACCESS" | grep -qv '^206 ' && fail "a request that is not a range while reading it all"
sent=$(bytes_of "objects/$big" "$ACCESS")
[ "$sent" -le $((64 * MIB + 4 * MIB)) ] || fail "$sent bytes sent for a 64 MiB file"
[ -f "$D/objects/$big" ] || fail "the complete object is not stored under its name"
[ "$("$CFS" measure "$D/objects/$big" | awk '{ print substr($1, 1, 2) "/" substr($1, 3) }')" = "$big" ] ||
	fail "the stored object has another digest"
n=$(requests "objects/$big" "$ACCESS" | wc -l)
cmp "$SRC/usr/big" "$W/m/usr/big" || fail "second whole read differs"
[ "$(requests "objects/$big" "$ACCESS" | wc -l)" = "$n" ] || fail "a second read fetched again"
ok "whole 64 MiB file in $n range requests ($sent bytes): identical, stored under its name with its digest"

# --- a tampered chunk: EIO for reads covering it, nothing else ---
dd if="$W/m/usr/tampered" bs=4096 skip=$((5 * 256)) count=1 of=/dev/null status=none 2>"$W/dd.err" &&
	fail "a tampered chunk was read"
grep -q "Input/output error" "$W/dd.err" || fail "tampered chunk: $(cat "$W/dd.err")"
cmp <(dd if="$W/m/usr/tampered" bs=4096 skip=$((7 * 256)) count=256 status=none) \
	<(dd if="$SRC/usr/tampered" bs=4096 skip=$((7 * 256)) count=256 status=none) || fail "an untampered chunk of it fails"
cmp <(head -c $MIB "$W/m/usr/tampered") <(head -c $MIB "$SRC/usr/tampered") || fail "its first chunk fails"
cmp "$SRC/etc/conf" "$W/m/etc/conf" || fail "another file broke"
[ ! -e "$D/objects/$tampered" ] || fail "a tampered object was stored"
ok "a tampered byte: EIO for the reads covering its chunk only, the object not stored"

# --- a tree that does not match: the whole object; a tampered object behind it: EIO ---
cmp "$SRC/usr/badtree" "$W/m/usr/badtree" || fail "fallback past a bad tree"
requests "objects/$badtree" "$ACCESS" | grep -q '^200 ' || fail "no whole-object fetch after a bad tree"
[ -f "$D/objects/$badtree" ] || fail "the object fetched whole is not stored"
if cat "$W/m/usr/badboth" >/dev/null 2>"$W/cat.err"; then fail "a tampered object behind a bad tree was served"; fi
grep -q "Input/output error" "$W/cat.err" || fail "bad tree and object: $(cat "$W/cat.err")"
[ ! -e "$D/objects/$badboth" ] || fail "a tampered object was stored"
ok "a tampered tree: the whole object instead (good: read, stored; tampered: EIO)"

# --- no tree on the server: the whole object, as before ---
cmp "$SRC/usr/notree" "$W/m/usr/notree" || fail "an object without a tree"
requests "trees/$notree" "$ACCESS" | grep -q '^404 ' || fail "no tree asked for"
[ "$(requests "objects/$notree" "$ACCESS")" = "200 $((2 * MIB))" ] || fail "not one whole fetch: $(requests "objects/$notree" "$ACCESS")"
cmp "$SRC/usr/small" "$W/m/usr/small" || fail "a small object"
[ -z "$(requests "trees/$small" "$ACCESS")" ] || fail "a tree asked for a file under range_min"
umount "$W/m"
# objects not fetched (tampered, not read yet) are missing; nothing else may be wrong
"$CFS" --repo "$D" fsck >"$W/fsck.out" 2>&1 || true
grep -vE '^(missing-object: |objects: |images: |refs: |temporary files: |status: )' "$W/fsck.out" | grep -q . &&
	fail "after the lazy mount, fsck: $(cat "$W/fsck.out")"
ok "no tree: one whole-object request; small files ask for no tree"

# --- a server that ignores Range (nginx max_ranges 0): the whole object before the first byte ---
start_nginx norange "$S" "max_ranges 0;"
NR=$W/nr
mkdir -p "$NR/objects" "$W/m2"
MOUNTS+=("$W/m2")
"$FUSE" -o "source=$S/images/$DIGEST,basedir=$NR/objects,remote=http://127.0.0.1:$PORT" "$W/m2" || fail "composefs-fuse"
cmp <(head -c 4096 "$W/m2/usr/big") <(head -c 4096 "$SRC/usr/big") || fail "first 4 KiB from a server without ranges"
[ -f "$NR/objects/$big" ] || fail "not fetched whole"
requests "objects/$big" "$W/norange/access.log" | grep -q "^200 $((64 * MIB))\$" || fail "no whole fetch: $(requests "objects/$big" "$W/norange/access.log")"
cmp "$SRC/usr/big" "$W/m2/usr/big" || fail "whole file from a server without ranges"
umount "$W/m2"
ok "a server ignoring Range: the object fetched whole, right bytes"

# --- kill -9 in the middle of ranges: no object under a final name, fsck clean ---
# small writes, so that the rate holds (loopback socket buffers take a 1 MiB chunk at once)
start_nginx slow "$S" "limit_rate 256k; sendfile_max_chunk 16k;"
K=$W/killed
"$CFS" --repo "$K" init >/dev/null
mkdir -p "$W/m3"
MOUNTS+=("$W/m3")
"$FUSE" -f -o "source=$S/images/$DIGEST,basedir=$K/objects,remote=http://127.0.0.1:$PORT" "$W/m3" 2>"$W/fuse3.err" &
fpid=$!
PIDS+=("$fpid")
for _ in $(seq 100); do findmnt -n "$W/m3" >/dev/null && break; sleep 0.05; done
cat "$W/m3/usr/slow" >/dev/null 2>&1 &
cpid=$!
# nginx logs a request when it ends: wait for the first chunk, then kill with others in flight
for _ in $(seq 100); do requests "objects/$slow" "$W/slow/access.log" | grep -q '^206 ' && break; sleep 0.1; done
requests "objects/$slow" "$W/slow/access.log" | grep -q '^206 ' || fail "no range of the slow file arrived"
kill -9 "$fpid"
wait "$fpid" 2>/dev/null || true
umount -l "$W/m3" 2>/dev/null || true
wait "$cpid" && fail "the reader of a killed daemon's file succeeded"
[ ! -e "$K/objects/$slow" ] || fail "an object under its final name after kill -9"
[ "$(count_objects "$K")" = 0 ] || fail "objects under final names after kill -9: $(count_objects "$K")"
fsck_clean "$K" "after kill -9 during ranged reads"
ok "kill -9 during ranged reads: nothing under a final name, fsck clean"
