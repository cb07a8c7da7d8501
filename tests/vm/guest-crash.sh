#!/bin/busybox sh
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# /init of the power-cut VM test: check the repository a cut left behind, then write to it until killed.
#
# Driven by test-vm-crash.sh through the kernel command line:
#   cfs_boot=N      boot number; 0 creates the repository
#   cfs_seed=S      seed of the generated trees
#   cfs_count=C     entries per generated tree
#   cfs_expect=L    names whose last change the guest reported finished before the
#                   cut, as NAME:DIGEST or NAME:- (absent), comma-separated; NAME:?
#                   for the name the interrupted command was changing (either value)
#   cfs_final=1     check only, then power off
# Checks print "CFS-RESULT <name>-<boot> ok|FAIL <detail>". The workload prints
# "CFS-OP begin|end ID OP NAME [DIGEST rc=N]" around every repository command, so
# the host knows what ran when it cut the power. The disk /dev/vda (ext4) persists.

export PATH=/bin:/cfs
/bin/busybox --install -s /bin 2>/dev/null

R=/disk/repo

result() {
	echo "CFS-RESULT $1-$BOOT $2 ${3:-}"
}
finish() {
	echo "CFS-DONE"
	sync
	poweroff -f
	sleep 10
}
arg() {
	tr ' ' '\n' </proc/cmdline | sed -n "s/^$1=//p" | tail -n 1
}

mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs tmp /tmp
BOOT=$(arg cfs_boot)
SEED=$(arg cfs_seed)
COUNT=$(arg cfs_count)
EXPECT=$(arg cfs_expect)
FINAL=$(arg cfs_final)
echo "CFS-KERNEL $(uname -r) booted in $(cut -d" " -f1 /proc/uptime) s (boot $BOOT)"
for m in $(cat /modules/order); do
	insmod "/modules/$m.ko" || result "insmod-$m" FAIL
done

# Keep dirty data in memory as long as the kernel allows: only what the
# library syncs explicitly reaches the disk before the power is cut.
# commit=600: the journal commits only when fsync/syncfs asks (or 10 min pass);
# noauto_da_alloc: no implicit flush when a file is renamed over another.
echo 0 >/proc/sys/vm/dirty_writeback_centisecs
echo 360000 >/proc/sys/vm/dirty_expire_centisecs
echo 80 >/proc/sys/vm/dirty_background_ratio
echo 90 >/proc/sys/vm/dirty_ratio
mkdir -p /disk
if ! mount -t ext4 -o commit=600,noauto_da_alloc /dev/vda /disk; then
	result disk FAIL "cannot mount /dev/vda"
	finish
fi

# op ID OP NAME CMD...: run a repository command between begin/end markers
OPOUT=
op() {
	local id=$1 what=$2 name=$3 rc=0 d
	shift 3
	echo "CFS-OP begin $id $what $name"
	OPOUT=$("$@" 2>/tmp/op.err) || rc=$?
	d=${OPDIGEST:-$OPOUT}
	case $d in
	*[!0-9a-f]* | "") d=- ;;
	esac
	[ ${#d} = 64 ] || d=-
	echo "CFS-OP end $id $what $name $d rc=$rc"
	OPDIGEST=
	return $rc
}

# ---- checks of the repository a cut left behind ------------------------------
problems() { # fsck output -> problem lines other than temporary files
	grep -E '^[a-z-]+: ' "$1" | grep -vE '^(objects|images|refs|temporary files|status): ' |
		grep -v '^temporary-file: ' || true
}

check_fsck_after_cut() {
	rc=0
	composefs --repo "$R" fsck >/tmp/fsck.out 2>&1 || rc=$?
	bad=$(problems /tmp/fsck.out)
	temps=$(grep -c '^temporary-file: ' /tmp/fsck.out || true)
	if [ -n "$bad" ]; then
		result fsck-after-cut FAIL "exit $rc: $(echo "$bad" | head -5 | tr '\n' ' ')"
	elif [ "$rc" != 0 ] && [ "$temps" = 0 ]; then
		result fsck-after-cut FAIL "exit $rc without a problem line: $(tail -3 /tmp/fsck.out | tr '\n' ' ')"
	elif ! grep -q '^objects: [0-9]* checked, 0 bad' /tmp/fsck.out; then
		result fsck-after-cut FAIL "no object count: $(tail -5 /tmp/fsck.out | tr '\n' ' ')"
	else
		result fsck-after-cut ok "exit $rc, no damage; $(grep '^objects: ' /tmp/fsck.out); $temps removable temporary file(s)"
	fi
}

# Every object under its final name hashes to its name, computed here from its
# content (verity-digest reads it; the kernel's stored measurement is not used).
check_objects() {
	find "$R/objects" -mindepth 2 -type f ! -name '.tmp*' >/tmp/objs
	n=$(wc -l </tmp/objs)
	if [ "$n" = 0 ]; then
		result objects-hash FAIL "no objects at all"
		return
	fi
	if ! xargs verity-digest </tmp/objs >/tmp/digests 2>/tmp/vd.err; then
		result objects-hash FAIL "verity-digest failed: $(head -3 /tmp/vd.err | tr '\n' ' ')"
		return
	fi
	bad=$(awk '{ d = $1; sub(/^sha256:/, "", d); p = $2; n = split(p, a, "/");
		if (a[n - 1] a[n] != d) print p }' /tmp/digests)
	got=$(wc -l </tmp/digests)
	if [ -n "$bad" ]; then
		result objects-hash FAIL "content does not hash to the name: $(echo "$bad" | head -3 | tr '\n' ' ')"
	elif [ "$got" != "$n" ]; then
		result objects-hash FAIL "$got digests for $n objects"
	else
		result objects-hash ok "all $n objects hash to their names"
	fi
}

# Every name leads through images/DIGEST to a stored image object that parses
# and whose objects all exist.
check_refs() {
	fails=
	nrefs=0
	for ref in $(cd "$R/images/refs" && find . ! -type d | sed 's|^\./||'); do
		nrefs=$((nrefs + 1))
		t=$(readlink "$R/images/refs/$ref")
		d=${t##*/}
		it=$(readlink "$R/images/$d" 2>/dev/null)
		o="$R/objects/$(echo "$d" | cut -c1-2)/$(echo "$d" | cut -c3-)"
		if [ "$it" != "../objects/$(echo "$d" | cut -c1-2)/$(echo "$d" | cut -c3-)" ] || [ ! -f "$o" ]; then
			fails="$fails $ref(->$t: no image)"
		elif ! composefs --repo "$R" image-objects "$ref" >/tmp/io 2>/tmp/io.err; then
			fails="$fails $ref(image-objects: $(head -1 /tmp/io.err))"
		else
			while read -r obj; do
				[ -f "$R/objects/$(echo "$obj" | cut -c1-2)/$(echo "$obj" | cut -c3-)" ] ||
					{ fails="$fails $ref(object $obj missing)"; break; }
			done </tmp/io
		fi
	done
	if [ -n "$fails" ]; then
		result refs FAIL "$fails"
	else
		result refs ok "$nrefs name(s), each leading to a stored image whose objects all exist"
	fi
}

# What the host saw finish before the cut must have survived it.
check_expected() {
	fails=
	n=0
	for e in $(echo "$EXPECT" | tr ',' ' '); do
		name=${e%%:*}
		want=${e#*:}
		[ "$want" = "?" ] && continue
		n=$((n + 1))
		if [ "$want" = - ]; then
			[ -e "$R/images/refs/$name" ] || [ -L "$R/images/refs/$name" ] && fails="$fails $name(should be gone)"
		else
			t=$(readlink "$R/images/refs/$name" 2>/dev/null)
			[ "$t" = "../$want" ] || fails="$fails $name(is '$t', want ../$want)"
		fi
	done
	if [ -n "$fails" ]; then
		result acked FAIL "finished changes lost:$fails"
	else
		result acked ok "$n name(s) as the last finished command left them"
	fi
}

check_after_gc() {
	if ! op "$BOOT.c1" gc - composefs --repo "$R" gc; then
		result gc-after-cut FAIL "$(head -3 /tmp/op.err | tr '\n' ' ')"
		return
	fi
	rc=0
	composefs --repo "$R" fsck >/tmp/fsck.out 2>&1 || rc=$?
	if [ "$rc" = 0 ] && grep -q '^status: ok' /tmp/fsck.out; then
		result gc-after-cut ok "gc, then fsck exit 0: $(grep '^objects: ' /tmp/fsck.out)"
	else
		result gc-after-cut FAIL "fsck exit $rc: $(head -5 /tmp/fsck.out | tr '\n' ' ')"
	fi
}

check_create_again() {
	rm -rf /tmp/src
	gen-tree $((SEED * 1000 + BOOT * 100 + 99)) /tmp/src 200 >/dev/null 2>&1 || { result create-again FAIL "gen-tree"; return; }
	if ! op "$BOOT.c2" create check composefs --repo "$R" create-image /tmp/src check; then
		result create-again FAIL "create-image: $(head -3 /tmp/op.err | tr '\n' ' ')"
		return
	fi
	d=$OPOUT
	if ! op "$BOOT.c3" untag check composefs --repo "$R" untag check ||
		! op "$BOOT.c4" gc - composefs --repo "$R" gc; then
		result create-again FAIL "untag/gc: $(head -3 /tmp/op.err | tr '\n' ' ')"
		return
	fi
	rc=0
	composefs --repo "$R" fsck >/tmp/fsck.out 2>&1 || rc=$?
	if [ "$rc" != 0 ]; then
		result create-again FAIL "fsck exit $rc: $(head -5 /tmp/fsck.out | tr '\n' ' ')"
	elif [ -e "$R/images/$d" ]; then
		result create-again FAIL "image $d still there after untag and gc"
	else
		result create-again ok "create-image $d, untag, gc: fsck clean"
	fi
	rm -rf /tmp/src
}

if [ "$BOOT" = 0 ]; then
	if ! composefs --repo "$R" init >/tmp/init.out 2>&1; then
		result init FAIL "$(cat /tmp/init.out)"
		finish
	fi
	sync
	result init ok "repository created"
else
	check_fsck_after_cut
	check_objects
	check_refs
	check_expected
	check_after_gc
	check_create_again
fi
echo "CFS-CHECKED $BOOT"
if [ "$FINAL" = 1 ]; then
	umount /disk
	finish
fi

# ---- the workload, until the host cuts the power ----------------------------
# Three image names are replaced in turn (the replaced image becomes garbage),
# "keep" is given to every other new image and taken away in between, and gc
# runs after each round.
i=0
while :; do
	id=$BOOT.$i
	slot=$((i % 3))
	rm -rf /tmp/src
	gen-tree $((SEED * 1000 + BOOT * 100 + i)) /tmp/src "$COUNT" >/dev/null 2>&1 || result gen-tree FAIL "$id"
	op "$id" create "img-$slot" composefs --repo "$R" create-image /tmp/src "img-$slot" ||
		result workload FAIL "create-image $id: $(head -3 /tmp/op.err | tr '\n' ' ')"
	d=$OPOUT
	if [ $((i % 2)) = 0 ]; then
		OPDIGEST=$d
		op "$id" tag keep composefs --repo "$R" tag "$d" keep ||
			result workload FAIL "tag $id: $(head -3 /tmp/op.err | tr '\n' ' ')"
	elif [ -L "$R/images/refs/keep" ]; then
		op "$id" untag keep composefs --repo "$R" untag keep ||
			result workload FAIL "untag $id: $(head -3 /tmp/op.err | tr '\n' ' ')"
	fi
	op "$id" gc - composefs --repo "$R" gc ||
		result workload FAIL "gc $id: $(head -3 /tmp/op.err | tr '\n' ' ')"
	i=$((i + 1))
done
