#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Benchmark composefs-fuse against the kernel mount (EROFS + overlayfs) and, optionally, the reference daemon.
#
# Usage: CFS_BUILDDIR=build bench/fuse.sh
# Environment:
#   CFS_BUILDDIR          build directory (mkcomposefs, composefs-fuse, mount.composefs)
#   BENCH_SRC             tree to image for the `ls -lR` runs (default /usr)
#   BENCH_DIR             parent of the scratch directory (default /var/tmp); a fresh one is made
#                         for every run and removed at the end: images of older builds are never reused
#   REF_COMPOSEFS_FUSE    reference composefs-fuse binary to compare with (optional)
#   FUSE_BEFORE           another composefs-fuse binary (e.g. an older build) to compare with (optional)
#   ROUNDS                interleaved `ls -lR` rounds; medians are reported (default 3)
#   LS_ONLY               1: only the `ls -lR` runs, no read benchmarks
#   READS_ONLY            1: only the read benchmarks, no `ls -lR` runs (no /usr image either)
#   RESULTS               file the results are appended to (default bench/RESULTS.md)
# Needs root (drop_caches, kernel mounts). Not a test: it prints numbers and ratios, but every
# timed run must exit 0 and give the same output as the kernel mount's, or the script stops
# before it records anything.
set -euo pipefail

B=${CFS_BUILDDIR:?set CFS_BUILDDIR to the build directory}
B=$(cd "$B" && pwd)
HERE=$(cd "$(dirname "$0")" && pwd)
SRC=${BENCH_SRC:-/usr}
mkdir -p "${BENCH_DIR:-/var/tmp}"
D=$(mktemp -d "${BENCH_DIR:-/var/tmp}/cfs-fuse-bench.XXXXXX")
RESULTS=${RESULTS:-$HERE/RESULTS.md}
REF=${REF_COMPOSEFS_FUSE:-}
BEFORE=${FUSE_BEFORE:-}
ROUNDS=${ROUNDS:-3}
LS_ONLY=${LS_ONLY:-0}
READS_ONLY=${READS_ONLY:-0}
[ "$LS_ONLY" != 1 ] || [ "$READS_ONLY" != 1 ] || { echo "bench/fuse.sh: LS_ONLY and READS_ONLY exclude each other" >&2; exit 2; }
MKCFS=$B/tools/mkcomposefs/mkcomposefs
FUSE=$B/tools/composefs-fuse/composefs-fuse
MOUNT_CFS=$B/tools/mount.composefs/mount.composefs
FLOOR=$B/bench/cfs-bench-floor

[ "$(id -u)" = 0 ] || { echo "bench/fuse.sh: needs root" >&2; exit 1; }
[ -x "$FLOOR" ] || { echo "bench/fuse.sh: no $FLOOR (build the project)" >&2; exit 1; }
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load average at start: $LOAD0"
. "$HERE/limit.sh"
# share of the SHA-256 limit a verified read of 1 GiB in SECONDS reached (goal >= 0.8)
of_limit() { awk -v s="$1" -v b="$SHA256_BPS" -v c="$LIMIT_CPUS" 'BEGIN { printf "%.2f", 1073741824 / s / (b * c) }'; }
HASH_SECS=$(limit_secs 1073741824)
# share of the cold bound a cold verified read of 1 GiB in SECONDS reached: the bound is the slower
# of the disk (the kernel mount's unverified cold read, COLD_BOUND once measured) and the hashing
of_bound() { awk -v s="$1" -v b="$COLD_BOUND" 'BEGIN { printf "%.2f", b / s }'; }
MOUNTS=()
cleanup() {
	local i
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do
		if mountpoint -q "${MOUNTS[i]}"; then umount "${MOUNTS[i]}" 2>/dev/null || umount -l "${MOUNTS[i]}"; fi
	done
	rm -rf "$D"
	return 0
}
trap cleanup EXIT

drop() { sync; echo 3 >/proc/sys/vm/drop_caches; }
die() { echo "bench/fuse.sh: $*" >&2; exit 1; }
# secs OUT CMD...: wall-clock seconds of CMD, its stdout in OUT. A failed run stops the
# benchmark (a partial run must not be timed as a fast one).
secs() {
	local out=$1 s e rc=0
	shift
	s=$(date +%s.%N)
	"$@" >"$out" 2>"$out.err" || rc=$?
	e=$(date +%s.%N)
	[ "$rc" = 0 ] || { head -c 2000 "$out.err" >&2; die "timed run failed (exit $rc): $*"; }
	awk -v s="$s" -v e="$e" 'BEGIN { printf "%.3f", e - s }'
}
# same WHAT FILE BASELINE: the output of a timed run equals the baseline's
same() {
	cmp -s "$2" "$3" || { diff "$3" "$2" | head -n 20 >&2; die "$1: output differs from the kernel mount's"; }
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }
mibps() { awk -v s="$1" 'BEGIN { if (s > 0) printf "%.0f", 1024 / s; else print "n/a" }'; }

kmount() { # IMAGE DIR: our mount.composefs, else EROFS + overlay by hand
	local img=$1 dir=$2
	mkdir -p "$dir" "$dir.erofs"
	if [ -x "$MOUNT_CFS" ] && "$MOUNT_CFS" -o "basedir=$D/objs" "$img" "$dir" 2>/dev/null; then
		MOUNTS+=("$dir")
		KMETHOD="mount.composefs"
		return
	fi
	mount -t erofs -o ro,loop "$img" "$dir.erofs"
	MOUNTS+=("$dir.erofs")
	mount -t overlay overlay -o "ro,lowerdir=$dir.erofs::$D/objs,redirect_dir=on,metacopy=on" "$dir"
	MOUNTS+=("$dir")
	KMETHOD="mount -t erofs + overlay"
}
kumount() {
	umount "$1"
	if mountpoint -q "$1.erofs"; then umount "$1.erofs"; fi
}
fmount() { # BINARY OPTIONS DIR
	mkdir -p "$3"
	"$1" -o "$2" "$3"
	MOUNTS+=("$3")
}

echo "== preparing images in $D"
[ "$READS_ONLY" = 1 ] || "$MKCFS" --digest-store="$D/objs" "$SRC" "$D/src.cfs"
if [ "$LS_ONLY" != 1 ]; then
	mkdir -p "$D/bigsrc"
	head -c 1G /dev/urandom >"$D/bigsrc/big"
	"$MKCFS" --digest-store="$D/objs" "$D/bigsrc" "$D/big.cfs"
	rm -rf "$D/bigsrc"
fi
nfiles=0
[ "$READS_ONLY" = 1 ] || nfiles=$(find "$SRC" -xdev 2>/dev/null | wc -l)
if [ "$LS_ONLY" != 1 ]; then
	BIGOBJ=$(find "$D/objs" -type f -size 1073741824c)
	[ -n "$BIGOBJ" ] || die "no 1 GiB object in $D/objs"
	BIGDIGEST=$(basename "$(dirname "$BIGOBJ")")$(basename "$BIGOBJ")
fi

# ---- ls -lR -----------------------------------------------------------------
# All mounts stay up; each round times every mount cold (caches dropped just
# before) and then warm, in turn, so load changes hit all of them alike.
# `ls -lR` as users run it (it asks for security.selinux: the kernel mount answers ENODATA for
# every file, composefs-fuse EOPNOTSUPP once, after which ls stops asking, so the two do
# different work), and an equal-work walk: the same lstat fields through find, no xattrs.
lslr() { (cd "$1" && ls -lR .); }
walk() { (cd "$1" && find . -printf '%y %m %n %U %G %s %T@ %l %p\n'); }
median() { tr ' ' '\n' | grep . | sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
declare -A COLD WARM COLD_ALL WARM_ALL WCOLD WWARM
NAMES=(kernel fuse)
LOADS=""
if [ "$READS_ONLY" != 1 ]; then
kmount "$D/src.cfs" "$D/k"
declare -A DIRS=([kernel]="$D/k" [fuse]="$D/f")
fmount "$FUSE" "source=$D/src.cfs,basedir=$D/objs" "$D/f"
if [ -n "$BEFORE" ]; then
	fmount "$BEFORE" "source=$D/src.cfs,basedir=$D/objs" "$D/b"
	NAMES+=(before)
	DIRS[before]="$D/b"
fi
if [ -n "$REF" ]; then
	fmount "$REF" "source=$D/src.cfs,basedir=$D/objs" "$D/r"
	NAMES+=(reference)
	DIRS[reference]="$D/r"
fi
for ((round = 1; round <= ROUNDS; round++)); do
	for n in "${NAMES[@]}"; do
		drop
		t=$(secs "$D/out.$n" lslr "${DIRS[$n]}")
		t2=$(secs "$D/out2.$n" lslr "${DIRS[$n]}")
		drop
		w=$(secs "$D/wout.$n" walk "${DIRS[$n]}")
		w2=$(secs "$D/wout2.$n" walk "${DIRS[$n]}")
		# `total` lines count st_blocks, which the two mounts report differently
		for o in out out2; do grep -v '^total ' "$D/$o.$n" >"$D/$o.$n.cmp" || true; done
		same "ls -lR $n" "$D/out.$n.cmp" "$D/out.kernel.cmp"
		same "ls -lR $n (warm)" "$D/out2.$n.cmp" "$D/out.kernel.cmp"
		same "walk $n" "$D/wout.$n" "$D/wout.kernel"
		same "walk $n (warm)" "$D/wout2.$n" "$D/wout.kernel"
		COLD[$n]="${COLD[$n]:-} $t"
		WARM[$n]="${WARM[$n]:-} $t2"
		WCOLD[$n]="${WCOLD[$n]:-} $w"
		WWARM[$n]="${WWARM[$n]:-} $w2"
		echo "round $round $n: ls -lR cold $t s, warm $t2 s; walk cold $w s, warm $w2 s"
	done
	LOADS="$LOADS $(cut -d' ' -f1 /proc/loadavg)"
done
for n in "${NAMES[@]}"; do
	COLD_ALL[$n]=${COLD[$n]}
	WARM_ALL[$n]=${WARM[$n]}
	COLD[$n]=$(echo "${COLD[$n]}" | median)
	WARM[$n]=$(echo "${WARM[$n]}" | median)
	WCOLD[$n]=$(echo "${WCOLD[$n]}" | median)
	WWARM[$n]=$(echo "${WWARM[$n]}" | median)
done
kumount "$D/k"
umount "$D/f"
[ -z "$BEFORE" ] || umount "$D/b"
[ -z "$REF" ] || umount "$D/r"
fi
if [ "$LS_ONLY" != 1 ]; then
# ---- sequential read of 1 GiB ----------------------------------------------------
# Each figure is the median of ROUNDS cold reads (caches dropped before each).
cat_big() { dd if="$1" of=/dev/null bs=1M status=none; }
cold_median() { # FILE: median of ROUNDS cold reads of FILE
	local ts="" i
	for ((i = 0; i < ROUNDS; i++)); do
		drop
		ts="$ts $(secs "$D/dd.out" cat_big "$1")"
	done
	echo "$ts" | median
}
kmount "$D/big.cfs" "$D/k"
SEQ_K=$(cold_median "$D/k/big")
SEQ_KW=$(secs "$D/dd.out" cat_big "$D/k/big")
cmp -s "$D/k/big" "$BIGOBJ" || die "the kernel mount's big file differs from its object"
# This kernel may lack fs-verity: then the kernel mount reads without any
# check, and the way to verify there is to hash the file in userspace.
SEQ_KV=""
if command -v fsverity >/dev/null; then
	ts=""
	for ((i = 0; i < ROUNDS; i++)); do
		drop
		ts="$ts $(secs "$D/fsv.out" fsverity digest "$D/k/big")"
		[ "$(cut -d' ' -f1 "$D/fsv.out")" = "sha256:$BIGDIGEST" ] || die "fsverity digest printed $(cat "$D/fsv.out"), want $BIGDIGEST"
	done
	SEQ_KV=$(echo "$ts" | median)
fi
kumount "$D/k"
echo "sequential 1 GiB kernel: cold $SEQ_K s, warm $SEQ_KW s; with \`fsverity digest\` instead of a read: ${SEQ_KV:-n/a} s"
# The disk's own limit: no cold read, verified or not, beats the kernel mount's unverified one.
COLD_BOUND=$(awk -v d="$SEQ_K" -v h="$HASH_SECS" 'BEGIN { printf "%.3f", (d > h) ? d : h }')
echo "disk limit (the kernel mount's unverified cold read): $SEQ_K s = $(mibps "$SEQ_K") MiB/s; hash limit: $HASH_SECS s; a cold verified read takes at least max(disk, hash) = $COLD_BOUND s"

fmount "$FUSE" "source=$D/big.cfs,basedir=$D/objs,verity=off" "$D/f"
SEQ_OFF=$(cold_median "$D/f/big")
umount "$D/f"
echo "sequential 1 GiB fuse verity=off: cold $SEQ_OFF s"

# verified, first open: the Merkle tree is built from the object first (a new
# mount without verity_cache each time)
ts=""
for ((i = 0; i < ROUNDS; i++)); do
	fmount "$FUSE" "source=$D/big.cfs,basedir=$D/objs" "$D/f"
	drop
	ts="$ts $(secs "$D/dd.out" cat_big "$D/f/big")"
	[ "$i" -gt 0 ] || SEQ_ONW=$(secs "$D/dd.out" cat_big "$D/f/big")
	umount "$D/f"
done
SEQ_ON=$(echo "$ts" | median)
echo "sequential 1 GiB fuse verified (tree built on open): cold $SEQ_ON s, warm $SEQ_ONW s"
# the same with the object already in the page cache (the daemon's work alone), with prefill
# (the bytes the build hashed stored in the page cache) and without it, the default (every block
# hashed twice: by the build, then by the read)
tsp="" ts0="" ts0p=""
for ((i = 0; i < ROUNDS; i++)); do
	for pm in 1024 0; do
		o="source=$D/big.cfs,basedir=$D/objs,prefill_mem=$pm"
		fmount "$FUSE" "$o" "$D/f"
		drop
		cat "$BIGOBJ" >/dev/null
		t=$(secs "$D/dd.out" cat_big "$D/f/big")
		umount "$D/f"
		if [ "$pm" != 0 ]; then tsp="$tsp $t"; else
			fmount "$FUSE" "$o" "$D/f"
			drop
			ts0="$ts0 $(secs "$D/dd.out" cat_big "$D/f/big")"
			umount "$D/f"
			ts0p="$ts0p $t"
		fi
	done
done
SEQ_ONP=$(echo "$tsp" | median)
SEQ_ON0=$(echo "$ts0" | median)
SEQ_ON0P=$(echo "$ts0p" | median)
echo "tree built on open, object in the page cache: prefill_mem=1024 $SEQ_ONP s; prefill_mem=0 (the default): cold $SEQ_ON0 s, object in the page cache $SEQ_ON0P s"

# verified, tree from verity_cache (a later mount): only the read itself is hashed
rm -rf "$D/vcache"
fmount "$FUSE" "source=$D/big.cfs,basedir=$D/objs,verity_cache=$D/vcache" "$D/f"
head -c1 "$D/f/big" >/dev/null # builds and saves the tree
umount "$D/f"
fmount "$FUSE" "source=$D/big.cfs,basedir=$D/objs,verity_cache=$D/vcache" "$D/f"
SEQ_CACHED=$(cold_median "$D/f/big")
cmp -s "$D/f/big" "$BIGOBJ" || die "composefs-fuse returned other bytes than the object's"
echo "sequential 1 GiB fuse verified (tree from verity_cache): cold $SEQ_CACHED s"
# the same with the object in the page cache (the mount's own pages dropped): the daemon's own
# work with the tree known, one hash pass plus the copies
ts=""
for ((i = 0; i < ROUNDS; i++)); do
	drop
	cat "$BIGOBJ" >/dev/null
	ts="$ts $(secs "$D/dd.out" cat_big "$D/f/big")"
done
SEQ_CACHEDP=$(echo "$ts" | median)
echo "sequential 1 GiB fuse verified (tree from verity_cache), object in the page cache: $SEQ_CACHEDP s"
# The ceiling of that run on this machine: a verified FUSE read of a byte in the page cache costs
# one hash and three copies (the daemon's read of the object, its reply into the mount's page
# cache, the reader's read out of it). One copy's CPU time is measured as cfs-bench-floor's read of
# the cached object; whatever FUSE itself costs comes on top.
cs=""
for ((i = 0; i < ROUNDS; i++)); do
	cat "$BIGOBJ" >/dev/null
	"$FLOOR" read "$BIGOBJ" >"$D/floor.out"
	cs="$cs $(awk '{ print $6 }' "$D/floor.out")"
done
COPY_CPU=$(echo "$cs" | median)
CEIL_SECS=$(awk -v c="$COPY_CPU" -v h="$HASH_SECS" -v k="$LIMIT_CPUS" 'BEGIN { printf "%.3f", (h * k + 3 * c) / k }')
echo "ceiling, object in the page cache: one copy of 1 GiB takes $COPY_CPU CPU-s, so one hash and three copies on $LIMIT_CPUS CPUs need at least $CEIL_SECS s = $(of_limit "$CEIL_SECS") of the limit; the verity_cache run reached $(awk -v c="$CEIL_SECS" -v s="$SEQ_CACHEDP" 'BEGIN { printf "%.2f", c / s }') of that ceiling"
echo "verified reads as a share of the SHA-256 limit (goal >= 0.8): tree built at open cold $(of_limit "$SEQ_ON"), object in the page cache $(of_limit "$SEQ_ON0P") (prefill_mem=1024: $(of_limit "$SEQ_ONP")), warm $(of_limit "$SEQ_ONW"); tree from verity_cache cold $(of_limit "$SEQ_CACHED"), object in the page cache $(of_limit "$SEQ_CACHEDP")"
echo "cold verified reads as a share of max(disk, hash) = $COLD_BOUND s (1.0: as fast as the slower of the two): tree built at open $(of_bound "$SEQ_ON"), tree from verity_cache $(of_bound "$SEQ_CACHED")"

# ---- random 4 KiB reads, verified ----------------------------------------------------
NRAND=20000
randread() {
	python3 - "$1" "$NRAND" <<'EOF'
import os, random, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
size = os.fstat(fd).st_size
os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_RANDOM)
rng = random.Random(1234)
import hashlib
h = hashlib.sha256()
for _ in range(int(sys.argv[2])):
    b = os.pread(fd, 4096, rng.randrange(size // 4096) * 4096)
    assert len(b) == 4096, "short read"
    h.update(b)
print(h.hexdigest())
EOF
}
drop
head -c1 "$D/f/big" >/dev/null # tree loaded, not timed
RAND_F=$(secs "$D/rand.f" randread "$D/f/big")
umount "$D/f"
kmount "$D/big.cfs" "$D/k"
drop
RAND_K=$(secs "$D/rand.k" randread "$D/k/big")
same "random reads" "$D/rand.f" "$D/rand.k"
kumount "$D/k"
echo "random 4 KiB reads x$NRAND: kernel $RAND_K s, fuse verified $RAND_F s"
fi

# ---- summary ------------------------------------------------------------------------------
echo
if [ "$READS_ONLY" != 1 ]; then
r_cold=$(ratio "${COLD[fuse]}" "${COLD[kernel]}")
r_warm=$(ratio "${WARM[fuse]}" "${WARM[kernel]}")
echo "ls -lR cold: fuse/kernel time ${r_cold}x (target <= 1.5)"
echo "ls -lR warm: fuse/kernel time ${r_warm}x (ls -lR as users run it: unequal xattr work, see above)"
w_cold=$(ratio "${WCOLD[fuse]}" "${WCOLD[kernel]}")
w_warm=$(ratio "${WWARM[fuse]}" "${WWARM[kernel]}")
echo "equal-work walk (find -printf, lstat only) cold: fuse/kernel time ${w_cold}x, warm ${w_warm}x"
fi
if [ "$LS_ONLY" != 1 ]; then
	r_seq=$(ratio "$SEQ_K" "$SEQ_CACHED")
	r_seq_build=$(ratio "$SEQ_K" "$SEQ_ON")
	r_seq_off=$(ratio "$SEQ_K" "$SEQ_OFF")
	r_rand=$(ratio "$RAND_F" "$RAND_K")
	echo "sequential verified (tree cached): $(mibps "$SEQ_CACHED") MiB/s = ${r_seq} of kernel $(mibps "$SEQ_K") MiB/s (target >= 0.70)"
	echo "sequential verified (tree built on open): ${r_seq_build} of kernel; verity=off: ${r_seq_off} of kernel"
	[ -z "$SEQ_KV" ] || echo "sequential verified vs kernel mount + fsverity digest: $(ratio "$SEQ_KV" "$SEQ_ON") of its throughput cold (tree built at open); $(ratio "$SEQ_KV" "$SEQ_CACHED") with the tree from verity_cache"
	echo "random 4 KiB verified: fuse/kernel time ${r_rand}x"
fi

{
	echo
	echo "## composefs-fuse ($(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -r), $(nproc) CPUs)"
	echo
	echo "Command: \`CFS_BUILDDIR=$B BENCH_SRC=$SRC${REF:+ REF_COMPOSEFS_FUSE=$REF}${BEFORE:+ FUSE_BEFORE=$BEFORE} ROUNDS=$ROUNDS LS_ONLY=$LS_ONLY READS_ONLY=$READS_ONLY bench/fuse.sh\`."
	[ "$READS_ONLY" = 1 ] || echo "Tree: $SRC ($nfiles entries) imaged with \`mkcomposefs --digest-store\`; kernel mount: $KMETHOD."
	echo "Cold = after \`echo 3 > /proc/sys/vm/drop_caches\`; times are wall-clock seconds."
	echo "Load average at start: $LOAD0; at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
	[ "$READS_ONLY" = 1 ] || echo "\`ls -lR\`: medians of $ROUNDS interleaved rounds (all mounts up at once; load average after each round:$LOADS)."
	[ "$READS_ONLY" = 1 ] || echo "\`ls -lR\` is the command as users run it: it calls getxattr(security.selinux) per file on the kernel mount (ENODATA) but stops after composefs-fuse's first EOPNOTSUPP, so the two do unequal work. The equal-work walk is \`find . -printf '%y %m %n %U %G %s %T@ %l %p\\n'\` (lstat only, no xattrs) on both."
	echo "Every timed run exited 0 and its output equalled the kernel mount's (\`ls -lR\` without its \`total\` lines; walk; random-read checksums; \`fsverity digest\` equal to the object's name); the scratch directory was new."
	echo
	[ "$READS_ONLY" = 1 ] || for n in "${NAMES[@]}"; do
		echo "- $n: cold${COLD_ALL[$n]}; warm${WARM_ALL[$n]}"
	done
	echo
	echo "| run | kernel | composefs-fuse | ratio |${BEFORE:+ before | before ratio |}${REF:+ reference fuse |}"
	echo "|---|---|---|---|${BEFORE:+---|---|}${REF:+---|}"
	[ "$READS_ONLY" = 1 ] || echo "| \`ls -lR\` cold | ${COLD[kernel]} | ${COLD[fuse]} | ${r_cold}x |${BEFORE:+ ${COLD[before]:-} | $(ratio "${COLD[before]:-0}" "${COLD[kernel]}")x |}${REF:+ ${COLD[reference]:-} |}"
	[ "$READS_ONLY" = 1 ] || echo "| \`ls -lR\` warm | ${WARM[kernel]} | ${WARM[fuse]} | ${r_warm}x |${BEFORE:+ ${WARM[before]:-} | $(ratio "${WARM[before]:-0}" "${WARM[kernel]}")x |}${REF:+ ${WARM[reference]:-} |}"
	[ "$READS_ONLY" = 1 ] || echo "| equal-work walk cold | ${WCOLD[kernel]} | ${WCOLD[fuse]} | ${w_cold}x |${BEFORE:+ ${WCOLD[before]:-} | $(ratio "${WCOLD[before]:-0}" "${WCOLD[kernel]}")x |}${REF:+ ${WCOLD[reference]:-} |}"
	[ "$READS_ONLY" = 1 ] || echo "| equal-work walk warm | ${WWARM[kernel]} | ${WWARM[fuse]} | ${w_warm}x |${BEFORE:+ ${WWARM[before]:-} | $(ratio "${WWARM[before]:-0}" "${WWARM[kernel]}")x |}${REF:+ ${WWARM[reference]:-} |}"
	if [ "$LS_ONLY" != 1 ]; then
		x="${BEFORE:+ | |}${REF:+ |}"
		echo "| 1 GiB sequential, verified, tree from verity_cache (cold, median of $ROUNDS) | $SEQ_K | $SEQ_CACHED | ${r_seq} of kernel throughput |$x"
		echo "| verified reads as a share of the SHA-256 limit ($LIMIT_LINE; goal >= 0.8) | | built at open: cold $(of_limit "$SEQ_ON"), warm $(of_limit "$SEQ_ONW"); from verity_cache: cold $(of_limit "$SEQ_CACHED"), object in the page cache $(of_limit "$SEQ_CACHEDP") | |$x"
		echo "| disk limit: the kernel mount's unverified cold read of the same file | $SEQ_K ($(mibps "$SEQ_K") MiB/s) | | |$x"
		echo "| cold verified reads as a share of max(disk, hash) = max($SEQ_K, $HASH_SECS) s (1.0: as fast as the slower of the two) | | built at open: $(of_bound "$SEQ_ON"); from verity_cache: $(of_bound "$SEQ_CACHED") | |$x"
		echo "| 1 GiB sequential, verified, tree from verity_cache, object in the page cache (the daemon's own work) | | $SEQ_CACHEDP | $(of_limit "$SEQ_CACHEDP") of the limit |$x"
		echo "| ceiling of that run: one hash and three copies (one copy of 1 GiB: $COPY_CPU CPU-s, \`cfs-bench-floor read\`) on $LIMIT_CPUS CPUs, FUSE itself free | | $CEIL_SECS | $(of_limit "$CEIL_SECS") of the limit; the run reached $(awk -v c="$CEIL_SECS" -v s="$SEQ_CACHEDP" 'BEGIN { printf "%.2f", c / s }') of this ceiling |$x"
		echo "| 1 GiB sequential, verified, tree built at open (cold) | $SEQ_K | $SEQ_ON | ${r_seq_build} |$x"
		echo "| same, object in the page cache (the daemon's own work), \`prefill_mem=1024\` | | $SEQ_ONP | $(of_limit "$SEQ_ONP") of the limit |$x"
		echo "| same with \`prefill_mem=0\` (the default; each block hashed twice): cold / object in the page cache | | $SEQ_ON0 / $SEQ_ON0P | $(of_limit "$SEQ_ON0") / $(of_limit "$SEQ_ON0P") of the limit |$x"
		echo "| 1 GiB sequential, verified, warm page cache | $SEQ_KW | $SEQ_ONW | $(ratio "$SEQ_KW" "$SEQ_ONW") |$x"
		echo "| 1 GiB sequential, verity=off (cold) | $SEQ_K | $SEQ_OFF | ${r_seq_off} |$x"
		[ -z "$SEQ_KV" ] || echo "| 1 GiB verified in userspace on the kernel mount (\`fsverity digest\`, cold) vs verified FUSE read, tree built at open (cold; headline) | $SEQ_KV | $SEQ_ON | $(ratio "$SEQ_KV" "$SEQ_ON") of its throughput |$x"
		[ -z "$SEQ_KV" ] || echo "| same, FUSE tree from a verity_cache filled by an earlier untimed mount | $SEQ_KV | $SEQ_CACHED | $(ratio "$SEQ_KV" "$SEQ_CACHED") of its throughput |$x"
		echo "| $NRAND random 4 KiB reads, verified (cold) | $RAND_K | $RAND_F | ${r_rand}x time |$x"
	fi
} >>"$RESULTS"
echo "results appended to $RESULTS"
