/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Private helpers of the dump parser and printer: field escaping and limits. */
#ifndef CFS_DUMP_PRIVATE_H
#define CFS_DUMP_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

/* Escape flags (the reference uses the same three contexts in its dump). */
#define CFS_ESC_EQUAL (1u << 0)     /* also escape '=' (xattr keys and values) */
#define CFS_ESC_LONE_DASH (1u << 1) /* a field that is exactly "-" becomes \x2d */

/* Longest payload (symlink target or backing path), as PATH_MAX - 1. */
#define CFS_DUMP_PAYLOAD_MAX 4095
/* The reference's cap on the summed xattr cost of one inode from a dump. */
#define CFS_DUMP_XATTR_BUDGET 32767
/*
 * Longest text of the xattr part of a line. The reference stops at 65535;
 * we allow what our own printer can produce for the largest xattr set the
 * budget admits (every byte escaped as \xHH), so printed dumps re-parse.
 */
#define CFS_DUMP_XATTR_TEXT_MAX (4u * 65536u)
/* Regular files without inline content: at most 1024 chunks of 2^43 bytes. */
#define CFS_DUMP_FILE_SIZE_MAX (UINT64_C(1) << 53)

/*
 * Escape byte @c into @out (not NUL-terminated) and return the number of
 * characters written (1, 2 or 4). Lone-dash handling is up to the caller.
 */
size_t cfs_dump_escape_char(uint8_t c, unsigned flags, char out[4]);

/*
 * Escape @len bytes of @in into @out (at most @outlen - 1 characters, always
 * NUL-terminated, truncated with "..." when it does not fit); for messages.
 */
void cfs_dump_escape_msg(const char *in, size_t len, char *out, size_t outlen);

/*
 * Undo the escapes of a field: returns a malloc'd NUL-terminated buffer
 * (length in *@outlen) or NULL with *@why set to a static reason (or to
 * NULL on allocation failure).
 */
char *cfs_dump_unescape(const char *in, size_t len, size_t *outlen, const char **why);

#endif
