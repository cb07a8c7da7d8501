#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# composefs oci: pull from oci:, oci-archive: and docker-archive: sources built here; the mounted
# tree against umoci's unpack of the same image; split streams (layer tars re-created byte for
# byte, oci fsck); layer sharing; gc; refusals of bad input.
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
"$CFS" --repo R oci images --json | python3 -c 'import json, sys
l = json.load(sys.stdin)
assert [(i["name"], i["image"], i["config"], len(i["layers"]), i["named"]) for i in l] == [("img", sys.argv[1], sys.argv[2], 3, True)], l
' "$D" "$CONFIG" || fail "oci images --json: $("$CFS" --repo R oci images --json)"
[ "$("$CFS" --repo R images | awk '$1 == "img" {print $2}')" = "$D" ] || fail "the OCI image is the repository image img"
ok "oci pull oci:DIR:TAG: one image, its config digest recorded"

# --- split streams (composefs-rs' layout): every layer's tar comes back byte for byte ---
MANIFEST=$(python3 -c 'import json,sys; i=json.load(open("lay/index.json")); print([x for x in i["manifests"] if x["annotations"]["org.opencontainers.image.ref.name"]=="latest"][0]["digest"])')
[ "$(readlink R/streams/refs/oci/img)" = "../../oci-manifest-$MANIFEST" ] || fail "tag: $(readlink R/streams/refs/oci/img)"
[[ "$(readlink "R/streams/oci-config-$CONFIG")" =~ ^\.\./objects/[0-9a-f]{2}/[0-9a-f]{62}$ ]] || fail "config stream"
mapfile -t DIFF_IDS < <(python3 -c 'import json,sys; print("\n".join(json.load(open("lay/blobs/sha256/"+sys.argv[1][7:]))["rootfs"]["diff_ids"]))' "$CONFIG")
mapfile -t BLOBS < <(python3 -c 'import json,sys; print("\n".join(l["digest"] for l in json.load(open("lay/blobs/sha256/"+sys.argv[1][7:]))["layers"]))' "$MANIFEST")
for i in "${!DIFF_IDS[@]}"; do
	[ -L "R/streams/oci-layer-${DIFF_IDS[$i]}" ] || fail "no stream for layer ${DIFF_IDS[$i]}"
	"$CFS" --repo R oci layer "${DIFF_IDS[$i]}" >layer.tar || fail "oci layer ${DIFF_IDS[$i]}"
	b=lay/blobs/sha256/${BLOBS[$i]#sha256:}
	case $(head -c4 "$b" | od -An -tx1 | tr -d ' ') in
	1f8b*) gzip -dc "$b" >orig.tar ;;
	28b52ffd) zstd -qdc "$b" >orig.tar ;;
	*) cp "$b" orig.tar ;;
	esac
	cmp -s orig.tar layer.tar || fail "layer ${DIFF_IDS[$i]}: re-created tar differs from the original"
done
"$CFS" --repo R oci fsck >out || fail "oci fsck on a good repository: $(cat out)"
grep -q '^1 image(s), 3 layer(s) checked, 0 bad$' out || fail "oci fsck: $(cat out)"
ok "oci pull writes layer, config and manifest split streams and the tag; oci layer re-creates each tar byte for byte (gzip, zstd, plain); oci fsck clean"

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
streams_before=$(ls R/streams | grep -c '^oci-layer-')
stat -c %Y%i "R/streams/oci-layer-${DIFF_IDS[0]}" >link-before
d2=$("$CFS" --repo R oci pull oci:lay:base base 2>err)
grep -q '1 layer(s), 1 already imported' err || fail "base: $(cat err)"
"$CFS" --repo R oci pull --platform linux/arm64 oci:lay:multi arm 2>err >/dev/null
grep -q '2 layer(s), 2 already imported' err || fail "arm64: $(cat err)"
d3=$("$CFS" --repo R oci pull oci:lay:multi amd 2>/dev/null)
[ "$d3" = "$D" ] || fail "image index: the host platform (amd64) is the full image"
# images add only their own image file, config and manifest (JSON and split stream each), no
# file content and no layer stream: 2 x 5 objects
[ "$(objects R)" = $((n + 10)) ] || fail "objects: $n before, $(objects R) after two more images"
[ "$(ls R/streams | grep -c '^oci-layer-')" = "$streams_before" ] || fail "a shared layer got a new stream"
stat -c %Y%i "R/streams/oci-layer-${DIFF_IDS[0]}" | cmp -s - link-before || fail "a shared layer's stream was rewritten"
rc=0; "$CFS" --repo R oci pull --platform linux/s390x oci:lay:multi s 2>err || rc=$?
[ "$rc" = 1 ] && grep -q 'no image for platform linux/s390x' err || fail "missing platform: $rc $(cat err)"
# tool and tool-copy (layers 1 and 2) have the same bytes: one object
[ "$("$CFS" --repo R image-objects img | wc -l)" = "$("$CFS" --repo R image-objects img | sort -u | wc -l)" ] || fail "image-objects"
cmp -s <(find R/objects -type f ! -name '.*' -size +150k -size -250k | wc -l) <(echo 1) || fail "tool and tool-copy stored twice"
ok "layers shared by diff_id, content deduplicated, platform chosen from an index"

# --- layers already imported are rebuilt from their split streams: their blobs are not read ---
[ ! -e R/images/refs/oci-layer ] || fail "layer images: $(ls R/images/refs/oci-layer)"
"$CFS" --repo N init >/dev/null
"$CFS" --repo N oci pull oci:lay:base base >/dev/null 2>err || fail "base: $(cat err)"
# the second image's source lacks the blob of the layer it shares with the first
cp -r lay lay-nobase
rm "lay-nobase/blobs/sha256/${BLOBS[0]#sha256:}"
d=$("$CFS" --repo N oci pull oci:lay-nobase:latest img 2>err) || fail "shared layer read again: $(cat err)"
grep -q '3 layer(s), 1 already imported' err || fail "reuse report: $(cat err)"
[ "$d" = "$D" ] || fail "an image over a reused layer is $d, pulled whole into a fresh repository $D"
[ ! -e N/images/refs/oci-layer ] || fail "layer images written"
[ "$(ls N/images | grep -vc '^refs$')" = 2 ] || fail "images: $(ls N/images)"
"$CFS" --repo N oci fsck >out || fail "oci fsck: $(cat out)"
# a layer stream that is not one: the pull stops naming it (oci fsck says more)
cp -r N N2
ln -sfn "$(readlink "N2/streams/oci-config-$CONFIG")" "N2/streams/oci-layer-${DIFF_IDS[0]}"
rc=0; "$CFS" --repo N2 oci pull oci:lay:latest x 2>err >/dev/null || rc=$?
[ "$rc" = 1 ] && grep -q "layer ${DIFF_IDS[0]}: stored as oci-layer-${DIFF_IDS[0]}: split stream: " err ||
	fail "bad layer stream: $rc $(cat err)"
ok "a layer already imported is rebuilt from its split stream (its blob not read): same image as a fresh pull; no layer images"

# --- a reused layer whose objects are gone is read again, which puts them back ---
"$CFS" --repo G init >/dev/null
"$CFS" --repo G oci pull oci:lay:latest img >/dev/null 2>err || fail "pull into G: $(cat err)"
# usr/bin/su (layer 1 only, in the merged image) and usr/lib/gone (layer 1, whited out by layer 2:
# only the layer's stream refers to it)
obj() { local h; h=$("$CFS" measure "$1" | cut -d' ' -f1); echo "G/objects/${h:0:2}/${h:2}"; }
"$CFS" --repo G oci layer "${DIFF_IDS[0]}" | tar -xO usr/lib/gone >gone || fail "oci layer (gone)"
TOOL=$(obj bundle/rootfs/usr/bin/su)
GONE=$(obj gone)
[ -f "$TOOL" ] && [ -f "$GONE" ] || fail "objects of layer 1 not where expected: $TOOL $GONE"
rm "$TOOL" "$GONE"
# a second link to every object left: one rewritten (replaced) would be left with one link
mkdir keep
find G/objects -type f ! -name '.*' -exec sh -c 'for f; do ln "$f" "keep/$(echo "$f" | tr / _)"; done' sh {} +
rc=0; "$CFS" --repo G fsck >out || rc=$?
[ "$rc" = 1 ] && grep -q "^missing-object: streams/oci-layer-${DIFF_IDS[0]}: refers to ${GONE#G/}, which is missing" out &&
	grep -q "^missing-object: streams/oci-layer-${DIFF_IDS[0]}: refers to ${TOOL#G/}, which is missing" out &&
	grep -q "^missing-object: images/[0-9a-f]*: refers to ${TOOL#G/}, which is missing" out &&
	grep -q '^streams: 5 checked, 1 bad$' out || fail "fsck with objects of a layer missing: exit $rc: $(cat out)"
rc=0; "$CFS" --repo G oci fsck >out || rc=$?
[ "$rc" = 1 ] && grep -q "^layer ${DIFF_IDS[0]} (of img): object [0-9a-f]*: missing" out || fail "oci fsck: $rc $(cat out)"
# the source lacks the layer's blob: the pull cannot repair it and says why it needed the blob
rc=0; "$CFS" --repo G oci pull oci:lay-nobase:latest img 2>err >/dev/null || rc=$?
[ "$rc" = 1 ] && grep -q "layer ${BLOBS[0]}: .*No such file.* (read again because oci-layer-${DIFF_IDS[0]}: split stream: object [0-9a-f]* is missing)" err ||
	fail "objects missing, blob missing: exit $rc: $(cat err)"
d=$("$CFS" --repo G oci pull oci:lay:latest img 2>err) || fail "pull over missing objects: $(cat err)"
[ "$d" = "$D" ] || fail "pull over missing objects: image $d, expected $D"
grep -q '3 layer(s), 2 already imported, 1 imported again (objects of theirs were missing)$' err || fail "report: $(cat err)"
[ -f "$TOOL" ] && [ -f "$GONE" ] || fail "the missing objects did not come back"
# objects that were there are not rewritten (still linked from keep/), the lost ones are new
find G/objects -type f ! -name '.*' -links 1 | sort >changed
printf '%s\n' "$TOOL" "$GONE" | sort | cmp -s - changed || fail "objects written: $(cat changed)"
rm -r keep
"$CFS" --repo G fsck >out || fail "fsck after the re-import: $(cat out)"
"$CFS" --repo G oci fsck >out || fail "oci fsck after the re-import: $(cat out)"
"$CFS" --repo G oci mount img mnt && MOUNTS+=("$W/mnt")
cmp mnt/usr/bin/su bundle/rootfs/usr/bin/su || fail "usr/bin/su reads wrong after the re-import"
"$TREE_COMPARE" mnt bundle/rootfs || fail "mounted image after the re-import"
umount mnt; MOUNTS=()
# a second image sharing the layer (base: layer 1 only), the stream's own object gone too
rm "$TOOL" "$(readlink -f "G/streams/oci-layer-${DIFF_IDS[0]}")"
d=$("$CFS" --repo G oci pull oci:lay:base base 2>err) || fail "base over missing objects: $(cat err)"
grep -q '1 layer(s), 0 already imported, 1 imported again' err || fail "base: $(cat err)"
[ -f "$TOOL" ] && [ -f "$(readlink -f "G/streams/oci-layer-${DIFF_IDS[0]}")" ] || fail "base: objects not back"
"$CFS" --repo G fsck >out && "$CFS" --repo G oci fsck >out || fail "fsck after base: $(cat out)"
"$CFS" --repo G oci mount base mnt && MOUNTS+=("$W/mnt")
cmp mnt/usr/bin/su bundle/rootfs/usr/bin/su || fail "base: usr/bin/su reads wrong"
umount mnt; MOUNTS=()
# nothing missing: the layer is reused again, its blob not read (the source has none)
d=$("$CFS" --repo G oci pull oci:lay-nobase:latest img2 2>err) || fail "reuse after the repair: $(cat err)"
[ "$d" = "$D" ] && grep -q '3 layer(s), 3 already imported$' err || fail "reuse after the repair: $(cat err)"
ok "a layer whose objects (or stream object) are gone is read again, not reused: the objects come back, others are not rewritten, fsck (which names the stream) and oci fsck clean, files read right; intact layers are still reused"

# --- repositories of older versions: layer images (images/refs/oci-layer/<diff_id>) ---
"$CFS" --repo O init >/dev/null
"$CFS" --repo O oci pull oci:lay:latest img >/dev/null 2>err || fail "pull: $(cat err)"
for i in 0 1 2; do
	mkdir -p "old$i"
	head -c 5000 /dev/urandom >"old$i/f"
	"$CFS" --repo O create-image "old$i" "oci-layer/${DIFF_IDS[$i]}" >/dev/null || fail "old layer image $i"
done
# an older version wrote no stream for layer 3 (it has only its image)
rm "O/streams/oci-layer-${DIFF_IDS[2]}"
n=$(objects O)
"$CFS" --repo O gc >/dev/null
[ "$(ls O/images/refs/oci-layer | wc -l)" = 3 ] && [ "$(objects O)" = "$n" ] || fail "gc: layer images are roots until a pull drops them"
n=$(objects O)
d=$("$CFS" --repo O oci pull oci:lay:latest img 2>err) || fail "pull over layer images: $(cat err)"
grep -q '3 layer(s), 2 already imported' err && [ "$d" = "$D" ] || fail "pull over layer images: $d $(cat err)"
[ -L "O/streams/oci-layer-${DIFF_IDS[2]}" ] || fail "the layer without a stream got none"
[ ! -e O/images/refs/oci-layer ] || fail "layer images still named: $(ls O/images/refs/oci-layer)"
"$CFS" --repo O gc >/dev/null
[ "$(objects O)" = $((n - 6)) ] || fail "gc after the pull: $n objects before, $(objects O) after (3 images and their files go)"
[ "$(ls O/images | grep -vc '^refs$')" = 1 ] || fail "images after gc: $(ls O/images)"
"$CFS" --repo O fsck >/dev/null && "$CFS" --repo O oci fsck >/dev/null || fail "fsck after the migration"
ok "older repositories: gc keeps layer images; a pull using their layers drops them (and writes missing streams), gc then frees them"

# --- gc keeps what OCI images need; oci rm lets it go ---
"$CFS" --repo R gc >/dev/null
"$CFS" --repo R oci fsck >out || fail "oci fsck after gc (stream objects collected?): $(cat out)"
"$CFS" --repo R oci mount img mnt && MOUNTS+=("$W/mnt")
"$TREE_COMPARE" mnt bundle/rootfs || fail "after gc"
umount mnt; MOUNTS=()
"$CFS" --repo R oci rm base arm amd
"$CFS" --repo R gc >/dev/null
"$CFS" --repo R oci mount img mnt && MOUNTS+=("$W/mnt")
"$TREE_COMPARE" mnt bundle/rootfs || fail "after removing the other images"
umount mnt; MOUNTS=()
"$CFS" --repo R fsck >/dev/null || fail "fsck"
"$CFS" --repo R oci fsck img >/dev/null || fail "oci fsck img after removing the other images and gc"
[ ! -e R/streams/refs/oci/base ] || fail "oci rm left the tag"
d=$("$CFS" --repo R oci pull oci:lay:base base 2>err)
grep -q '1 already imported' err || fail "layer 1 is still known after rm of images sharing it"
"$CFS" --repo R oci rm img base
"$CFS" --repo R gc >/dev/null
[ "$(objects R)" = 0 ] || fail "$(objects R) objects left after all OCI images were removed"
[ -z "$(ls R/streams | grep -v '^refs$')" ] || fail "streams left: $(ls R/streams)"
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

# --- oci fsck: a missing or corrupted object, a truncated stream, each named by its layer ---
rm -rf F
"$CFS" --repo F init >/dev/null
"$CFS" --repo F oci pull oci:lay:latest img >/dev/null 2>&1 || fail "pull into F"
big=$(find F/objects -type f -size +150k | head -1)
L2=${DIFF_IDS[1]}
cp "$big" saved
python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[100]^=1; open(p,"wb").write(b)' "$big"
rc=0; "$CFS" --repo F oci fsck >out 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "^layer sha256:[0-9a-f]\{64\} (of img): object [0-9a-f]*: content does not match its digest" out ||
	fail "corrupted object: exit $rc: $(cat out)"
rm "$big"
rc=0; "$CFS" --repo F oci fsck img >out 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "^layer sha256:[0-9a-f]\{64\} (of img): object [0-9a-f]*: missing" out || fail "missing object: exit $rc: $(cat out)"
rc=0; "$CFS" --repo F oci layer "$(sed -n 's/^layer \(sha256:[0-9a-f]*\).*/\1/p' out | head -1)" >x.tar 2>err || rc=$?
[ "$rc" = 1 ] && grep -q "missing" err || fail "oci layer with a missing object: exit $rc: $(cat err)"
cp saved "$big"
"$CFS" --repo F oci fsck >/dev/null || fail "oci fsck after the object came back"
s=$(readlink -f "F/streams/oci-layer-$L2")
cp "$s" saved-stream
chmod u+w "$s"; truncate -s $(( $(stat -c %s "$s") - 7 )) "$s"
rc=0; "$CFS" --repo F oci fsck >out 2>&1 || rc=$?
[ "$rc" = 1 ] && grep -q "^layer $L2 (of img): split stream object [0-9a-f]* does not match its digest" out ||
	fail "truncated stream: exit $rc: $(cat out)"
grep -c '^layer ' out | grep -qx 1 || fail "only the truncated layer is bad: $(cat out)"
cp saved-stream "$s"
"$CFS" --repo F oci fsck >/dev/null || fail "oci fsck after the stream came back"
rc=0; "$CFS" --repo F oci layer sha256:nothex >/dev/null 2>err || rc=$?
[ "$rc" = 1 ] && grep -q 'invalid diff_id' err || fail "oci layer sha256:nothex: exit $rc"
rc=0; "$CFS" --repo F oci fsck nosuch >/dev/null 2>err || rc=$?
[ "$rc" = 1 ] || fail "oci fsck of an unknown image: exit $rc"
ok "oci fsck names the layer whose object is corrupted or missing or whose stream is truncated; oci layer refuses them"

