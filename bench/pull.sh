#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Benchmark composefs pull, in two parts (PARTS, default "full first-read"):
#  full: a full pull of a repository of SOURCE_DIR from nginx on loopback, against a parallel
#    curl of the same object files (same number of transfers at once, no verification, no
#    sync). Goal: pull <= 1.25x curl's time while verifying every object.
#  first-read: time to first useful read. The files `/usr/bin/python3 -c 'import json, email'`
#    executes and opens under FIRST_READ_SRC (recorded once with strace) are read from a lazy mount
#    (composefs mount --remote of a repository with published trees: objects fetched on first
#    open, large ones in ranges) against a full pull, then a mount, then the same reads; nginx
#    limits each connection to 50 MB/s (limit_rate 50m). Goal: the lazy mount >= 10x sooner.
# Not a test: prints and records numbers.
#
# Usage: bench/pull.sh [SOURCE_DIR]                 (default /usr/share)
# Environment:
#   COMPOSEFS=PATH      our composefs (default: build/tools/composefs/composefs)
#   COMPOSEFS_FUSE=PATH its FUSE daemon (default: beside it in the build tree)
#   JOBS=N              transfers at once, for both (default 16)
#   ROUNDS=N            timed runs of each, alternating; the median is reported (default 3)
#   PARTS=LIST          which parts (default "full first-read")
#   FIRST_READ_SRC=DIR  tree of the first-read part (default /usr)
#   BENCH_TMP=DIR       where repositories go (default /var/tmp); needs room for 2 ROUNDS + 1 copies
#   RESULTS=FILE        results appended here (default bench/RESULTS.md next to this script)
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
src=${1:-/usr/share}
cfs=${COMPOSEFS:-$here/../build/tools/composefs/composefs}
# the build tree has no installed layout: tell "composefs mount --remote" where its daemon is
if [ -z "${COMPOSEFS_FUSE:-}" ] && [ -x "$(dirname "$cfs")/../composefs-fuse/composefs-fuse" ]; then
	export COMPOSEFS_FUSE=$(cd "$(dirname "$cfs")/../composefs-fuse" && pwd)/composefs-fuse
fi
jobs=${JOBS:-16}
rounds=${ROUNDS:-3}
parts=" ${PARTS:-full first-read} "
fsrc=${FIRST_READ_SRC:-/usr}
results=${RESULTS:-$here/RESULTS.md}
nginx=$(command -v nginx || echo /usr/sbin/nginx)

[ -x "$cfs" ] || { echo "no composefs at $cfs (set COMPOSEFS)"; exit 2; }
[ -x "$nginx" ] || { echo "needs nginx (package nginx-light or nginx)"; exit 2; }
command -v curl >/dev/null || { echo "needs curl (package curl)"; exit 2; }
[ -d "$src" ] || { echo "$src is not a directory"; exit 2; }

work=$(mktemp -d "${BENCH_TMP:-/var/tmp}/cfs-bench-pull.XXXXXX")
ngx_pid=
mounts=()
stop() {
	local m
	for m in "${mounts[@]+"${mounts[@]}"}"; do umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true; done
	stop_nginx
	rm -rf "$work"
}
trap stop EXIT

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc | awk '{ printf "%.3f", $1 }'; }
median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }

# start_nginx DIR ROOT EXTRA-DIRECTIVES: nginx serving ROOT on a free port; sets port, url, ngx_pid.
start_nginx() {
	port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	mkdir -p "$1"
	cat >"$1/nginx.conf" <<EOF
user root;
daemon off;
worker_processes auto;
error_log $1/error.log;
pid $1/nginx.pid;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $1/b; proxy_temp_path $1/p; fastcgi_temp_path $1/f;
	uwsgi_temp_path $1/u; scgi_temp_path $1/s;
	default_type application/octet-stream;
	sendfile on;
	keepalive_requests 1000000;
	server { listen 127.0.0.1:$port; root $2; $3 }
}
EOF
	"$nginx" -c "$1/nginx.conf" -p "$1" &
	ngx_pid=$!
	url=http://127.0.0.1:$port
	for _ in $(seq 50); do curl -s -o /dev/null "$url/meta.json" && break; sleep 0.1; done
}
stop_nginx() {
	if [ -n "$ngx_pid" ]; then
		kill -TERM "$ngx_pid" 2>/dev/null || true
		wait "$ngx_pid" 2>/dev/null || true
	fi
	ngx_pid=
}

# ---- full pull against curl ----
full_part() {
	local S=$work/served digest n bytes r t0 t1 got mc mp ratio load mib pull_times=() curl_times=()
	"$cfs" --repo "$S" init >/dev/null
	digest=$("$cfs" --repo "$S" create-image "$src" bench)
	"$cfs" --repo "$S" image-objects bench >"$work/objects"
	n=$(wc -l <"$work/objects")
	bytes=$(sed 's|^\(..\)\(.*\)|'"$S"'/objects/\1/\2|' "$work/objects" | xargs -d '\n' stat -c %s | awk '{ s += $1 } END { print s }')
	start_nginx "$work/nginx" "$S" ""

	# curl: one process, --parallel with the same number of transfers, each object to a file
	awk -v u="$url" -v d="$work/dl" '{ printf "url = \"%s/objects/%s/%s\"\noutput = \"%s/%s\"\n", u, substr($0, 1, 2), substr($0, 3), d, $0 }' \
		"$work/objects" >"$work/curl.cfg"

	# Nothing is deleted before the end: deleting 50 000 files makes the file system (ext4 with
	# online discard here) slower for whichever run comes next, so each run gets new directories.
	for r in $(seq "$rounds"); do
		mkdir -p "$work/dl.$r"
		sed "s|$work/dl/|$work/dl.$r/|" "$work/curl.cfg" >"$work/curl.$r.cfg"
		sync
		t0=$(now)
		curl -s --no-progress-meter -f --parallel --parallel-max "$jobs" -K "$work/curl.$r.cfg" || { echo "curl failed"; exit 1; }
		t1=$(now)
		[ "$(find "$work/dl.$r" -type f | wc -l)" = "$n" ] || { echo "curl fetched the wrong number of files"; exit 1; }
		curl_times+=("$(elapsed "$t0" "$t1")")
		"$cfs" --repo "$work/dst.$r" init >/dev/null
		sync
		t0=$(now)
		got=$("$cfs" --repo "$work/dst.$r" pull --jobs "$jobs" "$url" bench)
		t1=$(now)
		[ "$got" = "$digest" ] || { echo "pull gave $got, not $digest"; exit 1; }
		pull_times+=("$(elapsed "$t0" "$t1")")
		echo "round $r: curl ${curl_times[-1]} s, pull ${pull_times[-1]} s"
	done
	"$cfs" --repo "$work/dst.$rounds" fsck --metadata-only >/dev/null || { echo "fsck after the pull failed"; exit 1; }
	stop_nginx
	rm -rf "$work"/dst.* "$work"/dl.* "$S"

	mc=$(median "${curl_times[@]}")
	mp=$(median "${pull_times[@]}")
	ratio=$(echo "scale=2; $mp / $mc" | bc)
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	mib=$(echo "scale=1; $bytes / 1048576" | bc)
	echo "source: $src, $n objects, $mib MiB; $jobs transfers at once; $(nproc) CPUs; load average $load"
	echo "curl --parallel (no verification): median $mc s; composefs pull (verified, synced): median $mp s; ratio ${ratio}x (goal <= 1.25x)"
	{
		echo
		echo "## composefs pull, $(date -u '+%Y-%m-%d %H:%M UTC')"
		echo
		echo "\`PARTS=full JOBS=$jobs ROUNDS=$rounds bench/pull.sh $src\`: $n objects, $mib MiB, from nginx on loopback"
		echo "(HTTP/1.1, $jobs connections), $(nproc) CPUs, load average $load at the end."
		echo
		echo "| | median of $rounds (s) | runs (s) |"
		echo "|---|---|---|"
		echo "| curl --parallel --parallel-max $jobs (no verification, no sync) | $mc | ${curl_times[*]} |"
		echo "| composefs pull --jobs $jobs (every object hashed, synced, image named) | $mp | ${pull_times[*]} |"
		echo
		echo "Ratio pull/curl: **${ratio}x** (goal <= 1.25x)."
	} >>"$results"
}

# ---- time to first useful read: lazy mount against full pull ----
first_read_part() {
	local F=$work/fr-served m=$work/mnt rel r t0 t1 nfiles fbytes fobjects fsize ml mf ratio load
	local lazy_times=() full_times=()
	command -v strace >/dev/null || { echo "needs strace (package strace)"; exit 2; }
	[ -x /usr/bin/python3 ] || { echo "needs /usr/bin/python3"; exit 2; }
	# the files python opens (successfully, not directories; the executable too), /lib as
	# /usr/lib (merged /usr)
	strace -f -e trace=openat,execve -o "$work/py.strace" /usr/bin/python3 -c 'import json, email'
	grep -v -e ENOENT -e O_DIRECTORY "$work/py.strace" | grep -o '"/[^"]*"' | tr -d '"' |
		sed -e 's|^/lib/|/usr/lib/|' -e 's|^/lib64/|/usr/lib64/|' | sort -u |
		while read -r rel; do case $rel in "$fsrc"/*) [ -f "$rel" ] && echo "${rel#"$fsrc"/}" ;; esac; done >"$work/pyfiles"
	nfiles=$(wc -l <"$work/pyfiles")
	[ "$nfiles" -gt 0 ] || { echo "no file python opens is under $fsrc"; exit 1; }
	fbytes=$(cd "$fsrc" && xargs -d '\n' stat -L -c %s <"$work/pyfiles" | awk '{ s += $1 } END { print s }')
	"$cfs" --repo "$F" init >/dev/null
	"$cfs" --repo "$F" create-image "$fsrc" py >/dev/null
	"$cfs" --repo "$F" publish-trees >"$work/pt.out"
	fobjects=$("$cfs" --repo "$F" image-objects py | wc -l)
	fsize=$(du -s --apparent-size -B1 "$F/objects" | cut -f1)
	start_nginx "$work/nginx2" "$F" "limit_rate 50m;"
	mkdir -p "$m"
	mounts+=("$m")
	for r in $(seq "$rounds"); do
		rm -rf "$work/lazy" "$work/full"
		"$cfs" --repo "$work/lazy" init >/dev/null
		sync
		t0=$(now)
		"$cfs" --repo "$work/lazy" mount --remote "$url" py "$m"
		while read -r rel; do cat "$m/$rel" >/dev/null || { echo "lazy: cannot read $rel"; exit 1; }; done <"$work/pyfiles"
		t1=$(now)
		lazy_times+=("$(elapsed "$t0" "$t1")")
		umount "$m"
		"$cfs" --repo "$work/full" init >/dev/null
		sync
		t0=$(now)
		"$cfs" --repo "$work/full" pull --jobs "$jobs" "$url" py >/dev/null
		"$cfs" --repo "$work/full" mount py "$m"
		while read -r rel; do cat "$m/$rel" >/dev/null || { echo "full: cannot read $rel"; exit 1; }; done <"$work/pyfiles"
		t1=$(now)
		full_times+=("$(elapsed "$t0" "$t1")")
		umount "$m"
		echo "round $r: lazy mount + reads ${lazy_times[-1]} s, full pull + mount + reads ${full_times[-1]} s"
	done
	stop_nginx
	ml=$(median "${lazy_times[@]}")
	mf=$(median "${full_times[@]}")
	ratio=$(echo "scale=1; $mf / $ml" | bc)
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	echo "first read: $fsrc ($fobjects objects, $((fsize / 1048576)) MiB), $nfiles files python opens ($fbytes bytes); load average $load"
	echo "lazy: median $ml s; full pull: median $mf s; ratio ${ratio}x (goal >= 10x)"
	{
		echo
		echo "## Time to first useful read, $(date -u '+%Y-%m-%d %H:%M UTC')"
		echo
		echo "\`PARTS=first-read FIRST_READ_SRC=$fsrc JOBS=$jobs ROUNDS=$rounds bench/pull.sh\`: a repository of"
		echo "$fsrc ($fobjects objects, $((fsize / 1048576)) MiB; publish-trees: $(cat "$work/pt.out")), served by"
		echo "nginx on loopback with \`limit_rate 50m\` per connection; the $nfiles files"
		echo "\`/usr/bin/python3 -c 'import json, email'\` executes and opens under $fsrc ($fbytes bytes, recorded with strace),"
		echo "each read whole with cat. $(nproc) CPUs, load average $load at the end."
		echo
		echo "| | median of $rounds (s) | runs (s) |"
		echo "|---|---|---|"
		echo "| composefs mount --remote (image only), then the reads (objects on first open, large ones in ranges) | $ml | ${lazy_times[*]} |"
		echo "| composefs pull --jobs $jobs (everything, verified, synced), composefs mount, then the reads | $mf | ${full_times[*]} |"
		echo
		echo "Ratio full/lazy: **${ratio}x** (goal >= 10x)."
	} >>"$results"
	rm -rf "$work/lazy" "$work/full" "$F"
}

if [[ "$parts" == *" full "* ]]; then
	full_part
fi
if [[ "$parts" == *" first-read "* ]]; then
	first_read_part
fi
