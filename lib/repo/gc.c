/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Garbage collection: keep what refs reach, delete the rest in an order that survives crashes. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include "objstore-private.h"
#include "repo-private.h"
#include "splitstream.h"
#include "util.h"
#include "workq.h"

/* Relative paths to delete once the live set is known. */
struct path_list {
	char **v;
	size_t n;
	size_t cap;
};

static int path_list_add(struct path_list *l, const char *p)
{
	if (l->n == l->cap) {
		size_t cap = l->cap ? l->cap * 2 : 16;
		char **v = realloc(l->v, cap * sizeof(*v));

		if (v == NULL)
			return -ENOMEM;
		l->v = v;
		l->cap = cap;
	}
	l->v[l->n] = strdup(p);
	if (l->v[l->n] == NULL)
		return -ENOMEM;
	l->n++;
	return 0;
}

static void path_list_free(struct path_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
}

struct gc {
	struct cfs_repo *repo;
	bool dry;
	struct cfs_repo_gc_stats *st;
	struct cfs_digest_set roots;  /* images some ref names */
	struct cfs_digest_set live;   /* roots and their objects */
	struct cfs_digest_set stream_roots; /* split streams some stream ref names */
	struct cfs_digest_set streams;      /* every digest streams/ links to */
	struct cfs_digest_set walked;       /* split streams walked */
	struct path_list dead_refs;
	struct path_list temps;       /* leftover temporary files (not objects/XX/) */
	/* the object sweep runs on several threads (unlinking is I/O bound):
	 * the lock guards st, the progress callback and the fields below */
	pthread_mutex_t lock;
	int objfd;
	char (*dirs)[3];
	size_t n_dirs;
	size_t dirs_done; /* progress */
	int err;
};

#define MAX_THREADS 8

/* Is images/<hex> of @digest a well-formed link to an existing object? */
static bool image_usable(struct cfs_repo *repo, const uint8_t *digest)
{
	char hex[2 * CFS_VERITY_MAX_DIGEST + 1];
	uint8_t d[CFS_VERITY_MAX_DIGEST];

	int fd;

	cfs_repo_digest_hex(repo, digest, hex);
	if (cfs_repo_read_image_link(repo, hex, d) < 0)
		return false;
	fd = cfs_repo_open_object(repo, digest);
	if (fd < 0)
		return false;
	close(fd);
	return true;
}

static int scan_refs(struct gc *g, int dirfd, const char *rel, int depth)
{
	DIR *d;
	struct dirent *de;
	int r = 0;

	d = fdopendir(dirfd);
	if (d == NULL) {
		close(dirfd);
		return -ENOMEM;
	}
	while (r == 0 && (de = readdir(d)) != NULL) {
		char path[PATH_MAX];
		uint8_t digest[CFS_VERITY_MAX_DIGEST];

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", rel, de->d_name);
		/* an empty directory this deep is pruned; anything in it is refused */
		if (depth >= CFS_REPO_REF_MAX_COMPONENTS) {
			r = cfs_repo_fail(g->repo, -ELOOP,
					  "%s: ref nested deeper than %d components; remove it with 'composefs untag'",
					  path, CFS_REPO_REF_MAX_COMPONENTS);
			break;
		}
		if (cfs_repo_is_temp_name(de->d_name)) {
			r = path_list_add(&g->temps, path);
		} else if (de->d_type == DT_DIR) {
			int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

			r = sub < 0 ? cfs_repo_fail(g->repo, -errno, "%s: %s", path, strerror(errno))
				    : scan_refs(g, sub, path, depth + 1);
		} else if (de->d_type == DT_LNK) {
			if (cfs_repo_read_ref(g->repo, dirfd, de->d_name, digest) == 0 &&
			    image_usable(g->repo, digest))
				r = cfs_digest_set_add(&g->roots, digest);
			else
				r = path_list_add(&g->dead_refs, path);
		}
		/* anything else is not ours to judge here; fsck reports it */
	}
	closedir(d);
	return r;
}

/* Stream refs: streams/refs/... -> streams/NAME -> object; unreadable links are dead refs. */
static int scan_stream_refs(struct gc *g, int dirfd, const char *rel, int depth)
{
	DIR *d = fdopendir(dirfd);
	struct dirent *de;
	int r = 0;

	if (d == NULL) {
		close(dirfd);
		return -ENOMEM;
	}
	while (r == 0 && (de = readdir(d)) != NULL) {
		char path[PATH_MAX], target[PATH_MAX], link[PATH_MAX + 16];
		uint8_t digest[CFS_VERITY_MAX_DIGEST];
		const char *base;
		ssize_t n;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", rel, de->d_name);
		if (depth >= CFS_REPO_REF_MAX_COMPONENTS) {
			r = cfs_repo_fail(g->repo, -ELOOP, "%s: ref nested deeper than %d components", path,
					  CFS_REPO_REF_MAX_COMPONENTS);
			break;
		}
		if (cfs_repo_is_temp_name(de->d_name)) {
			r = path_list_add(&g->temps, path);
		} else if (de->d_type == DT_DIR) {
			int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

			r = sub < 0 ? cfs_repo_fail(g->repo, -errno, "%s: %s", path, strerror(errno))
				    : scan_stream_refs(g, sub, path, depth + 1);
		} else if (de->d_type == DT_LNK) {
			/* as composefs-rs reads it: the link's last component names the stream */
			n = readlinkat(dirfd, de->d_name, target, sizeof(target) - 1);
			if (n < 0)
				continue;
			target[n] = '\0';
			base = strrchr(target, '/');
			base = base != NULL ? base + 1 : target;
			snprintf(link, sizeof(link), "streams/%s", base);
			if (cfs_repo_stream_name_valid(base) &&
			    cfs_repo_stream_read_link(g->repo, g->repo->dirfd, link, digest) == 0)
				r = cfs_digest_set_add(&g->stream_roots, digest);
			else
				r = path_list_add(&g->dead_refs, path);
		}
	}
	closedir(d);
	return r;
}

/* The digests streams/ links to (the streams a named reference may lead to). */
static int scan_streams(struct gc *g)
{
	struct dirent *de;
	DIR *d;
	int r = cfs_repo_opendir(g->repo, "streams", &d);

	if (r < 0 || d == NULL)
		return r;
	while (r == 0 && (de = readdir(d)) != NULL) {
		uint8_t digest[CFS_VERITY_MAX_DIGEST];

		if (de->d_type == DT_LNK && cfs_repo_stream_read_link(g->repo, dirfd(d), de->d_name, digest) == 0)
			r = cfs_digest_set_add(&g->streams, digest);
	}
	closedir(d);
	cfs_digest_set_finish(&g->streams);
	return r;
}

/* Walk the split stream @digest: it, its objects and what its named references name live. */
static int walk_stream(struct gc *g, const uint8_t *digest, int depth)
{
	struct cfs_repo *repo = g->repo;
	struct cfs_splitstream *s = NULL;
	char hex[2 * CFS_VERITY_MAX_DIGEST + 1], err[256] = "";
	_cleanup_close_ int fd = -1;
	int r;

	if (cfs_digest_set_has(&g->walked, digest))
		return 0;
	if (depth > 64)
		return cfs_repo_fail(repo, -ELOOP, "split streams name each other deeper than 64 levels");
	r = cfs_digest_set_add(&g->walked, digest);
	if (r == 0)
		r = cfs_digest_set_add(&g->live, digest);
	if (r < 0)
		return r;
	cfs_digest_set_finish(&g->walked);
	fd = cfs_repo_open_object(repo, digest);
	r = fd < 0 ? fd : cfs_splitstream_open_fd(fd, repo->alg, 0, &s, err, sizeof(err));
	if (r < 0)
		return cfs_repo_fail(repo, r, "split stream %s cannot be read (%s); nothing deleted",
				     cfs_repo_digest_hex(repo, digest, hex), err[0] ? err : strerror(-r));
	for (size_t i = 0; r == 0 && i < cfs_splitstream_n_objects(s); i++)
		r = cfs_digest_set_add(&g->live, cfs_splitstream_object(s, i));
	for (size_t i = 0; r == 0 && i < cfs_splitstream_n_stream_refs(s); i++) {
		const uint8_t *d = cfs_splitstream_stream_ref(s, i);

		r = cfs_digest_set_add(&g->live, d);
		if (r == 0 && cfs_digest_set_has(&g->streams, d))
			r = walk_stream(g, d, depth + 1);
		else if (r == 0 && image_usable(repo, d))
			r = cfs_digest_set_add(&g->roots, d); /* an image a stream names (composefs.image) */
	}
	cfs_splitstream_free(s);
	return r;
}

static int mark_streams(struct gc *g)
{
	int r = scan_streams(g);

	cfs_digest_set_finish(&g->stream_roots);
	for (size_t i = 0; r == 0 && i < g->stream_roots.n; i++)
		r = walk_stream(g, g->stream_roots.v + i * g->stream_roots.dsize, 0);
	return r;
}

static int mark_live(struct gc *g)
{
	struct cfs_repo *repo = g->repo;
	int r = 0;

	cfs_digest_set_finish(&g->roots);
	for (size_t i = 0; i < g->roots.n && r == 0; i++) {
		const uint8_t *digest = g->roots.v + i * g->roots.dsize;
		char err[256], hex[2 * CFS_VERITY_MAX_DIGEST + 1];
		_cleanup_close_ int fd = -1;

		cfs_repo_progress(repo, "marking live objects", i, g->roots.n);
		r = cfs_digest_set_add(&g->live, digest);
		if (r == 0)
			r = cfs_repo_open_image(repo, digest, false, &fd);
		if (r == 0) {
			r = cfs_repo_collect_image_objects(repo, fd, &g->live, err, sizeof(err));
			if (r < 0)
				r = cfs_repo_fail(repo, r, "image %s cannot be read (%s); nothing deleted",
						  cfs_repo_digest_hex(repo, digest, hex), err);
		}
	}
	cfs_digest_set_finish(&g->live);
	return r;
}

/*
 * Unlink @name (never a directory: one named like an object or a temporary is
 * not ours, fsck reports it) and count it, with its bytes, only once it is gone.
 */
static void remove_path(struct gc *g, int dirfd, const char *name, uint64_t *counter, bool count_bytes)
{
	struct stat st;
	uint64_t bytes = 0;
	bool gone;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return;
	if (S_ISDIR(st.st_mode))
		return;
	if (count_bytes)
		bytes = (uint64_t)st.st_size;
	gone = g->dry || unlinkat(dirfd, name, 0) == 0;
	if (!gone)
		return;
	pthread_mutex_lock(&g->lock);
	g->st->bytes_removed += bytes;
	(*counter)++;
	pthread_mutex_unlock(&g->lock);
}

/* A temporary file goes unless a writer that is still running owns it (a lazy mount or a
 * pull writing into the store without the repository's lock). */
static void remove_temp(struct gc *g, int dirfd, const char *name)
{
	if (!cfs_objstore_temp_in_use(dirfd, name))
		remove_path(g, dirfd, name, &g->st->temp_removed, true);
}

/* streams/: links to objects that are about to go are removed first (composefs-rs
 * removes them after the objects, as broken links; either way they go). */
static int prune_streams(struct gc *g)
{
	struct cfs_repo *repo = g->repo;
	struct dirent *de;
	bool changed = false;
	DIR *d;
	int fd, r;

	r = cfs_repo_opendir(repo, "streams", &d);
	if (r < 0 || d == NULL)
		return r;
	fd = dirfd(d);
	while ((de = readdir(d)) != NULL) {
		char target[PATH_MAX];
		uint8_t digest[CFS_VERITY_MAX_DIGEST];
		ssize_t n;

		if (de->d_type != DT_LNK)
			continue;
		n = readlinkat(fd, de->d_name, target, sizeof(target) - 1);
		if (n < 0)
			continue;
		target[n] = '\0';
		if (cfs_repo_parse_object_path(repo, strncmp(target, "../", 3) == 0 ? target + 3 : target, digest) == 0 &&
		    cfs_digest_set_has(&g->live, digest))
			continue;
		remove_path(g, fd, de->d_name, &g->st->refs_removed, false);
		changed = true;
	}
	closedir(d);
	return changed && !g->dry ? cfs_repo_sync_dir(repo, "streams") : 0;
}

/* images/: drop links of images no ref reaches (and broken ones), then sync. */
static int prune_images(struct gc *g)
{
	struct cfs_repo *repo = g->repo;
	DIR *d;
	struct dirent *de;
	int fd, r;

	for (size_t i = 0; i < g->dead_refs.n; i++)
		remove_path(g, repo->dirfd, g->dead_refs.v[i], &g->st->refs_removed, false);
	r = cfs_repo_opendir(repo, "images", &d);
	if (r < 0 || d == NULL)
		return r;
	fd = dirfd(d);
	while ((de = readdir(d)) != NULL) {
		uint8_t digest[CFS_VERITY_MAX_DIGEST];

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 || strcmp(de->d_name, "refs") == 0)
			continue;
		if (cfs_repo_is_temp_name(de->d_name)) {
			remove_temp(g, fd, de->d_name);
			continue;
		}
		if (de->d_type != DT_LNK || strlen(de->d_name) != 2 * repo->dsize ||
		    cfs_hex_decode(de->d_name, 2 * repo->dsize, digest, repo->dsize) < 0)
			continue; /* not a link we made: left for fsck to report */
		if (cfs_digest_set_has(&g->roots, digest))
			g->st->images_kept++;
		else
			remove_path(g, fd, de->d_name, &g->st->images_removed, false);
	}
	closedir(d);
	if (g->dry)
		return 0;
	/* the links must be gone for good before their objects go */
	return cfs_repo_sync_dir(repo, "images");
}

/*
 * signatures/<hex>/ of an image that is no longer in images/: every file in
 * it (signatures, index, temporaries), then the directory. Runs after the
 * image links are gone for good, so an interruption leaves signatures of an
 * absent image: garbage the next run removes (and fsck reports).
 */
static void remove_sig_dir(struct gc *g, int sigfd, const char *name)
{
	int fd = openat(sigfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	struct dirent *de;
	DIR *d;

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (cfs_repo_is_temp_name(de->d_name))
			remove_temp(g, fd, de->d_name);
		else if (strcmp(de->d_name, "index") == 0)
			remove_path(g, fd, de->d_name, &g->st->refs_removed, false);
		else
			remove_path(g, fd, de->d_name, &g->st->signatures_removed, false);
	}
	closedir(d);
	if (!g->dry)
		unlinkat(sigfd, name, AT_REMOVEDIR); /* fails, harmlessly, if something unknown is left */
}

static int prune_signatures(struct gc *g)
{
	struct cfs_repo *repo = g->repo;
	struct dirent *de;
	bool changed = false;
	DIR *d;
	int r;

	r = cfs_repo_opendir(repo, "signatures", &d);
	if (r < 0 || d == NULL)
		return r;
	while ((de = readdir(d)) != NULL) {
		uint8_t digest[CFS_VERITY_MAX_DIGEST];

		if (cfs_repo_is_temp_name(de->d_name)) {
			remove_temp(g, dirfd(d), de->d_name);
			continue;
		}
		if (strlen(de->d_name) != 2 * repo->dsize ||
		    strspn(de->d_name, "0123456789abcdef") != 2 * repo->dsize ||
		    cfs_hex_decode(de->d_name, 2 * repo->dsize, digest, repo->dsize) < 0)
			continue; /* not ours: fsck reports it */
		if (cfs_digest_set_has(&g->roots, digest))
			continue;
		remove_sig_dir(g, dirfd(d), de->d_name);
		changed = true;
	}
	closedir(d);
	return changed && !g->dry ? cfs_repo_sync_dir(repo, "signatures") : 0;
}

static int sweep_object_dir(struct gc *g, int objfd, const char *sub)
{
	struct cfs_repo *repo = g->repo;
	int fd = openat(objfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	char path[2 * CFS_VERITY_MAX_DIGEST + 2];
	struct dirent *de;
	DIR *d;

	if (fd < 0) {
		int r = -errno;

		pthread_mutex_lock(&g->lock);
		cfs_repo_fail(repo, r, "objects/%s: %s", sub, strerror(-r));
		pthread_mutex_unlock(&g->lock);
		return r;
	}
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -ENOMEM;
	}
	while ((de = readdir(d)) != NULL) {
		uint8_t digest[CFS_VERITY_MAX_DIGEST];

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (cfs_repo_is_temp_name(de->d_name)) {
			remove_temp(g, fd, de->d_name);
			continue;
		}
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", sub, de->d_name) >= sizeof(path) ||
		    cfs_objstore_parse_path(path, repo->dsize, digest) < 0)
			continue; /* not an object name: fsck reports it */
		if (cfs_digest_set_has(&g->live, digest)) {
			pthread_mutex_lock(&g->lock);
			g->st->objects_kept++;
			pthread_mutex_unlock(&g->lock);
		} else
			remove_path(g, fd, de->d_name, &g->st->objects_removed, true);
	}
	closedir(d);
	return 0;
}

static bool is_hex2(const char *s)
{
	return strlen(s) == 2 && strchr("0123456789abcdef", s[0]) && strchr("0123456789abcdef", s[1]);
}

static void sweep_dir(void *user, size_t i)
{
	struct gc *g = user;
	int r;

	pthread_mutex_lock(&g->lock);
	if (g->err != 0) {
		pthread_mutex_unlock(&g->lock);
		return;
	}
	cfs_repo_progress(g->repo, "collecting garbage", g->dirs_done++, g->n_dirs);
	pthread_mutex_unlock(&g->lock);
	r = sweep_object_dir(g, g->objfd, g->dirs[i]);
	if (r < 0) {
		pthread_mutex_lock(&g->lock);
		if (g->err == 0)
			g->err = r;
		pthread_mutex_unlock(&g->lock);
	}
}

static int sweep_objects(struct gc *g)
{
	struct cfs_repo *repo = g->repo;
	struct dirent *de;
	DIR *d;

	g->objfd = cfs_repo_openat(repo, "objects", O_RDONLY | O_DIRECTORY);
	if (g->objfd < 0)
		return g->objfd == -ENOENT ? 0 : cfs_repo_fail(repo, g->objfd, "objects: %s", strerror(-g->objfd));
	d = fdopendir(g->objfd);
	g->dirs = calloc(256, sizeof(*g->dirs));
	if (d == NULL || g->dirs == NULL) {
		if (d != NULL)
			closedir(d);
		else
			close(g->objfd);
		free(g->dirs);
		return -ENOMEM;
	}
	while ((de = readdir(d)) != NULL) {
		if (cfs_repo_is_temp_name(de->d_name))
			remove_temp(g, g->objfd, de->d_name);
		else if (is_hex2(de->d_name) && g->n_dirs < 256)
			memcpy(g->dirs[g->n_dirs++], de->d_name, 3);
	}
	/* unlinking waits on the disk more than on the CPU: two threads per CPU keep it busy */
	cfs_parallel_for(cfs_thread_count(2 * cfs_usable_cpus(), MAX_THREADS), g->n_dirs, sweep_dir, g);
	closedir(d);
	free(g->dirs);
	g->dirs = NULL;
	return g->err;
}

/* trees/XX/<rest>: a tree stays with its object (live and present), anything else of ours goes. */
static void sweep_tree_dir(struct gc *g, int treesfd, const char *sub)
{
	struct cfs_repo *repo = g->repo;
	int fd = openat(treesfd, sub, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	char path[2 * CFS_VERITY_MAX_DIGEST + 2];
	struct dirent *de;
	DIR *d;

	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		uint8_t digest[CFS_VERITY_MAX_DIGEST];
		int ofd;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (cfs_repo_is_temp_name(de->d_name)) {
			remove_temp(g, fd, de->d_name);
			continue;
		}
		if ((size_t)snprintf(path, sizeof(path), "%s/%s", sub, de->d_name) >= sizeof(path) ||
		    cfs_objstore_parse_path(path, repo->dsize, digest) < 0)
			continue; /* not a tree name: fsck reports it */
		if (cfs_digest_set_has(&g->live, digest) && (ofd = cfs_repo_open_object(repo, digest)) >= 0) {
			close(ofd);
			continue;
		}
		remove_path(g, fd, de->d_name, &g->st->trees_removed, true);
	}
	closedir(d);
}

static int sweep_trees(struct gc *g)
{
	struct dirent *de;
	DIR *d;
	int r = cfs_repo_opendir(g->repo, "trees", &d);

	if (r < 0 || d == NULL)
		return r;
	while ((de = readdir(d)) != NULL) {
		if (cfs_repo_is_temp_name(de->d_name))
			remove_temp(g, dirfd(d), de->d_name);
		else if (is_hex2(de->d_name))
			sweep_tree_dir(g, dirfd(d), de->d_name);
	}
	closedir(d);
	return 0;
}

static int sweep_root_temps(struct gc *g)
{
	DIR *d;
	struct dirent *de;
	int fd = openat(g->repo->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -ENOMEM;
	}
	while ((de = readdir(d)) != NULL)
		if (cfs_repo_is_temp_name(de->d_name))
			remove_temp(g, fd, de->d_name);
	closedir(d);
	for (size_t i = 0; i < g->temps.n; i++)
		remove_temp(g, g->repo->dirfd, g->temps.v[i]);
	return 0;
}

/* Remove the empty directories under images/refs (post-order); true if @fd ends up empty. */
static bool prune_ref_dirs(struct gc *g, int fd, int depth)
{
	struct dirent *de;
	bool empty = true;
	DIR *d = fdopendir(fd);

	if (d == NULL) {
		close(fd);
		return false;
	}
	while ((de = readdir(d)) != NULL) {
		int sub;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (de->d_type != DT_DIR || depth >= CFS_REPO_REF_MAX_COMPONENTS) {
			empty = false;
			continue;
		}
		sub = openat(fd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
		if (sub < 0 || !prune_ref_dirs(g, sub, depth + 1) || unlinkat(fd, de->d_name, AT_REMOVEDIR) < 0)
			empty = false;
	}
	closedir(d);
	return empty;
}

static int gc_locked(struct gc *g)
{
	struct cfs_repo *repo = g->repo;
	int fd, r;

	fd = cfs_repo_openat(repo, "images/refs", O_RDONLY | O_DIRECTORY);
	if (fd >= 0)
		r = scan_refs(g, fd, "images/refs", 0);
	else
		r = fd == -ENOENT ? 0 : cfs_repo_fail(repo, fd, "images/refs: %s", strerror(-fd));
	if (r == 0) {
		fd = cfs_repo_openat(repo, "streams/refs", O_RDONLY | O_DIRECTORY);
		if (fd >= 0)
			r = scan_stream_refs(g, fd, "streams/refs", 0);
		else if (fd != -ENOENT)
			r = cfs_repo_fail(repo, fd, "streams/refs: %s", strerror(-fd));
	}
	/* streams first: they may name images, which then are roots too */
	if (r == 0)
		r = mark_streams(g);
	if (r == 0)
		r = mark_live(g);
	/* nothing is deleted before the live set is complete */
	if (r == 0)
		r = prune_images(g);
	if (r == 0)
		r = prune_signatures(g);
	if (r == 0)
		r = prune_streams(g);
	if (r == 0)
		r = sweep_objects(g);
	if (r == 0)
		r = sweep_trees(g);
	if (r == 0)
		r = sweep_root_temps(g);
	if (r == 0 && !g->dry) {
		fd = cfs_repo_openat(repo, "images/refs", O_RDONLY | O_DIRECTORY);
		if (fd >= 0) {
			prune_ref_dirs(g, fd, 0);
			r = cfs_repo_sync_dir(repo, "images/refs");
		}
		fd = cfs_repo_openat(repo, "streams/refs", O_RDONLY | O_DIRECTORY);
		if (r == 0 && fd >= 0) {
			prune_ref_dirs(g, fd, 0);
			r = cfs_repo_sync_dir(repo, "streams/refs");
		} else if (fd >= 0) {
			close(fd);
		}
	}
	return r;
}

int cfs_repo_gc(struct cfs_repo *repo, unsigned flags, struct cfs_repo_gc_stats *stats)
{
	struct cfs_repo_gc_stats local;
	struct gc g = { .repo = repo, .dry = flags & CFS_REPO_GC_DRY_RUN };
	int r;

	if (flags & ~CFS_REPO_GC_DRY_RUN)
		return cfs_repo_fail(repo, -EINVAL, "invalid flags");
	if (!g.dry && !repo->writable)
		return cfs_repo_fail(repo, -EROFS, "repository is read-only: %s", repo->ro_why);
	g.st = stats ? stats : &local;
	*g.st = (struct cfs_repo_gc_stats){ 0 };
	repo->errmsg[0] = '\0';
	if (!g.dry) {
		r = cfs_repo_relock(repo, LOCK_EX);
		if (r < 0)
			return r;
	}
	cfs_digest_set_init(&g.roots, repo->dsize);
	cfs_digest_set_init(&g.live, repo->dsize);
	cfs_digest_set_init(&g.stream_roots, repo->dsize);
	cfs_digest_set_init(&g.streams, repo->dsize);
	cfs_digest_set_init(&g.walked, repo->dsize);
	pthread_mutex_init(&g.lock, NULL);
	r = gc_locked(&g);
	pthread_mutex_destroy(&g.lock);
	cfs_digest_set_clear(&g.roots);
	cfs_digest_set_clear(&g.live);
	cfs_digest_set_clear(&g.stream_roots);
	cfs_digest_set_clear(&g.streams);
	cfs_digest_set_clear(&g.walked);
	path_list_free(&g.dead_refs);
	path_list_free(&g.temps);
	if (!g.dry) {
		int r2 = cfs_repo_relock(repo, LOCK_SH);

		if (r == 0)
			r = r2;
	}
	return r;
}
