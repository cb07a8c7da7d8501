#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Thousands of seeded mutations of real images: the tools must fail cleanly, never crash or hang.
set -u
# shellcheck source=sanitizer-lib.sh
. "$(dirname "$0")/sanitizer-lib.sh"

B=${CFS_BUILDDIR:?}
INFO=$B/tools/composefs-info/composefs-info
DUMP=$B/tools/composefs-dump/composefs-dump
MUT=$B/tests/tools/image-mutate
G=${CFS_ASSETS:?}/reader
H=${CFS_ASSETS:?}/hostile
PER_IMAGE=${CFS_HOSTILE_COUNT:-170}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

for x in "$INFO" "$DUMP" "$MUT"; do
	[ -x "$x" ] || { echo "$x not built"; exit 1; }
done

fails=0 runs=0 rejected=0 accepted=0

# run CMD...: no signal, no hang, exit 0 or 1, and a message when it fails
check() {
	local what=$1
	shift
	# a CPU-time limit catches endless loops (SIGXCPU); cheaper than timeout(1)
	( ulimit -t 20; exec "$@" ) > /dev/null 2> "$T/err"
	local rc=$?
	runs=$((runs + 1))
	if sanitizer_report "$T/err" $rc; then
		echo "FAIL: $what: $* exit $rc with a sanitizer report:"
		head -c 2000 "$T/err"
		fails=$((fails + 1))
	elif [ $rc -ge 128 ]; then
		echo "FAIL: $what: $* exited with $rc (signal $((rc - 128)); 152 = CPU time limit: endless loop)"
		head -c 600 "$T/err"
		fails=$((fails + 1))
	elif [ $rc -ne 0 ]; then
		rejected=$((rejected + 1))
		if [ $rc -ne 1 ] || ! grep -q "^composefs-[a-z]*: .\+" "$T/err"; then
			echo "FAIL: $what: $* exit $rc without a proper message: $(head -c 300 "$T/err")"
			fails=$((fails + 1))
		fi
	else
		accepted=$((accepted + 1))
	fi
}

seed=1
for src in "$G"/*.img; do
	mkdir -p "$T/m"
	rm -f "$T/m"/*
	"$MUT" $seed "$PER_IMAGE" "$src" "$T/m" || { echo "mutator failed"; exit 1; }
	for img in "$T/m"/*.img; do
		check "$(basename "$src") mutation $(basename "$img")" "$INFO" dump "$img"
		check "$(basename "$src") mutation $(basename "$img")" "$INFO" objects "$img"
	done
	# the writer must cope with whatever the reader accepted (a subset, it is slower)
	for img in $(ls "$T/m"/*.img | head -n 20); do
		check "composefs-dump $(basename "$img")" "$DUMP" "$img" "$T/out.img"
		rm -f "$T/out.img"
	done
	seed=$((seed + 1))
done

# regression inputs (former fuzz crashes and crafted corruption)
if [ -d "$H" ]; then
	for img in "$H"/*.img; do
		[ -e "$img" ] || continue
		check "asset $(basename "$img")" "$INFO" dump "$img"
		check "asset $(basename "$img")" "$INFO" ls "$img"
		check "asset $(basename "$img")" "$INFO" objects "$img"
		check "asset $(basename "$img")" "$INFO" info "$img"
		check "asset $(basename "$img")" "$DUMP" "$img" "$T/out.img"
		rm -f "$T/out.img"
		case $(basename "$img") in
		bad-*)
			"$INFO" dump "$img" > /dev/null 2> "$T/err"
			rc=$?
			if sanitizer_report "$T/err" $rc; then echo "FAIL: $(basename "$img"): sanitizer report"; fails=$((fails + 1)); fi
			if [ $rc -ne 1 ]; then echo "FAIL: $(basename "$img") is corrupt but was accepted"; fails=$((fails + 1)); fi ;;
		esac
	done
fi

echo "test-hostile: $runs runs ($accepted accepted, $rejected rejected cleanly), $fails failures"
[ $fails -eq 0 ] && [ $rejected -gt 0 ]
