/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Private layout of the inode tree, shared by the library's builders, writer and reader. */
#ifndef CFS_TREE_NODE_H
#define CFS_TREE_NODE_H

#include <sys/stat.h>

#include <composefs/tree.h>

struct cfs_xattr {
	char *name;
	uint8_t *value;
	size_t len;
};

struct cfs_dirent {
	char *name;
	struct cfs_node *node; /* owns one reference */
	bool hardlink; /* not the primary entry of a multiply-linked inode */
};

struct cfs_node {
	unsigned int refcount;
	uint32_t mode;
	uint32_t uid;
	uint32_t gid;
	uint32_t rdev;
	uint32_t nlink;
	uint64_t size;
	int64_t mtime_sec;
	uint32_t mtime_nsec;

	char *payload;
	uint8_t *content;
	size_t content_len;

	struct cfs_xattr *xattrs; /* insertion order; the writer sorts its own view */
	size_t n_xattrs;

	bool has_digest;
	uint8_t digest_alg;   /* enum cfs_hash_alg of @digest when has_digest */
	uint8_t digest_size;  /* its size in bytes (32 or 64) */
	uint8_t digest[CFS_DIGEST_MAX_SIZE];

	/* directories */
	struct cfs_dirent *entries; /* sorted by strcmp() of name */
	size_t n_entries;
	size_t cap_entries;
	struct cfs_node *parent; /* directories only; not a reference */

	/* scratch for the current consumer (writer, builders); not owned */
	void *scratch;
	uint64_t scratch_u64;
};

/* Whether @mode has one of the file types an image can hold. */
static inline bool cfs_node_type_valid(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
	case S_IFDIR:
	case S_IFLNK:
	case S_IFBLK:
	case S_IFCHR:
	case S_IFSOCK:
	case S_IFIFO:
		return true;
	default:
		return false;
	}
}

/* The entry of directory @dir named @name (NULL if none), for callers that
 * rewrite entries in place (e.g. to resolve hard-link placeholders). */
struct cfs_dirent *cfs_node_find_entry(struct cfs_node *dir, const char *name);

/* Remove the entry @name of @dir and drop its reference. A hard-linked inode's
 * other entries keep their flags: a caller removing a primary entry re-flags
 * them. Returns 0, -ENOENT, -ENOTDIR. */
int cfs_node_remove_child(struct cfs_node *dir, const char *name);

#endif
