/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* The in-memory inode tree: what every builder produces and the writer consumes. */
#ifndef COMPOSEFS_TREE_H
#define COMPOSEFS_TREE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <composefs/verity.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Size in bytes of a sha256 fs-verity digest as recorded in images. */
#define CFS_DIGEST_SIZE 32
/** Size in bytes of the largest digest a node can carry (sha512). */
#define CFS_DIGEST_MAX_SIZE CFS_VERITY_MAX_DIGEST
/** Longest file name (bytes, without NUL). */
#define CFS_NAME_MAX 255
/** Longest inline file content a composefs image stores in the inode. */
#define CFS_INLINE_MAX 5000
/** Longest xattr name (bytes, without NUL), as the kernel allows. */
#define CFS_XATTR_NAME_MAX 255
/** Longest xattr value, as the kernel allows. */
#define CFS_XATTR_VALUE_MAX 65535

/**
 * struct cfs_node - one inode.
 *
 * Reference counted. Directories own their children; a regular file (or any
 * non-directory) may appear under several names (hard links): it is then one
 * node with several directory entries, exactly one of them the *primary* entry
 * (where the inode is serialized in breadth-first order), the others flagged
 * as hard links. Nodes are not thread-safe; a tree is built by one thread.
 */
struct cfs_node;

/**
 * cfs_node_new() - allocate a node of the given mode (type and permissions).
 * Returns NULL on allocation failure. The new node has one reference, nlink 1,
 * everything else zero.
 */
struct cfs_node *cfs_node_new(uint32_t mode);

/** cfs_node_ref() - take a reference; returns @node. */
struct cfs_node *cfs_node_ref(struct cfs_node *node);

/**
 * cfs_node_unref() - drop a reference; frees the node (and, for a
 * directory, drops its children) when the last one goes. Accepts NULL.
 */
void cfs_node_unref(struct cfs_node *node);

/* Attributes. Setters never fail unless noted. */
uint32_t cfs_node_get_mode(const struct cfs_node *node);
void cfs_node_set_mode(struct cfs_node *node, uint32_t mode);
uint32_t cfs_node_get_uid(const struct cfs_node *node);
void cfs_node_set_uid(struct cfs_node *node, uint32_t uid);
uint32_t cfs_node_get_gid(const struct cfs_node *node);
void cfs_node_set_gid(struct cfs_node *node, uint32_t gid);
uint32_t cfs_node_get_rdev(const struct cfs_node *node);
void cfs_node_set_rdev(struct cfs_node *node, uint32_t rdev);
uint32_t cfs_node_get_nlink(const struct cfs_node *node);
void cfs_node_set_nlink(struct cfs_node *node, uint32_t nlink);
uint64_t cfs_node_get_size(const struct cfs_node *node);
void cfs_node_set_size(struct cfs_node *node, uint64_t size);
void cfs_node_get_mtime(const struct cfs_node *node, int64_t *sec, uint32_t *nsec);
void cfs_node_set_mtime(struct cfs_node *node, int64_t sec, uint32_t nsec);

/**
 * cfs_node_set_payload() - symlink target, or for a regular file the path of
 * its backing object relative to the object store (the overlay redirect).
 * @payload may be NULL to clear. Returns 0 or -ENOMEM.
 */
int cfs_node_set_payload(struct cfs_node *node, const char *payload);
/** cfs_node_get_payload() - the payload, or NULL. */
const char *cfs_node_get_payload(const struct cfs_node *node);

/**
 * cfs_payload_path_valid() - whether @payload can be the backing path of a
 * regular file: a relative path of '/'-separated components, none empty
 * (no leading, trailing or doubled '/'), "." or "..", none longer than 255
 * bytes. Others cannot be served by any mount: the kernel refuses them as
 * invalid overlay redirects, composefs-fuse answers EIO. NULL is not valid.
 */
bool cfs_payload_path_valid(const char *payload);

/**
 * cfs_node_payload_servable() - false when @node is a regular file whose
 * content is read through its payload (size > 0, no inline content, payload
 * set) and that payload fails cfs_payload_path_valid(); true otherwise.
 */
bool cfs_node_payload_servable(const struct cfs_node *node);

/**
 * cfs_node_set_content() - inline content of a small regular file (stored in
 * the image itself). Copies @len bytes; @data NULL clears. Returns 0,
 * -ENOMEM, or -EFBIG when @len > CFS_INLINE_MAX.
 */
int cfs_node_set_content(struct cfs_node *node, const uint8_t *data, size_t len);
/** cfs_node_get_content() - inline content (NULL if none); length in *@len. */
const uint8_t *cfs_node_get_content(const struct cfs_node *node, size_t *len);

/**
 * cfs_node_set_digest() - set (or with NULL clear) the fs-verity digest of the
 * file's backing object, as a sha256 digest (32 bytes).
 */
void cfs_node_set_digest(struct cfs_node *node, const uint8_t digest[CFS_DIGEST_SIZE]);

/**
 * cfs_node_set_digest_alg() - set the fs-verity digest with its algorithm:
 * cfs_verity_digest_size(@alg) bytes of @digest (32 for sha256, 64 for
 * sha512). The writer records it in the overlay metacopy xattr with that
 * algorithm. @digest NULL clears (any @alg). Returns 0, or -EINVAL for an
 * unknown @alg (the node is then unchanged).
 */
int cfs_node_set_digest_alg(struct cfs_node *node, enum cfs_hash_alg alg, const uint8_t *digest);

/**
 * cfs_node_get_digest() - the digest, or NULL when none is set; its size is
 * that of cfs_node_get_digest_alg().
 */
const uint8_t *cfs_node_get_digest(const struct cfs_node *node);

/**
 * cfs_node_get_digest_alg() - the algorithm of the node's digest
 * (CFS_HASH_SHA256 or CFS_HASH_SHA512), or 0 when none is set.
 */
enum cfs_hash_alg cfs_node_get_digest_alg(const struct cfs_node *node);

/**
 * cfs_node_set_xattr() - add or replace an extended attribute.
 * The value is copied (@len bytes, may contain NUL). Returns 0, -ENOMEM,
 * -EINVAL for an empty name, -ERANGE when the name or value exceeds the limits.
 */
int cfs_node_set_xattr(struct cfs_node *node, const char *name, const void *value, size_t len);
/** cfs_node_get_xattr() - value of @name (NULL if absent), length in *@len. */
const void *cfs_node_get_xattr(const struct cfs_node *node, const char *name, size_t *len);
/** cfs_node_remove_xattr() - remove @name; returns 0 or -ENODATA. */
int cfs_node_remove_xattr(struct cfs_node *node, const char *name);
/** cfs_node_n_xattrs() - number of xattrs; get the i-th with cfs_node_xattr_at(). */
size_t cfs_node_n_xattrs(const struct cfs_node *node);
/**
 * cfs_node_xattr_at() - the i-th xattr (in insertion order): returns its name
 * (NULL when @i is out of range) and stores its value and length in *@value
 * and *@len (either may be NULL). The pointers stay valid until the node's
 * xattrs are changed.
 */
const char *cfs_node_xattr_at(const struct cfs_node *node, size_t i, const void **value, size_t *len);

/**
 * cfs_node_add_child() - add @child under directory @dir as @name.
 * Takes a new reference on @child (the caller keeps its own). @hardlink marks
 * the entry as an additional name of an inode whose primary entry is elsewhere
 * (it is then not serialized as its own inode). Entries are kept sorted by
 * name (byte order).
 * Returns 0; -ENOTDIR if @dir is not a directory; -EEXIST if @name exists;
 * -EINVAL for an invalid name ("", ".", "..", containing '/'), a hard link
 * to a directory, a directory that already has a parent, or a directory
 * that is @dir itself or one of its ancestors (a cycle); -ENAMETOOLONG; -ENOMEM.
 */
int cfs_node_add_child(struct cfs_node *dir, const char *name, struct cfs_node *child, bool hardlink);

/** cfs_node_lookup() - child of @dir called @name, or NULL. No new reference. */
struct cfs_node *cfs_node_lookup(const struct cfs_node *dir, const char *name);

/** cfs_node_n_children() - number of directory entries of @dir (0 if not a dir). */
size_t cfs_node_n_children(const struct cfs_node *dir);

/**
 * cfs_node_child_at() - the i-th entry (in name order) of @dir; its name in
 * *@name and whether it is a non-primary hard link in *@hardlink (either may
 * be NULL). No new reference.
 */
struct cfs_node *cfs_node_child_at(const struct cfs_node *dir, size_t i, const char **name, bool *hardlink);

/** cfs_node_get_parent() - the parent directory of a directory (NULL for root). */
struct cfs_node *cfs_node_get_parent(const struct cfs_node *node);

/** Flag for cfs_node_walk(): also visit the non-primary entries of hard-linked inodes. */
#define CFS_WALK_HARDLINKS (1u << 0)

/** Return value of a pre-order callback: do not enter this directory. */
#define CFS_WALK_SKIP 1

/**
 * struct cfs_walk_entry - what cfs_node_walk() tells its callbacks about an entry.
 * @node:      the inode
 * @parent:    the directory holding the entry; NULL for the root
 * @name:      the entry's name; "" for the root
 * @path:      "/" for the root, else "/a/b" (NUL-terminated, @path_len bytes);
 *             valid during the callback only
 * @path_len:  strlen(@path)
 * @depth:     0 for the root, 1 for its entries, ...
 * @hardlink:  a non-primary entry of a hard-linked inode (only with CFS_WALK_HARDLINKS)
 *
 * The library fills it; new fields may be added at the end.
 */
struct cfs_walk_entry {
	struct cfs_node *node;
	struct cfs_node *parent;
	const char *name;
	const char *path;
	size_t path_len;
	unsigned depth;
	bool hardlink;
};

/**
 * cfs_node_walk_fn - callback of cfs_node_walk(): 0 to go on, CFS_WALK_SKIP
 * (from @pre, for a directory) to leave its entries out, or a negative errno
 * to stop the walk, which then returns that value.
 */
typedef int (*cfs_node_walk_fn)(const struct cfs_walk_entry *e, void *user);

/**
 * cfs_node_walk() - visit every entry of the tree under @root, depth first.
 * @root:  the tree (usually a directory; a lone node is visited alone)
 * @flags: 0 or CFS_WALK_HARDLINKS
 * @pre:   called for each entry before the entries of a directory (may be NULL)
 * @post:  called for each entry after them: for a directory once its entries
 *         are done, for anything else right after @pre (may be NULL)
 * @user:  passed to both
 *
 * The order is the dump's: @root first, then the entries of each directory
 * in name (byte) order, each directory's contents right after it. An inode
 * with several names is visited once, at its primary entry, or with
 * CFS_WALK_HARDLINKS at each of them (e->hardlink set on the others). The
 * walk keeps its own stack on the heap, so a tree of any depth is walked on
 * a small thread stack. Callbacks may change the nodes' attributes but must
 * not add or remove directory entries.
 *
 * Returns 0, the first negative value a callback returned, -EINVAL (@root
 * NULL or unknown @flags) or -ENOMEM. Thread-safety: as for the tree (one
 * thread at a time; concurrent read-only walks of an unchanging tree are fine).
 */
int cfs_node_walk(struct cfs_node *root, unsigned flags, cfs_node_walk_fn pre, cfs_node_walk_fn post,
		  void *user);

#ifdef __cplusplus
}
#endif
#endif
