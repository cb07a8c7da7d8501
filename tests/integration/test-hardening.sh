#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Regression tests of the adversarial review (issue 10): data integrity and
# denial of service in the userspace tools and the repository.
set -euo pipefail

B=${CFS_BUILDDIR:?}
MKCFS=$B/tools/mkcomposefs/mkcomposefs
INFO=$B/tools/composefs-info/composefs-info
DUMP=$B/tools/composefs-dump/composefs-dump
CFS=$B/tools/composefs/composefs
T=$(mktemp -d "${TMPDIR:-/tmp}/cfs-hardening.XXXXXX")
trap 'rm -rf "$T"' EXIT

fail() { echo "FAIL: $*" >&2; exit 1; }
ok() { echo "ok: $*"; }

# ---- payloads read back exactly as stored, whatever their length mod 4 ----
for p in x x/ x/y x/yz x/y.b x/y.bi x/y.bin x/y.bin2 ab/cdefg ab/cdefghi; do
	printf '/ 0 40755 2 0 0 0 0.0 - - -\n/file 5000 100644 1 0 0 0 0.0 %s - -\n' "$p" >"$T/p.dump"
	rm -f "$T/p.img" "$T/p2.img"
	"$MKCFS" --from-file "$T/p.dump" "$T/p.img"
	got=$("$INFO" dump "$T/p.img" | sed -n 's,^/file .* 0\.0 \(.*\) - -$,\1,p')
	[ "$got" = "$p" ] || fail "payload '$p' reads back as '$got'"
	"$DUMP" "$T/p.img" "$T/p2.img"
	cmp -s "$T/p.img" "$T/p2.img" || fail "payload '$p': composefs-dump wrote a different image"
done
ok "payloads of every length mod 4 read back as stored; composefs-dump round trips byte for byte"
