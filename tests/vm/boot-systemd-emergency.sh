#!/usr/bin/busybox sh
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# The vm-boot-systemd initramfs's emergency shell: systemd's emergency.service runs this instead
# of sulogin (a drop-in replaces ExecStart), so that a boot that ends in emergency.target reports
# how it got there and powers off rather than waiting for a root password on the console.
# Results: "CFS-RESULT <check> ok|FAIL <detail>" lines, then CFS-DONE.
mkdir -p /cfs/bb
/usr/bin/busybox --install -s /cfs/bb
export PATH=/usr/bin:/usr/sbin:/cfs/bb

result() {
	echo "CFS-RESULT $1 $2 ${3:-}"
}
echo "CFS-EMERGENCY at $(cut -d' ' -f1 /proc/uptime) s"
# what systemd itself says: our unit failed, the emergency target is being reached, the
# switch into /sysroot was never started
unit=$(systemctl is-failed composefs-setup-root.service)
target=$(systemctl is-active emergency.target)
switch=$(systemctl is-active initrd-switch-root.target initrd-switch-root.service | tr '\n' ' ')
failed=$(systemctl list-units --failed --plain --no-legend | awk '{print $1}' | tr '\n' ' ')
case $target in active | activating) reached=1 ;; *) reached= ;; esac
if [ "$unit" = failed ] && [ -n "$reached" ] && [ "$switch" = "inactive inactive " ]; then
	result emergency ok "composefs-setup-root.service failed, emergency.target $target, no switch-root; failed units: $failed"
else
	result emergency FAIL "composefs-setup-root.service $unit, emergency.target $target, initrd-switch-root $switch; failed: $failed"
fi
# nothing half set up: /sysroot is the real root alone, no overlay or EROFS mount anywhere
if [ "$(grep -c ' /sysroot ' /proc/mounts)" = 1 ] && grep -q ' /sysroot ext4 ' /proc/mounts &&
	! grep -qE ' (overlay|erofs) ' /proc/mounts && [ -f /sysroot/composefs/meta.json ] && [ ! -d /sysroot/sysroot ]; then
	result rollback ok "/sysroot is the real root alone; no overlay or EROFS mount left"
else
	result rollback FAIL "$(grep -E 'sysroot|overlay|erofs' /proc/mounts | tr '\n' ';')"
fi
echo "CFS-DONE"
sync
poweroff -f
sleep 10
