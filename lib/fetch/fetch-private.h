/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* lib/fetch internals shared with the pull module, the unit test and the fuzz target. */
#ifndef CFS_FETCH_PRIVATE_H
#define CFS_FETCH_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest symlink target body accepted from a server. */
#define CFS_FETCH_SYMLINK_MAX 4096

/*
 * The digest a symlink target names: its last component is a full hex digest
 * of @dsize bytes ("../<hex>", "../../images/<hex>"), or the last two are
 * "XX/<rest>" ("../objects/XX/<rest>"). One trailing newline is allowed.
 * Returns 0 or -EBADMSG.
 */
int cfs_fetch_parse_symlink_target(const char *buf, size_t len, size_t dsize, uint8_t *digest);

/* Whether a Content-Type value (as libcurl reports it; may be NULL) is text/x-symlink-target. */
bool cfs_fetch_is_symlink_type(const char *content_type);

/*
 * @path ('/'-separated, relative) with each component percent-encoded except
 * for RFC 3986 unreserved characters, in a malloc()ed string. Returns 0,
 * -EINVAL (empty path or component, ".", "..", a leading '/', a NUL-free
 * string being assumed) or -ENOMEM.
 */
int cfs_fetch_escape_path(const char *path, char **out);

#endif
