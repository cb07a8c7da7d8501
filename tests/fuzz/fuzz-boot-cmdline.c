/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* libFuzzer target: composefs-setup-root's kernel command line parser (composefs=, composefs.digest=). */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <composefs/verity.h>

#include "cmdline.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * Input: the command line, any bytes (the parser must not read past @size:
 * the copy has no terminator). Properties: -ENOENT or -EINVAL come with a
 * message; an accepted request has a known algorithm, its hex is the digest,
 * the same hex appears in the input, and parsing "composefs=[?]HEX" alone
 * gives the same request again.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sr_request req, again;
	uint8_t back[CFS_VERITY_MAX_DIGEST];
	char err[512] = "", err2[512] = "", line[300];
	char *copy = malloc(size ? size : 1);
	int r;

	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	r = sr_cmdline_parse(copy, size, &req, err, sizeof(err));
	if (r < 0) {
		if ((r != -ENOENT && r != -EINVAL) || err[0] == '\0')
			abort();
		free(copy);
		return 0;
	}
	if (r != 0 || cfs_verity_digest_size(req.alg) == 0 || req.digest_len != cfs_verity_digest_size(req.alg) ||
	    strlen(req.hex) != 2 * req.digest_len || cfs_digest_from_hex(req.hex, back, req.digest_len) != 0 ||
	    memcmp(back, req.digest, req.digest_len) != 0)
		abort();
	snprintf(line, sizeof(line), "composefs=%s%s", req.insecure ? "?" : "", req.hex);
	if (sr_cmdline_parse(line, strlen(line), &again, err2, sizeof(err2)) != 0 || again.alg != req.alg ||
	    again.insecure != req.insecure || memcmp(again.digest, req.digest, req.digest_len) != 0)
		abort();
	free(copy);
	return 0;
}
