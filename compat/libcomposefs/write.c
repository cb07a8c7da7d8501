/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* libcomposefs drop-in: lcfs_write_to() through our writer. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "lcfs-private.h"

/* The option structs are ABI: pin their layout on LP64 targets. */
#if defined(__LP64__)
_Static_assert(sizeof(struct lcfs_write_options_s) == 88, "lcfs_write_options_s size");
_Static_assert(offsetof(struct lcfs_write_options_s, digest_out) == 16, "digest_out offset");
_Static_assert(offsetof(struct lcfs_write_options_s, max_version) == 40, "max_version offset");
_Static_assert(offsetof(struct lcfs_write_options_s, reserved2) == 56, "reserved2 offset");
_Static_assert(sizeof(struct lcfs_read_options_s) == 56, "lcfs_read_options_s size");
#endif

/* Does any inode (hard link entries aside) need format version 1: a whiteout device? */
static bool needs_v1(const struct lcfs_node_s *n)
{
	if (S_ISCHR(n->mode) && n->rdev == makedev(0, 0))
		return true;
	for (size_t i = 0; i < n->n_children; i++)
		if (n->children[i]->link_to == NULL && needs_v1(n->children[i]))
			return true;
	return false;
}

struct sink {
	void *file;
	lcfs_write_cb cb;
};

static int sink_write(void *user, const void *buf, size_t len)
{
	struct sink *s = user;
	uint8_t *p = (uint8_t *)buf;

	if (s->cb == NULL)
		return 0; /* digest only */
	while (len > 0) {
		ssize_t r;

		errno = EIO; /* what a callback that fails without saying why reports */
		r = s->cb(s->file, p, len);
		if (r <= 0)
			return errno > 0 ? -errno : -EIO;
		if ((size_t)r > len)
			return -EIO;
		p += r;
		len -= (size_t)r;
	}
	return 0;
}

LCFS_PUBLIC int lcfs_write_to(struct lcfs_node_s *root, struct lcfs_write_options_s *options)
{
	struct cfs_write_opts o;
	struct sink s = { options->file, options->file_write_cb };
	struct cfs_node *tree = NULL;
	uint8_t digest[LCFS_DIGEST_SIZE];
	int r;

	if (options->flags & ~(uint32_t)LCFS_FLAGS_MASK)
		return lcfs_fail(-EINVAL);
	if (options->version > LCFS_VERSION_MAX || options->max_version > LCFS_VERSION_MAX)
		return lcfs_fail(-EINVAL);
	/* the reference writes the versions it settles on back into the options */
	if (options->max_version < options->version)
		options->max_version = options->version;
	if (options->version < 1 && options->max_version >= 1 && needs_v1(root))
		options->version = 1;
	if (options->format != LCFS_FORMAT_EROFS)
		return lcfs_fail(-EINVAL);

	r = lcfs_to_cfs(root, &tree);
	if (r < 0)
		return lcfs_fail(r);
	cfs_write_opts_init(&o);
	o.min_version = options->version;
	o.max_version = options->version;
	r = cfs_write_image(tree, &o, sink_write, &s, digest, NULL, 0);
	cfs_node_unref(tree);
	if (r < 0)
		return lcfs_fail(r);
	if (options->digest_out != NULL)
		memcpy(options->digest_out, digest, LCFS_DIGEST_SIZE);
	return 0;
}
