#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# composefs-setup-root on the host, in a private mount namespace, with a tmpfs as the "real root"
# (no fs-verity there): good setups of /, /etc and /var, a signature, and refusals that must
# leave the mount table exactly as it was. The boot itself is tested in a VM (vm-boot).
set -eu -o pipefail

B=${CFS_BUILDDIR:?CFS_BUILDDIR must point at the build directory}
SR=$B/tools/composefs-setup-root/composefs-setup-root
CFS=$B/tools/composefs/composefs
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
ok() {
	echo "ok: $*"
}
[ "$(id -u)" = 0 ] || fail "needs root (mounts)"
for t in "$SR" "$CFS"; do
	[ -x "$t" ] || fail "$t not built"
done
if [ -z "${CFS_SETUP_ROOT_NS:-}" ]; then
	# everything mounted below goes away with the namespace
	CFS_SETUP_ROOT_NS=1 exec unshare -m --propagation private "$0" "$@"
fi

W=$(mktemp -d "${TMPDIR:-/tmp}/cfs-setup-root-test.XXXXXX")
trap 'umount -R -l "$W/sysroot" 2>/dev/null; rm -rf "$W"' EXIT
R=$W/sysroot
mkdir -p "$R" "$W/tree"/{etc,var,sysroot,usr/bin}
mount -t tmpfs real-root "$R"
echo image >"$W/tree/etc/hostname"
head -c 150000 /dev/urandom >"$W/tree/usr/bin/data"
"$CFS" --repo "$R/composefs" init >/dev/null
D=$("$CFS" --repo "$R/composefs" create-image "$W/tree" os | tail -n 1)
for k in A B; do
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/$k.key" \
		-out "$W/$k.pem" -subj "/CN=setup-root test $k" -days 2 2>/dev/null
done
"$CFS" --repo "$R/composefs" sign "$D" --key "$W/B.key" --cert "$W/B.pem" >/dev/null
printf '[composefs]\nsignature = "required"\ntrust = "%s"\n' "$W/A.pem" >"$W/signed-a.conf"
printf '[composefs]\nsignature = "required"\ntrust = "%s"\n' "$W/B.pem" >"$W/signed-b.conf"
printf '[composefs]\nverity = "require"\n' >"$W/verity.conf"
printf '[composefs]\nsignatur = "required"\n' >"$W/typo.conf"
: >"$W/default.conf"

mounts() {
	cut -d' ' -f1-10 /proc/self/mountinfo
}
before=$(mounts)
refuse() { # NAME PATTERN ARGS...: exit 1 with PATTERN in the message, mounts untouched
	local name=$1 pattern=$2 rc=0
	shift 2
	"$SR" --sysroot "$R" "$@" >"$W/out" 2>&1 || rc=$?
	[ "$rc" = 1 ] || fail "$name: exit $rc, expected 1: $(cat "$W/out")"
	grep -qE "$pattern" "$W/out" || fail "$name: expected /$pattern/, got: $(cat "$W/out")"
	[ "$(mounts)" = "$before" ] || fail "$name: the mount table changed: $(diff <(echo "$before") <(mounts))"
	ok "$name refused, nothing mounted: $(head -n 1 "$W/out")"
}
wrong=$(echo "$D" | tr '0-9a-f' '1-9a-f0')
refuse wrong-digest "image $wrong is not in the repository" --config "$W/default.conf" --cmdline "composefs=$wrong"
refuse no-parameter "no composefs= or composefs.digest=" --config "$W/default.conf" --cmdline "root=/dev/vda"
refuse config-typo "line 2: unknown key \"signatur\"" --config "$W/typo.conf" --cmdline "composefs=$D"
refuse no-verity "fs-verity is required but the repository's file system does not support it" \
	--config "$W/verity.conf" --cmdline "composefs=$D"
refuse foreign-signature "none of the 1 of image $D is acceptable" --config "$W/signed-a.conf" --cmdline "composefs=$D"
mkdir -p "$R/state/deploy/$D/etc"
echo file >"$R/state/deploy/$D/etc/upper"
refuse broken-state "overlay on $R/etc .*is not a directory" --config "$W/default.conf" --cmdline "composefs=$D"
rm "$R/state/deploy/$D/etc/upper"

# ---- good: signed by B, no fs-verity on tmpfs (said so), /etc overlay, /var bind -------------
"$SR" --sysroot "$R" --config "$W/signed-b.conf" --cmdline "quiet composefs.digest=v1-sha256-12:$D" >"$W/out" 2>&1 ||
	fail "setup failed: $(cat "$W/out")"
grep -q "warning: no fs-verity on the repository's file system" "$W/out" || fail "no warning about fs-verity: $(cat "$W/out")"
grep -q "$R is image $D (no fs-verity, signed by CN=setup-root test B; /etc overlay, /var bind)" "$W/out" ||
	fail "unexpected report: $(cat "$W/out")"
cmp -s "$R/usr/bin/data" "$W/tree/usr/bin/data" || fail "image content differs"
[ "$(cat "$R/etc/hostname")" = image ] || fail "/etc does not show the image's files"
echo changed >"$R/etc/hostname" || fail "/etc not writable"
echo v >"$R/var/written" || fail "/var not writable"
touch "$R/usr/x" 2>/dev/null && fail "/usr is writable"
[ -d "$R/sysroot/composefs/objects" ] || fail "the real root is not at $R/sysroot"
[ "$(cat "$R/sysroot/state/deploy/$D/etc/upper/hostname")" = changed ] || fail "/etc change not in the state directory"
[ -f "$R/sysroot/state/deploy/$D/var/written" ] || fail "/var is not the state directory"
ok "setup: image at $R, real root at $R/sysroot, /etc changes and /var in state/deploy/$D"
# the way back, as the tool's undo does it: one detach of the top
umount -l "$R"
[ "$(mounts)" = "$before" ] || fail "detaching the new root left mounts: $(diff <(echo "$before") <(mounts))"
"$SR" --sysroot "$R" --config "$W/default.conf" --cmdline "composefs=$D" >"$W/out" 2>&1 || fail "second setup: $(cat "$W/out")"
[ "$(cat "$R/etc/hostname")" = changed ] || fail "/etc change did not survive"
umount -l "$R"
ok "a second setup finds the /etc change"
