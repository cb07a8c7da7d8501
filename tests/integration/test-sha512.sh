#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# SHA-512 end to end: mkcomposefs --hash=sha512 (object names and digests against fsverity(1) and
# an independent Python Merkle tree, metacopy bytes through the kernel's EROFS), kernel and FUSE
# mounts, tampering, a sha512 repository (create-image, mounts, fsck, gc, pull, lazy mount, OCI
# pull, signatures) and refusals of mixed algorithms.
#
# Where the expected bytes come from: composefs-rs (github.com/composefs/composefs-rs, read at
# commit f22ecda9) writes, for a file backed by an object, first `trusted.overlay.metacopy` =
# struct OverlayMetacopy<Sha512HashValue> {version 0, len = size_of (4 + 64 = 68 = 0x44), flags 0,
# digest_algo = Algorithm::kernel_id() = 2 (FS_VERITY_HASH_ALG_SHA512), digest[64]}
# (crates/composefs/src/erofs/composefs.rs), then `trusted.overlay.redirect` = "/" +
# to_object_pathname() = "/XX/<126 hex>" (crates/composefs/src/erofs/writer.rs,
# crates/composefs/src/fsverity/hashvalue.rs); the kernel's overlayfs reads the same struct
# ovl_metacopy (fs/overlayfs/overlayfs.h: len covers the digest, digest_algo the fs-verity
# algorithm). Everything else in the image is what the sha256 image has.
# shellcheck source=test-repo-lib.sh
. "$(dirname "$0")/test-repo-lib.sh"
# shellcheck source=test-pull-lib.sh
. "$(dirname "$0")/test-pull-lib.sh"

MK=$B/tools/mkcomposefs/mkcomposefs
INFO=$B/tools/composefs-info/composefs-info
MOUNT=$B/tools/mount.composefs/mount.composefs
FUSE=$COMPOSEFS_FUSE
for c in fsverity:fsverity getfattr:attr fsck.erofs:erofs-utils skopeo:skopeo; do
	command -v "${c%%:*}" >/dev/null || fail "test-sha512 needs '${c%%:*}' (Debian package ${c#*:})"
done
[ -x "$FUSE" ] || fail "composefs-fuse is not built"
cd "$W"

# fs-verity digests computed here, from the kernel documentation's definition
# (Documentation/filesystems/fsverity.rst): an independent check of lib/verity.
cat >fsv.py <<'PY'
import hashlib, struct, sys
def digest(data, alg):
    h = lambda b: hashlib.new(alg, b).digest()
    size = hashlib.new(alg).digest_size
    root = bytes(size)
    level = data
    while level:
        blocks = [level[i:i + 4096].ljust(4096, b"\0") for i in range(0, len(level), 4096)]
        hashes = b"".join(h(b) for b in blocks)
        if len(blocks) == 1:
            root = hashes
            break
        level = hashes
    desc = struct.pack("<BBBBIQ", 1, 2 if alg == "sha512" else 1, 12, 0, 0, len(data))
    desc += root.ljust(64, b"\0") + bytes(32) + bytes(144)
    return h(desc).hex()
for path in sys.argv[2:]:
    print(digest(open(path, "rb").read(), sys.argv[1]), path)
PY
pydigest() { python3 fsv.py sha512 "$1" | cut -d' ' -f1; }
fsvdigest() { fsverity digest --hash-alg=sha512 "$1" | sed 's/^sha512:\([0-9a-f]*\) .*/\1/'; }

# --- the source tree: inline, one-block, two-level (sha512: > 64 blocks) files, links, xattrs ---
SRC=$W/src
mkdir -p "$SRC/d/e"
write_file "$SRC/small" 40 small
write_file "$SRC/one" 3000 one
write_file "$SRC/d/two-level" 300000 twolevel
write_file "$SRC/d/e/same" 3000 one
: >"$SRC/empty"
ln -s ../one "$SRC/d/link"
ln "$SRC/d/two-level" "$SRC/d/hard"
setfattr -n user.note -v hello "$SRC/one"

# --- mkcomposefs --hash=sha512: names, digests, bytes ---
D=$("$MK" --hash=sha512 --print-digest --digest-store="$W/store" "$SRC" "$W/img") || fail "mkcomposefs --hash=sha512"
[ ${#D} = 128 ] || fail "image digest is not 128 hex digits: $D"
[ "$D" = "$(fsvdigest "$W/img")" ] && [ "$D" = "$(pydigest "$W/img")" ] ||
	fail "image digest $D differs from fsverity digest / the Python computation"
fsck.erofs "$W/img" >/dev/null 2>&1 || fail "fsck.erofs refuses the sha512 image"
n=0
while IFS= read -r obj; do
	name=$(basename "$(dirname "$obj")")$(basename "$obj")
	[ ${#name} = 128 ] || fail "object name $obj is not XX/<126 hex>"
	[ "$name" = "$(fsvdigest "$obj")" ] && [ "$name" = "$(pydigest "$obj")" ] ||
		fail "object $obj is not named by its sha512 fs-verity digest"
	n=$((n + 1))
done < <(find "$W/store" -mindepth 2 -type f ! -name '.*')
[ "$n" = 2 ] || fail "$n objects in the store (want 2: one, two-level)"
ok "mkcomposefs --hash=sha512: image and objects named by their sha512 fs-verity digests (fsverity(1), Python)"

# the dump shows 128-digit digests equal to the object names; a dump re-creates the same image
"$INFO" dump "$W/img" >"$W/dump"
awk '$2 > 64 && $3 ~ /^100/ { if ($11 != substr($9, 1, 2) substr($9, 4) || length($11) != 128) exit 1; k++ }
     END { exit k == 3 ? 0 : 1 }' "$W/dump" || { cat "$W/dump" >&2; fail "dump digests"; }
"$MK" --from-file --hash=sha512 "$W/dump" "$W/img2" || fail "mkcomposefs --from-file of a sha512 dump"
cmp "$W/img" "$W/img2" || fail "dump round trip changed the image"
"$INFO" objects "$W/img" | grep -qE '^[0-9a-f]{2}/[0-9a-f]{126}$' || fail "composefs-info objects"
[ "$("$INFO" missing-objects --basedir "$W/store" "$W/img" | wc -l)" = 0 ] || fail "missing-objects with the store"
[ "$("$INFO" missing-objects --basedir "$W/src" "$W/img" | wc -l)" = 2 ] || fail "missing-objects without"
ok "dump: 128-digit digests; dump -> image is byte-identical; objects / missing-objects"

# the overlay xattrs as the kernel's EROFS reads them from the image alone
mkdir -p "$W/e"
mount -t erofs -o ro,loop "$W/img" "$W/e" || fail "kernel EROFS mount of the image"
MOUNTS+=("$W/e")
obj=$(awk '$1 == "/one" { print $9 }' "$W/dump")
mc=$(getfattr -e hex -n trusted.overlay.metacopy "$W/e/one" 2>/dev/null | sed -n 's/^trusted.overlay.metacopy=//p')
[ "$mc" = "0x00440002${obj:0:2}${obj:3}" ] || fail "metacopy of /one: $mc (want 0x00440002 + the digest)"
[ "$(getfattr --only-values -n trusted.overlay.redirect "$W/e/one")" = "/$obj" ] || fail "redirect of /one"
umount "$W/e"
MOUNTS=()
ok "metacopy {0, 68, 0, 2, digest} and redirect /XX/<126 hex>, as composefs-rs writes them"

# a pinned image: any change to how sha512 images are written shows here
d1=$(python3 -c 'import hashlib; print(hashlib.sha512(b"one").hexdigest())')
d2=$(python3 -c 'import hashlib; print(hashlib.sha512(b"two").hexdigest())')
cat >"$W/g.dump" <<EOF
/ 4096 40755 2 0 0 0 0.0 - - -
/big 1000000 100644 1 0 0 0 0.0 ${d1:0:2}/${d1:2} - $d1
/small 4097 100644 1 0 0 0 0.0 ${d2:0:2}/${d2:2} - $d2 user.a=b
EOF
g=$("$MK" --from-file --hash=sha512 --print-digest "$W/g.dump" "$W/g.img")
[ "$(sha256sum <"$W/g.img" | cut -c1-64)" = c6a3dda022b1aa51d8ac55e12bbebd935e4fe8d1411e5654e90d2ba7b62ad1e8 ] ||
	fail "the pinned sha512 image changed"
[ "$g" = 359f95b76ac42d0b04ce3b385a8cb2f6e44703f032c4ab2daeb04297d625a551d8c4825d431372f6b3accb6ca1814b9386a49f6023cc79d8b1d0b84e6821872d ] ||
	fail "the pinned image's sha512 digest changed: $g"
ok "pinned sha512 image bytes and digest"

# --- mixed algorithms and bad values are refused with a clear message ---
"$MK" --print-digest-only "$SRC" >/dev/null
"$MK" --digest-store="$W/s256" "$SRC" "$W/img256"
"$INFO" dump "$W/img256" >"$W/dump256"
rc=0; "$MK" --from-file --hash=sha512 "$W/dump256" "$W/x" 2>"$W/err" || rc=$?
[ $rc = 1 ] && grep -q "sha256 digest, but --hash=sha512" "$W/err" || fail "sha256 dump with --hash=sha512: rc $rc $(cat "$W/err")"
rc=0; "$MK" --hash=sha1 "$SRC" "$W/x" 2>"$W/err" || rc=$?
[ $rc = 2 ] && grep -q "sha256 or sha512" "$W/err" || fail "--hash=sha1: rc $rc"
sed 's/ \([0-9a-f]\{64\}\)$/ \1ab/' "$W/dump256" >"$W/bad.dump"
rc=0; "$MK" --from-file "$W/bad.dump" "$W/x" 2>"$W/err" || rc=$?
[ $rc = 1 ] && grep -q "expected 64 (sha256) or 128 (sha512) hex digits" "$W/err" || fail "66-digit digest: rc $rc $(cat "$W/err")"
ok "sha256 dump with --hash=sha512, unknown --hash, a digest of neither length: refused"

# --- kernel mount and FUSE: the tree, and tampering ---
mkdir -p "$W/m"
"$MOUNT" -o "basedir=$W/store,digest=$D,tryverity" "$W/img" "$W/m" || fail "mount.composefs digest=<128 hex>"
MOUNTS+=("$W/m")
compare_trees "$SRC" "$W/m"
umount "$W/m"
rc=0; "$MOUNT" -o "basedir=$W/store,digest=${D:0:64},tryverity" "$W/img" "$W/m" 2>"$W/err" || rc=$?
[ $rc != 0 ] || fail "mount.composefs accepted a sha256-length digest of a sha512 image"
"$FUSE" -o "source=$W/img,basedir=$W/store,digest=$D,verity=require" "$W/m" || fail "composefs-fuse sha512"
compare_trees "$SRC" "$W/m" --ignore=dir-nlink
umount "$W/m"
MOUNTS=()
ok "kernel mount (digest=128 hex) and verified FUSE mount (verity=require) equal the source"

two=$(awk '$1 == "/d/hard" { print $9 }' "$W/dump")
cp -a "$W/store" "$W/bad"
chmod u+w "$W/bad/$two"
printf 'X' | dd of="$W/bad/$two" bs=1 seek=200000 conv=notrunc status=none
"$FUSE" -o "source=$W/img,basedir=$W/bad" "$W/m" || fail "composefs-fuse on a tampered store"
MOUNTS+=("$W/m")
cmp "$SRC/one" "$W/m/one" || fail "untouched object"
rc=0; cat "$W/m/d/two-level" >/dev/null 2>"$W/err" || rc=$?
[ $rc != 0 ] && grep -q "Input/output error" "$W/err" || fail "tampered sha512 object was served"
umount "$W/m"
MOUNTS=()
ok "FUSE: a sha512 object with one changed byte is EIO, the other objects read"

# --- a sha512 repository ---
R=$W/repo
"$CFS" --repo "$R" init --algorithm fsverity-sha512-12 >/dev/null
grep -q '"algorithm": "fsverity-sha512-12"' "$R/meta.json" || fail "meta.json"
RD=$("$CFS" --repo "$R" create-image "$SRC" os/base) || fail "create-image"
[ ${#RD} = 128 ] && [ "$RD" = "$(fsvdigest "$R/objects/${RD:0:2}/${RD:2}")" ] || fail "image digest $RD"
"$INFO" dump "$R/objects/${RD:0:2}/${RD:2}" |
	awk '$2 > 64 && $3 ~ /^100/ && length($11) != 128 { exit 1 }' || fail "repository image without sha512 digests"
cmp <(object_list "$R" | grep -v "^$RD\$") <(find "$W/store" -mindepth 2 -type f | awk -F/ '{print $(NF-1) $NF}' | sort) ||
	fail "repository objects differ from mkcomposefs's store"
"$CFS" --repo "$R" fsck >/dev/null || fail "fsck"
do_mount "$R" os/base "$W/m"
compare_trees "$SRC" "$W/m"
umount "$W/m"
MOUNTS=()
"$CFS" --repo "$R" mount --fuse os/base "$W/m" || fail "mount --fuse"
MOUNTS+=("$W/m")
compare_trees "$SRC" "$W/m" --ignore=dir-nlink
umount "$W/m"
MOUNTS=()
ok "sha512 repository: create-image names and digests, fsck, kernel and FUSE mounts"

# fsck finds a damaged object; gc keeps what a name reaches and drops the rest
cp -a "$R" "$W/rbad"
chmod u+w "$W/rbad/objects/$two"
printf 'X' | dd of="$W/rbad/objects/$two" bs=1 seek=7 conv=notrunc status=none
rc=0; "$CFS" --repo "$W/rbad" fsck >"$W/out" 2>&1 || rc=$?
[ $rc != 0 ] && grep -q "${two:3}" "$W/out" || { cat "$W/out" >&2; fail "fsck missed a damaged sha512 object"; }
"$CFS" --repo "$R" import-image "$W/img" spare >/dev/null || fail "import a sha512 image"
"$CFS" --repo "$R" gc >/dev/null
[ "$(count_objects "$R")" = 4 ] || fail "gc removed live objects: $(count_objects "$R")"
"$CFS" --repo "$R" untag spare
"$CFS" --repo "$R" gc >/dev/null
[ "$(count_objects "$R")" = 3 ] || fail "gc kept $(count_objects "$R") objects (want 3)"
"$CFS" --repo "$R" fsck >/dev/null || fail "fsck after gc"
ok "fsck reports a damaged sha512 object; gc keeps reachable objects, drops the unnamed image"

# mixed algorithms between images and repositories
rc=0; "$CFS" --repo "$R" import-image "$W/img256" x 2>"$W/err" || rc=$?
[ $rc = 1 ] && grep -q "its fs-verity digest is sha256, the repository's algorithm is sha512" "$W/err" ||
	fail "sha256 image into a sha512 repository: rc $rc $(cat "$W/err")"
"$CFS" --repo "$W/r256" init >/dev/null
rc=0; "$CFS" --repo "$W/r256" import-image "$W/img" x 2>"$W/err" || rc=$?
[ $rc = 1 ] && grep -q "its fs-verity digest is sha512, the repository's algorithm is sha256" "$W/err" ||
	fail "sha512 image into a sha256 repository: rc $rc $(cat "$W/err")"
rc=0; "$CFS" --repo "$R" init --hash sha256 2>"$W/err" || rc=$?
[ $rc != 0 ] || fail "init over a sha512 repository with another algorithm"
ok "images of the other algorithm are refused by import, naming the file"

# --- pull from a served sha512 repository, and a lazy mount of it ---
start_nginx s512 "$R"
URL=http://127.0.0.1:$PORT
P=$W/pulled
"$CFS" --repo "$P" init --hash sha512 >/dev/null
"$CFS" --repo "$P" pull "$URL" os/base >/dev/null 2>"$W/err" || fail "pull: $(cat "$W/err")"
[ "$(object_list "$P")" = "$(object_list "$R")" ] || fail "pulled objects differ"
fsck_clean "$P" "after a sha512 pull"
do_mount "$P" os/base "$W/m"
compare_trees "$SRC" "$W/m"
umount "$W/m"
MOUNTS=()
L=$W/lazy
"$CFS" --repo "$L" init --hash sha512 >/dev/null
"$CFS" --repo "$L" mount --remote "$URL" os/base "$W/m" || fail "mount --remote"
MOUNTS+=("$W/m")
compare_trees "$SRC" "$W/m" --ignore=dir-nlink
umount "$W/m"
MOUNTS=()
[ "$(object_list "$L")" = "$(object_list "$R")" ] || fail "lazy mount fetched other objects"
fsck_clean "$L" "after a lazy sha512 mount"
ok "pull and lazy mount from a sha512 server: same objects, fsck clean, tree equals source"

# --- signatures over the sha512 image digest (formatted digest with algorithm 2) ---
K=$W/keys
mkdir -p "$K"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$K/rsa.key" -out "$K/rsa.crt" -subj /CN=t -days 2 2>/dev/null
"$CFS" --repo "$R" sign os/base --key "$K/rsa.key" --cert "$K/rsa.crt" >/dev/null || fail "repository sign"
sig=$(find "$R/signatures/$RD" -type f ! -name index | head -n1)
[ -n "$sig" ] || fail "no signature stored under the 128-digit image digest"
fsverity sign "$R/objects/${RD:0:2}/${RD:2}" "$W/fsv.sig" --key "$K/rsa.key" --cert "$K/rsa.crt" --hash-alg sha512 >/dev/null
cmp "$sig" "$W/fsv.sig" || fail "sha512 image signature differs from fsverity sign --hash-alg sha512"
"$CFS" --repo "$R" verify os/base --trust "$K/rsa.crt" >/dev/null || fail "verify"
"$CFS" --repo "$R" mount --require-signature --trust "$K/rsa.crt" os/base "$W/m" || fail "mount --require-signature"
MOUNTS+=("$W/m")
umount "$W/m"
MOUNTS=()
ok "signature of a sha512 image equals fsverity sign --hash-alg sha512; verify and signed mount"

# --- OCI pull into a sha512 repository: the same tree as in a sha256 one ---
python3 "$CFS_SRCDIR/tests/integration/oci-mkimage.py" lay
"$CFS" --repo "$W/o256" init >/dev/null
"$CFS" --repo "$W/o512" init --hash sha512 >/dev/null
"$CFS" --repo "$W/o256" oci pull oci:lay:latest img >/dev/null 2>&1 || fail "oci pull into sha256"
O=$("$CFS" --repo "$W/o512" oci pull oci:lay:latest img 2>"$W/err") || fail "oci pull into sha512: $(cat "$W/err")"
[ ${#O} = 128 ] || fail "OCI image digest in a sha512 repository: $O"
"$INFO" dump "$W/o512/objects/${O:0:2}/${O:2}" |
	awk '$3 ~ /^100/ && $11 != "-" && length($11) != 128 { exit 1 }' || fail "OCI image with non-sha512 digests"
"$CFS" --repo "$W/o256" oci mount img "$W/m" || fail "oci mount sha256"
MOUNTS+=("$W/m")
mkdir -p "$W/m5"
"$CFS" --repo "$W/o512" oci mount img "$W/m5" || fail "oci mount sha512"
MOUNTS+=("$W/m5")
"$TREE_COMPARE" "$W/m" "$W/m5" || fail "OCI trees of the sha256 and sha512 repositories differ"
umount "$W/m5" "$W/m"
MOUNTS=()
"$CFS" --repo "$W/o512" fsck >/dev/null || fail "fsck of the OCI sha512 repository"
ok "oci pull into a sha512 repository: 128-digit digests, same tree as the sha256 repository, fsck clean"
