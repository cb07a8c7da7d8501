#!/bin/busybox sh
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# /init of the vm-boot initramfs: mount the real root and hand over with composefs-setup-root.
#
# The kernel command line says what to do (test-vm-boot.sh and bench/boot.sh set it):
#   cfs_mode=prepare   enable fs-verity on every object of /dev/vda's repository, check
#                      `composefs sign --enable-verity` against the .fs-verity keyring; power off
#   cfs_mode=boot      composefs-setup-root --switch-root /sbin/init (composefs= names the image);
#                      cfs_expect=refuse: it must refuse, and leave /sysroot as it was
#   cfs_mode=plain     the same tree as a plain ext4 root (/dev/vdb), busybox switch_root
#   cfs_config=NAME    /etc/composefs/NAME.conf
#   cfs_tamper=object:REL | image   replace that object (or the image) with other content first
# Results: "CFS-RESULT <check> ok|FAIL <detail>" lines on the console.

export PATH=/bin:/cfs
/bin/busybox --install -s /bin 2>/dev/null

result() {
	echo "CFS-RESULT $1 $2 ${3:-}"
}
finish() {
	echo "CFS-DONE"
	sync
	poweroff -f
	sleep 10
}
param() {
	for w in $cmdline; do
		case $w in "$1"=*) echo "${w#*=}" ;; esac
	done
}
# "CFS-T STEP SECONDS": when each step of this script ended (bench/boot.sh reads them), with
# the shell's own read: no process is started for it, nor for the parameters of the timed path
stamp() {
	read -r up _ </proc/uptime
	echo "CFS-T $1 $up"
}
mount -t proc proc /proc
stamp init
read -r cmdline </proc/cmdline
mode= cfg=/etc/composefs/.conf expect= tamper=
for w in $cmdline; do
	case $w in
	cfs_mode=*) mode=${w#*=} ;;
	cfs_config=*) cfg=/etc/composefs/${w#*=}.conf ;;
	cfs_expect=*) expect=${w#*=} ;;
	cfs_tamper=*) tamper=${w#*=} ;;
	esac
done

mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mkdir -p /run /sysroot
mount -t tmpfs run /run
echo "CFS-KERNEL $(uname -r) mode ${mode:-none}"
insmod /modules/virtio_blk.ko
stamp virtio_blk
if [ "$mode" = plain ]; then
	mount -t ext4 /dev/vdb /sysroot || { result plain-mount FAIL; finish; }
	stamp root-mounted
	exec switch_root /sysroot /sbin/init
fi
# erofs and overlay (with what they need) load while the real root mounts: the one waits for
# the disk, the other for the CPU, as udev and the kernel overlap them in a distribution's initramfs
while read -r m; do
	[ "$m" = virtio_blk ] || insmod "/modules/$m.ko" || result "insmod-$m" FAIL
done </modules/order &
mount -t ext4 /dev/vda /sysroot || { wait; result disk FAIL "cannot mount /dev/vda"; finish; }
stamp root-mounted
wait
stamp modules
R=/sysroot/composefs

# ---- prepare: fs-verity on every object, builtin signatures -----------------------
sign_checks() {
	if ! grep -q CONFIG_FS_VERITY_BUILTIN_SIGNATURES=y /keys/kernel-config; then
		result sign-enable-verity FAIL "the kernel has no CONFIG_FS_VERITY_BUILTIN_SIGNATURES"
		return
	fi
	fsverity-keyring /keys/A.der >/tmp/kr 2>&1 || { result sign-keyring FAIL "$(cat /tmp/kr)"; return; }
	echo "CFS-INFO $(cat /tmp/kr)"
	head -c 300000 /dev/urandom >/sysroot/sig-a
	head -c 300000 /dev/urandom >/sysroot/sig-b
	head -c 300000 /dev/urandom >/sysroot/sig-c
	want=$(composefs measure /sysroot/sig-a 2>/dev/null | sed 's/^sha256://; s/ .*//')
	if composefs sign /sysroot/sig-a --key /keys/A.key --cert /keys/A.pem --enable-verity >/tmp/e 2>&1 &&
		[ "$(fsverity measure /sysroot/sig-a | sed 's/^sha256://; s/ .*//')" = "$want" ]; then
		result sign-enable-verity ok "fs-verity enabled with a builtin signature by the certificate in .fs-verity"
	else
		result sign-enable-verity FAIL "$(cat /tmp/e)"
	fi
	if composefs sign /sysroot/sig-b --key /keys/B.key --cert /keys/B.pem --enable-verity >/tmp/e 2>&1; then
		result sign-other-key FAIL "a signature by a key outside .fs-verity was accepted"
	elif fsverity measure /sysroot/sig-b >/dev/null 2>&1; then
		result sign-other-key FAIL "refused ($(cat /tmp/e)) but verity is enabled"
	else
		result sign-other-key ok "signature by another key refused by the kernel: $(cat /tmp/e)"
	fi
	echo 1 >/proc/sys/fs/verity/require_signatures
	if fsverity enable /sysroot/sig-c >/tmp/e 2>&1; then
		result sign-required FAIL "require_signatures=1 but an unsigned enable worked"
	elif composefs sign /sysroot/sig-c --key /keys/A.key --cert /keys/A.pem --enable-verity >/tmp/e2 2>&1; then
		result sign-required ok "require_signatures=1: unsigned enable refused ($(cat /tmp/e)), signed one works"
	else
		result sign-required FAIL "$(cat /tmp/e2)"
	fi
	echo 0 >/proc/sys/fs/verity/require_signatures
	rm -f /sysroot/sig-a /sysroot/sig-b /sysroot/sig-c
}
if [ "$mode" = prepare ]; then
	total=0
	bad=0
	for o in $R/objects/*/*; do
		total=$((total + 1))
		fsverity enable "$o" || bad=$((bad + 1))
	done
	if [ "$total" -gt 10 ] && [ "$bad" = 0 ]; then
		result objects-verity ok "fs-verity enabled on $total objects (images included)"
	else
		result objects-verity FAIL "$bad of $total objects failed"
	fi
	sign_checks
	umount /sysroot
	finish
fi

# ---- tampering, undone at the next boot -----------------------------------------
if [ -e /sysroot/tamper-saved ]; then
	read -r target </sysroot/tamper-path
	rm -f "$target"
	cp /sysroot/tamper-saved "$target"
	fsverity enable "$target"
	rm -f /sysroot/tamper-saved /sysroot/tamper-path
fi
if [ -n "$tamper" ]; then
	case $tamper in
	image) target=$(readlink -f "$R/images/$(param composefs)") ;;
	object:*) target=$R/${tamper#object:} ;;
	esac
	cp "$target" /sysroot/tamper-saved
	echo "$target" >/sysroot/tamper-path
	cp "$target" /tmp/evil
	# other content in the last block, and its own fs-verity: only the digest is wrong
	size=$(stat -c %s /tmp/evil)
	printf 'X' | dd of=/tmp/evil bs=1 seek=$((size - 1)) conv=notrunc 2>/dev/null
	rm -f "$target"
	cp /tmp/evil "$target"
	fsverity enable "$target" || result tamper FAIL "fsverity enable"
	sync
fi

# ---- hand over --------------------------------------------------------------------
stamp setup-root
if [ "$expect" != refuse ]; then
	exec composefs-setup-root --config "$cfg" --switch-root /sbin/init
fi
composefs-setup-root --config "$cfg" --switch-root /sbin/init
rc=$?
echo "CFS-REFUSED rc=$rc"
if [ "$rc" = 1 ]; then
	result exit-status ok "composefs-setup-root exited with 1"
else
	result exit-status FAIL "composefs-setup-root exited with $rc (expected 1)"
fi
# nothing half set up: /sysroot is the real root alone, no overlay or EROFS mount anywhere
if [ "$(grep -c ' /sysroot ' /proc/mounts)" = 1 ] && grep -q ' /sysroot ext4 ' /proc/mounts &&
	! grep -qE ' (overlay|erofs) ' /proc/mounts && [ -f $R/meta.json ] && [ ! -d /sysroot/sysroot ]; then
	result rollback ok "/sysroot is the real root alone; no overlay or EROFS mount left"
else
	result rollback FAIL "$(grep -E 'sysroot|overlay|erofs' /proc/mounts | tr '\n' ';')"
fi
umount /sysroot
finish
