/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Published Merkle trees: trees/XX/<rest> beside objects/, so lazy clients can check ranges. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repo-private.h"
#include "util.h"

/* Write the tree of the object @sub/@name (its size already known to be large enough). */
static int publish_one(struct cfs_repo *repo, int objdir, const char *sub, const char *name,
		       struct cfs_repo_trees_stats *st, bool *wrote)
{
	char rel[320], obj[300];
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	struct cfs_verity_tree *t = NULL;
	struct cfs_atomic_file af;
	_cleanup_close_ int fd = -1;
	struct stat sb;
	int r;

	snprintf(obj, sizeof(obj), "%s/%s", sub, name);
	if (cfs_objstore_parse_path(obj, repo->dsize, digest) < 0)
		return 0; /* not an object: fsck's business */
	snprintf(rel, sizeof(rel), "trees/%s", obj);
	if (fstatat(repo->dirfd, rel, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode)) {
		st->trees_present++;
		return 0;
	}
	fd = cfs_open_regular_beneath(objdir, name, true);
	if (fd < 0)
		return cfs_repo_fail(repo, fd, "objects/%s: %s", obj, strerror(-fd));
	/* building checks the object against its name: no tree of a corrupt object is published */
	r = cfs_verity_tree_build(fd, repo->alg, digest, &t);
	if (r < 0)
		return cfs_repo_fail(repo, r, "objects/%s: %s", obj,
				     r == -CFS_EDIGEST ? "content does not match its name (run fsck)" : strerror(-r));
	r = cfs_atomic_file_open(repo->dirfd, rel, 0644, &af);
	if (r == 0) {
		r = cfs_verity_tree_save(t, af.fd);
		if (r == 0 && fchmod(af.fd, 0644) < 0)
			r = -errno;
		if (r == 0) {
			r = cfs_atomic_file_commit(&af, false, true);
			if (r == -EEXIST)
				r = 0; /* a concurrent publisher wrote the same tree */
		} else {
			cfs_atomic_file_abort(&af);
		}
	}
	cfs_verity_tree_free(t);
	if (r < 0)
		return cfs_repo_fail(repo, r, "%s: %s", rel, strerror(-r));
	st->trees_written++;
	*wrote = true;
	return 0;
}

static int publish_dir(struct cfs_repo *repo, int objfd, const char *sub, uint64_t min_size,
		       struct cfs_repo_trees_stats *st)
{
	int fd = openat(objfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	char rel[32];
	bool wrote = false, made = false;
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (fd < 0)
		return cfs_repo_fail(repo, -errno, "objects/%s: %s", sub, strerror(errno));
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -ENOMEM;
	}
	snprintf(rel, sizeof(rel), "trees/%s", sub);
	while (r == 0 && (de = readdir(d)) != NULL) {
		struct stat sb;

		if (de->d_name[0] == '.' || fstatat(fd, de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(sb.st_mode) || (uint64_t)sb.st_size < min_size)
			continue;
		st->objects_large++;
		if (!made) {
			if (mkdirat(repo->dirfd, rel, 0755) < 0 && errno != EEXIST) {
				r = cfs_repo_fail(repo, -errno, "%s: %s", rel, strerror(errno));
				break;
			}
			made = true;
		}
		r = publish_one(repo, fd, sub, de->d_name, st, &wrote);
	}
	closedir(d);
	/* the names just made must survive a crash as the data does */
	if (r == 0 && wrote)
		r = cfs_repo_sync_dir(repo, rel);
	return r;
}

int cfs_repo_publish_trees(struct cfs_repo *repo, uint64_t min_size, struct cfs_repo_trees_stats *stats)
{
	struct cfs_repo_trees_stats local;
	char (*dirs)[3] = NULL;
	size_t n = 0;
	struct dirent *de;
	DIR *d;
	int r;

	stats = stats != NULL ? stats : &local;
	*stats = (struct cfs_repo_trees_stats){ 0 };
	repo->errmsg[0] = '\0';
	r = cfs_repo_require_writable(repo, true);
	if (r < 0)
		return r;
	if (mkdirat(repo->dirfd, "trees", 0755) < 0 && errno != EEXIST)
		return cfs_repo_fail(repo, -errno, "trees: %s", strerror(errno));
	r = cfs_repo_opendir(repo, "objects", &d);
	if (r < 0 || d == NULL)
		return r;
	dirs = calloc(256, sizeof(*dirs));
	if (dirs == NULL) {
		closedir(d);
		return -ENOMEM;
	}
	while ((de = readdir(d)) != NULL)
		if (n < 256 && strlen(de->d_name) == 2 && strspn(de->d_name, "0123456789abcdef") == 2)
			memcpy(dirs[n++], de->d_name, 3);
	for (size_t i = 0; i < n && r == 0; i++) {
		cfs_repo_progress(repo, "writing trees", i, n);
		r = publish_dir(repo, dirfd(d), dirs[i], min_size, stats);
	}
	closedir(d);
	free(dirs);
	if (r == 0)
		r = cfs_repo_sync_dir(repo, "trees");
	return r;
}
