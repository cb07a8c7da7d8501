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
	char (*dirs)[3];
	size_t n_dirs;
	size_t dirs_done; /* progress */
	int err;
};

#define MAX_THREADS 8

/*
 * Does an error reading a link or opening an object mean the thing is broken for good (missing,
 * malformed, not what it should be), so whatever names it is dead? Any other error (EIO,
 * EMFILE, ENOMEM, EACCES, ...) is no verdict: gc then stops before it deletes anything, since a
 * passing failure must never make a live image look dead.
 */
static bool broken(int r)
{
	return r == -ENOENT || r == -EUCLEAN || r == -EINVAL || r == -ELOOP || r == -ENOTDIR ||
	       r == -ENAMETOOLONG || r == -EXDEV;
}

/* Is images/<hex> of @digest a well-formed link to an existing object? 0 if so, else its error. */
static int image_usable(struct cfs_repo *repo, const uint8_t *digest)
{
	char hex[2 * CFS_VERITY_MAX_DIGEST + 1];
	uint8_t d[CFS_VERITY_MAX_DIGEST];
	int fd, r;

	cfs_repo_digest_hex(repo, digest, hex);
	r = cfs_repo_read_image_link(repo, hex, d);
	if (r < 0)
		return r;
	fd = cfs_repo_open_object(repo, digest);
	if (fd < 0)
		return fd;
	close(fd);
	return 0;
}

/* An entry of a repository directory, as for_each_entry() hands it over. */
struct entry {
	int dfd;           /* the directory, open */
	const char *dir;   /* its path in the repository */
	const char *name;
	unsigned char type; /* DT_*, never DT_UNKNOWN */
};

/* Returns 0 to go on, or -errno to stop the walk with that error. */
typedef int (*entry_fn)(struct gc *g, const struct entry *e, void *user);

#define WALK_MISSING_OK (1u << 0) /* a missing directory: return 1, no message */
#define WALK_QUIET (1u << 1)      /* best effort: no message when it cannot be read */

static int walk_fail(struct gc *g, unsigned flags, int err, const char *dir, const char *name)
{
	if (flags & WALK_QUIET)
		return err;
	/* the object sweep walks on several threads; the message is shared */
	pthread_mutex_lock(&g->lock);
	if (name != NULL)
		cfs_repo_fail(g->repo, err, "%s/%s: %s", dir, name, strerror(-err));
	else
		cfs_repo_fail(g->repo, err, "%s: %s", dir, strerror(-err));
	pthread_mutex_unlock(&g->lock);
	return err;
}

/*
 * Call @fn for every entry of the repository directory @dir but "." and "..",
 * until it fails. @dir is opened beneath the repository without following any
 * symbolic link; an entry whose type readdir does not give is asked with
 * fstatat(), so no callback ever mistakes a link or a directory for something
 * else. A failure to read the directory is an error like any other: a walk
 * that missed an entry must not look complete. Returns 0, 1 when @dir does not
 * exist and @flags has WALK_MISSING_OK, or -errno (with the repository's
 * message unless WALK_QUIET or it came from @fn).
 */
static int for_each_entry(struct gc *g, const char *dir, unsigned flags, entry_fn fn, void *user)
{
	int fd = cfs_repo_openat(g->repo, dir, O_RDONLY | O_DIRECTORY);
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (fd < 0)
		return fd == -ENOENT && (flags & WALK_MISSING_OK) ? 1 : walk_fail(g, flags, fd, dir, NULL);
	d = fdopendir(fd);
	if (d == NULL) {
		r = -errno;
		close(fd);
		return walk_fail(g, flags, r, dir, NULL);
	}
	while (r == 0) {
		struct entry e = { .dfd = fd, .dir = dir };
		struct stat st;

		errno = 0;
		de = readdir(d);
		if (de == NULL) {
			if (errno == EINTR)
				continue;
			if (errno != 0)
				r = walk_fail(g, flags, -errno, dir, NULL);
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		e.name = de->d_name;
		e.type = de->d_type;
		if (e.type == DT_UNKNOWN) {
			if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
				if (errno == ENOENT)
					continue; /* gone meanwhile */
				r = walk_fail(g, flags, -errno, dir, de->d_name);
				break;
			}
			e.type = IFTODT(st.st_mode);
		}
		r = fn(g, &e, user);
	}
	closedir(d);
	return r;
}

/* "@dir/@name" into @buf, or -ENAMETOOLONG with a message: never a shortened path. */
static int entry_path(struct gc *g, const struct entry *e, char *buf, size_t len)
{
	if ((size_t)snprintf(buf, len, "%s/%s", e->dir, e->name) < len)
		return 0;
	return cfs_repo_fail(g->repo, -ENAMETOOLONG, "%s/%s: path too long", e->dir, e->name);
}

/* images/refs/ and streams/refs/: each link a root or a dead ref; temporaries go last. */
struct ref_scan {
	int depth;
	const char *hint; /* how to remove a ref nested too deep */
	int (*link)(struct gc *g, const struct entry *e, const char *path);
};

static int ref_entry(struct gc *g, const struct entry *e, void *user)
{
	const struct ref_scan *s = user;
	char path[PATH_MAX];
	int r = entry_path(g, e, path, sizeof(path));

	if (r < 0)
		return r;
	/* an empty directory this deep is pruned; anything in it is refused */
	if (s->depth >= CFS_REPO_REF_MAX_COMPONENTS)
		return cfs_repo_fail(g->repo, -ELOOP, "%s: ref nested deeper than %d components%s", path,
				     CFS_REPO_REF_MAX_COMPONENTS, s->hint);
	if (cfs_repo_is_temp_name(e->name))
		return path_list_add(&g->temps, path);
	if (e->type == DT_DIR) {
		struct ref_scan sub = *s;

		sub.depth++;
		return for_each_entry(g, path, 0, ref_entry, &sub);
	}
	if (e->type == DT_LNK)
		return s->link(g, e, path);
	return 0; /* anything else is not ours to judge here; fsck reports it */
}

/* A ref that cannot be read or leads nowhere for good is dead; any other error stops gc. */
static int dead_or_fail(struct gc *g, int r, const char *path)
{
	if (broken(r))
		return path_list_add(&g->dead_refs, path);
	return cfs_repo_fail(g->repo, r, "%s: %s; nothing deleted", path, strerror(-r));
}

static int image_ref(struct gc *g, const struct entry *e, const char *path)
{
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	int r = cfs_repo_read_ref(g->repo, e->dfd, e->name, digest);

	if (r == 0)
		r = image_usable(g->repo, digest);
	return r == 0 ? cfs_digest_set_add(&g->roots, digest) : dead_or_fail(g, r, path);
}

/* streams/refs/... -> streams/NAME -> object; unreadable links are dead refs. */
static int stream_ref(struct gc *g, const struct entry *e, const char *path)
{
	char target[PATH_MAX], link[PATH_MAX + 16];
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	const char *base;
	ssize_t n;
	int r;

	/* as composefs-rs reads it: the link's last component names the stream */
	n = readlinkat(e->dfd, e->name, target, sizeof(target) - 1);
	if (n < 0)
		return dead_or_fail(g, -errno, path);
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base != NULL ? base + 1 : target;
	snprintf(link, sizeof(link), "streams/%s", base);
	if (!cfs_repo_stream_name_valid(base))
		return path_list_add(&g->dead_refs, path);
	r = cfs_repo_stream_read_link(g->repo, g->repo->dirfd, link, digest);
	return r == 0 ? cfs_digest_set_add(&g->stream_roots, digest) : dead_or_fail(g, r, path);
}

static int scan_refs(struct gc *g, const char *top, const struct ref_scan *s)
{
	int r = for_each_entry(g, top, WALK_MISSING_OK, ref_entry, (void *)s);

	return r < 0 ? r : 0;
}

/* The digests streams/ links to (the streams a named reference may lead to). */
static int stream_link(struct gc *g, const struct entry *e, void *user)
{
	uint8_t digest[CFS_VERITY_MAX_DIGEST];

	(void)user;
	if (e->type == DT_LNK && cfs_repo_stream_read_link(g->repo, e->dfd, e->name, digest) == 0)
		return cfs_digest_set_add(&g->streams, digest);
	return 0;
}

static int scan_streams(struct gc *g)
{
	int r = for_each_entry(g, "streams", WALK_MISSING_OK, stream_link, NULL);

	cfs_digest_set_finish(&g->streams);
	return r < 0 ? r : 0;
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
		else if (r == 0) {
			/* an image a stream names (composefs.image) */
			int u = image_usable(repo, d);

			if (u == 0)
				r = cfs_digest_set_add(&g->roots, d);
			else if (!broken(u))
				r = cfs_repo_fail(repo, u, "image %s named by a split stream: %s; nothing deleted",
						  cfs_repo_digest_hex(repo, d, hex), strerror(-u));
		}
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
static void remove_temp_at(struct gc *g, int dirfd, const char *name)
{
	if (!cfs_objstore_temp_in_use(dirfd, name))
		remove_path(g, dirfd, name, &g->st->temp_removed, true);
}

static void remove_temp(struct gc *g, const struct entry *e)
{
	remove_temp_at(g, e->dfd, e->name);
}

/* After a walk of @dir (@r: its result; 1, missing): sync it if gc changed it, outside a dry run. */
static int sync_if(struct gc *g, int r, bool changed, const char *dir)
{
	if (r < 0)
		return r;
	return r == 0 && changed && !g->dry ? cfs_repo_sync_dir(g->repo, dir) : 0;
}

/* streams/: links to objects that are about to go are removed first (composefs-rs
 * removes them after the objects, as broken links; either way they go). */
static int prune_stream_link(struct gc *g, const struct entry *e, void *user)
{
	char target[PATH_MAX];
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	ssize_t n;

	if (e->type != DT_LNK)
		return 0;
	n = readlinkat(e->dfd, e->name, target, sizeof(target) - 1);
	if (n < 0)
		return 0;
	target[n] = '\0';
	if (cfs_repo_parse_object_path(g->repo, strncmp(target, "../", 3) == 0 ? target + 3 : target, digest) == 0 &&
	    cfs_digest_set_has(&g->live, digest))
		return 0;
	remove_path(g, e->dfd, e->name, &g->st->refs_removed, false);
	*(bool *)user = true;
	return 0;
}

static int prune_streams(struct gc *g)
{
	bool changed = false;
	int r = for_each_entry(g, "streams", WALK_MISSING_OK, prune_stream_link, &changed);

	return sync_if(g, r, changed, "streams");
}

/* images/: drop links of images no ref reaches (and broken ones), then sync. */
static int prune_image_link(struct gc *g, const struct entry *e, void *user)
{
	struct cfs_repo *repo = g->repo;
	uint8_t digest[CFS_VERITY_MAX_DIGEST];

	(void)user;
	if (strcmp(e->name, "refs") == 0)
		return 0;
	if (cfs_repo_is_temp_name(e->name)) {
		remove_temp(g, e);
		return 0;
	}
	if (e->type != DT_LNK || strlen(e->name) != 2 * repo->dsize ||
	    cfs_hex_decode(e->name, 2 * repo->dsize, digest, repo->dsize) < 0)
		return 0; /* not a link we made: left for fsck to report */
	if (cfs_digest_set_has(&g->roots, digest))
		g->st->images_kept++;
	else
		remove_path(g, e->dfd, e->name, &g->st->images_removed, false);
	return 0;
}

static int prune_images(struct gc *g)
{
	int r;

	for (size_t i = 0; i < g->dead_refs.n; i++)
		remove_path(g, g->repo->dirfd, g->dead_refs.v[i], &g->st->refs_removed, false);
	r = for_each_entry(g, "images", WALK_MISSING_OK, prune_image_link, NULL);
	/* the links must be gone for good before their objects go */
	return sync_if(g, r, true, "images");
}

/*
 * signatures/<hex>/ of an image that is no longer in images/: every file in
 * it (signatures, index, temporaries), then the directory. Runs after the
 * image links are gone for good, so an interruption leaves signatures of an
 * absent image: garbage the next run removes (and fsck reports).
 */
static int remove_sig(struct gc *g, const struct entry *e, void *user)
{
	(void)user;
	if (cfs_repo_is_temp_name(e->name))
		remove_temp(g, e);
	else if (strcmp(e->name, "index") == 0)
		remove_path(g, e->dfd, e->name, &g->st->refs_removed, false);
	else
		remove_path(g, e->dfd, e->name, &g->st->signatures_removed, false);
	return 0;
}

static int prune_sig_dir(struct gc *g, const struct entry *e, void *user)
{
	struct cfs_repo *repo = g->repo;
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	char path[PATH_MAX];

	if (cfs_repo_is_temp_name(e->name)) {
		remove_temp(g, e);
		return 0;
	}
	if (strlen(e->name) != 2 * repo->dsize || strspn(e->name, "0123456789abcdef") != 2 * repo->dsize ||
	    cfs_hex_decode(e->name, 2 * repo->dsize, digest, repo->dsize) < 0)
		return 0; /* not ours: fsck reports it */
	if (cfs_digest_set_has(&g->roots, digest))
		return 0;
	if (entry_path(g, e, path, sizeof(path)) < 0)
		return -ENAMETOOLONG;
	/* best effort: what cannot be removed now is for the next run (and fsck) */
	(void)for_each_entry(g, path, WALK_QUIET, remove_sig, NULL);
	if (!g->dry)
		unlinkat(e->dfd, e->name, AT_REMOVEDIR); /* fails, harmlessly, if something unknown is left */
	*(bool *)user = true;
	return 0;
}

static int prune_signatures(struct gc *g)
{
	bool changed = false;
	int r = for_each_entry(g, "signatures", WALK_MISSING_OK, prune_sig_dir, &changed);

	return sync_if(g, r, changed, "signatures");
}

/*
 * An entry of objects/XX/ or trees/XX/: a temporary is removed, a name of
 * another form is not ours (fsck reports it); true, with the digest the name
 * spells, for the others.
 */
static bool entry_digest(struct gc *g, const struct entry *e, uint8_t *digest)
{
	char path[2 * CFS_VERITY_MAX_DIGEST + 2];
	const char *sub = strrchr(e->dir, '/');

	if (cfs_repo_is_temp_name(e->name)) {
		remove_temp(g, e);
		return false;
	}
	sub = sub != NULL ? sub + 1 : e->dir;
	return (size_t)snprintf(path, sizeof(path), "%s/%s", sub, e->name) < sizeof(path) &&
	       cfs_objstore_parse_path(path, g->repo->dsize, digest) == 0;
}

static int sweep_object(struct gc *g, const struct entry *e, void *user)
{
	uint8_t digest[CFS_VERITY_MAX_DIGEST];

	(void)user;
	if (!entry_digest(g, e, digest))
		return 0;
	if (cfs_digest_set_has(&g->live, digest)) {
		pthread_mutex_lock(&g->lock);
		g->st->objects_kept++;
		pthread_mutex_unlock(&g->lock);
	} else {
		remove_path(g, e->dfd, e->name, &g->st->objects_removed, true);
	}
	return 0;
}

static bool is_hex2(const char *s)
{
	return strlen(s) == 2 && strchr("0123456789abcdef", s[0]) && strchr("0123456789abcdef", s[1]);
}

static void sweep_dir(void *user, size_t i)
{
	struct gc *g = user;
	char path[16];
	int r;

	pthread_mutex_lock(&g->lock);
	if (g->err != 0) {
		pthread_mutex_unlock(&g->lock);
		return;
	}
	cfs_repo_progress(g->repo, "collecting garbage", g->dirs_done++, g->n_dirs);
	pthread_mutex_unlock(&g->lock);
	snprintf(path, sizeof(path), "objects/%s", g->dirs[i]);
	r = for_each_entry(g, path, 0, sweep_object, NULL);
	if (r < 0) {
		pthread_mutex_lock(&g->lock);
		if (g->err == 0)
			g->err = r;
		pthread_mutex_unlock(&g->lock);
	}
}

/* objects/: temporaries go, each XX/ directory is noted for the sweep. */
static int note_object_dir(struct gc *g, const struct entry *e, void *user)
{
	(void)user;
	if (cfs_repo_is_temp_name(e->name))
		remove_temp(g, e);
	else if (is_hex2(e->name) && g->n_dirs < 256)
		memcpy(g->dirs[g->n_dirs++], e->name, 3);
	return 0;
}

static int sweep_objects(struct gc *g)
{
	int r;

	g->dirs = calloc(256, sizeof(*g->dirs));
	if (g->dirs == NULL)
		return -ENOMEM;
	r = for_each_entry(g, "objects", WALK_MISSING_OK, note_object_dir, NULL);
	/* unlinking waits on the disk more than on the CPU: two threads per CPU keep it busy */
	if (r == 0)
		cfs_parallel_for(cfs_thread_count(2 * cfs_usable_cpus(), MAX_THREADS), g->n_dirs, sweep_dir, g);
	free(g->dirs);
	g->dirs = NULL;
	return r < 0 ? r : g->err;
}

/* trees/XX/<rest>: a tree stays with its object (live and present), anything else of ours goes. */
static int sweep_tree(struct gc *g, const struct entry *e, void *user)
{
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	int ofd;

	(void)user;
	if (!entry_digest(g, e, digest))
		return 0;
	if (cfs_digest_set_has(&g->live, digest) && (ofd = cfs_repo_open_object(g->repo, digest)) >= 0) {
		close(ofd);
		return 0;
	}
	remove_path(g, e->dfd, e->name, &g->st->trees_removed, true);
	return 0;
}

static int sweep_tree_dir(struct gc *g, const struct entry *e, void *user)
{
	char path[PATH_MAX];

	(void)user;
	if (cfs_repo_is_temp_name(e->name))
		remove_temp(g, e);
	else if (is_hex2(e->name) && entry_path(g, e, path, sizeof(path)) == 0)
		(void)for_each_entry(g, path, WALK_QUIET, sweep_tree, NULL); /* best effort, as trees can be rebuilt */
	return 0;
}

static int sweep_trees(struct gc *g)
{
	int r = for_each_entry(g, "trees", WALK_MISSING_OK, sweep_tree_dir, NULL);

	return r < 0 ? r : 0;
}

static int root_temp(struct gc *g, const struct entry *e, void *user)
{
	(void)user;
	if (cfs_repo_is_temp_name(e->name))
		remove_temp(g, e);
	return 0;
}

static int sweep_root_temps(struct gc *g)
{
	int r = for_each_entry(g, ".", 0, root_temp, NULL);

	for (size_t i = 0; r == 0 && i < g->temps.n; i++)
		remove_temp_at(g, g->repo->dirfd, g->temps.v[i]);
	return r;
}

/* Remove the empty directories under images/refs (post-order); @user is cleared when one stays. */
struct ref_dir {
	int depth;
	bool empty;
};

static int prune_ref_dir(struct gc *g, const struct entry *e, void *user)
{
	struct ref_dir *p = user, sub = { p->depth + 1, true };
	char path[PATH_MAX];

	if (e->type != DT_DIR || p->depth >= CFS_REPO_REF_MAX_COMPONENTS || entry_path(g, e, path, sizeof(path)) < 0 ||
	    for_each_entry(g, path, WALK_QUIET, prune_ref_dir, &sub) != 0 || !sub.empty ||
	    unlinkat(e->dfd, e->name, AT_REMOVEDIR) < 0)
		p->empty = false;
	return 0;
}

static int prune_ref_dirs(struct gc *g, const char *top)
{
	struct ref_dir top_dir = { 0, true };
	int r = for_each_entry(g, top, WALK_MISSING_OK | WALK_QUIET, prune_ref_dir, &top_dir);

	return r == 1 ? 0 : cfs_repo_sync_dir(g->repo, top);
}

static int gc_locked(struct gc *g)
{
	static const struct ref_scan image_refs = { 0, "; remove it with 'composefs untag'", image_ref };
	static const struct ref_scan stream_refs = { 0, "", stream_ref };
	int r;

	r = scan_refs(g, "images/refs", &image_refs);
	if (r == 0)
		r = scan_refs(g, "streams/refs", &stream_refs);
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
	if (r == 0 && !g->dry)
		r = prune_ref_dirs(g, "images/refs");
	if (r == 0 && !g->dry)
		r = prune_ref_dirs(g, "streams/refs");
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
