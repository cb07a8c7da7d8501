#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Shared code of the VM tests (sourced, not run): host checks, the kernel, the initramfs.
#
# The sourcing script sets B (build directory) and HERE (tests/vm) first; this
# file sets CACHE and TIMEOUT from CFS_VM_CACHE / CFS_VM_TIMEOUT and defines:
#   skip MSG / fail MSG            exit 77 / exit 1
#   vm_check_host TOOL...          qemu, amd64, root, host packages; each build-relative TOOL built
#   vm_kernel                      KERNEL, KVER, MODDIR (fetched into CACHE on first use)
#   vm_workdir PREFIX              W, removed at exit unless CFS_VM_KEEP is set
#   vm_initramfs INIT TOOLS -- HOSTBINS -- MODULES
#                                  $W/initramfs.cpio: busybox, TOOLS (build-relative) and
#                                  HOSTBINS into /cfs with their libraries, MODULES with
#                                  dependencies (load order in /modules/order), INIT as /init
#   vm_console                     $W/console.txt: the CFS-* lines of $W/console.log

CACHE=${CFS_VM_CACHE:-/var/cache/composefs-c-vm}
TIMEOUT=${CFS_VM_TIMEOUT:-900}

# set -e ends a script silently: say where (also inside these functions)
set -E
trap 'echo "FAIL: ${BASH_SOURCE[0]##*/} line $LINENO: \"$BASH_COMMAND\" failed" >&2' ERR

skip() {
	echo "SKIP: $*"
	exit 77
}
fail() {
	echo "FAIL: $*" >&2
	exit 1
}

vm_check_host() {
	local t
	QEMU=$(command -v qemu-system-x86_64) || skip "qemu-system-x86_64 not installed (apt-get install qemu-system-x86)"
	"$QEMU" --version >/dev/null 2>&1 || skip "qemu-system-x86_64 does not run"
	[ "$(uname -m)" = x86_64 ] || skip "the VM test uses an amd64 kernel"
	[ "$(id -u)" = 0 ] || skip "building the guest tree (devices, xattrs) needs root"
	for t in busybox mkfs.ext4 cpio xz; do
		command -v "$t" >/dev/null || fail "$t not installed (packages: busybox-static e2fsprogs cpio xz-utils)"
	done
	for t in "$@"; do
		[ -x "$B/$t" ] || fail "$B/$t not built"
	done
}

# ---- the kernel --------------------------------------------------------------
vm_find_kernel() { # newest cached kernel, or nothing (never fails: the cache may be empty)
	local k
	for k in "$CACHE"/kern/boot/vmlinuz-6.12.*-cloud-amd64; do
		if [ -f "$k" ]; then printf '%s\n' "$k"; fi
	done | sort -V | tail -n 1
}

vm_kernel() {
	local pkg lockfd
	mkdir -p "$CACHE"
	# VM tests run side by side: one fetches, the others wait for it (and the unpacked tree
	# appears under kern/ in one rename, so nobody sees half of it)
	exec {lockfd}>"$CACHE/.lock"
	flock "$lockfd"
	KERNEL=$(vm_find_kernel)
	if [ -z "$KERNEL" ]; then
		command -v apt-get >/dev/null || skip "no kernel in $CACHE and no apt-get to fetch one"
		# a package list older than the newest security kernel names a file the mirror no longer has
		apt-get update -qq >/dev/null 2>&1 || echo "warning: apt-get update failed; using the package lists as they are" >&2
		pkg=$(apt-cache search --names-only '^linux-image-6\.12\.[0-9]+\+deb12-cloud-amd64-unsigned$' 2>/dev/null |
			awk '{print $1}' | sort -V | tail -n 1)
		[ -n "$pkg" ] || skip "no linux-image-6.12.*-cloud-amd64-unsigned package known to apt (bookworm-security needed)"
		echo "fetching $pkg into $CACHE"
		rm -rf "$CACHE/kern.tmp"
		# apt-get download drops privileges to _apt where it can; a cache it cannot write into
		# (a build tree under /root) only earns a warning, so keep that off the log
		(cd "$CACHE" && apt-get download "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2;
			dpkg -x "$pkg"_*.deb kern.tmp && rm -rf kern && mv kern.tmp kern) ||
			skip "cannot download or unpack $pkg"
		KERNEL=$(vm_find_kernel)
		[ -n "$KERNEL" ] || fail "no vmlinuz in $pkg"
	fi
	exec {lockfd}>&-
	KVER=${KERNEL##*/vmlinuz-}
	MODDIR=$CACHE/kern/lib/modules/$KVER
	[ -d "$MODDIR" ] || fail "no modules for $KVER in $CACHE"
}

vm_workdir() {
	W=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
	if [ -z "${CFS_VM_KEEP:-}" ]; then
		trap 'rm -rf "$W"' EXIT
	else
		echo "work directory: $W"
	fi
}

# ---- initramfs: busybox, our tools with their libraries, modules --------------
vm_copy_with_libs() {
	local src=$1 dst=$2 lib
	cp -L "$src" "$dst"
	# "name => /path (0x...)" and "/path (0x...)" lines; paths may hold spaces
	while IFS= read -r lib; do
		case $lib in
		/lib/* | /lib64/* | /usr/lib/*) ;;
		*) # our own library from the build tree: where the guest's loader looks by default
			[ -e "$R/lib/${lib##*/}" ] || cp -L "$lib" "$R/lib/${lib##*/}"
			continue ;;
		esac
		[ -e "$R$lib" ] && continue
		mkdir -p "$R$(dirname "$lib")"
		cp -L "$lib" "$R$lib"
	done < <({ ldd "$src" 2>/dev/null || true; } | sed -n -e 's/^.*=> \(\/.*\) (0x[0-9a-f]*)$/\1/p' -e 's/^[[:space:]]*\(\/.*\) (0x[0-9a-f]*)$/\1/p')
}

# Modules the guest needs, dependencies first (read from each module's .modinfo).
vm_add_module() {
	local name=$1 f dep
	[ -n "${vm_loaded[$name]:-}" ] && return 0
	vm_loaded[$name]=1
	f=$(find "$MODDIR/kernel" -name "$name.ko*" -print -quit)
	if [ -z "$f" ]; then
		f=$(find "$MODDIR/kernel" -name "${name//_/-}.ko*" -print -quit)
	fi
	[ -n "$f" ] || return 0 # built in
	case $f in
	*.xz) xz -dc "$f" >"$R/modules/$name.ko" ;;
	*) cp "$f" "$R/modules/$name.ko" ;;
	esac
	for dep in $(tr '\0' '\n' <"$R/modules/$name.ko" | sed -n 's/^depends=//p' | tr ',' ' '); do
		vm_add_module "$dep"
	done
	vm_order+=("$name")
}

vm_initramfs() {
	local init=$1 t
	shift
	R=$W/root
	mkdir -p "$R"/{bin,cfs,dev,proc,sys,tmp,modules,lib,lib64}
	vm_copy_with_libs "$(command -v busybox)" "$R/bin/busybox"
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		vm_copy_with_libs "$B/$1" "$R/cfs/"
		shift
	done
	[ $# -gt 0 ] && shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		vm_copy_with_libs "$1" "$R/cfs/${1##*/}"
		shift
	done
	[ $# -gt 0 ] && shift
	declare -gA vm_loaded=()
	vm_order=()
	for t in "$@"; do
		vm_add_module "$t"
	done
	printf '%s\n' "${vm_order[@]}" >"$R/modules/order"
	cp "$init" "$R/init"
	chmod 755 "$R/init"
	(cd "$R" && find . | cpio -o -H newc --quiet) >"$W/initramfs.cpio"
}

# Keep only our lines, whatever terminal noise precedes them on the same line.
vm_console() {
	tr -d '\r' <"$W/console.log" | grep -ao 'CFS-[A-Z]*.*' >"$W/console.txt" || true
}
