#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Sourced by tests that run a program as the unprivileged user 65534. The build tree may sit
# where that user cannot reach it (a checkout in a 0700 directory, as mktemp -d makes), so such
# a program runs from a copy, with the build tree's libraries it loads, in a directory every
# user can enter. Needs CFS_BUILDDIR.
USER_BIN=$(mktemp -d "${TMPDIR:-/tmp}/cfs-user-bin.XXXXXX")
chmod 755 "$USER_BIN"
trap_user_bin() { rm -rf "$USER_BIN"; }

# user_prog PROG: the path of a copy of PROG (with its build-tree libraries beside it) that
# user 65534 can run with "env LD_LIBRARY_PATH=$USER_BIN".
user_prog() {
	local prog=$1 lib
	cp "$prog" "$USER_BIN/"
	chmod 755 "$USER_BIN/${prog##*/}"
	while IFS= read -r lib; do
		case $lib in "$CFS_BUILDDIR"/*) cp -L "$lib" "$USER_BIN/" && chmod 644 "$USER_BIN/${lib##*/}" ;; esac
	done < <(ldd "$prog" 2>/dev/null | sed -n 's/^.*=> \(\/.*\) (0x[0-9a-f]*)$/\1/p')
	printf '%s\n' "$USER_BIN/${prog##*/}"
}
