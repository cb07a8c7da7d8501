#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Boot a Debian 6.12 kernel with fs-verity under qemu and check verity-backed composefs mounts there.
#
# Environment:
#   CFS_BUILDDIR    build directory (required; meson sets it)
#   CFS_VM_CACHE    where the extracted kernel is kept (default /var/cache/composefs-c-vm);
#                   filled with "apt-get download" of the newest
#                   linux-image-6.12.*-cloud-amd64-unsigned when empty
#   CFS_VM_TIMEOUT  seconds before the guest is killed (default 900)
#   CFS_VM_KEEP     set to keep the work directory (initramfs, disk, console log)
#
# Exit: 0 all guest checks passed, 1 a check failed or the guest did not
# report, 77 qemu (or a kernel for it) is not available at all.
set -eu -o pipefail

B=${CFS_BUILDDIR:?CFS_BUILDDIR must point at the build directory}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=vm-lib.sh
. "$HERE/vm-lib.sh"

TOOLS=(tools/mkcomposefs/mkcomposefs tools/mount.composefs/mount.composefs
	tests/tools/tree-compare tests/tools/gen-tree tests/tools/verity-digest)
vm_check_host "${TOOLS[@]}"
FSVERITY=$(command -v fsverity) || fail "fsverity not installed (package fsverity)"

vm_kernel
vm_workdir cfs-vm
vm_initramfs "$HERE/guest-init.sh" "${TOOLS[@]}" -- "$FSVERITY" -- virtio_blk loop erofs overlay

# ---- the disk: ext4 with the verity feature ----------------------------------
truncate -s 512M "$W/disk.img"
mkfs.ext4 -q -F -O verity -b 4096 "$W/disk.img"

# ---- boot ----------------------------------------------------------------------
echo "booting $KVER under qemu (TCG) with $(wc -c <"$W/initramfs.cpio") bytes of initramfs"
start=$(date +%s)
rc=0
timeout "$TIMEOUT" "$QEMU" -machine q35 -accel tcg -cpu max -m 1024 -smp 1 \
	-nographic -no-reboot -nic none \
	-kernel "$KERNEL" -initrd "$W/initramfs.cpio" \
	-append "console=ttyS0 panic=-1 no_timer_check quiet loglevel=4" \
	-drive "file=$W/disk.img,format=raw,if=virtio" \
	</dev/null >"$W/console.log" 2>&1 || rc=$?
end=$(date +%s)
vm_console
cat "$W/console.txt"
echo "guest ran for $((end - start)) s (qemu exit $rc)"
if [ "$rc" = 124 ]; then
	tail -n 30 "$W/console.log" >&2
	fail "guest timed out after $TIMEOUT s"
fi

# ---- verdict -------------------------------------------------------------------
grep -q '^CFS-DONE' "$W/console.txt" || { tail -n 40 "$W/console.log" >&2; fail "guest did not finish"; }
grep -q "^CFS-KERNEL 6\.12\." "$W/console.txt" || fail "guest did not run a 6.12 kernel"
failed=$(grep -c '^CFS-RESULT [^ ]* FAIL' "$W/console.txt" || true)
[ "$failed" = 0 ] || fail "$failed guest check(s) failed"
for name in objects-verity verity-mount tamper-noverity tamper-content tamper-restored \
	legacy-mount loop-mount tryverity digest-kernel-wrong digest-kernel digest-memfd; do
	grep -q "^CFS-RESULT $name ok" "$W/console.txt" || fail "guest check $name did not report ok"
done
echo "ok: all fs-verity checks passed in the $KVER guest"
