/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* libFuzzer target: what pull parses from a server beyond libcurl (links, content types, signature index, meta.json). */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <composefs/composefs.h>

#include "fetch-private.h"
#include "pull-private.h"
#include "repo-private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_symlink(const char *s, size_t len, size_t dsize)
{
	uint8_t d[64];
	char hex[129];

	if (cfs_fetch_parse_symlink_target(s, len, dsize, d) != 0)
		return;
	/* an accepted target spells the digest: all of it in its last component, or XX/<rest> */
	cfs_digest_to_hex(d, dsize, hex);
	if (memmem(s, len, hex + 2, 2 * dsize - 2) == NULL || memmem(s, len, hex, 2) == NULL)
		abort();
}

static void check_index(const char *s, size_t len)
{
	struct cfs_sig_name *v = NULL;
	size_t n = 0;

	if (cfs_pull_parse_sig_index(s, len, &v, &n) != 0) {
		if (v != NULL || n != 0)
			abort();
		return;
	}
	if (n > CFS_PULL_SIG_MAX_COUNT)
		abort();
	for (size_t i = 0; i < n; i++) {
		if (strlen(v[i].hex) != 64 || memmem(s, len, v[i].hex, 64) == NULL)
			abort();
		if (i > 0 && strcmp(v[i - 1].hex, v[i].hex) >= 0)
			abort(); /* sorted, no duplicates */
	}
	free(v);
}

static void check_escape(const char *s)
{
	char *o = NULL;

	if (cfs_fetch_escape_path(s, &o) != 0)
		return;
	for (const char *p = o; *p; p++)
		if (!(strchr("-._~/%", *p) != NULL || (*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= 'A' && *p <= 'Z')))
			abort();
	if (strstr(o, "/../") != NULL || strncmp(o, "../", 3) == 0 || o[0] == '/')
		abort();
	free(o);
}

/* First byte picks the parser; the rest is what a server sent. */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *s;
	size_t len;

	if (size < 1)
		return 0;
	len = size - 1;
	s = malloc(len + 1);
	if (s == NULL)
		return 0;
	memcpy(s, data + 1, len);
	s[len] = '\0';
	switch (data[0] % 5) {
	case 0:
		check_symlink(s, len, 32);
		check_symlink(s, len, 64);
		break;
	case 1:
		(void)cfs_fetch_is_symlink_type(s);
		break;
	case 2:
		check_index(s, len);
		break;
	case 3: {
		struct cfs_repo_meta m;
		char err[256];

		if (cfs_repo_meta_parse(s, len, &m, err, sizeof(err)) < 0 && err[0] == '\0')
			abort(); /* every refusal explained */
		break;
	}
	case 4:
		check_escape(s);
		break;
	}
	free(s);
	return 0;
}
