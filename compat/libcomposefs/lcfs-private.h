/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* libcomposefs drop-in: the node model of the reference API and its conversion to cfs trees. */
#ifndef LCFS_PRIVATE_H
#define LCFS_PRIVATE_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <composefs/composefs.h>

#include "libcomposefs/lcfs-writer.h"

/* Exported symbols: the library is built with hidden visibility (and a version script). */
#define LCFS_PUBLIC __attribute__((visibility("default")))

struct lcfs_xattr {
	char *name;
	char *value;
	uint16_t len;
};

/*
 * One node of the reference's model: every name is a node of its own (a hard
 * link is a node pointing at its target), and every node knows its name and
 * parent. Attributes are plain data; lcfs_write_to() turns the tree into a
 * cfs_node tree for our writer and the loaders turn cfs trees into these.
 *
 * The fields up to the inode attributes are laid out as in the reference's
 * private struct: its own mkcomposefs, built with that private header, reads
 * node->inode.st_mode directly (offset pinned below).
 */
struct lcfs_node_s {
	int refs;
	struct lcfs_node_s *parent;
	struct lcfs_node_s **children; /* sorted by name; each holds a reference */
	size_t cap_children, n_children;
	struct lcfs_node_s *link_to;   /* holds a reference */
	bool link_invalid;             /* make_hardlink() saw a cycle */
	char *name;
	char *payload;
	uint8_t *content;              /* size bytes */
	struct lcfs_xattr *xattrs;
	size_t n_xattrs;
	size_t xattr_size;             /* bytes charged against the per-inode limit */
	bool has_digest;
	uint8_t digest[LCFS_DIGEST_SIZE];
	struct {
		uint32_t mode, nlink, uid, gid, rdev;
		uint64_t size;
		int64_t mtime_sec;
		uint32_t mtime_nsec;
	};
	void *scratch;                 /* NULL outside of a conversion or deep clone */
};
#if defined(__LP64__)
_Static_assert(offsetof(struct lcfs_node_s, mode) == 144, "the reference's inode.st_mode offset");
#endif

/* Return -1 with errno = -@r (for @r < 0), else @r. */
static inline int lcfs_fail(int r)
{
	errno = -r;
	return -1;
}

/* node.c */
int lcfs_xattr_set(struct lcfs_node_s *node, const char *name, const char *value, size_t len,
		   size_t limit);
bool lcfs_mode_valid(uint32_t mode);

/* convert.c */
int lcfs_to_cfs(struct lcfs_node_s *root, struct cfs_node **out);
int lcfs_from_cfs(struct cfs_node *root, struct lcfs_node_s **out);

#endif
