#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# composefs-fuse against hostile images and basedirs (issue 10): no byte that was
# not verified, no hang on odd object types.
# shellcheck source=test-fuse-lib.sh
. "$(dirname "$0")/test-fuse-lib.sh"
VDIGEST=$CFS_BUILDDIR/tests/tools/verity-digest

# obj_digest FILE: its fs-verity sha256 digest in hex.
obj_digest() { "$VDIGEST" "$1" | sed 's/^sha256:\([0-9a-f]*\) .*/\1/'; }

# ---- the image's file size must equal the object's size, or the read fails ----
head -c 91 /dev/urandom >"$W/obj91"
d=$(obj_digest "$W/obj91")
mkdir -p "$W/objs/${d:0:2}"
cp "$W/obj91" "$W/objs/${d:0:2}/${d:2}"
{
	echo "/ 0 40755 2 0 0 0 0.0 - - -"
	echo "/bigger 16777307 100644 1 0 0 0 0.0 ${d:0:2}/${d:2} - $d"
	echo "/smaller 50 100644 1 0 0 0 0.0 ${d:0:2}/${d:2} - $d"
	echo "/exact 91 100644 1 0 0 0 0.0 ${d:0:2}/${d:2} - $d"
	echo "/bigger-nodigest 16777307 100644 1 0 0 0 0.0 ${d:0:2}/${d:2} - -"
} >"$W/size.dump"
"$MKCFS" --from-file "$W/size.dump" "$W/size.img"
for mode in on off; do
	for i in $(seq 1 20); do
		fuse_mount "$W/m" "$W/log-size" "source=$W/size.img,basedir=$W/objs,verity=$mode"
		cmp -s "$W/m/exact" "$W/obj91" || fail "verity=$mode: the matching file reads wrong"
		for f in bigger smaller bigger-nodigest; do
			if cat "$W/m/$f" >"$W/out" 2>"$W/err"; then
				fail "verity=$mode, mount $i: /$f (size differs from its object) read $(stat -c %s "$W/out") bytes without error"
			fi
			grep -q 'Input/output error' "$W/err" || fail "/$f: expected EIO, got $(cat "$W/err")"
		done
		fuse_umount "$W/m"
	done
done
grep -q 'size differs' "$W/log-size" || fail "the size mismatch was not logged: $(cat "$W/log-size")"
ok "an image size different from the object's size is EIO on every read (20 mounts, verity on and off)"

# ---- a FIFO in the basedir: EIO at once, workers stay free for other files ----
mkdir -p "$W/fobjs/${d:0:2}"
cp "$W/obj91" "$W/fobjs/${d:0:2}/${d:2}"
{
	echo "/ 0 40755 2 0 0 0 0.0 - - -"
	for i in 1 2 3 4 5 6; do
		mkdir -p "$W/fobjs/ff"
		mkfifo "$W/fobjs/ff/fifo$i"
		echo "/fifo$i 100 100644 1 0 0 0 0.0 ff/fifo$i - -"
	done
	echo "/good 91 100644 1 0 0 0 0.0 ${d:0:2}/${d:2} - $d"
} >"$W/fifo.dump"
"$MKCFS" --from-file "$W/fifo.dump" "$W/fifo.img"
fuse_mount "$W/fm" "$W/log-fifo" "source=$W/fifo.img,basedir=$W/fobjs,workers=2"
for i in 1 2 3 4 5 6; do
	rc=0; timeout -k 2 10 cat "$W/fm/fifo$i" >/dev/null 2>"$W/err" || rc=$?
	[ "$rc" != 124 ] && [ "$rc" != 137 ] || fail "reading a file backed by a FIFO hung"
	grep -q 'Input/output error' "$W/err" || fail "FIFO-backed file: expected EIO, got rc $rc $(cat "$W/err")"
done
timeout -k 2 10 cmp "$W/fm/good" "$W/obj91" || fail "a regular file after the FIFOs: not served"
fuse_umount "$W/fm"
grep -q 'not a regular file' "$W/log-fifo" || fail "FIFO not logged: $(cat "$W/log-fifo")"
ok "objects that are FIFOs fail with EIO at once; the daemon keeps serving other files"
