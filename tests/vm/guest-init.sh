#!/bin/busybox sh
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# /init of the test VM: real fs-verity checks of mkcomposefs and mount.composefs, results on the console.
#
# Every check prints one line "CFS-RESULT <name> ok|FAIL <detail>"; the host
# script (test-vm.sh) decides from them. The disk /dev/vda is an ext4 file
# system made with "-O verity".

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

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
echo "CFS-KERNEL $(uname -r) booted in $(cut -d" " -f1 /proc/uptime) s"
for m in $(cat /modules/order); do
	insmod "/modules/$m.ko" || result "insmod-$m" FAIL
done

mkdir -p /disk /mnt/a /mnt/b /run
if ! mount -t ext4 /dev/vda /disk; then
	result disk FAIL "cannot mount /dev/vda"
	finish
fi

# digest (hex) of a file, and the object of a source file in the store
vdigest() {
	verity-digest "$1" | sed 's/^sha256://; s/ .*//'
}
object_of() {
	d=$(vdigest "$1")
	echo "/disk/store/$(echo "$d" | cut -c1-2)/$(echo "$d" | cut -c3-)"
}
remount() {
	umount /mnt/a 2>/dev/null
	echo 3 >/proc/sys/vm/drop_caches
	mount.composefs -o "$1" "${2:-/disk/img.cfs}" /mnt/a
}

# ---- mkcomposefs --digest-store enables fs-verity on every object ------------
gen-tree --whiteouts 77 /disk/src 300 >/dev/null || { result gen-tree FAIL; finish; }
head -c 200000 /dev/urandom >/disk/src/big-a
head -c 150000 /dev/urandom >/disk/src/big-b
if mkcomposefs --digest-store=/disk/store /disk/src /disk/img.cfs 2>/tmp/mk.err; then
	total=0
	bad=0
	for o in /disk/store/*/*; do
		total=$((total + 1))
		m=$(fsverity measure "$o" 2>/dev/null | sed 's/^sha256://; s/ .*//')
		[ "$m" = "$(basename "$(dirname "$o")")$(basename "$o")" ] || bad=$((bad + 1))
	done
	if [ "$total" -gt 10 ] && [ "$bad" = 0 ]; then
		result objects-verity ok "$total objects, each with fs-verity enabled and named by its kernel digest"
	else
		result objects-verity FAIL "$bad of $total objects without the right fs-verity digest"
	fi
else
	result objects-verity FAIL "mkcomposefs failed"
	finish
fi

# ---- verity: everything readable and identical ---------------------------------
if remount "basedir=/disk/store,verity"; then
	if grep -q 'verity=require' /proc/mounts; then
		if grep -q ' erofs ' /proc/mounts; then
			result verity-mount FAIL "the EROFS mount is attached: $(grep ' erofs ' /proc/mounts)"
		elif tree-compare --cfs-whiteouts /disk/src /mnt/a >/tmp/tc.out 2>&1; then
			result verity-mount ok "verity=require mount identical to its source, EROFS mount not attached"
		else
			result verity-mount FAIL "$(head -3 /tmp/tc.out | tr '\n' ' ')"
		fi
	else
		result verity-mount FAIL "no verity=require in /proc/mounts"
	fi
else
	result verity-mount FAIL "mount.composefs -o verity failed"
fi

# ---- tampered objects give EIO, other files stay readable ------------------------
obj=$(object_of /disk/src/big-a)
cp "$obj" /disk/good-object
# 1. the object re-created without fs-verity
rm -f "$obj"
cp /disk/good-object "$obj"
remount "basedir=/disk/store,verity"
if cat /mnt/a/big-a >/dev/null 2>/tmp/err; then
	result tamper-noverity FAIL "object without fs-verity was readable"
elif ! grep -q 'Input/output error' /tmp/err; then
	result tamper-noverity FAIL "unexpected error: $(cat /tmp/err)"
elif ! cmp -s /mnt/a/big-b /disk/src/big-b; then
	result tamper-noverity FAIL "another file became unreadable"
else
	result tamper-noverity ok "object without fs-verity: EIO; other files intact"
fi
# 2. other content, with fs-verity enabled (so its digest is wrong)
rm -f "$obj"
cp /disk/good-object /tmp/evil
dd if=/dev/zero of=/tmp/evil bs=4096 count=1 conv=notrunc 2>/dev/null
cp /tmp/evil "$obj"
fsverity enable "$obj" || result tamper-content FAIL "fsverity enable"
remount "basedir=/disk/store,verity"
if cat /mnt/a/big-a >/dev/null 2>/tmp/err; then
	result tamper-content FAIL "object with another digest was readable"
elif ! grep -q 'Input/output error' /tmp/err; then
	result tamper-content FAIL "unexpected error: $(cat /tmp/err)"
else
	result tamper-content ok "object with other content (and its own fs-verity): EIO"
fi
# 3. the genuine object restored: readable again
rm -f "$obj"
cp /disk/good-object "$obj"
fsverity enable "$obj"
remount "basedir=/disk/store,verity"
if cmp -s /mnt/a/big-a /disk/src/big-a; then
	result tamper-restored ok "genuine object restored: readable again"
else
	result tamper-restored FAIL "restored object unreadable"
fi

# ---- the mount(2) path and the loop device path on this kernel ------------------
if remount "basedir=/disk/store,verity,legacymount" && grep -q 'verity=require' /proc/mounts &&
	tree-compare --cfs-whiteouts /disk/src /mnt/a >/tmp/tc.out 2>&1 &&
	! grep -q ' erofs ' /proc/mounts && ! ls -d /run/.composefs-* /tmp/.composefs-* 2>/dev/null; then
	result legacy-mount ok "mount(2) path with verity=require: identical tree, temporary EROFS mount gone"
else
	result legacy-mount FAIL "$(head -3 /tmp/tc.out | tr '\n' ' ') $(grep -E ' (erofs|overlay) ' /proc/mounts)"
fi
if remount "basedir=/disk/store,verity,forceloop" &&
	cat /sys/block/loop*/loop/backing_file 2>/dev/null | grep -q /disk/img.cfs &&
	tree-compare --cfs-whiteouts /disk/src /mnt/a >/tmp/tc.out 2>&1; then
	result loop-mount ok "image through a loop device: identical tree"
else
	result loop-mount FAIL "$(head -3 /tmp/tc.out | tr '\n' ' ')"
fi

# ---- tryverity on a verity-capable file system requests verity ---------------------
if remount "basedir=/disk/store,tryverity" && grep -q 'verity=require' /proc/mounts &&
	cmp -s /mnt/a/big-a /disk/src/big-a; then
	result tryverity ok "basedir supports fs-verity: verity=require requested, data readable"
else
	result tryverity FAIL "$(grep ' /mnt/a ' /proc/mounts)"
fi

# ---- digest= measured by the kernel ---------------------------------------------
umount /mnt/a
cp /disk/img.cfs /disk/img-plain.cfs
fsverity enable /disk/img.cfs || result digest-kernel FAIL "fsverity enable on the image"
kd=$(fsverity measure /disk/img.cfs | sed 's/^sha256://; s/ .*//')
wrong=$(echo "$kd" | tr '0-9a-f' '1-9a-f0')
if mount.composefs -o "basedir=/disk/store,digest=$wrong" /disk/img.cfs /mnt/a 2>/tmp/err; then
	result digest-kernel-wrong FAIL "wrong digest accepted"
	umount /mnt/a
elif grep -q 'the kernel measured' /tmp/err; then
	result digest-kernel-wrong ok "wrong digest refused by the kernel's measurement: $(cat /tmp/err)"
else
	result digest-kernel-wrong FAIL "$(cat /tmp/err)"
fi
if remount "basedir=/disk/store,digest=$kd" /disk/img.cfs; then
	loops=$(cat /sys/block/loop*/loop/backing_file 2>/dev/null | wc -l)
	if [ "$loops" != 0 ]; then
		result digest-kernel FAIL "a loop device is in use (a memfd copy?) although the kernel could measure and mount the file"
	elif ! tree-compare --cfs-whiteouts /disk/src /mnt/a >/tmp/tc.out 2>&1; then
		result digest-kernel FAIL "$(head -3 /tmp/tc.out | tr '\n' ' ')"
	else
		result digest-kernel ok "digest checked by FS_IOC_MEASURE_VERITY, image mounted in place, identical tree"
	fi
else
	result digest-kernel FAIL "right digest refused"
fi
umount /mnt/a

# The same digest on a copy without fs-verity: computed over a sealed memfd copy.
if remount "basedir=/disk/store,digest=$kd" /disk/img-plain.cfs; then
	if cat /sys/block/loop*/loop/backing_file 2>/dev/null | grep -q memfd &&
		cmp -s /mnt/a/big-a /disk/src/big-a; then
		result digest-memfd ok "image without fs-verity: digest computed on a sealed memfd copy, which is mounted"
	else
		result digest-memfd FAIL "no memfd-backed loop device, or unreadable"
	fi
else
	result digest-memfd FAIL "right digest refused on the plain copy"
fi
umount /mnt/a

umount /disk
finish
