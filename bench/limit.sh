# SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later
# Sourced by the benchmarks: the machine's SHA-256 limit, which every hash-bound path is
# measured against. Sets SHA256_BPS (bytes/s of one core, `openssl speed -evp sha256
# -bytes 4096`, the block size fs-verity hashes), LIMIT_CPUS (CPUs this shell may run on) and
# LIMIT_LINE (a sentence for the results). limit_secs BYTES: the seconds LIMIT_CPUS cores need
# to hash BYTES. times_limit SECONDS BYTES: SECONDS as a multiple of that.
LIMIT_CPUS=$(nproc)
SHA256_BPS=$(openssl speed -mr -seconds 2 -bytes 4096 -evp sha256 2>/dev/null |
	awk -F: '/^\+F:/ { printf "%.0f", $4 }')
[ -n "$SHA256_BPS" ] && [ "$SHA256_BPS" -gt 0 ] || { echo "limit.sh: openssl speed gave no figure" >&2; exit 2; }
LIMIT_LINE="SHA-256 $(awk -v b="$SHA256_BPS" 'BEGIN { printf "%.2f", b / 1e9 }') GB/s per core on 4 KiB blocks (\`openssl speed -evp sha256 -bytes 4096\`), $LIMIT_CPUS usable CPUs: limit $(awk -v b="$SHA256_BPS" -v c="$LIMIT_CPUS" 'BEGIN { printf "%.2f", b * c / 1e9 }') GB/s"
limit_secs() { awk -v n="$1" -v b="$SHA256_BPS" -v c="$LIMIT_CPUS" 'BEGIN { printf "%.3f", n / (b * c) }'; }
times_limit() { awk -v s="$1" -v n="$2" -v b="$SHA256_BPS" -v c="$LIMIT_CPUS" 'BEGIN { printf "%.2f", s / (n / (b * c)) }'; }
echo "$LIMIT_LINE"
