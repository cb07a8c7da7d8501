/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* libcomposefs drop-in (composefs-c): inode trees, image writing and loading, fs-verity digests. */
#ifndef LIBCOMPOSEFS_LCFS_WRITER_H
#define LIBCOMPOSEFS_LCFS_WRITER_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef LCFS_EXTERN
#define LCFS_EXTERN extern
#endif

/*
 * The API and ABI of the reference libcomposefs (1.0.x), implemented on
 * composefs-c. Error convention, unless a function says otherwise: pointer
 * functions return NULL and int functions -1, with errno set. See
 * libcomposefs(3) for what differs from the reference.
 */

/** Size of a sha256 fs-verity digest. */
#define LCFS_DIGEST_SIZE 32

/** Flags of lcfs_load_node_from_file(), lcfs_build() and lcfs_node_set_from_content(). */
enum {
	/** Record no extended attributes. */
	LCFS_BUILD_SKIP_XATTRS = (1 << 0),
	/** Leave every modification time at 0. */
	LCFS_BUILD_USE_EPOCH = (1 << 1),
	/** lcfs_build(): leave out character and block devices. */
	LCFS_BUILD_SKIP_DEVICES = (1 << 2),
	/** Compute and record the fs-verity digest of regular files. */
	LCFS_BUILD_COMPUTE_DIGEST = (1 << 3),
	/** Never store file content inside the image. */
	LCFS_BUILD_NO_INLINE = (1 << 4),
	/** Record only user.* extended attributes. */
	LCFS_BUILD_USER_XATTRS = (1 << 5),
	/** Make each regular file's payload its object path "xx/yyyy..." (from its digest). */
	LCFS_BUILD_BY_DIGEST = (1 << 6),
};

/** Image formats (lcfs_write_options_s.format). */
enum lcfs_format_t {
	LCFS_FORMAT_EROFS,
};

/** Write flags (lcfs_write_options_s.flags): none defined. */
enum lcfs_flags_t {
	LCFS_FLAGS_NONE = 0,
	LCFS_FLAGS_MASK = 0,
};

/**
 * Newest format version. Version 0 is the original; version 1 (composefs
 * 1.0.3) stores whiteouts as overlay "opaque=x" entries.
 */
#define LCFS_VERSION_MAX 1

/** Default lowest format version of the tools. */
#define LCFS_DEFAULT_VERSION_MIN 0
/** Default highest format version of the tools. */
#define LCFS_DEFAULT_VERSION_MAX 1

/** Bytes of metadata stored per extended attribute (an EROFS xattr entry). */
#define LCFS_INODE_XATTRMETA_SIZE 4
/** Bytes of extended attributes (names and values) lcfs_node_set_xattr() accepts per inode. */
#define LCFS_INODE_EXTERNAL_XATTR_MAX (UINT16_MAX / 2)

/** Largest content that can be stored inside an image. */
#define LCFS_INLINE_CONTENT_MAX 5000
/** Largest content stored inside the image by the build functions. */
#define LCFS_RECOMMENDED_INLINE_CONTENT_MAX 64

/** Read callback: fill up to @count bytes of @buf; return the count, 0 at the end, <0 on error. */
typedef ssize_t (*lcfs_read_cb)(void *file, void *buf, size_t count);
/** Write callback: consume up to @count bytes of @buf; return the count consumed, <=0 on error. */
typedef ssize_t (*lcfs_write_cb)(void *file, void *buf, size_t count);

/**
 * struct lcfs_write_options_s - options of lcfs_write_to(). Zero-initialise.
 * @format:        LCFS_FORMAT_EROFS.
 * @version:       lowest format version to write; raised (and written back)
 *                 up to @max_version when the tree needs a newer one.
 * @flags:         must be 0.
 * @digest_out:    NULL, or LCFS_DIGEST_SIZE bytes receiving the image's
 *                 fs-verity digest.
 * @file:          passed to @file_write_cb.
 * @file_write_cb: receives the image bytes in order; NULL writes nothing
 *                 (useful for the digest alone).
 * @max_version:   highest format version; raised to @version if below it.
 * @reserved, @reserved2: zero.
 */
struct lcfs_write_options_s {
	uint32_t format;
	uint32_t version;
	uint32_t flags;
	uint8_t *digest_out;
	void *file;
	lcfs_write_cb file_write_cb;
	uint32_t max_version;
	uint32_t reserved[3];
	void *reserved2[4];
};

/*
 * Nodes. A node is one inode, reference counted (new nodes have one
 * reference). A node has at most one name and one parent; a hard link is a
 * node of its own that points at its target (lcfs_node_make_hardlink()).
 * Nodes are not thread-safe.
 */

/** lcfs_node_new() - a node with mode 0 and nlink 1. NULL with ENOMEM. */
LCFS_EXTERN struct lcfs_node_s *lcfs_node_new(void);
/** lcfs_node_ref() - take a reference; returns @node. */
LCFS_EXTERN struct lcfs_node_s *lcfs_node_ref(struct lcfs_node_s *node);
/** lcfs_node_unref() - drop a reference; the last one frees the node and its children. */
LCFS_EXTERN void lcfs_node_unref(struct lcfs_node_s *node);
/** lcfs_node_clone() - copy of the node's data (not its name or children). */
LCFS_EXTERN struct lcfs_node_s *lcfs_node_clone(struct lcfs_node_s *node);
/** lcfs_node_clone_deep() - copy of the whole subtree; hard links inside it point into the copy. */
LCFS_EXTERN struct lcfs_node_s *lcfs_node_clone_deep(struct lcfs_node_s *node);
/**
 * lcfs_load_node_from_file() - a node for @fname (relative to @dirfd, not
 * followed if a symlink) with its attributes, extended attributes and, as
 * @buildflags ask, inline content, digest or object path.
 */
LCFS_EXTERN struct lcfs_node_s *lcfs_load_node_from_file(int dirfd, const char *fname,
							 int buildflags);
/** lcfs_load_node_from_image() - the tree stored in an image held in memory. */
LCFS_EXTERN struct lcfs_node_s *lcfs_load_node_from_image(const uint8_t *image_data,
							  size_t image_data_size);

/**
 * struct lcfs_read_options_s - options of the _ext loaders. Zero-initialise.
 * @toplevel_entries: NULL, or a NULL-terminated list of names: only these
 *                    entries of the root directory are loaded.
 * @reserved, @reserved2: zero.
 */
struct lcfs_read_options_s {
	const char *const *toplevel_entries;
	uint32_t reserved[3];
	void *reserved2[4];
};
/** lcfs_load_node_from_image_ext() - lcfs_load_node_from_image() with options. */
LCFS_EXTERN struct lcfs_node_s *lcfs_load_node_from_image_ext(const uint8_t *image_data,
							      size_t image_data_size,
							      const struct lcfs_read_options_s *opts);
/** lcfs_load_node_from_fd() - the tree stored in the image file open on @fd. */
LCFS_EXTERN struct lcfs_node_s *lcfs_load_node_from_fd(int fd);
/** lcfs_load_node_from_fd_ext() - lcfs_load_node_from_fd() with options. */
LCFS_EXTERN struct lcfs_node_s *lcfs_load_node_from_fd_ext(int fd,
							   const struct lcfs_read_options_s *opts);
/** lcfs_version_from_fd() - the format version in the header of the image on @fd, or -1. */
LCFS_EXTERN int lcfs_version_from_fd(int fd);

/** lcfs_node_get_xattr() - value of xattr @name (length in *@length), or NULL. */
LCFS_EXTERN const char *lcfs_node_get_xattr(struct lcfs_node_s *node, const char *name,
					    size_t *length);
/**
 * lcfs_node_set_xattr() - add or replace an xattr. ERANGE for an empty name,
 * one over 255 bytes, or when the node's xattrs would exceed
 * LCFS_INODE_EXTERNAL_XATTR_MAX; EINVAL for a value over 65535 bytes.
 */
LCFS_EXTERN int lcfs_node_set_xattr(struct lcfs_node_s *node, const char *name,
				    const char *value, size_t value_len);
/** lcfs_node_unset_xattr() - remove xattr @name; ENODATA if absent. */
LCFS_EXTERN int lcfs_node_unset_xattr(struct lcfs_node_s *node, const char *name);
/** lcfs_node_get_n_xattr() - number of xattrs. */
LCFS_EXTERN size_t lcfs_node_get_n_xattr(struct lcfs_node_s *node);
/** lcfs_node_get_xattr_name() - name of the @index-th xattr, or NULL. */
LCFS_EXTERN const char *lcfs_node_get_xattr_name(struct lcfs_node_s *node, size_t index);

/**
 * lcfs_node_set_payload() - the object path of a regular file (relative to
 * the object directories) or a symlink's target; NULL clears.
 * ENAMETOOLONG for PATH_MAX bytes or more.
 */
LCFS_EXTERN int lcfs_node_set_payload(struct lcfs_node_s *node, const char *payload);
/** lcfs_node_set_symlink_payload() - a symlink's target (not empty); sets the size to its length. */
LCFS_EXTERN int lcfs_node_set_symlink_payload(struct lcfs_node_s *node, const char *payload);
/** lcfs_node_get_payload() - the payload, or NULL. */
LCFS_EXTERN const char *lcfs_node_get_payload(struct lcfs_node_s *node);

/**
 * lcfs_node_set_content() - content stored inside the image (copied); sets
 * the size to @data_size. EINVAL over LCFS_INLINE_CONTENT_MAX.
 */
LCFS_EXTERN int lcfs_node_set_content(struct lcfs_node_s *node, const uint8_t *data,
				      size_t data_size);
/** lcfs_node_get_content() - the inline content (size bytes), or NULL. */
LCFS_EXTERN const uint8_t *lcfs_node_get_content(struct lcfs_node_s *node);

/** lcfs_node_lookup_child() - the child of @node called @name, or NULL. */
LCFS_EXTERN struct lcfs_node_s *lcfs_node_lookup_child(struct lcfs_node_s *node, const char *name);
/** lcfs_node_get_parent() - the directory the node was added to, or NULL. */
LCFS_EXTERN struct lcfs_node_s *lcfs_node_get_parent(struct lcfs_node_s *node);
/**
 * lcfs_node_add_child() - add @child to directory @parent as @name, taking
 * over the caller's reference on success. ENOTDIR, EINVAL (empty name),
 * ENAMETOOLONG, EMLINK (the child already has a name), EEXIST.
 */
LCFS_EXTERN int lcfs_node_add_child(struct lcfs_node_s *parent, struct lcfs_node_s *child,
				    const char *name);
/** lcfs_node_get_name() - the name the node was added under, or NULL. */
LCFS_EXTERN const char *lcfs_node_get_name(struct lcfs_node_s *node);
/** lcfs_node_get_n_children() - number of children. */
LCFS_EXTERN size_t lcfs_node_get_n_children(struct lcfs_node_s *node);
/** lcfs_node_get_child() - the @i-th child in name order, or NULL. */
LCFS_EXTERN struct lcfs_node_s *lcfs_node_get_child(struct lcfs_node_s *node, size_t i);
/**
 * lcfs_node_make_hardlink() - make @node a hard link to @target (another
 * node) and count one more link on @target. A link that would close a cycle
 * makes the later lcfs_write_to() fail with EINVAL.
 */
LCFS_EXTERN void lcfs_node_make_hardlink(struct lcfs_node_s *node, struct lcfs_node_s *target);
/** lcfs_node_get_hardlink_target() - the target of a hard link node, or NULL. */
LCFS_EXTERN struct lcfs_node_s *lcfs_node_get_hardlink_target(struct lcfs_node_s *node);

/** lcfs_node_dirp() - whether the node is a directory. */
LCFS_EXTERN bool lcfs_node_dirp(struct lcfs_node_s *node);
LCFS_EXTERN uint32_t lcfs_node_get_mode(struct lcfs_node_s *node);
/** lcfs_node_set_mode() - set the mode (type and permissions), unchecked. */
LCFS_EXTERN void lcfs_node_set_mode(struct lcfs_node_s *node, uint32_t mode);
/** lcfs_node_try_set_mode() - set the mode; EINVAL for an unknown file type. */
LCFS_EXTERN int lcfs_node_try_set_mode(struct lcfs_node_s *node, uint32_t mode);
LCFS_EXTERN uint32_t lcfs_node_get_uid(struct lcfs_node_s *node);
LCFS_EXTERN void lcfs_node_set_uid(struct lcfs_node_s *node, uint32_t uid);
LCFS_EXTERN uint32_t lcfs_node_get_gid(struct lcfs_node_s *node);
LCFS_EXTERN void lcfs_node_set_gid(struct lcfs_node_s *node, uint32_t gid);
/** Deprecated: use lcfs_node_get_rdev64(). */
LCFS_EXTERN uint32_t lcfs_node_get_rdev(struct lcfs_node_s *node) __attribute__((deprecated));
/** lcfs_node_get_rdev64() - device number (images store 32 bits of it). */
LCFS_EXTERN uint64_t lcfs_node_get_rdev64(struct lcfs_node_s *node);
/** Deprecated: use lcfs_node_set_rdev64(). */
LCFS_EXTERN void lcfs_node_set_rdev(struct lcfs_node_s *node, uint32_t rdev)
	__attribute__((deprecated));
/** lcfs_node_set_rdev64() - device number; only the low 32 bits are kept. */
LCFS_EXTERN void lcfs_node_set_rdev64(struct lcfs_node_s *node, uint64_t rdev);
LCFS_EXTERN uint32_t lcfs_node_get_nlink(struct lcfs_node_s *node);
LCFS_EXTERN void lcfs_node_set_nlink(struct lcfs_node_s *node, uint32_t nlink);
LCFS_EXTERN uint64_t lcfs_node_get_size(struct lcfs_node_s *node);
/** lcfs_node_set_size() - set the size; drops inline content when it changes. */
LCFS_EXTERN void lcfs_node_set_size(struct lcfs_node_s *node, uint64_t size);
LCFS_EXTERN void lcfs_node_set_mtime(struct lcfs_node_s *node, struct timespec *time);
LCFS_EXTERN void lcfs_node_get_mtime(struct lcfs_node_s *node, struct timespec *time);

/** lcfs_node_get_fsverity_digest() - the recorded sha256 fs-verity digest, or NULL. */
LCFS_EXTERN const uint8_t *lcfs_node_get_fsverity_digest(struct lcfs_node_s *node);
/** lcfs_node_set_fsverity_digest() - record the sha256 fs-verity digest of the file's content. */
LCFS_EXTERN void lcfs_node_set_fsverity_digest(struct lcfs_node_s *node,
					       uint8_t digest[LCFS_DIGEST_SIZE]);

/** lcfs_node_set_fsverity_from_content() - record the digest of what @read_cb reads. */
LCFS_EXTERN int lcfs_node_set_fsverity_from_content(struct lcfs_node_s *node, void *file,
						    lcfs_read_cb read_cb);
/** lcfs_node_set_fsverity_from_fd() - record the digest of @fd's content from its current offset. */
LCFS_EXTERN int lcfs_node_set_fsverity_from_fd(struct lcfs_node_s *node, int fd);

/**
 * lcfs_build() - the tree of @fname (relative to @dirfd), every entry loaded
 * as by lcfs_load_node_from_file(). On failure *@failed_path_out (if not
 * NULL) receives a malloc'ed path of the file that failed.
 */
LCFS_EXTERN struct lcfs_node_s *lcfs_build(int dirfd, const char *fname, int buildflags,
					   char **failed_path_out);

/**
 * lcfs_write_to() - write the tree at @root as an image, as @options say.
 * Returns 0, or -1 with errno (EINVAL for bad options or an invalid tree,
 * EFBIG, ENAMETOOLONG, ERANGE, ENOMEM, or the write callback's error).
 */
LCFS_EXTERN int lcfs_write_to(struct lcfs_node_s *root, struct lcfs_write_options_s *options);

/* fs-verity digests (sha256, 4096-byte blocks, no salt). */
/** lcfs_compute_fsverity_from_content() - digest of what @read_cb reads (ENODATA if it fails). */
LCFS_EXTERN int lcfs_compute_fsverity_from_content(uint8_t *digest, void *file,
						   lcfs_read_cb read_cb);
/** lcfs_compute_fsverity_from_fd() - digest of @fd's content from its current offset. */
LCFS_EXTERN int lcfs_compute_fsverity_from_fd(uint8_t *digest, int fd);
/** lcfs_compute_fsverity_from_data() - digest of @data_len bytes at @data. */
LCFS_EXTERN int lcfs_compute_fsverity_from_data(uint8_t *digest, uint8_t *data, size_t data_len);
/**
 * lcfs_fd_measure_fsverity() - the digest the kernel measures for @fd.
 * Returns 0 or a negative errno (-ENOVERITY: verity not enabled or not
 * supported; -EWRONGVERITY: not a sha256 digest); errno is set too.
 */
LCFS_EXTERN int lcfs_fd_measure_fsverity(uint8_t *digest, int fd);
/**
 * lcfs_fd_get_fsverity() - lcfs_fd_measure_fsverity(), or where the kernel
 * has none, the digest computed from offset 0. 0 or a negative errno.
 */
LCFS_EXTERN int lcfs_fd_get_fsverity(uint8_t *digest, int fd);

/**
 * lcfs_node_set_from_content() - read @fname (a regular file whose size is
 * already on @node) for what @buildflags ask: digest, object path, inline content.
 */
LCFS_EXTERN int lcfs_node_set_from_content(struct lcfs_node_s *node, int dirfd,
					   const char *fname, int buildflags);
/** lcfs_fd_enable_fsverity() - enable sha256 fs-verity on @fd. 0 or a negative errno. */
LCFS_EXTERN int lcfs_fd_enable_fsverity(int fd);

#ifdef __cplusplus
}
#endif
#endif
