#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Boot time: kernel start to the new root's init, composefs root (composefs-setup-root, signature
# and fs-verity required) against the same tree as a plain ext4 root, same kernel, initramfs and VM.
#
# Environment: CFS_BUILDDIR (required), BENCH_BOOTS (boots of each kind, default 7), and the
# CFS_VM_* variables of tests/vm/test-vm.sh. Boots alternate between the two kinds so that load
# from elsewhere hits both alike. Prints a markdown table for bench/RESULTS.md.
set -eu -o pipefail

B=${CFS_BUILDDIR:?CFS_BUILDDIR must point at the build directory}
HERE=$(cd "$(dirname "$0")/../tests/vm" && pwd)
N=${BENCH_BOOTS:-7}
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

field() { # FILE PATTERN: the number after PATTERN on the first line that has it
	sed -n "s/.*$2 \([0-9.]*\).*/\1/p" "$1" | head -n 1
}
median() {
	sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.2f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
: >"$W/cfs.init"; : >"$W/plain.init"; : >"$W/cfs.initrd"; : >"$W/plain.initrd"; : >"$W/cfs.setup"
for i in $(seq 1 "$N"); do
	boot_run "cfs-$i" cfs_mode=bench cfs_config=signed composefs="$IMG_S"
	grep -q '^composefs-setup-root: /sysroot is image' "$W/cfs-$i.txt" || fail "composefs boot $i did not hand over"
	field "$W/cfs-$i.txt" CFS-INIT-UPTIME >>"$W/cfs.init"
	field "$W/cfs-$i.txt" 'mode bench at' >>"$W/cfs.initrd"
	field "$W/cfs-$i.txt" 'CFS-SETUP-ROOT begin' >>"$W/cfs.setup"
	boot_run "plain-$i" cfs_mode=plain
	field "$W/plain-$i.txt" CFS-INIT-UPTIME >>"$W/plain.init"
	field "$W/plain-$i.txt" 'mode plain at' >>"$W/plain.initrd"
	echo "boot $i: composefs init at $(tail -n 1 "$W/cfs.init") s, plain init at $(tail -n 1 "$W/plain.init") s"
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

ci=$(median <"$W/cfs.init"); pi=$(median <"$W/plain.init")
cr=$(median <"$W/cfs.initrd"); pr=$(median <"$W/plain.initrd")
paste "$W/cfs.init" "$W/cfs.setup" | awk '{ print $1 - $2 }' >"$W/cfs.handover"
paste "$W/cfs.init" "$W/cfs.initrd" | awk '{ print $1 - $2 }' >"$W/cfs.inram"
paste "$W/plain.init" "$W/plain.initrd" | awk '{ print $1 - $2 }' >"$W/plain.inram"
ch=$(median <"$W/cfs.handover"); cx=$(median <"$W/cfs.inram"); px=$(median <"$W/plain.inram")
diff() { awk "BEGIN { printf \"%+.2f s (%+.1f %%)\", $1 - $2, ($1 - $2) * 100 / $2 }"; }
echo
echo "## bench/boot.sh — $(date -u '+%Y-%m-%d %H:%M UTC'), guest kernel $KVER under qemu TCG (1 vCPU), host $(nproc) CPUs"
echo
echo "Command: \`CFS_BUILDDIR=... BENCH_BOOTS=$N bench/boot.sh\`. Medians of $N boots each, alternating;"
echo "load average $load_before before, $load_after after. Times from the guest's /proc/uptime (kernel start = 0)."
echo
echo "| median | composefs root | plain ext4 root | composefs - plain |"
echo "|---|---|---|---|"
echo "| kernel start to initramfs /init | $cr s | $pr s | $(diff "$cr" "$pr") |"
echo "| initramfs /init to the new root's init | $cx s | $px s | $(diff "$cx" "$px") |"
echo "| kernel start to the new root's init | $ci s | $pi s | $(diff "$ci" "$pi") |"
echo "| composefs-setup-root start to init | $ch s | | |"
echo
echo "Per boot (s), composefs: init $(tr '\n' ' ' <"$W/cfs.init")| initramfs $(tr '\n' ' ' <"$W/cfs.initrd")"
echo "Per boot (s), plain: init $(tr '\n' ' ' <"$W/plain.init")| initramfs $(tr '\n' ' ' <"$W/plain.initrd")"
