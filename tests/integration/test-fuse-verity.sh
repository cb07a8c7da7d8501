#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# composefs-fuse verification: tampered objects fail alone, digest=, verity modes, tree cache.
# shellcheck source=test-fuse-lib.sh
. "$(dirname "$0")/test-fuse-lib.sh"

mk_tree "$W/src"
digest=$("$MKCFS" --print-digest --digest-store="$W/objs" "$W/src" "$W/img.cfs" | tail -n1)
digest=${digest%% *}
[[ "$digest" =~ ^[0-9a-f]{64}$ ]] || fail "mkcomposefs --print-digest gave '$digest'"

# Object names, as the image records them (trusted.overlay.redirect on the EROFS layer).
mkdir -p "$W/erofs"
mount -t erofs -o ro,loop "$W/img.cfs" "$W/erofs"
MOUNTS+=("$W/erofs")
objname() { getfattr --absolute-names -n trusted.overlay.redirect --only-values "$W/erofs/$1" | sed 's,^/,,'; }
o1=$(objname large1) o2=$(objname large2) o3=$(objname large3)
o_small=$(objname dir/size-4096)
umount "$W/erofs"

# Reference contents from the intact store.
listing_sums() { (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum); }
fuse_mount "$W/good" "$W/log-good" "source=$W/img.cfs,basedir=$W/objs,digest=$digest"
listing_sums "$W/good" >"$W/good.sums"
fuse_umount "$W/good"
[ ! -s "$W/log-good" ] || fail "intact store logged: $(cat "$W/log-good")"
(cd "$W/src" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum) |
	grep -v './wh-dir/whiteout' >"$W/src.sums"
grep -v './wh-dir/whiteout' "$W/good.sums" | diff -u "$W/src.sums" - || fail "verified contents differ from the source"
ok "digest= accepted; every file verified equal to the source"

# Wrong digest: refuse to mount, with a message, non-zero exit.
bad=$(printf '%s' "$digest" | tr '0-9a-f' '1-9a-f0')
mkdir -p "$W/bad"
rc=0; "$FUSE" -f -o "source=$W/img.cfs,basedir=$W/objs,digest=$bad" "$W/bad" 2>"$W/log-bad" || rc=$?
[ "$rc" = 1 ] || fail "wrong digest: exit $rc"
grep -q 'digest' "$W/log-bad" || fail "wrong digest: no message"
! mountpoint -q "$W/bad" || fail "wrong digest: mounted anyway"
ok "wrong digest= refused: $(head -n1 "$W/log-bad")"

# Tamper with a copy of the store: flip a byte in the middle of one object,
# truncate another, delete a third.
cp -a "$W/objs" "$W/tobjs"
size1=$(stat -c %s "$W/tobjs/$o1")
mid=$((size1 / 2))
byte=$(dd if="$W/tobjs/$o1" bs=1 skip=$mid count=1 status=none | od -An -tu1 | tr -d ' ')
printf "\\$(printf '%03o' $(((byte + 1) % 256)))" | dd of="$W/tobjs/$o1" bs=1 seek=$mid conv=notrunc status=none
truncate -s $(($(stat -c %s "$W/tobjs/$o2") - 5000)) "$W/tobjs/$o2"
rm "$W/tobjs/$o3"

check_tampered() {
	local mnt=$1 log=$2 f
	for f in large1 large2 large3; do
		if cat "$mnt/$f" >/dev/null 2>"$W/cat.err"; then fail "$f: tampered object read without error"; fi
		grep -q 'Input/output error' "$W/cat.err" || fail "$f: expected EIO, got $(cat "$W/cat.err")"
		cat "$mnt/$f" >/dev/null 2>&1 && fail "$f: second read succeeded"
	done
	listing_sums "$mnt" 2>/dev/null | grep -v -E '\./large[123]$' >"$W/t.sums" || true
	grep -v -E '\./large[123]$' "$W/good.sums" | diff -u - "$W/t.sums" || fail "intact files changed"
	for o in "$o1" "$o2" "$o3"; do
		[ "$(grep -c "$o" "$log")" = 1 ] || fail "expected one log line naming $o: $(cat "$log")"
	done
	[ "$(wc -l <"$log")" = 3 ] || fail "unexpected log lines: $(cat "$log")"
}
fuse_mount "$W/t" "$W/log-t" "source=$W/img.cfs,basedir=$W/tobjs"
check_tampered "$W/t" "$W/log-t"
fuse_umount "$W/t"
ok "verity=on: exactly the 3 tampered files fail with EIO, one log line each: $(tr '\n' ';' <"$W/log-t")"

# verity=off: no content checks; the flipped object reads, the missing one cannot,
# and the truncated one neither (its size differs from the image's: always EIO).
fuse_mount "$W/off" "$W/log-off" "source=$W/img.cfs,basedir=$W/tobjs,verity=off"
cmp -s "$W/off/large1" "$W/src/large1" && fail "verity=off: tampered content equals source?"
cat "$W/off/large1" >/dev/null || fail "verity=off: large1 unreadable"
if cat "$W/off/large2" >/dev/null 2>&1; then fail "verity=off: truncated object read"; fi
[ "$(cmp "$W/off/large1" "$W/src/large1" | grep -c differ)" = 1 ] || fail "verity=off: flipped byte"
if cat "$W/off/large3" >/dev/null 2>&1; then fail "verity=off: missing object read"; fi
cmp "$W/off/dir/size-100000" "$W/src/dir/size-100000" || fail "verity=off: intact file"
fuse_umount "$W/off"
ok "verity=off reads tampered objects unchecked, but not one whose size differs"

# verity=require: a backed file without a digest in the image fails; with one it reads.
cat >"$W/nodigest.dump" <<EOF
/ 4096 40755 2 0 0 0 0.0 - - -
/nodigest $(stat -c %s "$W/src/dir/size-4096") 100644 1 0 0 0 0.0 $o_small - -
/withdigest $(stat -c %s "$W/src/dir/size-4096") 100644 1 0 0 0 0.0 $o_small - ${o_small%%/*}${o_small#*/}
/inline 6 100644 1 0 0 0 0.0 - hello\\n -
EOF
"$MKCFS" --from-file "$W/nodigest.dump" "$W/nodigest.cfs"
fuse_mount "$W/req" "$W/log-req" "source=$W/nodigest.cfs,basedir=$W/objs,verity=require"
if cat "$W/req/nodigest" >/dev/null 2>&1; then fail "verity=require: file without digest read"; fi
cmp "$W/req/withdigest" "$W/src/dir/size-4096" || fail "verity=require: file with digest"
[ "$(cat "$W/req/inline")" = hello ] || fail "verity=require: inline file"
fuse_umount "$W/req"
grep -q "$o_small" "$W/log-req" || fail "verity=require: no log line"
fuse_mount "$W/on" "$W/log-on" "source=$W/nodigest.cfs,basedir=$W/objs"
cmp "$W/on/nodigest" "$W/src/dir/size-4096" || fail "verity=on: file without digest"
fuse_umount "$W/on"
ok "verity=require refuses files without digest; verity=on reads them"

# Persistent tree cache: saved on first use, loaded (and re-checked) later; a
# damaged cache file is rebuilt, never trusted.
fuse_mount "$W/c" "$W/log-c1" "source=$W/img.cfs,basedir=$W/objs,verity_cache=$W/vcache,stats"
cmp "$W/c/large1" "$W/src/large1" || fail "cache: first read"
fuse_umount "$W/c"
grep -q 'saved [1-9]' "$W/log-c1" || fail "cache: nothing saved: $(cat "$W/log-c1")"
[ -n "$(ls "$W/vcache")" ] || fail "cache dir empty"
fuse_mount "$W/c" "$W/log-c2" "source=$W/img.cfs,basedir=$W/objs,verity_cache=$W/vcache,stats"
cmp "$W/c/large1" "$W/src/large1" || fail "cache: second read"
fuse_umount "$W/c"
grep -q 'loaded [1-9]' "$W/log-c2" || fail "cache: nothing loaded: $(cat "$W/log-c2")"
for f in "$W"/vcache/*; do printf 'garbage' | dd of="$f" bs=1 seek=200 conv=notrunc status=none; done
fuse_mount "$W/c" "$W/log-c3" "source=$W/img.cfs,basedir=$W/objs,verity_cache=$W/vcache,stats"
cmp "$W/c/large1" "$W/src/large1" || fail "cache: read with damaged cache"
fuse_umount "$W/c"
grep -q 'loaded 0' "$W/log-c3" || fail "cache: damaged file loaded: $(cat "$W/log-c3")"
ok "verity_cache: saved, loaded, damaged entries rebuilt"

# A cached tree does not hide a tampered object.
fuse_mount "$W/c" "$W/log-c4" "source=$W/img.cfs,basedir=$W/tobjs,verity_cache=$W/vcache"
if cat "$W/c/large1" >/dev/null 2>&1; then fail "cache: tampered object read"; fi
fuse_umount "$W/c"
ok "cached tree still catches the flipped byte"

# Tree memory bound 0: trees are dropped when files close, reads still verified.
fuse_mount "$W/lru" "$W/log-lru" "source=$W/img.cfs,basedir=$W/objs,tree_mem=0,stats"
for i in 1 2; do
	for f in large1 large2 large3 dir/size-100000; do cmp "$W/lru/$f" "$W/src/$f" || fail "lru: $f"; done
	echo 3 >/proc/sys/vm/drop_caches
done
fuse_umount "$W/lru"
grep -q 'evictions [1-9]' "$W/log-lru" || fail "lru: no evictions: $(cat "$W/log-lru")"
grep -q 'memory 0 ' "$W/log-lru" || fail "lru: memory left: $(cat "$W/log-lru")"
ok "tree_mem=0: trees evicted after close ($(tail -n1 "$W/log-lru"))"

# Large objects: the tree is built on several threads, and the open that builds
# it stores what it hashed in the page cache (prefill_mem) instead of having it
# read and hashed again. Only verified bytes ever get there.
mkdir -p "$W/bigsrc"
head -c $((40 * 1024 * 1024 + 777)) /dev/urandom >"$W/bigsrc/big"
"$MKCFS" --digest-store="$W/bigobjs" "$W/bigsrc" "$W/big.cfs"
bigobj=$(find "$W/bigobjs" -type f -size $((40 * 1024 * 1024 + 777))c)
[ -n "$bigobj" ] || fail "no 40 MiB object"
resident() { fincore --bytes --noheadings --output RES "$1" | tr -d ' '; }
for pm in 0 64 1024; do
	fuse_mount "$W/big" "$W/log-big" "source=$W/big.cfs,basedir=$W/bigobjs,prefill_mem=$pm"
	echo 3 >/proc/sys/vm/drop_caches
	head -c 4096 "$W/big/big" >/dev/null
	res=$(resident "$W/big/big")
	case $pm in
	0) [ "$res" -lt $((16 * 1024 * 1024)) ] || fail "prefill_mem=0: $res bytes cached after a 4 KiB read" ;;
	64) [ "$res" -ge $((40 * 1024 * 1024)) ] || fail "prefill_mem=64: only $res bytes cached after the open" ;;
	1024) [ "$res" -ge $((40 * 1024 * 1024)) ] || fail "prefill_mem=1024: only $res bytes cached" ;;
	esac
	cmp "$W/big/big" "$W/bigsrc/big" || fail "prefill_mem=$pm: content differs"
	fuse_umount "$W/big"
	[ ! -s "$W/log-big" ] || fail "prefill_mem=$pm: logged $(cat "$W/log-big")"
done
ok "40 MiB object: tree built on threads, whole file in the page cache after its first open (prefill), equal to the source"

flip() { # FILE OFFSET
	local b
	b=$(dd if="$1" bs=1 skip="$2" count=1 status=none | od -An -tu1 | tr -d ' ')
	printf "\\$(printf '%03o' $(((b + 1) % 256)))" | dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}
# Changed after the open: the page cache holds the bytes the open verified, and
# once they are dropped, reads covering the changed block fail, others not.
fuse_mount "$W/big" "$W/log-big2" "source=$W/big.cfs,basedir=$W/bigobjs,stats,prefill_mem=1024"
exec 7<"$W/big/big"
flip "$bigobj" $((30 * 1024 * 1024 + 5))
cmp "$W/big/big" "$W/bigsrc/big" || fail "prefilled pages are not the verified bytes"
echo 3 >/proc/sys/vm/drop_caches
if dd if="$W/big/big" of=/dev/null bs=1M skip=30 count=1 status=none 2>/dev/null; then
	fail "changed block read after the page cache was dropped"
fi
dd if="$W/big/big" bs=1M count=4 status=none | cmp - <(head -c $((4 * 1024 * 1024)) "$W/bigsrc/big") ||
	fail "intact blocks of a changed object"
exec 7<&-
fuse_umount "$W/big"
grep -q "$(basename "$bigobj")" "$W/log-big2" || fail "changed object not logged: $(cat "$W/log-big2")"
ok "object changed after its open: prefilled bytes are the verified ones; the changed block then fails with EIO"

# Stopped with files still open (their RELEASE never comes): the daemon closes them itself and
# exits 0 (under the sanitizers, LeakSanitizer would report the open files otherwise).
fuse_mount "$W/held" "$W/log-held" "source=$W/img.cfs,basedir=$W/objs"
exec 7<"$W/held/large1"
head -c 4096 <&7 >/dev/null || fail "reading large1"
kill -TERM "${FUSE_PID[$W/held]}"
rc=0
wait "${FUSE_PID[$W/held]}" || rc=$?
unset "FUSE_PID[$W/held]"
exec 7<&-
umount -l "$W/held" 2>/dev/null || true
[ "$rc" = 0 ] || { cat "$W/log-held" >&2; fail "composefs-fuse stopped with a file open: exit $rc"; }
! sanitizer_report "$W/log-held" "$rc" || { cat "$W/log-held" >&2; fail "composefs-fuse stopped with a file open: sanitizer report"; }
ok "stopped with a file open: the daemon closes it and exits 0"

# Tampered before the first open (threads path, cold): the open fails, nothing is served.
for pm in 0 1024; do
	fuse_mount "$W/big" "$W/log-big3" "source=$W/big.cfs,basedir=$W/bigobjs,prefill_mem=$pm"
	echo 3 >/proc/sys/vm/drop_caches
	if head -c 4096 "$W/big/big" >/dev/null 2>"$W/big.err"; then fail "prefill_mem=$pm: tampered object opened"; fi
	grep -q 'Input/output error' "$W/big.err" || fail "prefill_mem=$pm: expected EIO: $(cat "$W/big.err")"
	[ "$(resident "$W/big/big" 2>/dev/null || echo 0)" = 0 ] || fail "prefill_mem=$pm: pages of a tampered object cached"
	fuse_umount "$W/big"
	grep -q "does not match" "$W/log-big3" || fail "prefill_mem=$pm: no log line: $(cat "$W/log-big3")"
done
ok "object tampered before its first open: EIO on the threaded build, nothing cached"

# Tree from verity_cache, one block of the large object tampered: with the object cold and with it
# in the page cache (reads then come in 1 MiB requests, several at once, with read-ahead hints on
# the object), every 4 KiB read but the one covering the changed block gives the source's bytes,
# and that one fails with EIO; a 1 MiB read over it gives no byte of it.
dd if="$W/bigsrc/big" of="$bigobj" bs=1 skip=$((30 * 1024 * 1024 + 5)) seek=$((30 * 1024 * 1024 + 5)) count=1 \
	conv=notrunc status=none
cmp "$bigobj" "$W/bigsrc/big" || fail "restoring the big object"
fuse_mount "$W/big" "$W/log-big4" "source=$W/big.cfs,basedir=$W/bigobjs,verity_cache=$W/bigvc,stats"
cmp "$W/big/big" "$W/bigsrc/big" || fail "verity_cache: intact big object"
fuse_umount "$W/big"
grep -q 'saved [1-9]' "$W/log-big4" || fail "big object's tree not saved: $(cat "$W/log-big4")"
badblock=7000
flip "$bigobj" $((badblock * 4096 + 123))
blockcheck() { # FILE SOURCE BADBLOCK: every 4 KiB block read alone; prints the blocks that fail
	python3 - "$@" <<'PY'
import errno, os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
src = open(sys.argv[2], "rb").read()
bad = int(sys.argv[3])
# first a 1 MiB read over the bad block: EIO, or only bytes before it
start = bad * 4096 - 3 * 4096
try:
    got = os.pread(fd, 1 << 20, start)
    if len(got) >= 4 * 4096 or got != src[start:start + len(got)]:
        sys.exit("1 MiB read over the changed block returned %d bytes" % len(got))
except OSError as e:
    if e.errno != errno.EIO:
        raise
failed = []
for b in range((len(src) + 4095) // 4096):
    try:
        got = os.pread(fd, 4096, b * 4096)
    except OSError as e:
        if e.errno != errno.EIO:
            raise
        failed.append(b)
        continue
    if got != src[b * 4096:(b + 1) * 4096]:
        sys.exit("block %d: other bytes than the source's" % b)
print(" ".join(map(str, failed)))
PY
}
for state in cold warm; do
	fuse_mount "$W/big" "$W/log-big5" "source=$W/big.cfs,basedir=$W/bigobjs,verity_cache=$W/bigvc,stats"
	echo 3 >/proc/sys/vm/drop_caches
	[ "$state" = cold ] || cat "$bigobj" >/dev/null
	failed=$(blockcheck "$W/big/big" "$W/bigsrc/big" "$badblock") || fail "$state: $failed"
	[ "$failed" = "$badblock" ] || fail "$state object, tree from verity_cache: blocks failing: '$failed', want $badblock"
	fuse_umount "$W/big"
	grep -q 'loaded [1-9]' "$W/log-big5" || fail "$state: tree not loaded from verity_cache: $(cat "$W/log-big5")"
	grep -q "$(basename "$bigobj")" "$W/log-big5" || fail "$state: changed object not logged: $(cat "$W/log-big5")"
done
ok "tree from verity_cache, one block changed: exactly the reads covering it fail with EIO, object cold and in the page cache"
echo PASS
