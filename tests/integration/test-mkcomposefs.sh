#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# mkcomposefs: byte-identical images for the compat dumps, digests, stdin/stdout, usage errors.
set -euo pipefail

B=${CFS_BUILDDIR:?CFS_BUILDDIR not set}
A=${CFS_COMPAT_ASSETS:?CFS_COMPAT_ASSETS not set}
MK=$B/tools/mkcomposefs/mkcomposefs
fail() { echo "FAIL: $*"; exit 1; }
if command -v fsverity >/dev/null; then
	VERITY="fsverity digest"
else
	echo "note: fsverity (package fsverity) not installed; using our verity-digest helper"
	VERITY="$B/tests/tools/verity-digest"
fi

T=$(mktemp -d /tmp/cfs-mkcomposefs.XXXXXX)
# shellcheck source=user-lib.sh
. "$(dirname "$0")/user-lib.sh"
trap 'rm -rf "$T" "$USER_BIN"' EXIT

sha() { sha256sum "$1" | cut -d' ' -f1; }
cat_dump() { case $1 in *.gz) gzip -dc "$1" ;; *) cat "$1" ;; esac; }

# 1. every compat dump gives exactly the reference image
n=0
for f in "$A"/*.dump "$A"/*.dump.gz; do
	name=$(basename "$f")
	case $name in should-fail-*) continue ;; esac
	[ -f "$f.sha256" ] || continue
	# as in the reference's tests: strict for all but three dumps, which it builds with the
	# variable unset (any value of CFS_PARSE_STRICT, even 0 or empty, means strict)
	strict=(env CFS_PARSE_STRICT=1)
	case $name in no-newline.dump | longlink.dump | honggfuzz-longlink-unterminated.dump) strict=(env -u CFS_PARSE_STRICT) ;; esac
	vopts=()
	if [ -f "$f.version" ]; then
		v=$(cat "$f.version")
		vopts=(--min-version="$v" --max-version="$v")
	fi
	want=$(cut -d' ' -f1 < "$f.sha256")
	cat_dump "$f" > "$T/in.dump"
	"${strict[@]}" "$MK" "${vopts[@]}" --print-digest --from-file "$T/in.dump" "$T/out.cfs" > "$T/digest" ||
		fail "$name: mkcomposefs failed"
	got=$(sha "$T/out.cfs")
	[ "$got" = "$want" ] || fail "$name: image sha256 $got, reference $want"
	vd=$($VERITY "$T/out.cfs" | cut -d' ' -f1)
	[ "sha256:$(cat "$T/digest")" = "$vd" ] || fail "$name: --print-digest $(cat "$T/digest"), fs-verity $vd"
	# the same through stdin and stdout
	cat_dump "$f" | "${strict[@]}" "$MK" "${vopts[@]}" --from-file - - > "$T/out2.cfs" ||
		fail "$name: stdin/stdout run failed"
	cmp -s "$T/out.cfs" "$T/out2.cfs" || fail "$name: stdin/stdout image differs"
	echo "ok $name: sha256 and digest match (${strict[*]:1})"
	n=$((n + 1))
done
[ "$n" -ge 10 ] || fail "only $n compat dumps found in $A"

# 1b. CFS_PARSE_STRICT as the reference reads it: set to anything (0 and empty included) means
# strict, only an unset variable is lenient. longlink.dump passes only leniently (its symlink
# SIZE is not the target's length); reference 1.0.8 exits 1 for each set value below.
for val in 0 "" 1 no; do
	rc=0
	CFS_PARSE_STRICT=$val "$MK" --from-file "$A/longlink.dump" "$T/strict.cfs" 2> "$T/strict.err" || rc=$?
	[ "$rc" = 1 ] || fail "CFS_PARSE_STRICT='$val': longlink.dump exit $rc, the reference exits 1 (strict)"
	[ ! -e "$T/strict.cfs" ] || fail "CFS_PARSE_STRICT='$val': an image was written"
done
env -u CFS_PARSE_STRICT "$MK" --from-file "$A/longlink.dump" "$T/strict.cfs" ||
	fail "CFS_PARSE_STRICT unset: longlink.dump refused"
echo "ok CFS_PARSE_STRICT: any value is strict, unset is lenient"

# 2. --print-digest-only writes nothing and prints the same digest
cp "$A/special.dump" "$T/special.dump"
v=$(cat "$A/special.dump.version")
mkdir "$T/empty"
(cd "$T/empty" && "$MK" --min-version="$v" --max-version="$v" --print-digest-only --from-file ../special.dump) > "$T/only"
"$MK" --min-version="$v" --max-version="$v" --print-digest --from-file "$T/special.dump" "$T/sp.cfs" > "$T/with"
cmp -s "$T/only" "$T/with" || fail "--print-digest-only and --print-digest differ"
[ -z "$(ls -A "$T/empty")" ] || fail "--print-digest-only left a file"
echo "ok --print-digest-only"

# 3. writing through a symlink (e.g. /dev/stdout, /proc/self/fd/N) writes in place
"$MK" --min-version="$v" --max-version="$v" --from-file "$T/special.dump" /dev/stdout > "$T/via-link.cfs"
cmp -s "$T/via-link.cfs" "$T/sp.cfs" || fail "image written through /dev/stdout differs"
ln -s sp-target.cfs "$T/link.cfs"
"$MK" --min-version="$v" --max-version="$v" --from-file "$T/special.dump" "$T/link.cfs"
[ -L "$T/link.cfs" ] && cmp -s "$T/sp-target.cfs" "$T/sp.cfs" || fail "symlinked IMAGE not written through"
# an inherited descriptor, as a sandboxing parent would pass it to an unprivileged child
if setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
	setpriv --reuid=65534 --regid=65534 --clear-groups -- env LD_LIBRARY_PATH="$USER_BIN" "$(user_prog "$MK")" --min-version="$v" --max-version="$v" \
		--from-file - /proc/self/fd/3 < "$T/special.dump" 3> "$T/fd3.cfs"
	cmp -s "$T/fd3.cfs" "$T/sp.cfs" || fail "image written to /proc/self/fd/3 differs"
fi
echo "ok IMAGE through symlinks and inherited descriptors"

# 4. overwriting an existing image replaces it; the mode follows the umask
echo old > "$T/over.cfs"
(umask 027 && "$MK" --from-file "$T/special.dump" "$T/new.cfs" && "$MK" --from-file "$T/special.dump" "$T/over.cfs")
cmp -s "$T/over.cfs" "$T/new.cfs" || fail "existing image not replaced"
[ "$(stat -c %a "$T/new.cfs")" = 640 ] || fail "new image mode $(stat -c %a "$T/new.cfs"), expected 640"
echo "ok replace existing image, umask respected"

# 5. usage errors exit 2, help and version exit 0
usage_error() {
	local rc=0
	"$MK" "$@" > "$T/u.out" 2> "$T/u.err" || rc=$?
	[ "$rc" = 2 ] || { cat "$T/u.err"; fail "'mkcomposefs $*': exit code $rc, expected 2"; }
	[ -s "$T/u.err" ] || fail "'mkcomposefs $*': no message"
	[ ! -e "$T/x.cfs" ] || fail "'mkcomposefs $*': wrote an image"
}
d=$T/special.dump
usage_error
usage_error --from-file
usage_error --from-file "$d"
usage_error --no-such-option "$d" "$T/x.cfs"
usage_error --from-file "$d" "$T/x.cfs" extra
usage_error --from-file --digest-store="$T/store" "$d" "$T/x.cfs"
usage_error --from-file --use-epoch "$d" "$T/x.cfs"
usage_error --from-file --skip-devices "$d" "$T/x.cfs"
usage_error --from-file --skip-xattrs "$d" "$T/x.cfs"
usage_error --from-file --user-xattrs "$d" "$T/x.cfs"
usage_error --from-file --threads=2 "$d" "$T/x.cfs"
usage_error --print-digest-only --from-file "$d" "$T/x.cfs"
usage_error --skip-xattrs --user-xattrs "$T" "$T/x.cfs"
usage_error --threads=0 "$T" "$T/x.cfs"
usage_error --threads=abc "$T" "$T/x.cfs"
usage_error --min-version=abc --from-file "$d" "$T/x.cfs"
usage_error --min-version=2 --from-file "$d" "$T/x.cfs"
usage_error --max-version=-1 --from-file "$d" "$T/x.cfs"
usage_error --digest-store "$T" "$T/x.cfs"
usage_error --from-file "" "$T/x.cfs"
[ ! -e "$T/store" ] || fail "a usage error created the digest store"
"$MK" --help | grep -q -- --digest-store || fail "--help does not list the options"
"$MK" --version | grep -q mkcomposefs || fail "--version"
echo "ok usage errors exit 2, --help/--version exit 0"

# 6. runtime errors exit 1
rc=0; "$MK" --from-file "$T/does-not-exist" "$T/x.cfs" 2>/dev/null || rc=$?
[ "$rc" = 1 ] || fail "missing SOURCE file: exit $rc"
rc=0; "$MK" "$T/does-not-exist" "$T/x.cfs" 2>/dev/null || rc=$?
[ "$rc" = 1 ] || fail "missing SOURCE dir: exit $rc"
rc=0; "$MK" "$T/special.dump" "$T/x.cfs" 2>/dev/null || rc=$?
[ "$rc" = 1 ] || fail "SOURCE not a directory: exit $rc"
rc=0; "$MK" --from-file "$d" "$T/no/such/dir/x.cfs" 2>/dev/null || rc=$?
[ "$rc" = 1 ] || fail "IMAGE in a missing directory: exit $rc"
[ ! -e "$T/x.cfs" ] || fail "an image was written on error"
if command -v script >/dev/null; then
	# IMAGE "-" on a terminal is refused (script(1) gives the command a pseudo-terminal)
	script -q -e -c "$(printf '%q --from-file %q -' "$MK" "$d")" /dev/null > "$T/tty.out" 2>&1 && fail "wrote an image to a terminal"
	grep -q "terminal" "$T/tty.out" || { cat "$T/tty.out"; fail "no message when refusing the terminal"; }
fi
echo "ok runtime errors exit 1"

# 7. min/max version: the reference rules (one given zeroes the other; max below min = min)
"$MK" --max-version=0 --from-file "$A/special_v1.dump" "$T/v0.cfs"
"$MK" --min-version=0 --max-version=0 --from-file "$A/special_v1.dump" "$T/v00.cfs"
cmp -s "$T/v0.cfs" "$T/v00.cfs" || fail "--max-version=0 alone differs from 0/0"
"$MK" --min-version=1 --max-version=0 --from-file "$A/special_v1.dump" "$T/v10.cfs"
"$MK" --min-version=1 --max-version=1 --from-file "$A/special_v1.dump" "$T/v11.cfs"
cmp -s "$T/v10.cfs" "$T/v11.cfs" || fail "max below min is not raised to min"
echo "ok version options"

# 7. reading a source tree. A file shorter than its stat said (a sysfs attribute claims 4096
#    bytes) fails as changed, and nothing is printed. A tree the caller does not own (where
#    O_NOATIME is refused) gives the same digest as for its owner, and every payload names
#    the file's fs-verity digest (sizes around the 1 MiB work buffer and the 4 MiB parts).
mkdir "$T/short"
touch "$T/short/attr"
# shellcheck disable=SC2016 # $1 and $2 are the inner shell's arguments
if ! unshare -m sh -c 'mount --bind /sys/kernel/uevent_seqnum "$1/short/attr" && exec "$2" --print-digest-only "$1/short"' \
	sh "$T" "$MK" > "$T/short.out" 2> "$T/short.err"; then
	grep -q "short/attr: file changed while reading" "$T/short.err" || { cat "$T/short.err"; fail "no 'changed' message for a short file"; }
	[ ! -s "$T/short.out" ] || fail "a digest was printed for a tree that failed"
else
	fail "a file shorter than its stat size was accepted"
fi
echo "ok a file shorter than measured fails as changed"
S=$(mktemp -d /tmp/cfs-mkcomposefs-src.XXXXXX)
chmod 755 "$S"
trap 'rm -rf "$T" "$USER_BIN" "$S"' EXIT
mkdir "$S/d"
for size in 0 100 5000 1048575 1048576 1048577 5242887 17825793; do
	head -c "$size" /dev/urandom > "$S/d/f$size"
done
chmod -R a+rX "$S"
[ "$(stat -c %u "$S/d/f100")" = 0 ] || fail "source files should belong to root here"
"$MK" "$S" "$T/src.cfs"
root_digest=$("$MK" --print-digest-only "$S")
[ "$root_digest" = "$("$MK" --print-digest-only --threads=1 "$S")" ] || fail "digest differs with one thread"
user_digest=$(setpriv --reuid=65534 --regid=65534 --clear-groups -- env LD_LIBRARY_PATH="$USER_BIN" \
	"$(user_prog "$MK")" --print-digest-only "$S") || fail "an unprivileged build of a root-owned tree failed"
[ "$user_digest" = "$root_digest" ] || fail "unprivileged build gives $user_digest, root $root_digest"
INFO=$B/tools/composefs-info/composefs-info
"$INFO" dump "$T/src.cfs" > "$T/src.dump"
for size in 5000 1048575 1048576 1048577 5242887 17825793; do
	want=$($VERITY "$S/d/f$size" | cut -d' ' -f1)
	want=${want#sha256:}
	grep -q "^/d/f$size $size .* $want$" "$T/src.dump" ||
		{ grep "^/d/f$size " "$T/src.dump"; fail "f$size: payload or digest is not $want"; }
done
echo "ok a tree read by a user who does not own it; payload digests of every size"
# Many directories with a file each, under a descriptor limit far below their number: the
# directories the workers open files in are kept open only up to a bound (the rest by path).
mkdir "$S/many"
for i in $(seq 1 1200); do mkdir "$S/many/d$i"; done
head -c 32768 /dev/urandom > "$T/blob"
for i in $(seq 1 1200); do { cat "$T/blob"; echo "$i"; } > "$S/many/d$i/f"; done
(ulimit -n 320 && "$MK" --threads=1 "$S/many" "$T/many.cfs") || fail "a tree of 1200 directories under 'ulimit -n 320'"
"$INFO" dump "$T/many.cfs" > "$T/many.dump"
for i in 1 2 600 1199 1200; do
	want=$($VERITY "$S/many/d$i/f" | cut -d' ' -f1)
	want=${want#sha256:}
	grep -q "^/d$i/f .* $want$" "$T/many.dump" || fail "many/d$i/f: payload digest is not $want"
done
[ "$(grep -c '^/d[0-9]*/f ' "$T/many.dump")" = 1200 ] || fail "many: not 1200 files in the image"
echo "ok 1200 directories under a limit of 320 descriptors"
echo "PASS"
