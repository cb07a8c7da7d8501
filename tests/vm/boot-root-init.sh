#!/bin/sh
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# /sbin/init of the vm-boot root tree: check the root composefs-setup-root handed over, power off.
#
# cfs_mode=bench: only report the time. Otherwise (cfs_boot=N, the boot's number), check:
# / is our overlay with verity=require, every file of /etc/manifest.sha256 reads back right
# (cfs_victim=PATH: that one fails with EIO, and only it), /usr is read-only, /etc is an
# overlay whose changes survive to the next boot, /var is bound from the real root, nothing
# written in a transient boot is left. cfs_transient=1: / and /etc are transient overlays.
[ -r /proc/uptime ] || mount -t proc proc /proc
read -r up _ </proc/uptime
echo "CFS-INIT-UPTIME $up pid=$$"
export PATH=/bin:/sbin

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
	for w in $(cat /proc/cmdline); do
		case $w in "$1"=*) echo "${w#*=}" ;; esac
	done
}
[ "$(param cfs_mode)" = bench ] && finish
[ "$(param cfs_mode)" = plain ] && finish

line=$(grep '^[^ ]* / ' /proc/mounts | tail -n 1)
if [ "$(param cfs_transient)" = 1 ]; then
	# [root] transient and [etc] transient: everything writable, nothing of it kept
	if [ "${line%% *}" = transient ] && echo x >/usr/transient-write && echo x >/etc/transient-write &&
		[ ! -e /etc/boot-count ] && grep -q '^transient /etc overlay ' /proc/mounts &&
		grep -q '^[^ ]* /var ext4 ' /proc/mounts && [ -f /sysroot/composefs/meta.json ]; then
		result root-transient ok "/ and /etc are tmpfs overlays and took writes; /etc shows the image's, not the kept state; /var and /sysroot in place"
	else
		result root-transient FAIL "$line; $(grep -E ' /etc | /var ' /proc/mounts | tr '\n' ';')"
	fi
	finish
fi
if [ -e /usr/transient-write ] || [ -e /etc/transient-write ]; then
	result transient-gone FAIL "a write to a transient / or /etc survived the boot"
else
	result transient-gone ok "no write of a transient boot is left"
fi
case $line in
*" / overlay "*verity=require*) result root-overlay ok "$line" ;;
*) result root-overlay FAIL "$line" ;;
esac
[ "$$" = 1 ] && result init-pid ok "init runs as PID 1" || result init-pid FAIL "pid $$"

victim=$(param cfs_victim)
cd / || finish
bad=$(sha256sum -c /etc/manifest.sha256 2>&1 | grep -v ': OK$')
n=$(wc -l </etc/manifest.sha256)
if [ -z "$victim" ]; then
	if [ -z "$bad" ]; then
		result files-read ok "$n files read back with their recorded sha256"
	else
		result files-read FAIL "$(echo "$bad" | head -3 | tr '\n' ' ')"
	fi
else
	err=$(cat "/$victim" 2>&1 >/dev/null)
	# sha256sum's closing "WARNING: N of M ... did NOT match" counts the victim too
	others=$(echo "$bad" | grep -v -e "$victim" -e '^sha256sum: WARNING: 1 of ')
	case $err in
	*"Input/output error"* | *"I/O error"*)
		if [ -z "$others" ]; then
			result tamper-eio ok "/$victim: $err; the other $((n - 1)) files read back right"
		else
			result tamper-eio FAIL "others failed too: $(echo "$others" | head -3 | tr '\n' ' ')"
		fi ;;
	*) result tamper-eio FAIL "/$victim read gave: ${err:-no error}" ;;
	esac
fi

err=$(touch /usr/written 2>&1)
case $err in
*"Read-only file system"*) result usr-readonly ok "$err" ;;
*) result usr-readonly FAIL "write to /usr: ${err:-succeeded}" ;;
esac

boot=$(param cfs_boot)
if [ -n "$boot" ]; then
	prev=$(cat /etc/boot-count 2>/dev/null || echo 0)
	if echo "$boot" >/etc/boot-count && grep -q '^[^ ]* /etc overlay ' /proc/mounts &&
		[ "$prev" = $((boot - 1)) ]; then
		result etc-persist ok "/etc (overlay) held $prev from the boot before; now $boot"
	else
		result etc-persist FAIL "expected $((boot - 1)) in /etc/boot-count, found $prev; $(grep ' /etc ' /proc/mounts)"
	fi
	if grep -q '^[^ ]* /var ext4 ' /proc/mounts && echo "$boot" >"/var/boot-$boot" &&
		[ -f /sysroot/composefs/meta.json ]; then
		result var-sysroot ok "/var bound from the real root (ext4), real root at /sysroot"
	else
		result var-sysroot FAIL "$(grep -E ' /var | /sysroot ' /proc/mounts | tr '\n' ';')"
	fi
fi
finish
