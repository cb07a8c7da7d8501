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
#include <composefs/objects.h>
#include <composefs/verity.h>

#include "common.h"

/* How file contents are checked against the digests recorded in the image. */
enum cfs_fuse_verity {
	CFS_FUSE_VERITY_OFF,	 /* never */
	CFS_FUSE_VERITY_ON,	 /* files whose image entry has a digest */
	CFS_FUSE_VERITY_REQUIRE, /* like ON; backed files without a digest fail with EIO */
};

struct cfs_workers;

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
	struct cfs_objects *cache;  /* backing objects and their Merkle trees */
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

#endif
