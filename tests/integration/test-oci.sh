#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# composefs oci: pull from oci:, oci-archive: and docker-archive: sources built here; the mounted
# tree against umoci's unpack of the same image; layer sharing; gc; refusals of bad input.
# shellcheck source=test-repo-lib.sh
. "$(dirname "$0")/test-repo-lib.sh"

for c in skopeo:skopeo umoci:umoci zstd:zstd getfattr:attr; do
	command -v "${c%%:*}" >/dev/null || fail "test-oci needs '${c%%:*}' (Debian package ${c#*:})"
done
[ -n "$TREE_COMPARE" ] || fail "tests/tools/tree-compare is not built"
MK=$CFS_SRCDIR/tests/integration/oci-mkimage.py
cd "$W"

# --- the image: three layers (gzip, zstd, plain), and the same image in other forms ---
python3 "$MK" lay
# umoci 0.4 reads no zstd layers, docker-archive has none: the same layers recompressed with gzip
skopeo copy -q --dest-compress --dest-compress-format gzip oci:lay:latest oci:laygz:latest
skopeo copy -q oci:lay:latest oci-archive:lay.tar:latest
skopeo copy -q oci:laygz:latest docker-archive:lay-docker.tar:localhost/test:v1
umoci unpack --image laygz:latest bundle >/dev/null
objects() { find "$1/objects" -type f ! -name '.*' | wc -l; }

"$CFS" --repo R init >/dev/null
D=$("$CFS" --repo R oci pull oci:lay:latest img 2>err) || fail "pull: $(cat err)"
grep -q '3 layer(s), 0 already imported' err || fail "pull report: $(cat err)"
CONFIG=$(python3 -c 'import json,sys; i=json.load(open("lay/index.json")); m=[x for x in i["manifests"] if x["annotations"]["org.opencontainers.image.ref.name"]=="latest"][0]; print(json.load(open("lay/blobs/sha256/"+m["digest"][7:]))["config"]["digest"])')
"$CFS" --repo R oci images | grep -q "^img  *$D $CONFIG 3\$" || fail "oci images: $("$CFS" --repo R oci images)"
"$CFS" --repo R oci inspect img | grep -q "\"config\": \"$CONFIG\"" || fail "oci inspect"
[ "$("$CFS" --repo R images | awk '$1 == "img" {print $2}')" = "$D" ] || fail "the OCI image is the repository image img"
ok "oci pull oci:DIR:TAG: one image, its config digest recorded"

# --- the mounted tree is what umoci (an independent implementation) unpacks ---
mkdir mnt
"$CFS" --repo R oci mount img mnt
MOUNTS+=("$W/mnt")
"$TREE_COMPARE" mnt bundle/rootfs || fail "kernel mount differs from umoci unpack"
# what the comparison covers, checked by name: the test image must really hold these
[ ! -e mnt/usr/lib/gone ] && [ ! -e mnt/usr/lib/gonedir ] && [ -e mnt/usr/lib/kept ] || fail "whiteouts"
[ "$(ls mnt/opq)" = c ] || fail "opaque directory: $(ls mnt/opq)"
[ "$(stat -c %a mnt/usr/bin/su)" = 4755 ] && [ "$(stat -c %a mnt/usr/bin/sgid 2>/dev/null)" = "" ] || fail "setuid file / whited-out sgid file"
[ "$(stat -c %i mnt/big)" = "$(stat -c %i mnt/big-link)" ] && [ "$(stat -c %h mnt/big)" = 2 ] || fail "hard link"
[ "$(stat -c %t:%T mnt/dev/null)" = 1:3 ] && [ -p mnt/dev/fifo ] || fail "devices, fifo"
[ "$(getfattr --only-values -n user.comment mnt/xattr-file)" = "hello world" ] || fail "xattr"
[ -f mnt/replaced-dir ] && [ -d mnt/replaced-file ] || fail "a directory replaced by a file and back"
[ "$(find mnt/long -type f -printf '%f' | wc -c)" = 255 ] || fail "long names"
grep -q bash mnt/etc/passwd || fail "overwritten file"
umount mnt
MOUNTS=()
if [ -x "$COMPOSEFS_FUSE" ]; then
	"$CFS" --repo R oci mount --fuse img mnt
	MOUNTS+=("$W/mnt")
	"$TREE_COMPARE" --ignore=dir-nlink mnt bundle/rootfs || fail "FUSE mount differs from umoci unpack"
	umount mnt
	MOUNTS=()
fi
ok "mounted OCI image equals umoci unpack (whiteouts, opaque dirs, hard links, devices, xattrs, setuid, long names)"

# --- every source form gives the same image, each read in a repository of its own ---
for src in oci-archive:lay.tar:latest oci:laygz:latest docker-archive:lay-docker.tar docker-archive:lay-docker.tar:localhost/test:v1; do
	rm -rf R2
	"$CFS" --repo R2 init >/dev/null
	d=$("$CFS" --repo R2 oci pull "$src" x 2>err) || fail "pull $src: $(cat err)"
	[ "$d" = "$D" ] || fail "$src gives image $d, oci:lay gives $D"
	grep -q '0 already imported' err || fail "$src: $(cat err)"
done
ok "oci-archive, gzip layout and docker-archive (with and without a reference) give the same image digest"

# --- sharing: layers known by diff_id are not read again, objects are stored once ---
n=$(objects R)
d2=$("$CFS" --repo R oci pull oci:lay:base base 2>err)
grep -q '1 layer(s), 1 already imported' err || fail "base: $(cat err)"
"$CFS" --repo R oci pull --platform linux/arm64 oci:lay:multi arm 2>err >/dev/null
grep -q '2 layer(s), 2 already imported' err || fail "arm64: $(cat err)"
d3=$("$CFS" --repo R oci pull oci:lay:multi amd 2>/dev/null)
[ "$d3" = "$D" ] || fail "image index: the host platform (amd64) is the full image"
# images add only their own (small) image files, no file content
[ "$(objects R)" = $((n + 2)) ] || fail "objects: $n before, $(objects R) after two more images"
rc=0; "$CFS" --repo R oci pull --platform linux/s390x oci:lay:multi s 2>err || rc=$?
[ "$rc" = 1 ] && grep -q 'no image for platform linux/s390x' err || fail "missing platform: $rc $(cat err)"
# tool and tool-copy (layers 1 and 2) have the same bytes: one object
[ "$("$CFS" --repo R image-objects img | wc -l)" = "$("$CFS" --repo R image-objects img | sort -u | wc -l)" ] || fail "image-objects"
cmp -s <(find R/objects -type f ! -name '.*' -size +150k -size -250k | wc -l) <(echo 1) || fail "tool and tool-copy stored twice"
ok "layers shared by diff_id, content deduplicated, platform chosen from an index"

# --- gc keeps what OCI images need; oci rm lets it go ---
"$CFS" --repo R gc >/dev/null
"$CFS" --repo R oci mount img mnt && MOUNTS+=("$W/mnt")
"$TREE_COMPARE" mnt bundle/rootfs || fail "after gc"
umount mnt; MOUNTS=()
"$CFS" --repo R oci rm base arm amd
"$CFS" --repo R gc >/dev/null
"$CFS" --repo R oci mount img mnt && MOUNTS+=("$W/mnt")
"$TREE_COMPARE" mnt bundle/rootfs || fail "after removing the other images"
umount mnt; MOUNTS=()
"$CFS" --repo R fsck >/dev/null || fail "fsck"
d=$("$CFS" --repo R oci pull oci:lay:base base 2>err)
grep -q '1 already imported' err || fail "layer 1 is still known after rm of images sharing it"
"$CFS" --repo R oci rm img base
"$CFS" --repo R gc >/dev/null
[ "$(objects R)" = 0 ] || fail "$(objects R) objects left after all OCI images were removed"
[ -z "$("$CFS" --repo R oci images | tail -n +2)" ] || fail "records left"
ok "gc keeps OCI images and their layers; oci rm + gc frees everything"

# --- bad input: exit 1 naming the blob, nothing named, nothing published ---
refuse() { # SOURCE PATTERN WHAT
	rm -rf B
	"$CFS" --repo B init >/dev/null
	rc=0; "$CFS" --repo B oci pull "$1" bad 2>err >/dev/null || rc=$?
	[ "$rc" = 1 ] && grep -q -- "$2" err || fail "$3: exit $rc: $(cat err)"
	[ -z "$(ls B/images/refs)" ] && [ "$(objects B)" = 0 ] || fail "$3: something was stored"
	[ ! -e B/oci/images/bad ] || fail "$3: a record was written"
}
cp -r lay corrupt
L1=$(python3 -c 'import json; i=json.load(open("corrupt/index.json")); m=[x for x in i["manifests"] if x["annotations"]["org.opencontainers.image.ref.name"]=="latest"][0]; print(json.load(open("corrupt/blobs/sha256/"+m["digest"][7:]))["layers"][0]["digest"])')
python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[len(b)//2]^=1; open(p,"wb").write(b)' "corrupt/blobs/sha256/${L1#sha256:}"
refuse oci:corrupt:latest "layer $L1:" "corrupted gzip layer"
for m in bad-diff-id bad-manifest bad-size; do
	python3 "$MK" --$m $m
done
refuse oci:bad-diff-id "expected diff_id" "diff_id mismatch"
refuse oci:bad-manifest "manifest sha256:[0-9a-f]*: malformed JSON" "malformed manifest"
refuse oci:bad-size "size is" "blob size mismatch"
echo '{"schemaVersion": 2, "manifests": [{"digest": "sha256:../../etc", "size": 1}]}' >bad-manifest/index.json
refuse oci:bad-manifest "index.json: descriptor without a valid sha256 digest" "digest with a path in it"
for k in dotdot absolute symlink-parent hardlink-out long-header truncated; do
	python3 "$MK" --hostile-image h-$k $k
	refuse oci:h-$k "layer sha256:[0-9a-f]*: " "hostile tar ($k)"
done
ok "corrupted blobs, diff_id and size mismatches, malformed manifests, hostile tars refused with nothing stored"
