#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Benchmark kernel composefs mounts: mount+umount time, ls -lR, sequential reads, against the plain directory.
#
# Usage: CFS_BUILDDIR=build bench/mount.sh
# Environment:
#   CFS_BUILDDIR  build directory (mkcomposefs, mount.composefs)
#   BENCH_SRC     tree to image (default /usr)
#   BENCH_DIR     scratch directory, kept for reruns (default /var/tmp/cfs-fuse-bench,
#                 shared with bench/fuse.sh: same src.cfs, big.cfs and objs/)
#   RESULTS       file the results are appended to (default bench/RESULTS.md)
# Needs root (kernel mounts, drop_caches) and hyperfine. Not a test: it prints
# numbers and ratios (composefs / plain directory; above 1 means slower).
set -euo pipefail

B=${CFS_BUILDDIR:?set CFS_BUILDDIR to the build directory}
B=$(cd "$B" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${BENCH_SRC:-/usr}
D=${BENCH_DIR:-/var/tmp/cfs-fuse-bench}
RESULTS=${RESULTS:-$HERE/RESULTS.md}
MKCFS=$B/tools/mkcomposefs/mkcomposefs
MOUNT=$B/tools/mount.composefs/mount.composefs

[ "$(id -u)" = 0 ] || { echo "bench/mount.sh: needs root" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "bench/mount.sh: needs hyperfine" >&2; exit 1; }
mkdir -p "$D" "$D/m" "$D/j"
cleanup() {
	for m in "$D/m"; do
		mountpoint -q "$m" && umount "$m"
	done
	return 0
}
trap cleanup EXIT

echo "== preparing images in $D"
if [ ! -f "$D/src.cfs" ]; then
	"$MKCFS" --digest-store="$D/objs" "$SRC" "$D/src.cfs"
fi
if [ ! -f "$D/big.cfs" ]; then
	mkdir -p "$D/bigsrc"
	head -c 1G /dev/urandom >"$D/bigsrc/big"
	"$MKCFS" --digest-store="$D/objs" "$D/bigsrc" "$D/big.cfs"
	rm -rf "$D/bigsrc"
fi
digest=$("$B/tools/composefs-info/composefs-info" measure-file "$D/src.cfs" | awk '{print $1}')
digest=${digest#sha256:}
# the object of the 1 GiB file: the only object big.cfs refers to
bigobj=$D/objs/$("$B/tools/composefs-info/composefs-info" objects "$D/big.cfs" | head -n 1)
nfiles=$(find "$SRC" -xdev 2>/dev/null | wc -l)
imgsize=$(stat -c %s "$D/src.cfs")

J=$D/j
mean() { python3 -c 'import json,sys; print("%.6f" % json.load(open(sys.argv[1]))["results"][0]["mean"])' "$1"; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
ms() { awk -v s="$1" 'BEGIN { printf "%.1f ms", s * 1000 }'; }
DROP='sync; echo 3 > /proc/sys/vm/drop_caches'

echo "== mount + umount of the image of $SRC ($nfiles entries, $imgsize bytes)"
hyperfine --style basic --runs 20 --warmup 2 --export-json "$J/mount.json" \
	"$MOUNT -o basedir=$D/objs $D/src.cfs $D/m && umount $D/m" >/dev/null
echo "mount+umount: $(ms "$(mean "$J/mount.json")")"
hyperfine --style basic --runs 10 --warmup 1 --export-json "$J/mount-digest.json" \
	"$MOUNT -o basedir=$D/objs,digest=$digest,tryverity $D/src.cfs $D/m && umount $D/m" >/dev/null
echo "mount+umount with digest= (sealed copy + hash of the image): $(ms "$(mean "$J/mount-digest.json")")"

echo "== ls -lR"
"$MOUNT" -o "basedir=$D/objs" "$D/src.cfs" "$D/m"
hyperfine --style basic --runs 3 --prepare "$DROP" --export-json "$J/ls-cold-cfs.json" -i "ls -lR $D/m" >/dev/null
hyperfine --style basic --runs 3 --prepare "$DROP" --export-json "$J/ls-cold-dir.json" -i "ls -lR $SRC" >/dev/null
hyperfine --style basic --runs 5 --warmup 1 --export-json "$J/ls-warm-cfs.json" -i "ls -lR $D/m" >/dev/null
hyperfine --style basic --runs 5 --warmup 1 --export-json "$J/ls-warm-dir.json" -i "ls -lR $SRC" >/dev/null
umount "$D/m"

echo "== sequential read of 1 GiB"
"$MOUNT" -o "basedir=$D/objs" "$D/big.cfs" "$D/m"
READ="dd of=/dev/null bs=1M status=none if="
hyperfine --style basic --runs 3 --prepare "$DROP" --export-json "$J/read-cold-cfs.json" "${READ}$D/m/big" >/dev/null
hyperfine --style basic --runs 3 --prepare "$DROP" --export-json "$J/read-cold-dir.json" "${READ}$bigobj" >/dev/null
hyperfine --style basic --runs 5 --warmup 1 --export-json "$J/read-warm-cfs.json" "${READ}$D/m/big" >/dev/null
hyperfine --style basic --runs 5 --warmup 1 --export-json "$J/read-warm-dir.json" "${READ}$bigobj" >/dev/null
umount "$D/m"

row() { # LABEL NAME-CFS NAME-DIR
	local a b
	a=$(mean "$J/$2.json")
	b=$(mean "$J/$3.json")
	printf '| %s | %s | %s | %s |\n' "$1" "$(ms "$a")" "$(ms "$b")" "$(ratio "$a" "$b")"
}
table=$(
	echo "| measurement | composefs | plain directory | ratio |"
	echo "|---|---|---|---|"
	printf '| mount + umount | %s | | |\n' "$(ms "$(mean "$J/mount.json")")"
	printf '| mount + umount, digest= | %s | | |\n' "$(ms "$(mean "$J/mount-digest.json")")"
	row "ls -lR cold" ls-cold-cfs ls-cold-dir
	row "ls -lR warm" ls-warm-cfs ls-warm-dir
	row "read 1 GiB cold" read-cold-cfs read-cold-dir
	row "read 1 GiB warm" read-warm-cfs read-warm-dir
)
echo
echo "$table"
{
	echo
	echo "## bench/mount.sh — $(date -u '+%Y-%m-%d %H:%M UTC'), kernel $(uname -r), $(nproc) CPUs"
	echo
	echo "Command: \`CFS_BUILDDIR=$B bench/mount.sh\` (BENCH_SRC=$SRC: $nfiles entries, image $imgsize bytes)."
	echo "Means of hyperfine runs; ratio = composefs / plain directory (the object store file for reads)."
	echo
	echo "$table"
} >>"$RESULTS"
echo "appended to $RESULTS"
