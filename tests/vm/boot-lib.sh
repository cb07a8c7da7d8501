#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Shared by test-vm-boot.sh and bench/boot.sh (sourced after vm-lib.sh): the root tree, the
# repository disk, the plain disk, the initramfs, and one boot.
#
#   boot_build_all    $W/tree (busybox root, os-release, data files, /etc/manifest.sha256), $W/disk.img
#                     (ext4 -O verity: composefs/ with images S (signed by A), U (unsigned),
#                     O (signed by B); state/deploy/), $W/plain.img (ext4: the tree as its
#                     root), keys A and B, $W/initramfs.cpio; sets IMG_S, IMG_U, IMG_O, VICTIM,
#                     VICTIM_OBJ
#   boot_run NAME ARGS   one boot with ARGS appended to the kernel command line; console in
#                     $W/NAME.log, its CFS-* lines in $W/NAME.txt, seconds in BOOT_SECS;
#                     the initramfs is $BOOT_INITRD (default $W/initramfs.cpio), BOOT_QEMU_ARGS
#                     are added to qemu's options
#
# and, for the tests (each failed check is printed and counted in $failures):
#   run NAME ARGS        boot_run, then say which boot it was and how long it took
#   check NAME CHECK...  each "CFS-RESULT CHECK" line of the boot says ok, and no line says FAIL
#   handed_over NAME RE  composefs-setup-root's success line matches RE
#   refused NAME RE CHECK...   it refused with a reason matching RE, the new root's init never
#                     ran, and check NAME CHECK...

BOOT_TOOLS=(tools/composefs-setup-root/composefs-setup-root tools/composefs/composefs
	tests/tools/fsverity-keyring tests/tools/verity-digest)

boot_tree() {
	local t=$W/tree a d i
	mkdir -p "$t"/{bin,sbin,etc,usr/bin,usr/share/data,var,sysroot,proc,sys,dev,run,tmp}
	cp "$(command -v busybox)" "$t/bin/busybox"
	for a in $(busybox --list); do
		[ "$a" = busybox ] || ln -sf busybox "$t/bin/$a"
	done
	cp "$HERE/boot-root-init.sh" "$t/sbin/init"
	chmod 755 "$t/sbin/init"
	echo cfs-boot-test >"$t/etc/hostname"
	# an OS tree by systemd's measure (its switch-root refuses a root without one)
	mkdir -p "$t/usr/lib"
	printf 'NAME="composefs-c boot test"\nID=composefs-c-boot-test\n' >"$t/usr/lib/os-release"
	ln -s ../usr/lib/os-release "$t/etc/os-release"
	echo S >"$t/etc/variant"
	for d in $(seq -w 0 19); do
		mkdir -p "$t/usr/share/data/d$d"
		for i in $(seq -w 0 24); do
			head -c $(((10#$d * 25 + 10#$i) * 523 % 90000 + 1)) /dev/urandom >"$t/usr/share/data/d$d/f$i"
		done
	done
	head -c 200000 /dev/urandom >"$t/usr/share/victim"
	cp "$t/bin/busybox" "$t/usr/bin/busybox-copy"
	VICTIM=usr/share/victim
	(cd "$t" && find bin usr etc sbin -type f ! -name variant | sort | xargs sha256sum) >"$W/manifest"
	mv "$W/manifest" "$t/etc/manifest.sha256"
}

boot_keys() {
	local k
	for k in A B; do
		openssl req -x509 -newkey rsa:2048 -nodes -keyout "$W/$k.key" -out "$W/$k.pem" \
			-subj "/CN=composefs-c vm-boot $k" -days 2 2>/dev/null
		openssl x509 -in "$W/$k.pem" -outform DER -out "$W/$k.der"
	done
}

boot_disks() {
	local cfs=$B/tools/composefs/composefs R=$W/disk/composefs
	mkdir -p "$W/disk/state/deploy"
	"$cfs" --repo "$R" init >/dev/null
	IMG_S=$("$cfs" --repo "$R" create-image "$W/tree" signed | tail -n 1)
	echo U >"$W/tree/etc/variant"
	IMG_U=$("$cfs" --repo "$R" create-image "$W/tree" unsigned | tail -n 1)
	echo O >"$W/tree/etc/variant"
	IMG_O=$("$cfs" --repo "$R" create-image "$W/tree" other-key | tail -n 1)
	echo S >"$W/tree/etc/variant"
	for d in "$IMG_S" "$IMG_U" "$IMG_O"; do
		[[ $d =~ ^[0-9a-f]{64}$ ]] || fail "create-image printed \"$d\", not a digest"
	done
	"$cfs" --repo "$R" sign "$IMG_S" --key "$W/A.key" --cert "$W/A.pem" >/dev/null
	"$cfs" --repo "$R" sign "$IMG_O" --key "$W/B.key" --cert "$W/B.pem" >/dev/null
	# image U's /etc state is broken (a file where the overlay's upper directory goes): the
	# overlay fails only after the new root is stacked on /sysroot, so its undo is exercised
	mkdir -p "$W/disk/state/deploy/$IMG_U/etc"
	echo "not a directory" >"$W/disk/state/deploy/$IMG_U/etc/upper"
	VICTIM_OBJ=$("$B/tests/tools/verity-digest" "$W/tree/$VICTIM" | sed 's/^sha256://; s/ .*//')
	VICTIM_OBJ=objects/${VICTIM_OBJ:0:2}/${VICTIM_OBJ:2}
	[ -f "$R/$VICTIM_OBJ" ] || fail "no object $VICTIM_OBJ for /$VICTIM"
	truncate -s 256M "$W/disk.img"
	mkfs.ext4 -q -F -O verity -b 4096 -d "$W/disk" "$W/disk.img"
	truncate -s 128M "$W/plain.img"
	mkfs.ext4 -q -F -b 4096 -d "$W/tree" "$W/plain.img"
}

boot_initramfs() {
	local R
	vm_initramfs "$HERE/boot-initramfs.sh" "${BOOT_TOOLS[@]}" -- "$(command -v fsverity)" -- \
		virtio_blk erofs overlay
	R=$W/root
	mkdir -p "$R/keys" "$R/etc/composefs/trust"
	cp "$W/A.key" "$W/A.pem" "$W/A.der" "$W/B.key" "$W/B.pem" "$R/keys/"
	cp "$W/A.pem" "$R/etc/composefs/trust/"
	cp "$(dirname "$KERNEL")/config-$KVER" "$R/keys/kernel-config"
	printf '# defaults: /etc overlay, /var bind, fs-verity where the file system has it\n' \
		>"$R/etc/composefs/default.conf"
	cat >"$R/etc/composefs/signed.conf" <<-'CONF'
	# every image must carry a signature by a certificate in trust/
	[composefs]
	signature = "required"
	trust = "/etc/composefs/trust"
	verity = "require"

	[etc]
	mount = "overlay"

	[var]
	mount = "bind"
	CONF
	cat >"$R/etc/composefs/transient.conf" <<-'CONF'
	[root]
	transient = true

	[etc]
	transient = true
	CONF
	(cd "$R" && find . | cpio -o -H newc --quiet) >"$W/initramfs.cpio"
}

boot_build_all() {
	command -v openssl >/dev/null || fail "openssl not installed"
	command -v fsverity >/dev/null || fail "fsverity not installed (package fsverity)"
	boot_tree
	boot_keys
	boot_disks
	boot_initramfs
}

boot_run() {
	local name=$1 start end rc=0
	shift
	start=$(date +%s.%N)
	# no_timer_check: on a loaded host the guest's early check of the timer interrupt can fail
	# ("IO-APIC + timer doesn't work!", a panic), as it did during bench/boot.sh at a load of 8
	# shellcheck disable=SC2086 # BOOT_QEMU_ARGS: extra qemu options, split at blanks
	timeout "$TIMEOUT" "$QEMU" -machine q35 -accel tcg -cpu max -m 768 -smp 1 ${BOOT_QEMU_ARGS:-} \
		-nographic -no-reboot -nic none \
		-kernel "$KERNEL" -initrd "${BOOT_INITRD:-$W/initramfs.cpio}" \
		-append "console=ttyS0 panic=-1 no_timer_check quiet loglevel=4 $*" \
		-drive "file=$W/disk.img,format=raw,if=virtio" \
		-drive "file=$W/plain.img,format=raw,if=virtio" \
		</dev/null >"$W/$name.log" 2>&1 || rc=$?
	end=$(date +%s.%N)
	BOOT_SECS=$(awk "BEGIN { printf \"%.1f\", $end - $start }")
	tr -d '\r' <"$W/$name.log" | grep -ao -e 'CFS-[A-Z]*.*' -e 'composefs-setup-root: .*' >"$W/$name.txt" || true
	[ "$rc" != 124 ] || { tail -n 30 "$W/$name.log" >&2; fail "boot $name timed out after $TIMEOUT s"; }
	grep -q '^CFS-DONE' "$W/$name.txt" || { tail -n 40 "$W/$name.log" >&2; fail "boot $name did not finish"; }
}

failures=0
check() {
	local name=$1 c line
	shift
	for c in "$@"; do
		line=$(grep -m1 "^CFS-RESULT $c " "$W/$name.txt" || true)
		case $line in
		"CFS-RESULT $c ok"*) echo "  ok   $name/$c: ${line#"CFS-RESULT $c ok "}" ;;
		*) echo "  FAIL $name/$c: ${line:-no result}"; failures=$((failures + 1)) ;;
		esac
	done
	if grep -q '^CFS-RESULT [^ ]* FAIL' "$W/$name.txt"; then
		grep '^CFS-RESULT [^ ]* FAIL' "$W/$name.txt" | sed "s/^/  FAIL $name: /"
		failures=$((failures + 1))
	fi
}

handed_over() {
	local name=$1 want=$2 msg
	msg=$(grep -m1 '^composefs-setup-root: /sysroot is image' "$W/$name.txt" || true)
	if [[ $msg =~ $want ]]; then
		echo "  ok   $name: ${msg#composefs-setup-root: }"
	else
		echo "  FAIL $name: setup-root said \"${msg:-nothing}\", expected /$want/"
		failures=$((failures + 1))
	fi
}

refused() {
	local name=$1 pattern=$2 msg
	shift 2
	msg=$(grep -m1 '^composefs-setup-root: refusing' "$W/$name.txt" || true)
	if [ -n "$msg" ] && [[ $msg =~ $pattern ]] && ! grep -q '^CFS-INIT-UPTIME' "$W/$name.txt"; then
		echo "  ok   $name: ${msg#composefs-setup-root: }; the new root's init never ran"
	else
		echo "  FAIL $name: expected a refusal matching \"$pattern\" and no new root, got: ${msg:-none}"
		failures=$((failures + 1))
	fi
	check "$name" "$@"
}

run() {
	local name=$1
	shift
	boot_run "$name" "$@"
	echo "boot $name (${BOOT_SECS} s): $*"
}
