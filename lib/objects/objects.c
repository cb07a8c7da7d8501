/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Verified object access: objects in basedirs and a byte-bounded LRU of their Merkle trees. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <composefs/objects.h>
#include <composefs/store.h>

#include "hashset.h"
#include "util.h"

#define BLOCK 4096u
#define DIGEST_LEN CFS_VERITY_MAX_DIGEST
/* Trees of smaller objects are cheap to rebuild; not worth a cache file. */
#define PERSIST_MIN_SIZE (64u * 1024u)
/* Read-ahead hints of verified sequential reads. */
#define PREFETCH_STEP (1024u * 1024u)
#define PREFETCH_AHEAD (4 * 1024 * 1024)
/* Upper bound of remembered "already reported" object names. */
#define MAX_LOGGED 65536u
/* Ranged fetch: the unit of download, verification and presence. */
#define RANGE_CHUNK (1024u * 1024u)

/* One Merkle tree, shared by every open file backed by the same object. */
struct cfs_tree_entry {
	uint8_t digest[DIGEST_LEN];
	struct cfs_verity_tree *tree; /* NULL while being built */
	size_t mem;
	unsigned refs;
	bool ready;
	struct cfs_tree_entry *prev, *next; /* LRU list, most recent first (ready only) */
};

struct cfs_objects {
	int *basedirs;
	size_t n_basedirs;
	int cache_dirfd;
	size_t mem_limit;
	enum cfs_hash_alg alg;
	size_t dsize;
	cfs_objects_report_fn report;
	void *report_user;
	cfs_objects_fetch_fn fetch;
	void *fetch_user;
	cfs_objects_tree_fn fetch_tree;
	cfs_objects_range_fn fetch_range;
	struct fetching *fetching; /* paths being fetched now (under lock) */
	pthread_cond_t fetched;    /* a fetch finished */
	struct partial *partials;  /* objects fetched in ranges (under lock) */
	pthread_cond_t chunk;      /* a chunk (or a whole-object fallback) finished */

	pthread_mutex_t lock; /* everything below */
	pthread_cond_t built; /* an entry left the "building" state */
	struct cfs_hashset trees;  /* struct cfs_tree_entry *, by digest */
	struct cfs_tree_entry lru; /* sentinel */
	struct cfs_hashset logged; /* char *: names already reported */
	struct cfs_objects_stats st;
};

/* A fetch in progress: later opens of the same path wait for it. */
struct fetching {
	struct fetching *next;
	const char *path;
};

enum { CHUNK_MISSING, CHUNK_FETCHING, CHUNK_PRESENT };

/*
 * An object fetched in ranges: verified chunks are written into an anonymous file of the
 * first basedir, linked under the object's name once all are there and the whole digest
 * matches. Chunk states, counters and flags are under the set's lock.
 */
struct partial {
	struct partial *next;
	uint8_t digest[DIGEST_LEN];
	struct cfs_tree_entry *entry; /* its tree, referenced */
	uint64_t size;
	struct cfs_atomic_file af;    /* chunks are written here */
	int rfd;                      /* and read here (the same file) */
	int whole_fd;                 /* -1, or the object fetched whole (server without ranges) */
	bool whole_busy;              /* that fetch is running */
	bool published;
	unsigned refs;                /* open objects */
	size_t n_chunks, n_present;
	uint8_t *chunks;              /* CHUNK_* each */
	char path[];
};

struct cfs_object {
	struct cfs_objects *cache;
	struct partial *part;  /* fetched in ranges; then fd is -1 */
	int fd;
	uint64_t size; /* of the object file (tree size if verified) */
	const struct cfs_verity_tree *tree; /* NULL: reads are not verified */
	struct cfs_tree_entry *entry;       /* cache reference held while open */
	char path[];                        /* "XX/rest", for messages */
};

static bool entry_eq(const void *elem, const void *key, void *arg);
static void partial_free(struct cfs_objects *c, struct partial *p);

void cfs_objects_opts_init(struct cfs_objects_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->alg = CFS_HASH_SHA256;
	o->tree_mem = CFS_OBJECTS_DEFAULT_TREE_MEM;
	o->cache_dirfd = -1;
}

int cfs_objects_new(const int *basedir_fds, size_t n, const struct cfs_objects_opts *o,
		    struct cfs_objects **out)
{
	struct cfs_objects_opts defaults;
	struct cfs_objects *c;
	int r = -ENOMEM;

	*out = NULL;
	if (o == NULL) {
		cfs_objects_opts_init(&defaults);
		o = &defaults;
	}
	if (n == 0 || o->flags != 0 || cfs_verity_digest_size(o->alg) == 0 ||
	    (o->fetch_tree == NULL) != (o->fetch_range == NULL) || (o->fetch_tree != NULL && o->fetch == NULL))
		return -EINVAL;
	for (size_t i = 0; i < sizeof(o->reserved) / sizeof(o->reserved[0]); i++)
		if (o->reserved[i] != 0)
			return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->cache_dirfd = -1;
	cfs_hashset_init(&c->trees, sizeof(struct cfs_tree_entry *), entry_eq, c);
	cfs_hashset_init(&c->logged, sizeof(char *), cfs_hashset_eq_str, NULL);
	c->basedirs = calloc(n, sizeof(*c->basedirs));
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->built, NULL);
	pthread_cond_init(&c->fetched, NULL);
	pthread_cond_init(&c->chunk, NULL);
	c->lru.next = c->lru.prev = &c->lru;
	if (!c->basedirs)
		goto fail;
	for (; c->n_basedirs < n; c->n_basedirs++) {
		c->basedirs[c->n_basedirs] = fcntl(basedir_fds[c->n_basedirs], F_DUPFD_CLOEXEC, 3);
		if (c->basedirs[c->n_basedirs] < 0) {
			r = -errno;
			goto fail;
		}
	}
	if (o->cache_dirfd >= 0) {
		c->cache_dirfd = fcntl(o->cache_dirfd, F_DUPFD_CLOEXEC, 3);
		if (c->cache_dirfd < 0) {
			r = -errno;
			goto fail;
		}
	}
	c->mem_limit = o->tree_mem;
	c->alg = o->alg;
	c->dsize = cfs_verity_digest_size(o->alg);
	c->report = o->report;
	c->report_user = o->report_user;
	c->fetch = o->fetch;
	c->fetch_user = o->fetch_user;
	c->fetch_tree = o->fetch_tree;
	c->fetch_range = o->fetch_range;
	*out = c;
	return 0;
fail:
	cfs_objects_free(c);
	return r;
}

void cfs_objects_free(struct cfs_objects *c)
{
	if (!c)
		return;
	while (c->partials != NULL) {
		struct partial *p = c->partials;

		c->partials = p->next;
		partial_free(c, p);
	}
	{
		struct cfs_tree_entry **e;
		char **name;

		for (size_t it = 0; (e = cfs_hashset_next(&c->trees, &it)) != NULL;) {
			cfs_verity_tree_free((*e)->tree);
			free(*e);
		}
		for (size_t it = 0; (name = cfs_hashset_next(&c->logged, &it)) != NULL;)
			free(*name);
		cfs_hashset_free(&c->trees);
		cfs_hashset_free(&c->logged);
	}
	for (size_t i = 0; i < c->n_basedirs; i++)
		close(c->basedirs[i]);
	if (c->cache_dirfd >= 0)
		close(c->cache_dirfd);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->built);
	pthread_cond_destroy(&c->fetched);
	pthread_cond_destroy(&c->chunk);
	free(c->basedirs);
	free(c);
}

void cfs_objects_get_stats(struct cfs_objects *c, struct cfs_objects_stats *st)
{
	pthread_mutex_lock(&c->lock);
	*st = c->st;
	pthread_mutex_unlock(&c->lock);
}

/* ---- reporting each broken object once ---- */

/* Locked. True if @name was not reported yet (and remember it). */
static bool logged_insert(struct cfs_objects *c, const char *name)
{
	uint64_t h = cfs_hash64(name, strlen(name), 0);
	char **slot;
	int r;

	if (cfs_hashset_find(&c->logged, h, name) != NULL)
		return false;
	if (cfs_hashset_count(&c->logged) >= MAX_LOGGED)
		return true; /* stop remembering, keep reporting */
	r = cfs_hashset_insert(&c->logged, h, name, (void **)&slot);
	if (r == 1) {
		*slot = strdup(name);
		if (*slot == NULL)
			cfs_hashset_remove_at(&c->logged, slot);
	}
	return true;
}

/* Tell the report callback about @path, once. */
static void report(struct cfs_objects *c, const char *path, const char *why, int err)
{
	bool first;

	if (c->report == NULL)
		return;
	pthread_mutex_lock(&c->lock);
	first = logged_insert(c, path);
	pthread_mutex_unlock(&c->lock);
	if (first)
		c->report(c->report_user, path, why, err < 0 ? err : -err);
}

/* ---- tree table (locked helpers) ---- */

static bool entry_eq(const void *elem, const void *key, void *arg)
{
	const struct cfs_objects *c = arg;

	return memcmp((*(struct cfs_tree_entry *const *)elem)->digest, key, c->dsize) == 0;
}

static uint64_t digest_hash(const struct cfs_objects *c, const uint8_t *digest)
{
	return cfs_hash64(digest, c->dsize, 0);
}

static struct cfs_tree_entry *table_find(struct cfs_objects *c, const uint8_t *digest)
{
	struct cfs_tree_entry **e = cfs_hashset_find(&c->trees, digest_hash(c, digest), digest);

	return e != NULL ? *e : NULL;
}

/* 0 or -ENOMEM; the entry must not be there yet. */
static int table_insert(struct cfs_objects *c, struct cfs_tree_entry *e)
{
	struct cfs_tree_entry **slot;
	int r = cfs_hashset_insert(&c->trees, digest_hash(c, e->digest), e->digest, (void **)&slot);

	if (r < 0)
		return r;
	*slot = e;
	return 0;
}

static void table_remove(struct cfs_objects *c, struct cfs_tree_entry *e)
{
	cfs_hashset_remove(&c->trees, digest_hash(c, e->digest), e->digest, NULL);
}

static void lru_unlink(struct cfs_tree_entry *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push_front(struct cfs_objects *c, struct cfs_tree_entry *e)
{
	e->next = c->lru.next;
	e->prev = &c->lru;
	c->lru.next->prev = e;
	c->lru.next = e;
}

/* Drop unused trees, least recently used first, until under the bound. */
static void evict(struct cfs_objects *c)
{
	struct cfs_tree_entry *e = c->lru.prev, *prev;

	for (; e != &c->lru && c->st.mem_used > c->mem_limit; e = prev) {
		prev = e->prev;
		if (e->refs)
			continue;
		lru_unlink(e);
		table_remove(c, e);
		c->st.mem_used -= e->mem;
		c->st.evictions++;
		cfs_verity_tree_free(e->tree);
		free(e);
	}
}

/* ---- opening objects ---- */

/* First basedir holding @path wins. Returns the fd or -errno (-ENOENT: nowhere). */
static int find_object(struct cfs_objects *c, const char *path)
{
	for (size_t i = 0; i < c->n_basedirs; i++) {
		/* never blocks on a FIFO; anything but a regular file is refused here */
		int fd = cfs_open_regular_beneath(c->basedirs[i], path, false);

		if (fd != -ENOENT)
			return fd;
	}
	return -ENOENT;
}

static void tree_cache_name(const struct cfs_objects *c, const uint8_t *digest, char *name)
{
	cfs_hex_encode(digest, c->dsize, name);
}

/* Load a persisted tree (re-checked against @digest by the loader). */
static int tree_load(struct cfs_objects *c, const uint8_t *digest, struct cfs_verity_tree **out)
{
	char name[2 * DIGEST_LEN + 1];
	_cleanup_close_ int fd = -1;

	if (c->cache_dirfd < 0)
		return -ENOENT;
	tree_cache_name(c, digest, name);
	fd = cfs_open_regular_beneath(c->cache_dirfd, name, true);
	if (fd < 0)
		return fd;
	return cfs_verity_tree_load(fd, c->alg, digest, out);
}

/* Best effort: a failure only costs a rebuild next time. */
static bool tree_save(struct cfs_objects *c, const uint8_t *digest,
		      const struct cfs_verity_tree *t)
{
	char name[2 * DIGEST_LEN + 1];
	struct cfs_atomic_file af;

	if (c->cache_dirfd < 0 || cfs_verity_tree_file_size(t) < PERSIST_MIN_SIZE)
		return false;
	tree_cache_name(c, digest, name);
	if (cfs_atomic_file_open(c->cache_dirfd, name, 0644, &af) < 0)
		return false;
	if (cfs_verity_tree_save(t, af.fd) < 0) {
		cfs_atomic_file_abort(&af);
		return false;
	}
	return cfs_atomic_file_commit(&af, true, false) == 0;
}

/*
 * Get a referenced, ready tree entry for @digest, building it from @fd when
 * nobody has it. Only one thread builds a given tree; the others wait.
 */
static int tree_get(struct cfs_objects *c, const char *path, int fd, const uint8_t *digest,
		    struct cfs_tree_entry **out)
{
	struct cfs_tree_entry *e;
	struct cfs_verity_tree *t = NULL;
	bool loaded = false, saved = false;
	int r;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		e = table_find(c, digest);
		if (!e)
			break;
		if (e->ready) {
			e->refs++;
			lru_unlink(e);
			lru_push_front(c, e);
			c->st.tree_hits++;
			pthread_mutex_unlock(&c->lock);
			*out = e;
			return 0;
		}
		pthread_cond_wait(&c->built, &c->lock);
	}
	e = calloc(1, sizeof(*e));
	if (!e) {
		pthread_mutex_unlock(&c->lock);
		return -ENOMEM;
	}
	memcpy(e->digest, digest, c->dsize);
	e->refs = 1;
	if (table_insert(c, e) < 0) {
		pthread_mutex_unlock(&c->lock);
		free(e);
		return -ENOMEM;
	}
	pthread_mutex_unlock(&c->lock);

	r = tree_load(c, digest, &t);
	if (r == 0) {
		loaded = true;
	} else {
		/* Start reading the whole object now so the disk runs ahead of the hashing. */
		posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
		posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
		r = cfs_verity_tree_build(fd, c->alg, digest, &t);
		if (r == 0)
			saved = tree_save(c, digest, t);
	}

	pthread_mutex_lock(&c->lock);
	if (r < 0) {
		table_remove(c, e);
		free(e);
		e = NULL;
	} else {
		e->tree = t;
		e->mem = cfs_verity_tree_mem_size(t) + sizeof(*e);
		e->ready = true;
		lru_push_front(c, e);
		c->st.mem_used += e->mem;
		if (loaded)
			c->st.trees_loaded++;
		else
			c->st.trees_built++;
		if (saved)
			c->st.trees_saved++;
		evict(c);
	}
	pthread_cond_broadcast(&c->built);
	pthread_mutex_unlock(&c->lock);

	if (r == -CFS_EDIGEST) {
		report(c, path, "content does not match the fs-verity digest in the image", 0);
		return -CFS_EDIGEST;
	}
	if (r < 0) {
		report(c, path, "cannot compute its fs-verity tree", r);
		return -EIO;
	}
	*out = e;
	return 0;
}

static void tree_put(struct cfs_objects *c, struct cfs_tree_entry *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&c->lock);
	e->refs--;
	if (!e->refs)
		evict(c);
	pthread_mutex_unlock(&c->lock);
}

/* ---- ranged fetch ---- */

/* A referenced, ready entry holding @t (taken over; dropped when the digest has one already). */
static int tree_adopt(struct cfs_objects *c, const uint8_t *digest, struct cfs_verity_tree *t,
		      struct cfs_tree_entry **out)
{
	struct cfs_tree_entry *e;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		e = table_find(c, digest);
		if (e == NULL)
			break;
		if (e->ready) {
			e->refs++;
			lru_unlink(e);
			lru_push_front(c, e);
			c->st.tree_hits++;
			pthread_mutex_unlock(&c->lock);
			cfs_verity_tree_free(t);
			*out = e;
			return 0;
		}
		pthread_cond_wait(&c->built, &c->lock);
	}
	e = calloc(1, sizeof(*e));
	if (e == NULL || (memcpy(e->digest, digest, c->dsize), table_insert(c, e)) < 0) {
		pthread_mutex_unlock(&c->lock);
		free(e);
		cfs_verity_tree_free(t);
		return -ENOMEM;
	}
	e->tree = t;
	e->refs = 1;
	e->mem = cfs_verity_tree_mem_size(t) + sizeof(*e);
	e->ready = true;
	lru_push_front(c, e);
	c->st.mem_used += e->mem;
	c->st.trees_loaded++;
	evict(c);
	pthread_mutex_unlock(&c->lock);
	*out = e;
	return 0;
}

static void partial_free(struct cfs_objects *c, struct partial *p)
{
	if (p == NULL)
		return;
	tree_put(c, p->entry);
	cfs_atomic_file_abort(&p->af); /* unpublished: the anonymous file goes with it */
	if (p->rfd >= 0)
		close(p->rfd);
	if (p->whole_fd >= 0)
		close(p->whole_fd);
	free(p->chunks);
	free(p);
}

/* Locked. The partial object of @digest, if one is known. */
static struct partial *partial_find(struct cfs_objects *c, const uint8_t *digest)
{
	struct partial *p;

	for (p = c->partials; p != NULL; p = p->next)
		if (memcmp(p->digest, digest, c->dsize) == 0)
			return p;
	return NULL;
}

/*
 * Ask for @path's tree and set up its partial object: an empty sparse file of the object's
 * size in the first basedir's XX/ directory, not yet named. 0 or -errno (then fetch it whole).
 */
static int partial_new(struct cfs_objects *c, const char *path, const uint8_t *digest, uint64_t size,
		       struct partial **out)
{
	struct cfs_verity_tree *t = NULL;
	struct partial *p;
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
	r = tree_adopt(c, digest, t, &p->entry);
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
	partial_free(c, p);
	return r;
}

/* Fetch chunk @i, check it against the tree, write it into the file. 0 or -errno. */
static int chunk_fetch(struct cfs_objects *c, struct partial *p, size_t i)
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
static void partial_publish(struct cfs_objects *c, struct partial *p)
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
		report(c, p->path, "fetched in ranges, but cannot be stored", r);
		return;
	}
	pthread_mutex_lock(&c->lock);
	p->published = true;
	pthread_mutex_unlock(&c->lock);
}

/* The server cannot send ranges: get the object whole (once), then read that. 0 or -errno. */
static int partial_fetch_whole(struct cfs_objects *c, struct partial *p)
{
	int r = c->fetch(c->fetch_user, p->path, p->digest);

	if (r == 0)
		r = find_object(c, p->path);
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
static int partial_ensure(struct cfs_objects *c, struct partial *p, uint64_t start, uint64_t end)
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

/*
 * Have the fetch callbacks get @path, once however many opens ask at the same time: either
 * the whole object, then opened (*@fd_out), or a partial object read in ranges (*@part_out,
 * referenced). Returns 0 or -errno.
 */
static int fetch_object(struct cfs_objects *c, const char *path, const uint8_t *digest, uint64_t size,
			int *fd_out, struct partial **part_out)
{
	struct fetching me = { .path = path }, **pp;
	struct partial *p = NULL;
	int r;

	*fd_out = -1;
	*part_out = NULL;
	pthread_mutex_lock(&c->lock);
	for (;;) {
		struct fetching *f;

		for (f = c->fetching; f != NULL && strcmp(f->path, path) != 0; f = f->next)
			;
		if (f == NULL)
			break;
		pthread_cond_wait(&c->fetched, &c->lock);
	}
	if (digest != NULL && (p = partial_find(c, digest)) != NULL) {
		p->refs++;
		pthread_mutex_unlock(&c->lock);
		*part_out = p;
		return 0;
	}
	me.next = c->fetching;
	c->fetching = &me;
	pthread_mutex_unlock(&c->lock);
	/* a fetch that just ended may have brought it */
	r = find_object(c, path);
	if (r != -ENOENT)
		goto done;
	if (c->fetch_tree != NULL && digest != NULL && partial_new(c, path, digest, size, &p) == 0) {
		r = 0;
		goto done;
	}
	r = c->fetch(c->fetch_user, path, digest);
	if (r == 0)
		r = find_object(c, path);
	else if (r != -ENOENT)
		report(c, path, "cannot fetch it", r);
done:
	pthread_mutex_lock(&c->lock);
	for (pp = &c->fetching; *pp != &me; pp = &(*pp)->next)
		;
	*pp = me.next;
	if (p != NULL) {
		p->refs = 1;
		p->next = c->partials;
		c->partials = p;
	}
	pthread_cond_broadcast(&c->fetched);
	pthread_mutex_unlock(&c->lock);
	if (p != NULL)
		*part_out = p;
	else if (r >= 0)
		*fd_out = r;
	return r < 0 ? r : 0;
}

/* An open of @p ends: a published one is forgotten with its last open. */
static void partial_put(struct cfs_objects *c, struct partial *p)
{
	struct partial **pp;
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
		partial_free(c, p);
}

/* Finish opening @o, backed by a partial object (reference taken over). */
static int open_partial(struct cfs_objects *c, struct cfs_object *o, uint64_t size, struct cfs_object **out)
{
	struct partial *p = o->part;

	o->size = p->size;
	if (size != CFS_OBJECT_SIZE_ANY && size != o->size) {
		report(c, o->path, "size differs from the file size its fs-verity tree gives", 0);
		partial_put(c, p);
		free(o);
		return -EIO;
	}
	pthread_mutex_lock(&c->lock);
	p->entry->refs++;
	pthread_mutex_unlock(&c->lock);
	o->entry = p->entry;
	o->tree = p->entry->tree;
	*out = o;
	return 0;
}

int cfs_objects_open(struct cfs_objects *c, const char *path, const uint8_t *digest, uint64_t size,
		     struct cfs_object **out)
{
	_cleanup_free_ struct cfs_object *o = NULL;
	struct stat st;
	size_t len;
	int r;

	*out = NULL;
	while (*path == '/')
		path++;
	len = strlen(path);
	if (len == 0)
		return -EIO;
	o = calloc(1, sizeof(*o) + len + 1);
	if (!o)
		return -ENOMEM;
	memcpy(o->path, path, len + 1);
	o->cache = c;
	o->fd = find_object(c, o->path);
	if (o->fd == -ENOENT && c->fetch != NULL) {
		r = fetch_object(c, o->path, digest, size, &o->fd, &o->part);
		if (r < 0)
			o->fd = r;
		else if (o->part != NULL)
			return open_partial(c, steal_pointer(&o), size, out);
	}
	if (o->fd < 0) {
		r = o->fd;
		report(c, o->path,
		       r == -ENOENT	       ? (c->fetch != NULL ? "not found in any basedir nor fetched" : "not found in any basedir")
		       : r == -CFS_ENOTREG ? "not a regular file"
					    : "cannot open",
		       r == -ENOENT || r == -CFS_ENOTREG ? 0 : r);
		return r == -ENOENT ? -ENOENT : -EIO;
	}
	if (fstat(o->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		report(c, o->path, "not a regular file", 0);
		close(o->fd);
		return -EIO;
	}
	o->size = (uint64_t)st.st_size;
	if (size != CFS_OBJECT_SIZE_ANY && size != o->size) {
		/*
		 * Bytes past the object's end would be zeros nobody verified, and
		 * a shorter size would hide verified ones: either way the image
		 * and the object disagree.
		 */
		report(c, o->path, "size differs from the file size in the image", 0);
		close(o->fd);
		return -EIO;
	}
	posix_fadvise(o->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if (digest) {
		r = tree_get(c, o->path, o->fd, digest, &o->entry);
		if (r < 0) {
			close(o->fd);
			return r;
		}
		o->tree = o->entry->tree;
		/* A cached tree says nothing about the file on disk: compare sizes early. */
		if (cfs_verity_tree_file_size(o->tree) != o->size) {
			report(c, o->path, "size does not match its fs-verity digest", 0);
			tree_put(c, o->entry);
			close(o->fd);
			return -EIO;
		}
	}
	*out = steal_pointer(&o);
	return 0;
}

int cfs_objects_open_digest(struct cfs_objects *c, const uint8_t *digest, struct cfs_object **out)
{
	char path[2 * CFS_VERITY_MAX_DIGEST + 2];
	int r = cfs_objstore_digest_path(digest, c->dsize, path, sizeof(path));

	if (r < 0)
		return r;
	return cfs_objects_open(c, path, digest, CFS_OBJECT_SIZE_ANY, out);
}

void cfs_object_close(struct cfs_object *o)
{
	if (!o)
		return;
	tree_put(o->cache, o->entry);
	if (o->part != NULL)
		partial_put(o->cache, o->part);
	else
		close(o->fd);
	free(o);
}

uint64_t cfs_object_size(const struct cfs_object *o)
{
	return o->size;
}

const char *cfs_object_path(const struct cfs_object *o)
{
	return o->path;
}

ssize_t cfs_object_read_buf(struct cfs_object *o, uint64_t offset, size_t len, char **buf_out,
			    const char **data_out)
{
	uint64_t size = o->size, end, start = offset, aend;
	_cleanup_free_ char *buf = NULL;
	ssize_t n;
	int r, fd;

	*buf_out = NULL;
	*data_out = NULL;
	if (offset >= size || len == 0)
		return 0;
	end = aend = (len > size - offset) ? size : offset + len;
	if (o->tree != NULL) { /* whole blocks, to hash them */
		start = offset & ~(uint64_t)(BLOCK - 1);
		aend = CFS_ALIGN_UP(end, (uint64_t)BLOCK);
		if (aend > size)
			aend = size;
	}
	buf = malloc(aend - start);
	if (!buf)
		return -ENOMEM;
	fd = o->fd;
	if (o->part != NULL) {
		fd = partial_ensure(o->cache, o->part, start, aend);
		if (fd < 0) {
			report(o->cache, o->path, "a range of it cannot be fetched", fd);
			return -EIO;
		}
	}
	n = cfs_pread_full(fd, buf, aend - start, (off_t)start);
	if (n < 0) {
		report(o->cache, o->path, "read error", (int)n);
		return -EIO;
	}
	if ((uint64_t)n != aend - start) {
		/* The open checked the size: the object shrank since. */
		report(o->cache, o->path,
		       o->tree != NULL ? "object is shorter than its fs-verity digest says"
				       : "object is shorter than the image says",
		       0);
		return -EIO;
	}
	/*
	 * Sequential reader: ask for the next few MiB of the object now, so the
	 * disk works while we hash (one hint per MiB crossed).
	 */
	if (aend < size && start / PREFETCH_STEP != aend / PREFETCH_STEP)
		posix_fadvise(fd, (off_t)aend, PREFETCH_AHEAD, POSIX_FADV_WILLNEED);
	r = o->tree != NULL ? cfs_verity_tree_check(o->tree, start, buf, aend - start) : 0;
	if (r < 0) {
		report(o->cache, o->path,
		       r == -CFS_EDIGEST ? "content does not match the fs-verity digest in the image"
					 : "verification failed",
		       r == -CFS_EDIGEST ? 0 : r);
		return r == -CFS_EDIGEST ? -CFS_EDIGEST : -EIO;
	}
	*data_out = buf + (offset - start);
	*buf_out = steal_pointer(&buf);
	return (ssize_t)(end - offset);
}

off_t cfs_object_lseek(struct cfs_object *o, off_t offset, int whence)
{
	off_t r;

	if (whence != SEEK_DATA && whence != SEEK_HOLE)
		return -EINVAL;
	if (o->part != NULL) {
		/* all data, whatever the sparse file that holds the chunks says */
		if (offset < 0 || (uint64_t)offset >= o->size)
			return -ENXIO;
		return whence == SEEK_DATA ? offset : (off_t)o->size;
	}
	r = lseek(o->fd, offset, whence);
	return r < 0 ? -errno : r;
}

ssize_t cfs_object_pread(struct cfs_object *o, void *buf, size_t len, uint64_t offset)
{
	char *mem;
	const char *data;
	ssize_t n = cfs_object_read_buf(o, offset, len, &mem, &data);

	if (n > 0)
		memcpy(buf, data, (size_t)n);
	free(mem);
	return n;
}
