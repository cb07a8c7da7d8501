/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* The composefs dump format: one text line per inode, parsed into and printed from a tree. */
#ifndef COMPOSEFS_DUMP_H
#define COMPOSEFS_DUMP_H

#include <stddef.h>
#include <stdio.h>

#include <composefs/tree.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The dump format is the text that `composefs-info dump` prints and that
 * `mkcomposefs --from-file` reads (see composefs-dump(5)): one line per
 * directory entry,
 *
 *   PATH SIZE MODE NLINK UID GID RDEV MTIME PAYLOAD CONTENT DIGEST [XATTR...]
 *
 * with C-like escapes (\\ \n \r \t \xHH), "-" for an absent optional field,
 * a MODE prefixed by '@' for an additional name (hard link) of the inode
 * whose path is in PAYLOAD, and "key=value" extended attributes.
 *
 * Error convention: functions return 0 or a negative errno. Parse errors are
 * -EINVAL, allocation failures -ENOMEM, read or write failures the errno of
 * the failing stdio call (-EIO when unknown). The functions keep no state
 * between calls and may be used from several threads on distinct trees.
 */

/**
 * CFS_DUMP_STRICT - reject what the reference parser rejects only in its
 * strict mode (environment CFS_PARSE_STRICT): a final line without a
 * newline, a non-zero RDEV on anything but a character or block device, a
 * symlink whose SIZE is not the length of its target, a symlink with CONTENT.
 * Beyond the reference, it also rejects a regular file whose content comes
 * from a PAYLOAD no mount can serve (see cfs_node_payload_servable()), which
 * the lenient mode accepts as the reference does.
 */
#define CFS_DUMP_STRICT (1u << 0)

/**
 * struct cfs_dump_error - where and why parsing failed.
 * @line: 1-based line number of the offending line, 0 when the error is not
 *        about one line (empty input, allocation or read failure).
 * @msg:  NUL-terminated human-readable message; when @line is not 0 it
 *        starts with "line N: ".
 */
struct cfs_dump_error {
	unsigned long line;
	char msg[512];
};

/**
 * cfs_dump_parse_file() - build a tree from the dump text read from @f.
 * @f:        stream positioned at the first line; read up to end of file.
 * @flags:    0 or CFS_DUMP_STRICT; other bits are rejected (-EINVAL).
 * @root_out: receives the root directory (one reference, owned by the caller:
 *            release with cfs_node_unref()). Untouched on failure.
 * @err:      may be NULL; filled on failure (also for -ENOMEM and I/O errors).
 *
 * The first line must be the root directory "/"; every other line's parent
 * directory must appear on an earlier line. Hard-link lines ('@' MODE) may
 * name a target that appears later; they are resolved at the end and become
 * additional entries (hardlink = true) of the target's node, whose first
 * full line is the primary entry. Field values that have no meaning for the
 * file type are dropped: RDEV except for devices, PAYLOAD except for regular
 * files and symlinks, CONTENT and DIGEST except for regular files. A
 * symlink's size is the length of its target. MODE bits above 0177777 are
 * ignored (the image format stores 16 bits).
 *
 * Returns 0, -EINVAL (malformed input, see @err), -ENOMEM, or the read error.
 */
int cfs_dump_parse_file(FILE *f, unsigned flags, struct cfs_node **root_out,
			struct cfs_dump_error *err);

/**
 * cfs_dump_parse_buf() - like cfs_dump_parse_file() for a text in memory.
 * @buf: @len bytes of dump text (need not be NUL-terminated; a NUL byte
 *       inside a line is an error).
 */
int cfs_dump_parse_buf(const char *buf, size_t len, unsigned flags,
		       struct cfs_node **root_out, struct cfs_dump_error *err);

/**
 * cfs_dump_print() - print a tree in the format of `composefs-info dump`.
 * @root:    the root directory; it is not modified.
 * @out:     destination stream.
 * @filters: NULL to print everything, or a NULL-terminated list of names:
 *           then only the root and those of its entries whose name is in
 *           the list (with everything below them) are printed, like the
 *           reference's `composefs-info --filter NAME`.
 *
 * Entries are printed depth first, each directory's entries in byte order
 * of their names. An inode reached under several names is printed in full
 * at the first name met in that order; later names get a hard-link line
 * ("@" before MODE, PAYLOAD = the first path, other fields repeated), which
 * is what the reference prints for an image holding the tree. Extended
 * attributes are printed in the node's order.
 *
 * Returns 0, -EINVAL (@root is not a directory), -ENOMEM, or the write error
 * (the stream's error indicator is checked at the end; nothing is flushed).
 */
int cfs_dump_print(struct cfs_node *root, FILE *out, const char *const *filters);

#ifdef __cplusplus
}
#endif
#endif
