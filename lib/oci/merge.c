/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Merging layer trees into one: OCI whiteouts and opaque directories, newest metadata wins. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "node.h"
#include "oci-private.h"

#define WH_PREFIX ".wh."
#define WH_META ".wh..wh."
#define WH_OPAQUE ".wh..wh..opq"

struct mdir;

struct ment {
	char *name;
	struct cfs_node *node;  /* the file, or a directory's metadata */
	struct mdir *dir;       /* directories: the merged children */
};

struct mdir {
	struct ment *v;
	size_t n, cap;
};

struct oci_merge {
	struct cfs_node *root_meta; /* the newest layer's explicit root entry */
	struct mdir root;
};

static void mdir_free(struct mdir *d);

static void ment_clear(struct ment *e)
{
	free(e->name);
	cfs_node_unref(e->node);
	if (e->dir != NULL) {
		mdir_free(e->dir);
		free(e->dir);
	}
	memset(e, 0, sizeof(*e));
}

static void mdir_free(struct mdir *d)
{
	for (size_t i = 0; i < d->n; i++)
		ment_clear(&d->v[i]);
	free(d->v);
	memset(d, 0, sizeof(*d));
}

static size_t find(const struct mdir *d, const char *name, bool *found)
{
	size_t lo = 0, hi = d->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(d->v[mid].name, name);

		if (c == 0) {
			*found = true;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = false;
	return lo;
}

static void remove_at(struct mdir *d, size_t i)
{
	ment_clear(&d->v[i]);
	memmove(&d->v[i], &d->v[i + 1], (d->n - i - 1) * sizeof(*d->v));
	d->n--;
}

static int insert_at(struct mdir *d, size_t i, const char *name, struct cfs_node *node, bool is_dir)
{
	struct ment e = { 0 };

	if (d->n == d->cap) {
		size_t cap = d->cap ? 2 * d->cap : 8;
		struct ment *v = realloc(d->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		d->v = v;
		d->cap = cap;
	}
	e.name = strdup(name);
	e.dir = is_dir ? calloc(1, sizeof(*e.dir)) : NULL;
	if (e.name == NULL || (is_dir && e.dir == NULL)) {
		free(e.name);
		free(e.dir);
		return -ENOMEM;
	}
	e.node = cfs_node_ref(node);
	memmove(&d->v[i + 1], &d->v[i], (d->n - i) * sizeof(*d->v));
	d->v[i] = e;
	d->n++;
	return 0;
}

static bool implicit(const struct cfs_node *n)
{
	size_t len;

	return cfs_node_get_xattr(n, OCI_IMPLICIT_XATTR, &len) != NULL;
}

static int merge_dir(struct mdir *d, struct cfs_node *layer, char *err, size_t errlen);

static int merge_entry(struct mdir *d, const char *name, struct cfs_node *c, char *err, size_t errlen)
{
	bool found, is_dir = S_ISDIR(cfs_node_get_mode(c));
	size_t i = find(d, name, &found);
	int r;

	if (is_dir && found && d->v[i].dir != NULL) {
		if (!implicit(c)) {
			cfs_node_unref(d->v[i].node);
			d->v[i].node = cfs_node_ref(c);
		}
		return merge_dir(d->v[i].dir, c, err, errlen);
	}
	if (is_dir && found && implicit(c))
		return cfs_errbuf_set(err, errlen, -EUCLEAN, "%s: a layer adds files below what a lower layer made a non-directory",
				name);
	if (found)
		remove_at(d, i);
	r = insert_at(d, i, name, c, is_dir);
	if (r == 0 && is_dir)
		r = merge_dir(d->v[i].dir, c, err, errlen);
	return r;
}

/* Whiteouts of this layer act on what the lower layers left; then its own entries go on top. */
static int merge_dir(struct mdir *d, struct cfs_node *layer, char *err, size_t errlen)
{
	size_t n = cfs_node_n_children(layer);
	const char *name;
	bool found;
	int r;

	if (cfs_node_lookup(layer, WH_OPAQUE) != NULL)
		while (d->n > 0)
			remove_at(d, d->n - 1);
	for (size_t i = 0; i < n; i++) {
		cfs_node_child_at(layer, i, &name, NULL);
		if (strncmp(name, WH_PREFIX, 4) != 0 || strncmp(name, WH_META, 8) == 0)
			continue;
		size_t k = find(d, name + 4, &found);
		if (found)
			remove_at(d, k);
	}
	for (size_t i = 0; i < n; i++) {
		struct cfs_node *c = cfs_node_child_at(layer, i, &name, NULL);

		if (strncmp(name, WH_PREFIX, 4) == 0)
			continue; /* whiteouts, and aufs' other .wh..wh. metadata */
		r = merge_entry(d, name, c, err, errlen);
		if (r < 0)
			return r;
	}
	return 0;
}

int oci_merge_new(struct oci_merge **out)
{
	*out = calloc(1, sizeof(**out));
	return *out != NULL ? 0 : -ENOMEM;
}

void oci_merge_free(struct oci_merge *m)
{
	if (m == NULL)
		return;
	cfs_node_unref(m->root_meta);
	mdir_free(&m->root);
	free(m);
}

int oci_merge_add(struct oci_merge *m, struct cfs_node *layer, char *err, size_t errlen)
{
	if (!implicit(layer)) {
		cfs_node_unref(m->root_meta);
		m->root_meta = cfs_node_ref(layer);
	}
	return merge_dir(&m->root, layer, err, errlen);
}

/* Mode bits, owner, mtime and xattrs (without our marker) of @src onto directory @dst. */
static int copy_meta(struct cfs_node *dst, const struct cfs_node *src)
{
	int64_t sec;
	uint32_t nsec;

	cfs_node_set_mode(dst, S_IFDIR | (cfs_node_get_mode(src) & 07777));
	cfs_node_set_uid(dst, cfs_node_get_uid(src));
	cfs_node_set_gid(dst, cfs_node_get_gid(src));
	cfs_node_get_mtime(src, &sec, &nsec);
	cfs_node_set_mtime(dst, sec, nsec);
	while (cfs_node_n_xattrs(dst) > 0)
		cfs_node_remove_xattr(dst, cfs_node_xattr_at(dst, 0, NULL, NULL));
	for (size_t i = 0; i < cfs_node_n_xattrs(src); i++) {
		const void *v;
		size_t len;
		const char *name = cfs_node_xattr_at(src, i, &v, &len);
		int r;

		if (strcmp(name, OCI_IMPLICIT_XATTR) == 0)
			continue;
		r = cfs_node_set_xattr(dst, name, v, len);
		if (r < 0)
			return r;
	}
	return 0;
}

static int build(struct cfs_node *out, const struct mdir *d)
{
	for (size_t i = 0; i < d->n; i++) {
		const struct ment *e = &d->v[i];
		struct cfs_node *n = e->node;
		int r;

		if (e->dir != NULL) {
			n = cfs_node_new(S_IFDIR | 0755);
			if (n == NULL)
				return -ENOMEM;
			r = implicit(e->node) ? 0 : copy_meta(n, e->node);
			if (r == 0)
				r = cfs_node_add_child(out, e->name, n, false);
			if (r == 0)
				r = build(n, e->dir);
			cfs_node_unref(n);
		} else {
			r = cfs_node_add_child(out, e->name, n, false);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

int oci_merge_finish(struct oci_merge *m, struct cfs_node **root_out, char *err, size_t errlen)
{
	struct cfs_node *root = cfs_node_new(S_IFDIR | 0755);
	bool found;
	size_t usr = find(&m->root, "usr", &found);
	int r = 0;

	if (root == NULL)
		return -ENOMEM;
	/* as composefs-rs: the root takes the metadata of /usr (runtimes ignore a layer's own
	 * root entry, so /usr is the only well-defined source); without /usr, the newest root entry */
	if (found && m->root.v[usr].dir != NULL && !implicit(m->root.v[usr].node))
		r = copy_meta(root, m->root.v[usr].node);
	else if (m->root_meta != NULL)
		r = copy_meta(root, m->root_meta);
	if (r == 0)
		r = build(root, &m->root);
	if (r < 0) {
		cfs_node_unref(root);
		return cfs_errbuf_set(err, errlen, r, "building the merged tree: %s", strerror(-r));
	}
	oci_tree_fix_links(root);
	*root_out = root;
	return 0;
}
