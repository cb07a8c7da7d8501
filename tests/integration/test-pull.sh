#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# composefs pull from nginx on loopback: plain HTTP, a rate-limited server (kill -9 mid-pull and
# resume, two pulls at once, pull beside gc), HTTPS with a test CA and HTTP/2, signatures.
. "$(dirname "$0")/test-repo-lib.sh"
. "$(dirname "$0")/test-pull-lib.sh"

# --- a served repository: a seeded random tree plus 600 files of 8..72 KiB ---
S=$W/served
SRC=$W/src
mkdir -p "$SRC"
gen_tree 7 "$SRC/gen"
bulk_files "$SRC/bulk" 20 30 pull-seed
"$CFS" --repo "$S" init >/dev/null
DIGEST=$("$CFS" --repo "$S" create-image "$SRC" os/base) || fail "create-image"
"$CFS" --repo "$S" image-objects os/base >"$W/want-objects"
n_objects=$(wc -l <"$W/want-objects")
[ "$n_objects" -gt 600 ] || fail "only $n_objects objects in the served image"
# for the rate-limited server: nginx sends the first second's worth of a response at once, so
# only objects well over the rate are slowed down: 12 files of 6 MiB (5 s each at 1 MiB/s)
BIG=$W/big
for i in $(seq 12); do write_file "$BIG/f$i" $((6 << 20)) "big-$i"; done
"$CFS" --repo "$S" create-image "$BIG" big >/dev/null || fail "create-image big"
n_big=$("$CFS" --repo "$S" image-objects big | wc -l)
# a composefs-rs style ref: ../../images/<hex> rather than ../<hex> (nginx follows either)
mkdir -p "$S/images/refs/rs"
ln -s "../../../images/$DIGEST" "$S/images/refs/rs/style"

start_nginx plain "$S"
URL=http://127.0.0.1:$PORT
ACCESS=$W/plain/access.log

# --- a full pull: same digest, same objects, fsck clean, the mount equals the source ---
D=$W/dst
"$CFS" --repo "$D" init >/dev/null
"$CFS" --repo "$D" pull --json "$URL" os/base >"$W/pull1.json" 2>"$W/pull1.err" || { cat "$W/pull1.err" >&2; fail "pull"; }
[ "$(json_field "$W/pull1.json" digest)" = "$DIGEST" ] || fail "pulled digest differs from the served image's"
[ "$(json_field "$W/pull1.json" objects_fetched)" = "$n_objects" ] || fail "objects_fetched != $n_objects"
[ "$(json_field "$W/pull1.json" image_fetched)" = true ] || fail "the image was not reported fetched"
"$CFS" --repo "$D" image-objects os/base | cmp -s - "$W/want-objects" || fail "pulled image lists other objects"
object_list "$D" | grep -v "^$DIGEST\$" | cmp -s - "$W/want-objects" || fail "the store holds other objects than the image's"
fsck_clean "$D" "after a pull"
do_mount "$D" os/base "$W/m1"
compare_trees "$SRC" "$W/m1"
umount "$W/m1"
ok "pull of $n_objects objects from nginx: same digest and objects, fsck clean, the mount equals the source"

# --- the library's one-object and byte-range fetch (for lazy fetching), ranges checked by Merkle tree ---
big=$(python3 -c 'import os, sys
hs = open(sys.argv[2]).read().split()
print(max(hs, key=lambda h: os.path.getsize(f"{sys.argv[1]}/objects/{h[:2]}/{h[2:]}")))' "$S" "$W/want-objects")
small=$(head -1 "$W/want-objects")
[ "$big" != "$small" ] || small=$(sed -n 2p "$W/want-objects")
"$CFS_BUILDDIR/tests/tools/fetch-range" "$URL" "$W/rangestore" "$big" "$small" >"$W/range.out" || fail "range fetch from nginx"
ok "one-object fetch and HTTP range reads from nginx: $(cat "$W/range.out")"

# --- re-running downloads no object; a pull by digest checks the digest ---
: >"$ACCESS.mark"
lines=$(wc -l <"$ACCESS")
"$CFS" --repo "$D" pull --json "$URL" os/base >"$W/pull2.json" || fail "second pull"
[ "$(json_field "$W/pull2.json" objects_fetched)" = 0 ] || fail "second pull fetched objects"
[ "$(json_field "$W/pull2.json" objects_present)" = "$n_objects" ] || fail "second pull: objects_present"
tail -n +$((lines + 1)) "$ACCESS" | grep -q '^/objects/' && fail "second pull requested objects"
"$CFS" --repo "$D" pull --json "$URL" "$DIGEST" >"$W/pull3.json" || fail "pull by digest"
[ "$(json_field "$W/pull3.json" image_fetched)" = false ] || fail "pull by digest fetched the present image again"
"$CFS" --repo "$D" images | grep -q "^$DIGEST " || fail "pull by digest did not name the image by its digest"
"$CFS" --repo "$D" pull "$URL" rs/style >/dev/null || fail "pull of a ref made as composefs-rs makes them"
wrong=$(printf '%064d' 0)
rc=0; "$CFS" --repo "$D" pull "$URL" "$wrong" >/dev/null 2>"$W/err" || rc=$?
[ "$rc" = 1 ] && grep -q "no image $wrong" "$W/err" || fail "pull of an unknown digest: exit $rc, $(cat "$W/err")"
rc=0; "$CFS" --repo "$D" pull "$URL" no/such/name >/dev/null 2>"$W/err" || rc=$?
[ "$rc" = 1 ] && grep -q 'no image named "no/such/name"' "$W/err" || fail "pull of an unknown name: exit $rc"
ok "a second pull requests no object; pull by digest and a composefs-rs style ref work; unknown refs exit 1"

# --- a served object with wrong bytes never lands under its name ---
D2=$W/dst2
"$CFS" --repo "$D2" init >/dev/null
victim=$(sed -n 5p "$W/want-objects")
vpath=$S/objects/${victim:0:2}/${victim:2}
cp -p "$vpath" "$W/victim.orig"
printf 'X' | dd of="$vpath" bs=1 seek=100 conv=notrunc 2>/dev/null
rc=0; "$CFS" --repo "$D2" pull --retries 1 --retry-delay 0 "$URL" os/base >/dev/null 2>"$W/err" || rc=$?
cp -p "$W/victim.orig" "$vpath"
[ "$rc" = 1 ] || fail "pull with a tampered object: exit $rc"
grep -q "objects/${victim:0:2}/${victim:2}: wrong content" "$W/err" || { cat "$W/err" >&2; fail "the tampered object is not named"; }
[ -e "$D2/objects/${victim:0:2}/${victim:2}" ] && fail "the tampered object was stored"
"$CFS" --repo "$D2" images | grep -q os/base && fail "an incomplete image was named"
fsck_clean "$D2" "after a refused object"
"$CFS" --repo "$D2" pull --json "$URL" os/base >"$W/pull4.json" || fail "pull after repair"
[ "$(json_field "$W/pull4.json" objects_fetched)" = 1 ] || fail "resume fetched $(json_field "$W/pull4.json" objects_fetched) objects, not 1"
ok "a tampered served object is named, not stored; nothing named; the re-run fetches just that object"

# --- a rate-limited server (a real network's pace): kill -9 mid-pull, then resume ---
start_nginx slow "$S" "limit_rate 1m;"
SLOW=http://127.0.0.1:$PORT
K=$W/killed
"$CFS" --repo "$K" init >/dev/null
for round in 1 2; do
	before=$(count_objects "$K")
	"$CFS" --repo "$K" pull --jobs 4 "$SLOW" big >/dev/null 2>&1 &
	pid=$!
	have=0
	# objects are published every 2 s: kill right after the first batch of this run lands
	for _ in $(seq 600); do
		have=$(count_objects "$K")
		[ "$have" -gt "$before" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	kill -9 "$pid" 2>/dev/null || fail "pull ended before it could be killed ($have objects)"
	wait "$pid" 2>/dev/null || true
	fsck_no_corruption "$K" "kill -9 at $have objects"
	"$CFS" --repo "$K" images | grep -q big && fail "a killed pull named its image"
done
"$CFS" --repo "$K" pull --json --jobs 4 "$SLOW" big >"$W/resume.json" || fail "resumed pull"
present=$(json_field "$W/resume.json" objects_present)
[ "$present" -gt 0 ] && [ "$present" -lt "$n_big" ] &&
	[ "$(json_field "$W/resume.json" objects_fetched)" = $((n_big - present)) ] ||
	fail "resume: present $present, fetched $(json_field "$W/resume.json" objects_fetched)"
"$CFS" --repo "$K" gc >/dev/null
fsck_clean "$K" "after resume and gc"
do_mount "$K" big "$W/m2"
compare_trees "$BIG" "$W/m2"
umount "$W/m2"
ok "kill -9 twice during a rate-limited pull: no corruption, no name; the re-run fetched only the $((n_big - present)) missing objects"

# --- two pulls into one repository at once, and a pull beside gc ---
T=$W/two
"$CFS" --repo "$T" init >/dev/null
"$CFS" --repo "$T" pull --jobs 4 "$SLOW" big >"$W/a.out" 2>&1 &
pa=$!
"$CFS" --repo "$T" pull --jobs 4 --name other "$SLOW" big >"$W/b.out" 2>&1 &
pb=$!
wait "$pa" || { cat "$W/a.out" >&2; fail "first of two concurrent pulls"; }
wait "$pb" || { cat "$W/b.out" >&2; fail "second of two concurrent pulls"; }
fsck_clean "$T" "after two concurrent pulls"
[ "$(count_objects "$T")" = $((n_big + 1)) ] || fail "two pulls: $(count_objects "$T") objects"
G=$W/gc
"$CFS" --repo "$G" init >/dev/null
"$CFS" --repo "$G" pull --jobs 4 "$SLOW" big >"$W/g.out" 2>&1 &
pg=$!
gcs=0
while kill -0 "$pg" 2>/dev/null; do
	"$CFS" --repo "$G" gc >/dev/null 2>&1 || fail "gc beside a pull"
	gcs=$((gcs + 1))
	sleep 0.1
done
wait "$pg" || { cat "$W/g.out" >&2; fail "pull beside gc"; }
"$CFS" --repo "$G" gc >/dev/null
fsck_clean "$G" "pull beside gc"
do_mount "$G" big "$W/m3"
compare_trees "$BIG" "$W/m3"
umount "$W/m3"
ok "two concurrent pulls and a pull beside $gcs gc runs leave complete, clean repositories"

# --- HTTPS with a test CA, HTTP/2 ---
make_ca "$W/ca"
start_nginx tls "$S" "ssl_certificate $W/ca/server.pem; ssl_certificate_key $W/ca/server.key;" "ssl http2"
HTTPS=https://127.0.0.1:$PORT
H=$W/https
"$CFS" --repo "$H" init >/dev/null
rc=0; "$CFS" --repo "$H" pull "$HTTPS" os/base >/dev/null 2>"$W/err" || rc=$?
[ "$rc" = 1 ] && grep -qi "certificate" "$W/err" || fail "pull from an unknown CA: exit $rc, $(cat "$W/err")"
[ "$(count_objects "$H")" = 0 ] || fail "objects stored from an untrusted server"
"$CFS" --repo "$H" pull --json --cacert "$W/ca/ca.pem" "$HTTPS" os/base >"$W/tls.json" || fail "pull with --cacert"
[ "$(json_field "$W/tls.json" objects_fetched)" = "$n_objects" ] || fail "https pull: objects"
grep -q '^/objects/.* 200 .* HTTP/2.0$' "$W/tls/access.log" || fail "no object came over HTTP/2"
grep '^/objects/' "$W/tls/access.log" | grep -qv 'HTTP/2.0$' && fail "objects over another protocol than HTTP/2"
"$CFS" --repo "$H" untag os/base && "$CFS" --repo "$H" gc >/dev/null
"$CFS" --repo "$H" pull --insecure --http1.1 "$HTTPS" os/base >/dev/null || fail "pull --insecure"
tail -n 3 "$W/tls/access.log" | grep -q 'HTTP/1.1$' || fail "--http1.1 did not use HTTP/1.1"
fsck_clean "$H" "https"
ok "HTTPS: an unknown CA is refused, --cacert works over HTTP/2, --insecure and --http1.1 when asked"

# --- signatures: fetched with the image, required before any object ---
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=signer -keyout "$W/key.pem" -out "$W/cert.pem" 2>/dev/null
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=other -keyout "$W/okey.pem" -out "$W/ocert.pem" 2>/dev/null
"$CFS" --repo "$S" sign os/base --key "$W/key.pem" --cert "$W/cert.pem" >/dev/null || fail "sign"
N=$W/notrust
"$CFS" --repo "$N" init >/dev/null
rc=0; "$CFS" --repo "$N" pull --require-signature --trust "$W/ocert.pem" "$URL" "$DIGEST" >/dev/null 2>"$W/err" || rc=$?
[ "$rc" = 1 ] && grep -q "signatures of image $DIGEST is trusted" "$W/err" || fail "untrusted signature: exit $rc, $(cat "$W/err")"
[ "$(count_objects "$N")" = 0 ] || fail "objects fetched although no signature was trusted"
"$CFS" --repo "$N" pull --json --require-signature --trust "$W/cert.pem" "$URL" os/base >"$W/sig.json" || fail "pull with a trusted signature"
[ "$(json_field "$W/sig.json" signatures_trusted)" = 1 ] || fail "signatures_trusted"
"$CFS" --repo "$N" verify os/base --trust "$W/cert.pem" >/dev/null || fail "the pulled signature is not stored"
sigdir=$S/signatures/$DIGEST
signame=$(head -1 "$sigdir/index")
printf 'x' >>"$sigdir/$signame"
N2=$W/badsig
"$CFS" --repo "$N2" init >/dev/null
rc=0; "$CFS" --repo "$N2" pull --json --require-signature --trust "$W/cert.pem" "$URL" os/base >"$W/badsig.json" 2>"$W/err" || rc=$?
[ "$rc" = 1 ] && [ "$(json_field "$W/badsig.json" signatures_bad)" = 1 ] || fail "a signature not matching its name: exit $rc"
[ "$(count_objects "$N2")" -le 1 ] || fail "objects fetched with only a damaged signature"
ok "signatures come with the image; --require-signature refuses an untrusted or damaged one before any object"
