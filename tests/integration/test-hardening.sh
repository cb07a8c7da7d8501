#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Regression tests of the adversarial review (issue 10): data integrity and
# denial of service in the userspace tools and the repository.
set -euo pipefail

B=${CFS_BUILDDIR:?}
MKCFS=$B/tools/mkcomposefs/mkcomposefs
INFO=$B/tools/composefs-info/composefs-info
DUMP=$B/tools/composefs-dump/composefs-dump
CFS=$B/tools/composefs/composefs
T=$(mktemp -d "${TMPDIR:-/tmp}/cfs-hardening.XXXXXX")
trap 'rm -rf "$T"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

# ---- payloads read back exactly as stored, whatever their length mod 4 ----
for p in x x/ x/y x/yz x/y.b x/y.bi x/y.bin x/y.bin2 ab/cdefg ab/cdefghi; do
	printf '/ 0 40755 2 0 0 0 0.0 - - -\n/file 5000 100644 1 0 0 0 0.0 %s - -\n' "$p" >"$T/p.dump"
	rm -f "$T/p.img" "$T/p2.img"
	"$MKCFS" --from-file "$T/p.dump" "$T/p.img"
	got=$("$INFO" dump "$T/p.img" | sed -n 's,^/file .* 0\.0 \(.*\) - -$,\1,p')
	[ "$got" = "$p" ] || fail "payload '$p' reads back as '$got'"
	"$DUMP" "$T/p.img" "$T/p2.img"
	cmp -s "$T/p.img" "$T/p2.img" || fail "payload '$p': composefs-dump wrote a different image"
done
ok "payloads of every length mod 4 read back as stored; composefs-dump round trips byte for byte"

# ---- ref names: limited at tag time; gc never wedged by a deep one ----
R=$T/repo
"$CFS" --repo "$R" init >/dev/null
mkdir -p "$T/src"
echo hello >"$T/src/f"
img=$("$CFS" --repo "$R" create-image "$T/src" | tail -n1)
deep() { local i s=""; for ((i = 1; i < $1; i++)); do s+="b/"; done; echo "${s}z"; }
rc=0; "$CFS" --repo "$R" tag "$img" "$(deep 65)" 2>"$T/err" || rc=$?
[ "$rc" = 2 ] || fail "tag of a 65-component name: exit $rc"
grep -q 'invalid name.*64' "$T/err" || fail "tag: unexpected message $(cat "$T/err")"
"$CFS" --repo "$R" tag "$img" "$(deep 64)" || fail "tag refused a 64-component name"
"$CFS" --repo "$R" images | grep -q "$(deep 64)" || fail "images does not list the 64-component name"
"$CFS" --repo "$R" fsck >/dev/null || fail "fsck with a 64-component name"
"$CFS" --repo "$R" gc >/dev/null || fail "gc with a 64-component name"
"$CFS" --repo "$R" untag "$(deep 64)"
[ -z "$(ls -A "$R/images/refs")" ] || fail "untag left directories: $(ls -A "$R/images/refs")"
# a deeper ref written by an older version: fsck says what gc refuses, untag repairs
img=$("$CFS" --repo "$R" create-image "$T/src" keep | tail -n1)
name=$(deep 66)
mkdir -p "$R/images/refs/$(dirname "$name")"
up=$(printf '../%.0s' $(seq 1 66))
ln -s "${up}$img" "$R/images/refs/$name"
if "$CFS" --repo "$R" gc >"$T/out" 2>&1; then fail "gc accepted a 66-component ref"; fi
if "$CFS" --repo "$R" fsck >"$T/out" 2>&1; then fail "fsck says ok where gc refuses"; fi
grep -q 'deeper than 64' "$T/out" || fail "fsck: $(cat "$T/out")"
"$CFS" --repo "$R" untag "$name" || fail "untag of an old deep ref"
[ "$(ls -A "$R/images/refs")" = keep ] || fail "untag left directories: $(ls -A "$R/images/refs")"
"$CFS" --repo "$R" fsck >/dev/null || fail "fsck after untag"
# gc prunes empty ref directories, whatever left them
mkdir -p "$R/images/refs/x/y/z"
"$CFS" --repo "$R" gc >/dev/null || fail "gc with empty ref directories"
[ "$(ls -A "$R/images/refs")" = keep ] || fail "gc left empty ref directories: $(ls -A "$R/images/refs")"
ok "ref names: 65 components refused at tag, untag and gc prune directories, fsck reports what gc refuses"

# ---- the writer refuses directory trees deeper than the reader accepts ----
# deep_dump N: a dump whose deepest directory is N levels below the root
deep_dump() {
	python3 -c '
import sys
p = ""
print("/ 0 40755 2 0 0 0 0.0 - - -")
for i in range(int(sys.argv[1])):
    p += "/d"
    print(p + " 0 40755 2 0 0 0 0.0 - - -")
print(p + "/f 0 100644 1 0 0 0 0.0 - - -")' "$1"
}
deep_dump 2047 >"$T/deep-ok.dump"
"$MKCFS" --from-file "$T/deep-ok.dump" "$T/deep-ok.img" || fail "a 2047-deep tree was refused"
"$INFO" dump "$T/deep-ok.img" >"$T/deep-ok.out" || fail "composefs-info refuses the 2047-deep image"
[ "$(wc -l <"$T/deep-ok.out")" = 2049 ] || fail "the 2047-deep image reads back $(wc -l <"$T/deep-ok.out") entries"
"$DUMP" "$T/deep-ok.img" "$T/deep-ok2.img" || fail "composefs-dump refuses the 2047-deep image"
for n in 2048 2100; do
	deep_dump $n >"$T/deep.dump"
	rc=0; "$MKCFS" --from-file "$T/deep.dump" "$T/deep.img" 2>"$T/err" || rc=$?
	[ "$rc" = 1 ] || fail "mkcomposefs on a $n-deep tree: exit $rc"
	grep -q 'nested deeper than 2047' "$T/err" || fail "mkcomposefs: $(cat "$T/err")"
	[ ! -e "$T/deep.img" ] || fail "mkcomposefs left an output file"
	R2=$T/repo-deep
	rm -rf "$R2"
	"$CFS" --repo "$R2" init >/dev/null
	rc=0; "$CFS" --repo "$R2" create-image "$T/deep.dump" deep 2>"$T/err" || rc=$?
	[ "$rc" = 1 ] || fail "create-image on a $n-deep tree: exit $rc"
	grep -q 'nested deeper than 2047' "$T/err" || fail "create-image: $(cat "$T/err")"
	[ -z "$(ls -A "$R2/images/refs")" ] && [ -z "$(find "$R2/objects" -type f)" ] ||
		fail "create-image left files: $(find "$R2" -type f -o -type l)"
	"$CFS" --repo "$R2" gc >/dev/null || fail "gc after a refused deep tree"
done
ok "trees deeper than 2047 directories are refused by mkcomposefs and create-image, nothing written; 2047 round trips"

# ---- gc counts only what it removed; object-named directories are reported, not "freed" ----
R3=$T/repo-dir
"$CFS" --repo "$R3" init >/dev/null
"$CFS" --repo "$R3" create-image "$T/src" keep >/dev/null
mkdir -p "$R3/objects/ab/$(printf 'c%.0s' $(seq 1 62))"
"$CFS" --repo "$R3" gc >"$T/out" 2>&1 || fail "gc with an object-named directory: $(cat "$T/out")"
grep -q ' 0 bytes (0 B)' "$T/out" || fail "gc claims to have freed something: $(cat "$T/out")"
[ -d "$R3/objects/ab/$(printf 'c%.0s' $(seq 1 62))" ] || fail "gc removed a directory it does not own"
if "$CFS" --repo "$R3" fsck >"$T/out" 2>&1; then fail "fsck ignores an object-named directory"; fi
grep -q 'not a regular file' "$T/out" || fail "fsck: $(cat "$T/out")"
ok "gc reports 0 bytes for an object-named directory it does not remove; fsck reports it"

# ---- a FIFO where meta.json or an image object should be hangs nothing ----
# in_time CMD...: run CMD with a deadline; a hang (exit 124) fails the test, any other status is returned
in_time() {
	local rc=0
	timeout -k 5 20 "$@" || rc=$?
	[ "$rc" != 124 ] && [ "$rc" != 137 ] || fail "hung: $*"
	return "$rc"
}
R4=$T/repo-fifo
"$CFS" --repo "$R4" init >/dev/null
img=$("$CFS" --repo "$R4" create-image "$T/src" keep | tail -n1)
obj="$R4/objects/${img:0:2}/${img:2}"
mv "$obj" "$T/img-object"
mkfifo "$obj"
in_time "$CFS" --repo "$R4" images >/dev/null 2>&1 || true
for cmd in fsck "mount --fuse keep $T/nomount"; do
	# shellcheck disable=SC2086
	if in_time "$CFS" --repo "$R4" $cmd >"$T/out" 2>&1; then fail "$cmd succeeded with a FIFO image object"; fi
done
in_time "$CFS" --repo "$R4" fsck >"$T/out" 2>&1 || true
grep -q 'not a regular file' "$T/out" || fail "fsck does not name the FIFO: $(cat "$T/out")"
# gc treats the name as dead (its image is not a file) and removes the FIFO
in_time "$CFS" --repo "$R4" gc >/dev/null 2>&1 || true
[ ! -p "$obj" ] || fail "gc left the FIFO"
mv "$R4/meta.json" "$T/meta.json"
mkfifo "$R4/meta.json"
for cmd in images gc fsck; do
	if in_time "$CFS" --repo "$R4" $cmd >"$T/out" 2>&1; then fail "$cmd succeeded with a FIFO meta.json"; fi
done
rm "$R4/meta.json"
mv "$T/meta.json" "$R4/meta.json"
ok "a FIFO image object or meta.json: every command fails at once instead of hanging"

# ---- symlinked repository directories: nothing followed, nothing deleted outside ----
for d in objects images images/refs; do
	R5=$T/repo-link
	rm -rf "$R5" "$T/outside"
	"$CFS" --repo "$R5" init >/dev/null
	"$CFS" --repo "$R5" create-image "$T/src" keep >/dev/null
	mv "$R5/$d" "$T/outside"
	ln -s "$T/outside" "$R5/$d"
	# an object-named file no image refers to, in the link's target
	victim="$T/outside/ab/$(printf 'c%.0s' $(seq 1 62))"
	mkdir -p "$(dirname "$victim")"
	echo precious >"$victim"
	for cmd in "create-image $T/src other" images gc fsck; do
		# shellcheck disable=SC2086
		if in_time "$CFS" --repo "$R5" $cmd >"$T/out" 2>&1; then fail "$d a symlink: '$cmd' succeeded: $(cat "$T/out")"; fi
	done
	[ "$(cat "$victim")" = precious ] || fail "$d a symlink: a file outside the repository was deleted"
done
ok "objects/, images/ or images/refs a symlink: create-image, images, gc and fsck refuse; nothing outside is deleted"

# ---- payloads no mount can serve: refused in strict mode, a warning otherwise ----
for p in /etc/shadow ../.. xx/../.. 'a//b' 'x/' './x' ..; do
	printf '/ 0 40755 2 0 0 0 0.0 - - -\n/file 5000 100644 1 0 0 0 0.0 %s - -\n' "$p" >"$T/p.dump"
	rm -f "$T/p.img"
	rc=0; CFS_PARSE_STRICT=1 "$MKCFS" --from-file "$T/p.dump" "$T/p.img" 2>"$T/err" || rc=$?
	[ "$rc" = 1 ] || fail "strict: payload '$p': exit $rc"
	grep -q 'line 2: PAYLOAD.*no.*mount can serve' "$T/err" || fail "strict: payload '$p': $(cat "$T/err")"
	[ "$(wc -l <"$T/err")" = 1 ] && [ ! -e "$T/p.img" ] || fail "strict: payload '$p': more than one line, or an image"
	env -u CFS_PARSE_STRICT "$MKCFS" --from-file "$T/p.dump" "$T/p.img" 2>"$T/err" || fail "lenient: payload '$p' refused"
	grep -q "warning: .*1 file(s) with a backing path no mount can serve.*\"$p\"" "$T/err" ||
		fail "lenient: payload '$p': no warning: $(cat "$T/err")"
	[ "$(wc -l <"$T/err")" = 1 ] || fail "lenient: payload '$p': more than one line"
done
# what only looks like them, or is not read through the payload, passes silently
printf '%s\n' '/ 0 40755 2 0 0 0 0.0 - - -' '/a 5000 100644 1 0 0 0 0.0 a..b/.c - -' \
	'/b 0 100644 1 0 0 0 0.0 ../.. - -' '/c 5000 100644 1 0 0 0 0.0 ab/cd - -' \
	'/d 2 100644 1 0 0 0 0.0 /etc/x hi -' '/e 5 120777 1 0 0 0 0.0 ../.. - -' >"$T/p.dump"
CFS_PARSE_STRICT=1 "$MKCFS" --from-file "$T/p.dump" "$T/p.img" 2>"$T/err" || fail "strict: valid payloads refused: $(cat "$T/err")"
env -u CFS_PARSE_STRICT "$MKCFS" --from-file "$T/p.dump" "$T/p.img" 2>"$T/err"
[ ! -s "$T/err" ] || fail "lenient: warning for valid payloads: $(cat "$T/err")"
ok "payloads /etc/shadow, ../.., xx/../.., a//b, x/, ./x, ..: strict mode refuses them, lenient mode warns once"

# ---- missing-objects: payloads confined to the basedir, no oracle for files outside ----
BD=$T/basedir
OUT=$T/outside-dir
mkdir -p "$BD/ab" "$BD/in" "$OUT"
echo present >"$BD/ab/present"
echo secret >"$OUT/secret"
ln -s ../ab "$BD/in/dir"          # a directory symlink that stays inside: followed, as composefs-fuse does
ln -s ../ab/present "$BD/in/last" # a symlink as the object itself: refused, as composefs-fuse does
ln -s "$OUT" "$BD/esc"            # an absolute symlink out of the basedir
ln -s ../outside-dir "$BD/rel"    # a relative one out of it
mkfifo "$BD/ab/fifo"
printf '%s\n' '/ 0 40755 2 0 0 0 0.0 - - -' \
	'/a 5000 100644 1 0 0 0 0.0 ab/present - -' '/b 5000 100644 1 0 0 0 0.0 in/dir/present - -' \
	'/b2 5000 100644 1 0 0 0 0.0 in/last - -' \
	'/c 5000 100644 1 0 0 0 0.0 ../outside-dir/secret - -' '/d 5000 100644 1 0 0 0 0.0 ab/../../outside-dir/secret - -' \
	'/e 5000 100644 1 0 0 0 0.0 esc/secret - -' '/f 5000 100644 1 0 0 0 0.0 rel/secret - -' \
	"/g 5000 100644 1 0 0 0 0.0 $OUT/secret - -" '/h 5000 100644 1 0 0 0 0.0 ab/fifo - -' \
	'/i 5000 100644 1 0 0 0 0.0 ab/absent - -' >"$T/m.dump"
"$MKCFS" --from-file "$T/m.dump" "$T/m.img" 2>/dev/null
timeout 20 "$INFO" --basedir="$BD" missing-objects "$T/m.img" >"$T/out" || fail "missing-objects: exit $?"
want=$(printf '%s\n' ../outside-dir/secret ab/../../outside-dir/secret esc/secret rel/secret "$OUT/secret" ab/fifo ab/absent in/last | LC_ALL=C sort)
[ "$(cat "$T/out")" = "$want" ] || fail "missing-objects outside the basedir: got $(cat "$T/out"), want $want"
# whether the outside file exists makes no difference
rm "$OUT/secret"
"$INFO" --basedir="$BD" missing-objects "$T/m.img" >"$T/out2"
cmp -s "$T/out" "$T/out2" || fail "missing-objects answers differently once a file outside the basedir is gone"
ok "missing-objects: payloads resolved beneath the basedir as composefs-fuse does (.., symlinks out, absolute paths, a FIFO: missing)"
