/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Directory builder: scan a directory tree into an inode tree, digests computed in parallel. */
#ifndef COMPOSEFS_BUILDER_H
#define COMPOSEFS_BUILDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <composefs/store.h>
#include <composefs/tree.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Record no extended attributes. */
#define CFS_BUILD_SKIP_XATTRS (1u << 0)
/** Record only `user.*` extended attributes (conflicts with CFS_BUILD_SKIP_XATTRS). */
#define CFS_BUILD_USER_XATTRS (1u << 1)
/** Leave out character and block devices. */
#define CFS_BUILD_SKIP_DEVICES (1u << 2)
/** Set every modification time to 0 (the Unix epoch). */
#define CFS_BUILD_USE_EPOCH (1u << 3)
/**
 * Compute the fs-verity digest (sha256 unless the options say otherwise) of
 * every regular file that is not
 * inlined, record it, and make the file's payload its object path `XX/<hex>`
 * (what the reference mkcomposefs always does). Without it the payload is
 * the file's path relative to the source directory and no digest is set.
 */
#define CFS_BUILD_COMPUTE_DIGEST (1u << 4)

/** Default largest file whose content is stored inside the image (as the reference). */
#define CFS_BUILD_INLINE_DEFAULT 64

/**
 * struct cfs_build_progress - progress snapshot handed to the callback.
 * @scanning: the directory walk is still running (totals still grow).
 * @files_done/@files_total: regular files with content read so far / found.
 * @bytes_done/@bytes_total: their bytes.
 */
struct cfs_build_progress {
	bool scanning;
	uint64_t files_done;
	uint64_t files_total;
	uint64_t bytes_done;
	uint64_t bytes_total;
};

/**
 * cfs_build_progress_fn - progress callback; called on the thread that
 * called cfs_build_from_dir(), a few times per second and once at the end.
 */
typedef void (*cfs_build_progress_fn)(void *user, const struct cfs_build_progress *p);

/**
 * struct cfs_build_opts - options of cfs_build_from_dir().
 * @flags: CFS_BUILD_* bits; unknown bits are rejected.
 * @threads: worker threads reading file content; 0 = the number of CPUs this
 *           process may run on.
 * @store: if not NULL, every non-inlined regular file is also put into this
 *         object store (needs CFS_BUILD_COMPUTE_DIGEST; the digests are
 *         those of the store's algorithm). Each file is read once for both.
 *         If the store is in batch mode the caller calls cfs_objstore_sync()
 *         later; the build itself publishes batches of 4096 staged objects
 *         meanwhile (cfs_objstore_sync() on a thread of its own), so that
 *         call is left with the last batch only.
 * @inline_max: largest file size stored inline in the image (0 < size <=
 *         inline_max); at most CFS_INLINE_MAX. cfs_build_opts_init() sets
 *         CFS_BUILD_INLINE_DEFAULT.
 * @progress, @progress_user: optional progress callback.
 * @hash_alg: fs-verity algorithm of the digests (enum cfs_hash_alg): 0 means
 *         the store's algorithm, or sha256 without a store. With a store it
 *         must be 0 or the store's algorithm. Names are `XX/<62 hex>` for
 *         sha256 and `XX/<126 hex>` for sha512.
 */
struct cfs_build_opts {
	uint32_t flags;
	unsigned threads;
	struct cfs_objstore *store;
	uint32_t inline_max;
	cfs_build_progress_fn progress;
	void *progress_user;
	uint32_t hash_alg;
	uint32_t reserved[7];
};

/** cfs_build_opts_init() - defaults: no flags, automatic threads, no store, inline 64. */
void cfs_build_opts_init(struct cfs_build_opts *o);

/**
 * cfs_build_from_dir() - build an inode tree from a directory.
 * @atdirfd: directory @path is relative to, or AT_FDCWD.
 * @path: the source directory (a symlink to a directory is followed; nothing
 *        below it is).
 * @o: options (NULL = defaults of cfs_build_opts_init()).
 * @root_out: receives the root directory node (caller owns the reference).
 * @errbuf, @errlen: on failure a message naming the file, e.g.
 *        "src/a/b: open: Permission denied" (may be NULL).
 *
 * Every file type is recorded with its mode, uid, gid, mtime (with
 * nanoseconds), rdev and extended attributes (all namespaces the kernel lists,
 * unless limited by the flags). Regular files of 1..@inline_max bytes get
 * their content inline; larger ones a payload (see CFS_BUILD_COMPUTE_DIGEST);
 * empty ones neither. Symlinks get their target as payload. Hard links inside
 * the tree (same st_dev and st_ino) become one shared node whose nlink is the
 * number of its names inside the tree; its primary entry is the first in
 * breadth-first, name-sorted order, the others are added as hard links.
 * Files are read in parallel on @threads threads.
 *
 * Returns 0; -EINVAL for bad options; -ENOTDIR if @path is not a directory;
 * -EIO when a file changed size while it was read; -ENOMEM; or the errno of
 * the failing system call. Nothing is left behind on failure except objects
 * already put into the store (they are complete and correct).
 */
int cfs_build_from_dir(int atdirfd, const char *path, const struct cfs_build_opts *o,
		       struct cfs_node **root_out, char *errbuf, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
