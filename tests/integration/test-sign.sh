#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Image signatures: byte equality with `fsverity sign`, openssl as an independent verifier,
# trust decisions (tamper, other signer, expiry, CA chains), repository storage, and the
# three mount paths refusing unsigned or wrongly signed images.
# shellcheck source=test-mount-lib.sh
. "$(dirname "$0")/test-mount-lib.sh"

CFS=$B/tools/composefs/composefs
FUSE=$B/tools/composefs-fuse/composefs-fuse
for t in "$CFS" openssl fsverity xxd; do
	command -v "$t" >/dev/null || fail "$t is needed"
done

K=$W/pki
mkdir -p "$K"
ssl() { openssl "$@" 2>>"$W/openssl.log" || fail "openssl $*: $(tail -3 "$W/openssl.log")"; }

# --- keys and certificates, made by the openssl command --------------------------------------
selfsigned() { # NAME KEYARGS...: NAME.key (PKCS#8 PEM), NAME.crt valid 30 days
	local n=$1
	shift
	ssl genpkey "$@" -out "$K/$n.key"
	ssl req -x509 -new -key "$K/$n.key" -subj "/CN=$n" -days 30 -out "$K/$n.crt"
}
selfsigned rsa -algorithm RSA -pkeyopt rsa_keygen_bits:2048
selfsigned other -algorithm RSA -pkeyopt rsa_keygen_bits:2048
selfsigned ec -algorithm EC -pkeyopt ec_paramgen_curve:P-256
selfsigned ed -algorithm ED25519
ssl pkey -in "$K/ed.key" -pubout -out "$K/ed.pub"

# a CA, a leaf it issued, and an expired leaf (openssl ca can backdate)
cat >"$K/ca.cnf" <<EOF
[ ca ]
default_ca = cfs
[ cfs ]
dir = $K
database = $K/index.txt
new_certs_dir = $K/newcerts
serial = $K/serial
default_md = sha256
policy = any
copy_extensions = none
x509_extensions = leaf
[ any ]
commonName = supplied
[ leaf ]
basicConstraints = CA:FALSE
keyUsage = digitalSignature
[ root ]
basicConstraints = critical,CA:TRUE
keyUsage = keyCertSign
EOF
mkdir -p "$K/newcerts"
: >"$K/index.txt"
echo 01 >"$K/serial"
ssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$K/ca.key"
ssl req -x509 -new -key "$K/ca.key" -subj /CN=test-ca -days 365 -addext "keyUsage=keyCertSign" -out "$K/ca.crt"
for n in leaf expired; do
	ssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$K/$n.key"
	ssl req -new -key "$K/$n.key" -subj "/CN=$n" -out "$K/$n.csr"
done
ssl ca -batch -notext -config "$K/ca.cnf" -cert "$K/ca.crt" -keyfile "$K/ca.key" -days 30 \
	-in "$K/leaf.csr" -out "$K/leaf.crt"
ssl ca -batch -notext -config "$K/ca.cnf" -cert "$K/ca.crt" -keyfile "$K/ca.key" \
	-startdate 20200101000000Z -enddate 20210101000000Z -in "$K/expired.csr" -out "$K/expired.crt"
ok "test PKI made with openssl: RSA, EC, Ed25519, CA + leaf, expired leaf"

# --- an image ---------------------------------------------------------------------------------
mkdir -p "$W/src/d"
for i in 1 2 3; do head -c $((i * 7000)) /dev/urandom >"$W/src/d/f$i"; done
echo hello >"$W/src/hello"
"$MKCFS" --digest-store="$W/objs" "$W/src" "$W/img.cfs" >/dev/null || fail mkcomposefs
IMG=$W/img.cfs
# the kernel's formatted digest, from fsverity-utils: what every signature signs
fsverity digest "$IMG" --for-builtin-sig --compact | xxd -r -p >"$W/fmt.bin"
[ "$(head -c 8 "$W/fmt.bin")" = FSVerity ] || fail "fsverity digest --for-builtin-sig"

# --- RSA: the very bytes of fsverity sign -----------------------------------------------------
for alg in sha256 sha512; do
	"$CFS" sign "$IMG" --key "$K/rsa.key" --cert "$K/rsa.crt" --hash $alg --output "$W/rsa-$alg.sig" ||
		fail "composefs sign --hash $alg"
	fsverity sign "$IMG" "$W/fsv-$alg.sig" --key "$K/rsa.key" --cert "$K/rsa.crt" --hash-alg $alg >/dev/null
	cmp "$W/rsa-$alg.sig" "$W/fsv-$alg.sig" || fail "RSA $alg signature differs from fsverity sign's"
	"$CFS" verify "$IMG" "$W/fsv-$alg.sig" --trust "$K/rsa.crt" >"$W/out" || fail "verify fsverity's $alg signature"
	grep -q "signed by CN=rsa ($alg:" "$W/out" || fail "verify output: $(cat "$W/out")"
done
cp "$W/rsa-sha256.sig" "$W/rsa.sig"
ok "RSA signatures byte-identical to fsverity sign (sha256, sha512), and fsverity's verify here"

# --- ECDSA and Ed25519, checked by openssl --------------------------------------------------------
"$CFS" sign "$IMG" --key "$K/ec.key" --cert "$K/ec.crt" --output "$W/ec.sig" || fail "sign ec"
openssl cms -verify -inform DER -in "$W/ec.sig" -binary -content "$W/fmt.bin" -certfile "$K/ec.crt" \
	-noverify -out /dev/null 2>"$W/err" || fail "openssl cms rejects our ECDSA signature: $(cat "$W/err")"
"$CFS" verify "$IMG" "$W/ec.sig" --trust "$K/ec.crt" >/dev/null || fail "verify ec"
"$CFS" sign "$IMG" --key "$K/ed.key" --cert "$K/ed.crt" --output "$W/ed.sig" || fail "sign ed25519"
# OpenSSL 3.0's cms cannot check EdDSA: take the raw signature out of the DER and check it
# with pkeyutl over the formatted digest (RFC 8419 without signed attributes)
openssl asn1parse -inform DER -in "$W/ed.sig" >"$W/ed.asn1"
grep -q ':ED25519' "$W/ed.asn1" || fail "no ED25519 signature algorithm: $(cat "$W/ed.asn1")"
grep -A1 ':ED25519' "$W/ed.asn1" | sed -n 's/.*OCTET STRING *\[HEX DUMP\]://p' | xxd -r -p >"$W/ed.raw"
[ "$(stat -c %s "$W/ed.raw")" = 64 ] || fail "Ed25519 raw signature not 64 bytes"
openssl pkeyutl -verify -pubin -inkey "$K/ed.pub" -rawin -in "$W/fmt.bin" -sigfile "$W/ed.raw" >/dev/null ||
	fail "openssl pkeyutl rejects our Ed25519 signature"
"$CFS" verify "$IMG" "$W/ed.sig" --trust "$K/ed.crt" >/dev/null || fail "verify ed25519"
# and signatures made by openssl cms (no attributes, and with signed attributes) verify here
for attr in -noattr ""; do
	# shellcheck disable=SC2086
	ssl cms -sign -binary $attr -nocerts -md sha256 -inkey "$K/ec.key" -signer "$K/ec.crt" \
		-outform DER -in "$W/fmt.bin" -out "$W/cms.sig"
	"$CFS" verify "$IMG" "$W/cms.sig" --trust "$K/ec.crt" >/dev/null || fail "openssl cms $attr signature refused"
done
ok "ECDSA checked by openssl cms, Ed25519 by openssl pkeyutl; openssl cms signatures accepted"

# --- refusals, each with its reason -----------------------------------------------------------
cp "$IMG" "$W/tampered.cfs"
printf '\x01' | dd of="$W/tampered.cfs" bs=1 seek=5000 conv=notrunc 2>/dev/null
expect_fail 1 "does not match" "$CFS" verify "$W/tampered.cfs" "$W/rsa.sig" --trust "$K/rsa.crt"
expect_fail 1 "unknown certificate (issuer CN=rsa" "$CFS" verify "$IMG" "$W/rsa.sig" --trust "$K/other.crt"
head -c 300 /dev/urandom >"$W/garbage.sig"
expect_fail 1 "not a PKCS#7 signature" "$CFS" verify "$IMG" "$W/garbage.sig" --trust "$K/rsa.crt"
head -c 200 "$W/rsa.sig" >"$W/short.sig"
expect_fail 1 "not a PKCS#7 signature" "$CFS" verify "$IMG" "$W/short.sig" --trust "$K/rsa.crt"
"$CFS" sign "$IMG" --key "$K/expired.key" --cert "$K/expired.crt" --output "$W/expired.sig"
expect_fail 1 "CN=expired expired on 2021-01-01" "$CFS" verify "$IMG" "$W/expired.sig" --trust "$K/expired.crt"
expect_fail 1 "does not belong" "$CFS" sign "$IMG" --key "$K/ec.key" --cert "$K/rsa.crt" --output "$W/x.sig"
expect_fail 1 "no-such" "$CFS" verify "$IMG" "$W/rsa.sig" --trust "$W/no-such"
expect_fail 2 "--trust is required" "$CFS" verify "$IMG" "$W/rsa.sig"
expect_fail 2 "--key and --cert" "$CFS" sign "$IMG" --output "$W/x.sig"
ok "tampered image, other signer, garbage, truncated, expired certificate, key mismatch refused"

# --- CA chains: the leaf comes from the signature (--embed-cert) or from the trust directory ----
mkdir -p "$W/cas" "$W/leafdir"
cp "$K/ca.crt" "$W/cas/ca.pem"
echo "not a certificate, and ignored: no .pem/.crt/.cer name" >"$W/cas/README"
"$CFS" sign "$IMG" --key "$K/leaf.key" --cert "$K/leaf.crt" --embed-cert --output "$W/leaf-embed.sig"
"$CFS" sign "$IMG" --key "$K/leaf.key" --cert "$K/leaf.crt" --output "$W/leaf.sig"
"$CFS" verify "$IMG" "$W/leaf-embed.sig" --trust "$W/cas" >"$W/out" || fail "embedded leaf + trusted CA dir"
grep -q "signed by CN=leaf" "$W/out" || fail "chain verify output: $(cat "$W/out")"
expect_fail 1 "unknown certificate" "$CFS" verify "$IMG" "$W/leaf.sig" --trust "$W/cas"
cp "$K/ca.crt" "$K/leaf.crt" "$W/leafdir/"
"$CFS" verify "$IMG" "$W/leaf.sig" --trust "$W/leafdir" >/dev/null || fail "leaf + CA in the trust dir"
expect_fail 1 "CN=leaf: unable to get local issuer" "$CFS" verify "$IMG" "$W/leaf-embed.sig" --trust "$K/rsa.crt"
"$CFS" sign "$IMG" --key "$K/expired.key" --cert "$K/expired.crt" --embed-cert --output "$W/expired-embed.sig"
expect_fail 1 "expired on" "$CFS" verify "$IMG" "$W/expired-embed.sig" --trust "$W/cas"
ok "CA chains: embedded leaf to trusted CA; leaf+CA in the trust dir; expired leaf under the CA refused"

# --- repository ---------------------------------------------------------------------------------
R=$W/repo
"$CFS" --repo "$R" init >/dev/null
hex=$("$CFS" --repo "$R" create-image "$W/src" signed-img | tail -n1)
[[ "$hex" =~ ^[0-9a-f]{64}$ ]] || fail "create-image printed '$hex'"
"$CFS" --repo "$R" create-image "$W/src/d" unsigned-img >/dev/null
"$CFS" --repo "$R" sign signed-img --key "$K/rsa.key" --cert "$K/rsa.crt" >"$W/out" || fail "repo sign rsa"
"$CFS" --repo "$R" sign signed-img --key "$K/ec.key" --cert "$K/ec.crt" >>"$W/out" || fail "repo sign ec"
"$CFS" --repo "$R" sign signed-img --key "$K/rsa.key" --cert "$K/rsa.crt" >>"$W/out" || fail "repo sign again"
[ "$(sort -u "$W/out" | wc -l)" = 2 ] || fail "three signings, expected two distinct files: $(cat "$W/out")"
# what a client of a static HTTP mirror does: GET the index, then each file, check its name
[ "$(wc -l <"$R/signatures/$hex/index")" = 2 ] || fail "index: $(cat "$R/signatures/$hex/index")"
while read -r name; do
	[ "$(sha256sum <"$R/signatures/$hex/$name" | cut -d' ' -f1)" = "$name" ] || fail "signature $name: wrong hash"
	grep -q "signatures/$hex/$name" "$W/out" || fail "index names $name, sign did not print it"
done <"$R/signatures/$hex/index"
# and the stored RSA signature is what fsverity sign makes for the image object
fsverity sign "$R/images/$hex" "$W/repo-fsv.sig" --key "$K/rsa.key" --cert "$K/rsa.crt" >/dev/null
cmp "$R/signatures/$hex/$(sha256sum <"$W/repo-fsv.sig" | cut -d' ' -f1)" "$W/repo-fsv.sig" ||
	fail "stored RSA signature differs from fsverity sign's"
"$CFS" --repo "$R" verify signed-img --trust "$K/ec.crt" | grep -q "signed by CN=ec" || fail "repo verify ec"
expect_fail 1 "signature rejected\|none of its" "$CFS" --repo "$R" verify signed-img --trust "$K/other.crt"
expect_fail 1 "is not signed" "$CFS" --repo "$R" verify unsigned-img --trust "$K/rsa.crt"
"$CFS" --repo "$R" fsck >/dev/null || fail "fsck complains about signatures/"
ok "repository: two signatures stored by content hash, index for mirrors, verify by name"

# --- composefs mount --require-signature -------------------------------------------------------
M=$W/m
mkdir -p "$M"
track "$M"
"$CFS" --repo "$R" mount --require-signature --trust "$K/rsa.crt" signed-img "$M" || fail "signed mount"
cmp "$M/d/f2" "$W/src/d/f2" || fail "signed mount content"
umount "$M"
expect_fail 1 "signature rejected\|none of its" "$CFS" --repo "$R" mount --require-signature --trust "$K/other.crt" signed-img "$M"
! mountpoint -q "$M" || fail "wrongly signed image mounted"
expect_fail 1 "is not signed" "$CFS" --repo "$R" mount --require-signature --trust "$K/rsa.crt" unsigned-img "$M"
! mountpoint -q "$M" || fail "unsigned image mounted"
expect_fail 2 "go together" "$CFS" --repo "$R" mount --require-signature signed-img "$M"
# a stored signature of another image does not transfer: swap it in
uhex=$("$CFS" --repo "$R" images --json | grep -o '"[0-9a-f]\{64\}"' | tr -d '"' | grep -v "$hex" | head -n1)
[ -n "$uhex" ] || fail "no digest for unsigned-img"
mkdir -p "$R/signatures/$uhex"
cp "$W/repo-fsv.sig" "$R/signatures/$uhex/$(sha256sum <"$W/repo-fsv.sig" | cut -d' ' -f1)"
expect_fail 1 "does not match" "$CFS" --repo "$R" mount --require-signature --trust "$K/rsa.crt" unsigned-img "$M"
! mountpoint -q "$M" || fail "image with another image's signature mounted"
ok "composefs mount: signed image mounted; other signer, unsigned, foreign signature refused, nothing mounted"

# --- mount.composefs -o signature=,trust= ---------------------------------------------------------
cfs_mount "$IMG" "$M" "basedir=$W/objs,signature=$W/ec.sig,trust=$K/ec.crt,tryverity"
cmp "$M/hello" "$W/src/hello" || fail "mount.composefs signed content"
umount "$M"
expect_fail 1 "unknown certificate" "$MOUNT" -o "basedir=$W/objs,signature=$W/ec.sig,trust=$K/rsa.crt" "$IMG" "$M"
! mountpoint -q "$M" || fail "mount.composefs: wrongly signed image mounted"
expect_fail 1 "does not match" "$MOUNT" -o "basedir=$W/objs,signature=$W/rsa.sig,trust=$K/rsa.crt" "$W/tampered.cfs" "$M"
! mountpoint -q "$M" || fail "mount.composefs: tampered image mounted"
expect_fail 1 "expired" "$MOUNT" -o "basedir=$W/objs,signature=$W/expired.sig,trust=$K/expired.crt" "$IMG" "$M"
expect_fail 2 "must be given together" "$MOUNT" -o "basedir=$W/objs,signature=$W/rsa.sig" "$IMG" "$M"
# digest= and signature= together: the signature must be over that digest
other_digest=$(printf '%064d' 7)
expect_fail 1 "does not match" "$MOUNT" -o "basedir=$W/objs,digest=$other_digest,signature=$W/rsa.sig,trust=$K/rsa.crt" "$IMG" "$M"
! mountpoint -q "$M" || fail "mount.composefs: mounted with a digest the signature does not cover"
ok "mount.composefs: signature=/trust= mount, other signer, tampered image, expiry, pinned digest"

# --- composefs-fuse -o signature=,trust= ----------------------------------------------------------
if [ -x "$FUSE" ]; then
	"$FUSE" -o "source=$IMG,basedir=$W/objs,signature=$W/ed.sig,trust=$K/ed.crt" "$M" || fail "fuse signed mount"
	cmp "$M/d/f3" "$W/src/d/f3" || fail "fuse signed content"
	umount "$M"
	expect_fail 1 "unknown certificate" "$FUSE" -f -o "source=$IMG,basedir=$W/objs,signature=$W/ed.sig,trust=$K/rsa.crt" "$M"
	! mountpoint -q "$M" || fail "fuse: wrongly signed image mounted"
	expect_fail 1 "does not match" "$FUSE" -f -o "source=$W/tampered.cfs,basedir=$W/objs,signature=$W/rsa.sig,trust=$K/rsa.crt" "$M"
	! mountpoint -q "$M" || fail "fuse: tampered image mounted"
	expect_fail 2 "go together" "$FUSE" -f -o "source=$IMG,basedir=$W/objs,trust=$K/rsa.crt" "$M"
	COMPOSEFS_FUSE=$FUSE expect_fail 1 "signature rejected\|none of its" \
		"$CFS" --repo "$R" mount --fuse --require-signature --trust "$K/other.crt" signed-img "$M"
	! mountpoint -q "$M" || fail "composefs mount --fuse: wrongly signed image mounted"
	ok "composefs-fuse: signature=/trust= mount, other signer and tampered image refused"
else
	fail "composefs-fuse not built"
fi

# --- --enable-verity: this kernel or file system may lack fs-verity; then a clear refusal ---------
cp "$IMG" "$W/ev.cfs"
rc=0
"$CFS" sign "$W/ev.cfs" --key "$K/rsa.key" --cert "$K/rsa.crt" --enable-verity 2>"$W/err" || rc=$?
if [ "$rc" = 0 ]; then
	fsverity dump_metadata signature "$W/ev.cfs" >"$W/ev.sig"
	cmp "$W/ev.sig" "$W/rsa.sig" || fail "--enable-verity stored another signature"
	ok "--enable-verity: the kernel holds the signature"
else
	[ "$rc" = 1 ] && grep -q "no fs-verity\|refused the signature" "$W/err" || fail "--enable-verity: exit $rc: $(cat "$W/err")"
	ok "--enable-verity without kernel support: $(cat "$W/err")"
fi

# --- fsck and gc of stored signatures ----------------------------------------------------------------
# fsck_fails TEXT: fsck exits 1 and prints the problem TEXT on stdout
fsck_fails() {
	local rc=0
	"$CFS" --repo "$R" fsck >"$W/fsck.out" 2>&1 || rc=$?
	[ "$rc" = 1 ] || fail "fsck exit $rc, expected 1: $(cat "$W/fsck.out")"
	grep -qF "$1" "$W/fsck.out" || fail "fsck did not report '$1': $(cat "$W/fsck.out")"
}
# the hand-copied signature above has no index: fsck says so
fsck_fails "bad-signature-entry: signatures/$uhex/index: missing"
rm -r "${R:?}/signatures/$uhex"
"$CFS" --repo "$R" fsck >"$W/out" || fail "fsck after removing the foreign signature: $(cat "$W/out")"
grep -q "^signatures: 2 checked, 0 bad" "$W/out" || fail "fsck did not count the signatures: $(cat "$W/out")"
# a damaged signature file is named
sig1=$(head -n1 "$R/signatures/$hex/index")
cp "$R/signatures/$hex/$sig1" "$W/sig1.bak"
printf 'x' >>"$R/signatures/$hex/$sig1"
fsck_fails "bad-signature-entry: signatures/$hex/$sig1: content has SHA-256"
"$CFS" --repo "$R" fsck --json >"$W/out" && fail "fsck --json exit 0 with a damaged signature"
grep -q '"signatures_bad": 1' "$W/out" || fail "fsck --json signatures_bad: $(cat "$W/out")"
cp "$W/sig1.bak" "$R/signatures/$hex/$sig1"
# an index that lists a signature no longer there
mv "$R/signatures/$hex/$sig1" "$W/sig1.moved"
fsck_fails "bad-signature-entry: signatures/$hex/index: does not list exactly the 1 signature(s)"
mv "$W/sig1.moved" "$R/signatures/$hex/$sig1"
# signatures of an image that is not in the repository: reported, then collected by gc
orphan=$(printf '%064d' 5)
mkdir "$R/signatures/$orphan"
cp "$W/sig1.bak" "$R/signatures/$orphan/$sig1"
printf '%s\n' "$sig1" >"$R/signatures/$orphan/index"
fsck_fails "bad-signature-entry: signatures/$orphan: signatures of an image that is not in the repository"
"$CFS" --repo "$R" gc --dry-run | grep -q "would remove 0 objects, 0 images, 1 signatures" || fail "gc --dry-run signatures"
[ -e "$R/signatures/$orphan/$sig1" ] || fail "gc --dry-run removed a signature"
"$CFS" --repo "$R" gc | grep -q "removed 0 objects, 0 images, 1 signatures" || fail "gc did not remove the orphan signature"
[ ! -e "$R/signatures/$orphan" ] || fail "gc left signatures/$orphan"
[ -e "$R/signatures/$hex/$sig1" ] || fail "gc removed a signature of a kept image"
"$CFS" --repo "$R" fsck >/dev/null || fail "fsck after gc of the orphan signature"
# untagging the signed image lets gc take the image and its signatures together
"$CFS" --repo "$R" untag signed-img
"$CFS" --repo "$R" gc >"$W/out"
grep -q "removed [0-9]* objects, 1 images, 2 signatures" "$W/out" || fail "gc of a signed image: $(cat "$W/out")"
[ ! -e "$R/signatures/$hex" ] || fail "gc left the signatures of a removed image"
"$CFS" --repo "$R" fsck >/dev/null || fail "fsck after gc of a signed image"
ok "fsck checks stored signatures (names, index, owner image); gc removes those of removed images"
