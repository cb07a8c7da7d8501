/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* composefs-setup-root: the image request on the kernel command line. */
#ifndef SR_CMDLINE_H
#define SR_CMDLINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <composefs/verity.h>

/* What the kernel command line asks for. */
struct sr_request {
	enum cfs_hash_alg alg;
	size_t digest_len;
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	char hex[2 * CFS_VERITY_MAX_DIGEST + 1];
	bool insecure; /* the '?' form: objects need not have fs-verity */
};

/*
 * Find the image in the kernel command line @text (@len bytes, need not be
 * NUL-terminated, may hold any bytes). Words are split at white space, double
 * quotes protect white space and are dropped, as the kernel does; words after
 * a lone "--" belong to init and are ignored. Recognised:
 *   composefs=[?]HEX                   64 hex digits: sha256, 128: sha512
 *   composefs.digest=[?]v1-sha256-12:HEX  (or v1-sha512-12:)
 * The parameter may appear more than once only with the same value.
 * Returns 0 (filled @out), -ENOENT (no such parameter) or -EINVAL (malformed
 * or contradictory; @err says why).
 */
int sr_cmdline_parse(const char *text, size_t len, struct sr_request *out, char *err, size_t errlen);

#endif
