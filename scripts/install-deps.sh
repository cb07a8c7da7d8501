#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Install the Debian 12 packages that building, testing and the demo need (only the missing ones).
set -euo pipefail

pkgs=(
	gcc clang libc6-dev pkg-config meson ninja-build          # toolchain
	libssl-dev libfuse3-dev fuse3                              # libraries
	libarchive-dev libjson-c-dev libacl1-dev liblz4-dev        # OCI layers and manifests (+ static link deps)
	libcurl4-openssl-dev                                       # HTTP pull
	libnghttp2-dev librtmp-dev libssh2-1-dev libpsl-dev        # libcurl's own libraries, for the
	libkrb5-dev libldap-dev libzstd-dev libbrotli-dev          # install test's static pkg-config link
	zlib1g-dev libidn2-dev
	libclang-rt-14-dev libfuzzer-14-dev                        # sanitizers, libFuzzer
	erofs-utils fsverity attr acl e2fsprogs util-linux gzip    # test oracles and helpers
	openssl xxd python3 man-db binutils bash-completion        # test keys, helpers, man -l, objcopy, completion
	skopeo umoci zstd                                          # OCI images for the tests, an independent unpacker
	docker-registry apache2-utils                              # a registry for oci pull docker:// (htpasswd)
	nginx-light curl bc strace                                 # served repositories for the pull tests; strace for bench/pull.sh
	qemu-system-x86 busybox-static cpio                        # fs-verity tests in a VM
	systemd udev kmod                                          # the systemd initrd of vm-boot-systemd (and systemd-analyze)
	go-md2man                                                  # man pages
)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
	echo "install-deps: missing packages: ${missing[*]}; run as root (or: sudo apt-get install ${missing[*]})" >&2
	exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
