#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Benchmark mkcomposefs (with and without --digest-store) against mkfs.erofs and,
# if REF_MKCOMPOSEFS is set, a reference mkcomposefs. Not a test: prints and records numbers.
#
# Usage: bench/mkcomposefs.sh [SOURCE_DIR]          (default /usr)
# Environment:
#   N=3                 runs per variant (median reported); variants are interleaved
#   MKCOMPOSEFS=PATH    our binary (default: build/tools/mkcomposefs/mkcomposefs)
#   REF_MKCOMPOSEFS=PATH  reference mkcomposefs to compare with (optional)
#   REF_VERSION=STRING  its version, recorded with the results (its binary has no --version;
#                       e.g. "v1.0.8 (858ce1b)"); required with REF_MKCOMPOSEFS
# The reference uses one thread per CPU by default (get_nprocs()), as ours does; neither run
# is given --threads, and the thread count each uses is recorded.
# Every run must exit 0, and every run of a variant must write the same image as that
# variant's first run (ours and ours-store, ref and ref-store alike), or nothing is recorded.
#   BENCH_TMP=DIR       where images and stores go (default /var/tmp); needs room for
#                       2N+1 copies of SOURCE_DIR (every store run keeps its store to the end)
#   RESULTS=FILE        results appended here (default bench/RESULTS.md next to this script)
#   SKIP_EROFS=1        leave out mkfs.erofs
#   BENCH_QUICK=1       one round, no mkfs.erofs (for a re-run in a few minutes; give a smaller
#                       SOURCE_DIR such as /usr/lib or /usr/share too)
# The *-digest variants run --print-digest-only (no image written): they are bound by SHA-256
# of the file contents, and are printed as a multiple of the machine's limit (bench/limit.sh:
# `openssl speed -evp sha256 -bytes 4096` per core times the usable CPUs).
# Two floors are measured in the same rounds, so a goal can be checked against what the machine
# allows at all:
#   floor-read   build/bench/cfs-bench-floor: the kernel work any read()-based builder needs
#                (stat, xattr list, open, every byte copied out of the page cache), no hashing;
#                its CPU time plus the hashing, spread over the CPUs, is the digest-only floor
#   floor-disk   dd of as many bytes as the content with direct I/O (oflag=direct, 1 MiB
#                writes, conv=fsync): the device's durable write time without the copy into
#                the page cache, the floor of a store that makes its objects durable
#   FLOOR=PATH   cfs-bench-floor (default: build/bench/cfs-bench-floor)
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
src=${1:-/usr}
if [ "${BENCH_QUICK:-0}" = 1 ]; then N=${N:-1}; SKIP_EROFS=1; fi
N=${N:-3}
ours=${MKCOMPOSEFS:-$here/../build/tools/mkcomposefs/mkcomposefs}
floor=${FLOOR:-$here/../build/bench/cfs-bench-floor}
ref=${REF_MKCOMPOSEFS:-}
results=${RESULTS:-$here/RESULTS.md}
cmdline="N=$N${REF_MKCOMPOSEFS:+ REF_MKCOMPOSEFS=$REF_MKCOMPOSEFS}${MKCOMPOSEFS:+ MKCOMPOSEFS=$MKCOMPOSEFS} bench/mkcomposefs.sh $src"

[ -x "$ours" ] || { echo "no mkcomposefs at $ours (set MKCOMPOSEFS)"; exit 2; }
[ -x "$floor" ] || { echo "no cfs-bench-floor at $floor (build the project, or set FLOOR)"; exit 2; }
[ -z "$ref" ] || [ -n "${REF_VERSION:-}" ] || { echo "set REF_VERSION to the reference's version (git describe)"; exit 2; }
load0=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load average at start: $load0"
. "$here/limit.sh"
[ -x /usr/bin/time ] || { echo "needs /usr/bin/time (package time)"; exit 2; }
[ -d "$src" ] || { echo "$src is not a directory"; exit 2; }

work=$(mktemp -d "${BENCH_TMP:-/var/tmp}/cfs-bench.XXXXXX")
trap 'rm -rf "$work"' EXIT

variants=(ours-digest ours ours-store floor-read floor-disk)
[ -n "$ref" ] && variants+=(ref-digest ref ref-store)
[ "${SKIP_EROFS:-0}" = 1 ] || ! command -v mkfs.erofs >/dev/null || variants+=(mkfs.erofs)

command_for() {
	case $1 in
	ours-digest) echo "$ours --print-digest-only $src" ;;
	ref-digest) echo "$ref --print-digest-only $src" ;;
	ours) echo "$ours $src $work/img" ;;
	ours-store) echo "$ours --digest-store=$work/store.$runs $src $work/img" ;;
	ref) echo "$ref $src $work/img" ;;
	ref-store) echo "$ref --digest-store=$work/store.$runs $src $work/img" ;;
	mkfs.erofs) echo "mkfs.erofs --quiet $work/img $src" ;;
	floor-read) echo "$floor tree $src" ;;
	floor-disk) echo "dd if=/dev/zero of=$work/dd.$runs bs=1M count=$((fbytes / 1048576)) oflag=direct conv=fsync status=none" ;;
	esac
}

# run VARIANT -> appends "seconds kbytes" to $work/VARIANT.txt
run() {
	local v=$1 cmd
	runs=$((runs + 1))
	cmd=$(command_for "$v")
	# Every store run writes into a new directory and no store is deleted before the end:
	# deleting one makes the file system (ext4 with online discard, and its inode
	# allocator) slower for whichever run comes next, and runs that sync (ours) wait for
	# that work while runs that do not (the reference) leave it to the next one.
	rm -rf "$work/img"
	sync
	# shellcheck disable=SC2086
	/usr/bin/time -v -o "$work/time.txt" $cmd > "$work/stdout" || { echo "$v failed: $cmd" >&2; exit 1; }
	if [ "$v" = floor-read ]; then
		# it must have read what the builders hash
		grep -q " bytes $fbytes " "$work/stdout" || { echo "$v read other than $fbytes bytes: $(cat "$work/stdout")" >&2; exit 1; }
	elif [ "${v%-digest}" != "$v" ]; then
		# the digest must be the same every time
		local d key=${v%-digest}
		d=$(cat "$work/stdout")
		[ -n "${digest_of[$key]:-}" ] || digest_of[$key]=$d
		[ "${digest_of[$key]}" = "$d" ] || { echo "$v printed $d, earlier runs ${digest_of[$key]}" >&2; exit 1; }
	elif [ "$v" != mkfs.erofs ] && [ "$v" != floor-disk ]; then
		# the image must be the same every time (and with or without a store)
		local h key=${v%-store}
		h=$(sha256sum < "$work/img" | cut -d' ' -f1)
		[ -n "${image_sha[$key]:-}" ] || image_sha[$key]=$h
		[ "${image_sha[$key]}" = "$h" ] || { echo "$v wrote image $h, earlier runs ${image_sha[$key]}" >&2; exit 1; }
	fi
	awk -F': ' '
		/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0
			for (i = 1; i <= n; i++) s = s * 60 + p[i]; wall = s }
		/Maximum resident set size/ { rss = $2 }
		/User time \(seconds\)|System time \(seconds\)/ { cpu += $2 }
		END { printf "%.3f %d %.3f\n", wall, rss, cpu }' "$work/time.txt" >> "$work/$v.txt"
	echo "  $v: $(tail -n 1 "$work/$v.txt" | awk '{ printf "%.2f s, %.1f MiB", $1, $2 / 1024 }')"
}

declare -A image_sha digest_of
runs=0
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

files=$(find "$src" -xdev 2>/dev/null | wc -l)
bytes=$(du -sxb "$src" 2>/dev/null | cut -f1)
# what gets hashed: each regular file's content once (hard links once)
fbytes=$(find "$src" -xdev -type f -printf '%D:%i %s\n' 2>/dev/null | sort -u | awk '{ s += $2 } END { printf "%.0f", s }')
echo "regular-file content: $fbytes bytes; hashing it on every CPU takes at least $(limit_secs "$fbytes") s"
echo "source $src: $files entries, $((bytes / 1048576)) MiB; $N runs of: ${variants[*]}"
echo "warm-up (not counted): reading the tree once"
"$ours" "$src" "$work/img" > /dev/null
for i in $(seq 1 "$N"); do
	echo "round $i/$N"
	# rotate the order each round so no variant always runs first
	for j in "${!variants[@]}"; do
		run "${variants[$(((i + j) % ${#variants[@]}))]}"
	done
done
rm -rf "$work/img" "$work"/store.* "$work"/dd.*

declare -A wall rss cpu
for v in "${variants[@]}"; do
	wall[$v]=$(cut -d' ' -f1 "$work/$v.txt" | median)
	rss[$v]=$(cut -d' ' -f2 "$work/$v.txt" | median)
	cpu[$v]=$(cut -d' ' -f3 "$work/$v.txt" | median)
done
# the digest-only floor: the floor-read CPU time and the hashing, on every CPU
digest_floor=$(awk -v c="${cpu[floor-read]}" -v n="$fbytes" -v b="$SHA256_BPS" -v k="$LIMIT_CPUS" 'BEGIN { printf "%.3f", (c + n / b) / k }')
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "n/a" }'; }

{
	echo
	echo "## mkcomposefs, $(date -u '+%Y-%m-%d %H:%M UTC')"
	echo
	echo "Command: \`$cmdline\`  "
	echo "Load average at start: $load0; at end: $(cut -d' ' -f1-3 /proc/loadavg)  "
	echo "Limit: $LIMIT_LINE; the $fbytes bytes of regular-file content need $(limit_secs "$fbytes") s.  "
	echo "Threads: ours and the reference both default to one per CPU ($(nproc)); no --threads given.${ref:+ Reference: ${REF_VERSION:-}.}  "
	echo "Checked: every run exited 0; every run of a variant wrote the same image (ours ${image_sha[ours]:0:12}…${ref:+, reference ${image_sha[ref]:0:12}…})${ref:+; ours and the reference are $( [ "${image_sha[ours]}" = "${image_sha[ref]}" ] && echo byte-identical || echo "not byte-identical")}.  "
	echo "Host: $(nproc) CPUs, $(uname -r), $(awk '/MemTotal/ { printf "%d GiB RAM", $2 / 1048576 }' /proc/meminfo); \
source $src: $files entries, $((bytes / 1048576)) MiB; work dir on $(df --output=fstype "$work" | tail -n 1)"
	echo
	echo "| variant | median wall (s) | median peak RSS (MiB) | command |"
	echo "|---|---|---|---|"
	for v in "${variants[@]}"; do
		printf '| %s | %.2f | %.1f | `%s` |\n' "$v" "${wall[$v]}" "$(awk -v k="${rss[$v]}" 'BEGIN { print k / 1024 }')" \
			"$(command_for "$v" | sed "s|$work|\$TMP|g")"
	done
	echo
	echo "- digest only: ours $(times_limit "${wall[ours-digest]}" "$fbytes")x the SHA-256 limit (target <= 1.3)${ref:+, the reference $(times_limit "${wall[ref-digest]}" "$fbytes")x}"
	echo "- digest-only floor of any read()-based builder here: the kernel work of floor-read (${cpu[floor-read]} CPU-s) plus the hashing, on $LIMIT_CPUS CPUs: $digest_floor s = $(times_limit "$digest_floor" "$fbytes")x the limit; ours is $(ratio "${wall[ours-digest]}" "$digest_floor")x that floor"
	if [ -n "$ref" ]; then
		echo "- wall ours / ref, digest only: $(ratio "${wall[ours-digest]}" "${wall[ref-digest]}")"
		echo "- wall ours / ref: $(ratio "${wall[ours]}" "${wall[ref]}"); with store: $(ratio "${wall[ours-store]}" "${wall[ref-store]}") (target with store <= 0.25)"
		echo "- durable-store floor: writing the content once, direct I/O and fsync (floor-disk), takes ${wall[floor-disk]} s = $(ratio "${wall[floor-disk]}" "${wall[ref-store]}")x the reference's store time (which does not sync); ours-store is $(ratio "${wall[ours-store]}" "${wall[floor-disk]}")x that floor"
		echo "- peak RSS ours / ref: $(ratio "${rss[ours]}" "${rss[ref]}"); with store: $(ratio "${rss[ours-store]}" "${rss[ref-store]}") (target <= 1.00)"
	fi
	if [ -n "${wall[mkfs.erofs]:-}" ]; then
		echo "- wall ours-store / mkfs.erofs: $(ratio "${wall[ours-store]}" "${wall[mkfs.erofs]}")"
	fi
} | tee -a "$results"
