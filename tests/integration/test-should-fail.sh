#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Every should-fail-*.dump input: mkcomposefs exits 1, names the line, writes nothing.
set -euo pipefail

B=${CFS_BUILDDIR:?CFS_BUILDDIR not set}
MK=$B/tools/mkcomposefs/mkcomposefs
fail() { echo "FAIL: $*"; exit 1; }

T=$(mktemp -d /tmp/cfs-should-fail.XXXXXX)
trap 'rm -rf "$T"' EXIT

n=0
for f in "${CFS_COMPAT_ASSETS:?}"/should-fail-*.dump "${CFS_ASSETS:-/nonexistent}"/should-fail-*.dump; do
	[ -e "$f" ] || continue
	name=$(basename "$f")
	# unset (lenient) and set (strict: the reference treats any value as strict)
	for strict in unset 1; do
		out=$T/out
		rm -rf "$out" && mkdir "$out"
		rc=0
		if [ "$strict" = unset ]; then senv=(env -u CFS_PARSE_STRICT); else senv=(env CFS_PARSE_STRICT=1); fi
		"${senv[@]}" "$MK" --from-file "$f" "$out/image.cfs" > "$T/stdout" 2> "$T/stderr" || rc=$?
		[ "$rc" = 1 ] || { cat "$T/stderr"; fail "$name (strict=$strict): exit code $rc, expected 1"; }
		grep -Eq 'line [0-9]+' "$T/stderr" || { cat "$T/stderr"; fail "$name: message does not name the line"; }
		[ "$(wc -l < "$T/stderr")" = 1 ] || { cat "$T/stderr"; fail "$name: expected one line of error"; }
		[ -z "$(ls -A "$out")" ] || { ls -la "$out"; fail "$name: output directory not empty"; }
		[ ! -s "$T/stdout" ] || fail "$name: wrote to stdout"
	done
	# through stdin and stdout: nothing may reach stdout either
	rc=0
	"$MK" --from-file - - < "$f" > "$T/img" 2> "$T/stderr" || rc=$?
	[ "$rc" = 1 ] || fail "$name via stdin/stdout: exit code $rc"
	[ ! -s "$T/img" ] || fail "$name via stdin/stdout: image bytes written"
	# an existing image survives a failed rebuild untouched
	echo "previous image" > "$T/existing"
	"$MK" --from-file "$f" "$T/existing" 2>/dev/null && fail "$name: unexpected success"
	[ "$(cat "$T/existing")" = "previous image" ] || fail "$name: existing output was modified"
	echo "ok $name: exit 1, line named, no output"
	n=$((n + 1))
done
[ "$n" -gt 0 ] || fail "no should-fail inputs found in $CFS_COMPAT_ASSETS"
echo "PASS ($n inputs)"
