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

/*
 * The merged tree is a tree of nodes: a directory is a node of its own (the
 * newest explicit entry's metadata copied onto it, scratch_u64 set once it has
 * some), anything else is the layer's node itself.
 */
struct oci_merge {
	struct cfs_node *root;      /* the merged entries */
	struct cfs_node *root_meta; /* the newest layer's explicit root entry's metadata, or NULL */
};

#define EXPLICIT 1 /* scratch_u64 of a merged directory that took a layer's metadata */

static bool implicit(const struct cfs_node *n)
{
	size_t len;

	return cfs_node_get_xattr(n, OCI_IMPLICIT_XATTR, &len) != NULL;
}

static int copy_meta(struct cfs_node *dst, const struct cfs_node *src);

/* Directory @d of the merged tree takes the metadata of @layer_dir unless that was only implied. */
static int take_meta(struct cfs_node *d, const struct cfs_node *layer_dir)
{
	if (implicit(layer_dir))
		return 0;
	d->scratch_u64 = EXPLICIT;
	return copy_meta(d, layer_dir);
}

static int merge_dir(struct cfs_node *d, struct cfs_node *layer, char *err, size_t errlen);

static int merge_entry(struct cfs_node *d, const char *name, struct cfs_node *c, char *err, size_t errlen)
{
	bool is_dir = S_ISDIR(cfs_node_get_mode(c));
	struct cfs_node *old = cfs_node_lookup(d, name), *n;
	int r;

	if (is_dir && old != NULL && S_ISDIR(cfs_node_get_mode(old))) {
		r = take_meta(old, c);
		return r < 0 ? r : merge_dir(old, c, err, errlen);
	}
	if (is_dir && old != NULL && implicit(c))
		return cfs_errbuf_set(err, errlen, -EUCLEAN, "%s: a layer adds files below what a lower layer made a non-directory",
				name);
	if (old != NULL)
		cfs_node_remove_child(d, name);
	if (!is_dir)
		return cfs_node_add_child(d, name, c, false);
	n = cfs_node_new(S_IFDIR | 0755);
	if (n == NULL)
		return -ENOMEM;
	r = take_meta(n, c);
	if (r == 0)
		r = cfs_node_add_child(d, name, n, false);
	cfs_node_unref(n);
	return r < 0 ? r : merge_dir(n, c, err, errlen);
}

/* Whiteouts of this layer act on what the lower layers left; then its own entries go on top. */
static int merge_dir(struct cfs_node *d, struct cfs_node *layer, char *err, size_t errlen)
{
	size_t n = cfs_node_n_children(layer);
	const char *name;
	int r;

	if (cfs_node_lookup(layer, WH_OPAQUE) != NULL)
		while (cfs_node_n_children(d) > 0) {
			cfs_node_child_at(d, cfs_node_n_children(d) - 1, &name, NULL);
			cfs_node_remove_child(d, name);
		}
	for (size_t i = 0; i < n; i++) {
		cfs_node_child_at(layer, i, &name, NULL);
		if (strncmp(name, WH_PREFIX, 4) == 0 && strncmp(name, WH_META, 8) != 0)
			cfs_node_remove_child(d, name + 4); /* -ENOENT: nothing below to hide */
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
	struct oci_merge *m = calloc(1, sizeof(*m));

	if (m != NULL)
		m->root = cfs_node_new(S_IFDIR | 0755);
	if (m == NULL || m->root == NULL) {
		free(m);
		*out = NULL;
		return -ENOMEM;
	}
	*out = m;
	return 0;
}

void oci_merge_free(struct oci_merge *m)
{
	if (m == NULL)
		return;
	cfs_node_unref(m->root_meta);
	cfs_node_unref(m->root);
	free(m);
}

int oci_merge_add(struct oci_merge *m, struct cfs_node *layer, char *err, size_t errlen)
{
	if (!implicit(layer)) {
		struct cfs_node *meta = cfs_node_new(S_IFDIR | 0755);
		int r = meta == NULL ? -ENOMEM : copy_meta(meta, layer);

		if (r < 0) {
			cfs_node_unref(meta);
			return r;
		}
		cfs_node_unref(m->root_meta);
		m->root_meta = meta;
	}
	return merge_dir(m->root, layer, err, errlen);
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

int oci_merge_finish(struct oci_merge *m, struct cfs_node **root_out, char *err, size_t errlen)
{
	struct cfs_node *usr = cfs_node_lookup(m->root, "usr");
	int r = 0;

	/* as composefs-rs: the root takes the metadata of /usr (runtimes ignore a layer's own
	 * root entry, so /usr is the only well-defined source); without /usr, the newest root entry */
	if (usr != NULL && S_ISDIR(cfs_node_get_mode(usr)) && usr->scratch_u64 == EXPLICIT)
		r = copy_meta(m->root, usr);
	else if (m->root_meta != NULL)
		r = copy_meta(m->root, m->root_meta);
	if (r < 0)
		return cfs_errbuf_set(err, errlen, r, "building the merged tree: %s", strerror(-r));
	oci_tree_fix_links(m->root);
	*root_out = m->root;
	m->root = NULL; /* the merge is spent */
	return 0;
}
