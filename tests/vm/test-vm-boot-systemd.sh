#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# composefs-setup-root from a systemd initrd: the Debian 6.12 kernel under qemu boots an
# initramfs holding the host's own systemd (PID 1, journald, udevd, the fstab generator) and
# the unit we install, composefs-setup-root.service, enabled with `systemctl --root`. systemd
# mounts /sysroot from root= (udev announces /dev/vda), our unit stacks the image on it, and
# systemd's initrd-switch-root.service switches into it. A wrong digest must fail the unit,
# isolate emergency.target and never reach the new root.
#
# Boots: prepare (the busybox initramfs of vm-boot: fs-verity on every object), good (signed
# image, the checks of boot-root-init.sh as PID 1 of the new root), wrong-digest (refused).
# The initramfs's emergency.service runs boot-systemd-emergency.sh instead of sulogin, which
# reports and powers off (the one change to systemd's units, a drop-in).
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

SYSTEMD=/usr/lib/systemd
UNIT=$B/tools/composefs-setup-root/composefs-setup-root.service
vm_check_host "${BOOT_TOOLS[@]}"
for t in "$SYSTEMD/systemd" "$SYSTEMD/systemd-journald" "$SYSTEMD/systemd-udevd" \
	"$SYSTEMD/system-generators/systemd-fstab-generator"; do
	[ -x "$t" ] || fail "$t not found (packages: systemd udev)"
done
for t in systemctl udevadm kmod depmod; do
	command -v "$t" >/dev/null || fail "$t not found (packages: systemd udev kmod)"
done
[ -f "$UNIT" ] || fail "$UNIT not built"
vm_kernel
vm_workdir cfs-vm-boot-systemd
boot_build_all
echo "images: signed $IMG_S; $(systemctl --version | head -n 1)"

# ---- the systemd initramfs ------------------------------------------------------------
# usr-merged like Debian 12: /bin, /sbin, /lib, /lib64 are links into /usr
sd_initramfs() {
	local R=$W/sdroot u d exec m
	mkdir -p "$R"/usr/{bin,sbin,lib,lib64} "$R"/{cfs,dev,etc,proc,run,sys,sysroot,tmp,root,var}
	ln -s ../run "$R/var/run"
	for d in bin sbin lib lib64; do ln -s "usr/$d" "$R/$d"; done
	mknod -m 600 "$R/dev/console" c 5 1
	vm_copy_with_libs "$(command -v busybox)" "$R/usr/bin/busybox"
	mkdir -p "$R$SYSTEMD/system-generators" "$R$SYSTEMD/system" "$R/usr/lib/udev/rules.d"
	for t in systemd systemd-journald systemd-udevd; do
		vm_copy_with_libs "$SYSTEMD/$t" "$R$SYSTEMD/$t"
	done
	vm_copy_with_libs "$SYSTEMD/system-generators/systemd-fstab-generator" "$R$SYSTEMD/system-generators/"
	vm_copy_with_libs "$(command -v systemctl)" "$R/usr/bin/systemctl"
	vm_copy_with_libs "$(command -v udevadm)" "$R/usr/bin/udevadm"
	# mount units run mount(8)
	vm_copy_with_libs "$(command -v mount)" "$R/usr/bin/mount"
	vm_copy_with_libs "$(command -v umount)" "$R/usr/bin/umount"
	# the kernel asks /sbin/modprobe for erofs and overlay, udev loads virtio_blk by its alias
	vm_copy_with_libs "$(command -v kmod)" "$R/usr/bin/kmod"
	ln -s ../bin/kmod "$R/usr/sbin/modprobe"
	ln -s usr/lib/systemd/systemd "$R/init"
	# the units of a systemd initrd (dracut's set, cut down to what this boot runs)
	cp /usr/lib/systemd/system/*.target "$R$SYSTEMD/system/"
	for u in initrd-cleanup.service initrd-parse-etc.service initrd-switch-root.service \
		initrd-udevadm-cleanup-db.service emergency.service \
		systemd-journald.service systemd-journald.socket systemd-journald-dev-log.socket \
		systemd-udevd.service systemd-udevd-control.socket systemd-udevd-kernel.socket \
		systemd-udev-trigger.service; do
		cp "/usr/lib/systemd/system/$u" "$R$SYSTEMD/system/"
	done
	mkdir -p "$R$SYSTEMD/system/sockets.target.wants" "$R$SYSTEMD/system/sysinit.target.wants"
	for u in systemd-journald.socket systemd-journald-dev-log.socket systemd-udevd-control.socket \
		systemd-udevd-kernel.socket; do
		ln -s "../$u" "$R$SYSTEMD/system/sockets.target.wants/$u"
	done
	for u in systemd-journald.service systemd-udevd.service systemd-udev-trigger.service; do
		ln -s "../$u" "$R$SYSTEMD/system/sysinit.target.wants/$u"
	done
	for u in 50-udev-default.rules 60-block.rules 60-persistent-storage.rules 80-drivers.rules 99-systemd.rules; do
		cp "/usr/lib/udev/rules.d/$u" "$R/usr/lib/udev/rules.d/"
	done
	# our unit as built, and the program where its ExecStart looks for it
	cp "$UNIT" "$R$SYSTEMD/system/"
	exec=$(sed -n 's/^ExecStart=//p' "$UNIT")
	[[ $exec == /* ]] || fail "ExecStart of $UNIT is \"$exec\""
	mkdir -p "$R$(dirname "$exec")"
	vm_copy_with_libs "$B/tools/composefs-setup-root/composefs-setup-root" "$R$exec"
	systemctl --root="$R" enable composefs-setup-root.service >/dev/null 2>&1 ||
		fail "systemctl --root enable composefs-setup-root.service"
	[ -L "$R/etc/systemd/system/initrd-root-fs.target.requires/composefs-setup-root.service" ] ||
		fail "enabling the unit did not make initrd-root-fs.target require it"
	# the emergency shell of this test (see above)
	cp "$HERE/boot-systemd-emergency.sh" "$R/cfs/emergency"
	mkdir -p "$R/etc/systemd/system/emergency.service.d"
	printf '[Service]\nExecStart=\nExecStart=/cfs/emergency\n' \
		>"$R/etc/systemd/system/emergency.service.d/cfs-test.conf"
	# kernel modules, found by modprobe through a depmod index as in any initrd
	mkdir -p "$R/modules"
	declare -gA vm_loaded=()
	vm_order=()
	for m in virtio_blk erofs overlay; do
		vm_add_module "$m"
	done
	mkdir -p "$R/usr/lib/modules/$KVER/kernel"
	mv "$R"/modules/*.ko "$R/usr/lib/modules/$KVER/kernel/"
	rm -rf "$R/modules"
	printf 'kernel/%s.ko\n' "${vm_order[@]}" >"$R/usr/lib/modules/$KVER/modules.order"
	for f in modules.builtin modules.builtin.modinfo; do
		[ ! -f "$MODDIR/$f" ] || cp "$MODDIR/$f" "$R/usr/lib/modules/$KVER/"
	done
	depmod -b "$R" "$KVER"
	# what makes this an initrd for systemd, and who the rules and journald name
	cat >"$R/etc/initrd-release" <<-'REL'
	NAME="composefs-c vm-boot-systemd initrd"
	ID=composefs-c-test-initrd
	VERSION_ID=1
	REL
	ln -s initrd-release "$R/etc/os-release"
	echo 'root:x:0:0:root:/root:/bin/sh' >"$R/etc/passwd"
	# the groups udev's rules name, so that it has nothing to complain about
	{
		echo root:x:0:
		sed -n 's/.*GROUP="\([a-z-]*\)".*/\1/p' "$R"/usr/lib/udev/rules.d/*.rules | sort -u |
			awk '{ printf "%s:x:%d:\n", $1, 100 + NR }'
		echo systemd-journal:x:99:
	} >"$R/etc/group"
	# setup-root's default configuration: a signed image, fs-verity required
	mkdir -p "$R/etc/composefs/trust"
	cp "$W/A.pem" "$R/etc/composefs/trust/"
	cp "$W/root/etc/composefs/signed.conf" "$R/etc/composefs/setup-root.conf"
	(cd "$R" && find . | cpio -o -H newc --quiet) >"$W/initramfs-systemd.cpio"
}

expect() { # BOOT WHAT PATTERN: the console log of BOOT has a line matching PATTERN
	if tr -d '\r' <"$W/$1.log" | grep -aqE -- "$3"; then
		echo "  ok   $1: $2"
	else
		echo "  FAIL $1: $2 (no /$3/ on the console)"
		failures=$((failures + 1))
	fi
}
run prepare cfs_mode=prepare
check prepare objects-verity

sd_initramfs
BOOT_INITRD=$W/initramfs-systemd.cpio
# root= makes systemd's fstab generator write sysroot.mount, which waits for udev's dev-vda.device;
# journald forwards everything to the console, where the host reads it; TCG is slow (the
# device timeout goes on the device unit through rootflags, the generator's way)
SD="root=/dev/vda rootfstype=ext4 rootflags=x-systemd.device-timeout=600 rw systemd.journald.forward_to_console=1 systemd.show_status=1 systemd.default_timeout_start_sec=600"

run good $SD composefs="$IMG_S" cfs_boot=1
handed_over good "is image $IMG_S \(fs-verity required on every object, signed by .*vm-boot A"
expect good "sysroot.mount from root= (udev's /dev/vda)" 'Mounted sysroot\.mount|Mounted .*/sysroot'
expect good "composefs-setup-root.service ran as a unit" 'Finished composefs-setup-root\.service'
expect good "systemd switched root itself" 'Switching root'
check good root-overlay init-pid files-read usr-readonly etc-persist var-sysroot transient-gone

wrong=$(echo "$IMG_S" | tr '0-9a-f' '1-9a-f0')
run wrong-digest $SD composefs="$wrong"
# that the unit failed is asked of systemd itself (systemctl is-failed, in the emergency
# script: the "emergency" check); its console status line is not waited for, since the console
# may not have printed it yet when the emergency script powers off (seen in a CI run)
refused wrong-digest "refusing image $wrong: image $wrong is not in the repository" emergency rollback

[ "$failures" = 0 ] || fail "$failures check(s) failed"
echo "ok: systemd mounted /sysroot, composefs-setup-root.service stacked the signed image, systemd switched into it; a wrong digest ended in emergency.target"
