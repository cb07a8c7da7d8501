#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Bash completion (completions/bash/composefs): options come from each program's --help,
# -o keys, composefs commands and repository image names complete as a user would see them.
set -u -o pipefail
B=${CFS_BUILDDIR:?CFS_BUILDDIR must point at the build directory}
S=${CFS_SRCDIR:?CFS_SRCDIR must point at the source directory}
fail() {
	echo "FAIL: $*" >&2
	exit 1
}
BC=/usr/share/bash-completion/bash_completion
[ -r "$BC" ] || fail "$BC missing (package bash-completion)"
W=$(mktemp -d "${TMPDIR:-/tmp}/cfs-completion-test.XXXXXX")
trap 'rm -rf "$W"' EXIT
for t in mkcomposefs composefs-info composefs-dump mount.composefs composefs-fuse composefs; do
	ln -s "$(find "$B/tools" -name "$t" -type f -perm -u+x | head -n1)" "$W/$t"
done
export PATH=$W:$PATH

# shellcheck disable=SC1090
. "$BC"
compopt() { :; } # only valid inside a real completion
# shellcheck source=../../completions/bash/composefs
. "$S/completions/bash/composefs" || fail "the completion file does not load"

# complete LINE: what bash would offer with the cursor at the end of LINE
complete_line() {
	local line=$1 fn
	COMP_LINE=$line
	COMP_POINT=${#line}
	read -r -a COMP_WORDS <<<"$line"
	[[ $line == *" " ]] && COMP_WORDS+=("")
	COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
	fn=$(complete -p "${COMP_WORDS[0]}" | sed -n 's/.*-F \([^ ]*\).*/\1/p')
	[ -n "$fn" ] || fail "no completion registered for ${COMP_WORDS[0]}"
	COMPREPLY=()
	"$fn" "${COMP_WORDS[0]}" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
	printf '%s\n' "${COMPREPLY[@]}"
}
expect() { # LINE WORD...: each WORD is offered
	local line=$1 out w
	shift
	out=$(complete_line "$line")
	for w in "$@"; do
		grep -qxF -- "$w" <<<"$out" || fail "'$line<TAB>' does not offer '$w' (offers: $(echo $out))"
	done
}
expect_not() { # LINE WORD: WORD is not offered
	grep -qxF -- "$2" <<<"$(complete_line "$1")" && fail "'$1<TAB>' offers '$2'"
	return 0
}

expect "mkcomposefs --dig" "--digest-store="
expect "mkcomposefs --m" "--min-version=" "--max-version="
expect "mkcomposefs --min-version " 0 1
expect "composefs-info " ls dump objects missing-objects info measure-file
expect "composefs-info --b" "--basedir="
expect "composefs-info --hash " sha256 sha512
expect "composefs-dump --" "--help" "--version"
expect "mount.composefs -o " "basedir=" "digest=" "verity" "tryverity" "upperdir=" "forceloop"
expect "mount.composefs -o verity,ba" "verity,basedir="
expect "composefs-fuse -o " "source=" "basedir=" "verity=" "verity_cache=" "workers=" "remote=" "range_min="
expect "composefs " init create-image images tag untag mount gc publish-trees fsck measure
expect "composefs --" "--repo" "--system" "--user" "--no-wait"
expect "composefs gc --" "--dry-run"
expect "composefs publish-trees --" "--min-size"
expect "composefs fsck --" "--json" "--metadata-only" "--repair"
expect "composefs mount --" "--fuse"
expect_not "composefs gc --" "--fuse"
expect "composefs oci " pull images inspect mount rm
expect "composefs oci pull --" "--authfile" "--tls-verify=" "--cacert" "--platform" "--retries" "--timeout"
expect "composefs oci pull --tls-verify=" true false
expect "composefs oci pull --platform linux/a" linux/amd64 linux/arm64
expect "composefs oci pull dock" "docker://" "docker-archive:"

# every long option a program documents in --help is offered
for t in mkcomposefs composefs-info composefs-dump; do
	for o in $("$t" --help | grep -oE -- '--[a-z][a-z0-9-]*=?' | sort -u); do
		expect "$t ${o:0:4}" "$o"
	done
done

# image names and digests come from the repository on the command line
R=$W/repo
mkdir -p "$W/src"
echo hi >"$W/src/f"
composefs --repo "$R" init >/dev/null || fail "init"
d=$(composefs --repo "$R" create-image "$W/src" webserver) || fail "create-image"
expect "composefs --repo $R mount " webserver "$d"
expect "composefs --repo $R tag we" webserver
expect_not "composefs --repo $R tag webserver " webserver
echo "ok: options, -o keys, commands and image names complete"
