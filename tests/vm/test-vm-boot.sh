#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Boot a busybox root tree from a composefs repository with composefs-setup-root (Debian 6.12
# kernel under qemu), a transient root, and the refusals: wrong digest, tampered image,
# tampered object, missing or foreign signature, insecure form against a strict configuration.
#
# Environment: CFS_BUILDDIR (required), CFS_VM_CACHE, CFS_VM_TIMEOUT, CFS_VM_KEEP (see test-vm.sh).
# Exit: 0 every boot did what it must, 1 otherwise, 77 no qemu or kernel at all.
set -eu -o pipefail

B=${CFS_BUILDDIR:?CFS_BUILDDIR must point at the build directory}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=vm-lib.sh
. "$HERE/vm-lib.sh"
# shellcheck source=boot-lib.sh
. "$HERE/boot-lib.sh"

vm_check_host "${BOOT_TOOLS[@]}"
vm_kernel
vm_workdir cfs-vm-boot
boot_build_all
echo "images: signed $IMG_S, unsigned $IMG_U, other key $IMG_O; victim /$VICTIM ($VICTIM_OBJ)"

SIGNED="cfs_config=signed"
run prepare cfs_mode=prepare
check prepare objects-verity sign-enable-verity sign-other-key sign-required

run good-1 cfs_mode=boot $SIGNED composefs="$IMG_S" cfs_boot=1
handed_over good-1 "is image $IMG_S \(fs-verity required on every object, signed by .*vm-boot A.*/etc overlay, /var bind\)"
check good-1 root-overlay init-pid files-read usr-readonly etc-persist var-sysroot transient-gone
# as process 1 on the initramfs, setup-root gives the initramfs's memory back before handing over
if grep -q '^composefs-setup-root: freed the initramfs ([1-9][0-9]* files, [1-9][0-9]* KiB)' "$W/good-1.txt"; then
	echo "  ok   good-1: $(grep -m1 '^composefs-setup-root: freed' "$W/good-1.txt")"
else
	echo "  FAIL good-1: setup-root did not free the initramfs"
	failures=$((failures + 1))
fi

# the composefs-rs digest form, and the etc write of the first boot must still be there
run good-2 cfs_mode=boot $SIGNED composefs.digest=v1-sha256-12:"$IMG_S" cfs_boot=2
handed_over good-2 "is image $IMG_S \(fs-verity required"
check good-2 root-overlay files-read usr-readonly etc-persist var-sysroot

wrong=$(echo "$IMG_S" | tr '0-9a-f' '1-9a-f0')
run wrong-digest cfs_mode=boot cfs_expect=refuse $SIGNED composefs="$wrong"
refused wrong-digest "image $wrong is not in the repository" exit-status rollback

run unsigned cfs_mode=boot cfs_expect=refuse $SIGNED composefs="$IMG_U"
refused unsigned "a signature is required and image $IMG_U has none" exit-status rollback

run other-key cfs_mode=boot cfs_expect=refuse $SIGNED composefs="$IMG_O"
refused other-key "a signature is required and none of the 1 of image $IMG_O is acceptable" exit-status rollback

run insecure-strict cfs_mode=boot cfs_expect=refuse $SIGNED composefs="?$IMG_S"
refused insecure-strict "asks for no fs-verity .* but the configuration requires it" exit-status rollback

run tampered-image cfs_mode=boot cfs_expect=refuse cfs_config=default composefs="$IMG_S" cfs_tamper=image
refused tampered-image "image $IMG_S: its content does not match the digest" exit-status rollback

# fails after the image is stacked on /sysroot (the /etc overlay): the undo path
run broken-state cfs_mode=boot cfs_expect=refuse cfs_config=default composefs="$IMG_U"
refused broken-state "overlay on /sysroot/etc \(upper /sysroot/sysroot/state/deploy/$IMG_U/etc/upper\)" exit-status rollback

run transient cfs_mode=boot cfs_config=transient composefs="$IMG_S" cfs_transient=1
handed_over transient "is image $IMG_S \(fs-verity required on every object; /etc transient, /var bind\)"
check transient root-transient

run tampered-object cfs_mode=boot cfs_config=default composefs="$IMG_S" cfs_tamper=object:"$VICTIM_OBJ" cfs_victim="$VICTIM"
handed_over tampered-object "is image $IMG_S \(fs-verity required on every object; /etc overlay"
check tampered-object root-overlay tamper-eio usr-readonly transient-gone

grep -h '^CFS-KERNEL\|^CFS-INFO' "$W"/prepare.txt || true
[ "$failures" = 0 ] || fail "$failures check(s) failed"
echo "ok: composefs-setup-root booted the image, kept /etc, and refused every bad boot with its reason"
