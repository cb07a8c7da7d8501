#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Power cuts under repository writes: qemu is SIGKILLed mid-create-image / mid-gc, the disk is checked on the next boot.
#
# Environment (besides CFS_BUILDDIR, CFS_VM_CACHE, CFS_VM_KEEP as for test-vm.sh):
#   CFS_VM_CRASH_SEED   seed of the cut plan, the cut moments and the trees (default: random, printed)
#   CFS_VM_CRASH_CUTS   number of power cuts that must land mid-command (default 4, at least 3)
#   CFS_VM_CRASH_COUNT  entries per generated tree (default 1500)
#   CFS_VM_CRASH_VERITY 1: the disk's ext4 has fs-verity (default 0, see the disk below)
#   CFS_VM_TIMEOUT      seconds one boot may take before the test gives up (default 900)
#
# Exit: 0 every cut landed inside the command it aimed at and every check after
# it passed, 1 otherwise, 77 qemu (or a kernel for it) is not available at all.
set -eu -o pipefail

B=${CFS_BUILDDIR:?CFS_BUILDDIR must point at the build directory}
HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=vm-lib.sh
. "$HERE/vm-lib.sh"

SEED=${CFS_VM_CRASH_SEED:-$((($(date +%s) ^ $$) % 100000))}
CUTS=${CFS_VM_CRASH_CUTS:-4}
COUNT=${CFS_VM_CRASH_COUNT:-1500}
[ "$CUTS" -ge 3 ] || fail "CFS_VM_CRASH_CUTS must be at least 3"
echo "seed $SEED (CFS_VM_CRASH_SEED=$SEED repeats the plan and the cut moments), $CUTS cuts"

TOOLS=(tools/composefs/composefs tests/tools/gen-tree tests/tools/verity-digest)
vm_check_host "${TOOLS[@]}"
vm_kernel
vm_workdir cfs-vm-crash
vm_initramfs "$HERE/guest-crash.sh" "${TOOLS[@]}" -- -- virtio_blk

# ---- the persistent disk --------------------------------------------------------
# A raw file: qemu keeps no metadata of its own in memory that a kill could lose.
# cache=writeback makes qemu announce a volatile write cache, so the guest
# sends flushes (fsync, syncfs, journal commits) as it would to a real disk;
# what the guest kernel never wrote out is lost with the qemu process. See README.md.
# No fs-verity on it by default: enabling fs-verity writes a file's data out
# (and the repository enables it on every object), which would hide a missing
# data sync before an object is renamed into place. CFS_VM_CRASH_VERITY=1
# tests the fs-verity file system instead.
truncate -s 1G "$W/disk.img"
if [ "${CFS_VM_CRASH_VERITY:-0}" = 1 ]; then
	mkfs.ext4 -q -F -O verity -b 4096 "$W/disk.img"
else
	mkfs.ext4 -q -F -b 4096 "$W/disk.img"
fi

# ---- the plan: which command each cut aims at ---------------------------------------
RANDOM=$SEED
PLAN=(create gc)
while [ ${#PLAN[@]} -lt "$CUTS" ]; do
	if [ $((RANDOM % 2)) = 0 ]; then PLAN+=(create); else PLAN+=(gc); fi
done
echo "plan: ${PLAN[*]}"

declare -A REFS=() # name -> digest, "-" (absent) or "?" (changed by the interrupted command)
declare -A DUR=()  # create|gc -> seconds the last completed one took (as seen from here)

now() { date +%s.%N; }

# boot N [EXTRA]: start qemu on the disk in the background (QPID, LOG)
boot() {
	local n=$1 extra=${2:-} expect="" k
	for k in "${!REFS[@]}"; do
		expect="$expect${expect:+,}$k:${REFS[$k]}"
	done
	LOG=$W/console-$n.log
	: >"$LOG"
	"$QEMU" -machine q35 -accel tcg -cpu max -m 1024 -smp 1 \
		-nographic -no-reboot -nic none \
		-kernel "$KERNEL" -initrd "$W/initramfs.cpio" \
		-append "console=ttyS0 panic=-1 no_timer_check quiet loglevel=4 cfs_boot=$n cfs_seed=$SEED cfs_count=$COUNT cfs_expect=${expect:--} $extra" \
		-drive "file=$W/disk.img,format=raw,if=virtio,cache=writeback,aio=threads" \
		</dev/null >"$LOG" 2>&1 &
	QPID=$!
	BOOT_END=$((SECONDS + TIMEOUT))
}
lines() {
	tr -d '\r' <"$LOG" | grep -ao 'CFS-[A-Z]*.*' || true
}
give_up() {
	kill -KILL "$QPID" 2>/dev/null || true
	wait "$QPID" 2>/dev/null || true
	tail -n 30 "$LOG" >&2
	fail "$1"
}

# The refs the finished commands of the last boot left; "?" for one that was cut.
account() {
	local tag id op name d rc
	while read -r tag id op name d rc; do
		[ "$tag" = end ] || continue
		case $op in create | tag | untag) ;; *) continue ;; esac
		[ "$rc" = rc=0 ] || continue
		if [ "$op" = untag ]; then REFS[$name]=-; else REFS[$name]=$d; fi
	done < <(sed -n 's/^CFS-OP //p' "$W/boot.txt")
	while read -r tag id op name; do
		case $op in create | tag | untag) ;; *) continue ;; esac
		grep -q "^CFS-OP end $id $op $name " "$W/boot.txt" || REFS[$name]="?"
	done < <(grep '^CFS-OP begin ' "$W/boot.txt" | sed 's/^CFS-OP //')
}

# cut PHASE: wait for a workload command PHASE to begin (once its duration is
# known), kill qemu at a seeded fraction of the shortest one seen; LANDED=1 when the
# guest reported it begun and not finished.
cut() {
	local phase=$1 seen=0 t0 tag kind id op _ frac delay n
	declare -A began=()
	LANDED=0
	CUT_DESC=""
	while :; do
		kill -0 "$QPID" 2>/dev/null || give_up "guest stopped before a cut (boot $BOOTNO)"
		[ $SECONDS -lt $BOOT_END ] || give_up "no $phase to cut within $TIMEOUT s (boot $BOOTNO)"
		lines >"$W/boot.txt"
		n=$(wc -l <"$W/boot.txt")
		if [ "$n" -gt "$seen" ]; then
			t0=$(now)
			# workload commands only (IDs BOOT.I; the checks use BOOT.cN)
			while read -r tag kind id op _; do
				[ "$tag" = CFS-OP ] || continue
				case $id in *.c*) continue ;; esac
				if [ "$kind" = begin ]; then
					began[$id.$op]=$t0
					if [ "$op" = "$phase" ] && [ -n "${DUR[$phase]:-}" ]; then
						frac=$((15 + RANDOM % 56))
						delay=$(awk -v d="${DUR[$phase]}" -v f="$frac" 'BEGIN { printf "%.3f", d * f / 100 }')
						sleep "$delay"
						kill -KILL "$QPID"
						wait "$QPID" 2>/dev/null || true
						lines >"$W/boot.txt"
						if grep -q "^CFS-OP begin $id $phase " "$W/boot.txt" &&
							! grep -q "^CFS-OP end $id $phase " "$W/boot.txt"; then
							LANDED=1
						fi
						CUT_DESC="$phase $id, ${delay} s ($frac%) into a command that took at least ${DUR[$phase]} s before"
						return 0
					fi
				elif [ "$kind" = end ] && [ -n "${began[$id.$op]:-}" ]; then
					# the shortest one seen: later ones vary with their trees
					DUR[$op]=$(awk -v a="${began[$id.$op]}" -v b="$t0" -v m="${DUR[$op]:-}" \
						'BEGIN { d = b - a; if (m != "" && m < d) d = m; printf "%.3f", d }')
				fi
			done < <(sed -n "$((seen + 1)),${n}p" "$W/boot.txt")
			seen=$n
		fi
		sleep 0.05
	done
}

start=$SECONDS
BOOTNO=0
landed=0
attempts=0
declare -A landed_in=()
: >"$W/all.txt"
while [ "$landed" -lt "$CUTS" ]; do
	[ "$attempts" -lt $((CUTS + 3)) ] || fail "only $landed of $CUTS cuts landed mid-command in $attempts attempts"
	attempts=$((attempts + 1))
	phase=${PLAN[$landed]}
	boot "$BOOTNO"
	cut "$phase"
	cat "$W/boot.txt" >>"$W/all.txt"
	grep '^CFS-\(RESULT\|KERNEL\|CHECKED\)' "$W/boot.txt" || true
	if [ "$LANDED" = 1 ]; then
		landed=$((landed + 1))
		landed_in[$phase]=$((${landed_in[$phase]:-0} + 1))
		echo "cut $landed (boot $BOOTNO): power cut during $CUT_DESC"
	else
		echo "missed (boot $BOOTNO): $CUT_DESC finished before the kill; trying again"
	fi
	account
	BOOTNO=$((BOOTNO + 1))
done

# ---- the last boot only checks -----------------------------------------------------
boot "$BOOTNO" cfs_final=1
while kill -0 "$QPID" 2>/dev/null; do
	[ $SECONDS -lt $BOOT_END ] || give_up "final check boot timed out after $TIMEOUT s"
	sleep 0.2
done
wait "$QPID" 2>/dev/null || true
lines >"$W/boot.txt"
cat "$W/boot.txt" >>"$W/all.txt"
grep '^CFS-\(RESULT\|KERNEL\|CHECKED\|DONE\)' "$W/boot.txt" || true
echo "$BOOTNO boots with $landed power cuts in $((SECONDS - start)) s"

# ---- verdict -------------------------------------------------------------------------
grep -q '^CFS-DONE' "$W/boot.txt" || { tail -n 40 "$LOG" >&2; fail "the final boot did not finish"; }
grep -q "^CFS-KERNEL 6\.12\." "$W/all.txt" || fail "guest did not run a 6.12 kernel"
failed=$(grep -c '^CFS-RESULT [^ ]* FAIL' "$W/all.txt" || true)
[ "$failed" = 0 ] || fail "$failed guest check(s) failed"
grep -q '^CFS-RESULT init-0 ok' "$W/all.txt" || fail "the repository was not created"
for ((n = 1; n <= BOOTNO; n++)); do
	for name in fsck-after-cut objects-hash refs acked gc-after-cut create-again; do
		grep -q "^CFS-RESULT $name-$n ok" "$W/all.txt" || fail "check $name after boot $((n - 1)) did not report ok"
	done
done
for phase in create gc; do
	[ "${landed_in[$phase]:-0}" -ge 1 ] || fail "no cut landed during $phase"
done
echo "ok: $landed power cuts (${landed_in[create]} during create-image, ${landed_in[gc]} during gc) left a repository fsck, re-hashing and the finished commands agree with"
