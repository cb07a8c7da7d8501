#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# composefs oci pull docker://: Debian's docker-registry on loopback (plain, htpasswd Basic auth,
# token auth with a token server here), images pushed by skopeo; the mounted tree against umoci's
# unpack; by digest; an index by platform; layer reuse; corrupted blob, missing tag, dead registry;
# a static registry that truncates and stalls (resumed transfers, kill -9 and a re-run).
# shellcheck source=test-repo-lib.sh
. "$(dirname "$0")/test-repo-lib.sh"
# shellcheck source=test-pull-lib.sh
. "$(dirname "$0")/test-pull-lib.sh"

for c in skopeo:skopeo umoci:umoci htpasswd:apache2-utils docker-registry:docker-registry; do
	command -v "${c%%:*}" >/dev/null || fail "test-oci-registry needs '${c%%:*}' (Debian package ${c#*:})"
done
[ -n "$TREE_COMPARE" ] || fail "tests/tools/tree-compare is not built"
MK=$CFS_SRCDIR/tests/integration/oci-mkimage.py
TOKEN_SERVER=$CFS_SRCDIR/tests/integration/registry-token.py
cd "$W"
STORE=$W/store

# start_registry NAME [AUTH-YAML]: docker-registry over $STORE on a free port; sets PORT, REGLOG.
start_registry() {
	local name=$1 auth=${2:-} i
	for i in $(seq 20); do
		PORT=$(free_port)
		REGLOG=$W/$name.log
		cat >"$W/$name.yml" <<-EOF
		version: 0.1
		log:
		  level: warn
		storage:
		  filesystem:
		    rootdirectory: $STORE
		http:
		  addr: 127.0.0.1:$PORT
		$auth
		EOF
		docker-registry serve "$W/$name.yml" >"$REGLOG" 2>&1 &
		PIDS+=("$!")
		for _ in $(seq 100); do
			curl -s -o /dev/null "http://127.0.0.1:$PORT/v2/" && return 0
			kill -0 "$!" 2>/dev/null || break
			sleep 0.1
		done
	done
	fail "docker-registry did not start: $(cat "$REGLOG")"
}
pull() { "$CFS" --repo "$@"; }
blob_gets() { grep -c "GET /v2/test/img/blobs/" "$1" || true; }

# --- the image (test-oci.sh's), pushed to a plain registry ---
python3 "$MK" lay
skopeo copy -q --dest-compress --dest-compress-format gzip oci:lay:latest oci:laygz:latest
umoci unpack --image laygz:latest bundle >/dev/null
start_registry plain
P=$PORT; PLOG=$REGLOG
REG=127.0.0.1:$P
skopeo copy -q --dest-tls-verify=false oci:lay:latest "docker://$REG/test/img:v1"
skopeo copy -q --all --dest-tls-verify=false oci:lay:multi "docker://$REG/test/img:multi"
MDIGEST=$(skopeo inspect --raw --tls-verify=false "docker://$REG/test/img:v1" | sha256sum | cut -d' ' -f1)
MDIGEST=sha256:$MDIGEST
# skopeo compresses the plain layer for a registry; the zstd one stays zstd
skopeo inspect --raw --tls-verify=false "docker://$REG/test/img:v1" | grep -q 'tar+zstd' ||
	fail "the pushed image has no zstd layer"
"$CFS" --repo LOCAL init >/dev/null
D=$("$CFS" --repo LOCAL oci pull oci:lay:latest img 2>/dev/null)

# --- by tag: the same image as from the layout, and the tree umoci unpacks ---
"$CFS" --repo R init >/dev/null
d=$(pull R oci pull --tls-verify=false "docker://$REG/test/img:v1" img 2>err) || fail "pull: $(cat err)"
[ "$d" = "$D" ] || fail "docker:// gives image $d, oci:lay gives $D"
grep -q '3 layer(s), 0 already imported' err || fail "pull report: $(cat err)"
"$CFS" --repo R oci inspect img | grep -q "\"manifest\": \"$MDIGEST\"" || fail "manifest digest not recorded"
"$CFS" --repo R oci inspect img | grep -q "\"source\": \"docker://$REG/test/img:v1\"" || fail "source not recorded"
mkdir mnt
"$CFS" --repo R oci mount img mnt
MOUNTS+=("$W/mnt")
"$TREE_COMPARE" mnt bundle/rootfs || fail "kernel mount differs from umoci unpack"
[ ! -e mnt/usr/lib/gone ] && [ "$(ls mnt/opq)" = c ] && [ "$(stat -c %a mnt/usr/bin/su)" = 4755 ] ||
	fail "whiteouts, opaque directory, setuid"
[ "$(stat -c %i mnt/big)" = "$(stat -c %i mnt/big-link)" ] && [ "$(stat -c %t:%T mnt/dev/null)" = 1:3 ] ||
	fail "hard link, device"
[ "$(getfattr --only-values -n user.comment mnt/xattr-file)" = "hello world" ] || fail "xattr"
umount mnt
MOUNTS=()
"$CFS" --repo R fsck >/dev/null || fail "fsck after the pull"
# the split streams of a registry pull: the tag names the manifest as served, the config
# stream holds the config blob, and every layer re-creates its diff_id
[ "$(readlink R/streams/refs/oci/img)" = "../../oci-manifest-$MDIGEST" ] || fail "tag: $(readlink R/streams/refs/oci/img)"
"$CFS" --repo R oci fsck img >out || fail "oci fsck after a registry pull: $(cat out)"
grep -q '^1 image(s), 3 layer(s) checked, 0 bad$' out || fail "oci fsck: $(cat out)"
CONFIG=$(skopeo inspect --raw --tls-verify=false "docker://$REG/test/img:v1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["config"]["digest"])')
cfgobj=$(readlink "R/streams/oci-config-$CONFIG") || fail "no config stream for $CONFIG"
[ "$(stat -c %s "R/streams/$cfgobj")" -gt 0 ] || fail "empty config stream"
ok "docker://HOST:PORT/REPO:TAG: the image of the same OCI layout, mounted tree equals umoci unpack; split streams and oci fsck"

# --- layers already imported are not downloaded again ---
n=$(blob_gets "$PLOG")
d=$(pull R oci pull --tls-verify=false "docker://$REG/test/img:v1" again 2>err) || fail "second pull: $(cat err)"
[ "$d" = "$D" ] && grep -q '3 layer(s), 3 already imported' err || fail "second pull: $(cat err)"
[ "$(blob_gets "$PLOG")" = $((n + 1)) ] || fail "second pull fetched $(( $(blob_gets "$PLOG") - n )) blobs (only the config expected)"
ok "a second pull fetches only the config blob, no layer"

# --- a layer whose object is gone is downloaded again (only that layer), which puts it back ---
LAYER0=$(skopeo inspect --raw --tls-verify=false "docker://$REG/test/img:v1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["layers"][0]["digest"])')
su=$("$CFS" measure bundle/rootfs/usr/bin/su | cut -d' ' -f1)
SU=R/objects/${su:0:2}/${su:2}
[ -f "$SU" ] || fail "object of usr/bin/su not at $SU"
rm "$SU"
n=$(blob_gets "$PLOG")
d=$(pull R oci pull --tls-verify=false "docker://$REG/test/img:v1" again 2>err) || fail "pull over a missing object: $(cat err)"
[ "$d" = "$D" ] && grep -q '3 layer(s), 2 already imported, 1 imported again' err || fail "pull over a missing object: $(cat err)"
[ "$(blob_gets "$PLOG")" = $((n + 2)) ] && grep -q "GET /v2/test/img/blobs/$LAYER0" "$PLOG" ||
	fail "pull over a missing object fetched $(( $(blob_gets "$PLOG") - n )) blobs (the config and layer 1 expected)"
[ -f "$SU" ] || fail "the missing object did not come back"
"$CFS" --repo R fsck >out || fail "fsck after the re-import: $(cat out)"
"$CFS" --repo R oci fsck >out || fail "oci fsck after the re-import: $(cat out)"
"$CFS" --repo R oci mount again mnt && MOUNTS+=("$W/mnt")
cmp mnt/usr/bin/su bundle/rootfs/usr/bin/su || fail "usr/bin/su after the re-import"
umount mnt; MOUNTS=()
# the image of another tag sharing the layer: nothing missing now, no layer fetched
n=$(blob_gets "$PLOG")
pull R oci pull --tls-verify=false --platform linux/arm64 "docker://$REG/test/img:multi" arm2 2>err >/dev/null ||
	fail "arm64 after the repair: $(cat err)"
grep -q '2 layer(s), 2 already imported$' err && [ "$(blob_gets "$PLOG")" = $((n + 1)) ] ||
	fail "arm64 after the repair: $(cat err), $(( $(blob_gets "$PLOG") - n )) blobs"
ok "a layer whose object is gone is fetched again (that layer's blob only) and the object comes back; fsck clean, the file reads right; then layers are reused again"

# --- by digest; a digest the registry does not have ---
d=$(pull R oci pull --tls-verify=false "docker://$REG/test/img@$MDIGEST" bydigest 2>err) || fail "by digest: $(cat err)"
[ "$d" = "$D" ] || fail "by digest: $d"
rc=0; pull R oci pull --tls-verify=false "docker://$REG/test/img@sha256:$(printf %064d 0)" x 2>err || rc=$?
[ "$rc" = 1 ] && grep -q "manifest test/img@sha256:0*: not found" err || fail "unknown digest: $rc $(cat err)"
rc=0; pull R oci pull --tls-verify=false "docker://$REG/test/img:nope" x 2>err || rc=$?
[ "$rc" = 1 ] && grep -q "manifest test/img:nope: not found (HTTP 404)" err || fail "unknown tag: $rc $(cat err)"
[ ! -e R/images/refs/x ] || fail "a refused pull named an image"
ok "pull by digest (checked), unknown digest and tag refused"

# --- an image index: the host's platform, or --platform ---
d=$(pull R oci pull --tls-verify=false "docker://$REG/test/img:multi" amd 2>/dev/null) || fail "multi"
[ "$d" = "$D" ] || fail "index: the host platform (amd64) is the full image"
pull R oci pull --tls-verify=false --platform linux/arm64 "docker://$REG/test/img:multi" arm 2>err >/dev/null ||
	fail "arm64: $(cat err)"
grep -q '2 layer(s), 2 already imported' err || fail "arm64: $(cat err)"
rc=0; pull R oci pull --tls-verify=false --platform linux/s390x "docker://$REG/test/img:multi" s 2>err || rc=$?
[ "$rc" = 1 ] && grep -q 'no image for platform linux/s390x' err || fail "missing platform: $rc $(cat err)"
ok "multi-platform index: the host's image, --platform, a missing platform refused"

# --- HTTPS is the default: a plain-HTTP registry is refused without --tls-verify=false ---
rc=0; pull R oci pull "docker://$REG/test/img:v1" x 2>err || rc=$?
[ "$rc" = 1 ] && grep -q "https://$REG" err || fail "plain HTTP without --tls-verify=false: $rc $(cat err)"

# --- HTTPS: a certificate the system does not know needs --cacert (or --tls-verify=false) ---
openssl req -x509 -newkey rsa:2048 -nodes -keyout tls.key -out tls.crt -days 2 -subj /CN=127.0.0.1 \
	-addext subjectAltName=IP:127.0.0.1 2>/dev/null
start_registry tls "  tls:
    certificate: $W/tls.crt
    key: $W/tls.key"
SSLREG=127.0.0.1:$PORT
rc=0; pull R oci pull "docker://$SSLREG/test/img:v1" x 2>err || rc=$?
[ "$rc" = 1 ] && grep -qi "https://$SSLREG: .*certificate" err || fail "unknown CA: $rc $(cat err)"
d=$(pull R oci pull --cacert tls.crt "docker://$SSLREG/test/img:v1" tls1 2>err) || fail "--cacert: $(cat err)"
[ "$d" = "$D" ] || fail "--cacert: $d"
d=$(pull R oci pull --tls-verify=false "docker://$SSLREG/test/img:v1" tls2 2>err) || fail "https, --tls-verify=false: $(cat err)"
ok "HTTPS registry: refused with an unknown CA, pulled with --cacert and with --tls-verify=false"

# --- htpasswd (Basic) auth: credentials from --authfile and from REGISTRY_AUTH_FILE ---
htpasswd -Bbn alice 's3cret:pw' >htpasswd
start_registry basic "auth:
  htpasswd:
    realm: test
    path: $W/htpasswd"
BREG=127.0.0.1:$PORT
auth_json() { # FILE KEY USER:PASS
	printf '{"auths": {"other.example:5000": {"auth": "Zm9vOmJhcg=="}, "%s": {"auth": "%s"}}}\n' "$2" \
		"$(printf %s "$3" | base64 -w0)" >"$1"
}
auth_json good.json "$BREG" 'alice:s3cret:pw'
auth_json bad.json "$BREG" 'alice:wrong'
rc=0; pull R oci pull --tls-verify=false "docker://$BREG/test/img:v1" x 2>err || rc=$?
[ "$rc" = 1 ] && grep -q "$BREG asks for credentials (Basic)" err || fail "basic, no credentials: $rc $(cat err)"
rc=0; pull R oci pull --tls-verify=false --authfile bad.json "docker://$BREG/test/img:v1" x 2>err || rc=$?
[ "$rc" = 1 ] && grep -q "access refused (HTTP 401) with the credentials of bad.json" err ||
	fail "basic, wrong password: $rc $(cat err)"
d=$(pull R oci pull --tls-verify=false --authfile good.json "docker://$BREG/test/img:v1" b1 2>err) ||
	fail "basic, --authfile: $(cat err)"
[ "$d" = "$D" ] || fail "basic: $d"
"$CFS" --repo B2 init >/dev/null
d=$(REGISTRY_AUTH_FILE=$W/good.json pull B2 oci pull --tls-verify=false "docker://$BREG/test/img:v1" b2 2>err) ||
	fail "basic, REGISTRY_AUTH_FILE: $(cat err)"
[ "$d" = "$D" ] && grep -q '0 already imported' err || fail "basic, REGISTRY_AUTH_FILE: $d $(cat err)"
mkdir -p home/.docker
cp good.json home/.docker/config.json
d=$(HOME=$W/home pull B2 oci pull --tls-verify=false "docker://$BREG/test/img@$MDIGEST" b3 2>err) ||
	fail "basic, ~/.docker/config.json: $(cat err)"
echo '{"auths": {' >broken.json
rc=0; pull R oci pull --tls-verify=false --authfile broken.json "docker://$BREG/test/img:v1" x 2>err || rc=$?
[ "$rc" = 1 ] && grep -q "auth file broken.json: malformed JSON" err || fail "malformed auth file: $rc $(cat err)"
ok "htpasswd registry: refused without or with wrong credentials; --authfile, REGISTRY_AUTH_FILE, ~/.docker/config.json"

# --- token auth: docker-registry trusts a test certificate; the token server here signs JWTs ---
openssl req -x509 -newkey rsa:2048 -nodes -keyout tk.key -out tk.crt -days 2 -subj /CN=token 2>/dev/null
python3 "$TOKEN_SERVER" tport tlog tk.key tk.crt test-issuer bob:tokpw &
PIDS+=("$!")
for _ in $(seq 100); do [ -s tport ] && break; sleep 0.05; done
[ -s tport ] || fail "token server did not start"
start_registry token "auth:
  token:
    realm: http://127.0.0.1:$(cat tport)/token
    service: test-registry
    issuer: test-issuer
    rootcertbundle: $W/tk.crt"
TREG=127.0.0.1:$PORT
auth_json tok.json "$TREG" 'bob:tokpw'
rc=0; pull R oci pull --tls-verify=false "docker://$TREG/test/img:v1" x 2>err || rc=$?
[ "$rc" = 1 ] && grep -q "$TREG asks for credentials (Bearer)" err || fail "token, no credentials: $rc $(cat err)"
"$CFS" --repo T init >/dev/null
d=$(pull T oci pull --tls-verify=false --authfile tok.json "docker://$TREG/test/img:v1" t 2>err) ||
	fail "token: $(cat err)"
[ "$d" = "$D" ] || fail "token: $d"
grep -q "^/token scope=repository:test/img:pull auth=ok" tlog || fail "token request: $(cat tlog)"
ok "token registry: Bearer challenge answered with a JWT from the realm (Basic credentials there)"

# --- a dead registry: a clear error within the retry bound ---
DEAD=127.0.0.1:$(free_port)
start=$(date +%s)
rc=0; pull R oci pull --tls-verify=false --retries 2 --retry-delay 0.1 "docker://$DEAD/test/img:v1" x 2>err || rc=$?
[ "$rc" = 1 ] && grep -q "http://$DEAD: .*(3 attempts)" err || fail "dead registry: $rc $(cat err)"
[ $(($(date +%s) - start)) -lt 10 ] || fail "dead registry: took $(($(date +%s) - start)) s"
ok "dead registry: exit 1 naming it after the retries"

# --- a static registry that misbehaves: truncated blobs resume, a stalled pull killed and re-run ---
SR=$W/static/v2/test/img
mkdir -p "$SR/manifests" "$SR/blobs"
echo '{}' >"$W/static/v2/index"
skopeo inspect --raw --tls-verify=false "docker://$REG/test/img:v1" >"$SR/manifests/v1"
mapfile -t LAYERS < <(python3 -c 'import json,sys; [print(l["digest"]) for l in json.load(open(sys.argv[1]))["layers"]]' "$SR/manifests/v1")
CONFIG=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["config"]["digest"])' "$SR/manifests/v1")
for b in "$CONFIG" "${LAYERS[@]}"; do
	h=${b#sha256:}
	cp "$STORE/docker/registry/v2/blobs/sha256/${h:0:2}/$h/data" "$SR/blobs/$b"
done
start_fault_server static "$W/static" --index-file index
SREG=127.0.0.1:$PORT
echo "v2/test/img/blobs/${LAYERS[1]} truncate 2" >"$FAULTS"
"$CFS" --repo S init >/dev/null
d=$(pull S oci pull --tls-verify=false --retry-delay 0.1 "docker://$SREG/test/img:v1" s 2>err) || fail "truncated: $(cat err)"
[ "$d" = "$D" ] || fail "truncated: $d"
[ "$(grep -c "blobs/${LAYERS[1]} truncate" "$LOG")" = 2 ] || fail "truncation not exercised: $(cat "$LOG")"
echo "v2/test/img/blobs/${LAYERS[0]} truncate always" >"$FAULTS"
"$CFS" --repo S2 init >/dev/null
rc=0; pull S2 oci pull --tls-verify=false --retries 1 --retry-delay 0.1 "docker://$SREG/test/img:v1" s 2>err || rc=$?
[ "$rc" = 1 ] && grep -q "layer ${LAYERS[0]}: blob ${LAYERS[0]}: .*(2 attempts)" err || fail "always truncated: $rc $(cat err)"
[ -z "$(ls S2/images/refs)" ] && [ "$(count_objects S2)" = 0 ] || fail "always truncated: something was stored"
ok "a truncated blob is resumed (server ignoring Range); one that never arrives fails naming it, nothing stored"

echo "v2/test/img/blobs/${LAYERS[2]} stall always" >"$FAULTS"
"$CFS" --repo K init >/dev/null
"$CFS" --repo K oci pull --tls-verify=false "docker://$SREG/test/img:v1" k >/dev/null 2>err &
PULL=$!
for _ in $(seq 200); do grep -q "blobs/${LAYERS[2]} stall" "$LOG" && break; sleep 0.05; done
grep -q "blobs/${LAYERS[2]} stall" "$LOG" || fail "the pull never reached the third layer: $(cat err)"
sleep 0.3
kill -9 "$PULL"
wait "$PULL" 2>/dev/null || true
fsck_no_corruption K "after kill -9"
[ ! -e K/images/refs/k ] || fail "a killed pull named the image"
# the layers read in full are complete: each has its stream (the marker, named last); the third has none
[ "$(ls K/streams | grep -c '^oci-layer-')" = 2 ] && [ ! -e K/images/refs/oci-layer ] ||
	fail "after kill -9: streams $(ls K/streams), images $(ls K/images/refs)"
: >"$FAULTS"
: >"$LOG"
d=$(pull K oci pull --tls-verify=false "docker://$SREG/test/img:v1" k 2>err) || fail "re-run: $(cat err)"
[ "$d" = "$D" ] && grep -q '3 layer(s), 2 already imported' err || fail "re-run: $d $(cat err)"
[ "$(grep -c "blobs/sha256" "$LOG")" = 2 ] || fail "re-run fetched more than the config and the third layer: $(cat "$LOG")"
# the killed writer's temporary files are all that is left, and gc removes them
fsck_no_corruption K "after the re-run"
"$CFS" --repo K gc >/dev/null
"$CFS" --repo K fsck >fsck.out 2>&1 || fail "fsck after the re-run and gc: $(cat fsck.out)"
"$CFS" --repo K oci fsck >fsck.out 2>&1 || fail "oci fsck after the re-run: $(cat fsck.out)"
ok "a pull killed (-9) mid-layer leaves a clean repository with the finished layers' streams; the re-run fetches only the missing layer and gives the image a fresh pull gives"

# --- a corrupted blob in the registry's storage: refused naming it, nothing stored ---
L0=${LAYERS[0]#sha256:}
DATA=$STORE/docker/registry/v2/blobs/sha256/${L0:0:2}/$L0/data
[ -f "$DATA" ] || fail "no blob file $DATA"
python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[len(b)//2]^=1; open(p,"wb").write(b)' "$DATA"
"$CFS" --repo C init >/dev/null
rc=0; pull C oci pull --tls-verify=false "docker://$REG/test/img:v1" c 2>err >/dev/null || rc=$?
[ "$rc" = 1 ] && grep -q "layer ${LAYERS[0]}: " err || fail "corrupted blob: $rc $(cat err)"
[ -z "$(ls C/images/refs)" ] && [ "$(count_objects C)" = 0 ] && [ ! -e C/oci/images/c ] ||
	fail "corrupted blob: something was stored"
"$CFS" --repo C fsck >fsck.out 2>&1 || fail "fsck after the refused pull: $(cat fsck.out)"
ok "a corrupted blob in the registry is refused naming it; nothing stored"
