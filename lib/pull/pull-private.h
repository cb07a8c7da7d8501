/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* lib/pull internals shared with the unit test and the fuzz target. */
#ifndef CFS_PULL_PRIVATE_H
#define CFS_PULL_PRIVATE_H

#include <stddef.h>

/* Largest signatures/<image>/index accepted, and most names in it. */
#define CFS_PULL_SIG_INDEX_MAX (64 * 1024)
#define CFS_PULL_SIG_MAX_COUNT 256

/* One signature name: 64 lower-case hex digits of a SHA-256, NUL-terminated. */
struct cfs_sig_name {
	char hex[65];
};

/*
 * Parse a signature index: names (64 lower-case hex digits) one per line,
 * each ended by '\n' (the last one may lack it); nothing else, not even blank
 * lines. Duplicates are dropped. *@out (malloc()ed, @n_out entries, NULL when
 * empty) must be freed. Returns 0, -EBADMSG (malformed, or more than
 * CFS_PULL_SIG_MAX_COUNT names) or -ENOMEM.
 */
int cfs_pull_parse_sig_index(const char *buf, size_t len, struct cfs_sig_name **out, size_t *n_out);

#endif
