#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Boot time: kernel start to the new root's init, composefs root (composefs-setup-root, signature
# and fs-verity required) against the same tree as a plain ext4 root, same kernel, initramfs and VM.
#
# Environment: CFS_BUILDDIR (required), BENCH_BOOTS (boots of each kind, default 11), and the
# CFS_VM_* variables of tests/vm/test-vm.sh. Boots alternate between the two kinds so that load
# from elsewhere hits both alike. Prints a markdown table for bench/RESULTS.md: per phase the
# median and the interquartile range (IQR, the middle half of the boots) of each kind.
#
# The kernel phase (start to the initramfs's /init) is the same kernel and initramfs for both
# kinds, so any difference there is noise. The part composefs changes is the initramfs's /init
# to the new root's init; its overhead is taken as the median of the per-pair differences
# (boot i of the one kind against boot i of the other, which ran next to it) and related to the
# plain boot's median end to end. The initramfs's /init stamps each step (CFS-T lines).
#
# On a busy host, BOOT_QEMU_ARGS="-icount shift=0" makes the guest's clock count instructions
# (1 ns each) while it runs, so CPU-bound phases no longer stretch with the host's load (the
# kernel phase then varies by about 0.01 s instead of seconds); waits for I/O still follow the
# host's clock. Its seconds are not wall-clock seconds: compare runs made the same way.
set -eu -o pipefail

B=${CFS_BUILDDIR:?CFS_BUILDDIR must point at the build directory}
HERE=$(cd "$(dirname "$0")/../tests/vm" && pwd)
N=${BENCH_BOOTS:-11}
[[ $N =~ ^[1-9][0-9]*$ ]] || { echo "BENCH_BOOTS=$N: expected a positive number" >&2; exit 2; }
# shellcheck source=../tests/vm/vm-lib.sh
. "$HERE/vm-lib.sh"
# shellcheck source=../tests/vm/boot-lib.sh
. "$HERE/boot-lib.sh"

vm_check_host "${BOOT_TOOLS[@]}"
vm_kernel
vm_workdir cfs-bench-boot
boot_build_all
boot_run prepare cfs_mode=prepare
grep -q '^CFS-RESULT objects-verity ok' "$W/prepare.txt" || fail "could not enable fs-verity on the objects"

stamp() { # FILE WHAT: the time of that step of the boot (CFS-T, or the new root's CFS-INIT-UPTIME)
	local v
	if [ "$2" = new-init ]; then
		v=$(sed -n 's/^CFS-INIT-UPTIME \([0-9.]*\) .*/\1/p' "$1" | head -n 1)
	else
		v=$(sed -n "s/^CFS-T $2 \([0-9.]*\)\$/\1/p" "$1" | head -n 1)
	fi
	[ -n "$v" ] || fail "no time for \"$2\" in $1"
	echo "$v"
}
# one line per boot: kernel-to-/init, /init-to-real-root, real-root-to-new-init, /init-to-new-init, total
phases() { # FILE MODULES: with MODULES=1 the real root counts once the modules are in too
	local f=$1 i v r n
	i=$(stamp "$f" init)
	v=$(stamp "$f" root-mounted)
	[ "$2" = 1 ] && v=$(stamp "$f" modules)
	r=$v
	n=$(stamp "$f" new-init)
	awk -v i="$i" -v r="$r" -v n="$n" 'BEGIN { printf "%.3f %.3f %.3f %.3f %.3f\n", i, r - i, n - r, n - i, n }'
}
# "median [q1-q3]" of column COL of FILE (quartiles by linear interpolation)
stats() {
	awk -v c="$2" '{ print $c }' "$1" | sort -g | awk '
		function q(p,  h, l) { h = (NR - 1) * p + 1; l = int(h); return v[l] + (h - l) * (v[l + 1 < NR ? l + 1 : NR] - v[l]) }
		{ v[NR] = $1 }
		END { printf "%.3f [%.3f-%.3f]", q(0.5), q(0.25), q(0.75) }'
}
median() { stats "$1" "$2" | cut -d' ' -f1; }

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$W/cfs.ph"; : >"$W/plain.ph"; : >"$W/setup.ph"
for i in $(seq 1 "$N"); do
	boot_run "cfs-$i" cfs_mode=bench cfs_config=signed composefs="$IMG_S"
	grep -q '^composefs-setup-root: /sysroot is image' "$W/cfs-$i.txt" || fail "composefs boot $i did not hand over"
	phases "$W/cfs-$i.txt" 1 >>"$W/cfs.ph"
	awk -v s="$(stamp "$W/cfs-$i.txt" setup-root)" -v n="$(stamp "$W/cfs-$i.txt" new-init)" \
		-v m="$(stamp "$W/cfs-$i.txt" modules)" -v r="$(stamp "$W/cfs-$i.txt" root-mounted)" \
		'BEGIN { printf "%.3f %.3f\n", n - s, m - r }' >>"$W/setup.ph"
	boot_run "plain-$i" cfs_mode=plain
	phases "$W/plain-$i.txt" 0 >>"$W/plain.ph"
	echo "boot $i: composefs init at $(stamp "$W/cfs-$i.txt" new-init) s, plain init at $(stamp "$W/plain-$i.txt" new-init) s"
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
paste "$W/cfs.ph" "$W/plain.ph" | awk '{ print $4 - $9, $5 - $10 }' >"$W/diff.ph"

row() { # LABEL COLUMN
	local c p
	c=$(median "$W/cfs.ph" "$2"); p=$(median "$W/plain.ph" "$2")
	echo "| $1 | $(stats "$W/cfs.ph" "$2") | $(stats "$W/plain.ph" "$2") | $(awk -v c="$c" -v p="$p" 'BEGIN { printf "%+.3f", c - p }') |"
}
pt=$(median "$W/plain.ph" 5)
dx=$(median "$W/diff.ph" 1)
echo
echo "## bench/boot.sh — $(date -u '+%Y-%m-%d %H:%M UTC'), guest kernel $KVER under qemu TCG (1 vCPU), host $(nproc) CPUs"
echo
echo "Command: \`CFS_BUILDDIR=... BENCH_BOOTS=$N bench/boot.sh\`; $N boots of each kind, alternating;"
echo "load average $load_before before, $load_after after. Times in seconds from the guest's /proc/uptime (kernel start = 0)."
echo
echo "| phase: median [IQR] (s) | composefs root | plain ext4 root | difference of medians |"
echo "|---|---|---|---|"
row "kernel start to initramfs /init (same for both: noise)" 1
row "/init to the real root mounted (composefs: and erofs, overlay loaded)" 2
row "then to the new root's init (composefs-setup-root / switch_root)" 3
row "**/init to the new root's init**" 4
row "kernel start to the new root's init" 5
echo
echo "- composefs-specific part (/init to new init), median of the $N per-pair differences: **$(stats "$W/diff.ph" 1 | cut -d' ' -f1) s**, IQR $(stats "$W/diff.ph" 1 | cut -d' ' -f2)"
echo "- relative to the plain boot's median end to end ($pt s): **$(awk -v d="$dx" -v p="$pt" 'BEGIN { printf "%+.1f %%", d * 100 / p }')** (goal: under 5 %)"
echo "- end to end, median of per-pair differences: $(stats "$W/diff.ph" 2) s (includes the kernel phase's noise)"
echo "- composefs-setup-root start to the new init: $(stats "$W/setup.ph" 1) s; waiting for the modules after the real root was mounted: $(stats "$W/setup.ph" 2) s"
echo
echo "Per boot, /init to the new init (s): composefs $(awk '{ printf "%s ", $4 }' "$W/cfs.ph")| plain $(awk '{ printf "%s ", $4 }' "$W/plain.ph")"
echo "Per boot, end to end (s): composefs $(awk '{ printf "%s ", $5 }' "$W/cfs.ph")| plain $(awk '{ printf "%s ", $5 }' "$W/plain.ph")"
