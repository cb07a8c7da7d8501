/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Private state shared by the directory walk (scan.c) and the content workers (builder.c). */
#ifndef CFS_BUILDER_PRIVATE_H
#define CFS_BUILDER_PRIVATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <composefs/builder.h>

#include "node.h"

struct cfs_objstore_syncer;

struct cfs_workq;

/*
 * A directory being scanned, kept open for the workers that open its files: each opens one
 * name relative to it (one dentry lookup) instead of the whole path from the root.
 */
struct build_dir {
	int fd;
	atomic_uint refs; /* the scanner's, and one per queued job */
};

/* A regular file whose content the workers must read (once per inode). */
struct build_job {
	struct build_ctx *ctx;
	struct cfs_node *node; /* borrowed: the tree holds it */
	char *relpath;         /* relative to the source root */
	struct build_dir *dir; /* holds the file, or NULL: open @relpath from the root */
	const char *name;      /* in @relpath: the file's name in @dir */
};

/* Growable buffers for listing and reading xattrs (one set per thread). */
struct xattr_bufs {
	char *list;
	size_t list_size;
	char *value;
	size_t value_size;
};

struct build_ctx {
	const struct cfs_build_opts *o;
	uint32_t flags;
	enum cfs_hash_alg alg; /* of the digests */
	size_t dsize;
	int rootfd;
	const char *srcpath; /* for messages */
	bool use_proc;       /* xattrs through /proc/self/fd/N/name */

	pthread_mutex_t lock;  /* protects the counters and the error */
	struct cfs_workq *q;   /* the content workers (lib/util/workq.h) */
	/* with a store: publishes batches while the build goes on (objstore-private.h), or NULL */
	struct cfs_objstore_syncer *publisher;
	int err; /* first error (negative errno), 0 if none */
	char errmsg[1024];
	uint64_t files_total, bytes_total;
	atomic_uint_fast64_t files_done, bytes_done;
	atomic_bool failed;
	atomic_bool no_reflink;
	atomic_bool no_direct;  /* the store refused O_DIRECT: staged objects go through the page cache */
	atomic_bool no_noatime; /* O_NOATIME was refused (EPERM): open without it */
	atomic_uint open_dirs;  /* struct build_dir alive (each holds a descriptor) */

	struct xattr_bufs xb; /* the scanner's */

	/* progress */
	uint64_t last_progress_ns;
};

/* Record the first failure (err < 0) with a message "srcpath/relpath: what: strerror". */
void cfs_build_fail(struct build_ctx *ctx, int err, const char *relpath, const char *what);
/*
 * Queue a content job; 0 or -ENOMEM. Takes ownership of @relpath (even on error). With @dir
 * (whose reference the job takes, released when it ran), the file is @name in it.
 */
int cfs_build_push_job(struct build_ctx *ctx, struct cfs_node *node, char *relpath,
		       struct build_dir *dir, const char *name);
/* A struct build_dir for @fd, or NULL when too many are open (then @fd stays the caller's). */
struct build_dir *cfs_build_dir_new(struct build_ctx *ctx, int fd);
/* Drop a reference; the last closes the descriptor. NULL is fine. */
void cfs_build_dir_unref(struct build_ctx *ctx, struct build_dir *dir);
/* Report progress if enough time has passed (or @force). Caller's thread only. */
void cfs_build_report(struct build_ctx *ctx, bool scanning, bool force);
/* Allocate / release xattr buffers. */
int cfs_build_xattr_bufs_init(struct xattr_bufs *b);
void cfs_build_xattr_bufs_free(struct xattr_bufs *b);
/*
 * Add the xattrs (as the flags select) of the file open as @fd, or if @fd < 0
 * of @path (not following a final symlink), to @node. Reports failures.
 */
int cfs_build_read_xattrs(struct build_ctx *ctx, struct xattr_bufs *b, struct cfs_node *node,
			  int fd, const char *path, const char *relpath);
/* Walk the directory tree breadth-first, building nodes and queueing jobs. */
int cfs_build_scan(struct build_ctx *ctx, struct cfs_node **root_out);

#endif
