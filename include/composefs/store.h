/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Content-addressed object store: files named `XX/<rest of hex digest>` by fs-verity digest. */
#ifndef COMPOSEFS_STORE_H
#define COMPOSEFS_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <composefs/verity.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * struct cfs_objstore - an open object store directory.
 *
 * The directory holds one subdirectory per first digest byte (`00` .. `ff`),
 * each holding objects named by the remaining digest bytes in lower-case hex,
 * e.g. `3f/2a...` for a sha256 digest starting with 0x3f 0x2a. Objects are
 * regular files of mode 0644 whose fs-verity digest is their name; fs-verity
 * is enabled on new objects where the filesystem supports it.
 *
 * Objects appear under their final name only once their data is durable:
 * new data is written to a hidden temporary file in the store directory
 * and renamed into place after it was synced. An interrupted writer can
 * therefore leave temporary files behind, never a truncated object.
 *
 * Temporary files are named `.tmp-<writer>-<serial>`, where <writer> is 16
 * lower-case hex digits chosen at random by the handle before its first write
 * and <serial> counts the handle's temporary files. The
 * handle then creates `.tmp-<writer>.lock` and holds an exclusive flock(2) on
 * it until cfs_objstore_free() removes it; the kernel releases the lock of a
 * writer that exits or is killed, so cfs_objstore_clean() can tell the
 * temporary files of dead writers from those of running ones without a lock
 * on the whole store (and across PID namespaces and reboots).
 *
 * Thread-safety: all functions may be called concurrently from several
 * threads on one handle, except cfs_objstore_free().
 */
struct cfs_objstore;

/** Create the store directory (and missing parents, mode 0755) if it does not exist. */
#define CFS_OBJSTORE_CREATE (1u << 0)
/**
 * Batch durability: puts stage their object (data written, not yet synced,
 * name not yet published) and cfs_objstore_sync() makes all staged objects
 * durable with one filesystem sync, publishes their names, then syncs the
 * touched directories. Without this flag every put is synced and published
 * before it returns. Staged objects count as present for cfs_objstore_has()
 * and cfs_objstore_open_object().
 */
#define CFS_OBJSTORE_BATCH (1u << 1)

/**
 * cfs_objstore_open() - open (or with CFS_OBJSTORE_CREATE create) a store.
 * @atdirfd: directory @path is relative to, or AT_FDCWD.
 * @path: the store directory.
 * @flags: CFS_OBJSTORE_* bits.
 * @alg: hash algorithm naming the objects (digest size 32 or 64 bytes).
 * @out: receives the handle, to be released with cfs_objstore_free().
 *
 * Returns 0; -EINVAL for unknown flags or algorithm; -ENOTDIR; -ENOMEM; or
 * the errno of opening/creating the directory (-ENOENT, -EACCES, ...).
 */
int cfs_objstore_open(int atdirfd, const char *path, unsigned flags, enum cfs_hash_alg alg,
		      struct cfs_objstore **out);

/**
 * cfs_objstore_free() - close the store. Objects staged in batch mode and not
 * yet published by cfs_objstore_sync() are discarded (their temporary files
 * removed). Accepts NULL.
 */
void cfs_objstore_free(struct cfs_objstore *s);

/** cfs_objstore_get_alg() - the hash algorithm the store was opened with. */
enum cfs_hash_alg cfs_objstore_get_alg(const struct cfs_objstore *s);

/**
 * cfs_objstore_get_dirfd() - the store directory's file descriptor (owned by
 * the store; do not close). Object paths are relative to it.
 */
int cfs_objstore_get_dirfd(const struct cfs_objstore *s);

/**
 * cfs_objstore_object_path() - the relative path `XX/<hex>` of @digest.
 * @buf receives it NUL-terminated; @len is its size (at least 2 * digest size
 * + 2 bytes). Returns the path length, or -ERANGE when @buf is too small.
 */
int cfs_objstore_object_path(const struct cfs_objstore *s, const uint8_t *digest, char *buf,
			     size_t len);

/**
 * cfs_objstore_digest_path() - the same for a digest of @dsize bytes without
 * a store at hand (the payload the builder records for a file). This and
 * cfs_objstore_object_path() are the one definition of the layout.
 * Returns the path length, or -ERANGE when @buf is too small, -EINVAL when
 * @dsize is 0.
 */
int cfs_objstore_digest_path(const uint8_t *digest, size_t dsize, char *buf, size_t len);

/**
 * cfs_objstore_parse_path() - the inverse: the digest (@dsize bytes) named by
 * @path, which must be exactly `XX/<rest>` in lower-case hex as
 * cfs_objstore_digest_path() writes it. Returns 0, or -EINVAL for anything
 * else (upper case, other lengths, other separators).
 */
int cfs_objstore_parse_path(const char *path, size_t dsize, uint8_t *digest);

/**
 * cfs_basedir_has_payload() - whether a mount with basedir @basedir_fd would
 * find the backing file @payload (a regular file's payload, as the image
 * records it), confined the way composefs-fuse confines it: leading '/'s are
 * skipped and the rest is resolved beneath @basedir_fd (openat2()
 * RESOLVE_BENEATH, or the same checks by hand): no "..", absolute symlink or
 * magic link may lead out of it; symbolic links that stay inside are
 * followed. The file is opened (O_NONBLOCK, never read), not just looked up,
 * so the answer says nothing about files outside the basedir.
 * @basedir_fd may be an O_PATH descriptor.
 *
 * Returns 1 when a regular file is there; 0 when there is none, when
 * @payload would leave the basedir, or names something other than a regular
 * file; -EINVAL for a NULL or empty @payload; other -errno (-EACCES, ...)
 * when it cannot be told.
 */
int cfs_basedir_has_payload(int basedir_fd, const char *payload);

/**
 * cfs_objstore_has() - whether an object named @digest exists (or is staged).
 * Returns 1, 0, or a negative errno (e.g. -EACCES); a non-regular file under
 * the object's name is reported as -EUCLEAN.
 */
int cfs_objstore_has(struct cfs_objstore *s, const uint8_t *digest);

/**
 * cfs_objstore_has_all() - whether every one of @n objects is present (or
 * staged), without reading any: the check before trusting a list of digests
 * (an OCI layer's split stream) to name files of a new image.
 * @digests: @n digests of the store's algorithm, one after the other.
 * @threads: at most this many threads (0: one per CPU); small lists use one.
 * @missing: receives, on failure, the index of the object that failed (the
 *           lowest such index); may be NULL.
 *
 * Objects are asked for by name, as cfs_objstore_has() does, except where
 * many of them share an XX/ directory that holds not many more entries: that
 * directory is listed instead (a stat each costs an inode read when the
 * inode is not cached; a listing reads only directory blocks), and only
 * what the listing does not show as a regular file is asked for by name.
 * Content is not checked. Thread-safe like cfs_objstore_has().
 *
 * Returns 0 when all are present; -ENOENT when one is missing; -EUCLEAN when
 * one is not a regular file; -EINVAL (@digests NULL with @n > 0); -ENOMEM;
 * another -errno of the stat.
 */
int cfs_objstore_has_all(struct cfs_objstore *s, const uint8_t *digests, size_t n, unsigned threads,
			 size_t *missing);

/**
 * cfs_objstore_open_object() - open an object read-only (O_CLOEXEC).
 * The caller owns *@fd_out. Returns 0, -ENOENT when absent, or -errno.
 * The content is not verified against the digest here.
 */
int cfs_objstore_open_object(struct cfs_objstore *s, const uint8_t *digest, int *fd_out);

/**
 * cfs_objstore_put_fd() - store @size bytes read from @src_fd (from offset 0,
 * independent of its file position) as the object @digest, which the caller
 * has already computed (it is trusted, not re-checked). Does nothing when the
 * object exists. Copies by reflink where possible, else copy_file_range(),
 * else read/write. Atomic; durable on return unless the store is in batch
 * mode (then after cfs_objstore_sync()).
 * Returns 0; -EIO when @src_fd holds fewer than @size bytes; -errno.
 */
int cfs_objstore_put_fd(struct cfs_objstore *s, int src_fd, uint64_t size, const uint8_t *digest);

/**
 * cfs_objstore_put_buf() - like cfs_objstore_put_fd() with the content in
 * memory (@len bytes at @buf).
 */
int cfs_objstore_put_buf(struct cfs_objstore *s, const void *buf, size_t len,
			 const uint8_t *digest);

/**
 * struct cfs_objstore_stage - an object being written whose digest is not
 * known yet (for callers that hash while copying, reading the source once).
 * Create it, write its data through cfs_objstore_stage_fd() or fill it with
 * cfs_objstore_stage_clone(), then cfs_objstore_stage_commit() it under the
 * digest, or discard it with cfs_objstore_stage_free(). One thread at a time.
 */
struct cfs_objstore_stage;

/** cfs_objstore_stage_new() - start a new object. Returns 0, -ENOMEM or -errno. */
int cfs_objstore_stage_new(struct cfs_objstore *s, struct cfs_objstore_stage **out);

/** cfs_objstore_stage_fd() - writable descriptor of the staged data (owned by @st). */
int cfs_objstore_stage_fd(const struct cfs_objstore_stage *st);

/**
 * cfs_objstore_stage_clone() - make the staged data a reflink copy of all of
 * @src_fd. Returns 0; -EOPNOTSUPP when the filesystems cannot share extents
 * (-EXDEV, -EINVAL, -ENOTTY from the kernel are reported as -EOPNOTSUPP);
 * other -errno. On failure the staged data is unchanged.
 */
int cfs_objstore_stage_clone(struct cfs_objstore_stage *st, int src_fd);

/**
 * cfs_objstore_stage_commit() - publish the staged data as object @digest
 * (or in batch mode queue it for cfs_objstore_sync()). When the object
 * already exists the staged data is dropped and 0 returned. Always releases
 * @st. Returns 0 or -errno.
 */
int cfs_objstore_stage_commit(struct cfs_objstore_stage *st, const uint8_t *digest);

/** cfs_objstore_stage_free() - discard a staged object. Accepts NULL. */
void cfs_objstore_stage_free(struct cfs_objstore_stage *st);

/**
 * cfs_objstore_sync() - make all objects staged in batch mode durable and
 * visible: one sync of the store's filesystem, then the names are published,
 * then each touched directory is synced once. A no-op without batch mode
 * beyond syncing nothing. On error, objects not yet published stay staged
 * (a later call retries) and the first error is returned as -errno.
 * Other threads may go on staging (and looking up) objects while it runs:
 * it publishes what was staged when it started, and holds the handle's lock
 * for neither the filesystem sync nor the renames. Calls are serialised.
 */
int cfs_objstore_sync(struct cfs_objstore *s);

/**
 * cfs_objstore_clean() - remove the temporary files of writers that are gone.
 * @flags: must be 0.
 * @files_removed, @bytes_removed: (may be NULL) files removed (temporary
 * files and writer locks) and the apparent size of those temporary files.
 *
 * For each `.tmp-<writer>.lock` whose flock can be taken, removes that
 * writer's `.tmp-<writer>-*` files and then the lock. Temporary files of
 * running writers (their lock is held), names of any other form (e.g. left by
 * older versions), and locks on file systems without flock(2) are left alone:
 * a repository, whose garbage collection runs with every writer locked out,
 * removes those too. Safe to call while other processes write to the store.
 * Returns 0, -EINVAL for unknown flags, or the first -errno of reading the
 * directory or of an unlink (the other files are still tried).
 */
int cfs_objstore_clean(struct cfs_objstore *s, unsigned flags, uint64_t *files_removed,
		       uint64_t *bytes_removed);

/**
 * cfs_objstore_n_staged() - number of objects waiting for cfs_objstore_sync().
 */
size_t cfs_objstore_n_staged(struct cfs_objstore *s);

#ifdef __cplusplus
}
#endif
#endif
