# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Shared check for sanitizer reports (sourced, not a test by itself).
# shellcheck shell=bash
#
# In a sanitizer build tests/meson.build sets ASAN_OPTIONS and UBSAN_OPTIONS with
# exitcode=$CFS_SANITIZER_EXITCODE (99) and halt_on_error=1, so a report can never pass for
# a tool's clean refusal (exit 1). The text is checked as well, in case a report is printed
# without changing the exit status.

SANITIZER_PATTERN='ERROR: (AddressSanitizer|LeakSanitizer)|runtime error: |SUMMARY: (AddressSanitizer|UndefinedBehaviorSanitizer|LeakSanitizer)'

# sanitizer_report STDERR_FILE [EXIT_STATUS]: true when the run produced a sanitizer report.
sanitizer_report() {
	local err=$1 rc=${2:-}
	if [ -n "${CFS_SANITIZER_EXITCODE:-}" ] && [ "$rc" = "$CFS_SANITIZER_EXITCODE" ]; then
		return 0
	fi
	[ -f "$err" ] && grep -qE "$SANITIZER_PATTERN" "$err"
}
