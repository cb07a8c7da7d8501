/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Putting content into a repository: directories, trees and image files become objects and images. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <composefs/builder.h>
#include <composefs/writer.h>

#include "node.h"
#include "repo-private.h"
#include "util.h"

/* Common checks before adding an image (and optionally a ref) to the repository. */
static int begin_add(struct cfs_repo *repo, const char *name)
{
	int r = cfs_repo_require_writable(repo, true);

	if (r < 0)
		return r;
	if (name != NULL && !cfs_repo_ref_name_valid(name))
		return cfs_repo_fail(repo, -EINVAL, "invalid ref name \"%s\"", name);
	return 0;
}

/* An unnamed scratch file next to the objects, so the copy into the store stays
 * on one file system. Without O_TMPFILE a named file is unlinked at once: a
 * crash then leaves nothing behind either. */
static int scratch_file(struct cfs_repo *repo, int *fd_out)
{
	int fd = openat(repo->dirfd, "objects", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd >= 0) {
		*fd_out = fd;
		return 0;
	}
	for (int tries = 0; tries < 100; tries++) {
		char name[64];
		uint32_t rnd = 0;

		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			rnd = (uint32_t)getpid() + (uint32_t)tries;
		snprintf(name, sizeof(name), "objects/.tmp-%08x-image", rnd);
		fd = openat(repo->dirfd, name, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
		if (fd >= 0) {
			unlinkat(repo->dirfd, name, 0);
			*fd_out = fd;
			return 0;
		}
		if (errno != EEXIST)
			break;
	}
	return cfs_repo_fail(repo, -errno, "temporary image file: %s", strerror(errno));
}

/* Store the image in @fd (digest already known) and publish it under @name. */
/* Store image @fd as an object named @digest, name it, and hand the digest to @digest_out (may be NULL). */
static int store_image(struct cfs_repo *repo, int fd, const uint8_t *digest, const char *name, uint8_t *digest_out)
{
	struct stat st;
	int r;

	if (fstat(fd, &st) < 0)
		return cfs_repo_fail(repo, -errno, "image: %s", strerror(errno));
	r = cfs_objstore_put_fd(repo->store, fd, (uint64_t)st.st_size, digest);
	if (r == 0)
		r = cfs_objstore_sync(repo->store);
	if (r < 0)
		return cfs_repo_fail(repo, r, "storing image: %s", strerror(-r));
	r = cfs_repo_publish(repo, digest, name);
	if (r == 0 && digest_out != NULL)
		memcpy(digest_out, digest, repo->dsize);
	return r;
}

int cfs_repo_commit_tree(struct cfs_repo *repo, struct cfs_node *root, const char *name, uint8_t *digest_out)
{
	struct cfs_write_opts o;
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	_cleanup_close_ int fd = -1;
	char err[256] = "";
	int r;

	r = begin_add(repo, name);
	if (r < 0)
		return r;
	r = cfs_repo_check_tree_alg(repo, root, err, sizeof(err));
	if (r < 0)
		return cfs_repo_fail(repo, r, "%s", err);
	/* objects the tree refers to must be durable before an image names them */
	r = cfs_objstore_sync(repo->store);
	if (r < 0)
		return cfs_repo_fail(repo, r, "syncing objects: %s", strerror(-r));
	r = scratch_file(repo, &fd);
	if (r < 0)
		return r;
	cfs_write_opts_init(&o);
	o.hash_alg = repo->alg;
	o.min_version = repo->min_version;
	if (o.max_version < o.min_version)
		o.max_version = o.min_version;
	cfs_repo_progress(repo, "writing image", 0, 0);
	r = cfs_write_image_fd(root, &o, fd, digest, err, sizeof(err));
	if (r < 0)
		return cfs_repo_fail(repo, r, "writing image: %s", err[0] ? err : strerror(-r));
	return store_image(repo, fd, digest, name, digest_out);
}

int cfs_repo_import_image_fd(struct cfs_repo *repo, int fd, const char *name, uint8_t *digest_out)
{
	struct cfs_digest_set set;
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	char err[256] = "";
	int r;

	r = begin_add(repo, name);
	if (r < 0)
		return r;
	cfs_digest_set_init(&set, repo->dsize);
	r = cfs_repo_collect_image_objects_flags(repo, fd, &set, CFS_REPO_COLLECT_STRICT, err, sizeof(err));
	cfs_digest_set_clear(&set);
	if (r == -EINVAL)
		return cfs_repo_fail(repo, r, "image of another algorithm: %s", err);
	if (r < 0)
		return cfs_repo_fail(repo, r, "not a valid composefs image: %s", err[0] ? err : strerror(-r));
	r = cfs_verity_digest_fd(fd, repo->alg, digest);
	if (r < 0)
		return cfs_repo_fail(repo, r, "image digest: %s", strerror(-r));
	return store_image(repo, fd, digest, name, digest_out);
}

int cfs_repo_import_dir(struct cfs_repo *repo, int atdirfd, const char *path, const struct cfs_build_opts *opts,
			struct cfs_node **root_out)
{
	struct cfs_build_opts o;
	struct cfs_node *root = NULL;
	char err[512] = "";
	int r;

	r = cfs_repo_require_writable(repo, true);
	if (r < 0)
		return r;
	if (opts != NULL)
		o = *opts;
	else
		cfs_build_opts_init(&o);
	/* the store's algorithm names the objects: XX/<62 hex> or XX/<126 hex> */
	o.flags |= CFS_BUILD_COMPUTE_DIGEST;
	o.store = repo->store;
	o.hash_alg = repo->alg;
	r = cfs_build_from_dir(atdirfd, path, &o, &root, err, sizeof(err));
	if (r < 0)
		return cfs_repo_fail(repo, r, "%s", err[0] ? err : strerror(-r));
	if (r == 0) {
		r = cfs_objstore_sync(repo->store);
		if (r < 0)
			cfs_repo_fail(repo, r, "syncing objects: %s", strerror(-r));
	}
	if (r < 0) {
		cfs_node_unref(root);
		return r;
	}
	*root_out = root;
	return 0;
}
