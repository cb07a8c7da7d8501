/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Verified access to backing objects: open by path or digest in basedirs, read ranges checked block by block. */
#ifndef COMPOSEFS_OBJECTS_H
#define COMPOSEFS_OBJECTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <composefs/verity.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * struct cfs_objects - a set of object directories (basedirs, searched in
 * order) and a cache of the Merkle trees of their objects.
 *
 * An object opened with its expected fs-verity digest is verified without
 * kernel fs-verity: its Merkle tree is built once (or loaded from the cache
 * directory, where it is checked again) and its root compared with the
 * digest; every later read returns only bytes whose 4096-byte blocks hash to
 * that tree. Trees are shared by every open of the same object; unused ones
 * are kept up to a memory bound, least recently used dropped first.
 *
 * Objects are opened beneath their basedir (no '..', no absolute paths, no
 * symbolic links), never block on a FIFO, and must be regular files.
 *
 * A broken object (missing, not a regular file, wrong size or content) is
 * reported through the options' report callback once per path, however often
 * it is opened, and the call fails with the error documented below.
 *
 * Thread-safety: every function may be called from several threads at once,
 * except cfs_objects_free(); a struct cfs_object is used by one thread at a
 * time.
 */
struct cfs_objects;

/** An opened object. */
struct cfs_object;

/**
 * cfs_objects_report_fn - called once per broken object: @path as opened
 * (e.g. "ab/cdef..."), @why a short reason, @err a negative errno or 0.
 */
typedef void (*cfs_objects_report_fn)(void *user, const char *path, const char *why, int err);

/**
 * cfs_objects_fetch_fn - get a missing object (lazy fetch): called when @path
 * is in no basedir. It must store the object, verified against @digest (NULL
 * when the image records none: then it should refuse), where the first
 * basedir finds it, and return 0; or a negative errno (-ENOENT: nobody has
 * it). @digest is of the algorithm the open gave (the set's for
 * cfs_objects_open()); the callback knows which from @path's length. Concurrent opens of one missing path wait for a single call.
 */
typedef int (*cfs_objects_fetch_fn)(void *user, const char *path, const uint8_t *digest);

/**
 * cfs_objects_tree_fn - ranged lazy fetch, first step: called (before the
 * fetch hook) for a missing object whose digest the image records. Return 0
 * with *@tree_out, the object's Merkle tree, already trusted (built, or loaded
 * with cfs_verity_tree_load() against @digest); ownership passes to the set.
 * @size is the size the image records, or CFS_OBJECT_SIZE_ANY. Any negative
 * errno (no tree published, a tree that does not match, a small object not
 * worth it) makes the open fall back to the fetch hook (the whole object).
 *
 * With a tree, the open succeeds at once and reads fetch what they need in
 * aligned 1 MiB chunks through cfs_objects_range_fn, each chunk checked
 * against the tree (again, by the set) before it is written to an anonymous
 * file in the first basedir and before any of its bytes is returned. Readers
 * of one chunk wait for a single fetch. Once every chunk is there, the file's
 * whole digest is checked and it is linked under @path (data synced first);
 * a process that dies before leaves no file behind (O_TMPFILE, or a ".tmp-"
 * name where the file system lacks it).
 */
struct cfs_verity_tree;
typedef int (*cfs_objects_tree_fn)(void *user, const char *path, const uint8_t *digest, uint64_t size,
				   struct cfs_verity_tree **tree_out);

/**
 * cfs_objects_range_fn - ranged lazy fetch: fill @buf with bytes [@offset,
 * @offset + @len) of object @digest (@offset a multiple of 4096; @len a
 * multiple of 4096 unless the range ends the object), checked against @tree.
 * Return 0; -EOPNOTSUPP when the server cannot send ranges (the object is
 * then fetched whole through the fetch hook, and the read waits for it); any
 * other negative errno fails the read that needed it with -EIO (later reads
 * ask again).
 */
typedef int (*cfs_objects_range_fn)(void *user, const uint8_t *digest, const struct cfs_verity_tree *tree,
				    void *buf, size_t len, uint64_t offset);

/** Options of cfs_objects_new(); set with cfs_objects_opts_init() first. */
struct cfs_objects_opts {
	uint32_t flags;               /* none defined yet: must be 0 */
	enum cfs_hash_alg alg;        /* digest algorithm of cfs_objects_open() (sha256) */
	size_t tree_mem;              /* bytes of unused trees kept in memory */
	int cache_dirfd;              /* directory for persistent trees, or -1 (not owned) */
	cfs_objects_report_fn report; /* may be NULL */
	void *report_user;
	cfs_objects_fetch_fn fetch;   /* missing objects: NULL fails them with -ENOENT */
	void *fetch_user;             /* for the three fetch hooks */
	uint64_t keep_mem;            /* bytes of data read by tree builds kept at once (0) */
	cfs_objects_tree_fn fetch_tree;   /* ranged fetch: both or neither, and only with fetch */
	cfs_objects_range_fn fetch_range;
	uint64_t reserved[1];         /* zero */
};

/** Default tree memory bound of cfs_objects_opts_init() (bytes). */
#define CFS_OBJECTS_DEFAULT_TREE_MEM (256u * 1024u * 1024u)

/*
 * keep_mem: the open that builds an object's tree reads (and hashes) the whole
 * object; with keep_mem > 0 it keeps as much of the object's start as fits in
 * what is left of keep_mem (shared by all opens of the set), so that reads of
 * it need neither the disk nor a second hash (cfs_object_kept_data()). The
 * memory is held until cfs_object_kept_drop() or cfs_object_close().
 */

/** cfs_objects_opts_init() - defaults: sha256, 256 MiB of trees, no cache directory, nothing kept. */
void cfs_objects_opts_init(struct cfs_objects_opts *o);

/**
 * cfs_objects_new() - a set over the basedirs @basedir_fds (@n of them,
 * searched in order; duplicated, the caller keeps its descriptors). @o NULL
 * means defaults. Returns 0, -EINVAL (no basedir, unknown flags or
 * algorithm, only one of fetch_tree and fetch_range, or those without fetch),
 * -ENOMEM, or -errno of dup.
 */
int cfs_objects_new(const int *basedir_fds, size_t n, const struct cfs_objects_opts *o,
		    struct cfs_objects **out);

/** cfs_objects_free() - close everything; objects must be closed first. NULL is fine. */
void cfs_objects_free(struct cfs_objects *c);

/** Object size not known in advance (cfs_objects_open()). */
#define CFS_OBJECT_SIZE_ANY UINT64_MAX

/**
 * cfs_objects_open() - open the object at @path (relative to a basedir, e.g.
 * an image's redirect "ab/cdef..."; leading '/' ignored) in the first basedir
 * that has it.
 * @digest: its expected fs-verity digest, or NULL to read it unverified.
 * @size: its expected size (the file size the image records), or
 *   CFS_OBJECT_SIZE_ANY.
 * Returns 0, -ENOENT (in no basedir), -EIO (not a regular file, unreadable,
 * or a size different from @size or from what @digest describes),
 * -CFS_EDIGEST (content does not match @digest), -ENOMEM.
 */
int cfs_objects_open(struct cfs_objects *c, const char *path, const uint8_t *digest, uint64_t size,
		     struct cfs_object **out);

/**
 * cfs_objects_open_alg() - cfs_objects_open() with a digest of algorithm
 * @alg instead of the set's (one set serves images of either algorithm:
 * trees are kept per algorithm and digest). Errors as cfs_objects_open(),
 * and -EINVAL for an unknown @alg with a @digest.
 */
int cfs_objects_open_alg(struct cfs_objects *c, const char *path, enum cfs_hash_alg alg, const uint8_t *digest,
			 uint64_t size, struct cfs_object **out);

/**
 * cfs_objects_open_digest() - open the object named by @digest itself
 * (`XX/<hex>` in the object store layout), verified against it.
 * Errors as cfs_objects_open().
 */
int cfs_objects_open_digest(struct cfs_objects *c, const uint8_t *digest, struct cfs_object **out);

/** cfs_object_close() - release @o (NULL is fine). */
void cfs_object_close(struct cfs_object *o);

/** cfs_object_size() - size of the object in bytes. */
uint64_t cfs_object_size(const struct cfs_object *o);

/** cfs_object_path() - the path it was opened by, for messages. */
const char *cfs_object_path(const struct cfs_object *o);

/**
 * cfs_object_pread() - read up to @len bytes at @offset into @buf, like
 * pread(2) (short only at the end of the object). When the object was opened
 * with a digest, every block the bytes come from is checked first, and
 * nothing is copied unless all are good. Returns the byte count (0 at or past
 * the end), -CFS_EDIGEST (content changed since the open), -EIO (read error,
 * or the object shrank), -ENOMEM.
 */
ssize_t cfs_object_pread(struct cfs_object *o, void *buf, size_t len, uint64_t offset);

/**
 * cfs_object_read_buf() - the same without a copy: on success *@buf_out is a
 * malloc'd buffer (the caller frees it) and *@data_out points at the
 * requested bytes inside it. For servers that hand the bytes on (FUSE). Unlike
 * cfs_object_pread() it asks for no read-ahead: a server calls
 * cfs_object_read_ahead() once it has answered.
 */
ssize_t cfs_object_read_buf(struct cfs_object *o, uint64_t offset, size_t len, char **buf_out,
			    const char **data_out);

/**
 * cfs_object_read_ahead() - a sequential reader just read up to @end: have
 * the disk read the object's next bytes now (advice to the kernel, a window of
 * some MiB ahead of @end, each byte asked for once). It may wait for the disk
 * to take the requests, so a server calls it after answering the read. Objects
 * fetched in ranges are left alone.
 */
void cfs_object_read_ahead(struct cfs_object *o, uint64_t end);

/**
 * cfs_object_kept_data() - the object's first bytes as the tree build of this
 * open read and hashed them (see keep_mem in struct cfs_objects_opts): their
 * length, and in *@data_out a pointer to them, valid until
 * cfs_object_kept_drop() or cfs_object_close(). They were checked against the
 * digest given to the open, so they may be handed on unchecked (a FUSE server
 * stores them in the kernel's page cache). 0 and NULL when this open kept
 * nothing (its tree came from the cache, memory was short, no digest).
 */
size_t cfs_object_kept_data(const struct cfs_object *o, const void **data_out);

/**
 * cfs_object_kept_drop() - release what cfs_object_kept_data() gives (later
 * reads of that range are read and checked as usual).
 */
void cfs_object_kept_drop(struct cfs_object *o);

/**
 * cfs_object_lseek() - lseek(2) with SEEK_DATA or SEEK_HOLE on the object
 * (where its data and holes are; no bytes are returned, so nothing needs
 * verifying). Returns the offset or -errno (-EINVAL for another @whence).
 */
off_t cfs_object_lseek(struct cfs_object *o, off_t offset, int whence);

/** Counters of a set, for tests and statistics. */
struct cfs_objects_stats {
	uint64_t trees_built, trees_loaded, trees_saved, tree_hits, evictions;
	size_t mem_used;
};

/** cfs_objects_get_stats() - a consistent copy of the counters. */
void cfs_objects_get_stats(struct cfs_objects *c, struct cfs_objects_stats *st);

#ifdef __cplusplus
}
#endif
#endif
