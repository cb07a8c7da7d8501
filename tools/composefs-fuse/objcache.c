/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* composefs-fuse: backing objects in basedirs and a byte-bounded LRU of their Merkle trees. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"

#include "cfs-fuse.h"

#define BLOCK 4096u
#define DIGEST_LEN 32u
/* Trees of smaller objects are cheap to rebuild; not worth a cache file. */
#define PERSIST_MIN_SIZE (64u * 1024u)
/* Read-ahead hints of verified sequential reads. */
#define PREFETCH_STEP (1024u * 1024u)
#define PREFETCH_AHEAD (4 * 1024 * 1024)
/* Upper bound of remembered "already reported" object names. */
#define MAX_LOGGED 65536u

/* One Merkle tree, shared by every open file backed by the same object. */
struct cfs_tree_entry {
	uint8_t digest[DIGEST_LEN];
	struct cfs_verity_tree *tree; /* NULL while being built */
	size_t mem;
	unsigned refs;
	bool ready;
	struct cfs_tree_entry *hnext;
	struct cfs_tree_entry *prev, *next; /* LRU list, most recent first (ready only) */
};

struct cfs_objcache {
	int *basedirs;
	size_t n_basedirs;
	int cache_dirfd;
	size_t mem_limit;

	pthread_mutex_t lock; /* everything below */
	pthread_cond_t built; /* an entry left the "building" state */
	struct cfs_tree_entry **buckets;
	size_t n_buckets, n_entries;
	struct cfs_tree_entry lru; /* sentinel */
	char **logged;		   /* open-addressed set of reported names */
	size_t logged_cap, n_logged;
	struct cfs_objcache_stats st;
};

int cfs_objcache_new(int *basedir_fds, size_t n_basedirs, int cache_dirfd, size_t mem_limit,
		     struct cfs_objcache **out)
{
	struct cfs_objcache *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->n_buckets = 1024;
	c->buckets = calloc(c->n_buckets, sizeof(*c->buckets));
	c->logged_cap = 64;
	c->logged = calloc(c->logged_cap, sizeof(*c->logged));
	if (!c->buckets || !c->logged) {
		free(c->buckets);
		free(c->logged);
		free(c);
		return -ENOMEM;
	}
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->built, NULL);
	c->lru.next = c->lru.prev = &c->lru;
	c->basedirs = basedir_fds;
	c->n_basedirs = n_basedirs;
	c->cache_dirfd = cache_dirfd;
	c->mem_limit = mem_limit;
	*out = c;
	return 0;
}

void cfs_objcache_free(struct cfs_objcache *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_buckets; i++) {
		struct cfs_tree_entry *e = c->buckets[i], *next;

		for (; e; e = next) {
			next = e->hnext;
			cfs_verity_tree_free(e->tree);
			free(e);
		}
	}
	for (size_t i = 0; i < c->logged_cap; i++)
		free(c->logged[i]);
	for (size_t i = 0; i < c->n_basedirs; i++)
		close(c->basedirs[i]);
	if (c->cache_dirfd >= 0)
		close(c->cache_dirfd);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->built);
	free(c->logged);
	free(c->buckets);
	free(c->basedirs);
	free(c);
}

void cfs_objcache_get_stats(struct cfs_objcache *c, struct cfs_objcache_stats *st)
{
	pthread_mutex_lock(&c->lock);
	*st = c->st;
	pthread_mutex_unlock(&c->lock);
}

/* ---- reporting each broken object once ---- */

static uint64_t str_hash(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (; *s; s++)
		h = (h ^ (unsigned char)*s) * 1099511628211ull;
	return h;
}

/* Locked. True if @name was not reported yet (and remember it). */
static bool logged_insert(struct cfs_objcache *c, const char *name)
{
	size_t mask = c->logged_cap - 1, i;

	for (i = str_hash(name) & mask; c->logged[i]; i = (i + 1) & mask)
		if (strcmp(c->logged[i], name) == 0)
			return false;
	if (c->n_logged >= MAX_LOGGED)
		return true; /* stop remembering, keep reporting */
	if ((c->n_logged + 1) * 2 > c->logged_cap) {
		size_t ncap = c->logged_cap * 2;
		char **n = calloc(ncap, sizeof(*n));

		if (!n)
			return true;
		for (size_t j = 0; j < c->logged_cap; j++) {
			size_t k;

			if (!c->logged[j])
				continue;
			for (k = str_hash(c->logged[j]) & (ncap - 1); n[k];
			     k = (k + 1) & (ncap - 1))
				;
			n[k] = c->logged[j];
		}
		free(c->logged);
		c->logged = n;
		c->logged_cap = ncap;
		mask = ncap - 1;
		for (i = str_hash(name) & mask; c->logged[i]; i = (i + 1) & mask)
			;
	}
	c->logged[i] = strdup(name);
	if (c->logged[i])
		c->n_logged++;
	return true;
}

void cfs_objcache_report(struct cfs_objcache *c, const char *path, const char *why, int err)
{
	bool first;

	pthread_mutex_lock(&c->lock);
	first = logged_insert(c, path);
	pthread_mutex_unlock(&c->lock);
	if (!first)
		return;
	if (err)
		cfs_fuse_log("object %s: %s: %s", path, why, strerror(err < 0 ? -err : err));
	else
		cfs_fuse_log("object %s: %s", path, why);
}

/* ---- tree table (locked helpers) ---- */

static size_t digest_bucket(const struct cfs_objcache *c, const uint8_t *digest)
{
	uint64_t h;

	memcpy(&h, digest, sizeof(h));
	return (size_t)(h & (c->n_buckets - 1));
}

static struct cfs_tree_entry *table_find(struct cfs_objcache *c, const uint8_t *digest)
{
	struct cfs_tree_entry *e = c->buckets[digest_bucket(c, digest)];

	for (; e; e = e->hnext)
		if (memcmp(e->digest, digest, DIGEST_LEN) == 0)
			return e;
	return NULL;
}

static void table_grow(struct cfs_objcache *c)
{
	size_t nb = c->n_buckets * 2;
	struct cfs_tree_entry **b = calloc(nb, sizeof(*b));
	struct cfs_tree_entry **old = c->buckets;
	size_t old_n = c->n_buckets;

	if (!b)
		return; /* chains just get longer */
	c->buckets = b;
	c->n_buckets = nb;
	for (size_t i = 0; i < old_n; i++) {
		struct cfs_tree_entry *e = old[i], *next;

		for (; e; e = next) {
			size_t k = digest_bucket(c, e->digest);

			next = e->hnext;
			e->hnext = b[k];
			b[k] = e;
		}
	}
	free(old);
}

static void table_insert(struct cfs_objcache *c, struct cfs_tree_entry *e)
{
	size_t k;

	if (c->n_entries + 1 > c->n_buckets)
		table_grow(c);
	k = digest_bucket(c, e->digest);
	e->hnext = c->buckets[k];
	c->buckets[k] = e;
	c->n_entries++;
}

static void table_remove(struct cfs_objcache *c, struct cfs_tree_entry *e)
{
	struct cfs_tree_entry **pp = &c->buckets[digest_bucket(c, e->digest)];

	for (; *pp; pp = &(*pp)->hnext) {
		if (*pp == e) {
			*pp = e->hnext;
			c->n_entries--;
			return;
		}
	}
}

static void lru_unlink(struct cfs_tree_entry *e)
{
	e->prev->next = e->next;
	e->next->prev = e->prev;
	e->prev = e->next = NULL;
}

static void lru_push_front(struct cfs_objcache *c, struct cfs_tree_entry *e)
{
	e->next = c->lru.next;
	e->prev = &c->lru;
	c->lru.next->prev = e;
	c->lru.next = e;
}

/* Drop unused trees, least recently used first, until under the bound. */
static void evict(struct cfs_objcache *c)
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
static int find_object(struct cfs_objcache *c, const char *path)
{
	for (size_t i = 0; i < c->n_basedirs; i++) {
		/* never blocks on a FIFO; anything but a regular file is refused here */
		int fd = cfs_open_regular_beneath(c->basedirs[i], path, false);

		if (fd != -ENOENT)
			return fd;
	}
	return -ENOENT;
}

static void tree_cache_name(const uint8_t *digest, char *name)
{
	cfs_hex_encode(digest, DIGEST_LEN, name);
}

/* Load a persisted tree (re-checked against @digest by the loader). */
static int tree_load(struct cfs_objcache *c, const uint8_t *digest, struct cfs_verity_tree **out)
{
	char name[2 * DIGEST_LEN + 1];
	_cleanup_close_ int fd = -1;

	if (c->cache_dirfd < 0)
		return -ENOENT;
	tree_cache_name(digest, name);
	fd = cfs_open_regular_beneath(c->cache_dirfd, name, true);
	if (fd < 0)
		return fd;
	return cfs_verity_tree_load(fd, CFS_HASH_SHA256, digest, out);
}

/* Best effort: a failure only costs a rebuild next time. */
static bool tree_save(struct cfs_objcache *c, const uint8_t *digest,
		      const struct cfs_verity_tree *t)
{
	char name[2 * DIGEST_LEN + 1];
	struct cfs_atomic_file af;

	if (c->cache_dirfd < 0 || cfs_verity_tree_file_size(t) < PERSIST_MIN_SIZE)
		return false;
	tree_cache_name(digest, name);
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
static int tree_get(struct cfs_objcache *c, const char *path, int fd, const uint8_t *digest,
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
	memcpy(e->digest, digest, DIGEST_LEN);
	e->refs = 1;
	table_insert(c, e);
	pthread_mutex_unlock(&c->lock);

	r = tree_load(c, digest, &t);
	if (r == 0) {
		loaded = true;
	} else {
		/* Start reading the whole object now so the disk runs ahead of the hashing. */
		posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
		posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
		r = cfs_verity_tree_build(fd, CFS_HASH_SHA256, digest, &t);
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
		cfs_objcache_report(c, path,
				    "content does not match the fs-verity digest in the image", 0);
		return -EIO;
	}
	if (r < 0) {
		cfs_objcache_report(c, path, "cannot compute its fs-verity tree", r);
		return -EIO;
	}
	*out = e;
	return 0;
}

static void tree_put(struct cfs_objcache *c, struct cfs_tree_entry *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&c->lock);
	e->refs--;
	if (!e->refs)
		evict(c);
	pthread_mutex_unlock(&c->lock);
}

int cfs_objcache_open(struct cfs_objcache *c, const char *redirect, const uint8_t *digest,
		      struct cfs_object **out)
{
	_cleanup_free_ struct cfs_object *o = NULL;
	struct stat st;
	size_t len;
	int r;

	while (*redirect == '/')
		redirect++;
	len = strlen(redirect);
	if (len == 0)
		return -EIO;
	o = calloc(1, sizeof(*o) + len + 1);
	if (!o)
		return -ENOMEM;
	memcpy(o->path, redirect, len + 1);
	o->cache = c;
	o->fd = find_object(c, o->path);
	if (o->fd < 0) {
		cfs_objcache_report(c, o->path,
				    o->fd == -ENOENT	     ? "not found in any basedir"
				    : o->fd == -CFS_ENOTREG ? "not a regular file"
							     : "cannot open",
				    o->fd == -ENOENT || o->fd == -CFS_ENOTREG ? 0 : o->fd);
		return -EIO;
	}
	if (fstat(o->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		cfs_objcache_report(c, o->path, "not a regular file", 0);
		close(o->fd);
		return -EIO;
	}
	o->size = (uint64_t)st.st_size;
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
			cfs_objcache_report(c, o->path, "size does not match its fs-verity digest",
					    0);
			tree_put(c, o->entry);
			close(o->fd);
			return -EIO;
		}
	}
	*out = steal_pointer(&o);
	return 0;
}

void cfs_objcache_close(struct cfs_objcache *c, struct cfs_object *o)
{
	if (!o)
		return;
	tree_put(c, o->entry);
	close(o->fd);
	free(o);
}

ssize_t cfs_object_read(struct cfs_object *o, uint64_t offset, size_t len, char **buf_out, const char **data_out)
{
	uint64_t size = o->size, end, start = offset, aend;
	_cleanup_free_ char *buf = NULL;
	ssize_t n;
	int r;

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
	n = cfs_pread_full(o->fd, buf, aend - start, (off_t)start);
	if (n < 0) {
		cfs_objcache_report(o->cache, o->path, "read error", (int)n);
		return -EIO;
	}
	if ((uint64_t)n != aend - start) {
		/* The open checked the size: the object shrank since. */
		cfs_objcache_report(o->cache, o->path,
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
		posix_fadvise(o->fd, (off_t)aend, PREFETCH_AHEAD, POSIX_FADV_WILLNEED);
	r = o->tree != NULL ? cfs_verity_tree_check(o->tree, start, buf, aend - start) : 0;
	if (r < 0) {
		cfs_objcache_report(
			o->cache, o->path,
			r == -CFS_EDIGEST
				? "content does not match the fs-verity digest in the image"
				: "verification failed",
			r == -CFS_EDIGEST ? 0 : r);
		return -EIO;
	}
	*data_out = buf + (offset - start);
	*buf_out = steal_pointer(&buf);
	return (ssize_t)(end - offset);
}
