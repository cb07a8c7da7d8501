/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Internals shared by the fs-verity sources: block hasher, descriptor, tree geometry. */
#ifndef CFS_VERITY_PRIVATE_H
#define CFS_VERITY_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include <composefs/verity.h>

#define CFS_VERITY_LOG_BLOCK_SIZE 12
/* The kernel refuses trees deeper than this (FS_VERITY_MAX_LEVELS). */
#define CFS_VERITY_MAX_LEVELS 8

/*
 * One algorithm plus a reusable OpenSSL context: the digest is fetched once
 * and the context re-initialised per block, which is much cheaper than
 * creating a context per hash.
 */
struct cfs_verity_hasher {
	enum cfs_hash_alg alg;
	size_t digest_size;
	EVP_MD *md;       /* fetched; owned unless borrowed */
	EVP_MD_CTX *ctx;  /* owned */
	bool owns_md;
};

/* 0, -EINVAL (unknown alg), -ENOMEM or -EIO. */
int cfs_verity_hasher_init(struct cfs_verity_hasher *h, enum cfs_hash_alg alg);
/* A hasher with its own context sharing @src's digest (which must outlive it),
 * for threads hashing with one algorithm. 0 or -ENOMEM. */
int cfs_verity_hasher_borrow(struct cfs_verity_hasher *h, const struct cfs_verity_hasher *src);
void cfs_verity_hasher_fini(struct cfs_verity_hasher *h);
/* Hash one block: @len (<= 4096) bytes of @data, zero-padded to 4096. 0 or -EIO. */
int cfs_verity_hash_block(struct cfs_verity_hasher *h, const void *data, size_t len,
			  uint8_t *out);
/* Plain hash of @len bytes (no padding). 0 or -EIO. */
int cfs_verity_hash_plain(struct cfs_verity_hasher *h, const void *data, size_t len,
			  uint8_t *out);
/* The file digest: hash of the fs-verity descriptor for @data_size and @root. */
int cfs_verity_hash_descriptor(struct cfs_verity_hasher *h, uint64_t data_size,
			       const uint8_t *root, uint8_t *out);

/*
 * Shape of a file's Merkle tree as the kernel lays it out: num_levels levels of
 * hash blocks, level 0 just above the data (the leaf hashes), stored in the
 * order top level first. A file of at most one block has no levels: its root
 * hash is the hash of its (only, padded) data block, or zeros when empty.
 */
struct cfs_verity_geometry {
	uint64_t data_blocks;
	unsigned num_levels;
	uint64_t level_blocks[CFS_VERITY_MAX_LEVELS]; /* blocks in level i */
	uint64_t level_start[CFS_VERITY_MAX_LEVELS];  /* first block of level i in the tree */
	uint64_t tree_blocks;
};

/* 0, -EINVAL (bad digest size) or -EFBIG (too many levels). */
int cfs_verity_geometry_compute(uint64_t data_size, size_t digest_size,
				struct cfs_verity_geometry *g);

/*
 * The fs-verity digest of the first @size bytes of @fd (read with pread from offset 0), hashed
 * on up to @threads threads (0: the usable CPUs; the calling one among them) a window at a
 * time, so memory stays bounded whatever the size. With @map the file is mapped and hashed
 * where it lies (no copy out of the page cache): only for files nobody else may truncate
 * meanwhile (a truncated mapping raises SIGBUS), such as a staged object of our own.
 * 0, -ESTALE when the file is not exactly @size bytes long (it changed since it was
 * measured), a read error, -ENOMEM or -EIO.
 */
int cfs_verity_digest_fd_threads(int fd, enum cfs_hash_alg alg, uint64_t size, unsigned threads,
				 bool map, uint8_t *digest);

/*
 * Receives each piece of the file once it is hashed: @len bytes at offset @off, in a buffer
 * aligned to CFS_VERITY_BLOCK_SIZE; @off is a multiple of it, and so is @len except for the
 * piece that ends the file. Called on any of the hashing threads, pieces in any order; 0 or a
 * negative errno, which ends the digest with that error.
 */
typedef int (*cfs_verity_sink_fn)(void *user, const void *buf, size_t len, uint64_t off);

/*
 * As cfs_verity_digest_fd_threads() without @map, and every piece read is handed to @sink
 * after it was hashed: what the sink writes elsewhere is exactly what the digest names.
 * Also returns the sink's errors.
 */
int cfs_verity_digest_fd_sink(int fd, enum cfs_hash_alg alg, uint64_t size, unsigned threads,
			      cfs_verity_sink_fn sink, void *user, uint8_t *digest);

#endif
