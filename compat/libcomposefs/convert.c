/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* libcomposefs drop-in: lcfs_node_s trees to cfs_node trees (for our writer) and back (from our loaders). */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "lcfs-private.h"

/* ---- lcfs -> cfs ------------------------------------------------------------------------------ */

/* A cfs node with the inode data of @n (every non-link node of the tree gets one). */
static int inode_to_cfs(const struct lcfs_node_s *n, struct cfs_node **out)
{
	uint32_t type = n->mode & S_IFMT;
	struct cfs_node *c;
	int r = 0;

	if (n->link_invalid || !lcfs_mode_valid(n->mode))
		return -EINVAL;
	if (type != S_IFDIR && n->n_children > 0)
		return -EINVAL;
	c = cfs_node_new(n->mode);
	if (c == NULL)
		return -ENOMEM;
	cfs_node_set_uid(c, n->uid);
	cfs_node_set_gid(c, n->gid);
	cfs_node_set_nlink(c, n->nlink);
	cfs_node_set_mtime(c, n->mtime_sec, n->mtime_nsec);
	cfs_node_set_size(c, n->size);
	if (type == S_IFCHR || type == S_IFBLK)
		cfs_node_set_rdev(c, n->rdev);
	if (type == S_IFLNK) {
		/* the writer stores the target; its length is the size, whatever the node says */
		if (n->payload != NULL) {
			r = cfs_node_set_payload(c, n->payload);
			cfs_node_set_size(c, strlen(n->payload));
		}
	} else if (type == S_IFREG) {
		if (n->payload != NULL)
			r = cfs_node_set_payload(c, n->payload);
		if (r == 0 && n->content != NULL)
			r = cfs_node_set_content(c, n->content, n->size);
		if (n->has_digest)
			cfs_node_set_digest(c, n->digest);
	}
	for (size_t i = 0; r == 0 && i < n->n_xattrs; i++)
		r = cfs_node_set_xattr(c, n->xattrs[i].name, n->xattrs[i].value, n->xattrs[i].len);
	if (r < 0) {
		cfs_node_unref(c);
		return r;
	}
	*out = c;
	return 0;
}

/* First pass: a cfs node (in ->scratch) for every non-link node under @n. */
static int make_inodes(struct lcfs_node_s *n)
{
	int r = inode_to_cfs(n, (struct cfs_node **)&n->scratch);

	for (size_t i = 0; r == 0 && i < n->n_children; i++)
		if (n->children[i]->link_to == NULL)
			r = make_inodes(n->children[i]);
	return r;
}

/* Second pass: the directory entries, hard links pointing at their target's inode. */
static int link_entries(struct lcfs_node_s *dir)
{
	for (size_t i = 0; i < dir->n_children; i++) {
		struct lcfs_node_s *child = dir->children[i], *target = child;
		int r;

		while (target->link_to != NULL)
			target = target->link_to;
		if (target->scratch == NULL)
			return -EINVAL; /* a hard link to a node outside the tree */
		r = cfs_node_add_child(dir->scratch, child->name, target->scratch, target != child);
		if (r == -ENAMETOOLONG || r == -EEXIST)
			r = -EINVAL;
		if (r == 0 && target == child)
			r = link_entries(child);
		if (r < 0)
			return r;
	}
	return 0;
}

static void release(struct lcfs_node_s *n)
{
	cfs_node_unref(n->scratch);
	n->scratch = NULL;
	for (size_t i = 0; i < n->n_children; i++)
		release(n->children[i]);
}

/* The tree at @root as a cfs tree (the caller owns *@out); the lcfs tree is unchanged. */
int lcfs_to_cfs(struct lcfs_node_s *root, struct cfs_node **out)
{
	int r;

	if (root->link_to != NULL)
		return -EINVAL;
	r = make_inodes(root);
	if (r == 0)
		r = link_entries(root);
	if (r == 0)
		*out = cfs_node_ref(root->scratch);
	release(root);
	return r;
}

/* ---- cfs -> lcfs ------------------------------------------------------------------------------ */

/* Which lcfs node an already converted cfs inode became: open addressing over pointers. */
struct seen {
	const struct cfs_node **keys;
	struct lcfs_node_s **vals;
	size_t cap, n;
};

static size_t seen_slot(const struct seen *s, const struct cfs_node *key)
{
	size_t h = ((uintptr_t)key >> 4) * 0x9e3779b97f4a7c15u;
	size_t i = h & (s->cap - 1);

	while (s->keys[i] != NULL && s->keys[i] != key)
		i = (i + 1) & (s->cap - 1);
	return i;
}

static int seen_put(struct seen *s, const struct cfs_node *key, struct lcfs_node_s *val)
{
	if (2 * (s->n + 1) > s->cap) {
		struct seen g = { .cap = s->cap ? 2 * s->cap : 64 };

		g.keys = calloc(g.cap, sizeof(*g.keys));
		g.vals = calloc(g.cap, sizeof(*g.vals));
		if (g.keys == NULL || g.vals == NULL) {
			free(g.keys);
			free(g.vals);
			return -ENOMEM;
		}
		for (size_t i = 0; i < s->cap; i++) {
			if (s->keys[i] != NULL) {
				size_t j = seen_slot(&g, s->keys[i]);

				g.keys[j] = s->keys[i];
				g.vals[j] = s->vals[i];
			}
		}
		g.n = s->n;
		free(s->keys);
		free(s->vals);
		*s = g;
	}
	size_t i = seen_slot(s, key);

	s->keys[i] = key;
	s->vals[i] = val;
	s->n++;
	return 0;
}

static struct lcfs_node_s *seen_get(const struct seen *s, const struct cfs_node *key)
{
	return s->cap ? s->vals[seen_slot(s, key)] : NULL;
}

static int inode_from_cfs(const struct cfs_node *c, struct lcfs_node_s *n)
{
	uint32_t type = cfs_node_get_mode(c) & S_IFMT;
	const char *payload = cfs_node_get_payload(c);
	int64_t sec;
	uint32_t nsec;
	int r = 0;

	n->mode = cfs_node_get_mode(c);
	n->uid = cfs_node_get_uid(c);
	n->gid = cfs_node_get_gid(c);
	n->nlink = cfs_node_get_nlink(c);
	n->size = cfs_node_get_size(c);
	if (type == S_IFCHR || type == S_IFBLK)
		n->rdev = cfs_node_get_rdev(c);
	cfs_node_get_mtime(c, &sec, &nsec);
	n->mtime_sec = sec;
	n->mtime_nsec = nsec;
	if (type == S_IFLNK && payload != NULL) {
		if (lcfs_node_set_symlink_payload(n, payload) < 0)
			return -errno;
	} else if (type == S_IFREG) {
		size_t len;
		const uint8_t *content = cfs_node_get_content(c, &len);
		const uint8_t *digest = cfs_node_get_digest(c);

		if (payload != NULL && (n->payload = strdup(payload)) == NULL)
			return -ENOMEM;
		if (content != NULL && len > 0) {
			n->content = malloc(len);
			if (n->content == NULL)
				return -ENOMEM;
			memcpy(n->content, content, len);
			n->size = len;
		}
		/* the lcfs_* API knows only sha256 digests, like the reference */
		if (digest != NULL && cfs_node_get_digest_alg(c) == CFS_HASH_SHA256)
			lcfs_node_set_fsverity_digest(n, (uint8_t *)digest);
	}
	for (size_t i = 0; r == 0 && i < cfs_node_n_xattrs(c); i++) {
		const void *value;
		size_t len;
		const char *name = cfs_node_xattr_at(c, i, &value, &len);

		/* what an image holds may use the whole inode, not only the API's share */
		r = lcfs_xattr_set(n, name, value, len, UINT16_MAX);
	}
	return r;
}

static int from_cfs(const struct cfs_node *c, struct seen *seen, struct lcfs_node_s **out);

static int children_from_cfs(const struct cfs_node *dir, struct lcfs_node_s *n, struct seen *seen)
{
	for (size_t i = 0; i < cfs_node_n_children(dir); i++) {
		const char *name;
		bool hardlink;
		struct cfs_node *cc = cfs_node_child_at(dir, i, &name, &hardlink);
		struct lcfs_node_s *child;
		int r;

		if (hardlink) {
			struct lcfs_node_s *target = seen_get(seen, cc);

			if (target == NULL)
				return -EINVAL;
			child = lcfs_node_new();
			if (child == NULL)
				return -ENOMEM;
			child->link_to = lcfs_node_ref(target);
			r = 0;
		} else {
			r = from_cfs(cc, seen, &child);
			if (r < 0)
				return r;
		}
		if (lcfs_node_add_child(n, child, name) < 0) {
			r = -errno;
			lcfs_node_unref(child);
			return r;
		}
	}
	return 0;
}

static int from_cfs(const struct cfs_node *c, struct seen *seen, struct lcfs_node_s **out)
{
	struct lcfs_node_s *n = lcfs_node_new();
	int r;

	if (n == NULL)
		return -ENOMEM;
	r = inode_from_cfs(c, n);
	if (r == 0 && !S_ISDIR(n->mode))
		r = seen_put(seen, c, n);
	if (r == 0 && S_ISDIR(n->mode))
		r = children_from_cfs(c, n, seen);
	if (r < 0) {
		lcfs_node_unref(n);
		return r;
	}
	*out = n;
	return 0;
}

/* The cfs tree at @root as an lcfs tree, hard links as link nodes (as the reference loads images). */
int lcfs_from_cfs(struct cfs_node *root, struct lcfs_node_s **out)
{
	struct seen seen = { 0 };
	int r = from_cfs(root, &seen, out);

	free(seen.keys);
	free(seen.vals);
	return r;
}
