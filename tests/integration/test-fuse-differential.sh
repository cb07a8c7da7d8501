#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# composefs-fuse against the kernel on hostile images: for every mutated image
# both mount, each regular file the kernel shows is read through both, and the
# daemon must return exactly the kernel's bytes or fail with EIO.
#
# Bounded: CFS_FUSE_HOSTILE_COUNT mutations (default 140, 16 in sanitizer
# builds) and CFS_FUSE_HOSTILE_SECONDS of wall time (default 300) for all;
# CFS_FUSE_HOSTILE_KEEP=DIR keeps the image of a failure.
# shellcheck source=test-fuse-lib.sh
. "$(dirname "$0")/test-fuse-lib.sh"

MUT=$CFS_BUILDDIR/tests/tools/image-mutate
[ -x "$MUT" ] || fail "tests/tools/image-mutate not built"
command -v python3 >/dev/null || fail "needs python3"
if [ -n "${CFS_SANITIZER_EXITCODE:-}" ]; then default_count=16; else default_count=140; fi
COUNT=${CFS_FUSE_HOSTILE_COUNT:-$default_count}
SECONDS_MAX=${CFS_FUSE_HOSTILE_SECONDS:-300}

# compare.py KERNEL FUSE: walk the kernel's view; for each regular file read
# both sides. Prints one line per violation; the summary on the last line.
cat >"$W/compare.py" <<'PY'
import errno, os, stat, sys

kroot, froot = sys.argv[1], sys.argv[2]
files = same = fuse_eio = kernel_only_err = 0
bad = []

CHUNK = 1 << 20
LIMIT = 16 << 20

def walk(rel, depth):
    global files, same, fuse_eio, kernel_only_err
    if depth > 64:
        return
    try:
        names = sorted(os.listdir(os.path.join(kroot, rel)))
    except OSError:
        return
    for name in names:
        r = os.path.join(rel, name)
        try:
            st = os.lstat(os.path.join(kroot, r))
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            walk(r, depth + 1)
            continue
        if not stat.S_ISREG(st.st_mode):
            continue
        files += 1
        kerr = ferr = None
        pos, diff = 0, None
        try:
            kf = open(os.path.join(kroot, r), "rb")
        except OSError as e:
            kf, kerr = None, e.errno
        try:
            ff = open(os.path.join(froot, r), "rb")
        except OSError as e:
            ff, ferr = None, e.errno
        # lockstep in chunks, at most LIMIT bytes: a mutated size may be huge
        while kf is not None and ff is not None and pos < LIMIT and diff is None:
            try:
                kb = kf.read(CHUNK)
            except OSError as e:
                kerr = e.errno
                break
            try:
                fb = ff.read(CHUNK)
            except OSError as e:
                ferr = e.errno
                break
            if kb != fb:
                n = min(len(kb), len(fb))
                diff = pos + next((i for i in range(n) if kb[i] != fb[i]), n)
            if not kb and not fb:
                break
            pos += len(kb)
        for f in (kf, ff):
            if f is not None:
                f.close()
        if ferr is not None:
            if ferr == errno.EIO:
                fuse_eio += 1
            else:
                bad.append("%s: FUSE failed with %s, not EIO (kernel: %s)" %
                           (r, errno.errorcode.get(ferr, ferr),
                            errno.errorcode.get(kerr, kerr) if kerr is not None else "readable"))
        elif kerr is not None:
            # the daemon served what the kernel refused: nothing to compare with
            kernel_only_err += 1
        elif diff is not None:
            bad.append("%s: FUSE and kernel bytes differ at offset %d" % (r, diff))
        else:
            same += 1

walk("", 0)
for b in bad:
    print("MISMATCH " + b)
print("files=%d same=%d fuse_eio=%d kernel_only_err=%d bad=%d" %
      (files, same, fuse_eio, kernel_only_err, len(bad)))
PY

# try_kernel_mount IMAGE DIR: like kernel_mount, but a refusal is an answer, not a failure
try_kernel_mount() {
	local img=$1 dir=$2
	mkdir -p "$dir.erofs" "$dir"
	timeout 20 mount -t erofs -o ro,loop "$img" "$dir.erofs" 2>/dev/null || return 1
	MOUNTS+=("$dir.erofs")
	if ! timeout 20 mount -t overlay overlay -o "ro,lowerdir=$dir.erofs::$W/objs,redirect_dir=on,metacopy=on" "$dir" 2>/dev/null; then
		umount "$dir.erofs"
		return 1
	fi
	MOUNTS+=("$dir")
}

# try_fuse_mount IMAGE DIR LOG: 0 mounted, 1 refused with exit 1; anything else fails the test
try_fuse_mount() {
	local img=$1 dir=$2 log=$3 pid t rc
	mkdir -p "$dir"
	"$FUSE" -f -o "source=$img,basedir=$W/objs" "$dir" 2>"$log" &
	pid=$!
	for ((t = 0; t < 200; t++)); do
		if mountpoint -q "$dir"; then
			MOUNTS+=("$dir")
			FUSE_PID[$dir]=$pid
			FUSE_LOG[$dir]=$log
			return 0
		fi
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	rc=0
	wait "$pid" || rc=$?
	! sanitizer_report "$log" "$rc" || { cat "$log" >&2; fail "$(basename "$img"): sanitizer report"; }
	[ "$rc" = 1 ] || { cat "$log" >&2; fail "$(basename "$img"): daemon exited with status $rc before mounting"; }
	return 1
}

# The tree: inline and external files, sizes around the block size, a
# hard link, a symlink, a device, an xattr, a directory of many entries.
mkdir -p "$W/src/d/e"
printf 'hello\n' >"$W/src/inline"
rand_file "$W/src/d/ext" 100000
rand_file "$W/src/d/block" 4096
rand_file "$W/src/d/odd" 4097
rand_file "$W/src/big" 300000
for i in $(seq 1 40); do printf '%s\n' "$i" >"$W/src/d/e/f$i"; rand_file "$W/src/d/e/x$i" $((i * 100 + 65)); done
ln -s inline "$W/src/link"
mknod "$W/src/dev" c 1 3
setfattr -n user.a -v b "$W/src/d"
ln "$W/src/d/ext" "$W/src/hl"
"$MKCFS" --digest-store="$W/objs" "$W/src" "$W/img.cfs"

mkdir -p "$W/mut"
"$MUT" 11 "$COUNT" "$W/img.cfs" "$W/mut" >/dev/null

# the unmutated image first: both sides must serve every file, identically
try_kernel_mount "$W/img.cfs" "$W/k0" || fail "the kernel does not mount the unmutated image"
try_fuse_mount "$W/img.cfs" "$W/f0" "$W/log0" || fail "composefs-fuse does not mount the unmutated image: $(cat "$W/log0")"
timeout 60 python3 "$W/compare.py" "$W/k0" "$W/f0" >"$W/res" || fail "compare of the unmutated image: exit $?"
summary=$(tail -n1 "$W/res")
case $summary in
"files="*" same="*" fuse_eio=0 kernel_only_err=0 bad=0") ;;
*) cat "$W/res" >&2; fail "unmutated image: $summary" ;;
esac
n0=${summary#files=}
n0=${n0%% *}
[ "$n0" -ge 80 ] || fail "unmutated image: only $n0 files compared"
fuse_umount "$W/f0"
kernel_umount "$W/k0"
ok "unmutated image: $n0 files read through the kernel and composefs-fuse, all identical"

start=$(date +%s)
n=0 kernel_refused=0 fuse_refused=0 compared=0 files=0 same=0 eio=0 konly=0
for img in "$W"/mut/*.img; do
	if (($(date +%s) - start > SECONDS_MAX)); then
		echo "time budget of ${SECONDS_MAX}s used up after $n images"
		break
	fi
	n=$((n + 1))
	name=$(basename "$img" .img)
	if ! try_kernel_mount "$img" "$W/k$n"; then
		kernel_refused=$((kernel_refused + 1))
		continue
	fi
	if ! try_fuse_mount "$img" "$W/f$n" "$W/log$n"; then
		fuse_refused=$((fuse_refused + 1))
		kernel_umount "$W/k$n"
		continue
	fi
	rc=0
	timeout 60 python3 "$W/compare.py" "$W/k$n" "$W/f$n" >"$W/res" || rc=$?
	[ "$rc" = 0 ] || { cat "${FUSE_LOG[$W/f$n]}" >&2; fail "$name: the comparison did not finish (exit $rc: a hang?)"; }
	kill -0 "${FUSE_PID[$W/f$n]}" 2>/dev/null || { cat "$W/log$n" >&2; fail "$name: daemon died"; }
	if grep -q '^MISMATCH ' "$W/res"; then
		grep '^MISMATCH ' "$W/res" | head -n 5 >&2
		# CFS_FUSE_HOSTILE_KEEP=DIR keeps the image and its objects for a closer look
		[ -z "${CFS_FUSE_HOSTILE_KEEP:-}" ] || { mkdir -p "$CFS_FUSE_HOSTILE_KEEP"; cp -a "$img" "$W/img.cfs" "$W/objs" "$W/log$n" "$CFS_FUSE_HOSTILE_KEEP/"; }
		fail "$name: composefs-fuse served bytes that differ from the kernel's, or an error other than EIO"
	fi
	read -r f s e k _ < <(tail -n1 "$W/res" | sed 's/[a-z_]*=//g')
	files=$((files + f)) same=$((same + s)) eio=$((eio + e)) konly=$((konly + k))
	compared=$((compared + 1))
	fuse_umount "$W/f$n"
	kernel_umount "$W/k$n"
done
[ "$compared" -gt 0 ] || fail "no mutated image was mounted by both; nothing compared ($n tried)"
ok "$n mutated images: $kernel_refused refused by the kernel, $fuse_refused by composefs-fuse only, $compared compared:" \
	"$files files, $same identical, $eio EIO from composefs-fuse, $konly readable only through composefs-fuse"
echo PASS
