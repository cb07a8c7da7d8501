#!/bin/bash
# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Sanitizer builds only: an ASan, UBSan or LSan report exits with the test environment's
# distinct code (never 1, a clean refusal) and the shared check in sanitizer-lib.sh notices it.
set -euo pipefail
# shellcheck source=sanitizer-lib.sh
. "$(dirname "$0")/sanitizer-lib.sh"

B=${CFS_BUILDDIR:?CFS_BUILDDIR not set}
C=$B/tests/tools/sanitizer-canary
fail() { echo "FAIL: $*"; exit 1; }
[ -x "$C" ] || fail "$C not built"
code=${CFS_SANITIZER_EXITCODE:?CFS_SANITIZER_EXITCODE not set: tests/meson.build sets no sanitizer environment}
[ "$code" != 1 ] && [ "$code" != 0 ] || fail "CFS_SANITIZER_EXITCODE=$code is not distinct"
for v in ASAN_OPTIONS UBSAN_OPTIONS; do
	case ":${!v:-}:" in *":exitcode=$code:"*) ;; *) fail "$v='${!v:-}' lacks exitcode=$code" ;; esac
	case ":${!v:-}:" in *":halt_on_error=1:"*) ;; *) fail "$v='${!v:-}' lacks halt_on_error=1" ;; esac
done
T=$(mktemp -d /tmp/cfs-sanitizer.XXXXXX)
trap 'rm -rf "$T"' EXIT

rc=0; "$C" clean >/dev/null 2>"$T/err" || rc=$?
[ "$rc" = 0 ] || fail "clean run: exit $rc"
! sanitizer_report "$T/err" "$rc" || fail "clean run flagged as a sanitizer report"

for mode in asan ubsan leak; do
	rc=0; "$C" "$mode" >/dev/null 2>"$T/err" || rc=$?
	[ "$rc" = "$code" ] || { cat "$T/err"; fail "$mode error: exit $rc, expected $code"; }
	sanitizer_report "$T/err" "$rc" || fail "$mode error: not recognised by sanitizer_report"
	# the text alone is enough, even when a report ends with exit 1 (the default options)
	rc=0; ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS= "$C" "$mode" >/dev/null 2>"$T/err1" || rc=$?
	[ "$rc" = 1 ] || fail "$mode error with default options: exit $rc (expected the sanitizers' default 1)"
	sanitizer_report "$T/err1" "$rc" || fail "$mode report with exit 1 not recognised by sanitizer_report"
	echo "ok $mode: exit $code, report recognised (and recognised from its text with exit 1)"
done
echo PASS
