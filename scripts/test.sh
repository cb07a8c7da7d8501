#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# The whole test suite: installs what is missing, builds with -Werror (gcc), runs every test,
# then again under AddressSanitizer + UBSan (clang), then each libFuzzer target for a short
# bounded time. Prints "N passed, N failed, N skipped" at the end; under CI a skip is a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
top=$PWD

./scripts/install-deps.sh || exit 1

# Build directories go beside the sources unless CFS_BUILD_ROOT names another place (a
# read-only checkout, say).
builds=${CFS_BUILD_ROOT:-$top}
mkdir -p "$builds" || exit 1
builds=$(cd "$builds" && pwd)

# Under CI the VM test fetches its kernel into an empty cache inside the build tree on every
# run, so the download path is what CI proves (a developer keeps the default cache).
if [ "${CI:-}" = true ] && [ -z "${CFS_VM_CACHE:-}" ]; then
	export CFS_VM_CACHE=$builds/build-vm-cache
	rm -rf "$CFS_VM_CACHE"
fi

fuzz_seconds=${CFS_FUZZ_SECONDS:-20}
passed=0 failed=0 skipped=0
failures=() # names of what failed, repeated at the very end where a truncated log still shows them

# count results of one meson test run from its JSON log
count() {
	local log=$1/meson-logs/testlog.json
	[ -f "$log" ] || { failed=$((failed + 1)); return; }
	local p f s
	p=$(grep -c '"result": "OK"' "$log")
	f=$(grep -cE '"result": "(FAIL|TIMEOUT|ERROR|UNEXPECTEDPASS)"' "$log")
	s=$(grep -c '"result": "SKIP"' "$log")
	passed=$((passed + p)) failed=$((failed + f)) skipped=$((skipped + s))
	local n
	while read -r n; do
		failures+=("$(basename "$1"): $n")
	done < <(python3 -c 'import json, sys
for line in open(sys.argv[1]):
    t = json.loads(line)
    if t["result"] not in ("OK", "SKIP", "EXPECTEDFAIL"):
        print(t["name"], t["result"], "after %.0fs" % t.get("duration", 0))' "$log")
}

run_suite() { # builddir, setup args...
	local dir=$builds/$1; shift
	echo "=== build $dir ($*)"
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "$top" "$@" >"$dir.setup.log" 2>&1 || { cat "$dir.setup.log"; failed=$((failed + 1)); failures+=("$(basename "$dir"): meson setup"); return; }
	fi
	if ! ninja -C "$dir" >"$dir.build.log" 2>&1; then
		tail -n 60 "$dir.build.log"; failed=$((failed + 1)); failures+=("$(basename "$dir"): build"); return
	fi
	echo "=== test $dir"
	meson test -C "$dir" --print-errorlogs --num-processes 2 --timeout-multiplier "${CFS_TIMEOUT_MULT:-1}"
	count "$dir"
}

run_suite build-ci -Dwerror=true -Dfuzzing=false
# sanitizers make the mutation test ~5x slower: fewer mutations per image there
CC=clang CFS_TIMEOUT_MULT=3 CFS_HOSTILE_COUNT=${CFS_HOSTILE_COUNT:-50} run_suite build-asan -Dwerror=true -Db_sanitize=address,undefined -Db_lundef=false \
	-Dfuzzing=true -Dc_args=-fno-sanitize-recover=undefined

# libFuzzer targets (built in build-asan), each for a bounded time on its seed corpus
asan=$builds/build-asan
if [ -d "$asan/tests/fuzz" ]; then
	for t in "$asan"/tests/fuzz/fuzz-*; do
		[ -f "$t" ] && [ -x "$t" ] || continue
		name=$(basename "$t")
		corpus=$(mktemp -d)
		seeds="$top/tests/fuzz/corpus/${name#fuzz-}"
		echo "=== $name for ${fuzz_seconds}s"
		rm -f "$asan/$name-"*
		dirs=("$corpus")
		[ -d "$seeds" ] && dirs+=("$seeds")
		# regression inputs: hostile images for the reader, anything a fuzzer once found
		[ "$name" = fuzz-reader ] && dirs+=("$top/tests/assets/hostile")
		[ -d "$top/tests/assets/fuzz-regress/${name#fuzz-}" ] && dirs+=("$top/tests/assets/fuzz-regress/${name#fuzz-}")
		if "$t" -max_total_time="$fuzz_seconds" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
			-artifact_prefix="$asan/$name-" "${dirs[@]}" >"$asan/$name.log" 2>&1; then
			echo "ok: $name ($(grep -o 'stat::number_of_executed_units: [0-9]*' "$asan/$name.log" | awk '{print $2}') runs)"
			passed=$((passed + 1))
		else
			# what the target said before it died, then libFuzzer's summary and the input
			grep -v -e '^#[0-9]' -e '^INFO:' -e '^\s*#[0-9]* 0x' -e 'NEW_FUNC' "$asan/$name.log" | tail -n 40
			for a in "$asan/$name-"*; do
				[ -f "$a" ] && { echo "--- $a (base64):"; head -c 4096 "$a" | base64; }
			done
			echo "FAIL: $name"; failed=$((failed + 1)); failures+=("$name: $(grep -m1 -oE 'ERROR: libFuzzer: [a-z-]+|SUMMARY: [A-Za-z]+: [a-z-]+' "$asan/$name.log" || echo 'exit status')")
		fi
		rm -rf "$corpus"
	done
fi

if [ "${CI:-}" = true ] && [ "$skipped" -gt 0 ]; then
	echo "CI: $skipped skipped test(s) count as failures here"
	failed=$((failed + skipped))
fi
echo
for f in "${failures[@]}"; do echo "FAILED: $f"; done
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
