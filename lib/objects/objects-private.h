/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Internals of lib/objects shared by objects.c (opens, reads, tree cache) and ranged.c (ranged
 * fetch). */
#ifndef CFS_OBJECTS_PRIVATE_H
#define CFS_OBJECTS_PRIVATE_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <composefs/objects.h>

#include "hashset.h"
#include "util.h"

#define BLOCK 4096u
#define DIGEST_LEN CFS_VERITY_MAX_DIGEST
/* Ranged fetch: the unit of download, verification and presence. */
#define RANGE_CHUNK (1024u * 1024u)

/* One Merkle tree, shared by every open file backed by the same object. */
struct cfs_tree_entry {
	enum cfs_hash_alg alg;
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
	uint64_t keep_limit;		      /* bytes of build data that may be kept at once */
	struct fetching *fetching;	      /* paths being fetched now (under lock) */
	pthread_cond_t fetched;		      /* a fetch finished */
	struct cfs_objects_partial *partials; /* objects fetched in ranges (under lock) */
	pthread_cond_t chunk;		      /* a chunk (or a whole-object fallback) finished */

	pthread_mutex_t lock;	   /* everything below */
	pthread_cond_t built;	   /* an entry left the "building" state */
	struct cfs_hashset trees;  /* struct cfs_tree_entry *, by digest */
	struct cfs_tree_entry lru; /* sentinel */
	struct cfs_hashset logged; /* char *: names already reported */
	struct cfs_objects_stats st;
	uint64_t keep_used; /* bytes held in struct cfs_object.kept now */
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
struct cfs_objects_partial {
	struct cfs_objects_partial *next;
	uint8_t digest[DIGEST_LEN];
	struct cfs_tree_entry *entry; /* its tree, referenced */
	uint64_t size;
	struct cfs_atomic_file af; /* chunks are written here */
	int rfd;		   /* and read here (the same file) */
	int whole_fd;		   /* -1, or the object fetched whole (server without ranges) */
	bool whole_busy;	   /* that fetch is running */
	bool published;
	unsigned refs; /* open objects */
	size_t n_chunks, n_present;
	uint8_t *chunks; /* CHUNK_* each */
	char path[];
};

struct cfs_object {
	struct cfs_objects *cache;
	struct cfs_objects_partial *part; /* fetched in ranges; then fd is -1 */
	int fd;
	uint64_t size;			    /* of the object file (tree size if verified) */
	const struct cfs_verity_tree *tree; /* NULL: reads are not verified */
	struct cfs_tree_entry *entry;	    /* cache reference held while open */
	uint64_t hinted;		    /* read-ahead asked up to here (atomic; cfs_object_read_ahead()) */
	uint8_t *kept;			    /* verified bytes [0, kept_len) hashed by this open's tree build */
	size_t kept_len;		    /* counted in cache->keep_used */
	char path[];			    /* "XX/rest", for messages */
};

/* objects.c */
/* Tell the report callback about @path, once. */
void cfs_objects_report(struct cfs_objects *c, const char *path, const char *why, int err);
/* First basedir holding @path wins. Returns the fd or -errno (-ENOENT: nowhere). */
int cfs_objects_find(struct cfs_objects *c, const char *path);
/* A referenced, ready tree entry holding @t (taken over; dropped when the digest has one already).
 */
int cfs_objects_tree_adopt(struct cfs_objects *c, enum cfs_hash_alg alg, const uint8_t *digest,
			   struct cfs_verity_tree *t, struct cfs_tree_entry **out);
/* Drop a reference of a tree entry (NULL is fine). */
void cfs_objects_tree_put(struct cfs_objects *c, struct cfs_tree_entry *e);

/* ranged.c: objects fetched in ranges (the set's lock guards their states and the list) */
/* Ask for @path's tree; on success a partial object with no chunk yet (refs 0). 0 or -errno. */
int cfs_objects_partial_new(struct cfs_objects *c, const char *path, const uint8_t *digest,
			    uint64_t size, struct cfs_objects_partial **out);
/* Locked. The partial object of @digest, if one is known. */
struct cfs_objects_partial *cfs_objects_partial_find(struct cfs_objects *c, const uint8_t *digest);
/* Bytes [@start, @end) readable: the descriptor to read them from (owned by @p), or -errno. */
int cfs_objects_partial_ensure(struct cfs_objects *c, struct cfs_objects_partial *p, uint64_t start,
			       uint64_t end);
/* An open of @p ends; a published (or wholly fetched) one goes with its last open. */
void cfs_objects_partial_put(struct cfs_objects *c, struct cfs_objects_partial *p);
/* Free @p (not in the list any more); an unpublished file goes with it. */
void cfs_objects_partial_free(struct cfs_objects *c, struct cfs_objects_partial *p);

#endif
