#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# composefs-info / composefs-dump against golden reference output and round trips of the compat assets.
set -u

B=${CFS_BUILDDIR:?}
INFO=$B/tools/composefs-info/composefs-info
DUMP=$B/tools/composefs-dump/composefs-dump
G=${CFS_ASSETS:?}/reader
C=${CFS_COMPAT_ASSETS:-}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fails=0
checks=0

fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { checks=$((checks + 1)); }

[ -x "$INFO" ] || { echo "composefs-info not built"; exit 1; }
[ -x "$DUMP" ] || { echo "composefs-dump not built"; exit 1; }

# 1. Golden images made by the reference: our output must match its output byte for byte.
for img in "$G"/*.img; do
	n=$(basename "$img" .img)
	for c in ls dump objects; do
		if "$INFO" "$c" "$img" > "$T/out" 2> "$T/err" && cmp -s "$T/out" "$G/$n.$c"; then
			ok
		else
			fail "$n: composefs-info $c differs from the reference output"
			diff "$G/$n.$c" "$T/out" | head -5
			cat "$T/err"
		fi
	done
	# missing-objects: everything with an empty store; one object less once it exists
	mkdir -p "$T/store-$n"
	"$INFO" --basedir="$T/store-$n" missing-objects "$img" > "$T/out" || fail "$n: missing-objects failed"
	cmp -s "$T/out" "$G/$n.objects" && ok || fail "$n: missing-objects with an empty store != objects"
	# without --basedir nothing is present (the reference's answer), options anywhere
	"$INFO" missing-objects "$img" > "$T/out" || fail "$n: missing-objects without --basedir failed"
	cmp -s "$T/out" "$G/$n.objects" && ok || fail "$n: missing-objects without --basedir != objects"
	"$INFO" missing-objects "$img" --basedir="$T/store-$n" > "$T/out" || fail "$n: --basedir after the image refused"
	cmp -s "$T/out" "$G/$n.objects" && ok || fail "$n: missing-objects IMAGE --basedir=DIR != objects"
	first=$(head -n1 "$G/$n.objects")
	if [ -n "$first" ]; then
		mkdir -p "$T/store-$n/$(dirname "$first")" && : > "$T/store-$n/$first"
		"$INFO" --basedir="$T/store-$n" missing-objects "$img" > "$T/out"
		tail -n +2 "$G/$n.objects" | cmp -s - "$T/out" && ok || fail "$n: present object still listed as missing"
	fi
	# composefs-dump rewrites the reference's image byte for byte (or, where
	# the reference's own composefs-dump output differs, as that: NAME.redump.sha256)
	rm -f "$T/re.img"
	want=$(sha256sum < "$img" | cut -c1-64)
	[ -f "$G/$n.redump.sha256" ] && want=$(cat "$G/$n.redump.sha256")
	if "$DUMP" "$img" "$T/re.img" && [ "$(sha256sum < "$T/re.img" | cut -c1-64)" = "$want" ]; then ok; else
		fail "$n: composefs-dump round trip differs"; fi
	# JSON outputs parse
	for c in ls objects info; do
		if "$INFO" --json "$c" "$img" | python3 -c 'import json,sys; json.load(sys.stdin)'; then ok; else
			fail "$n: --json $c is not valid JSON"; fi
	done
	"$INFO" info "$img" > "$T/info" && grep -q "^image-size: $(stat -c %s "$img")$" "$T/info" && ok ||
		fail "$n: info does not report the image size"
done

# --filter keeps only the named top-level entries (mix: /a and /c)
"$INFO" --filter=a --filter=c ls "$G/mix-v1.img" > "$T/out"
grep -E '^/(a|c)(/|	|$)' "$G/mix-v1.ls" | cmp -s - "$T/out" && ok || fail "--filter ls"
# several images: objects are merged, sorted, de-duplicated
"$INFO" objects "$G/mix-v0.img" "$G/mix-v1.img" > "$T/out"
cmp -s "$T/out" "$G/mix-v0.objects" && ok || fail "objects of two images"

# exit codes and messages
"$INFO" > /dev/null 2>&1; [ $? -eq 2 ] && ok || fail "no command: exit code not 2"
"$INFO" frobnicate x > /dev/null 2>&1; [ $? -eq 2 ] && ok || fail "unknown command: exit code not 2"
"$INFO" --help > /dev/null && ok || fail "--help"
"$INFO" --version > /dev/null && ok || fail "--version"
"$INFO" ls /nonexistent 2> "$T/err"; [ $? -eq 1 ] && ok || fail "missing image: exit code not 1"
head -c 5000 /dev/urandom > "$T/junk.img"
"$INFO" dump "$T/junk.img" > /dev/null 2> "$T/err"; rc=$?
[ $rc -eq 1 ] && grep -q "not a composefs image we can read" "$T/err" && ok || fail "junk image: rc=$rc $(cat "$T/err")"
"$DUMP" "$T/junk.img" "$T/never.img" 2> /dev/null; rc=$?
[ $rc -eq 1 ] && [ ! -e "$T/never.img" ] && ok || fail "composefs-dump of junk: rc=$rc or partial output left"
"$DUMP" "$G/mix-v1.img" > /dev/null 2>&1; [ $? -eq 2 ] && ok || fail "composefs-dump without DEST: exit code not 2"

# measure-file: known fs-verity digests of small files
printf '' > "$T/empty"
d=$("$INFO" measure-file "$T/empty")
[ "$d" = 3d248ca542a24fc62d1c43b916eae5016878e2533c88238480b26128a1f1af95 ] && ok || fail "measure-file empty: $d"
head -c 4096 /dev/zero > "$T/zero"
d=$("$INFO" measure-file "$T/zero" "$T/empty" | head -n1)
[ "$d" = babc284ee4ffe7f449377fbf6692715b43aec7bc39c094a95878904d34bac97e ] && ok || fail "measure-file 4k zeros: $d"
d=$("$INFO" --hash=sha512 measure-file "$T/empty")
[ ${#d} -eq 128 ] && ok || fail "measure-file --hash=sha512: $d"

# 2. Compat assets through our own writer: image -> dump is canonical, composefs-dump is exact.
MK=()
if [ -x "$B/tools/mkcomposefs/mkcomposefs" ]; then MK=("$B/tools/mkcomposefs/mkcomposefs" --from-file)
elif [ -x "$B/tests/tools/dump2img" ]; then MK=("$B/tests/tools/dump2img" --no-strict); fi
if [ ${#MK[@]} = 0 ] || [ -z "$C" ] || [ ! -d "$C" ]; then
	echo "note: no image writer tool built or no compat assets; compat round trips not run"
else
	for f in "$C"/*.dump "$C"/*.dump.gz; do
		b=$(basename "$f")
		case $b in should-fail-*) continue ;; esac
		n=${b%.gz}
		n=${n%.dump}
		v=""
		[ -f "$f.version" ] && v="--min-version=$(cat "$f.version") --max-version=$(cat "$f.version")"
		case $f in *.gz) gzip -dc "$f" > "$T/in.dump" ;; *) cp "$f" "$T/in.dump" ;; esac
		# shellcheck disable=SC2086
		if ! "${MK[@]}" $v "$T/in.dump" "$T/a.img" 2> "$T/err"; then fail "$n: writer failed: $(cat "$T/err")"; continue; fi
		canon="$T/in.dump"
		[ -f "$G/canon/$n.dump" ] && canon="$G/canon/$n.dump"
		"$INFO" dump "$T/a.img" > "$T/a.dump" && cmp -s "$T/a.dump" "$canon" && ok ||
			fail "$n: image -> dump is not the canonical dump"
		rm -f "$T/b.img"
		"$DUMP" "$T/a.img" "$T/b.img" && cmp -s "$T/a.img" "$T/b.img" && ok || fail "$n: composefs-dump differs"
	done
fi

echo "test-info: $checks checks passed, $fails failed"
[ $fails -eq 0 ]
