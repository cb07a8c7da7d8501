/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* libFuzzer target: composefs-setup-root's configuration file parser. */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static bool valid_mount(enum sr_mount m)
{
	return m == SR_MOUNT_NONE || m == SR_MOUNT_BIND || m == SR_MOUNT_OVERLAY || m == SR_MOUNT_TRANSIENT;
}

/*
 * Input: the file, any bytes (no terminator). Properties: a refusal is
 * -EINVAL or -EFBIG with a message; an accepted configuration has every
 * field in its range, a repository path relative to the sysroot without
 * "..", absolute trust paths, and trust whenever a signature is required.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[512] = "", *copy = malloc(size ? size : 1);
	struct sr_config c;
	int r;

	if (copy == NULL)
		return 0;
	memcpy(copy, data, size);
	sr_config_init(&c);
	r = sr_config_parse(&c, copy, size, err, sizeof(err));
	free(copy);
	if (r < 0) {
		if ((r != -EINVAL && r != -EFBIG) || err[0] == '\0')
			abort();
		return 0;
	}
	if (r != 0 || !valid_mount(c.etc) || !valid_mount(c.var) ||
	    (c.verity != SR_VERITY_AUTO && c.verity != SR_VERITY_REQUIRE) || c.n_trust > SR_CONFIG_MAX_TRUST ||
	    (c.require_signature && c.n_trust == 0))
		abort();
	if (c.repository[0] == '\0' || c.repository[0] == '/' || memchr(c.repository, '\0', sizeof(c.repository)) == NULL)
		abort();
	for (const char *p = c.repository; *p != '\0'; p++)
		if ((p == c.repository || p[-1] == '/') && p[0] == '.' && p[1] == '.' && (p[2] == '/' || p[2] == '\0'))
			abort();
	for (size_t i = 0; i < c.n_trust; i++)
		if (c.trust[i][0] != '/' || memchr(c.trust[i], '\0', sizeof(c.trust[i])) == NULL)
			abort();
	return 0;
}
