/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* fs-verity file digests (streaming and Merkle tree) and the kernel's verity ioctls. */
#ifndef COMPOSEFS_VERITY_H
#define COMPOSEFS_VERITY_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The digest computed here is the one the Linux kernel defines for fs-verity
 * (Documentation/filesystems/fsverity.rst) with 4096-byte blocks and no salt:
 * a Merkle tree over the file's 4096-byte blocks (the last one zero-padded),
 * each level hashing the zero-padded 4096-byte blocks of the level below, up to
 * one root hash; the file digest is the hash of a 256-byte descriptor holding
 * the algorithm, the block size, the file size and the root hash. An empty file
 * has an all-zero root hash. These are the digests that name objects in a
 * composefs object store and that the kernel reports for a verity file.
 *
 * Error convention: every int function returns 0 (or a documented count) on
 * success and a negative errno on failure. A digest that does not match the
 * expected one is -CFS_EDIGEST. All functions are thread-safe on distinct
 * handles; a const handle (struct cfs_verity_tree) may be used by several
 * threads at once.
 */

/** Hash algorithms; the values are the kernel's FS_VERITY_HASH_ALG_*. */
enum cfs_hash_alg {
	CFS_HASH_SHA256 = 1,
	CFS_HASH_SHA512 = 2,
};

/** Largest digest size of any supported algorithm (bytes). */
#define CFS_VERITY_MAX_DIGEST 64

/** The Merkle tree block size (bytes) used for every digest here. */
#define CFS_VERITY_BLOCK_SIZE 4096

/** Error returned (negated) when data does not match its expected digest. */
#define CFS_EDIGEST EBADMSG

/**
 * cfs_verity_digest_size() - digest size of @alg in bytes.
 * Returns 32 for sha256, 64 for sha512, 0 for an unknown value.
 */
size_t cfs_verity_digest_size(enum cfs_hash_alg alg);

/**
 * cfs_hash_alg_from_name() - parse an algorithm name.
 * @name: "sha256" or "sha512" (exact, lower case).
 * @out: receives the algorithm.
 * Returns 0, or -EINVAL for an unknown name (then @out is untouched).
 */
int cfs_hash_alg_from_name(const char *name, enum cfs_hash_alg *out);

/**
 * cfs_hash_alg_name() - the name of @alg ("sha256", "sha512"), or NULL for an
 * unknown value. The string is static.
 */
const char *cfs_hash_alg_name(enum cfs_hash_alg alg);

/**
 * cfs_digest_to_hex() - @len bytes of @digest as lower-case hex in @out,
 * which holds 2 * @len + 1 bytes (NUL-terminated).
 */
void cfs_digest_to_hex(const uint8_t *digest, size_t len, char *out);

/**
 * cfs_digest_from_hex() - parse @hex, exactly 2 * @len hex digits (either
 * case) and nothing else, into @out. Returns 0 or -EINVAL.
 */
int cfs_digest_from_hex(const char *hex, uint8_t *out, size_t len);

/* ---- Streaming digest ---------------------------------------------------- */

/**
 * struct cfs_verity_ctx - a streaming fs-verity digest computation.
 *
 * Feed the file's bytes in order, in chunks of any size, then take the
 * digest. Memory is bounded (one partial block per tree level, about 40 KiB)
 * whatever the file size. Not thread-safe: one thread at a time per context.
 */
struct cfs_verity_ctx;

/**
 * cfs_verity_ctx_new() - create a streaming context for @alg.
 * @out: receives the new context; free it with cfs_verity_ctx_free().
 * Returns 0, -EINVAL for an unknown @alg, -ENOMEM, or -EIO when OpenSSL
 * cannot provide the hash.
 */
int cfs_verity_ctx_new(enum cfs_hash_alg alg, struct cfs_verity_ctx **out);

/**
 * cfs_verity_update() - feed the next @len bytes of the file.
 * @buf may be NULL when @len is 0.
 * Returns 0, -EINVAL (NULL @buf with non-zero @len), -EFBIG (more than
 * 2^64-1 bytes in total) or -EIO (OpenSSL failure; the context must then be
 * freed or finalized, whose result is meaningless).
 */
int cfs_verity_update(struct cfs_verity_ctx *ctx, const void *buf, size_t len);

/**
 * cfs_verity_final() - finish and write the digest.
 * @digest: receives cfs_verity_digest_size() bytes.
 * Afterwards the context is reset to its state after cfs_verity_ctx_new() and
 * can digest another file (with the same algorithm), whether or not this call
 * succeeded. Returns 0 or -EIO.
 */
int cfs_verity_final(struct cfs_verity_ctx *ctx, uint8_t *digest);

/** cfs_verity_ctx_free() - free a context. Accepts NULL. */
void cfs_verity_ctx_free(struct cfs_verity_ctx *ctx);

/**
 * cfs_verity_digest_buf() - fs-verity digest of the @len bytes at @buf.
 * @digest: receives cfs_verity_digest_size(@alg) bytes.
 * Returns 0, -EINVAL (unknown @alg, or NULL @buf with non-zero @len),
 * -ENOMEM or -EIO.
 */
int cfs_verity_digest_buf(enum cfs_hash_alg alg, const void *buf, size_t len, uint8_t *digest);

/**
 * cfs_verity_digest_fd() - fs-verity digest of a whole file, computed here.
 * @fd: readable with pread(2), read from offset 0 to end of file in large
 *      chunks; the file offset of @fd is not used or changed.
 * @digest: receives cfs_verity_digest_size(@alg) bytes.
 * Returns 0, -EINVAL (unknown @alg), -ENOMEM, -EIO, or the negative errno of
 * a failed pread(2) (e.g. -EBADF, -EISDIR, -ESPIPE for a pipe).
 */
int cfs_verity_digest_fd(int fd, enum cfs_hash_alg alg, uint8_t *digest);

/* ---- Kernel fs-verity ---------------------------------------------------- */

/**
 * cfs_verity_kernel_measure() - ask the kernel for the fs-verity digest of a
 * file that has verity enabled (FS_IOC_MEASURE_VERITY). The kernel vouches
 * for this digest: it verifies every read of the file against it.
 * @digest: receives cfs_verity_digest_size(@alg) bytes.
 * Returns 0, or:
 *   -EOPNOTSUPP  the kernel or the file system has no fs-verity (the kernel's
 *                ENOTTY, ENOSYS and EOPNOTSUPP are all reported as this);
 *   -ENODATA     verity is not enabled on this file;
 *   -EINVAL      unknown @alg, or the file's verity uses another algorithm
 *                (or block size) than the one asked for;
 *   other        negative errno from ioctl(2) (e.g. -EBADF).
 */
int cfs_verity_kernel_measure(int fd, enum cfs_hash_alg alg, uint8_t *digest);

/**
 * cfs_verity_kernel_enable() - enable fs-verity on a file (FS_IOC_ENABLE_VERITY)
 * with @alg, 4096-byte blocks and no salt, so its kernel digest equals the one
 * computed here. This makes the file read-only forever and can take a while
 * (the kernel hashes the whole file).
 * @fd: opened read-only, with no writable file descriptor open on the file.
 * Returns 0, or:
 *   -EOPNOTSUPP  the kernel or the file system has no fs-verity, or not with
 *                these parameters (ENOTTY and ENOSYS are reported as this);
 *   -EEXIST      verity is already enabled;
 *   -ETXTBSY     the file is open for writing;
 *   -EINVAL      unknown @alg;
 *   other        negative errno from ioctl(2) (-EACCES, -EPERM, -EROFS,
 *                -EBUSY, -EFBIG, -ENOSPC, ...).
 */
int cfs_verity_kernel_enable(int fd, enum cfs_hash_alg alg);

/**
 * cfs_verity_measure_fd() - the file's fs-verity digest: from the kernel when
 * verity is enabled on it with @alg, otherwise computed here like
 * cfs_verity_digest_fd() (kernel answers -EOPNOTSUPP, -ENODATA or -EINVAL).
 * @from_kernel: may be NULL; set to true when the kernel provided the digest.
 * Returns 0 or the errors of cfs_verity_digest_fd(); another kernel error
 * (e.g. -EIO) is returned as is.
 */
int cfs_verity_measure_fd(int fd, enum cfs_hash_alg alg, uint8_t *digest, bool *from_kernel);

/* ---- Merkle tree for random-access verification --------------------------- */

/**
 * struct cfs_verity_tree - the complete Merkle tree of one file whose digest
 * is known, to check blocks read later (in any order) without rehashing the
 * whole file: a check costs one hash per 4096-byte block. Holds about
 * digest_size/4096 of the file size (32 bytes per block for sha256). Immutable
 * after creation: concurrent cfs_verity_tree_check() calls are safe.
 */
struct cfs_verity_tree;

/**
 * cfs_verity_tree_build() - read the whole file @fd (pread from offset 0, size
 * from fstat(2)) and build its Merkle tree, then compare the file's digest
 * with @expected_digest (cfs_verity_digest_size(@alg) bytes).
 * @out: receives the tree; free it with cfs_verity_tree_free().
 * Returns 0, or:
 *   -CFS_EDIGEST  the content does not have the expected digest;
 *   -EINVAL       unknown @alg, or @fd is not a regular file;
 *   -EIO          the file shrank while it was read (or an OpenSSL failure);
 *   -EFBIG        the file is too large for a tree (more than 8 levels);
 *   -ENOMEM, or a negative errno of fstat(2)/pread(2).
 */
int cfs_verity_tree_build(int fd, enum cfs_hash_alg alg, const uint8_t *expected_digest,
			  struct cfs_verity_tree **out);

/**
 * cfs_verity_tree_build_keep() - cfs_verity_tree_build(), also handing out
 * the first bytes of the file exactly as they were hashed: the data blocks
 * below @keep_len are read into @keep (at their file offset) and hashed
 * there. On success they are the file's verified content, whatever the file
 * holds by then, so a reader may serve them without hashing them again; on
 * failure @keep holds unverified bytes and must not be used.
 * @keep: NULL (with @keep_len 0), or a buffer of @keep_len bytes.
 * @keep_len: a multiple of 4096, or at least the file size; bytes past the
 *            end of the file are left untouched.
 * Returns as cfs_verity_tree_build(); -EINVAL also for a bad @keep_len.
 */
int cfs_verity_tree_build_keep(int fd, enum cfs_hash_alg alg, const uint8_t *expected_digest, void *keep,
			       size_t keep_len, struct cfs_verity_tree **out);

/**
 * cfs_verity_tree_check() - check data read from the file against the tree.
 * @offset: file offset of @buf, a multiple of 4096.
 * @buf, @len: the data; @len is a multiple of 4096 unless the range ends
 *             exactly at the end of the file (a short last block).
 *             offset + len must not exceed the file size. @len 0 checks nothing.
 * Returns 0 when every block matches, -CFS_EDIGEST when one does not, -EINVAL
 * for a misaligned or out-of-range request, -ENOMEM or -EIO (OpenSSL).
 */
int cfs_verity_tree_check(const struct cfs_verity_tree *t, uint64_t offset, const void *buf,
			  size_t len);

/** cfs_verity_tree_file_size() - size in bytes of the file the tree describes. */
uint64_t cfs_verity_tree_file_size(const struct cfs_verity_tree *t);

/** cfs_verity_tree_alg() - the hash algorithm of the tree (and of the file's digest). */
enum cfs_hash_alg cfs_verity_tree_alg(const struct cfs_verity_tree *t);

/** cfs_verity_tree_mem_size() - bytes of memory the tree holds (approximate). */
size_t cfs_verity_tree_mem_size(const struct cfs_verity_tree *t);

/**
 * cfs_verity_tree_save() - write the tree as a cache file: a 128-byte header
 * (magic "CFSVTREE", format version, algorithm, block size, file size, root
 * hash) followed by the tree's hash blocks in the kernel's order (root level
 * first). Written with write(2) from the current offset of @fd; the caller
 * provides atomicity (e.g. a temporary file renamed into place).
 * Returns 0 or a negative errno of write(2).
 */
int cfs_verity_tree_save(const struct cfs_verity_tree *t, int fd);

/**
 * cfs_verity_tree_load() - read a cache file written by cfs_verity_tree_save()
 * from the current offset of @fd to its end. The file is untrusted: every
 * field is bounds-checked, every hash block is rehashed against its parent,
 * and the resulting file digest must equal @expected_digest (for @alg), so a
 * loaded tree is as trustworthy as a built one.
 * @out: receives the tree; free it with cfs_verity_tree_free().
 * Returns 0, or:
 *   -EUCLEAN      not a well-formed cache file (bad magic, version, field,
 *                 size, trailing data, truncated) or internally inconsistent;
 *   -CFS_EDIGEST  a consistent tree, but of another file or for another
 *                 algorithm (a stale cache);
 *   -EINVAL       unknown @alg;
 *   -ENOMEM, -EIO (OpenSSL), or a negative errno of read(2)/fstat(2).
 */
int cfs_verity_tree_load(int fd, enum cfs_hash_alg alg, const uint8_t *expected_digest,
			 struct cfs_verity_tree **out);

/** cfs_verity_tree_free() - free a tree. Accepts NULL. */
void cfs_verity_tree_free(struct cfs_verity_tree *t);

#ifdef __cplusplus
}
#endif
#endif
