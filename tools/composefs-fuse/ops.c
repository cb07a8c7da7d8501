/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* composefs-fuse: the FUSE lowlevel operations, answered from the image reader and the objects. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>


#include "cfs-fuse.h"

#define BLOCK 4096u
#define NAME_MAX_LEN 255u
#define CAP_SYS_ADMIN_BIT 21
/* Bytes per page cache store (a notification is one write to /dev/fuse). */
#define PREFILL_CHUNK (8u * 1024 * 1024)
#define PREFILL_THREADS_MAX 8u

/* An open regular file: inline in the image, or backed by an object. */
struct cfuse_open_file {
	uint64_t nid;
	uint64_t size;		/* as recorded in the image */
	struct cfs_object *obj; /* NULL: inline data (or empty) */
	/* the open's one, plus one per read still at work after its reply (read_job()) (atomic) */
	unsigned refs;
	struct cfuse_open_file *prev, *next; /* in fs->files */
};

static void file_track(struct cfuse *fs, struct cfuse_open_file *f)
{
	pthread_mutex_lock(&fs->files_lock);
	f->prev = NULL;
	f->next = fs->files;
	if (fs->files != NULL)
		fs->files->prev = f;
	fs->files = f;
	pthread_mutex_unlock(&fs->files_lock);
}

/* Drop a reference of @f: the last one frees it. */
static void file_put(struct cfuse_open_file *f)
{
	if (__atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL) != 0)
		return;
	cfs_object_close(f->obj);
	free(f);
}

/* Forget @f (released, or left open at exit) and drop the open's reference. */
static void file_close(struct cfuse *fs, struct cfuse_open_file *f)
{
	pthread_mutex_lock(&fs->files_lock);
	if (f->prev != NULL)
		f->prev->next = f->next;
	else
		fs->files = f->next;
	if (f->next != NULL)
		f->next->prev = f->prev;
	pthread_mutex_unlock(&fs->files_lock);
	file_put(f);
}

void cfuse_close_open_files(struct cfuse *fs)
{
	while (fs->files != NULL)
		file_close(fs, fs->files);
}

static struct cfuse *fs_of(fuse_req_t req)
{
	return fuse_req_userdata(req);
}

/*
 * Node ids: the root is FUSE_ROOT_ID, every other inode nid + 2, so ids are
 * stable, hardlinks share one, and no nid collides with the root's id.
 * st_ino reports the plain nid, as the kernel's EROFS does.
 */
static uint64_t nid_of(const struct cfuse *fs, fuse_ino_t ino)
{
	return ino == FUSE_ROOT_ID ? fs->root_nid : (uint64_t)ino - 2;
}

static fuse_ino_t ino_of(const struct cfuse *fs, uint64_t nid)
{
	return nid == fs->root_nid ? FUSE_ROOT_ID : (fuse_ino_t)(nid + 2);
}

/* Reader errors the kernel understands go through; corruption becomes EIO. */
static int fs_errno(int r)
{
	switch (-r) {
	case ENOENT:
	case ENOTDIR:
	case EISDIR:
	case EINVAL:
	case ENODATA:
	case ERANGE:
	case ENAMETOOLONG:
	case ENOMEM:
	case ENOTSUP:
		return -r;
	default:
		return EIO;
	}
}

static void stat_fill(const struct cfs_stat *cs, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = cs->nid;
	st->st_mode = cs->mode;
	st->st_nlink = cs->nlink;
	st->st_uid = cs->uid;
	st->st_gid = cs->gid;
	if (S_ISCHR(cs->mode) || S_ISBLK(cs->mode))
		st->st_rdev = cs->rdev;
	st->st_size = (off_t)cs->size;
	st->st_blksize = BLOCK;
	/* Like EROFS: whole 4 KiB blocks, in 512-byte units. */
	st->st_blocks = (blkcnt_t)(TOOL_ALIGN_UP(cs->size, (uint64_t)BLOCK) / 512);
	st->st_mtim.tv_sec = cs->mtime_sec;
	st->st_mtim.tv_nsec = cs->mtime_nsec;
	st->st_atim = st->st_mtim;
	st->st_ctim = st->st_mtim;
}

/* Attributes as the kernel's overlay mount shows them: 0, 1 for a hidden whiteout, or a positive errno. */
static int stat_nid(struct cfuse *fs, uint64_t nid, struct cfs_stat *cs)
{
	int r = cfs_image_stat_view(fs->img, nid, CFS_XATTR_VIEW_MOUNT, cs);

	return r < 0 ? fs_errno(r) : r;
}

static void entry_fill(struct cfuse *fs, const struct cfs_stat *cs, struct fuse_entry_param *e)
{
	memset(e, 0, sizeof(*e));
	e->ino = ino_of(fs, cs->nid);
	e->generation = 1;
	e->attr_timeout = fs->timeout;
	e->entry_timeout = fs->timeout;
	stat_fill(cs, &e->attr);
}

static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	struct cfuse *fs = userdata;

	if (conn->capable & FUSE_CAP_CACHE_SYMLINKS)
		conn->want |= FUSE_CAP_CACHE_SYMLINKS;
	if (fs->acl && (conn->capable & FUSE_CAP_POSIX_ACL))
		conn->want |= FUSE_CAP_POSIX_ACL;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	/* Always readdirplus: `ls -l` then needs no per-entry lookups. */
	conn->want &= ~FUSE_CAP_READDIRPLUS_AUTO;
	/* The image never changes: never drop cached pages because of mtime. */
	conn->want &= ~FUSE_CAP_AUTO_INVAL_DATA;
	if (conn->capable & FUSE_CAP_PARALLEL_DIROPS)
		conn->want |= FUSE_CAP_PARALLEL_DIROPS;
	/*
	 * Large reads: each request is a round trip and a verified one is
	 * hashed; the kernel takes the smaller of this and the mount's
	 * read-ahead setting (main.c, set_readahead()).
	 */
	if (conn->max_readahead < fs->readahead_kb * 1024u)
		conn->max_readahead = fs->readahead_kb * 1024u;
	/*
	 * Opening a directory needs nothing from us: the first OPENDIR answers
	 * ENOSYS and the kernel then opens directories (with their listings
	 * cached) without a round trip, and sends no RELEASEDIR either.
	 */
	if (conn->capable & FUSE_CAP_NO_OPENDIR_SUPPORT) {
		conn->want |= FUSE_CAP_NO_OPENDIR_SUPPORT;
		fs->no_opendir = true;
	}
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct cfuse *fs = fs_of(req);
	struct fuse_entry_param e;
	struct cfs_stat cs;
	size_t len = strlen(name);
	uint64_t nid;
	int r;

	if (len > NAME_MAX_LEN) {
		fuse_reply_err(req, ENAMETOOLONG);
		return;
	}
	r = cfs_image_lookup(fs->img, nid_of(fs, parent), name, len, &nid);
	if (r == 0) {
		r = stat_nid(fs, nid, &cs);
		r = r == 1 ? -ENOENT : -r;
	}
	if (r == -ENOENT) {
		/* Negative entry, cached as long as positive ones. */
		memset(&e, 0, sizeof(e));
		e.entry_timeout = fs->timeout;
		fuse_reply_entry(req, &e);
		return;
	}
	if (r < 0) {
		fuse_reply_err(req, fs_errno(r));
		return;
	}
	entry_fill(fs, &cs, &e);
	fuse_reply_entry(req, &e);
}

static void op_forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup)
{
	/* Inodes are computed from the image on demand: nothing to release. */
	(void)ino;
	(void)nlookup;
	fuse_reply_none(req);
}

static void op_forget_multi(fuse_req_t req, size_t count, struct fuse_forget_data *forgets)
{
	(void)count;
	(void)forgets;
	fuse_reply_none(req);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cfuse *fs = fs_of(req);
	struct cfs_stat cs;
	struct stat st;
	int r;

	(void)fi;
	r = stat_nid(fs, nid_of(fs, ino), &cs);
	if (r) {
		fuse_reply_err(req, r == 1 ? ENOENT : r);
		return;
	}
	stat_fill(&cs, &st);
	fuse_reply_attr(req, &st, fs->timeout);
}

static void op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct cfuse *fs = fs_of(req);
	char buf[PATH_MAX + 1];
	int r;

	r = cfs_image_readlink(fs->img, nid_of(fs, ino), buf, sizeof(buf));
	if (r < 0) {
		fuse_reply_err(req, fs_errno(r));
		return;
	}
	if ((size_t)r >= sizeof(buf)) {
		fuse_reply_err(req, EIO);
		return;
	}
	buf[r] = '\0';
	fuse_reply_readlink(req, buf);
}

static void op_opendir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cfuse *fs = fs_of(req);
	struct cfs_stat cs;
	int r;

	if (fs->no_opendir) {
		fuse_reply_err(req, ENOSYS);
		return;
	}
	r = stat_nid(fs, nid_of(fs, ino), &cs);
	if (r) {
		fuse_reply_err(req, r == 1 ? ENOENT : r);
		return;
	}
	if (!S_ISDIR(cs.mode)) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	fi->keep_cache = 1;
	fi->cache_readdir = 1;
	fuse_reply_open(req, fi);
}

static void op_releasedir(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	(void)ino;
	(void)fi;
	fuse_reply_err(req, 0);
}

struct readdir_ctx {
	fuse_req_t req;
	struct cfuse *fs;
	char *buf;
	size_t size, used;
	uint64_t index; /* of the entry the callback gets next */
	bool plus;
	int err;
};

static int readdir_cb(void *user, const char *name, size_t namelen, uint64_t nid, unsigned dtype)
{
	struct readdir_ctx *c = user;
	char cname[NAME_MAX_LEN + 1];
	struct cfs_stat cs;
	size_t n;
	uint64_t index = c->index++;
	bool need_stat = c->plus || dtype == DT_CHR || dtype == DT_UNKNOWN;

	if (namelen == 0 || namelen > NAME_MAX_LEN) {
		c->err = EIO;
		return 1;
	}
	memcpy(cname, name, namelen);
	cname[namelen] = '\0';
	if (need_stat) {
		int r = stat_nid(c->fs, nid, &cs);

		/* "." and ".." are never hidden, even in a corrupt image. */
		if (r == 1 && strcmp(cname, ".") && strcmp(cname, ".."))
			return 0;
		if (r && r != 1) {
			c->err = r;
			return 1;
		}
	}
	if (c->plus) {
		struct fuse_entry_param e;

		entry_fill(c->fs, &cs, &e);
		n = fuse_add_direntry_plus(c->req, c->buf + c->used, c->size - c->used, cname, &e,
					   (off_t)(index + 1));
	} else {
		struct stat st;

		memset(&st, 0, sizeof(st));
		st.st_ino = nid;
		st.st_mode = need_stat ? (cs.mode & S_IFMT) : (mode_t)DTTOIF(dtype);
		n = fuse_add_direntry(c->req, c->buf + c->used, c->size - c->used, cname, &st,
				      (off_t)(index + 1));
	}
	if (n > c->size - c->used)
		return 1; /* full; this entry comes first next time */
	c->used += n;
	return 0;
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, bool plus)
{
	struct cfuse *fs = fs_of(req);
	struct readdir_ctx c = {
		.req = req,
		.fs = fs,
		.size = size,
		.index = (uint64_t)off,
		.plus = plus,
	};
	int r;

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	c.buf = malloc(size ? size : 1);
	if (!c.buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	r = cfs_image_readdir(fs->img, nid_of(fs, ino), (uint64_t)off, readdir_cb, &c);
	if (r < 0 && c.used == 0)
		fuse_reply_err(req, fs_errno(r));
	else if (c.err && c.used == 0)
		fuse_reply_err(req, c.err);
	else
		fuse_reply_buf(req, c.buf, c.used);
	free(c.buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		       struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, false);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
			   struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, true);
}

/* Find what backs a regular file and open it under the daemon's verity policy. */
static int open_backing(struct cfuse *fs, struct cfuse_open_file *f)
{
	char *redirect = NULL;
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	enum cfs_hash_alg alg = 0;
	bool has_digest, followed = false;
	int r;

	if (f->size == 0)
		return 0;
	/* one walk of the inode's xattrs gives the redirect, the digest and the metacopy rule */
	r = cfs_image_get_backing_full(fs->img, f->nid, &redirect, &alg, digest, &followed);
	has_digest = alg != 0;
	if (r == -ENODATA || (r == 0 && !redirect))
		return 0; /* data inline in the image, covered by the image digest */
	if (r < 0)
		return -EIO;
	/*
	 * overlayfs follows a file's redirect only when it also has a metacopy
	 * xattr (empty or at least 4 bytes; 1 to 3 is an error); without it a
	 * kernel mount shows the image's own (empty) data. Serving the object
	 * then would give bytes no kernel mount gives.
	 */
	if (!followed) {
		cfuse_log("object %s: a kernel mount would not follow this redirect (no valid metacopy xattr)", redirect);
		free(redirect);
		return -EIO;
	}
	if (fs->verity == CFUSE_VERITY_REQUIRE && !has_digest) {
		cfuse_log("object %s: no fs-verity digest in the image (verity=require)", redirect);
		free(redirect);
		return -EIO;
	}
	/* the digest's own algorithm (sha256 or sha512), as overlayfs checks it */
	r = cfs_objects_open_alg(fs->cache, redirect, alg != 0 ? alg : CFS_HASH_SHA256,
				 fs->verity != CFUSE_VERITY_OFF && has_digest ? digest : NULL, f->size, &f->obj);
	if (r < 0 && r != -ENOMEM)
		r = -EIO; /* missing, mismatching or unreadable: the library said which */
	free(redirect);
	return r;
}

/*
 * The open that built an object's Merkle tree has read and hashed the object
 * (its start, as far as -o prefill_mem allowed) and kept those bytes: store
 * them in the kernel's page cache for this inode before the open returns, so
 * that the reads that usually follow an open find them there instead of
 * asking for them again, each to be read from the object and hashed a second
 * time. Only bytes the tree build verified are stored (kept in this process's
 * memory since they were hashed, never read again from the untrusted store);
 * keep_cache on the open keeps them. A failed store only costs those reads.
 */
struct prefill_job {
	struct cfuse *fs;
	fuse_ino_t ino;
	const char *data;
	size_t len;
	unsigned first, step; /* stores chunks first, first + step, ... */
};

static void *prefill_run(void *arg)
{
	const struct prefill_job *j = arg;

	for (size_t off = (size_t)j->first * PREFILL_CHUNK; off < j->len; off += (size_t)j->step * PREFILL_CHUNK) {
		size_t n = j->len - off < PREFILL_CHUNK ? j->len - off : PREFILL_CHUNK;
		struct fuse_bufvec bv = FUSE_BUFVEC_INIT(n);

		bv.buf[0].mem = (char *)j->data + off;
		if (fuse_lowlevel_notify_store(j->fs->se, j->ino, (off_t)off, &bv, 0) != 0)
			break;
	}
	return NULL;
}

static unsigned usable_cpus(void)
{
	cpu_set_t set;

	return sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0 ? (unsigned)CPU_COUNT(&set) : 1;
}

static void prefill(struct cfuse *fs, fuse_ino_t ino, struct cfs_object *obj)
{
	const void *data;
	size_t len = cfs_object_kept_data(obj, &data);
	struct prefill_job jobs[PREFILL_THREADS_MAX];
	pthread_t tids[PREFILL_THREADS_MAX];
	unsigned n = usable_cpus(), started = 0;

	if (len == 0 || !fs->prefill || fs->se == NULL) {
		cfs_object_kept_drop(obj);
		return;
	}
	/* A store is a copy into the page cache: big ones on every CPU, chunks interleaved. */
	if (n > PREFILL_THREADS_MAX)
		n = PREFILL_THREADS_MAX;
	if (n > (len + PREFILL_CHUNK - 1) / PREFILL_CHUNK)
		n = (unsigned)((len + PREFILL_CHUNK - 1) / PREFILL_CHUNK);
	for (unsigned i = 0; i < n; i++)
		jobs[i] = (struct prefill_job){ .fs = fs, .ino = ino, .data = data, .len = len, .first = i, .step = n };
	for (unsigned i = 1; i < n; i++) {
		if (pthread_create(&tids[i], NULL, prefill_run, &jobs[i]) != 0)
			break;
		started++;
	}
	/* chunks of threads that could not start are simply not stored: reads fetch them */
	prefill_run(&jobs[0]);
	for (unsigned i = 1; i <= started; i++)
		pthread_join(tids[i], NULL);
	cfs_object_kept_drop(obj);
}

/* Open, on a worker: finding the object may wait for I/O or build its Merkle tree. */
static void open_job(struct cfuse_job *job)
{
	fuse_req_t req = job->req;
	fuse_ino_t ino = job->ino;
	struct fuse_file_info *fi = &job->fi;
	struct cfuse *fs = fs_of(req);
	struct cfuse_open_file *f;
	struct cfs_stat cs;
	int r;

	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EROFS);
		return;
	}
	r = stat_nid(fs, nid_of(fs, ino), &cs);
	if (r) {
		fuse_reply_err(req, r == 1 ? ENOENT : r);
		return;
	}
	if (S_ISDIR(cs.mode)) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if (!S_ISREG(cs.mode)) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	f = calloc(1, sizeof(*f));
	if (!f) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	f->nid = cs.nid;
	f->size = cs.size;
	f->refs = 1;
	r = open_backing(fs, f);
	if (r < 0) {
		free(f);
		fuse_reply_err(req, -r);
		return;
	}
	if (f->obj != NULL)
		prefill(fs, ino, f->obj);
	fi->fh = (uintptr_t)f;
	fi->keep_cache = 1;
	file_track(fs, f);
	if (fuse_reply_open(req, fi) != 0)
		file_close(fs, f); /* the opener went away: release() will not come */
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cfuse_job job = {.run = open_job, .req = req, .ino = ino, .fi = *fi};

	cfuse_workers_submit(fs_of(req)->workers, &job);
}

static void op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct cfuse_open_file *f = (struct cfuse_open_file *)(uintptr_t)fi->fh;

	(void)ino;
	if (f)
		file_close(fs_of(req), f);
	fuse_reply_err(req, 0);
}

static void read_inline(fuse_req_t req, struct cfuse *fs, struct cfuse_open_file *f, size_t size,
			off_t off)
{
	char *buf;
	int r;

	if ((uint64_t)off >= f->size || size == 0) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > f->size - (uint64_t)off)
		size = (size_t)(f->size - (uint64_t)off);
	buf = malloc(size);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	r = cfs_image_read_inline(fs->img, f->nid, buf, size, (uint64_t)off);
	if (r < 0)
		fuse_reply_err(req, EIO);
	else
		fuse_reply_buf(req, buf, (size_t)r);
	free(buf);
}

/* Read from the backing object, on a worker: it may wait for the disk and hash. */
static void read_job(struct cfuse_job *job)
{
	struct cfuse_open_file *f = (struct cfuse_open_file *)(uintptr_t)job->fi.fh;
	char *buf;
	const char *data;
	/*
	 * A copy, also when unverified: libfuse's splice path is slower for the
	 * 1 MiB requests a wide read-ahead window brings (1 MiB plus the reply
	 * header does not fit the largest pipe).
	 */
	ssize_t n = cfs_object_read_buf(f->obj, (uint64_t)job->off, job->size, &buf, &data);

	/* once answered, the kernel may release the file at any time: keep it for the hint below */
	__atomic_add_fetch(&f->refs, 1, __ATOMIC_RELAXED);

	if (n < 0)
		fuse_reply_err(job->req, n == -ENOMEM ? ENOMEM : EIO);
	else
		fuse_reply_buf(job->req, data, (size_t)n);
	free(buf);
	/*
	 * Then ask for the bytes after these: a hint may wait for the disk to take the requests,
	 * which must not hold up this reply (another worker answers the next read meanwhile).
	 */
	if (n > 0)
		cfs_object_read_ahead(f->obj, (uint64_t)job->off + (uint64_t)n);
	file_put(f);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct cfuse *fs = fs_of(req);
	struct cfuse_open_file *f = (struct cfuse_open_file *)(uintptr_t)fi->fh;
	struct cfuse_job job = {
		.run = read_job, .req = req, .ino = ino, .fi = *fi, .size = size, .off = off};

	if (off < 0) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	/* Inline data is a copy out of the mapped image: answer it here. */
	if (!f->obj) {
		read_inline(req, fs, f, size, off);
		return;
	}
	cfuse_workers_submit(fs->workers, &job);
}

static void op_lseek(fuse_req_t req, fuse_ino_t ino, off_t off, int whence,
		     struct fuse_file_info *fi)
{
	struct cfuse_open_file *f = (struct cfuse_open_file *)(uintptr_t)fi->fh;
	off_t res;

	(void)ino;
	if (whence != SEEK_DATA && whence != SEEK_HOLE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (off < 0 || (uint64_t)off >= f->size) {
		fuse_reply_err(req, ENXIO);
		return;
	}
	if (!f->obj) {
		fuse_reply_lseek(req, whence == SEEK_DATA ? off : (off_t)f->size);
		return;
	}
	res = cfs_object_lseek(f->obj, off, whence);
	if (res < 0)
		fuse_reply_err(req, errno);
	else
		fuse_reply_lseek(req, res);
}

/* Whether the caller may see trusted.* names (CAP_SYS_ADMIN, as the VFS asks). */
static bool caller_is_admin(fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);
	char path[64], line[256];
	bool admin = ctx->uid == 0;
	FILE *f;

	if (ctx->pid <= 0)
		return admin;
	snprintf(path, sizeof(path), "/proc/%d/status", (int)ctx->pid);
	f = fopen(path, "re");
	if (!f)
		return admin;
	while (fgets(line, sizeof(line), f)) {
		unsigned long long caps;

		if (sscanf(line, "CapEff: %llx", &caps) == 1) {
			admin = (caps >> CAP_SYS_ADMIN_BIT) & 1;
			break;
		}
	}
	fclose(f);
	return admin;
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct cfuse *fs = fs_of(req);
	char *buf = NULL;
	int r;

	/*
	 * An image without ACLs is a file system without ACL support: say so,
	 * and `ls -l` stops asking for every file (each a round trip).
	 */
	if (!fs->image_acls && strncmp(name, "system.posix_acl_", 17) == 0) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	/*
	 * Likewise an image without SELinux labels is a file system without
	 * label support (on an SELinux host the kernel answers this name
	 * itself and never asks us).
	 */
	if (!fs->image_labels && strcmp(name, "security.selinux") == 0) {
		fuse_reply_err(req, EOPNOTSUPP);
		return;
	}
	if (size) {
		buf = malloc(size);
		if (!buf) {
			fuse_reply_err(req, ENOMEM);
			return;
		}
	}
	r = cfs_image_getxattr(fs->img, nid_of(fs, ino), CFS_XATTR_VIEW_MOUNT, name, buf, size);
	if (r < 0)
		fuse_reply_err(req, fs_errno(r));
	else if (size == 0)
		fuse_reply_xattr(req, (size_t)r);
	else
		fuse_reply_buf(req, buf, (size_t)r);
	free(buf);
}

/* Remove trusted.* names from a listxattr(2)-style list; returns the new length. */
static size_t drop_trusted(char *list, size_t len)
{
	size_t in = 0, out = 0;

	while (in < len) {
		size_t n = strnlen(list + in, len - in) + 1;

		if (strncmp(list + in, "trusted.", 8) != 0) {
			memmove(list + out, list + in, n);
			out += n;
		}
		in += n;
	}
	return out;
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct cfuse *fs = fs_of(req);
	uint64_t nid = nid_of(fs, ino);
	char *buf;
	int r, len;

	len = cfs_image_listxattr(fs->img, nid, CFS_XATTR_VIEW_MOUNT, NULL, 0);
	if (len < 0) {
		fuse_reply_err(req, fs_errno(len));
		return;
	}
	buf = malloc((size_t)len + 1);
	if (!buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	r = len ? cfs_image_listxattr(fs->img, nid, CFS_XATTR_VIEW_MOUNT, buf, (size_t)len) : 0;
	if (r < 0) {
		fuse_reply_err(req, fs_errno(r));
	} else {
		size_t n = (size_t)r;

		if (memmem(buf, n, "trusted.", 8) && !caller_is_admin(req))
			n = drop_trusted(buf, n);
		if (size == 0)
			fuse_reply_xattr(req, n);
		else if (n > size)
			fuse_reply_err(req, ERANGE);
		else
			fuse_reply_buf(req, buf, n);
	}
	free(buf);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct cfuse *fs = fs_of(req);
	struct statvfs sv;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = BLOCK;
	sv.f_frsize = BLOCK;
	sv.f_blocks = TOOL_ALIGN_UP(fs->image_size, (uint64_t)BLOCK) / BLOCK;
	sv.f_namemax = NAME_MAX_LEN;
	sv.f_flag = ST_RDONLY;
	fuse_reply_statfs(req, &sv);
}

const struct fuse_lowlevel_ops cfuse_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.forget = op_forget,
	.forget_multi = op_forget_multi,
	.getattr = op_getattr,
	.readlink = op_readlink,
	.opendir = op_opendir,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.releasedir = op_releasedir,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.lseek = op_lseek,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.statfs = op_statfs,
};
