#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Benchmark the composefs repository: create-image into an empty and a warm repository,
# fsck and gc, against `mkcomposefs --digest-store` (ours, and the reference if given).
# Not a test: prints and records numbers.
#
# Usage: bench/repo.sh [SOURCE_DIR]                 (default /usr)
# Environment:
#   COMPOSEFS=PATH        our composefs (default: build/tools/composefs/composefs)
#   MKCOMPOSEFS=PATH      our mkcomposefs (default: build/tools/mkcomposefs/mkcomposefs; optional)
#   REF_MKCOMPOSEFS=PATH  reference mkcomposefs to compare with (optional)
#   BENCH_TMP=DIR         where repositories go (default /var/tmp); needs room for two
#                         copies of SOURCE_DIR
#   RESULTS=FILE          results appended here (default bench/RESULTS.md next to this script)
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
src=${1:-/usr}
cfs=${COMPOSEFS:-$here/../build/tools/composefs/composefs}
mk=${MKCOMPOSEFS:-$here/../build/tools/mkcomposefs/mkcomposefs}
ref=${REF_MKCOMPOSEFS:-}
results=${RESULTS:-$here/RESULTS.md}

[ -x "$cfs" ] || { echo "no composefs at $cfs (set COMPOSEFS)"; exit 2; }
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (package time)"; exit 2; }
[ -d "$src" ] || { echo "$src is not a directory"; exit 2; }

work=$(mktemp -d "${BENCH_TMP:-/var/tmp}/cfs-bench-repo.XXXXXX")
trap 'rm -rf "$work"' EXIT
rows=()

# measure LABEL COMMAND...: wall seconds and peak RSS, one table row
measure() {
	local label=$1
	shift
	/usr/bin/time -f '%e %M' -o "$work/time" "$@" >"$work/out" 2>"$work/err" || {
		echo "$label failed:" >&2
		cat "$work/err" >&2
		exit 1
	}
	read -r secs kb <"$work/time"
	printf '%-48s %8s s %8s MiB\n' "$label" "$secs" "$((kb / 1024))"
	rows+=("| $label | $secs | $((kb / 1024)) |")
}

files=$(find "$src" -xdev -type f 2>/dev/null | wc -l)
size=$(du -sxh "$src" 2>/dev/null | cut -f1)
echo "source: $src ($files regular files, $size), $(nproc) CPUs"

R=$work/repo
"$cfs" --repo "$R" init >/dev/null
sync
measure "composefs create-image (empty repository)" "$cfs" --repo "$R" create-image "$src" first
objects=$(find "$R/objects" -mindepth 2 -type f | wc -l)
stored=$(du -sh "$R/objects" | cut -f1)
measure "composefs create-image (warm repository)" "$cfs" --repo "$R" create-image "$src" second
measure "composefs images" "$cfs" --repo "$R" images
measure "composefs fsck" "$cfs" --repo "$R" fsck
measure "composefs fsck --metadata-only" "$cfs" --repo "$R" fsck --metadata-only
measure "composefs gc (nothing to collect)" "$cfs" --repo "$R" gc
"$cfs" --repo "$R" untag first second
measure "composefs gc (everything collected)" "$cfs" --repo "$R" gc
rm -rf "$R"

if [ -x "$mk" ]; then
	sync
	measure "mkcomposefs --digest-store (ours, empty)" "$mk" --digest-store="$work/s1" "$src" "$work/img1"
	measure "mkcomposefs --digest-store (ours, warm)" "$mk" --digest-store="$work/s1" "$src" "$work/img1"
	rm -rf "$work/s1" "$work/img1"
fi
if [ -n "$ref" ]; then
	sync
	measure "mkcomposefs --digest-store (reference, empty)" "$ref" --digest-store="$work/s2" "$src" "$work/img2"
	measure "mkcomposefs --digest-store (reference, warm)" "$ref" --digest-store="$work/s2" "$src" "$work/img2"
	rm -rf "$work/s2" "$work/img2"
fi

{
	echo
	echo "## Repository (bench/repo.sh), $(date -u +%Y-%m-%d)"
	echo
	echo "Source \`$src\`: $files regular files, $size; $objects objects ($stored) in the repository."
	echo "Machine: $(nproc) CPUs, $(uname -r). One run each, page cache warm after the first read."
	echo
	echo "| operation | wall s | peak RSS MiB |"
	echo "| --- | ---: | ---: |"
	printf '%s\n' "${rows[@]}"
} >>"$results"
echo "appended to $results"
