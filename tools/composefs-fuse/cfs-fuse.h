/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* composefs-fuse internals shared by main.c, ops.c and objcache.c. */
#ifndef CFS_FUSE_H
#define CFS_FUSE_H

#define FUSE_USE_VERSION 35

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <fuse_lowlevel.h>

#include <composefs/image.h>
#include <composefs/verity.h>

/* How file contents are checked against the digests recorded in the image. */
enum cfs_fuse_verity {
	CFS_FUSE_VERITY_OFF,	 /* never */
	CFS_FUSE_VERITY_ON,	 /* files whose image entry has a digest */
	CFS_FUSE_VERITY_REQUIRE, /* like ON; backed files without a digest fail with EIO */
};

struct cfs_objcache;
struct cfs_workers;

/* Composefs header flag: some inode carries a POSIX ACL. */
#define CFS_FUSE_HEADER_HAS_ACL 1u

/* Daemon state: the fuse session's userdata; read-only once the loop runs. */
struct cfs_fuse {
	struct cfs_image *img;
	uint64_t root_nid;
	uint64_t image_size;
	enum cfs_fuse_verity verity;
	bool acl;		    /* ask the kernel to enforce POSIX ACLs */
	bool image_acls;	    /* the image header says it holds ACLs */
	bool image_labels;	    /* the image may hold security.selinux xattrs */
	bool no_opendir;	    /* the kernel opens directories without asking us */
	double timeout;		    /* entry/attr timeout in seconds */
	unsigned readahead_kb;	    /* read-ahead window to ask for; 0: the kernel's */
	struct cfs_objcache *cache; /* backing objects and their Merkle trees */
	struct cfs_workers *workers; /* for opens and reads of objects; NULL: inline */
};

/* The lowlevel operation table (ops.c). */
extern const struct fuse_lowlevel_ops cfs_fuse_ops;

/*
 * Print "composefs-fuse: message" on stderr, or to syslog once daemonized
 * (fuse_daemonize() points stderr at /dev/null).
 */
void cfs_fuse_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Switch cfs_fuse_log() to syslog (called after fuse_daemonize()). */
void cfs_fuse_log_to_syslog(void);

/* ---- workers.c: a thread pool for requests that may block ---- */

/* A request handed to a worker: @run answers @req from the copied arguments. */
struct cfs_fuse_job {
	struct cfs_fuse_job *next; /* queue link, owned by the pool */
	void (*run)(struct cfs_fuse_job *job);
	fuse_req_t req;
	fuse_ino_t ino;
	struct fuse_file_info fi;
	size_t size;
	off_t off;
};

/* Start @n worker threads; @n == 0 gives *@out = NULL (every job runs inline). */
int cfs_workers_new(unsigned n, struct cfs_workers **out);
/*
 * Queue a copy of @job for a worker, or run it at once in the calling thread
 * when @w is NULL or the queue entry cannot be allocated.
 */
void cfs_workers_submit(struct cfs_workers *w, const struct cfs_fuse_job *job);
/* Finish the queued jobs, stop the threads and free the pool (NULL is fine). */
void cfs_workers_free(struct cfs_workers *w);

/* ---- objcache.c: backing objects and the bounded Merkle-tree cache ---- */

/*
 * An opened backing object. @tree is NULL when reads are not verified.
 * Owned by whoever opened it; give it back with cfs_objcache_close().
 */
struct cfs_object {
	struct cfs_objcache *cache;
	int fd;
	uint64_t size; /* of the object file (tree size if verified) */
	const struct cfs_verity_tree *tree;
	struct cfs_tree_entry *entry; /* cache reference held while open */
	char path[];		      /* redirect path "XX/rest", for messages */
};

/*
 * Create the cache. @basedir_fds (@n_basedirs, searched in order; the cache
 * takes ownership of the descriptors), @cache_dirfd: directory for persistent
 * trees or -1 (owned), @mem_limit: bytes of trees kept in memory when unused.
 */
int cfs_objcache_new(int *basedir_fds, size_t n_basedirs, int cache_dirfd, size_t mem_limit,
		     struct cfs_objcache **out);
void cfs_objcache_free(struct cfs_objcache *c);

/*
 * Open the object named by @redirect (leading '/' allowed) in the first
 * basedir that has it. With @digest non-NULL, find or build (or load) its
 * Merkle tree and check the root against @digest. Failures (missing,
 * mismatching, unreadable object) are logged once per object and return -EIO.
 */
int cfs_objcache_open(struct cfs_objcache *c, const char *redirect, const uint8_t *digest,
		      struct cfs_object **out);
void cfs_objcache_close(struct cfs_objcache *c, struct cfs_object *o);

/*
 * Log "object PATH: WHY[: strerror(err)]" unless PATH was already reported
 * (a broken object is named once, however often it is opened).
 */
void cfs_objcache_report(struct cfs_objcache *c, const char *path, const char *why, int err);

/*
 * Read @len bytes at @offset (clipped at end of file), checked against the
 * object's Merkle tree when it has one. On success returns the byte count and
 * sets *@buf_out (malloc'd, caller frees) and *@data_out (the requested bytes
 * inside it). -EIO on a read error or a failed check (logged, naming the object).
 */
ssize_t cfs_object_read(struct cfs_object *o, uint64_t offset, size_t len, char **buf_out, const char **data_out);

/* Counters for tests and debugging (-d prints them at exit). */
struct cfs_objcache_stats {
	uint64_t trees_built, trees_loaded, trees_saved, tree_hits, evictions;
	size_t mem_used;
};
void cfs_objcache_get_stats(struct cfs_objcache *c, struct cfs_objcache_stats *st);

#endif
