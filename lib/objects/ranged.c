/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Objects fetched in ranges: verified 1 MiB chunks into an anonymous file, named once complete. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <composefs/objects.h>

#include "objects-private.h"

void cfs_objects_partial_free(struct cfs_objects *c, struct cfs_objects_partial *p)
{
	if (p == NULL)
		return;
	cfs_objects_tree_put(c, p->entry);
	cfs_atomic_file_abort(&p->af); /* unpublished: the anonymous file goes with it */
	if (p->rfd >= 0)
		close(p->rfd);
	if (p->whole_fd >= 0)
		close(p->whole_fd);
	free(p->chunks);
	free(p);
}

/* Locked. The partial object of @digest, if one is known. */
struct cfs_objects_partial *cfs_objects_partial_find(struct cfs_objects *c, const uint8_t *digest)
{
	struct cfs_objects_partial *p;

	for (p = c->partials; p != NULL; p = p->next)
		if (memcmp(p->digest, digest, c->dsize) == 0)
			return p;
	return NULL;
}

/*
 * Ask for @path's tree and set up its partial object: an empty sparse file of the object's
 * size in the first basedir's XX/ directory, not yet named. 0 or -errno (then fetch it whole).
 */
int cfs_objects_partial_new(struct cfs_objects *c, const char *path, const uint8_t *digest,
			    uint64_t size, struct cfs_objects_partial **out)
{
	struct cfs_verity_tree *t = NULL;
	struct cfs_objects_partial *p;
	const char *slash = strchr(path, '/');
	char proc[64], dir[16];
	int r;

	r = c->fetch_tree(c->fetch_user, path, digest, size, &t);
	if (r < 0)
		return r;
	if (cfs_verity_tree_file_size(t) == 0 || cfs_verity_tree_alg(t) != c->alg) {
		cfs_verity_tree_free(t);
		return -EINVAL;
	}
	p = calloc(1, sizeof(*p) + strlen(path) + 1);
	if (p == NULL) {
		cfs_verity_tree_free(t);
		return -ENOMEM;
	}
	p->af.fd = p->af.dirfd = -1;
	p->rfd = p->whole_fd = -1;
	strcpy(p->path, path);
	memcpy(p->digest, digest, c->dsize);
	p->size = cfs_verity_tree_file_size(t);
	r = cfs_objects_tree_adopt(c, c->alg, digest, t, &p->entry);
	if (r < 0)
		goto fail;
	p->n_chunks = (size_t)((p->size + RANGE_CHUNK - 1) / RANGE_CHUNK);
	p->chunks = calloc(p->n_chunks, 1);
	r = -ENOMEM;
	if (p->chunks == NULL)
		goto fail;
	/* the object's directory may not exist yet in this basedir */
	if (slash != NULL && (size_t)(slash - path) < sizeof(dir)) {
		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
		if (mkdirat(c->basedirs[0], dir, 0755) < 0 && errno != EEXIST) {
			r = -errno;
			goto fail;
		}
	}
	r = cfs_atomic_file_open(c->basedirs[0], path, 0644, &p->af);
	if (r < 0)
		goto fail;
	/* the umask may have narrowed the mode; objects are world-readable */
	if (fchmod(p->af.fd, 0644) < 0 || ftruncate(p->af.fd, (off_t)p->size) < 0) {
		r = -errno;
		goto fail;
	}
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", p->af.fd);
	p->rfd = open(proc, O_RDONLY | O_CLOEXEC);
	if (p->rfd < 0) {
		r = -errno;
		goto fail;
	}
	*out = p;
	return 0;
fail:
	cfs_objects_partial_free(c, p);
	return r;
}

/* Fetch chunk @i, check it against the tree, write it into the file. 0 or -errno. */
static int chunk_fetch(struct cfs_objects *c, struct cfs_objects_partial *p, size_t i)
{
	uint64_t off = (uint64_t)i * RANGE_CHUNK;
	size_t len = p->size - off < RANGE_CHUNK ? (size_t)(p->size - off) : RANGE_CHUNK;
	_cleanup_free_ uint8_t *buf = malloc(len);
	const struct cfs_verity_tree *t = p->entry->tree;
	int r;

	if (buf == NULL)
		return -ENOMEM;
	r = c->fetch_range(c->fetch_user, p->digest, t, buf, len, off);
	/* the hook says it checked; nothing unchecked reaches the file all the same */
	if (r == 0)
		r = cfs_verity_tree_check(t, off, buf, len);
	for (size_t done = 0; r == 0 && done < len;) {
		ssize_t n = pwrite(p->af.fd, buf + done, len - done, (off_t)(off + done));

		if (n < 0 && errno != EINTR)
			r = -errno;
		else if (n > 0)
			done += (size_t)n;
	}
	return r;
}

/*
 * Every chunk is in: check the whole digest, sync, and give the file its name (an object
 * already there under it wins: same name, same content).
 */
static void partial_publish(struct cfs_objects *c, struct cfs_objects_partial *p)
{
	uint8_t d[DIGEST_LEN];
	char dir[16];
	const char *slash = strchr(p->path, '/');
	int r;

	r = cfs_verity_digest_fd(p->rfd, c->alg, d);
	if (r == 0 && memcmp(d, p->digest, c->dsize) != 0)
		r = -CFS_EDIGEST;
	if (r == 0) {
		r = cfs_atomic_file_commit(&p->af, false, true);
		if (r == -EEXIST)
			r = 0;
	}
	if (r == 0 && slash != NULL && (size_t)(slash - p->path) < sizeof(dir)) {
		_cleanup_close_ int dfd = -1;

		memcpy(dir, p->path, (size_t)(slash - p->path));
		dir[slash - p->path] = '\0';
		dfd = openat(c->basedirs[0], dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd >= 0)
			fsync(dfd);
	}
	if (r < 0) {
		cfs_objects_report(c, p->path, "fetched in ranges, but cannot be stored", r);
		return;
	}
	pthread_mutex_lock(&c->lock);
	p->published = true;
	pthread_mutex_unlock(&c->lock);
}

/* The server cannot send ranges: get the object whole (once), then read that. 0 or -errno. */
static int partial_fetch_whole(struct cfs_objects *c, struct cfs_objects_partial *p)
{
	int r = c->fetch(c->fetch_user, p->path, p->digest);

	if (r == 0)
		r = cfs_objects_find(c, p->path);
	if (r >= 0) {
		struct stat st;

		if (fstat(r, &st) < 0 || (uint64_t)st.st_size != p->size) {
			close(r);
			return -EIO;
		}
	}
	return r;
}

/*
 * Make bytes [@start, @end) of @p readable: fetch the chunks nobody has yet, wait for those
 * being fetched. Returns the descriptor to read them from (owned by @p) or -errno.
 */
int cfs_objects_partial_ensure(struct cfs_objects *c, struct cfs_objects_partial *p, uint64_t start,
			       uint64_t end)
{
	size_t i = (size_t)(start / RANGE_CHUNK), last = (size_t)((end - 1) / RANGE_CHUNK);
	int r = 0, fd;

	pthread_mutex_lock(&c->lock);
	while (i <= last) {
		bool complete;

		if (p->whole_fd >= 0)
			break;
		if (p->chunks[i] == CHUNK_PRESENT) {
			i++;
			continue;
		}
		if (p->chunks[i] == CHUNK_FETCHING || p->whole_busy) {
			pthread_cond_wait(&c->chunk, &c->lock);
			continue;
		}
		p->chunks[i] = CHUNK_FETCHING;
		pthread_mutex_unlock(&c->lock);
		r = chunk_fetch(c, p, i);
		pthread_mutex_lock(&c->lock);
		p->chunks[i] = r == 0 ? CHUNK_PRESENT : CHUNK_MISSING;
		complete = r == 0 && ++p->n_present == p->n_chunks;
		if (r == -EOPNOTSUPP && p->whole_fd < 0 && !p->whole_busy) {
			p->whole_busy = true;
			pthread_mutex_unlock(&c->lock);
			fd = partial_fetch_whole(c, p);
			pthread_mutex_lock(&c->lock);
			p->whole_busy = false;
			if (fd >= 0)
				p->whole_fd = fd;
			r = fd < 0 ? fd : 0;
		} else if (r == -EOPNOTSUPP) {
			r = 0; /* someone else fetches it whole: wait for that */
		}
		pthread_cond_broadcast(&c->chunk);
		if (complete) {
			pthread_mutex_unlock(&c->lock);
			partial_publish(c, p);
			pthread_mutex_lock(&c->lock);
		}
		if (r < 0)
			break;
	}
	fd = p->whole_fd >= 0 ? p->whole_fd : p->rfd;
	pthread_mutex_unlock(&c->lock);
	return r < 0 ? r : fd;
}

/* An open of @p ends: a published one is forgotten with its last open. */
void cfs_objects_partial_put(struct cfs_objects *c, struct cfs_objects_partial *p)
{
	struct cfs_objects_partial **pp;
	bool drop = false;

	pthread_mutex_lock(&c->lock);
	if (--p->refs == 0 && (p->published || p->whole_fd >= 0)) {
		for (pp = &c->partials; *pp != p; pp = &(*pp)->next)
			;
		*pp = p->next;
		drop = true;
	}
	pthread_mutex_unlock(&c->lock);
	if (drop)
		cfs_objects_partial_free(c, p);
}
