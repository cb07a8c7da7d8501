/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Directory builder: worker threads read each file once to inline, hash and store it. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <composefs/verity.h>

#include "builder-private.h"
#include "objstore-private.h"
#include "util.h"
#include "verity-private.h"
#include "workq.h"

/* Files up to this size are read whole (and written from that copy when stored). */
#define WORK_BUF_SIZE (1024 * 1024)
/*
 * Staged objects at least this large are written with O_DIRECT: the bytes that were hashed go
 * from our buffer to the device, without being copied into the page cache first (on this
 * project's test machine that copy costs more than the disk write it precedes, and it evicts
 * the page cache of the source being read). Smaller ones are not worth a synchronous write.
 */
#define DIRECT_MIN (64 * 1024)
#define PROGRESS_INTERVAL_NS 250000000ull
/*
 * Files queued for the workers at most: the walk is many times faster than the hashing and
 * would otherwise hold a job and a path for nearly every file of the tree at once. Half of
 * this (when the walk goes on again) still keeps the workers busy for tens of milliseconds.
 */
#define MAX_QUEUED_FILES 1024
/*
 * Directories kept open for the workers at most (each is a descriptor: with the default limit
 * of 1024 per process, a tree with one file per directory must not exhaust it). Beyond, the
 * files of a directory are opened by their path from the root.
 */
#define MAX_OPEN_DIRS 256
/*
 * With a batch store, this many staged objects are published (synced, then renamed) on a
 * thread of their own while the build goes on: the renames, one per object, would otherwise
 * all come after the last file, on one thread, with the other CPUs idle.
 */
#define PUBLISH_EVERY 4096
#define KNOWN_FLAGS                                                                          \
	(CFS_BUILD_SKIP_XATTRS | CFS_BUILD_USER_XATTRS | CFS_BUILD_SKIP_DEVICES |            \
	 CFS_BUILD_USE_EPOCH | CFS_BUILD_COMPUTE_DIGEST)

void cfs_build_opts_init(struct cfs_build_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->inline_max = CFS_BUILD_INLINE_DEFAULT;
}

void cfs_build_fail(struct build_ctx *ctx, int err, const char *relpath, const char *what)
{
	size_t slen = strlen(ctx->srcpath);
	const char *sep = relpath[0] && slen > 0 && ctx->srcpath[slen - 1] != '/' ? "/" : "";
	char ebuf[128];

	pthread_mutex_lock(&ctx->lock);
	if (ctx->err == 0) {
		ctx->err = err;
		if (err == -EIO && strcmp(what, "changed") == 0)
			snprintf(ctx->errmsg, sizeof(ctx->errmsg), "%s%s%s: file changed while reading",
				 ctx->srcpath, sep, relpath);
		else
			snprintf(ctx->errmsg, sizeof(ctx->errmsg), "%s%s%s: %s: %s", ctx->srcpath,
				 sep, relpath, what, strerror_r(-err, ebuf, sizeof(ebuf)));
		atomic_store(&ctx->failed, true);
	}
	pthread_mutex_unlock(&ctx->lock);
}

static void run_job(void *state, void *arg);

struct build_dir *cfs_build_dir_new(struct build_ctx *ctx, int fd)
{
	struct build_dir *dir;

	if (atomic_fetch_add(&ctx->open_dirs, 1) >= MAX_OPEN_DIRS) {
		atomic_fetch_sub(&ctx->open_dirs, 1);
		return NULL;
	}
	dir = malloc(sizeof(*dir));
	if (dir == NULL) {
		atomic_fetch_sub(&ctx->open_dirs, 1);
		return NULL;
	}
	dir->fd = fd;
	atomic_init(&dir->refs, 1);
	return dir;
}

void cfs_build_dir_unref(struct build_ctx *ctx, struct build_dir *dir)
{
	if (dir == NULL || atomic_fetch_sub(&dir->refs, 1) != 1)
		return;
	close(dir->fd);
	free(dir);
	atomic_fetch_sub(&ctx->open_dirs, 1);
}

int cfs_build_push_job(struct build_ctx *ctx, struct cfs_node *node, char *relpath,
		       struct build_dir *dir, const char *name)
{
	struct build_job *job = malloc(sizeof(*job));
	int r;

	if (job == NULL) {
		free(relpath);
		return -ENOMEM;
	}
	if (dir != NULL)
		atomic_fetch_add(&dir->refs, 1);
	*job = (struct build_job){ .ctx = ctx, .node = node, .relpath = relpath, .dir = dir, .name = name };
	r = cfs_workq_submit(ctx->q, run_job, job);
	if (r < 0) {
		cfs_build_dir_unref(ctx, job->dir);
		free(job->relpath);
		free(job);
		return r;
	}
	pthread_mutex_lock(&ctx->lock);
	ctx->files_total++;
	pthread_mutex_unlock(&ctx->lock);
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void cfs_build_report(struct build_ctx *ctx, bool scanning, bool force)
{
	struct cfs_build_progress p;
	uint64_t t;

	if (ctx->o->progress == NULL)
		return;
	t = now_ns();
	if (!force && t - ctx->last_progress_ns < PROGRESS_INTERVAL_NS)
		return;
	ctx->last_progress_ns = t;
	pthread_mutex_lock(&ctx->lock);
	p = (struct cfs_build_progress){
		.scanning = scanning,
		.files_total = ctx->files_total,
		.bytes_total = ctx->bytes_total,
	};
	pthread_mutex_unlock(&ctx->lock);
	p.files_done = atomic_load(&ctx->files_done);
	p.bytes_done = atomic_load(&ctx->bytes_done);
	ctx->o->progress(ctx->o->progress_user, &p);
}

/* ---- workers ------------------------------------------------------------------ */

/* What each content worker owns (the work queue's per-worker state). */
struct worker {
	struct build_ctx *ctx;
	struct cfs_verity_ctx *vctx;
	uint8_t *buf;
	struct xattr_bufs xb;
};

/*
 * read(2) into @buf up to @want bytes, retrying on EINTR only: a short count from a regular
 * file means its end was reached. The bytes read, or a negative errno.
 */
static ssize_t read_once(int fd, void *buf, size_t want)
{
	for (;;) {
		ssize_t n = read(fd, buf, want);

		if (n >= 0 || errno != EINTR)
			return n >= 0 ? n : -errno;
	}
}

/*
 * Read exactly @size bytes of @fd into @buf (which has room for @size + 1) and see its end,
 * without the read(2) that returns 0: the request asks for one byte more than remains, and a
 * count short of it is the end of the file. -ESTALE when the file is shorter or longer than
 * @size (it changed since it was measured), another negative errno on a read error.
 */
static int read_whole(int fd, uint8_t *buf, size_t size)
{
	size_t done = 0;

	for (;;) {
		size_t left = size - done;
		ssize_t n = read_once(fd, buf + done, left + 1);

		if (n < 0)
			return (int)n;
		if ((size_t)n > left || (n == 0 && left > 0))
			return -ESTALE; /* grew or shrank */
		done += (size_t)n;
		if (done == size)
			return 0; /* a short count at the very end: nothing beyond @size */
	}
}

/* Read a file of @size <= WORK_BUF_SIZE bytes whole into w->buf, hashing as it comes. */
static int hash_small(struct worker *w, int fd, uint64_t size, uint8_t *digest, const char **what)
{
	/*
	 * One read(2) for the whole file, then the hash: a copy out of the page cache costs less
	 * per byte in larger pieces (its fixed cost per call), and the hash, bound by its own
	 * arithmetic, does not wait on the caches for at most WORK_BUF_SIZE bytes.
	 */
	int r = read_whole(fd, w->buf, (size_t)size);

	if (r < 0) {
		*what = r == -ESTALE ? "changed" : "read";
		return r == -ESTALE ? -EIO : r;
	}
	r = cfs_verity_update(w->vctx, w->buf, (size_t)size);
	if (r < 0) {
		cfs_verity_final(w->vctx, digest); /* reset for the next file */
		*what = "digest";
		return r;
	}
	r = cfs_verity_final(w->vctx, digest);
	if (r < 0)
		*what = "digest";
	return r;
}

/* pwrite(2) all of @buf at @off; 0 or a negative errno. */
static int pwrite_all(int fd, const uint8_t *buf, size_t len, uint64_t off)
{
	while (len > 0) {
		ssize_t n = pwrite(fd, buf, len, (off_t)off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -EIO;
		buf += n;
		len -= (size_t)n;
		off += (uint64_t)n;
	}
	return 0;
}

/* Set or clear O_DIRECT on the descriptor of a staged object; 0 or a negative errno. */
static int set_direct(int fd, bool on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return -errno;
	if (fcntl(fd, F_SETFL, on ? fl | O_DIRECT : fl & ~O_DIRECT) < 0)
		return -errno;
	return 0;
}

/* A staged object's descriptor, and whether it has O_DIRECT (see DIRECT_MIN). */
struct stage_out {
	struct build_ctx *ctx;
	int fd;
	bool direct;
};

static struct stage_out stage_out_open(struct build_ctx *ctx, struct cfs_objstore_stage *st, uint64_t size)
{
	struct stage_out o = { .ctx = ctx, .fd = cfs_objstore_stage_fd(st) };

	/* a filesystem without O_DIRECT refuses it here (EINVAL): all through the page cache */
	if (size >= DIRECT_MIN && !atomic_load_explicit(&ctx->no_direct, memory_order_relaxed)) {
		o.direct = set_direct(o.fd, true) == 0;
		if (!o.direct)
			atomic_store_explicit(&ctx->no_direct, true, memory_order_relaxed);
	}
	return o;
}

/*
 * Write @len bytes of @buf (block-aligned) at @off (a multiple of the block size) into a staged
 * object. With O_DIRECT the whole blocks go straight to the device; a partial last block
 * cannot, so O_DIRECT is cleared for it (the descriptor is this object's alone; another piece
 * written meanwhile merely goes through the page cache too). The batch's syncfs() makes both
 * durable before the object gets its name, as for any staged object.
 */
static int stage_pwrite(struct stage_out *o, const uint8_t *buf, size_t len, uint64_t off)
{
	size_t whole = o->direct ? len & ~(size_t)(CFS_VERITY_BLOCK_SIZE - 1) : 0;
	int r = 0;

	if (whole > 0) {
		r = pwrite_all(o->fd, buf, whole, off);
		if (r == -EINVAL) {
			/* alignment this device does not take: write through the page cache */
			atomic_store_explicit(&o->ctx->no_direct, true, memory_order_relaxed);
			whole = 0;
			r = 0;
		}
		if (r < 0)
			return r;
	}
	if (whole == len)
		return 0;
	if (o->direct) {
		r = set_direct(o->fd, false);
		if (r < 0)
			return r;
		o->direct = false;
	}
	return pwrite_all(o->fd, buf + whole, len - whole, off + whole);
}

static int stage_sink(void *user, const void *buf, size_t len, uint64_t off)
{
	/* the copy of the flag is per call: threads share @user */
	struct stage_out o = *(struct stage_out *)user;

	return stage_pwrite(&o, buf, len, off);
}

/* After an object was staged: hand a full batch to the publisher (a failed one ends the build). */
static void maybe_publish(struct build_ctx *ctx)
{
	int r;

	if (ctx->publisher == NULL || cfs_objstore_n_staged(ctx->o->store) < PUBLISH_EVERY)
		return;
	r = cfs_objstore_syncer_kick(ctx->publisher);
	if (r < 0)
		cfs_build_fail(ctx, r, "", "publish objects");
}

/*
 * Store a file that was read completely into w->buf, from that buffer: the bytes hashed are the
 * bytes stored. (A reflink of the source would share its extents, but the source may have
 * changed since it was read, and the object would then not be what its name says.)
 */
static int store_small(struct worker *w, size_t size, const uint8_t *digest)
{
	struct build_ctx *ctx = w->ctx;
	struct cfs_objstore *store = ctx->o->store;
	struct cfs_objstore_stage *st;
	int r;

	r = cfs_objstore_has(store, digest);
	if (r != 0)
		return r < 0 ? r : 0;
	r = cfs_objstore_stage_new(store, &st);
	if (r < 0)
		return r;
	{
		struct stage_out o = stage_out_open(ctx, st, size);

		r = stage_pwrite(&o, w->buf, size, 0);
	}
	if (r < 0) {
		cfs_objstore_stage_free(st);
		return r;
	}
	r = cfs_objstore_stage_commit(st, digest);
	if (r == 0)
		maybe_publish(ctx);
	return r;
}

static int set_digest_payload(struct build_ctx *ctx, struct cfs_node *node, const uint8_t *digest)
{
	char path[2 * CFS_VERITY_MAX_DIGEST + 2];
	int r = cfs_objstore_digest_path(digest, ctx->dsize, path, sizeof(path));

	if (r < 0)
		return r;
	cfs_node_set_digest_alg(node, ctx->alg, digest);
	return cfs_node_set_payload(node, path);
}

/*
 * A file larger than the work buffer: hashed on several threads. With a store it is reflinked
 * into a staged object when the filesystem can, and then the staged copy, which nobody else
 * writes, is what gets hashed; else each piece read is hashed and then written into the staged
 * object from the same buffer. Either way the digest names exactly the bytes stored.
 */
static int process_large(struct worker *w, int fd, uint64_t size, uint8_t *digest, const char **what)
{
	struct build_ctx *ctx = w->ctx;
	struct cfs_objstore *store = ctx->o->store;
	struct cfs_objstore_stage *st = NULL;
	unsigned threads = cfs_workq_threads(ctx->q);
	int r;

	if (store == NULL) {
		r = cfs_verity_digest_fd_threads(fd, ctx->alg, size, threads, false, digest);
		*what = r == -ESTALE ? "changed" : "digest";
		return r == -ESTALE ? -EIO : r;
	}
	r = cfs_objstore_stage_new(store, &st);
	if (r < 0) {
		*what = "create object";
		return r;
	}
	r = -EOPNOTSUPP;
	if (!atomic_load(&ctx->no_reflink)) {
		r = cfs_objstore_stage_clone(st, fd);
		if (r == -EOPNOTSUPP)
			atomic_store(&ctx->no_reflink, true);
	}
	if (r == 0) {
		/* our own staged copy can be mapped: nobody truncates it under us */
		r = cfs_verity_digest_fd_threads(cfs_objstore_stage_fd(st), ctx->alg, size, threads, true, digest);
		*what = "digest";
	} else if (r == -EOPNOTSUPP) {
		struct stage_out o = stage_out_open(ctx, st, size);

		r = cfs_verity_digest_fd_sink(fd, ctx->alg, size, threads, stage_sink, &o, digest);
		*what = "copy";
	} else {
		*what = "copy";
	}
	if (r < 0) {
		cfs_objstore_stage_free(st);
		if (r == -ESTALE)
			*what = "changed";
		return r == -ESTALE ? -EIO : r;
	}
	r = cfs_objstore_stage_commit(st, digest);
	if (r < 0)
		*what = "store object";
	else
		maybe_publish(ctx);
	return r;
}

static int process_digest(struct worker *w, int fd, struct cfs_node *node, const char **what)
{
	struct cfs_objstore *store = w->ctx->o->store;
	uint64_t size = node->size;
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	int r;

	if (size > WORK_BUF_SIZE) {
		r = process_large(w, fd, size, digest, what);
	} else {
		r = hash_small(w, fd, size, digest, what);
		if (r == 0 && store != NULL) {
			r = store_small(w, (size_t)size, digest);
			if (r < 0)
				*what = "store object";
		}
	}
	if (r < 0)
		return r;
	r = set_digest_payload(w->ctx, node, digest);
	if (r < 0)
		*what = "payload";
	return r;
}

/*
 * Open a source file for reading: @job->name in the directory the scan still holds open (no
 * symbolic link followed: O_NOFOLLOW, and the directory was opened without following any), or
 * else its path from the root, resolved without following any symbolic link either.
 * O_NOATIME: reading the tree does not dirty every inode of it (with relatime, the first read
 * in a day would); it is refused (EPERM) for files the caller neither owns nor has CAP_FOWNER
 * for, and then the build goes on without it. O_NONBLOCK: a FIFO put in the file's place does
 * not block the open.
 */
static int open_source(struct build_ctx *ctx, const struct build_job *job)
{
	int flags = O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;

	for (;;) {
		bool noatime = !atomic_load_explicit(&ctx->no_noatime, memory_order_relaxed);
		int f = flags | (noatime ? O_NOATIME : 0);
		int fd;

		if (job->dir != NULL) {
			fd = openat(job->dir->fd, job->name, f);
			if (fd < 0)
				fd = -errno;
		} else {
			fd = cfs_open_beneath(ctx->rootfd, job->relpath, f, true);
		}
		if (fd != -EPERM || !noatime)
			return fd;
		atomic_store_explicit(&ctx->no_noatime, true, memory_order_relaxed);
	}
}

static int process_job(struct worker *w, const struct build_job *job)
{
	struct build_ctx *ctx = w->ctx;
	struct cfs_node *node = job->node;
	const char *what = NULL;
	int fd, r;

	/*
	 * No symbolic link anywhere: the scan saw directories and a file there. The scan's stat
	 * is not repeated: what is read must be exactly node->size bytes (read_whole() and
	 * cfs_verity_digest_fd_threads() see the end of the file), anything but a regular file
	 * fails to read (O_NONBLOCK: a FIFO put there does not block the open).
	 */
	fd = open_source(ctx, job);
	if (fd < 0) {
		r = fd;
		cfs_build_fail(ctx, r, job->relpath, r == -ELOOP ? "open (changed into a symbolic link)" : "open");
		return r;
	}
	if ((r = cfs_build_read_xattrs(ctx, &w->xb, node, fd, NULL, job->relpath)) < 0) {
		close(fd);
		return r; /* already reported */
	} else if (node->size <= ctx->o->inline_max) {
		r = read_whole(fd, w->buf, (size_t)node->size);
		if (r < 0) {
			what = r == -ESTALE ? "changed" : "read";
			r = r == -ESTALE ? -EIO : r;
		} else {
			r = cfs_node_set_content(node, w->buf, (size_t)node->size);
			what = "content";
		}
	} else if (ctx->flags & CFS_BUILD_COMPUTE_DIGEST) {
		r = process_digest(w, fd, node, &what);
	} else {
		/* nothing is read: the file is still what the scan saw, or the build fails */
		struct stat st;

		if (fstat(fd, &st) < 0) {
			r = -errno;
			what = "stat";
		} else if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != node->size) {
			r = -EIO;
			what = "changed";
		} else {
			r = cfs_node_set_payload(node, job->relpath);
			what = "payload";
		}
	}
	close(fd);
	if (r < 0)
		cfs_build_fail(ctx, r, job->relpath, what ? what : "read");
	return r;
}

static void run_job(void *state, void *arg)
{
	struct worker *w = state;
	struct build_job *job = arg;
	struct build_ctx *ctx = job->ctx;

	/* after a failure the rest is only drained */
	if (!atomic_load(&ctx->failed) && process_job(w, job) == 0) {
		atomic_fetch_add(&ctx->files_done, 1);
		atomic_fetch_add(&ctx->bytes_done, job->node->size);
	}
	cfs_build_dir_unref(ctx, job->dir);
	free(job->relpath);
	free(job);
}

static int worker_init(void *state, void *user)
{
	struct worker *w = state;

	w->ctx = user;
	/* + 1: read_whole() asks for a byte past the end; aligned: written with O_DIRECT */
	w->buf = aligned_alloc(CFS_VERITY_BLOCK_SIZE, WORK_BUF_SIZE + CFS_VERITY_BLOCK_SIZE);
	if (w->buf == NULL || cfs_build_xattr_bufs_init(&w->xb) < 0)
		return -ENOMEM;
	return cfs_verity_ctx_new(w->ctx->alg, &w->vctx);
}

static void worker_fini(void *state, void *user)
{
	struct worker *w = state;

	(void)user;
	free(w->buf);
	cfs_build_xattr_bufs_free(&w->xb);
	cfs_verity_ctx_free(w->vctx);
}

static int check_opts(const struct cfs_build_opts *o)
{
	if (o->flags & ~KNOWN_FLAGS)
		return -EINVAL;
	if ((o->flags & CFS_BUILD_SKIP_XATTRS) && (o->flags & CFS_BUILD_USER_XATTRS))
		return -EINVAL;
	if (o->inline_max > CFS_INLINE_MAX)
		return -EINVAL;
	if (o->hash_alg != 0 && cfs_verity_digest_size((enum cfs_hash_alg)o->hash_alg) == 0)
		return -EINVAL;
	if (o->store != NULL && (!(o->flags & CFS_BUILD_COMPUTE_DIGEST) ||
				 (o->hash_alg != 0 && cfs_objstore_get_alg(o->store) != (enum cfs_hash_alg)o->hash_alg)))
		return -EINVAL;
	return 0;
}

static void ctx_destroy(struct build_ctx *ctx)
{
	cfs_workq_free(ctx->q); /* drains what is left (skipped after a failure) */
	cfs_objstore_syncer_free(ctx->publisher); /* after the workers: they may ask for one more batch */
	cfs_build_xattr_bufs_free(&ctx->xb);
	pthread_mutex_destroy(&ctx->lock);
	if (ctx->rootfd >= 0)
		close(ctx->rootfd);
}

static int ctx_init(struct build_ctx *ctx, int atdirfd, const char *path,
		    const struct cfs_build_opts *o)
{
	struct stat st;

	memset(ctx, 0, sizeof(*ctx));
	ctx->rootfd = -1;
	ctx->o = o;
	ctx->flags = o->flags;
	ctx->alg = o->hash_alg != 0	 ? (enum cfs_hash_alg)o->hash_alg
		   : o->store != NULL ? cfs_objstore_get_alg(o->store)
				      : CFS_HASH_SHA256;
	ctx->dsize = cfs_verity_digest_size(ctx->alg);
	ctx->srcpath = path;
	pthread_mutex_init(&ctx->lock, NULL);
	ctx->use_proc = access("/proc/self/fd", X_OK) == 0;
	ctx->last_progress_ns = now_ns(); /* first report after one interval */
	if (cfs_build_xattr_bufs_init(&ctx->xb) < 0)
		return -ENOMEM;
	ctx->rootfd = openat(atdirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (ctx->rootfd < 0) {
		int r = -errno;

		if (r == -ENOTDIR || (r == -ENOENT && fstatat(atdirfd, path, &st, 0) == 0))
			r = -ENOTDIR;
		cfs_build_fail(ctx, r, "", "open");
		return r;
	}
	return 0;
}

static void copy_err(const struct build_ctx *ctx, int r, char *errbuf, size_t errlen)
{
	if (errbuf == NULL || errlen == 0)
		return;
	if (ctx->errmsg[0]) {
		snprintf(errbuf, errlen, "%s", ctx->errmsg);
	} else {
		char ebuf[128];

		snprintf(errbuf, errlen, "%s: %s", ctx->srcpath, strerror_r(-r, ebuf, sizeof(ebuf)));
	}
}

static void progress_tick(void *user)
{
	cfs_build_report(user, false, false);
}

int cfs_build_from_dir(int atdirfd, const char *path, const struct cfs_build_opts *o,
		       struct cfs_node **root_out, char *errbuf, size_t errlen)
{
	struct cfs_build_opts defaults;
	struct cfs_node *root = NULL;
	struct build_ctx ctx;
	int r;

	*root_out = NULL;
	if (o == NULL) {
		cfs_build_opts_init(&defaults);
		o = &defaults;
	}
	if (errbuf && errlen)
		errbuf[0] = '\0';
	r = check_opts(o);
	if (r < 0) {
		if (errbuf && errlen)
			snprintf(errbuf, errlen, "invalid build options");
		return r;
	}
	r = ctx_init(&ctx, atdirfd, path, o);
	if (r < 0)
		goto out;

	{
		struct cfs_workq_opts wo = {
			.threads = o->threads,
			.state_size = sizeof(struct worker),
			.init = worker_init,
			.fini = worker_fini,
			.user = &ctx,
			.max_pending = MAX_QUEUED_FILES,
		};

		r = cfs_workq_new(&wo, &ctx.q);
	}
	if (r == 0 && o->store != NULL) {
		r = cfs_objstore_syncer_new(o->store, &ctx.publisher);
		if (r < 0)
			cfs_build_fail(&ctx, r, "", "start the publisher");
	}
	if (r == 0)
		r = cfs_build_scan(&ctx, &root);
	else
		cfs_build_fail(&ctx, r, "", "start workers");
	if (r < 0)
		cfs_build_fail(&ctx, r, "", "scan");
	if (ctx.q != NULL)
		cfs_workq_wait(ctx.q, o->progress != NULL ? PROGRESS_INTERVAL_NS : 0, progress_tick, &ctx);
	/* a publication under way ends before the caller syncs the rest (or frees the store) */
	{
		int rs = cfs_objstore_syncer_free(ctx.publisher);

		ctx.publisher = NULL;
		if (rs < 0)
			cfs_build_fail(&ctx, rs, "", "publish objects");
	}
	if (r == 0 && ctx.err < 0)
		r = ctx.err;
	if (r == 0)
		cfs_build_report(&ctx, false, true);
out:
	if (r < 0) {
		if (ctx.err < 0)
			r = ctx.err;
		copy_err(&ctx, r, errbuf, errlen);
		cfs_node_unref(root);
	} else {
		*root_out = root;
	}
	ctx_destroy(&ctx);
	return r;
}
