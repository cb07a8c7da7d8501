#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Shared helpers of the pull tests (sourced after test-repo-lib.sh): web servers on loopback,
# started here and stopped when the test exits.

for c in nginx zstd curl; do
	pkg=$c
	[ "$c" = nginx ] && pkg="nginx-light (or nginx)"
	command -v "$c" >/dev/null || [ -x "/usr/sbin/$c" ] ||
		{ echo "FAIL: the pull tests need the '$c' command (package $pkg)" >&2; exit 1; }
done
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
FAULT_SERVER=${CFS_SRCDIR:?CFS_SRCDIR not set}/tests/tools/fault-server.py
[ -f "$FAULT_SERVER" ] || fail "missing $FAULT_SERVER"

# nginx leaves its workers running when its master is killed with SIGKILL (as the common
# cleanup does): ask each master to stop first, and wait for it.
NGINX_PIDS=()
stop_nginx() {
	local p
	for p in "${NGINX_PIDS[@]+"${NGINX_PIDS[@]}"}"; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${NGINX_PIDS[@]+"${NGINX_PIDS[@]}"}"; do
		for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	done
}
trap 'stop_nginx; cleanup' EXIT

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_nginx NAME ROOT [EXTRA-SERVER-DIRECTIVES [LISTEN-FLAGS]]: serve ROOT on a free port;
# sets PORT. Its access log ($W/NAME/access.log) records "URI STATUS BYTES PROTOCOL".
start_nginx() {
	local name=$1 root=$2 extra=${3:-} flags=${4:-} d=$W/$1 try
	mkdir -p "$d"
	for try in 1 2 3 4 5; do
		PORT=$(free_port)
		cat >"$d/nginx.conf" <<EOF
user root;
daemon off;
worker_processes 1;
error_log $d/error.log;
pid $d/nginx.pid;
events { worker_connections 1024; }
http {
	log_format cfs '\$uri \$status \$body_bytes_sent \$server_protocol';
	access_log $d/access.log cfs;
	client_body_temp_path $d/body; proxy_temp_path $d/proxy; fastcgi_temp_path $d/fastcgi;
	uwsgi_temp_path $d/uwsgi; scgi_temp_path $d/scgi;
	default_type application/octet-stream;
	sendfile on;
	keepalive_requests 1000000;
	server {
		listen 127.0.0.1:$PORT $flags;
		root $root;
		$extra
	}
}
EOF
		"$NGINX" -c "$d/nginx.conf" -p "$d" &
		NGINX_PIDS+=("$!")
		local i
		for i in $(seq 50); do
			curl -s -k -o /dev/null "http$([ -n "$flags" ] && echo s)://127.0.0.1:$PORT/" && return 0
			kill -0 "${NGINX_PIDS[-1]}" 2>/dev/null || break
			sleep 0.1
		done
		grep -q "Address already in use" "$d/error.log" 2>/dev/null || { cat "$d/error.log" >&2; fail "nginx did not start"; }
	done
	fail "nginx found no free port"
}

# start_fault_server NAME ROOT [OPTION...]: fault-server.py on a free port; sets PORT and
# FAULTS (its rules file, empty at first) and LOG (its request log).
start_fault_server() {
	local name=$1 root=$2 d=$W/$1 i
	shift 2
	mkdir -p "$d"
	FAULTS=$d/faults
	LOG=$d/log
	: >"$FAULTS"
	: >"$LOG"
	python3 "$FAULT_SERVER" --root "$root" --port-file "$d/port" --faults "$FAULTS" --log "$LOG" "$@" &
	PIDS+=("$!")
	for i in $(seq 100); do
		[ -s "$d/port" ] && { PORT=$(cat "$d/port"); return 0; }
		sleep 0.05
	done
	fail "fault server did not start"
}

# json_field FILE KEY: a number or boolean of the pull --json summary.
json_field() {
	python3 -c 'import json, sys; v = json.load(open(sys.argv[1]))[sys.argv[2]]; print(str(v).lower() if isinstance(v, bool) else v)' "$1" "$2"
}

# fsck_no_corruption REPO WHAT: fsck finds nothing but leftover temporary files.
fsck_no_corruption() {
	local rc=0
	"$CFS" --repo "$1" fsck >"$W/fsck.out" 2>&1 || rc=$?
	if grep -vE '^(temporary-file: |objects: |images: |refs: |streams: |temporary files: |status: )' "$W/fsck.out" | grep -q .; then
		cat "$W/fsck.out" >&2
		fail "$2: fsck found corruption"
	fi
	[ "$rc" = 0 ] || grep -q '^temporary-file: ' "$W/fsck.out" || { cat "$W/fsck.out" >&2; fail "$2: fsck exit $rc"; }
}

# fsck_clean REPO WHAT
fsck_clean() {
	"$CFS" --repo "$1" fsck >"$W/fsck.out" 2>&1 || { cat "$W/fsck.out" >&2; fail "$2: fsck not clean"; }
}

# make_ca DIR: a test CA and a certificate for 127.0.0.1/localhost signed by it
# (DIR/ca.pem, DIR/server.pem, DIR/server.key).
make_ca() {
	local d=$1
	mkdir -p "$d"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=cfs test CA" \
		-addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign \
		-keyout "$d/ca.key" -out "$d/ca.pem" 2>/dev/null || fail "openssl: test CA"
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
		-keyout "$d/server.key" -out "$d/server.csr" 2>/dev/null || fail "openssl: server key"
	printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$d/ext"
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" -CAcreateserial -days 2 \
		-extfile "$d/ext" -out "$d/server.pem" 2>/dev/null || fail "openssl: server certificate"
}
