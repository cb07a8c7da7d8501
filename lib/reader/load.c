/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Image reader: loading a whole image into an inode tree (hard links shared, cycles refused). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "hashset.h"
#include "node.h"
#include "reader.h"

/* PATH_MAX allows at most this many nested names ("a/" each). */
/* Per-inode xattr budget, as the reference's tree enforces it. */
#define XATTR_TOTAL_MAX 65535u
/* Bookkeeping charged per node/entry/xattr against the memory budget. */
#define NODE_COST 256u
#define ENTRY_COST 64u
#define XATTR_COST 64u

/* nid -> node, in a cfs_hashset; does not hold references (the tree does). */
struct nid_node {
	uint64_t nid; /* the key */
	struct cfs_node *node;
};

struct load_ctx {
	struct cfs_image *img;
	struct cfs_hashset map; /* struct nid_node */
	const char *const *filters;
	uint64_t budget;
};

static struct cfs_node *map_get(const struct load_ctx *c, uint64_t nid)
{
	const struct nid_node *e = cfs_hashset_find(&c->map, cfs_hash_u64(nid), &nid);

	return e ? e->node : NULL;
}

static int map_put(struct load_ctx *c, uint64_t nid, struct cfs_node *node)
{
	struct nid_node *e;
	int r = cfs_hashset_insert(&c->map, cfs_hash_u64(nid), &nid, (void **)&e);

	if (r < 0)
		return r;
	*e = (struct nid_node){ nid, node };
	return 0;
}

static int charge(struct load_ctx *c, uint64_t bytes)
{
	if (bytes > c->budget)
		return cfs_image_fail(c->img, -E2BIG, "image expands to more memory than its size justifies");
	c->budget -= bytes;
	return 0;
}

struct xattr_ctx {
	struct load_ctx *c;
	struct cfs_node *node;
	uint64_t nid;
	size_t total;
};

static int add_xattr(void *user, const char *name, size_t namelen, const uint8_t *value, size_t len)
{
	struct xattr_ctx *x = user;
	int r;

	x->total += 7 + namelen + len + (x->total == 0 ? 12 : 0);
	if (x->total > XATTR_TOTAL_MAX)
		return cfs_image_fail(x->c->img, -EUCLEAN, "inode %llu: xattrs larger than %u bytes in total",
				      (unsigned long long)x->nid, XATTR_TOTAL_MAX);
	r = charge(x->c, XATTR_COST + namelen + len);
	if (r < 0)
		return r;
	r = cfs_node_set_xattr(x->node, name, value, len);
	if (r == -ENOMEM)
		return r;
	if (r < 0)
		return cfs_image_fail(x->c->img, -EUCLEAN, "inode %llu: invalid xattr %s", (unsigned long long)x->nid,
				      name);
	return 0;
}

/* Content, payload and xattrs of one inode, as the reference's loader sees them. */
static int fill_node(struct load_ctx *c, const struct cfs_inode *ino, struct cfs_node *node)
{
	unsigned long long nid = (unsigned long long)ino->nid;
	struct xattr_ctx x = { c, node, ino->nid, 0 };
	struct cfs_xattr_visit v = { .fn = add_xattr, .user = &x, .want_backing = true };
	int r = cfs_xattr_walk(c->img, ino, &v);

	if (r < 0)
		goto out;
	if (v.escaped_whiteout) {
		node->mode = (ino->mode & ~(uint32_t)S_IFMT) | S_IFCHR;
		node->rdev = 0;
		node->size = 0;
	} else if (S_ISLNK(ino->mode)) {
		char target[4096];

		r = cfs_inode_copy(c->img, ino, 0, (size_t)ino->size, target);
		if (r < 0)
			goto out;
		target[ino->size] = '\0';
		if (strlen(target) != ino->size) {
			r = cfs_image_fail(c->img, -EUCLEAN, "inode %llu: NUL byte in symlink target", nid);
			goto out;
		}
		r = charge(c, ino->size);
		if (r == 0)
			r = cfs_node_set_payload(node, target);
	} else if (S_ISREG(ino->mode) && ino->size != 0 && ino->layout != EROFS_INODE_CHUNK_BASED) {
		uint8_t *buf;

		if (ino->size > CFS_INLINE_MAX) {
			r = cfs_image_fail(c->img, -EUCLEAN, "inode %llu: inline file of %llu bytes (limit %u)", nid,
					   (unsigned long long)ino->size, CFS_INLINE_MAX);
			goto out;
		}
		r = charge(c, ino->size);
		if (r < 0)
			goto out;
		buf = malloc((size_t)ino->size);
		if (buf == NULL) {
			r = -ENOMEM;
			goto out;
		}
		r = cfs_inode_copy(c->img, ino, 0, (size_t)ino->size, buf);
		if (r == 0)
			r = cfs_node_set_content(node, buf, (size_t)ino->size);
		free(buf);
	}
	if (r == 0 && S_ISREG(node->mode)) {
		if (v.redirect != NULL)
			r = cfs_node_set_payload(node, v.redirect);
		if (v.has_digest)
			cfs_node_set_digest_alg(node, v.digest_alg, v.digest);
	}
out:
	free(v.redirect);
	return r;
}

static int new_node(struct load_ctx *c, const struct cfs_inode *ino, struct cfs_node **out)
{
	struct cfs_node *node;
	int r = charge(c, NODE_COST);

	if (r < 0)
		return r;
	node = cfs_node_new(ino->mode);
	if (node == NULL)
		return -ENOMEM;
	node->uid = ino->uid;
	node->gid = ino->gid;
	node->nlink = ino->nlink;
	node->rdev = ino->rdev;
	node->size = ino->size;
	node->mtime_sec = ino->mtime;
	node->mtime_nsec = ino->mtime_nsec;
	r = fill_node(c, ino, node);
	if (r < 0) {
		cfs_node_unref(node);
		return r;
	}
	*out = node;
	return 0;
}

struct dir_ctx {
	struct load_ctx *c;
	struct cfs_node *dir;
	uint64_t dir_nid;
	unsigned depth;
};

static int load_dir(struct load_ctx *c, struct cfs_node *dir, const struct cfs_inode *ino, unsigned depth);

static bool filtered_out(const struct dir_ctx *d, const char *name)
{
	if (d->depth != 0 || d->c->filters == NULL)
		return false;
	for (const char *const *f = d->c->filters; *f != NULL; f++)
		if (strcmp(*f, name) == 0)
			return false;
	return true;
}

static int add_entry(struct dir_ctx *d, const char *name, struct cfs_node *child, bool hardlink)
{
	int r = cfs_node_add_child(d->dir, name, child, hardlink);

	if (r == -ENOMEM)
		return r;
	if (r == -EEXIST)
		return cfs_image_fail(d->c->img, -EUCLEAN, "inode %llu: duplicate directory entry \"%s\"",
				      (unsigned long long)d->dir_nid, name);
	if (r < 0)
		return cfs_image_fail(d->c->img, -EUCLEAN, "inode %llu: invalid directory entry \"%s\"",
				      (unsigned long long)d->dir_nid, name);
	return 0;
}

static int load_entry(void *user, const char *ename, size_t namelen, uint64_t nid, uint8_t ftype)
{
	struct dir_ctx *d = user;
	struct load_ctx *c = d->c;
	struct cfs_node *child, *existing;
	struct cfs_inode ino;
	char name[CFS_NAME_MAX + 1];
	int r;

	(void)ftype;
	if ((namelen == 1 && ename[0] == '.') || (namelen == 2 && ename[0] == '.' && ename[1] == '.'))
		return 0;
	memcpy(name, ename, namelen);
	name[namelen] = '\0';
	if (filtered_out(d, name))
		return 0;
	r = charge(c, ENTRY_COST + namelen);
	if (r < 0)
		return r;

	existing = map_get(c, nid);
	if (existing != NULL) {
		if (S_ISDIR(existing->mode))
			return cfs_image_fail(c->img, -EUCLEAN,
					      "inode %llu: directory reached twice (hard link or cycle) via \"%s\" in inode %llu",
					      (unsigned long long)nid, name, (unsigned long long)d->dir_nid);
		return add_entry(d, name, existing, true);
	}
	r = cfs_inode_read(c->img, nid, &ino);
	if (r < 0)
		return r;
	if (S_ISCHR(ino.mode) && ino.rdev == 0) {
		/* a real overlay whiteout: not part of the content, and never shared */
		if (ino.nlink > 1)
			return cfs_image_fail(c->img, -EUCLEAN, "inode %llu: whiteout with %u links",
					      (unsigned long long)nid, ino.nlink);
		return 0;
	}
	if (S_ISDIR(ino.mode) && d->depth + 1 > CFS_DIR_DEPTH_MAX)
		return cfs_image_fail(c->img, -EUCLEAN, "inode %llu: directories nested deeper than %u",
				      (unsigned long long)nid, CFS_DIR_DEPTH_MAX);
	r = new_node(c, &ino, &child);
	if (r < 0)
		return r;
	r = map_put(c, nid, child);
	if (r == 0)
		r = add_entry(d, name, child, false);
	cfs_node_unref(child); /* the directory holds it now (or it is gone) */
	if (r < 0)
		return r;
	if (S_ISDIR(ino.mode))
		return load_dir(c, child, &ino, d->depth + 1);
	return 0;
}

static int load_dir(struct load_ctx *c, struct cfs_node *dir, const struct cfs_inode *ino, unsigned depth)
{
	struct dir_ctx d = { c, dir, ino->nid, depth };

	return cfs_dir_iterate(c->img, ino, 0, load_entry, &d);
}

int cfs_image_load_tree_filtered(struct cfs_image *img, const char *const *filters, struct cfs_node **root_out)
{
	struct load_ctx c = { .img = img, .filters = filters };
	struct cfs_node *root = NULL;
	struct cfs_inode ino;
	int r;

	/* generous for any real tree, yet bounded for a hostile one */
	c.budget = (256ull << 20) + 64 * img->size;
	cfs_hashset_init_keyed(&c.map, sizeof(struct nid_node), sizeof(uint64_t));
	/* size the map once from the superblock's count, which an inode's 32 bytes bound */
	r = cfs_hashset_reserve(&c.map, (size_t)(img->inos < img->size / 32 ? img->inos : img->size / 32));
	if (r == 0)
		r = cfs_inode_read(img, img->root_nid, &ino);
	if (r == 0)
		r = new_node(&c, &ino, &root);
	if (r == 0)
		r = map_put(&c, img->root_nid, root);
	if (r == 0)
		r = load_dir(&c, root, &ino, 0);
	cfs_hashset_free(&c.map);
	if (r < 0) {
		cfs_node_unref(root);
		return r;
	}
	*root_out = root;
	return 0;
}

int cfs_image_load_tree(struct cfs_image *img, struct cfs_node **root_out)
{
	return cfs_image_load_tree_filtered(img, NULL, root_out);
}
