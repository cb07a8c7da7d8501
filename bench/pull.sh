#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Benchmark composefs pull: a full pull of a repository of SOURCE_DIR from nginx on loopback,
# against a parallel curl of the same object files (same number of transfers at once, no
# verification, no sync). Goal: pull <= 1.25x curl's time while verifying every object.
# Not a test: prints and records numbers.
#
# Usage: bench/pull.sh [SOURCE_DIR]                 (default /usr/share)
# Environment:
#   COMPOSEFS=PATH   our composefs (default: build/tools/composefs/composefs)
#   JOBS=N           transfers at once, for both (default 16)
#   ROUNDS=N         timed runs of each, alternating; the median is reported (default 3)
#   BENCH_TMP=DIR    where repositories go (default /var/tmp); needs room for three copies
#   RESULTS=FILE     results appended here (default bench/RESULTS.md next to this script)
set -euo pipefail
export LC_ALL=C

here=$(cd "$(dirname "$0")" && pwd)
src=${1:-/usr/share}
cfs=${COMPOSEFS:-$here/../build/tools/composefs/composefs}
jobs=${JOBS:-16}
rounds=${ROUNDS:-3}
results=${RESULTS:-$here/RESULTS.md}
nginx=$(command -v nginx || echo /usr/sbin/nginx)

[ -x "$cfs" ] || { echo "no composefs at $cfs (set COMPOSEFS)"; exit 2; }
[ -x "$nginx" ] || { echo "needs nginx (package nginx-light or nginx)"; exit 2; }
command -v curl >/dev/null || { echo "needs curl (package curl)"; exit 2; }
[ -d "$src" ] || { echo "$src is not a directory"; exit 2; }

work=$(mktemp -d "${BENCH_TMP:-/var/tmp}/cfs-bench-pull.XXXXXX")
ngx_pid=
stop() {
	if [ -n "$ngx_pid" ]; then
		kill -TERM "$ngx_pid" 2>/dev/null || true
		wait "$ngx_pid" 2>/dev/null || true
	fi
	rm -rf "$work"
}
trap stop EXIT

S=$work/served
"$cfs" --repo "$S" init >/dev/null
digest=$("$cfs" --repo "$S" create-image "$src" bench)
"$cfs" --repo "$S" image-objects bench >"$work/objects"
n=$(wc -l <"$work/objects")
bytes=$(sed 's|^\(..\)\(.*\)|'"$S"'/objects/\1/\2|' "$work/objects" | xargs -d '\n' stat -c %s | awk '{ s += $1 } END { print s }')

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
mkdir -p "$work/nginx"
cat >"$work/nginx/nginx.conf" <<EOF
user root;
daemon off;
worker_processes auto;
error_log $work/nginx/error.log;
pid $work/nginx/nginx.pid;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $work/nginx/b; proxy_temp_path $work/nginx/p; fastcgi_temp_path $work/nginx/f;
	uwsgi_temp_path $work/nginx/u; scgi_temp_path $work/nginx/s;
	default_type application/octet-stream;
	sendfile on;
	keepalive_requests 1000000;
	server { listen 127.0.0.1:$port; root $S; }
}
EOF
"$nginx" -c "$work/nginx/nginx.conf" -p "$work/nginx" &
ngx_pid=$!
url=http://127.0.0.1:$port
for _ in $(seq 50); do curl -s -o /dev/null "$url/meta.json" && break; sleep 0.1; done

# curl: one process, --parallel with the same number of transfers, each object to a file
awk -v u="$url" -v d="$work/dl" '{ printf "url = \"%s/objects/%s/%s\"\noutput = \"%s/%s\"\n", u, substr($0, 1, 2), substr($0, 3), d, $0 }' \
	"$work/objects" >"$work/curl.cfg"

now() { date +%s.%N; }
pull_times=()
curl_times=()
for r in $(seq "$rounds"); do
	rm -rf "$work/dl" "$work/dst"
	mkdir -p "$work/dl"
	sync
	t0=$(now)
	curl -s --no-progress-meter -f --parallel --parallel-max "$jobs" -K "$work/curl.cfg" || { echo "curl failed"; exit 1; }
	t1=$(now)
	[ "$(find "$work/dl" -type f | wc -l)" = "$n" ] || { echo "curl fetched the wrong number of files"; exit 1; }
	curl_times+=("$(echo "$t1 - $t0" | bc)")
	rm -rf "$work/dl"
	"$cfs" --repo "$work/dst" init >/dev/null
	sync
	t0=$(now)
	got=$("$cfs" --repo "$work/dst" pull --jobs "$jobs" "$url" bench)
	t1=$(now)
	[ "$got" = "$digest" ] || { echo "pull gave $got, not $digest"; exit 1; }
	pull_times+=("$(echo "$t1 - $t0" | bc)")
	echo "round $r: curl ${curl_times[-1]} s, pull ${pull_times[-1]} s"
done
"$cfs" --repo "$work/dst" fsck --metadata-only >/dev/null || { echo "fsck after the pull failed"; exit 1; }

median() { printf '%s\n' "$@" | sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
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
	echo "\`JOBS=$jobs ROUNDS=$rounds bench/pull.sh $src\`: $n objects, $mib MiB, from nginx on loopback"
	echo "(HTTP/1.1, $jobs connections), $(nproc) CPUs, load average $load at the end."
	echo
	echo "| | median of $rounds (s) | runs (s) |"
	echo "|---|---|---|"
	echo "| curl --parallel --parallel-max $jobs (no verification, no sync) | $mc | ${curl_times[*]} |"
	echo "| composefs pull --jobs $jobs (every object hashed, synced, image named) | $mp | ${pull_times[*]} |"
	echo
	echo "Ratio pull/curl: **${ratio}x** (goal <= 1.25x)."
} >>"$results"
