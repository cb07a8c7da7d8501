/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* libcomposefs drop-in: the lcfs_node_* tree API (data only; writing and loading go through cfs trees). */
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lcfs-private.h"

/* An xattr costs its entry header twice (worst-case alignment) minus one, plus name and value. */
#define XATTR_COST(namelen, len) (2 * LCFS_INODE_XATTRMETA_SIZE - 1 + (namelen) + (len))
/* The inode's xattr area header, charged with the first xattr. */
#define XATTR_HEADER_COST 12

LCFS_PUBLIC struct lcfs_node_s *lcfs_node_new(void)
{
	struct lcfs_node_s *node = calloc(1, sizeof(*node));

	if (node == NULL) {
		errno = ENOMEM;
		return NULL;
	}
	node->refs = 1;
	node->nlink = 1;
	return node;
}

LCFS_PUBLIC struct lcfs_node_s *lcfs_node_ref(struct lcfs_node_s *node)
{
	node->refs++;
	return node;
}

static void xattrs_free(struct lcfs_node_s *node)
{
	for (size_t i = 0; i < node->n_xattrs; i++) {
		free(node->xattrs[i].name);
		free(node->xattrs[i].value);
	}
	free(node->xattrs);
	node->xattrs = NULL;
	node->n_xattrs = 0;
	node->xattr_size = 0;
}

LCFS_PUBLIC void lcfs_node_unref(struct lcfs_node_s *node)
{
	if (node == NULL || --node->refs > 0)
		return;
	/* children may outlive us through their own references: detach them first */
	for (size_t i = 0; i < node->n_children; i++) {
		struct lcfs_node_s *child = node->children[i];

		free(child->name);
		child->name = NULL;
		child->parent = NULL;
		lcfs_node_unref(child);
	}
	free(node->children);
	lcfs_node_unref(node->link_to);
	free(node->name);
	free(node->payload);
	free(node->content);
	xattrs_free(node);
	free(node);
}

/* Copy the data of @src (not name, parent, children) into the fresh node @dst. */
static int copy_data(struct lcfs_node_s *dst, const struct lcfs_node_s *src)
{
	if (src->link_to != NULL)
		dst->link_to = lcfs_node_ref(src->link_to);
	dst->link_invalid = src->link_invalid;
	if (src->payload != NULL && (dst->payload = strdup(src->payload)) == NULL)
		return -ENOMEM;
	if (src->content != NULL) {
		dst->content = malloc(src->size);
		if (dst->content == NULL)
			return -ENOMEM;
		memcpy(dst->content, src->content, src->size);
	}
	if (src->n_xattrs > 0) {
		dst->xattrs = calloc(src->n_xattrs, sizeof(*dst->xattrs));
		if (dst->xattrs == NULL)
			return -ENOMEM;
		for (size_t i = 0; i < src->n_xattrs; i++) {
			struct lcfs_xattr *x = &dst->xattrs[i];

			x->name = strdup(src->xattrs[i].name);
			x->value = malloc(src->xattrs[i].len ? src->xattrs[i].len : 1);
			dst->n_xattrs++;
			if (x->name == NULL || x->value == NULL)
				return -ENOMEM;
			memcpy(x->value, src->xattrs[i].value, src->xattrs[i].len);
			x->len = src->xattrs[i].len;
		}
		dst->xattr_size = src->xattr_size;
	}
	dst->has_digest = src->has_digest;
	memcpy(dst->digest, src->digest, sizeof(dst->digest));
	dst->mode = src->mode;
	dst->nlink = src->nlink;
	dst->uid = src->uid;
	dst->gid = src->gid;
	dst->rdev = src->rdev;
	dst->size = src->size;
	dst->mtime_sec = src->mtime_sec;
	dst->mtime_nsec = src->mtime_nsec;
	return 0;
}

LCFS_PUBLIC struct lcfs_node_s *lcfs_node_clone(struct lcfs_node_s *node)
{
	struct lcfs_node_s *copy = lcfs_node_new();
	int r;

	if (copy == NULL)
		return NULL;
	r = copy_data(copy, node);
	if (r < 0) {
		lcfs_node_unref(copy);
		errno = -r;
		return NULL;
	}
	return copy;
}

/* Clone the subtree at @node; each original's scratch points at its copy meanwhile. */
static struct lcfs_node_s *clone_tree(struct lcfs_node_s *node)
{
	struct lcfs_node_s *copy = lcfs_node_clone(node);

	if (copy == NULL)
		return NULL;
	node->scratch = copy;
	for (size_t i = 0; i < node->n_children; i++) {
		struct lcfs_node_s *child = clone_tree(node->children[i]);

		if (child == NULL || lcfs_node_add_child(copy, child, node->children[i]->name) < 0) {
			int e = errno;

			lcfs_node_unref(child);
			lcfs_node_unref(copy);
			errno = e;
			return NULL;
		}
	}
	return copy;
}

/* Point hard links of the copy at copies; clear the originals' scratch. */
static void clone_fixup(struct lcfs_node_s *orig, struct lcfs_node_s *copy)
{
	if (copy != NULL) {
		struct lcfs_node_s *to = copy->link_to;

		if (to != NULL && to->scratch != NULL && to->scratch != copy) {
			copy->link_to = lcfs_node_ref(to->scratch);
			lcfs_node_unref(to);
		}
	}
	for (size_t i = 0; i < orig->n_children; i++)
		clone_fixup(orig->children[i], copy ? copy->children[i] : NULL);
}

static void clear_scratch(struct lcfs_node_s *node)
{
	node->scratch = NULL;
	for (size_t i = 0; i < node->n_children; i++)
		clear_scratch(node->children[i]);
}

LCFS_PUBLIC struct lcfs_node_s *lcfs_node_clone_deep(struct lcfs_node_s *node)
{
	struct lcfs_node_s *copy = clone_tree(node);
	int e = errno;

	/* fix links while every original still knows its copy, then forget the mapping */
	if (copy != NULL)
		clone_fixup(node, copy);
	clear_scratch(node);
	errno = e;
	return copy;
}

bool lcfs_mode_valid(uint32_t mode)
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

/* ---- xattrs -------------------------------------------------------------------------------- */

static ssize_t xattr_find(const struct lcfs_node_s *node, const char *name)
{
	for (size_t i = 0; i < node->n_xattrs; i++)
		if (strcmp(node->xattrs[i].name, name) == 0)
			return (ssize_t)i;
	return -1;
}

LCFS_PUBLIC const char *lcfs_node_get_xattr(struct lcfs_node_s *node, const char *name, size_t *length)
{
	ssize_t i = xattr_find(node, name);

	if (i < 0)
		return NULL;
	if (length != NULL)
		*length = node->xattrs[i].len;
	return node->xattrs[i].value;
}

LCFS_PUBLIC int lcfs_node_unset_xattr(struct lcfs_node_s *node, const char *name)
{
	ssize_t i = xattr_find(node, name);
	struct lcfs_xattr *x;

	if (i < 0)
		return lcfs_fail(-ENODATA);
	x = &node->xattrs[i];
	node->xattr_size -= XATTR_COST(strlen(x->name), x->len);
	free(x->name);
	free(x->value);
	/* the last one fills the hole, as in the reference (index order is visible) */
	node->xattrs[i] = node->xattrs[--node->n_xattrs];
	if (node->n_xattrs == 0)
		node->xattr_size = 0;
	return 0;
}

/* Add or replace; @limit is the budget of the node's xattr bytes. */
int lcfs_xattr_set(struct lcfs_node_s *node, const char *name, const char *value, size_t len,
		   size_t limit)
{
	size_t namelen = strlen(name), cost;
	struct lcfs_xattr *xs;
	char *n, *v;

	if (namelen == 0 || namelen > 255)
		return -ERANGE;
	if (len > UINT16_MAX)
		return -EINVAL;
	if (xattr_find(node, name) >= 0)
		(void)lcfs_node_unset_xattr(node, name);
	cost = XATTR_COST(namelen, len) + (node->n_xattrs == 0 ? XATTR_HEADER_COST : 0);
	if (node->xattr_size + cost > limit)
		return -ERANGE;
	xs = realloc(node->xattrs, (node->n_xattrs + 1) * sizeof(*xs));
	if (xs == NULL)
		return -ENOMEM;
	node->xattrs = xs;
	n = strdup(name);
	v = malloc(len ? len : 1);
	if (n == NULL || v == NULL) {
		free(n);
		free(v);
		return -ENOMEM;
	}
	if (len > 0)
		memcpy(v, value, len);
	xs[node->n_xattrs++] = (struct lcfs_xattr){ .name = n, .value = v, .len = (uint16_t)len };
	node->xattr_size += cost;
	return 0;
}

LCFS_PUBLIC int lcfs_node_set_xattr(struct lcfs_node_s *node, const char *name, const char *value,
				    size_t value_len)
{
	int r = lcfs_xattr_set(node, name, value, value_len, LCFS_INODE_EXTERNAL_XATTR_MAX);

	return r < 0 ? lcfs_fail(r) : 0;
}

LCFS_PUBLIC size_t lcfs_node_get_n_xattr(struct lcfs_node_s *node)
{
	return node->n_xattrs;
}

LCFS_PUBLIC const char *lcfs_node_get_xattr_name(struct lcfs_node_s *node, size_t index)
{
	return index < node->n_xattrs ? node->xattrs[index].name : NULL;
}

/* ---- payload, content, digest --------------------------------------------------------------- */

LCFS_PUBLIC int lcfs_node_set_payload(struct lcfs_node_s *node, const char *payload)
{
	char *dup = NULL;

	if (payload != NULL) {
		if (strlen(payload) >= PATH_MAX)
			return lcfs_fail(-ENAMETOOLONG);
		dup = strdup(payload);
		if (dup == NULL)
			return lcfs_fail(-ENOMEM);
	}
	free(node->payload);
	node->payload = dup;
	return 0;
}

LCFS_PUBLIC int lcfs_node_set_symlink_payload(struct lcfs_node_s *node, const char *payload)
{
	if (payload == NULL || payload[0] == '\0')
		return lcfs_fail(-EINVAL);
	if (lcfs_node_set_payload(node, payload) < 0)
		return -1;
	node->size = strlen(payload);
	return 0;
}

LCFS_PUBLIC const char *lcfs_node_get_payload(struct lcfs_node_s *node)
{
	return node->payload;
}

LCFS_PUBLIC int lcfs_node_set_content(struct lcfs_node_s *node, const uint8_t *data, size_t data_size)
{
	uint8_t *dup = NULL;

	if (data != NULL && data_size > 0) {
		if (data_size > LCFS_INLINE_CONTENT_MAX)
			return lcfs_fail(-EINVAL);
		dup = malloc(data_size);
		if (dup == NULL)
			return lcfs_fail(-ENOMEM);
		memcpy(dup, data, data_size);
	}
	free(node->content);
	node->content = dup;
	node->size = data_size;
	return 0;
}

LCFS_PUBLIC const uint8_t *lcfs_node_get_content(struct lcfs_node_s *node)
{
	return node->content;
}

LCFS_PUBLIC const uint8_t *lcfs_node_get_fsverity_digest(struct lcfs_node_s *node)
{
	return node->has_digest ? node->digest : NULL;
}

LCFS_PUBLIC void lcfs_node_set_fsverity_digest(struct lcfs_node_s *node, uint8_t digest[LCFS_DIGEST_SIZE])
{
	memcpy(node->digest, digest, LCFS_DIGEST_SIZE);
	node->has_digest = true;
}

/* ---- structure ------------------------------------------------------------------------------- */

/* Index of @name among the children, or where it would go (*@found tells which). */
static size_t child_pos(const struct lcfs_node_s *node, const char *name, bool *found)
{
	size_t lo = 0, hi = node->n_children;

	*found = false;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, node->children[mid]->name);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return lo;
}

LCFS_PUBLIC struct lcfs_node_s *lcfs_node_lookup_child(struct lcfs_node_s *node, const char *name)
{
	bool found;
	size_t i = child_pos(node, name, &found);

	return found ? node->children[i] : NULL;
}

LCFS_PUBLIC struct lcfs_node_s *lcfs_node_get_parent(struct lcfs_node_s *node)
{
	return node->parent;
}

LCFS_PUBLIC int lcfs_node_add_child(struct lcfs_node_s *parent, struct lcfs_node_s *child, const char *name)
{
	size_t namelen, pos;
	bool found;
	char *copy;

	if (!S_ISDIR(parent->mode))
		return lcfs_fail(-ENOTDIR);
	namelen = strlen(name);
	if (namelen == 0)
		return lcfs_fail(-EINVAL);
	if (namelen > 255)
		return lcfs_fail(-ENAMETOOLONG);
	if (child->name != NULL)
		return lcfs_fail(-EMLINK);
	pos = child_pos(parent, name, &found);
	if (found)
		return lcfs_fail(-EEXIST);
	if (parent->n_children == parent->cap_children) {
		size_t cap = parent->cap_children ? 2 * parent->cap_children : 16;
		struct lcfs_node_s **c = reallocarray(parent->children, cap, sizeof(*c));

		if (c == NULL)
			return lcfs_fail(-ENOMEM);
		parent->children = c;
		parent->cap_children = cap;
	}
	copy = strdup(name);
	if (copy == NULL)
		return lcfs_fail(-ENOMEM);
	memmove(parent->children + pos + 1, parent->children + pos,
		(parent->n_children - pos) * sizeof(*parent->children));
	parent->children[pos] = child;
	parent->n_children++;
	child->parent = parent;
	child->name = copy;
	return 0;
}

LCFS_PUBLIC const char *lcfs_node_get_name(struct lcfs_node_s *node)
{
	return node->name;
}

LCFS_PUBLIC size_t lcfs_node_get_n_children(struct lcfs_node_s *node)
{
	return node->n_children;
}

LCFS_PUBLIC struct lcfs_node_s *lcfs_node_get_child(struct lcfs_node_s *node, size_t i)
{
	return i < node->n_children ? node->children[i] : NULL;
}

LCFS_PUBLIC void lcfs_node_make_hardlink(struct lcfs_node_s *node, struct lcfs_node_s *target)
{
	/* no error return: a cycle (or a link to itself) is reported when the tree is written */
	for (const struct lcfs_node_s *n = target; n != NULL; n = n->link_to) {
		if (n == node) {
			node->link_invalid = true;
			return;
		}
	}
	lcfs_node_unref(node->link_to);
	node->link_to = lcfs_node_ref(target);
	node->link_invalid = false;
	target->nlink++;
}

LCFS_PUBLIC struct lcfs_node_s *lcfs_node_get_hardlink_target(struct lcfs_node_s *node)
{
	return node->link_to;
}

/* ---- attributes ------------------------------------------------------------------------------ */

LCFS_PUBLIC bool lcfs_node_dirp(struct lcfs_node_s *node)
{
	return S_ISDIR(node->mode);
}

LCFS_PUBLIC uint32_t lcfs_node_get_mode(struct lcfs_node_s *node)
{
	return node->mode;
}

LCFS_PUBLIC void lcfs_node_set_mode(struct lcfs_node_s *node, uint32_t mode)
{
	node->mode = mode;
}

LCFS_PUBLIC int lcfs_node_try_set_mode(struct lcfs_node_s *node, uint32_t mode)
{
	if (!lcfs_mode_valid(mode))
		return lcfs_fail(-EINVAL);
	node->mode = mode;
	return 0;
}

LCFS_PUBLIC uint32_t lcfs_node_get_uid(struct lcfs_node_s *node)
{
	return node->uid;
}

LCFS_PUBLIC void lcfs_node_set_uid(struct lcfs_node_s *node, uint32_t uid)
{
	node->uid = uid;
}

LCFS_PUBLIC uint32_t lcfs_node_get_gid(struct lcfs_node_s *node)
{
	return node->gid;
}

LCFS_PUBLIC void lcfs_node_set_gid(struct lcfs_node_s *node, uint32_t gid)
{
	node->gid = gid;
}

LCFS_PUBLIC uint64_t lcfs_node_get_rdev64(struct lcfs_node_s *node)
{
	return node->rdev;
}

LCFS_PUBLIC uint32_t lcfs_node_get_rdev(struct lcfs_node_s *node)
{
	return node->rdev;
}

LCFS_PUBLIC void lcfs_node_set_rdev64(struct lcfs_node_s *node, uint64_t rdev)
{
	node->rdev = (uint32_t)rdev; /* images store 32 bits, so does the reference's node */
}

LCFS_PUBLIC void lcfs_node_set_rdev(struct lcfs_node_s *node, uint32_t rdev)
{
	node->rdev = rdev;
}

LCFS_PUBLIC uint32_t lcfs_node_get_nlink(struct lcfs_node_s *node)
{
	return node->nlink;
}

LCFS_PUBLIC void lcfs_node_set_nlink(struct lcfs_node_s *node, uint32_t nlink)
{
	node->nlink = nlink;
}

LCFS_PUBLIC uint64_t lcfs_node_get_size(struct lcfs_node_s *node)
{
	return node->size;
}

LCFS_PUBLIC void lcfs_node_set_size(struct lcfs_node_s *node, uint64_t size)
{
	if (size == node->size)
		return;
	free(node->content); /* content always has the node's size */
	node->content = NULL;
	node->size = size;
}

LCFS_PUBLIC void lcfs_node_set_mtime(struct lcfs_node_s *node, struct timespec *time)
{
	node->mtime_sec = time->tv_sec;
	node->mtime_nsec = (uint32_t)time->tv_nsec;
}

LCFS_PUBLIC void lcfs_node_get_mtime(struct lcfs_node_s *node, struct timespec *time)
{
	time->tv_sec = node->mtime_sec;
	time->tv_nsec = node->mtime_nsec;
}
