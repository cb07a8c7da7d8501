/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* The in-memory inode tree: allocation, attributes, xattrs, directory entries. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "node.h"

struct cfs_node *cfs_node_new(uint32_t mode)
{
	struct cfs_node *n = calloc(1, sizeof(*n));

	if (n == NULL)
		return NULL;
	n->refcount = 1;
	n->mode = mode;
	n->nlink = 1;
	return n;
}

struct cfs_node *cfs_node_ref(struct cfs_node *node)
{
	node->refcount++;
	return node;
}

/* Frees one node whose last reference is gone; children that lose their last
 * reference are pushed on @pending (linked through the dead nodes' scratch
 * field) instead of recursing, so arbitrarily deep trees cannot overflow the stack. */
static void node_free(struct cfs_node *node, struct cfs_node **pending)
{
	for (size_t i = 0; i < node->n_entries; i++) {
		struct cfs_node *child = node->entries[i].node;

		if (!node->entries[i].hardlink && child->parent == node)
			child->parent = NULL;
		free(node->entries[i].name);
		if (--child->refcount == 0) {
			child->scratch = *pending;
			*pending = child;
		}
	}
	free(node->entries);
	for (size_t i = 0; i < node->n_xattrs; i++) {
		free(node->xattrs[i].name);
		free(node->xattrs[i].value);
	}
	free(node->xattrs);
	free(node->payload);
	free(node->content);
	free(node);
}

void cfs_node_unref(struct cfs_node *node)
{
	struct cfs_node *pending;

	if (node == NULL || --node->refcount > 0)
		return;
	node->scratch = NULL;
	pending = node;
	while (pending != NULL) {
		struct cfs_node *n = pending;

		pending = n->scratch;
		node_free(n, &pending);
	}
}

#define ACCESSOR(type, field)                                                  \
	type cfs_node_get_##field(const struct cfs_node *node)                 \
	{                                                                      \
		return node->field;                                            \
	}                                                                      \
	void cfs_node_set_##field(struct cfs_node *node, type value)           \
	{                                                                      \
		node->field = value;                                           \
	}

ACCESSOR(uint32_t, mode)
ACCESSOR(uint32_t, uid)
ACCESSOR(uint32_t, gid)
ACCESSOR(uint32_t, rdev)
ACCESSOR(uint32_t, nlink)
ACCESSOR(uint64_t, size)

void cfs_node_get_mtime(const struct cfs_node *node, int64_t *sec, uint32_t *nsec)
{
	if (sec)
		*sec = node->mtime_sec;
	if (nsec)
		*nsec = node->mtime_nsec;
}

void cfs_node_set_mtime(struct cfs_node *node, int64_t sec, uint32_t nsec)
{
	node->mtime_sec = sec;
	node->mtime_nsec = nsec;
}

int cfs_node_set_payload(struct cfs_node *node, const char *payload)
{
	char *dup = NULL;

	if (payload != NULL && (dup = strdup(payload)) == NULL)
		return -ENOMEM;
	free(node->payload);
	node->payload = dup;
	return 0;
}

const char *cfs_node_get_payload(const struct cfs_node *node)
{
	return node->payload;
}

bool cfs_payload_path_valid(const char *payload)
{
	const char *c = payload;

	if (payload == NULL || payload[0] == '\0')
		return false;
	for (;;) {
		const char *end = strchrnul(c, '/');
		size_t n = (size_t)(end - c);

		/* overlayfs: an absolute redirect ("/" + payload) with an empty
		 * component is invalid; "." and ".." fail the per-component lookup */
		if (n == 0 || n > 255 || (n == 1 && c[0] == '.') || (n == 2 && c[0] == '.' && c[1] == '.'))
			return false;
		if (*end == '\0')
			return true;
		c = end + 1;
	}
}

bool cfs_node_payload_servable(const struct cfs_node *node)
{
	if ((node->mode & S_IFMT) != S_IFREG || node->size == 0 || node->content_len > 0 ||
	    node->payload == NULL || node->payload[0] == '\0')
		return true;
	return cfs_payload_path_valid(node->payload);
}

int cfs_node_set_content(struct cfs_node *node, const uint8_t *data, size_t len)
{
	uint8_t *dup = NULL;

	if (data != NULL) {
		if (len > CFS_INLINE_MAX)
			return -EFBIG;
		dup = malloc(len ? len : 1);
		if (dup == NULL)
			return -ENOMEM;
		memcpy(dup, data, len);
	}
	free(node->content);
	node->content = dup;
	node->content_len = data ? len : 0;
	return 0;
}

const uint8_t *cfs_node_get_content(const struct cfs_node *node, size_t *len)
{
	if (len)
		*len = node->content_len;
	return node->content;
}

void cfs_node_set_digest(struct cfs_node *node, const uint8_t digest[CFS_DIGEST_SIZE])
{
	cfs_node_set_digest_alg(node, CFS_HASH_SHA256, digest);
}

int cfs_node_set_digest_alg(struct cfs_node *node, enum cfs_hash_alg alg, const uint8_t *digest)
{
	/* sizes spelled out: the tree sits beside lib/verity, not above it */
	size_t size = alg == CFS_HASH_SHA256 ? 32 : alg == CFS_HASH_SHA512 ? 64 : 0;

	if (digest == NULL) {
		node->has_digest = false;
		node->digest_alg = 0;
		node->digest_size = 0;
		memset(node->digest, 0, sizeof(node->digest));
		return 0;
	}
	if (size == 0)
		return -EINVAL;
	node->has_digest = true;
	node->digest_alg = (uint8_t)alg;
	node->digest_size = (uint8_t)size;
	memcpy(node->digest, digest, size);
	memset(node->digest + size, 0, sizeof(node->digest) - size);
	return 0;
}

const uint8_t *cfs_node_get_digest(const struct cfs_node *node)
{
	return node->has_digest ? node->digest : NULL;
}

enum cfs_hash_alg cfs_node_get_digest_alg(const struct cfs_node *node)
{
	return node->has_digest ? (enum cfs_hash_alg)node->digest_alg : 0;
}

static struct cfs_xattr *find_xattr(const struct cfs_node *node, const char *name)
{
	for (size_t i = 0; i < node->n_xattrs; i++)
		if (strcmp(node->xattrs[i].name, name) == 0)
			return &node->xattrs[i];
	return NULL;
}

int cfs_node_set_xattr(struct cfs_node *node, const char *name, const void *value, size_t len)
{
	struct cfs_xattr *x;
	uint8_t *v;
	size_t nlen = strlen(name);

	if (nlen == 0)
		return -EINVAL;
	if (nlen > CFS_XATTR_NAME_MAX || len > CFS_XATTR_VALUE_MAX)
		return -ERANGE;
	v = malloc(len ? len : 1);
	if (v == NULL)
		return -ENOMEM;
	if (len)
		memcpy(v, value, len);

	x = find_xattr(node, name);
	if (x != NULL) {
		free(x->value);
		x->value = v;
		x->len = len;
		return 0;
	}
	x = realloc(node->xattrs, (node->n_xattrs + 1) * sizeof(*x));
	if (x == NULL) {
		free(v);
		return -ENOMEM;
	}
	node->xattrs = x;
	x = &node->xattrs[node->n_xattrs];
	x->name = strdup(name);
	if (x->name == NULL) {
		free(v);
		return -ENOMEM;
	}
	x->value = v;
	x->len = len;
	node->n_xattrs++;
	return 0;
}

const void *cfs_node_get_xattr(const struct cfs_node *node, const char *name, size_t *len)
{
	const struct cfs_xattr *x = find_xattr(node, name);

	if (x == NULL)
		return NULL;
	if (len)
		*len = x->len;
	return x->value;
}

int cfs_node_remove_xattr(struct cfs_node *node, const char *name)
{
	struct cfs_xattr *x = find_xattr(node, name);
	size_t i;

	if (x == NULL)
		return -ENODATA;
	i = (size_t)(x - node->xattrs);
	free(x->name);
	free(x->value);
	memmove(&node->xattrs[i], &node->xattrs[i + 1], (node->n_xattrs - i - 1) * sizeof(*x));
	node->n_xattrs--;
	return 0;
}

size_t cfs_node_n_xattrs(const struct cfs_node *node)
{
	return node->n_xattrs;
}

const char *cfs_node_xattr_at(const struct cfs_node *node, size_t i, const void **value, size_t *len)
{
	if (i >= node->n_xattrs)
		return NULL;
	if (value)
		*value = node->xattrs[i].value;
	if (len)
		*len = node->xattrs[i].len;
	return node->xattrs[i].name;
}

/* Index of the first entry whose name is >= @name. */
static size_t entry_search(const struct cfs_node *dir, const char *name, bool *found)
{
	size_t lo = 0, hi = dir->n_entries;

	*found = false;
	/* builders usually add in order: check the end first */
	if (hi > 0) {
		int c = strcmp(dir->entries[hi - 1].name, name);
		if (c < 0)
			return hi;
		if (c == 0) {
			*found = true;
			return hi - 1;
		}
	}
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(dir->entries[mid].name, name);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

int cfs_node_add_child(struct cfs_node *dir, const char *name, struct cfs_node *child, bool hardlink)
{
	size_t nlen = strlen(name), pos;
	bool found;
	char *dup;

	if (!S_ISDIR(dir->mode))
		return -ENOTDIR;
	if (nlen == 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0 || memchr(name, '/', nlen))
		return -EINVAL;
	if (nlen > CFS_NAME_MAX)
		return -ENAMETOOLONG;
	if (S_ISDIR(child->mode)) {
		if (hardlink || child->parent != NULL)
			return -EINVAL;
		/*
		 * A directory under itself or its own descendant would make a
		 * cycle. Only a parentless directory with entries can be an
		 * ancestor of @dir: top-down builders (empty @child) and
		 * bottom-up ones (parentless @dir) both skip or end the walk early.
		 */
		if (child == dir)
			return -EINVAL;
		for (const struct cfs_node *a = child->n_entries > 0 ? dir : NULL; a != NULL; a = a->parent)
			if (a == child)
				return -EINVAL;
	}
	pos = entry_search(dir, name, &found);
	if (found)
		return -EEXIST;
	if (dir->n_entries == dir->cap_entries) {
		size_t cap = dir->cap_entries ? dir->cap_entries * 2 : 8;
		struct cfs_dirent *e = realloc(dir->entries, cap * sizeof(*e));

		if (e == NULL)
			return -ENOMEM;
		dir->entries = e;
		dir->cap_entries = cap;
	}
	dup = strdup(name);
	if (dup == NULL)
		return -ENOMEM;
	memmove(&dir->entries[pos + 1], &dir->entries[pos], (dir->n_entries - pos) * sizeof(dir->entries[0]));
	dir->entries[pos] = (struct cfs_dirent){ .name = dup, .node = cfs_node_ref(child), .hardlink = hardlink };
	dir->n_entries++;
	if (S_ISDIR(child->mode))
		child->parent = dir;
	return 0;
}

struct cfs_node *cfs_node_lookup(const struct cfs_node *dir, const char *name)
{
	bool found;
	size_t pos;

	if (!S_ISDIR(dir->mode))
		return NULL;
	pos = entry_search(dir, name, &found);
	return found ? dir->entries[pos].node : NULL;
}

struct cfs_dirent *cfs_node_find_entry(struct cfs_node *dir, const char *name)
{
	bool found;
	size_t pos;

	if (!S_ISDIR(dir->mode))
		return NULL;
	pos = entry_search(dir, name, &found);
	return found ? &dir->entries[pos] : NULL;
}

int cfs_node_remove_child(struct cfs_node *dir, const char *name)
{
	struct cfs_dirent e;
	bool found;
	size_t pos;

	if (!S_ISDIR(dir->mode))
		return -ENOTDIR;
	pos = entry_search(dir, name, &found);
	if (!found)
		return -ENOENT;
	e = dir->entries[pos];
	memmove(&dir->entries[pos], &dir->entries[pos + 1], (dir->n_entries - pos - 1) * sizeof(dir->entries[0]));
	dir->n_entries--;
	if (!e.hardlink && e.node->parent == dir)
		e.node->parent = NULL;
	free(e.name);
	cfs_node_unref(e.node);
	return 0;
}

size_t cfs_node_n_children(const struct cfs_node *dir)
{
	return dir->n_entries;
}

struct cfs_node *cfs_node_child_at(const struct cfs_node *dir, size_t i, const char **name, bool *hardlink)
{
	if (i >= dir->n_entries)
		return NULL;
	if (name)
		*name = dir->entries[i].name;
	if (hardlink)
		*hardlink = dir->entries[i].hardlink;
	return dir->entries[i].node;
}

struct cfs_node *cfs_node_get_parent(const struct cfs_node *node)
{
	return node->parent;
}
