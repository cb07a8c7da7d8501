/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* libFuzzer target: open arbitrary bytes as an image and exercise every reader entry point. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <composefs/dump.h>
#include <composefs/image.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_NIDS 4096

struct walk {
	struct cfs_image *img;
	uint64_t queue[MAX_NIDS];
	size_t n;
	uint64_t dir;
};

static bool seen(const struct walk *w, uint64_t nid)
{
	for (size_t i = 0; i < w->n; i++)
		if (w->queue[i] == nid)
			return true;
	return false;
}

static int on_entry(void *user, const char *name, size_t namelen, uint64_t nid, unsigned dtype)
{
	struct walk *w = user;
	uint64_t found;

	(void)dtype;
	/* every listed name must be found again by lookup (unless the dir is unsorted) */
	(void)cfs_image_lookup(w->img, w->dir, name, namelen, &found);
	if (w->n < MAX_NIDS && !seen(w, nid))
		w->queue[w->n++] = nid;
	return 0;
}

static void poke_inode(struct cfs_image *img, uint64_t nid)
{
	struct cfs_stat st;
	char names[70000], buf[8192];
	uint8_t digest[32];
	char *redirect = NULL;
	bool has_digest;
	int len;

	if (cfs_image_stat(img, nid, &st) < 0)
		return;
	len = cfs_image_listxattr(img, nid, CFS_XATTR_VIEW_DUMP, NULL, 0);
	(void)cfs_image_listxattr(img, nid, CFS_XATTR_VIEW_MOUNT, names, sizeof(names));
	len = cfs_image_listxattr(img, nid, CFS_XATTR_VIEW_DUMP, names, sizeof(names));
	for (int off = 0; len > 0 && off < len; off += (int)strlen(names + off) + 1) {
		(void)cfs_image_getxattr(img, nid, CFS_XATTR_VIEW_DUMP, names + off, NULL, 0);
		(void)cfs_image_getxattr(img, nid, CFS_XATTR_VIEW_DUMP, names + off, buf, sizeof(buf));
		(void)cfs_image_getxattr(img, nid, CFS_XATTR_VIEW_DUMP, names + off, buf, 1);
		(void)cfs_image_getxattr(img, nid, CFS_XATTR_VIEW_MOUNT, names + off, buf, sizeof(buf));
	}
	if (S_ISLNK(st.mode)) {
		(void)cfs_image_readlink(img, nid, buf, sizeof(buf));
		(void)cfs_image_readlink(img, nid, buf, 3);
	}
	if (S_ISREG(st.mode)) {
		bool followed;

		(void)cfs_image_read_inline(img, nid, buf, sizeof(buf), 0);
		(void)cfs_image_read_inline(img, nid, buf, 100, 4090);
		if (cfs_image_get_backing(img, nid, &redirect, digest, &has_digest) == 0)
			free(redirect);
		if (cfs_image_get_backing_full(img, nid, &redirect, NULL, NULL, &followed) == 0) {
			/* the one-walk answer is the one of the separate question */
			if (cfs_image_redirect_followed(img, nid) != (int)followed)
				abort();
			free(redirect);
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static FILE *devnull;
	struct walk *w;
	struct cfs_image *img;
	struct cfs_node *root;

	if (devnull == NULL)
		devnull = fopen("/dev/null", "w");
	if (cfs_image_open_mem(data, size, NULL, &img) < 0)
		return 0;
	/* whole-image questions (the FUSE daemon asks these at mount) */
	(void)cfs_image_may_store_xattr(img, "security.selinux");
	(void)cfs_image_may_store_xattr(img, "system.posix_acl_access");
	if (cfs_image_load_tree(img, &root) == 0) {
		if (devnull != NULL)
			(void)cfs_dump_print(root, devnull, NULL);
		cfs_node_unref(root);
	}
	w = calloc(1, sizeof(*w));
	if (w != NULL) {
		w->img = img;
		w->queue[w->n++] = cfs_image_root(img);
		for (size_t i = 0; i < w->n; i++) {
			poke_inode(img, w->queue[i]);
			w->dir = w->queue[i];
			(void)cfs_image_readdir(img, w->dir, 0, on_entry, w);
			(void)cfs_image_readdir(img, w->dir, 3, on_entry, w);
		}
		free(w);
	}
	cfs_image_close(img);
	return 0;
}
