/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Image writer: serialize an inode tree as a composefs EROFS image. */
#ifndef COMPOSEFS_WRITER_H
#define COMPOSEFS_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include <composefs/tree.h>
#include <composefs/verity.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Oldest composefs format version the writer can produce. */
#define CFS_FORMAT_VERSION_MIN 0
/** Newest composefs format version the writer can produce. */
#define CFS_FORMAT_VERSION_MAX 1
/** Default minimum format version (same as the reference mkcomposefs). */
#define CFS_FORMAT_VERSION_DEFAULT_MIN 0
/** Default maximum format version (same as the reference mkcomposefs). */
#define CFS_FORMAT_VERSION_DEFAULT_MAX 1

/**
 * cfs_write_fn - sink for image bytes.
 * @user: the pointer given to cfs_write_image().
 * @buf:  the next @len bytes of the image, in order.
 *
 * Called with large chunks (up to a few hundred KiB). Must consume all of
 * @len bytes. Returns 0, or a negative errno that aborts the write and is
 * returned by cfs_write_image().
 */
typedef int (*cfs_write_fn)(void *user, const void *buf, size_t len);

/**
 * struct cfs_write_opts - options of cfs_write_image().
 * @min_version: composefs format version to write at least (0 or 1).
 * @max_version: the writer raises the version up to this when the tree
 *               needs it (a whiteout device in the tree needs version 1);
 *               a value below @min_version is treated as @min_version.
 * @flags:       none defined yet; must be 0.
 * @hash_alg:    fs-verity algorithm of the image digest cfs_write_image()
 *               returns (enum cfs_hash_alg; 0 means CFS_HASH_SHA256). The
 *               bytes of the image do not depend on it: each file's digest
 *               is recorded with its own algorithm (cfs_node_set_digest_alg()).
 * @reserved:    must be zero.
 *
 * Initialise with cfs_write_opts_init() so that fields added later get
 * their defaults.
 */
struct cfs_write_opts {
	uint32_t min_version;
	uint32_t max_version;
	uint32_t flags;
	uint32_t hash_alg;
	uint32_t reserved[12];
};

/**
 * cfs_write_opts_init() - fill @o with the defaults of the reference
 * mkcomposefs (min_version 0, max_version 1, no flags, sha256 image digest).
 */
void cfs_write_opts_init(struct cfs_write_opts *o);

/**
 * cfs_write_image() - serialize the tree rooted at @root.
 * @root:       root directory of the tree.
 * @o:          options, or NULL for the defaults.
 * @fn:         byte sink, called in order with consecutive chunks.
 * @user:       passed to @fn.
 * @digest_out: if not NULL, receives the fs-verity digest of the whole image
 *              (with @o's hash_alg: 32 bytes for sha256, 64 for sha512),
 *              computed while writing.
 * @errbuf:     if not NULL, receives a one-line message on failure.
 * @errlen:     size of @errbuf.
 *
 * The output is byte-identical to the reference mkcomposefs for the same
 * tree and version options. The writer uses the nodes' scratch fields (so
 * one tree must not be written by two threads at once) but leaves the tree's
 * visible content unchanged; it adds what the format needs (overlay xattrs,
 * ".", "..", the 00..ff whiteouts at the root) to a private view only.
 *
 * Returns 0 or a negative errno: -EINVAL for an invalid tree or options
 * (unknown flag, version above CFS_FORMAT_VERSION_MAX, hard link to an inode
 * that has no primary entry, unknown file type, empty symlink, inline
 * content whose length is not the file size), -EFBIG for a file too large
 * for the format, -ENAMETOOLONG for a payload of PATH_MAX bytes or more,
 * -ERANGE when an inode's xattrs (or one xattr name) do not fit, -ELOOP for
 * directories nested more than 2047 deep (images readers refuse), -ENOMEM,
 * or what @fn returned. Most checks run before the first byte is produced,
 * but a failure can still come after @fn received part of the image: callers
 * that write files should write to a temporary file and publish it only on
 * success.
 */
int cfs_write_image(struct cfs_node *root, const struct cfs_write_opts *o, cfs_write_fn fn,
		    void *user, uint8_t *digest_out, char *errbuf, size_t errlen);

/**
 * cfs_write_image_fd() - like cfs_write_image(), writing to @fd at its
 * current position (retrying short writes and EINTR).
 */
int cfs_write_image_fd(struct cfs_node *root, const struct cfs_write_opts *o, int fd,
		       uint8_t *digest_out, char *errbuf, size_t errlen);

/**
 * cfs_write_image_at() - like cfs_write_image(), writing a file that appears
 * only complete: the image goes to a temporary file in the directory of
 * @path, which is synced and renamed over @path (replacing a file of that
 * name), then the directory is synced. On failure nothing is left behind and
 * an existing @path is untouched.
 * @dirfd: directory @path is relative to, or AT_FDCWD.
 * @mode: permission bits of the file, narrowed by the umask as with open(2).
 * Returns 0 or a negative errno (-EISDIR when @path is a directory).
 */
int cfs_write_image_at(struct cfs_node *root, const struct cfs_write_opts *o, int dirfd,
		       const char *path, unsigned int mode, uint8_t *digest_out, char *errbuf,
		       size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
