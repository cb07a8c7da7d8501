/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Reading composefs images: the one bounded, hostile-input-proof EROFS reader. */
#ifndef COMPOSEFS_IMAGE_H
#define COMPOSEFS_IMAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <composefs/tree.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Design: the image is accessed as one immutable byte range.
 *
 * cfs_image_open_fd() maps the file read-only (mmap, MAP_PRIVATE) instead of
 * reading it through pread() and a block cache. The FUSE daemon performs a
 * lookup, getattr or listxattr per request from several threads; with a
 * mapping these are plain bounds-checked memory reads, with no locking, no
 * cache eviction and no per-call allocation, and the page cache already is
 * the block cache. Every offset taken from the image is checked against the
 * size recorded at open time before it is dereferenced, so a hostile image
 * cannot make the reader touch memory outside the mapping.
 *
 * The one thing a mapping cannot defend against is the file being truncated
 * by someone else while it is open (the process would get SIGBUS). Images are
 * normally immutable (fs-verity, read-only stores); a caller that reads a file
 * another party may still modify passes CFS_IMAGE_OPEN_COPY, which reads the
 * whole file into private memory instead.
 *
 * All functions taking a `struct cfs_image *` may be called concurrently from
 * several threads on one handle: the image bytes are never written, and
 * every call uses its own buffers. Only the error message slot is shared; it
 * is protected by a lock, and cfs_image_errmsg_copy() reads it safely.
 *
 * Errors: functions return 0 (or a length) on success and a negative errno on
 * failure. -EUCLEAN means the image is corrupt, -EOPNOTSUPP that it uses a
 * feature this reader does not support; both leave a message naming the
 * inode (nid) or offset on the handle ("inode 4711: xattr entry exceeds
 * the inode's xattr area").
 */

/** An opened image. */
struct cfs_image;

/** Read the whole file into private memory rather than mapping it. */
#define CFS_IMAGE_OPEN_COPY (1u << 0)

/** Options for opening an image; zero-initialise. Unknown flags: -EINVAL. */
struct cfs_image_opts {
	uint32_t flags;         /* CFS_IMAGE_OPEN_* */
	uint32_t reserved[15];  /* must be zero */
};

/**
 * cfs_image_open_fd() - open the image in the regular file @fd.
 * @fd: readable file descriptor; not taken over (the caller may close it
 *      right after this returns).
 * @o: options, or NULL for defaults.
 * @out: receives the handle on success.
 *
 * Validates the composefs header, the EROFS superblock and the root inode,
 * and refuses unknown header flags, format versions and EROFS features.
 * Returns 0; -EUCLEAN for a corrupt or non-composefs file; -EOPNOTSUPP for an
 * image using features we cannot read; -EINVAL for bad options or an @fd
 * that is not a regular file; -EFBIG if it cannot be mapped; -ENOMEM; or the
 * errno of fstat/mmap/read. No handle is returned on failure, so use
 * cfs_image_open_fd_err() to get the explanation ("not a composefs image we
 * can read: <reason>").
 */
int cfs_image_open_fd(int fd, const struct cfs_image_opts *o, struct cfs_image **out);

/**
 * cfs_image_open_mem() - open an image held in memory.
 * The buffer is NOT copied: it must stay valid and unchanged until
 * cfs_image_close(). Same return values as cfs_image_open_fd().
 */
int cfs_image_open_mem(const void *buf, size_t len, const struct cfs_image_opts *o, struct cfs_image **out);

/**
 * cfs_image_open_fd_err() / cfs_image_open_mem_err() - as above, but a
 * message explaining a failure ("not a composefs image we can read: ...") is
 * written to @errbuf (@errlen bytes, NUL-terminated; may be NULL/0).
 */
int cfs_image_open_fd_err(int fd, const struct cfs_image_opts *o, struct cfs_image **out, char *errbuf, size_t errlen);
int cfs_image_open_mem_err(const void *buf, size_t len, const struct cfs_image_opts *o, struct cfs_image **out,
			   char *errbuf, size_t errlen);

/** cfs_image_close() - release the handle (unmaps/frees). Accepts NULL. */
void cfs_image_close(struct cfs_image *img);

/**
 * cfs_image_errmsg() - detail of the last error reported on @img ("" if none).
 * The pointer stays valid until close, but another thread failing at the same
 * time may overwrite it; concurrent users call cfs_image_errmsg_copy().
 */
const char *cfs_image_errmsg(const struct cfs_image *img);

/** cfs_image_errmsg_copy() - copy the last error detail into @buf (NUL-terminated). */
void cfs_image_errmsg_copy(const struct cfs_image *img, char *buf, size_t len);

/** cfs_image_root() - nid of the root directory. */
uint64_t cfs_image_root(const struct cfs_image *img);

/** cfs_image_header_version() - composefs_version of the header (0 or 1). Returns 0. */
int cfs_image_header_version(const struct cfs_image *img, uint32_t *composefs_version);

/** Header flag: some inode of the image has a POSIX ACL (mount with ACL support). */
#define CFS_IMAGE_FLAG_HAS_ACL (1u << 0)

/** Summary of an opened image, from its headers. */
struct cfs_image_info {
	uint32_t header_version;    /* composefs header version (1) */
	uint32_t composefs_version; /* format version the image was written as */
	uint32_t header_flags;      /* CFS_IMAGE_FLAG_* */
	uint32_t feature_compat;    /* EROFS superblock features */
	uint32_t feature_incompat;
	uint64_t inodes;            /* inode count from the superblock */
	uint64_t root_nid;
	uint64_t image_size;        /* bytes */
	uint32_t blocks;            /* superblock block count */
	uint32_t meta_blkaddr;
	uint32_t xattr_blkaddr;
	int64_t build_time;         /* mtime of compact inodes */
	uint32_t build_time_nsec;
	uint32_t reserved[9];
};

/** cfs_image_get_info() - fill @info. Never fails; returns 0. */
int cfs_image_get_info(const struct cfs_image *img, struct cfs_image_info *info);

/**
 * cfs_image_data() - the image bytes (mapping or buffer) and their length.
 * Read-only, valid until close. For digesting the whole image.
 */
const void *cfs_image_data(const struct cfs_image *img, size_t *len);

/**
 * struct cfs_stat - attributes of one inode.
 * @rdev is the value stored in the image (the one dump files use);
 * @mtime of compact inodes is the superblock build time. A regular file
 * carrying the escaped overlay whiteout marker is reported as what it stands
 * for: a character device 0/0 of size 0 (as the dump shows it).
 */
struct cfs_stat {
	uint64_t nid;
	uint32_t mode, uid, gid, nlink, rdev;
	uint64_t size;
	int64_t mtime_sec;
	uint32_t mtime_nsec;
};

/**
 * enum cfs_xattr_view - which names the xattr calls show. Both hide the
 * overlayfs-private trusted.overlay.* entries that hold the image's structure
 * (redirect, metacopy, opaque markers of the format) and show escaped ones
 * (trusted.overlay.overlay.X) as trusted.overlay.X.
 * @CFS_XATTR_VIEW_DUMP: the content as the dump format and the tree loader
 *   give it: the markers of escaped whiteouts (trusted.overlay.overlay.whiteout
 *   and .whiteouts, user.overlay.whiteout and .whiteouts) are left out, since
 *   the dump shows the whiteout itself.
 * @CFS_XATTR_VIEW_MOUNT: exactly as a kernel overlay mount of the image shows
 *   them (what composefs-fuse serves): those markers are shown too.
 */
enum cfs_xattr_view {
	CFS_XATTR_VIEW_DUMP = 0,
	CFS_XATTR_VIEW_MOUNT = 1,
};

/**
 * cfs_image_stat() - attributes of inode @nid.
 * Returns 0, -EUCLEAN (bad nid or corrupt inode), -EOPNOTSUPP.
 */
int cfs_image_stat(struct cfs_image *img, uint64_t nid, struct cfs_stat *st);

/**
 * cfs_image_stat_view() - attributes of inode @nid as @view shows it.
 * CFS_XATTR_VIEW_DUMP is cfs_image_stat(): an escaped whiteout (a regular
 * file marked trusted.overlay.overlay.whiteout) is shown as the 0/0
 * character device it stands for. CFS_XATTR_VIEW_MOUNT shows what a kernel
 * overlay mount shows: the escaped whiteout as the regular file it is, and a
 * real whiteout (0/0 character device) not at all.
 * Returns 0, 1 (CFS_XATTR_VIEW_MOUNT only: @nid is a whiteout the mount
 * hides; @st is filled anyway), -EUCLEAN, -EOPNOTSUPP.
 */
int cfs_image_stat_view(struct cfs_image *img, uint64_t nid, enum cfs_xattr_view view,
			struct cfs_stat *st);

/**
 * cfs_image_lookup() - find @name (@namelen bytes, no NUL needed) in directory
 * @dir_nid by binary search over its dirent blocks. "." and ".." are found as
 * stored. Returns 0 with the child's nid in *@nid_out; -ENOENT; -ENOTDIR;
 * -EUCLEAN; -EOPNOTSUPP.
 */
int cfs_image_lookup(struct cfs_image *img, uint64_t dir_nid, const char *name, size_t namelen, uint64_t *nid_out);

/**
 * cfs_readdir_fn - called per directory entry. @name points into the image
 * and is NOT NUL-terminated; @dtype is a DT_* value. Return non-zero to stop
 * (cfs_image_readdir() then returns that value if it is negative, else 0).
 */
typedef int (*cfs_readdir_fn)(void *user, const char *name, size_t namelen, uint64_t nid, unsigned dtype);

/**
 * cfs_image_readdir() - list directory @dir_nid from entry number
 * @start_index (0 = first; "." and ".." are entries like any other, in
 * on-disk order). Whiteouts (character devices 0/0) are listed as stored.
 * Returns 0 (also when the callback stopped with a positive value), the
 * callback's negative value, -ENOTDIR, -EUCLEAN, -EOPNOTSUPP.
 */
int cfs_image_readdir(struct cfs_image *img, uint64_t dir_nid, uint64_t start_index, cfs_readdir_fn fn, void *user);

/**
 * cfs_image_readlink() - target of symlink @nid into @buf; NUL-terminated if
 * there is room. Returns the target length (which may exceed @bufsize, like
 * snprintf: then only bufsize-1 bytes were copied), -EINVAL if not a symlink,
 * -EUCLEAN.
 */
int cfs_image_readlink(struct cfs_image *img, uint64_t nid, char *buf, size_t bufsize);

/**
 * cfs_image_read_inline() - read up to @len bytes at @offset of a regular file
 * whose content is stored in the image (flat layout). Returns the number of
 * bytes read (0 at or past EOF), -EINVAL if @nid is not a regular file,
 * -ENODATA if its content is not in the image (chunk-based external file),
 * -EUCLEAN.
 */
int cfs_image_read_inline(struct cfs_image *img, uint64_t nid, void *buf, size_t len, uint64_t offset);

/**
 * cfs_image_get_backing() - where the content of an external regular file
 * lives: the overlay redirect (object path relative to the store, leading '/'
 * removed; malloc'd, caller frees; NULL if none) and the fs-verity digest from
 * the overlay metacopy xattr (*@has_digest false if none). Either output may
 * be NULL. Returns 0, -EINVAL if not a regular file, -EUCLEAN, -ENOMEM.
 */
int cfs_image_get_backing(struct cfs_image *img, uint64_t nid, char **redirect_out, uint8_t digest_out[32], bool *has_digest);

/**
 * cfs_image_get_backing_digest() - like cfs_image_get_backing(), for digests
 * of any algorithm: *@alg_out is the algorithm of the metacopy digest
 * (CFS_HASH_SHA256 for a 36-byte struct ovl_metacopy, CFS_HASH_SHA512 for a
 * 68-byte one) or 0 when there is none, and @digest_out (CFS_VERITY_MAX_DIGEST
 * bytes of room) receives cfs_verity_digest_size() bytes of it. (The older
 * cfs_image_get_backing() reports only sha256 digests.) Any output may be
 * NULL. Returns 0, -EINVAL if not a regular file, -EUCLEAN, -ENOMEM.
 */
int cfs_image_get_backing_digest(struct cfs_image *img, uint64_t nid, char **redirect_out, enum cfs_hash_alg *alg_out,
				 uint8_t *digest_out);

/**
 * cfs_image_get_backing_full() - what an open of regular file @nid needs, in
 * one walk of its xattrs: the outputs of cfs_image_get_backing_digest(), and
 * in *@followed_out whether a kernel overlay mount follows its redirect, as
 * cfs_image_redirect_followed() answers it. Any output may be NULL. Returns 0,
 * -EINVAL if not a regular file, -EUCLEAN, -EOPNOTSUPP, -ENOMEM.
 */
int cfs_image_get_backing_full(struct cfs_image *img, uint64_t nid, char **redirect_out, enum cfs_hash_alg *alg_out,
			       uint8_t *digest_out, bool *followed_out);

/**
 * cfs_image_redirect_followed() - whether a kernel overlay mount of @img
 * follows the redirect of regular file @nid to its backing object: overlayfs
 * does so only when the file also has a metacopy xattr, empty or of at least
 * 4 bytes (1 to 3 bytes is an error); otherwise the mount shows the image's
 * own (empty) data. A reader serving objects (composefs-fuse) must refuse
 * what the kernel would not follow. Returns 1, 0, -EUCLEAN, -EOPNOTSUPP.
 */
int cfs_image_redirect_followed(struct cfs_image *img, uint64_t nid);

/**
 * cfs_image_listxattr() - the visible xattr names of @nid in @view,
 * NUL-separated, like listxattr(2). @size 0 returns the needed size. Returns
 * the length, -ERANGE if @size is too small, -EUCLEAN, -EOPNOTSUPP.
 */
int cfs_image_listxattr(struct cfs_image *img, uint64_t nid, enum cfs_xattr_view view, char *buf,
			size_t size);

/**
 * cfs_image_getxattr() - value of the xattr @name as @view shows it (see
 * cfs_image_listxattr()), like getxattr(2). @size 0 returns the length.
 * Returns the length, -ENODATA, -ERANGE, -EUCLEAN, -EOPNOTSUPP.
 */
int cfs_image_getxattr(struct cfs_image *img, uint64_t nid, enum cfs_xattr_view view, const char *name,
		       void *buf, size_t size);

/**
 * cfs_xattr_fn - called per stored xattr by cfs_image_xattr_iterate(): @name
 * is the full name (prefix included, NUL-terminated), @value/@len point into
 * the image. Return 0 to go on, anything else to stop (a negative value is
 * then returned by cfs_image_xattr_iterate(), a positive one turns into 0).
 */
typedef int (*cfs_xattr_fn)(void *user, const char *name, size_t namelen, const void *value, size_t len);

/**
 * cfs_image_xattr_iterate() - every xattr of @nid exactly as stored (inline
 * ones, then shared ones): nothing hidden, no overlay escape undone. For
 * callers that present the image the way a kernel overlay mount of it does
 * (composefs-fuse). Returns 0, the callback's negative value, -EUCLEAN,
 * -EOPNOTSUPP.
 */
int cfs_image_xattr_iterate(struct cfs_image *img, uint64_t nid, cfs_xattr_fn fn, void *user);

/**
 * cfs_image_may_store_xattr() - could some inode of @img store an xattr named
 * @name (the full name as cfs_image_xattr_iterate() gives it)? false means
 * certainly not: no byte sequence of the image is an xattr entry header
 * followed by that name under any of its prefix encodings. true means maybe
 * (the bytes occur, e.g. inside a file name; and nearly always for names
 * that are a whole prefix, such as system.posix_acl_access, whose entries
 * store no name bytes). A search of the image bytes, without walking the
 * inodes: for answers that hold for the whole image.
 */
bool cfs_image_may_store_xattr(const struct cfs_image *img, const char *name);

/**
 * cfs_image_load_tree() - the whole image as an inode tree (what the
 * reference's loader produces): overlay xattrs turned back into payload and
 * digest, escaped whiteouts into 0/0 character devices, real whiteouts
 * dropped. An inode reached under several names becomes one node; its first
 * name in depth-first, name-ordered traversal is the primary entry, the later
 * ones are added with hardlink=true. A directory reached twice (including a
 * cycle) is corruption. The caller owns the returned root (cfs_node_unref()).
 * Returns 0, -EUCLEAN, -EOPNOTSUPP, -ENOMEM, -E2BIG (the tree would need far
 * more memory than the image size justifies).
 */
int cfs_image_load_tree(struct cfs_image *img, struct cfs_node **root_out);

/**
 * cfs_image_load_tree_filtered() - as cfs_image_load_tree(), but only the
 * top-level entries named in @filters (NULL-terminated; NULL = all) are
 * loaded, like the reference's --filter.
 */
int cfs_image_load_tree_filtered(struct cfs_image *img, const char *const *filters, struct cfs_node **root_out);

#ifdef __cplusplus
}
#endif
#endif
