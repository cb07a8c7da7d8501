#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# The installed layout works: `meson install` into a DESTDIR puts mount.composefs where
# mount(8) looks (`mount -t composefs` runs it), man pages in their sections, and the
# installed programs find each other without any build-tree path.
set -eu -o pipefail

B=${CFS_BUILDDIR:?CFS_BUILDDIR must point at the build directory}
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
ok() {
	echo "ok: $*"
}
[ "$(id -u)" = 0 ] || fail "the mount checks need root"
command -v python3 >/dev/null || fail "python3 (meson's interpreter) not found"

W=$(mktemp -d "${TMPDIR:-/tmp}/cfs-install-test.XXXXXX")
MNTS=()
cleanup() {
	local m
	for m in "${MNTS[@]}"; do
		mountpoint -q "$m" 2>/dev/null && umount "$m" 2>/dev/null
		mountpoint -q "$m" 2>/dev/null && umount -l "$m" 2>/dev/null
	done
	rm -rf "$W"
}
trap cleanup EXIT
D=$W/dest

# the configured directories, as meson reports them
opt() {
	meson introspect "$B" --buildoptions |
		python3 -c 'import json,sys; print(next(o["value"] for o in json.load(sys.stdin) if o["name"] == sys.argv[1]))' "$1"
}
prefix=$(opt prefix)
bindir=$prefix/$(opt bindir)
libdir=$prefix/$(opt libdir)
includedir=$prefix/$(opt includedir)
mandir=$prefix/$(opt mandir)
libexecdir=$prefix/$(opt libexecdir)
helperdir=$(opt mount_helper_dir)
# programs linked with the library are built as the library was: same compiler, same sanitizers
sanitize=$(opt b_sanitize)
ccl=(cc)
if [ "$sanitize" != none ]; then
	# the compiler of the build (meson 1.0 has no "introspect --compilers")
	ccl=("$(awk '$1 == "rule" && $2 == "c_COMPILER" { getline; print $3; exit }' "$B/build.ninja")"
		-fsanitize="$sanitize")
fi
case $helperdir in /*) ;; *) helperdir=$prefix/$helperdir ;; esac

meson install -C "$B" --destdir "$D" --no-rebuild --quiet >"$W/install.log" 2>&1 ||
	{ cat "$W/install.log" >&2; fail "meson install"; }

for p in mkcomposefs composefs-info composefs-dump composefs composefs-fuse; do
	[ -x "$D$bindir/$p" ] || fail "$p not installed in $bindir"
done
[ -x "$D$helperdir/mount.composefs" ] || fail "mount.composefs not installed in $helperdir"
[ -x "$D$libexecdir/composefs-setup-root" ] || fail "composefs-setup-root not installed in $libexecdir"
[ "$helperdir" = /sbin ] || [ "$helperdir" = /usr/sbin ] ||
	echo "note: mount_helper_dir=$helperdir is not where mount(8) looks (/sbin)"
for m in man1/mkcomposefs.1 man1/composefs-info.1 man1/composefs-dump.1 man1/composefs-fuse.1 \
	man1/composefs.1 man5/composefs-dump.5 man8/mount.composefs.8 man8/composefs-setup-root.8; do
	[ -s "$D$mandir/$m" ] || fail "man page $m not installed in $mandir"
	man -l "$D$mandir/$m" >/dev/null 2>&1 || [ ! -x "$(command -v man)" ] || fail "man page $m does not render"
done
compdir=$(find "$D" -path '*/bash-completion/completions' -type d | head -n1)
[ -n "$compdir" ] && [ -s "$compdir/composefs" ] || fail "bash completion not installed"
for p in mkcomposefs composefs-info composefs-dump mount.composefs composefs-fuse; do
	[ "$(readlink -f "$compdir/$p")" = "$(readlink -f "$compdir/composefs")" ] || fail "no bash completion for $p"
done
ok "programs in $bindir, mount.composefs in $helperdir, man pages in sections 1, 5 and 8, bash completions"

# ---- the systemd initrd unit: where meson put it, naming the installed program, and what
# systemd-analyze verify says of it in the DESTDIR (ExecStart there, man page there) -------------
unitopt=$(opt systemdsystemunitdir)
unit=$(meson introspect "$B" --installed |
	python3 -c 'import json,sys; print(next((d for d in json.load(sys.stdin).values() if d.endswith("/composefs-setup-root.service")), ""))')
if [ "$unitopt" = no ]; then
	[ -z "$unit" ] || fail "-Dsystemdsystemunitdir=no, yet composefs-setup-root.service is installed at $unit"
	echo "note: -Dsystemdsystemunitdir=no: composefs-setup-root.service not installed"
else
	[ -n "$unit" ] && [ -s "$D$unit" ] || fail "composefs-setup-root.service not installed (systemd.pc not found? -Dsystemdsystemunitdir=DIR)"
	[ -z "$unitopt" ] || [ "$unit" = "$unitopt/composefs-setup-root.service" ] || fail "unit at $unit, not in $unitopt"
	exec=$(sed -n 's/^ExecStart=//p' "$D$unit")
	[ "$exec" = "$libexecdir/composefs-setup-root" ] || fail "the unit runs \"$exec\", not $libexecdir/composefs-setup-root"
	command -v systemd-analyze >/dev/null || fail "systemd-analyze not found (package systemd)"
	# sysroot.mount is what systemd's fstab generator writes for root= in an initrd
	mkdir -p "$D/etc/systemd/system"
	printf '[Unit]\nDescription=/sysroot\n\n[Mount]\nWhat=/dev/vda\nWhere=/sysroot\nType=ext4\n' \
		>"$D/etc/systemd/system/sysroot.mount"
	verify() {
		MANPATH=$D$mandir systemd-analyze verify --root="$D" "$1" 2>&1
	}
	out=$(verify "$D$unit") || fail "systemd-analyze verify refuses $unit: $out"
	[ -z "$out" ] || fail "systemd-analyze verify complains about $unit: $out"
	# and it does look: the same unit with a program that is not there is refused
	sed "s|^ExecStart=.*|ExecStart=$libexecdir/composefs-setup-root-missing|" "$D$unit" \
		>"$D/etc/systemd/system/cfs-broken.service"
	if out=$(verify "$D/etc/systemd/system/cfs-broken.service"); then
		fail "systemd-analyze verify accepts a unit whose ExecStart does not exist: $out"
	fi
	rm -f "$D/etc/systemd/system/cfs-broken.service" "$D/etc/systemd/system/sysroot.mount"
	ok "composefs-setup-root.service in ${unit%/*}, runs $exec, systemd-analyze verify accepts it"
fi

# ---- the library: headers, pkg-config, shared and static -------------------------------------
pc=$D$libdir/pkgconfig/composefs-c.pc
[ -s "$pc" ] || fail "composefs-c.pc not installed in $libdir/pkgconfig"
so=$(readlink -f "$D$libdir/libcomposefs-c.so")
[ -f "$so" ] && [ -f "$D$libdir/libcomposefs-c.a" ] || fail "libcomposefs-c.so/.a not installed in $libdir"
soname=$(objdump -p "$so" | awk '$1 == "SONAME" { print $2 }')
[ "$soname" = libcomposefs-c.so.0 ] || fail "soname is '$soname'"
[ "$(readlink -f "$D$libdir/libcomposefs.so.1" 2>/dev/null)" = "$so" ] && fail "libcomposefs.so.1 is the drop-in's name, not ours"
# exactly the functions the public headers declare are exported
cc -E -P -I "$D$includedir" "$D$includedir/composefs/composefs.h" | grep -oE '\bcfs_[a-z0-9_]+ *\(' |
	sed 's/ *(//' | sort -u >"$W/declared"
nm -D --defined-only "$so" | awk '{ print $3 }' | grep -v '^COMPOSEFS_C_' | sed 's/@.*//' | sort -u >"$W/exported"
diff "$W/declared" "$W/exported" >"$W/abi.diff" || { cat "$W/abi.diff" >&2; fail "exported symbols != declared API (< declared only, > exported only)"; }
# every header compiles alone, as C17 and as C++
for h in "$D$includedir"/composefs/*.h; do
	n=composefs/$(basename "$h")
	printf '#include <%s>\nint cfs_header_test_%s;\n' "$n" "$(basename "$h" .h)" >"$W/h.c"
	cc -std=c17 -Wall -Wextra -Werror -pedantic -fsyntax-only -I "$D$includedir" "$W/h.c" || fail "$n alone, C17"
	cp "$W/h.c" "$W/h.cc"
	c++ -std=c++17 -Wall -Wextra -Werror -fsyntax-only -I "$D$includedir" "$W/h.cc" || fail "$n alone, C++"
done
# a program builds against the installed library through pkg-config, shared and static
cat >"$W/prog.c" <<'PROG'
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <composefs/composefs.h>
int main(void)
{
	struct cfs_node *root = cfs_node_new(040755), *f = cfs_node_new(0100644);
	uint8_t digest[CFS_DIGEST_SIZE];
	char hex[2 * CFS_DIGEST_SIZE + 1], err[256] = "";
	struct cfs_write_opts o;

	if (root == NULL || f == NULL)
		return 1;
	cfs_node_set_size(f, 3);
	if (cfs_node_set_content(f, (const uint8_t *)"hi\n", 3) < 0 || cfs_node_add_child(root, "f", f, false) < 0)
		return 1;
	cfs_write_opts_init(&o);
	if (cfs_write_image_at(root, &o, AT_FDCWD, "prog.cfs", 0644, digest, err, sizeof(err)) < 0) {
		fprintf(stderr, "write: %s\n", err);
		return 1;
	}
	cfs_digest_to_hex(digest, sizeof(digest), hex);
	printf("%s %s\n", cfs_version(), hex);
	cfs_node_unref(root);
	return strcmp(cfs_version(), CFS_VERSION_STRING) != 0;
}
PROG
export PKG_CONFIG_PATH=$D$libdir/pkgconfig PKG_CONFIG_SYSROOT_DIR=$D
# shellcheck disable=SC2046
"${ccl[@]}" -std=c17 -Wall -Werror -o "$W/prog" "$W/prog.c" $(pkg-config --cflags --libs composefs-c) || fail "build against the shared library"
# shellcheck disable=SC2046
# (a fully static program where the C library allows it; sanitizer runtimes do not)
{ [ "$sanitize" = none ] && "${ccl[@]}" -std=c17 -Wall -Werror -static-pie -o "$W/prog-static" "$W/prog.c" $(pkg-config --cflags composefs-c) \
	"$D$libdir/libcomposefs-c.a" $(pkg-config --static --libs-only-l composefs-c | sed 's/-lcomposefs-c//') 2>"$W/static.err"; } ||
	"${ccl[@]}" -std=c17 -Wall -Werror -o "$W/prog-static" "$W/prog.c" $(pkg-config --cflags composefs-c) \
		"$D$libdir/libcomposefs-c.a" $(pkg-config --static --libs-only-l composefs-c | sed 's/-lcomposefs-c//') ||
	fail "build against the static library"
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR
export LD_LIBRARY_PATH=$D$libdir
(cd "$W" && ./prog >prog.out) || fail "the program linked with the shared library failed"
ldd "$W/prog" >"$W/prog.ldd"; grep -qF "$D$libdir/libcomposefs-c.so.0" "$W/prog.ldd" || fail "prog does not use the installed library: $(cat "$W/prog.ldd")"
(cd "$W" && ./prog-static >prog-static.out) || fail "the program linked with the static library failed"
cmp -s "$W/prog.out" "$W/prog-static.out" || fail "shared and static builds disagree"
want=$(cd "$W" && "$D$bindir/composefs-info" info prog.cfs | sed -n 's/^fs-verity-sha256: *//p')
[ -n "$want" ] && grep -q "$want" "$W/prog.out" || fail "the program's digest differs from composefs-info's"
ok "libcomposefs-c: soname, exports = public API, headers alone in C17 and C++, pkg-config shared and static"

# ---- the libcomposefs.so.1 drop-in (-Dlibcomposefs=true): headers, pkg-config composefs -----
if [ "$(opt libcomposefs)" = True ]; then # meson reports the boolean through python
	lso=$(readlink -f "$D$libdir/libcomposefs.so")
	[ -f "$lso" ] || fail "libcomposefs.so not installed in $libdir"
	[ "$(objdump -p "$lso" | awk '$1 == "SONAME" { print $2 }')" = libcomposefs.so.1 ] || fail "drop-in soname"
	nm -D --defined-only "$lso" | awk '{ print $3 }' | sort >"$W/lcfs-exported"
	diff "$CFS_SRCDIR/tests/assets/lcfs-symbols.txt" "$W/lcfs-exported" >&2 || fail "drop-in exports != tests/assets/lcfs-symbols.txt"
	for h in lcfs-writer.h lcfs-mount.h lcfs-erofs.h; do
		[ -s "$D$includedir/libcomposefs/$h" ] || fail "libcomposefs/$h not installed"
		printf '#include <libcomposefs/%s>\nint lcfs_header_test;\n' "$h" >"$W/lh.c"
		cc -std=c17 -Wall -Wextra -Werror -fsyntax-only -I "$D$includedir" "$W/lh.c" || fail "libcomposefs/$h alone, C17"
		cp "$W/lh.c" "$W/lh.cc"
		c++ -std=c++17 -Wall -Wextra -Werror -fsyntax-only -I "$D$includedir" "$W/lh.cc" || fail "libcomposefs/$h alone, C++"
	done
	cat >"$W/lprog.c" <<'PROG'
#define _DEFAULT_SOURCE /* S_IF* under -std=c17 */
#include <stdio.h>
#include <sys/stat.h>
#include <libcomposefs/lcfs-writer.h>
static ssize_t out(void *f, void *buf, size_t n) { return (ssize_t)fwrite(buf, 1, n, f); }
int main(void)
{
	struct lcfs_node_s *root = lcfs_node_new(), *f = lcfs_node_new();
	struct lcfs_write_options_s o = { .format = LCFS_FORMAT_EROFS, .max_version = 1 };
	uint8_t d[LCFS_DIGEST_SIZE];
	FILE *img = fopen("lprog.cfs", "w");
	lcfs_node_set_mode(root, S_IFDIR | 0755);
	lcfs_node_set_mode(f, S_IFREG | 0644);
	if (!img || lcfs_node_set_content(f, (const uint8_t *)"hello\n", 6) < 0 ||
	    lcfs_node_add_child(root, f, "hello") < 0)
		return 1;
	o.file = img;
	o.file_write_cb = out;
	o.digest_out = d;
	if (lcfs_write_to(root, &o) < 0 || fclose(img) != 0)
		return 1;
	for (int i = 0; i < LCFS_DIGEST_SIZE; i++)
		printf("%02x", d[i]);
	printf("\n");
	lcfs_node_unref(root);
	return 0;
}
PROG
	"${ccl[@]}" -std=c17 -Wall -Werror -o "$W/lprog" "$W/lprog.c" $(PKG_CONFIG_PATH=$D$libdir/pkgconfig PKG_CONFIG_SYSROOT_DIR=$D pkg-config --cflags --libs composefs) || fail "build against pkg-config composefs"
	(cd "$W" && ./lprog >lprog.out) || fail "the program linked with the drop-in failed"
	deps=$(ldd "$W/lprog") # grep -q would end ldd early: SIGPIPE under pipefail
	grep -qF "$D$libdir/libcomposefs.so.1" <<<"$deps" || fail "lprog does not use the installed drop-in: $deps"
	want=$(cd "$W" && "$D$bindir/composefs-info" info lprog.cfs | sed -n 's/^fs-verity-sha256: *//p')
	[ -n "$want" ] && [ "$(cat "$W/lprog.out")" = "$want" ] || fail "the drop-in's digest differs from composefs-info's"
	ok "libcomposefs.so.1 drop-in: soname, exports, headers alone in C17 and C++, pkg-config composefs"
fi

# no installed program refers to the build tree (debug info aside: it names the compile dir)
for f in "$D$bindir"/* "$D$helperdir/mount.composefs" "$D$libexecdir/composefs-setup-root"; do
	objcopy --strip-debug "$f" "$W/stripped"
	if grep -qaF "$B" "$W/stripped"; then
		fail "$(basename "$f") mentions the build tree $B: $(grep -aoF "$B" "$W/stripped" | head -n1)"
	fi
	grep -qaF "$(cd "$B/.." && pwd)" "$W/stripped" && fail "$(basename "$f") mentions the source tree"
done
ok "no build-tree or source-tree path in the installed programs"

# ---- the installed programs at work ------------------------------------------------------
mkdir -p "$W/src/d" "$W/m" "$W/f"
printf 'installed\n' >"$W/src/d/file"
head -c 100000 /dev/urandom >"$W/src/big"
R=$W/repo
run() { # an installed program, with nothing of the build tree in its environment
	env -u COMPOSEFS_FUSE -u CFS_BUILDDIR PATH=/usr/sbin:/usr/bin:/sbin:/bin "$D$bindir/$@"
}
run composefs --repo "$R" init >/dev/null
digest=$(run composefs --repo "$R" create-image "$W/src" sample)
[ ${#digest} = 64 ] || fail "create-image printed '$digest'"

# composefs mount --fuse runs the composefs-fuse installed beside it
MNTS+=("$W/f")
run composefs --repo "$R" mount sample "$W/f" --fuse || fail "installed composefs mount --fuse"
findmnt -n -o FSTYPE "$W/f" | grep "^fuse" >/dev/null || fail "not a FUSE mount"
cmp "$W/src/big" "$W/f/big" || fail "FUSE mount: content differs"
daemon=""
for p in $(pgrep -x composefs-fuse); do
	exe=$(readlink "/proc/$p/exe" || true)
	[ "$exe" = "$D$bindir/composefs-fuse" ] && daemon=$exe
done
[ -n "$daemon" ] || fail "the FUSE daemon is not the installed composefs-fuse"
umount "$W/f"
ok "installed composefs mount --fuse runs the installed composefs-fuse"

# mount -t composefs finds the installed helper: in a private mount namespace, the helper
# directory is overlaid with DESTDIR's copy (the host's /sbin is left alone)
target=$(readlink -f "$helperdir")
MNTS+=("$W/m")
# A dynamically linked helper (sanitizer builds) needs the library where the loader looks,
# since mount(8) drops LD_LIBRARY_PATH: the system library directory gets the same overlay.
syslib=$(readlink -f /usr/lib/x86_64-linux-gnu 2>/dev/null || echo /usr/lib)
needlib=""
grep -q 'libcomposefs-c' <<<"$(ldd "$D$helperdir/mount.composefs" 2>&1 || true)" && needlib="$D$libdir"
unshare -m --propagation private sh -euc '
	mount -t overlay cfs-install -o "lowerdir=$1:$2" "$2"
	[ -z "$7" ] || mount -t overlay cfs-install-lib -o "lowerdir=$7:$8" "$8"
	mount -t composefs -o "basedir=$3/objects" "$3/images/$4" "$5"
	cmp "$6/big" "$5/big"
	grep -qx installed "$5/d/file"
	findmnt -n -o FSTYPE,SOURCE "$5" | grep -q "^overlay *composefs$"
	umount "$5"' sh "$D$helperdir" "$target" "$R" "$digest" "$W/m" "$W/src" "$needlib" "$syslib" ||
	fail "mount -t composefs with the installed helper"
ok "mount -t composefs runs the installed mount.composefs"
