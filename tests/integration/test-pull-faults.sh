#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# composefs pull against a misbehaving server (tests/tools/fault-server.py on loopback): down,
# 404/500, truncated bodies, dropped connections, wrong bytes, stalls, no answer; bounded retries,
# each failed object named, nothing wrong stored; composefs-rs symlink targets and zstd bodies.
. "$(dirname "$0")/test-repo-lib.sh"
. "$(dirname "$0")/test-pull-lib.sh"

S=$W/served
SRC=$W/src
bulk_files "$SRC" 4 10 faults-seed
"$CFS" --repo "$S" init >/dev/null
DIGEST=$("$CFS" --repo "$S" create-image "$SRC" img) || fail "create-image"
"$CFS" --repo "$S" image-objects img >"$W/objects"
n=$(wc -l <"$W/objects")
obj() { local h; h=$(sed -n "${1}p" "$W/objects"); echo "objects/${h:0:2}/${h:2}"; }
A=$(obj 1) B=$(obj 2) C=$(obj 3)
FAST=(--retries 2 --retry-delay 0.05 --timeout 1 --connect-timeout 1)

# fresh_repo NAME: an empty repository; sets R
fresh_repo() {
	R=$W/$1
	"$CFS" --repo "$R" init >/dev/null
}

# pull_expect RC WHAT ARGS...: run pull with a JSON summary in $W/out.json, stderr in $W/err
pull_expect() {
	local want=$1 what=$2 rc=0
	shift 2
	"$CFS" --repo "$R" pull --json "${FAST[@]}" "$@" >"$W/out.json" 2>"$W/err" || rc=$?
	[ "$rc" = "$want" ] || { cat "$W/err" >&2; fail "$what: exit $rc, expected $want"; }
}

# --- a server that is down ---
fresh_repo down
port=$(free_port)
start=$(date +%s)
pull_expect 1 "server down" "http://127.0.0.1:$port" img
[ $(($(date +%s) - start)) -lt 20 ] || fail "giving up on a down server took too long"
grep -qi "connect" "$W/err" || fail "server down: $(cat "$W/err")"
ok "a server that is down: exit 1 after bounded retries ($(tail -1 "$W/err"))"

start_fault_server faults "$S"
URL=http://127.0.0.1:$PORT

# --- transient faults are retried away ---
fresh_repo transient
printf '%s 500 2\n%s drop 1\n%s truncate 1\n%s corrupt 1\n' "$A" "$B" "$C" "$(obj 4)" >"$FAULTS"
pull_expect 0 "transient faults" "$URL" img
[ "$(json_field "$W/out.json" objects_fetched)" = "$n" ] || fail "transient: objects_fetched"
[ "$(json_field "$W/out.json" retries)" -ge 5 ] || fail "transient: $(json_field "$W/out.json" retries) retries"
fsck_clean "$R" "transient faults"
ok "500 twice, a dropped connection, a truncated body and wrong bytes once: retried, pull complete, fsck clean"

# --- permanent faults: each object named, nothing wrong stored, no name given ---
fresh_repo permanent
printf '%s 404 always\n%s truncate always\n%s corrupt always\n%s 500 always\n' "$A" "$B" "$C" "$(obj 4)" >"$FAULTS"
: >"$LOG"
pull_expect 1 "permanent faults" "$URL" img
for o in "$A" "$B" "$C" "$(obj 4)"; do
	grep -q "^composefs: $o: " "$W/err" || { cat "$W/err" >&2; fail "$o not named"; }
	[ -e "$R/$o" ] && fail "$o stored"
done
grep -q "$A: HTTP 404" "$W/err" || fail "404 not explained"
grep -q "$C: wrong content" "$W/err" || fail "wrong bytes not explained"
grep -q "$(obj 4): HTTP 500 (3 attempts)" "$W/err" || fail "500: attempts not bounded to 3"
[ "$(json_field "$W/out.json" objects_failed)" = 4 ] || fail "objects_failed"
[ "$(grep -c "^$A " "$LOG")" = 1 ] || fail "a 404 was retried"
[ "$(grep -c "^$(obj 4) " "$LOG")" = 3 ] || fail "500 requested $(grep -c "^$(obj 4) " "$LOG") times, not 3"
python3 - "$W/out.json" "$A" "$C" <<'PY' || fail "--json lists other failed objects"
import json, sys
j = json.load(open(sys.argv[1]))
failed = {f["object"] for f in j["failed"]}
assert len(failed) == 4 and not j["ok"] and j["digest"] is None
for o in sys.argv[2:]:
    assert o.replace("objects/", "").replace("/", "") in failed
PY
"$CFS" --repo "$R" images | grep -q ' img\| img$\|^img ' && fail "an incomplete image was named"
fsck_clean "$R" "permanent faults"
: >"$FAULTS"
: >"$LOG"
pull_expect 0 "re-run after the faults" "$URL" img
[ "$(json_field "$W/out.json" objects_fetched)" = 4 ] || fail "re-run fetched $(json_field "$W/out.json" objects_fetched), not 4"
[ "$(grep -c '^objects/' "$LOG")" = 4 ] || fail "re-run requested other objects"
ok "404, truncation, wrong bytes, 500 for good: exit 1 naming each, none stored, 404 not retried; the re-run fetched just those 4"

# --- a stalled body and a server that never answers: the stall timeout ends them ---
fresh_repo stall
printf '%s stall always\n%s hang always\n' "$A" "$B" >"$FAULTS"
start=$(date +%s)
pull_expect 1 "stalls" --retries 1 "$URL" img
el=$(($(date +%s) - start))
[ "$el" -lt 30 ] || fail "stalls took ${el}s"
grep -q "^composefs: $A: .*(2 attempts)" "$W/err" && grep -q "^composefs: $B: " "$W/err" || { cat "$W/err" >&2; fail "stalled objects not named"; }
grep -qi "timed out\|too slow\|timeout" "$W/err" || fail "stall: no timeout reported"
[ -e "$R/$A" ] || [ -e "$R/$B" ] && fail "stalled object stored"
[ "$(json_field "$W/out.json" objects_fetched)" = $((n - 2)) ] || fail "stall: others not fetched"
ok "a stalled body and an unanswered request fail after --timeout (twice each), in ${el}s, named"

# --- ranges from a server that ignores Range (answers 200 with everything) ---
: >"$FAULTS"
"$CFS_BUILDDIR/tests/tools/fetch-range" "$URL" "$W/rangestore" "$(sed -n 1p "$W/objects")" "$(sed -n 2p "$W/objects")" norange >"$W/range.out" ||
	fail "ranges from a server without range support"
ok "ranges from a server without range support: $(cat "$W/range.out")"

# --- server-side errors before the objects ---
fresh_repo meta
printf 'meta.json 500 always\n' >"$FAULTS"
pull_expect 1 "meta.json 500" "$URL" img
grep -q "meta.json: HTTP 500" "$W/err" || fail "meta.json failure not explained: $(cat "$W/err")"
printf 'images/refs/img corrupt always\n' >"$FAULTS"
pull_expect 1 "corrupt image by ref" "$URL" img
grep -q "not a valid composefs image" "$W/err" || fail "a damaged image: $(cat "$W/err")"
printf 'objects/%s corrupt always\n' "${DIGEST:0:2}/${DIGEST:2}" >"$FAULTS"
pull_expect 1 "corrupt image by digest" "$URL" "$DIGEST"
grep -q "image: .*wrong content" "$W/err" || fail "pull by digest did not check the image digest: $(cat "$W/err")"
[ -e "$R/objects/${DIGEST:0:2}/${DIGEST:2}" ] && fail "a wrong image was stored under the digest"
: >"$FAULTS"
fsck_clean "$R" "after refused images"
ok "meta.json errors, a damaged image by name and by digest: exit 1, nothing stored under a wrong name"

# --- a served repository of another digest algorithm ---
S5=$W/served512
"$CFS" --repo "$S5" init --hash sha512 >/dev/null
"$CFS" --repo "$S5" create-image "$SRC" img >/dev/null
start_fault_server f512 "$S5"
fresh_repo alg
pull_expect 1 "sha512 server" "http://127.0.0.1:$PORT" img
grep -q "uses fs-verity sha512, this one sha256" "$W/err" || fail "algorithm mismatch: $(cat "$W/err")"
ok "a sha512 repository is refused by a sha256 one"

# --- the composefs-rs conventions: symlink targets as text/x-symlink-target, zstd bodies ---
start_fault_server rs "$S" --symlinks --zstd
fresh_repo rs
pull_expect 0 "symlinks + zstd" --timeout 30 --jobs 4 "http://127.0.0.1:$PORT" img
[ "$(json_field "$W/out.json" digest)" = "$DIGEST" ] || fail "symlink server: digest"
grep -q '^images/refs/img 200 [0-9]* zstd$' "$LOG" || fail "the ref was not served as a compressed link"
grep -q "^objects/.* 200 [0-9]* zstd$" "$LOG" || fail "objects were not served zstd-compressed"
fsck_clean "$R" "symlink + zstd server"
do_mount "$R" img "$W/m"
compare_trees "$SRC" "$W/m"
umount "$W/m"
ln -s ../not-an-image "$S/images/refs/garbled"
fresh_repo rsbad
pull_expect 1 "a garbled link" "http://127.0.0.1:$PORT" garbled
grep -q "names no sha256 object" "$W/err" || fail "a garbled link target: $(cat "$W/err")"
ok "text/x-symlink-target links and zstd Content-Encoding: pulled, verified, mount equals source; a garbled link refused"
