#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# composefs repository: dedup across images, refs, gc, mounts, fsck of tampered repositories.
# shellcheck source=test-repo-lib.sh
. "$(dirname "$0")/test-repo-lib.sh"

R=$W/repo

# --- the helpers fail loudly: a missing or failing command never yields a short file ---
mkdir -p "$W/fakebin"
printf '#!/bin/sh\nexit 1\n' >"$W/fakebin/openssl"
chmod +x "$W/fakebin/openssl"
rc=0; (PATH=$W/fakebin:$PATH write_file "$W/short" 5000 s) 2>"$W/err" || rc=$?
[ "$rc" != 0 ] && grep -q 'write_file' "$W/err" || fail "write_file with a failing openssl: exit $rc, $(stat -c %s "$W/short" 2>&1) bytes"
mkdir -p "$W/nossl"
ln -s "$(command -v python3)" "$W/nossl/python3"
rc=0; (PATH=$W/nossl; . "$CFS_SRCDIR/tests/integration/test-repo-lib.sh") 2>"$W/err" || rc=$?
[ "$rc" = 1 ] && grep -q "need the 'openssl' command" "$W/err" || fail "sourcing the helpers without openssl: exit $rc: $(cat "$W/err")"
write_file "$W/long" 100000 s
[ "$(stat -c %s "$W/long")" = 100000 ] || fail "write_file size"
ok "repository test helpers fail on a missing or failing openssl"

# --- command line ---
"$CFS" --help | grep -q create-image || fail "--help"
"$CFS" --version | grep -q composefs || fail "--version"
rc=0; "$CFS" --repo "$R" frobnicate 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "unknown command: exit $rc, want 2"
rc=0; "$CFS" --repo "$R" images 2>"$W/err" || rc=$?
[ "$rc" = 1 ] && grep -q 'no repository' "$W/err" || fail "missing repository: exit $rc: $(cat "$W/err")"
ok "options and exit codes"

# --- init: the composefs-rs meta.json ---
"$CFS" --repo "$R" init >/dev/null
grep -q '"version": 1' "$R/meta.json" || fail "meta.json version"
grep -q '"algorithm": "fsverity-sha256-12"' "$R/meta.json" || fail "meta.json algorithm"
grep -q '"v1_erofs"' "$R/meta.json" || fail "meta.json v1_erofs"
"$CFS" --repo "$R" init >/dev/null || fail "init is not idempotent"
rc=0; "$CFS" --repo "$R" init --hash sha512 2>/dev/null || rc=$?
[ "$rc" = 1 ] || fail "re-init with another hash: exit $rc"
[ -d "$R/objects" ] && [ -d "$R/images/refs" ] || fail "layout"
ok "init writes meta.json and the layout"

# --- two overlapping trees ---
mk_trees() {
	local d=$1
	for t in A B; do
		for i in $(seq 1 30); do write_file "$d/$t/shared/f$i" $((i * 1500)) "shared$i"; done
		write_file "$d/$t/shared/tiny" 20 tiny
		write_file "$d/$t/shared/empty" 0 x
		ln -s shared/f1 "$d/$t/link"
		mkdir -p "$d/$t/emptydir"
		ln "$d/$t/shared/f2" "$d/$t/hardlink"
	done
	for i in $(seq 1 12); do write_file "$d/A/only/a$i" $((i * 3000 + 7)) "onlyA$i"; done
	for i in $(seq 1 9); do write_file "$d/B/only/b$i" $((i * 2900 + 3)) "onlyB$i"; done
	write_file "$d/A/big" $((3 * 1024 * 1024 + 123)) bigA
	write_file "$d/B/big" $((2 * 1024 * 1024 + 5)) bigB
	# the same content under another name in B: still one object
	cp "$d/A/only/a1" "$d/B/copy-of-a1"
	chmod 0600 "$d/B/only/b1"
	setfattr -n user.test -v hello "$d/B/only/b2" 2>/dev/null || true
	gen_tree 4711 "$d/A/gen"
	gen_tree 4711 "$d/B/gen"
}
mk_trees "$W"
DA=$("$CFS" --repo "$R" create-image "$W/A" imageA)
DB=$("$CFS" --repo "$R" create-image "$W/B" imageB)
[ ${#DA} = 64 ] && [ ${#DB} = 64 ] || fail "digests: $DA $DB"
[ "$DA" != "$DB" ] || fail "two different trees gave one digest"
[ "$(readlink "$R/images/$DA")" = "../objects/${DA:0:2}/${DA:2}" ] || fail "images/<digest> link"
[ "$(readlink "$R/images/refs/imageA")" = "../$DA" ] || fail "images/refs/imageA link: $(readlink "$R/images/refs/imageA")"
# the image digest is the fs-verity digest of the image object
"$CFS" measure "$R/images/$DA" | grep -q "^$DA " || fail "image digest"

expected_objects sha256 "$W/A" >"$W/expA"
expected_objects sha256 "$W/B" >"$W/expB"
sort -u "$W/expA" "$W/expB" >"$W/expAB"
want=$(($(wc -l <"$W/expAB") + 2))
have=$(count_objects "$R")
[ "$have" = "$want" ] || fail "objects stored: $have, want $want (each content once plus 2 images)"
ok "two overlapping trees: $have objects, shared contents stored once"

"$CFS" --repo "$R" image-objects imageA >"$W/objA"
diff -u "$W/expA" "$W/objA" >&2 || fail "image-objects imageA"
"$CFS" --repo "$R" image-objects "$DB" >"$W/objB"
diff -u "$W/expB" "$W/objB" >&2 || fail "image-objects by digest"
ok "image-objects lists exactly the contents of each tree"

# same tree again: same digest, nothing new
objs_before=$(count_objects "$R")
[ "$("$CFS" --repo "$R" create-image "$W/A")" = "$DA" ] || fail "re-import changed the digest"
[ "$(count_objects "$R")" = "$objs_before" ] || fail "re-import added objects"
ok "re-importing a tree is a no-op"

"$CFS" --repo "$R" images >"$W/images"
grep -q "^imageA  *$DA " "$W/images" && grep -q "^imageB  *$DB " "$W/images" || { cat "$W/images" >&2; fail "images"; }
"$CFS" --repo "$R" images --json >"$W/images.json"
grep -q "\"digest\": \"$DA\"" "$W/images.json" && grep -q '"names": \["imageB"\]' "$W/images.json" ||
	fail "images --json"
nA=$(wc -l <"$W/expA")
grep "^imageA " "$W/images" | awk '{print $4}' | grep -qx "$nA" || fail "images: object count of imageA"
ok "images lists names, digests, sizes and object counts"

# --- tag / untag ---
"$CFS" --repo "$R" tag "$DA" other/name
[ "$(readlink "$R/images/refs/other/name")" = "../../$DA" ] || fail "nested ref link"
"$CFS" --repo "$R" tag imageB alias
[ "$(readlink "$R/images/refs/alias")" = "../$DB" ] || fail "tag by name"
rc=0; "$CFS" --repo "$R" tag 0000000000000000000000000000000000000000000000000000000000000000 x 2>/dev/null || rc=$?
[ "$rc" = 1 ] || fail "tag of a missing image: exit $rc"
rc=0; "$CFS" --repo "$R" tag "$DA" ../evil 2>/dev/null || rc=$?
[ "$rc" = 2 ] || fail "tag with an invalid name: exit $rc"
"$CFS" --repo "$R" untag other/name alias
[ ! -e "$R/images/refs/other/name" ] && [ ! -L "$R/images/refs/alias" ] || fail "untag"
rc=0; "$CFS" --repo "$R" untag nosuch 2>/dev/null || rc=$?
[ "$rc" = 1 ] || fail "untag of a missing name: exit $rc"
ok "tag and untag"

"$CFS" --repo "$R" fsck >"$W/fsck" || { cat "$W/fsck" >&2; fail "fsck of a good repository"; }
ok "fsck: clean repository passes"

# --- mount by name and by digest, against the sources ---
do_mount "$R" imageA "$W/mA"
compare_trees "$W/A" "$W/mA"
do_mount "$R" "$DB" "$W/mB"
compare_trees "$W/B" "$W/mB"
umount "$W/mA"
ok "kernel mounts (by name, by digest) equal their sources"

if [ -x "$B/tools/composefs-fuse/composefs-fuse" ]; then
	mkdir -p "$W/fA"
	MOUNTS+=("$W/fA")
	"$CFS" --repo "$R" mount --fuse imageA "$W/fA" || fail "mount --fuse"
	compare_trees "$W/A" "$W/fA"
	umount "$W/fA"
	# options after the operands, as users type them (GNU style), and -- ends them
	"$CFS" --repo "$R" mount imageA "$W/fA" --fuse || fail "mount IMAGE MNT --fuse"
	findmnt -n -o FSTYPE "$W/fA" | grep -q '^fuse' || fail "mount IMAGE MNT --fuse: not a FUSE mount"
	compare_trees "$W/A" "$W/fA"
	umount "$W/fA"
	"$CFS" --repo "$R" images --json >"$W/j1" && "$CFS" --repo "$R" images >"$W/j2" &&
		! cmp -s "$W/j1" "$W/j2" && head -c1 "$W/j1" | grep -q '\[' || fail "images --json"
	"$CFS" --repo "$R" gc --dry-run >"$W/gc" || fail "gc --dry-run"
	"$CFS" --repo "$R" fsck -- --json >"$W/fsck" 2>&1 && fail "fsck -- --json: an operand after -- taken as an option"
	ok "FUSE mount (composefs-fuse, verified) equals its source; options after operands work"
fi

# --- gc: untag A, exactly B's objects remain ---
"$CFS" --repo "$R" gc --dry-run >"$W/gc" || fail "gc --dry-run"
grep -q 'would remove 0 objects' "$W/gc" || fail "dry run with everything referenced: $(cat "$W/gc")"
"$CFS" --repo "$R" untag imageA
"$CFS" --repo "$R" gc --dry-run >"$W/gc"
[ "$(count_objects "$R")" = "$want" ] || fail "gc --dry-run deleted something"
"$CFS" --repo "$R" gc >"$W/gc"
cat "$W/gc"
(cat "$W/expB"; echo "$DB") | sort >"$W/wantB"
object_list "$R" >"$W/haveB"
diff -u "$W/wantB" "$W/haveB" >&2 || fail "after gc the objects are not exactly imageB's"
removed=$(comm -23 "$W/expAB" "$W/expB" | wc -l)
grep -q "removed $((removed + 1)) objects" "$W/gc" || fail "gc reported wrong count (want $((removed + 1)))"
[ ! -e "$R/images/$DA" ] || fail "images link of the unreferenced image survived"
compare_trees "$W/B" "$W/mB"
"$CFS" --repo "$R" fsck >/dev/null || fail "fsck after gc"
ok "gc removed imageA's $((removed + 1)) own objects; imageB intact and still mounted right"
umount "$W/mB"

# --- a tampered image is refused by digest ---
T=$W/tamper
cp -a "$R" "$T"
img=$T/objects/${DB:0:2}/${DB:2}
printf 'X' | dd of="$img" bs=1 seek=1100 conv=notrunc 2>/dev/null
mkdir -p "$W/mT"
rc=0; "$CFS" --repo "$T" mount "$DB" "$W/mT" 2>"$W/err" || rc=$?
[ "$rc" = 1 ] || { umount "$W/mT" 2>/dev/null; fail "mount of a tampered image: exit $rc"; }
ok "mount refuses an image whose content does not match its digest ($(cat "$W/err"))"
rm -rf "$T"

# --- fsck finds each kind of damage, naming it ---
fsck_finds() { # NAME KIND PATH-PATTERN
	local rc=0
	"$CFS" --repo "$T" fsck >"$W/fsck" 2>&1 || rc=$?
	[ "$rc" = 1 ] || { cat "$W/fsck" >&2; fail "$1: fsck exit $rc, want 1"; }
	grep -q "^$2: $3" "$W/fsck" || { cat "$W/fsck" >&2; fail "$1: not reported as $2 $3"; }
	ok "fsck finds $1: $(grep "^$2: " "$W/fsck" | head -1)"
}
victim=$(head -1 "$W/expB")
vpath=objects/${victim:0:2}/${victim:2}

cp -a "$R" "$T"
printf '\001' | dd of="$T/$vpath" bs=1 seek=100 conv=notrunc 2>/dev/null
fsck_finds "a flipped byte" digest-mismatch "$vpath"
rm -rf "$T"

cp -a "$R" "$T"
truncate -s 1000 "$T/$vpath"
fsck_finds "a truncated object" digest-mismatch "$vpath"
rm -rf "$T"

cp -a "$R" "$T"
ln -s "../$DA" "$T/images/refs/gone"
fsck_finds "a dangling ref" dangling-ref "images/refs/gone"
rm -rf "$T"

cp -a "$R" "$T"
echo junk >"$T/objects/.tmp-deadbeef-leftover"
fsck_finds "a stray temporary file" temporary-file "objects/.tmp-deadbeef-leftover"
"$CFS" --repo "$T" gc >/dev/null
[ ! -e "$T/objects/.tmp-deadbeef-leftover" ] || fail "gc left the temporary file"
"$CFS" --repo "$T" fsck >/dev/null || fail "fsck after gc cleaned the temporary file"
rm -rf "$T"

cp -a "$R" "$T"
rm "$T/$vpath"
fsck_finds "an object missing under an image" missing-object "images/$DB"
rm -rf "$T"

cp -a "$R" "$T"
head -c 8192 /dev/zero >"$T/objects/${DB:0:2}/${DB:2}"
fsck_finds "an image that does not parse" invalid-image "images/$DB"
n=$(count_objects "$T")
rc=0; "$CFS" --repo "$T" gc >/dev/null 2>"$W/err" || rc=$?
[ "$rc" = 1 ] && [ "$(count_objects "$T")" = "$n" ] || fail "gc with an unreadable named image: exit $rc, $(cat "$W/err")"
ok "gc refuses to delete anything when a named image cannot be read"
rm -rf "$T"

cp -a "$R" "$T"
"$CFS" --repo "$T" fsck --json >"$W/json" || fail "fsck --json of a clean repository"
grep -q '"ok": true' "$W/json" || fail "fsck --json"
ok "fsck --json"
rm -rf "$T"

# --- a dump file as the source ---
dumpsrc=$(printf '/ 0 40755 2 0 0 0 0.0 - - -\n/from-dump 3000 100644 1 0 0 0 0.0 %s/%s - %s\n' \
	"${victim:0:2}" "${victim:2}" "$victim")
DD=$(echo "$dumpsrc" | "$CFS" --repo "$R" create-image - fromdump 2>"$W/err")
[ ${#DD} = 64 ] || fail "create-image from a dump"
[ "$("$CFS" --repo "$R" image-objects fromdump)" = "$victim" ] || fail "objects of the dump image"
ok "create-image from a dump on standard input"

# --- a sha512 repository ---
R5=$W/repo512
"$CFS" --repo "$R5" init --hash sha512 >/dev/null
grep -q '"algorithm": "fsverity-sha512-12"' "$R5/meta.json" || fail "sha512 meta.json"
D5=$("$CFS" --repo "$R5" create-image "$W/B" b)
[ ${#D5} = 128 ] || fail "sha512 digest length"
expected_objects sha512 "$W/B" >"$W/exp5"
"$CFS" --repo "$R5" image-objects b >"$W/obj5"
diff -u "$W/exp5" "$W/obj5" >&2 || fail "sha512 image objects"
"$CFS" --repo "$R5" fsck >/dev/null || fail "sha512 fsck"
do_mount "$R5" b "$W/m5"
compare_trees "$W/B" "$W/m5"
umount "$W/m5"
ok "sha512 repository: 128-digit names, fsck clean, mount equals source"

# --- composefs-rs split streams: a ref to something that is no split stream stops gc before
# it deletes anything; unreferenced stream links go with their objects ---
T=$W/streams
cp -a "$R" "$T"
mkdir -p "$T/streams/refs"
write_file "$W/streamobj" 9000 streamobj
sobj=$("$CFS" measure "$W/streamobj" | awk '{print $1}')
mkdir -p "$T/objects/${sobj:0:2}"
cp "$W/streamobj" "$T/objects/${sobj:0:2}/${sobj:2}"
ln -sfn "../objects/${sobj:0:2}/${sobj:2}" "$T/streams/oci-layer-sha256:1234"
ln -s ../oci-layer-sha256:1234 "$T/streams/refs/mylayer"
rc=0; "$CFS" --repo "$T" gc >/dev/null 2>"$W/err" || rc=$?
[ "$rc" = 1 ] && grep -q "split stream $sobj cannot be read (not a split stream (bad magic)); nothing deleted" "$W/err" ||
	fail "gc with a ref to a bad stream: exit $rc: $(cat "$W/err")"
[ -e "$T/objects/${sobj:0:2}/${sobj:2}" ] || fail "gc deleted a stream's object"
rm "$T/streams/refs/mylayer"
"$CFS" --repo "$T" gc >/dev/null || fail "gc with unreferenced streams"
[ ! -L "$T/streams/oci-layer-sha256:1234" ] && [ ! -e "$T/objects/${sobj:0:2}/${sobj:2}" ] ||
	fail "unreferenced stream link or its object survived gc"
ok "gc stops at a stream ref to a bad split stream and prunes unreferenced stream links"
rm -rf "$T"

# --- meta.json rules shared with composefs-rs ---
M=$W/meta
meta_case() { # DESCRIPTION JSON COMMAND-EXIT CREATE-EXIT [keep]
	[ "${5:-}" = keep ] || rm -rf "$M"
	mkdir -p "$M/objects" "$M/images/refs"
	[ -n "$2" ] && printf '%s\n' "$2" >"$M/meta.json"
	local rc=0
	"$CFS" --repo "$M" images >/dev/null 2>"$W/err" || rc=$?
	[ "$rc" = "$3" ] || fail "$1: images exit $rc, want $3: $(cat "$W/err")"
	rc=0
	"$CFS" --repo "$M" create-image "$W/small" s >/dev/null 2>"$W/err" || rc=$?
	[ "$rc" = "$4" ] || fail "$1: create-image exit $rc, want $4: $(cat "$W/err")"
}
mkdir -p "$W/small"
write_file "$W/small/f" 5000 small
meta_case "format version 2" '{"version": 2, "algorithm": "fsverity-sha256-12"}' 1 1
meta_case "unknown incompatible feature" \
	'{"version": 1, "algorithm": "fsverity-sha256-12", "features": {"incompatible": ["zstd"]}}' 1 1
meta_case "unknown read-only-compatible feature" \
	'{"version": 1, "algorithm": "fsverity-sha256-12", "features": {"read-only-compatible": ["v1_erofs", "future"]}}' 0 1
grep -q 'read-only' "$W/err" || fail "read-only reason not given: $(cat "$W/err")"
meta_case "EROFS format 2" '{"version": 1, "algorithm": "fsverity-sha512-12", "erofs_formats": {"default": 2}}' 0 1
meta_case "legacy composefs-rs meta.json (no erofs_formats, no v1_erofs)" \
	'{"version": 1, "algorithm": "fsverity-sha512-12"}' 0 1
meta_case "EROFS format 0" '{"version": 1, "algorithm": "fsverity-sha256-12", "erofs_formats": {"default": 0}}' 0 0
meta_case "unknown fields and compatible features" \
	'{"version": 1, "algorithm": "fsverity-sha256-12", "x": [1, {"y": null}], "features": {"compatible": ["whatever"], "read-only-compatible": ["v1_erofs"]}, "erofs_formats": {"default": 1, "extra": [1]}}' 0 0
meta_case "malformed meta.json" '{"version": 1, "algorithm": ' 1 1
meta_case "unknown algorithm" '{"version": 1, "algorithm": "fsverity-md5-12"}' 1 1
# no meta.json: old composefs-rs repositories are read (algorithm from object names), not written
meta_case "no meta.json, empty" "" 1 1
write_file "$M/objects/ab/$(printf 'c%.0s' $(seq 1 62))" 10 x
meta_case "no meta.json, sha256 objects" "" 0 1 keep
ok "meta.json: newer versions and unknown incompatible features refused; read-only cases not written"

echo "repository tests passed"
