/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Private parts of the image reader shared by its source files. */
#ifndef CFS_READER_H
#define CFS_READER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <composefs/image.h>

#include "erofs.h"

struct cfs_image {
	const uint8_t *data; /* the image, never written */
	uint64_t size;
	void *map;           /* mmap'ed region, or NULL */
	size_t map_len;
	void *owned;         /* malloc'ed copy, or NULL */

	uint32_t header_version;
	uint32_t header_flags;
	uint32_t composefs_version;
	uint32_t feature_compat;
	uint32_t feature_incompat;
	uint32_t blocks;
	uint32_t meta_blkaddr;
	uint32_t xattr_blkaddr;
	uint64_t meta_off;   /* byte offset of nid 0 */
	uint64_t xattr_off;  /* byte offset of shared xattr id 0 */
	uint64_t root_nid;
	uint64_t inos;
	int64_t build_time;
	uint32_t build_time_nsec;

	pthread_mutex_t err_lock;
	char errmsg[256];
};

/* One decoded, bounds-checked inode. All offsets are absolute and verified
 * to lie within the image at decode time. */
struct cfs_inode {
	uint64_t nid;
	uint64_t off;          /* start of the on-disk inode */
	uint32_t isize;        /* 32 or 64 */
	uint32_t mode, uid, gid, nlink, rdev;
	uint64_t size;
	int64_t mtime;
	uint32_t mtime_nsec;
	unsigned layout;       /* EROFS_INODE_FLAT_* / CHUNK_BASED */
	uint16_t xattr_icount;
	uint64_t xattr_off;    /* inline xattr area (header first) */
	uint32_t xattr_size;
	uint32_t raw_blkaddr;
	uint64_t tail_off;     /* after the xattrs: inline tail or chunk table */
	uint64_t n_blocks;     /* data blocks outside the inode (flat layouts) */
	uint32_t tail_len;     /* inline tail bytes (FLAT_INLINE) */
};

/* Record a message on @img and return @err (a negative errno). */
int cfs_image_fail(struct cfs_image *img, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Decode inode @nid with every structural bound checked. */
int cfs_inode_read(struct cfs_image *img, uint64_t nid, struct cfs_inode *ino);

/* Pointer to @len data bytes of @ino at @off, provided the range does not
 * straddle the block/tail boundary (callers split there). */
int cfs_inode_data(struct cfs_image *img, const struct cfs_inode *ino, uint64_t off, size_t len, const uint8_t **p);

/* Copy @len bytes at @off of a flat inode's data into @buf. */
int cfs_inode_copy(struct cfs_image *img, const struct cfs_inode *ino, uint64_t off, size_t len, void *buf);

/* Whiteout marker and backing info collected while walking xattrs. */
struct cfs_xattr_visit {
	/* called for each user-visible xattr (name NUL-terminated) */
	int (*fn)(void *user, const char *name, size_t namelen, const uint8_t *value, size_t len);
	void *user;
	bool want_backing;
	bool raw;              /* call fn for every entry with its stored name */
	bool mount_view;       /* as a kernel overlay mount shows them (cfs_xattr_view) */
	/* outputs */
	char *redirect;        /* malloc'd when want_backing; the first entry's */
	bool seen_redirect;    /* a redirect entry was met (the first one counts) */
	bool has_digest;
	enum cfs_hash_alg digest_alg; /* when has_digest */
	uint8_t digest[CFS_DIGEST_MAX_SIZE];
	bool escaped_whiteout; /* regular file to present as 0/0 chardev */
	bool has_metacopy;     /* a trusted.overlay.metacopy entry (any length, any file type) */
	size_t metacopy_len;   /* the first one's value length */
};

/* Walk inline then shared xattrs of @ino, undoing the overlay escapes. */
int cfs_xattr_walk(struct cfs_image *img, const struct cfs_inode *ino, struct cfs_xattr_visit *v);

/* Whether @ino is a regular file carrying the escaped-whiteout marker. */
int cfs_inode_is_escaped_whiteout(struct cfs_image *img, const struct cfs_inode *ino, bool *res);

/* Directory iteration: callback per entry (name not NUL-terminated). */
typedef int (*cfs_dirent_fn)(void *user, const char *name, size_t namelen, uint64_t nid, uint8_t ftype);
int cfs_dir_iterate(struct cfs_image *img, const struct cfs_inode *dir, uint64_t start, cfs_dirent_fn fn, void *user);

#endif
