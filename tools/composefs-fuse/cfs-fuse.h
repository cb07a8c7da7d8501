/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* composefs-fuse internals shared by main.c, ops.c and objcache.c. */
#ifndef CFUSE_H
#define CFUSE_H

#define FUSE_USE_VERSION 35

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <fuse_lowlevel.h>

#include <composefs/image.h>
#include <composefs/fetch.h>
#include <composefs/objects.h>
#include <composefs/store.h>
#include <composefs/verity.h>

#include "common.h"

/* How file contents are checked against the digests recorded in the image. */
enum cfuse_verity {
	CFUSE_VERITY_OFF,	 /* never */
	CFUSE_VERITY_ON,	 /* files whose image entry has a digest */
	CFUSE_VERITY_REQUIRE, /* like ON; backed files without a digest fail with EIO */
};

struct cfuse_workers;

/* Daemon state: the fuse session's userdata; read-only once the loop runs. */
struct cfuse {
	struct cfs_image *img;
	uint64_t root_nid;
	uint64_t image_size;
	enum cfuse_verity verity;
	bool acl;		    /* ask the kernel to enforce POSIX ACLs */
	bool image_acls;	    /* the image header says it holds ACLs */
	bool image_labels;	    /* the image may hold security.selinux xattrs */
	bool no_opendir;	    /* the kernel opens directories without asking us */
	double timeout;		    /* entry/attr timeout in seconds */
	unsigned readahead_kb;	    /* read-ahead window to ask for; 0: the kernel's */
	struct cfs_objects *cache;  /* backing objects and their Merkle trees */
	struct cfuse_workers *workers; /* for opens and reads of objects; NULL: inline */
	struct fuse_session *se;    /* for notifications (page cache stores) */
	bool prefill;		    /* store data verified at open in the page cache */
	/* open files, so that those the kernel never releases (a RELEASE still queued when the
	 * session ends) are closed at exit */
	pthread_mutex_t files_lock;
	struct cfuse_open_file *files;
};

/* Close the files the kernel left open when the session ended (ops.c). */
void cfuse_close_open_files(struct cfuse *fs);

/* The lowlevel operation table (ops.c). */
extern const struct fuse_lowlevel_ops cfuse_ops;

/*
 * Print "composefs-fuse: message" on stderr, or to syslog once daemonized
 * (fuse_daemonize() points stderr at /dev/null).
 */
void cfuse_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Switch cfuse_log() to syslog (called after fuse_daemonize()). */
void cfuse_log_to_syslog(void);

/* ---- workers.c: a thread pool for requests that may block ---- */

/* A request handed to a worker: @run answers @req from the copied arguments. */
struct cfuse_job {
	struct cfuse_job *next; /* queue link, owned by the pool */
	void (*run)(struct cfuse_job *job);
	fuse_req_t req;
	fuse_ino_t ino;
	struct fuse_file_info fi;
	size_t size;
	off_t off;
};

/* Start @n worker threads; @n == 0 gives *@out = NULL (every job runs inline). */
int cfuse_workers_new(unsigned n, struct cfuse_workers **out);
/*
 * Queue a copy of @job for a worker, or run it at once in the calling thread
 * when @w is NULL or the queue entry cannot be allocated.
 */
void cfuse_workers_submit(struct cfuse_workers *w, const struct cfuse_job *job);
/* Finish the queued jobs, stop the threads and free the pool (NULL is fine). */
void cfuse_workers_free(struct cfuse_workers *w);

/* ---- remote.c: lazy fetch of missing objects (-o remote=URL) ---- */
struct cfuse_remote;

/* Default -o range_min=: objects from 1 MiB up are read in ranges where the server has trees. */
#define CFUSE_RANGE_MIN_DEFAULT (1024u * 1024u)

/* Fetch handles for @url (@handles of them) storing into the basedir @basedir. */
int cfuse_remote_new(const char *url, const char *basedir, unsigned handles, uint64_t range_min,
		     struct cfuse_remote **out, char *err, size_t errlen);
void cfuse_remote_free(struct cfuse_remote *rm);
/* The objects' fetch hooks (cfs_objects_fetch_fn, _tree_fn, _range_fn), @user a struct cfuse_remote. */
int cfuse_remote_fetch(void *user, const char *path, const uint8_t *digest);
int cfuse_remote_tree(void *user, const char *path, const uint8_t *digest, uint64_t size,
		      struct cfs_verity_tree **tree_out);
int cfuse_remote_range(void *user, const uint8_t *digest, const struct cfs_verity_tree *tree, void *buf,
		       size_t len, uint64_t offset);

#endif
