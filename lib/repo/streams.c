/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* streams/ and streams/refs/ of composefs-rs: named split streams and their gc roots. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "repo-private.h"
#include "util.h"

bool cfs_repo_stream_name_valid(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > NAME_MAX || name[0] == '.' || strchr(name, '/') != NULL)
		return false;
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return false;
	return true;
}

int cfs_repo_stream_read_link(struct cfs_repo *repo, int dirfd, const char *name, uint8_t *digest)
{
	char target[PATH_MAX];
	ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);

	if (n < 0)
		return errno == EINVAL ? -EUCLEAN : -errno;
	target[n] = '\0';
	/* composefs-rs writes "../objects/XX/REST" */
	if (strncmp(target, "../objects/", 11) != 0)
		return -EUCLEAN;
	return cfs_objstore_parse_path(target + 11, repo->dsize, digest) < 0 ? -EUCLEAN : 0;
}

int cfs_repo_stream_get(struct cfs_repo *repo, const char *name, uint8_t *digest_out)
{
	char rel[PATH_MAX];
	int r;

	if (!cfs_repo_stream_name_valid(name))
		return cfs_repo_fail(repo, -EINVAL, "invalid stream name \"%s\"", name);
	snprintf(rel, sizeof(rel), "streams/%s", name);
	r = cfs_repo_stream_read_link(repo, repo->dirfd, rel, digest_out);
	if (r == -EUCLEAN)
		return cfs_repo_fail(repo, r, "%s: not a link to an object", rel);
	if (r < 0)
		return cfs_repo_fail(repo, r, "%s: %s", rel, strerror(-r));
	return 0;
}

/* mkdir of @rel if missing, durably (its parent synced). */
static int ensure_dir(struct cfs_repo *repo, const char *rel)
{
	char parent[PATH_MAX];
	const char *slash = strrchr(rel, '/');

	if (mkdirat(repo->dirfd, rel, 0755) < 0)
		return errno == EEXIST ? 0 : cfs_repo_fail(repo, -errno, "%s: %s", rel, strerror(errno));
	snprintf(parent, sizeof(parent), "%.*s", slash ? (int)(slash - rel) : 0, rel);
	return cfs_repo_sync_dir(repo, parent);
}

int cfs_repo_stream_set(struct cfs_repo *repo, const char *name, const uint8_t *digest)
{
	char rel[PATH_MAX], target[200];
	int r = cfs_repo_require_writable(repo, true), fd;

	if (r < 0)
		return r;
	if (!cfs_repo_stream_name_valid(name))
		return cfs_repo_fail(repo, -EINVAL, "invalid stream name \"%s\"", name);
	/* the stream and everything it references are durable before its name appears */
	r = cfs_objstore_sync(repo->store);
	if (r < 0)
		return cfs_repo_fail(repo, r, "syncing objects: %s", strerror(-r));
	fd = cfs_repo_open_object(repo, digest);
	if (fd < 0)
		return cfs_repo_fail(repo, -ENOENT, "stream %s: its object is missing", name);
	close(fd);
	r = ensure_dir(repo, "streams");
	if (r < 0)
		return r;
	memcpy(target, "../", 3);
	cfs_repo_object_relpath(repo, digest, target + 3, sizeof(target) - 3);
	snprintf(rel, sizeof(rel), "streams/%s", name);
	r = cfs_repo_replace_symlink(repo, target, rel);
	if (r < 0)
		return cfs_repo_fail(repo, r, "%s: %s", rel, strerror(-r));
	return cfs_repo_sync_dir(repo, "streams");
}

int cfs_repo_stream_ref_set(struct cfs_repo *repo, const char *ref, const char *name)
{
	char rel[PATH_MAX], target[PATH_MAX], dir[PATH_MAX];
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	size_t pos = 0;
	int r = cfs_repo_require_writable(repo, false);

	if (r < 0)
		return r;
	if (!cfs_repo_ref_name_valid(ref))
		return cfs_repo_fail(repo, -EINVAL, "invalid ref name \"%s\"", ref);
	r = cfs_repo_stream_get(repo, name, digest);
	if (r < 0)
		return r;
	r = ensure_dir(repo, "streams/refs");
	/* the link is relative: one "../" per directory between streams/ and the ref */
	pos += (size_t)snprintf(target + pos, sizeof(target) - pos, "../");
	for (const char *c = ref; r == 0 && (c = strchr(c, '/')) != NULL; c++) {
		snprintf(dir, sizeof(dir), "streams/refs/%.*s", (int)(c - ref), ref);
		r = ensure_dir(repo, dir);
		pos += (size_t)snprintf(target + pos, sizeof(target) - pos, "../");
	}
	if (r < 0)
		return r;
	snprintf(target + pos, sizeof(target) - pos, "%s", name);
	snprintf(rel, sizeof(rel), "streams/refs/%s", ref);
	r = cfs_repo_replace_symlink(repo, target, rel);
	if (r < 0)
		return cfs_repo_fail(repo, r, "%s: %s", rel, strerror(-r));
	snprintf(dir, sizeof(dir), "%.*s", (int)(strrchr(rel, '/') - rel), rel);
	return cfs_repo_sync_dir(repo, dir);
}

int cfs_repo_stream_ref_get(struct cfs_repo *repo, const char *ref, char *name, size_t len)
{
	char rel[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;

	if (!cfs_repo_ref_name_valid(ref))
		return cfs_repo_fail(repo, -EINVAL, "invalid ref name \"%s\"", ref);
	snprintf(rel, sizeof(rel), "streams/refs/%s", ref);
	n = readlinkat(repo->dirfd, rel, target, sizeof(target) - 1);
	if (n < 0)
		return cfs_repo_fail(repo, errno == EINVAL ? -EUCLEAN : -errno, "%s: %s", rel, strerror(errno));
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base != NULL ? base + 1 : target;
	if (!cfs_repo_stream_name_valid(base))
		return cfs_repo_fail(repo, -EUCLEAN, "%s: does not name a stream", rel);
	if (strlen(base) >= len)
		return -ERANGE;
	memcpy(name, base, strlen(base) + 1);
	return 0;
}

int cfs_repo_stream_ref_remove(struct cfs_repo *repo, const char *ref)
{
	int r = cfs_repo_require_writable(repo, false);

	if (r < 0)
		return r;
	if (!cfs_repo_ref_name_valid(ref))
		return cfs_repo_fail(repo, -EINVAL, "invalid ref name \"%s\"", ref);
	return cfs_repo_remove_ref_link(repo, "streams/refs", ref);
}
