/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Verified object access: objects in basedirs and a byte-bounded LRU of their Merkle trees. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <composefs/objects.h>
#include <composefs/store.h>

#include "hashset.h"
#include "objects-private.h"
#include "util.h"
#include "workq.h"

/* Trees of smaller objects are cheap to rebuild; not worth a cache file. */
#define PERSIST_MIN_SIZE (64u * 1024u)
/*
 * Read-ahead hints of sequential reads: the object is asked for up to PREFETCH_AHEAD bytes past
 * the end of each read, in PREFETCH_STEP hints (the kernel caps one WILLNEED at the device's
 * read-ahead size, often far below the window), each byte once, and only once the window has
 * shrunk to PREFETCH_REFILL, so a warm object costs about one hint per PREFETCH_REFILL read.
 */
#define PREFETCH_STEP (1024u * 1024u)
#define PREFETCH_AHEAD (32u * 1024 * 1024)
#define PREFETCH_REFILL (24u * 1024 * 1024)
/* Upper bound of remembered "already reported" object names. */
#define MAX_LOGGED 65536u
/* Kept build data at least this large is mapped in huge pages. */
#define HUGE_PAGE (2u * 1024 * 1024)
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14 */
#endif

static bool entry_eq(const void *elem, const void *key, void *arg);

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
	c->keep_limit = o->keep_mem;
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
		struct cfs_objects_partial *p = c->partials;

		c->partials = p->next;
		cfs_objects_partial_free(c, p);
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
void cfs_objects_report(struct cfs_objects *c, const char *path, const char *why, int err)
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

/* Trees are keyed by algorithm and digest: one set serves images of either. */
struct tree_key {
	enum cfs_hash_alg alg;
	const uint8_t *digest;
};

static bool entry_eq(const void *elem, const void *key, void *arg)
{
	const struct cfs_tree_entry *e = *(struct cfs_tree_entry *const *)elem;
	const struct tree_key *k = key;

	(void)arg;
	return e->alg == k->alg && memcmp(e->digest, k->digest, cfs_verity_digest_size(k->alg)) == 0;
}

static uint64_t key_hash(const struct tree_key *k)
{
	return cfs_hash64(k->digest, cfs_verity_digest_size(k->alg), (uint64_t)k->alg);
}

static struct cfs_tree_entry *table_find(struct cfs_objects *c, enum cfs_hash_alg alg, const uint8_t *digest)
{
	struct tree_key k = { alg, digest };
	struct cfs_tree_entry **e = cfs_hashset_find(&c->trees, key_hash(&k), &k);

	return e != NULL ? *e : NULL;
}

/* 0 or -ENOMEM; the entry must not be there yet. */
static int table_insert(struct cfs_objects *c, struct cfs_tree_entry *e)
{
	struct tree_key k = { e->alg, e->digest };
	struct cfs_tree_entry **slot;
	int r = cfs_hashset_insert(&c->trees, key_hash(&k), &k, (void **)&slot);

	if (r < 0)
		return r;
	*slot = e;
	return 0;
}

static void table_remove(struct cfs_objects *c, struct cfs_tree_entry *e)
{
	struct tree_key k = { e->alg, e->digest };

	cfs_hashset_remove(&c->trees, key_hash(&k), &k, NULL);
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
int cfs_objects_find(struct cfs_objects *c, const char *path)
{
	for (size_t i = 0; i < c->n_basedirs; i++) {
		/* never blocks on a FIFO; anything but a regular file is refused here */
		int fd = cfs_open_regular_beneath(c->basedirs[i], path, false);

		if (fd != -ENOENT)
			return fd;
	}
	return -ENOENT;
}

/* 64 hex digits for a sha256 tree, 128 for sha512: the names never collide. */
static void tree_cache_name(enum cfs_hash_alg alg, const uint8_t *digest, char *name)
{
	cfs_hex_encode(digest, cfs_verity_digest_size(alg), name);
}

/* Load a persisted tree (re-checked against @digest by the loader). */
static int tree_load(struct cfs_objects *c, enum cfs_hash_alg alg, const uint8_t *digest,
		     struct cfs_verity_tree **out)
{
	char name[2 * DIGEST_LEN + 1];
	_cleanup_close_ int fd = -1;

	if (c->cache_dirfd < 0)
		return -ENOENT;
	tree_cache_name(alg, digest, name);
	fd = cfs_open_regular_beneath(c->cache_dirfd, name, true);
	if (fd < 0)
		return fd;
	return cfs_verity_tree_load(fd, alg, digest, out);
}

/* Best effort: a failure only costs a rebuild next time. */
static bool tree_save(struct cfs_objects *c, enum cfs_hash_alg alg, const uint8_t *digest,
		      const struct cfs_verity_tree *t)
{
	char name[2 * DIGEST_LEN + 1];
	struct cfs_atomic_file af;

	if (c->cache_dirfd < 0 || cfs_verity_tree_file_size(t) < PERSIST_MIN_SIZE)
		return false;
	tree_cache_name(alg, digest, name);
	if (cfs_atomic_file_open(c->cache_dirfd, name, 0644, &af) < 0)
		return false;
	if (cfs_verity_tree_save(t, af.fd) < 0) {
		cfs_atomic_file_abort(&af);
		return false;
	}
	return cfs_atomic_file_commit(&af, true, false) == 0;
}

/*
 * Memory for the data a tree build reads, so that the open that built the tree
 * can serve it without reading and hashing it again: as much of the object's
 * start as the set's bound has room for (none when it has too little for one
 * block). Memory that cannot be had only costs the second hash.
 */
/* Fault in part @i of a huge-page run (see keep_alloc()). */
struct populate {
	uint8_t *p;
	size_t len, part;
};

static void populate_part(void *user, size_t i)
{
	const struct populate *pp = user;
	size_t off = i * pp->part, len = pp->len - off < pp->part ? pp->len - off : pp->part;

	/* advice: a failure (old kernel, no memory now) leaves it to page faults */
	(void)madvise(pp->p + off, len, MADV_POPULATE_WRITE);
}

/*
 * Kept data is written once (by the pread of the build) and read once, and
 * fresh anonymous memory costs a page fault and a cleared page per 4 KiB on
 * first write. Faulting a whole run in at once in huge pages (on every CPU) is
 * about twice as fast as letting the build's reads fault it page by page, and
 * much faster than faulting huge pages during those reads (measured: 0.3 s
 * against 0.6 s and 1.5-2 s per GiB). NULL when out of memory.
 */
static uint8_t *keep_alloc(size_t len)
{
	size_t run = CFS_ALIGN_UP(len, (size_t)HUGE_PAGE), map_len = run + HUGE_PAGE;
	struct populate pp;
	uint8_t *p, *aligned;
	unsigned threads;

	if (len < HUGE_PAGE)
		return malloc(len);
	p = mmap(NULL, map_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return NULL;
	/* trim to a huge-page aligned run */
	aligned = (uint8_t *)CFS_ALIGN_UP((uintptr_t)p, (uintptr_t)HUGE_PAGE);
	if (aligned > p)
		munmap(p, (size_t)(aligned - p));
	if (aligned + run < p + map_len)
		munmap(aligned + run, (size_t)(p + map_len - (aligned + run)));
	(void)madvise(aligned, run, MADV_HUGEPAGE); /* advice only */
	threads = cfs_thread_count(0, 0);
	pp = (struct populate){ .p = aligned, .len = run,
				.part = CFS_ALIGN_UP(run / threads, (size_t)HUGE_PAGE) };
	cfs_parallel_for(threads, (run + pp.part - 1) / pp.part, populate_part, &pp);
	return aligned;
}

static void keep_free(uint8_t *p, size_t len)
{
	if (len < HUGE_PAGE)
		free(p);
	else
		munmap(p, CFS_ALIGN_UP(len, (size_t)HUGE_PAGE));
}

static void keep_reserve(struct cfs_objects *c, struct cfs_object *o)
{
	uint64_t want;

	pthread_mutex_lock(&c->lock);
	want = c->keep_limit > c->keep_used ? c->keep_limit - c->keep_used : 0;
	if (want >= o->size)
		want = o->size;
	else
		want &= ~(uint64_t)(BLOCK - 1);
	if (want > SIZE_MAX)
		want = SIZE_MAX & ~(uint64_t)(BLOCK - 1);
	c->keep_used += want;
	pthread_mutex_unlock(&c->lock);
	o->kept = want > 0 ? keep_alloc((size_t)want) : NULL;
	o->kept_len = o->kept != NULL ? (size_t)want : 0;
	if (o->kept == NULL && want > 0) {
		pthread_mutex_lock(&c->lock);
		c->keep_used -= want;
		pthread_mutex_unlock(&c->lock);
	}
}

static void keep_release(struct cfs_objects *c, struct cfs_object *o)
{
	if (o->kept == NULL)
		return;
	keep_free(o->kept, o->kept_len);
	pthread_mutex_lock(&c->lock);
	c->keep_used -= o->kept_len;
	pthread_mutex_unlock(&c->lock);
	o->kept = NULL;
	o->kept_len = 0;
}

/*
 * With c->lock held: the entry of (@alg, @digest) into *@out. Returns 1 when it
 * is ready (referenced, made the most recent; waits while another thread
 * builds it), 0 for a new entry (inserted, referenced, not ready: the caller
 * builds its tree, then publishes it with entry_publish() or removes it), or
 * -ENOMEM (*@out NULL).
 */
static int entry_claim(struct cfs_objects *c, enum cfs_hash_alg alg, const uint8_t *digest,
		       struct cfs_tree_entry **out)
{
	struct cfs_tree_entry *e;

	*out = NULL;
	for (;;) {
		e = table_find(c, alg, digest);
		if (!e)
			break;
		if (e->ready) {
			e->refs++;
			lru_unlink(e);
			lru_push_front(c, e);
			c->st.tree_hits++;
			*out = e;
			return 1;
		}
		pthread_cond_wait(&c->built, &c->lock);
	}
	e = calloc(1, sizeof(*e));
	if (!e)
		return -ENOMEM;
	e->alg = alg;
	memcpy(e->digest, digest, cfs_verity_digest_size(alg));
	e->refs = 1;
	if (table_insert(c, e) < 0) {
		free(e);
		return -ENOMEM;
	}
	*out = e;
	return 0;
}

/* With c->lock held: the claimed entry @e holds @t (taken over) and is ready. */
static void entry_publish(struct cfs_objects *c, struct cfs_tree_entry *e, struct cfs_verity_tree *t, bool loaded)
{
	e->tree = t;
	e->mem = cfs_verity_tree_mem_size(t) + sizeof(*e);
	e->ready = true;
	lru_push_front(c, e);
	c->st.mem_used += e->mem;
	if (loaded)
		c->st.trees_loaded++;
	else
		c->st.trees_built++;
	evict(c);
}

/*
 * Get a referenced, ready tree entry for @digest, building it from @fd when
 * nobody has it. Only one thread builds a given tree; the others wait.
 */
static int tree_get(struct cfs_objects *c, struct cfs_object *o, enum cfs_hash_alg alg,
		    const uint8_t *digest, struct cfs_tree_entry **out)
{
	const char *path = o->path;
	int fd = o->fd;
	struct cfs_tree_entry *e;
	struct cfs_verity_tree *t = NULL;
	bool loaded = false, saved = false;
	int r;

	pthread_mutex_lock(&c->lock);
	r = entry_claim(c, alg, digest, &e);
	pthread_mutex_unlock(&c->lock);
	if (r != 0) {
		*out = e;
		return r < 0 ? r : 0;
	}

	r = tree_load(c, alg, digest, &t);
	if (r == 0) {
		loaded = true;
	} else {
		/* Start reading the whole object now so the disk runs ahead of the hashing. */
		posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
		posix_fadvise(fd, 0, 0, POSIX_FADV_WILLNEED);
		keep_reserve(c, o);
		r = cfs_verity_tree_build_keep(fd, alg, digest, o->kept, o->kept_len, &t);
		if (r < 0)
			keep_release(c, o); /* unverified bytes: never served */
		if (r == 0)
			saved = tree_save(c, alg, digest, t);
	}

	pthread_mutex_lock(&c->lock);
	if (r < 0) {
		table_remove(c, e);
		free(e);
		e = NULL;
	} else {
		if (saved)
			c->st.trees_saved++;
		entry_publish(c, e, t, loaded);
	}
	pthread_cond_broadcast(&c->built);
	pthread_mutex_unlock(&c->lock);

	if (r == -CFS_EDIGEST) {
		cfs_objects_report(c, path, "content does not match the fs-verity digest in the image", 0);
		return -CFS_EDIGEST;
	}
	if (r < 0) {
		cfs_objects_report(c, path, "cannot compute its fs-verity tree", r);
		return -EIO;
	}
	*out = e;
	return 0;
}

void cfs_objects_tree_put(struct cfs_objects *c, struct cfs_tree_entry *e)
{
	if (!e)
		return;
	pthread_mutex_lock(&c->lock);
	e->refs--;
	if (!e->refs)
		evict(c);
	pthread_mutex_unlock(&c->lock);
}

/* A referenced, ready entry holding @t (taken over; dropped when the digest has one already). */
int cfs_objects_tree_adopt(struct cfs_objects *c, enum cfs_hash_alg alg, const uint8_t *digest,
			   struct cfs_verity_tree *t, struct cfs_tree_entry **out)
{
	struct cfs_tree_entry *e;
	int r;

	pthread_mutex_lock(&c->lock);
	r = entry_claim(c, alg, digest, &e);
	if (r == 0)
		entry_publish(c, e, t, true);
	pthread_mutex_unlock(&c->lock);
	if (r != 0)
		cfs_verity_tree_free(t); /* the one there wins, or no room for it */
	*out = e;
	return r < 0 ? r : 0;
}

/*
 * Have the fetch callbacks get @path, once however many opens ask at the same time: either
 * the whole object, then opened (*@fd_out), or a partial object read in ranges (*@part_out,
 * referenced). Returns 0 or -errno.
 */
static int fetch_object(struct cfs_objects *c, const char *path, const uint8_t *digest, bool ranged,
			uint64_t size, int *fd_out, struct cfs_objects_partial **part_out)
{
	struct fetching me = { .path = path }, **pp;
	struct cfs_objects_partial *p = NULL;
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
	if (ranged && digest != NULL && (p = cfs_objects_partial_find(c, digest)) != NULL) {
		p->refs++;
		pthread_mutex_unlock(&c->lock);
		*part_out = p;
		return 0;
	}
	me.next = c->fetching;
	c->fetching = &me;
	pthread_mutex_unlock(&c->lock);
	/* a fetch that just ended may have brought it */
	r = cfs_objects_find(c, path);
	if (r != -ENOENT)
		goto done;
	if (ranged && c->fetch_tree != NULL && digest != NULL && cfs_objects_partial_new(c, path, digest, size, &p) == 0) {
		r = 0;
		goto done;
	}
	r = c->fetch(c->fetch_user, path, digest);
	if (r == 0)
		r = cfs_objects_find(c, path);
	else if (r != -ENOENT)
		cfs_objects_report(c, path, "cannot fetch it", r);
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

/* Finish opening @o, backed by a partial object (reference taken over). */
static int open_partial(struct cfs_objects *c, struct cfs_object *o, uint64_t size, struct cfs_object **out)
{
	struct cfs_objects_partial *p = o->part;

	o->size = p->size;
	if (size != CFS_OBJECT_SIZE_ANY && size != o->size) {
		cfs_objects_report(c, o->path, "size differs from the file size its fs-verity tree gives", 0);
		cfs_objects_partial_put(c, p);
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
	return cfs_objects_open_alg(c, path, c->alg, digest, size, out);
}

int cfs_objects_open_alg(struct cfs_objects *c, const char *path, enum cfs_hash_alg alg, const uint8_t *digest,
			 uint64_t size, struct cfs_object **out)
{
	_cleanup_free_ struct cfs_object *o = NULL;
	struct stat st;
	size_t len;
	int r;

	*out = NULL;
	if (digest != NULL && cfs_verity_digest_size(alg) == 0)
		return -EINVAL;
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
	o->fd = cfs_objects_find(c, o->path);
	if (o->fd == -ENOENT && c->fetch != NULL) {
		/* ranged fetch serves objects of the set's own algorithm (its trees); others come whole */
		r = fetch_object(c, o->path, digest, alg == c->alg, size, &o->fd, &o->part);
		if (r < 0)
			o->fd = r;
		else if (o->part != NULL)
			return open_partial(c, steal_pointer(&o), size, out);
	}
	if (o->fd < 0) {
		r = o->fd;
		cfs_objects_report(c, o->path,
		       r == -ENOENT	       ? (c->fetch != NULL ? "not found in any basedir nor fetched" : "not found in any basedir")
		       : r == -CFS_ENOTREG ? "not a regular file"
					    : "cannot open",
		       r == -ENOENT || r == -CFS_ENOTREG ? 0 : r);
		return r == -ENOENT ? -ENOENT : -EIO;
	}
	if (fstat(o->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		cfs_objects_report(c, o->path, "not a regular file", 0);
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
		cfs_objects_report(c, o->path, "size differs from the file size in the image", 0);
		close(o->fd);
		return -EIO;
	}
	posix_fadvise(o->fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if (digest) {
		r = tree_get(c, o, alg, digest, &o->entry);
		if (r < 0) {
			close(o->fd);
			return r;
		}
		o->tree = o->entry->tree;
		/* A cached tree says nothing about the file on disk: compare sizes early. */
		if (cfs_verity_tree_file_size(o->tree) != o->size) {
			cfs_objects_report(c, o->path, "size does not match its fs-verity digest", 0);
			keep_release(c, o);
			cfs_objects_tree_put(c, o->entry);
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
	keep_release(o->cache, o);
	cfs_objects_tree_put(o->cache, o->entry);
	if (o->part != NULL)
		cfs_objects_partial_put(o->cache, o->part);
	else
		close(o->fd);
	free(o);
}

size_t cfs_object_kept_data(const struct cfs_object *o, const void **data_out)
{
	*data_out = o->kept;
	return o->kept_len;
}

void cfs_object_kept_drop(struct cfs_object *o)
{
	keep_release(o->cache, o);
}

uint64_t cfs_object_size(const struct cfs_object *o)
{
	return o->size;
}

const char *cfs_object_path(const struct cfs_object *o)
{
	return o->path;
}

/*
 * Sequential reader: have the disk read the next PREFETCH_AHEAD bytes while the reads before
 * them are hashed. Reads of one object run on several threads at once; o->hinted says how far
 * hints went, and the thread that moves it hints the new part alone. A read that does not follow
 * the hinted window (a seek back, or a jump far ahead) starts a new window at its end.
 */
void cfs_object_read_ahead(struct cfs_object *o, uint64_t end)
{
	uint64_t hinted = __atomic_load_n(&o->hinted, __ATOMIC_RELAXED), from, to;

	if (o->part != NULL || end >= o->size)
		return;
	if (hinted >= end && hinted - end >= PREFETCH_REFILL)
		return; /* enough asked for already */
	from = hinted >= end && hinted - end < PREFETCH_AHEAD ? hinted : end;
	to = end + PREFETCH_AHEAD < o->size ? end + PREFETCH_AHEAD : o->size;
	if (from >= to ||
	    !__atomic_compare_exchange_n(&o->hinted, &hinted, to, false, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
		return; /* another thread moved the window meanwhile */
	for (; from < to; from += PREFETCH_STEP)
		(void)posix_fadvise(o->fd, (off_t)from, (off_t)(to - from < PREFETCH_STEP ? to - from : PREFETCH_STEP),
				    POSIX_FADV_WILLNEED); /* advice: a failure costs only speed */
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
	if (aend <= o->kept_len) {
		/* hashed into the tree by this open, in this process's memory since */
		memcpy(buf, o->kept + start, aend - start);
		*data_out = buf + (offset - start);
		*buf_out = steal_pointer(&buf);
		return (ssize_t)(end - offset);
	}
	fd = o->fd;
	if (o->part != NULL) {
		fd = cfs_objects_partial_ensure(o->cache, o->part, start, aend);
		if (fd < 0) {
			cfs_objects_report(o->cache, o->path, "a range of it cannot be fetched", fd);
			return -EIO;
		}
	}
	n = cfs_pread_full(fd, buf, aend - start, (off_t)start);
	if (n < 0) {
		cfs_objects_report(o->cache, o->path, "read error", (int)n);
		return -EIO;
	}
	if ((uint64_t)n != aend - start) {
		/* The open checked the size: the object shrank since. */
		cfs_objects_report(o->cache, o->path,
		       o->tree != NULL ? "object is shorter than its fs-verity digest says"
				       : "object is shorter than the image says",
		       0);
		return -EIO;
	}
	r = o->tree != NULL ? cfs_verity_tree_check(o->tree, start, buf, aend - start) : 0;
	if (r < 0) {
		cfs_objects_report(o->cache, o->path,
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

	if (n > 0) {
		memcpy(buf, data, (size_t)n);
		cfs_object_read_ahead(o, offset + (uint64_t)n);
	}
	free(mem);
	return n;
}
