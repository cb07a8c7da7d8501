/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Directory walk of the builder: breadth-first, name-sorted, hard links joined. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "builder-private.h"
#include "hashset.h"
#include "util.h"

#define XATTR_BUF_INIT (64 * 1024)

/* A directory waiting to be read. */
struct dir_item {
	struct cfs_node *node; /* borrowed */
	char *relpath;         /* "" for the root */
};

struct dir_queue {
	struct dir_item *items;
	size_t head, n, cap;
};

static int dirq_push(struct dir_queue *q, struct cfs_node *node, char *relpath)
{
	if (q->n == q->cap) {
		size_t cap = q->cap ? 2 * q->cap : 64;
		struct dir_item *it = realloc(q->items, cap * sizeof(*it));

		if (it == NULL) {
			free(relpath);
			return -ENOMEM;
		}
		q->items = it;
		q->cap = cap;
	}
	q->items[q->n++] = (struct dir_item){ .node = node, .relpath = relpath };
	return 0;
}

static void dirq_free(struct dir_queue *q)
{
	for (size_t i = q->head; i < q->n; i++)
		free(q->items[i].relpath);
	free(q->items);
}

/* ---- hard links ------------------------------------------------------------ */

/* An inode seen with st_nlink > 1, to join its names into one node. */
struct link {
	uint64_t dev, ino;     /* the key: no padding */
	struct cfs_node *node; /* borrowed: the tree holds it */
	uint32_t count;        /* names found inside the tree */
};

/* What the walk keeps: directories still to read, inodes with several names. */
struct scan {
	struct dir_queue dirs;
	struct cfs_hashset links; /* struct link */
	char *dents;              /* getdents64(2) buffer, DENTS_BUF_SIZE bytes */
	char *names;              /* the names of the directory being read, NUL-terminated */
	size_t names_cap;
	char **index;             /* pointers into @names, sorted */
	size_t index_cap;
};

static uint64_t link_hash(const struct link *key)
{
	return cfs_hash_u64(key->ino ^ cfs_hash_u64(key->dev));
}

static int link_add(struct scan *sc, dev_t dev, ino_t ino, struct cfs_node *node)
{
	struct link key = { .dev = dev, .ino = ino }, *link;
	int r = cfs_hashset_insert(&sc->links, link_hash(&key), &key, (void **)&link);

	if (r < 0)
		return r;
	*link = (struct link){ .dev = dev, .ino = ino, .node = node, .count = 1 };
	return 0;
}

/* ---- per-entry metadata ----------------------------------------------------- */

static bool keep_xattr(const struct build_ctx *ctx, const char *name)
{
	if (ctx->flags & CFS_BUILD_USER_XATTRS)
		return strncmp(name, "user.", 5) == 0;
	return true;
}

int cfs_build_xattr_bufs_init(struct xattr_bufs *b)
{
	b->list_size = b->value_size = XATTR_BUF_INIT;
	b->list = malloc(b->list_size);
	b->value = malloc(b->value_size);
	return b->list && b->value ? 0 : -ENOMEM;
}

void cfs_build_xattr_bufs_free(struct xattr_bufs *b)
{
	free(b->list);
	free(b->value);
	b->list = b->value = NULL;
}

/* List into b->list, growing it as needed. */
static ssize_t list_xattrs(struct xattr_bufs *b, int fd, const char *path)
{
	for (;;) {
		ssize_t n = fd >= 0 ? flistxattr(fd, b->list, b->list_size)
				    : llistxattr(path, b->list, b->list_size);
		char *p;

		if (n >= 0)
			return n;
		if (errno == ENOTSUP)
			return 0; /* filesystem without xattrs */
		if (errno != ERANGE)
			return -errno;
		n = fd >= 0 ? flistxattr(fd, NULL, 0) : llistxattr(path, NULL, 0);
		if (n < 0)
			return -errno;
		p = realloc(b->list, (size_t)n + 1024);
		if (p == NULL)
			return -ENOMEM;
		b->list = p;
		b->list_size = (size_t)n + 1024;
	}
}

static ssize_t get_xattr(struct xattr_bufs *b, int fd, const char *path, const char *name)
{
	for (;;) {
		ssize_t n = fd >= 0 ? fgetxattr(fd, name, b->value, b->value_size)
				    : lgetxattr(path, name, b->value, b->value_size);
		char *p;

		if (n >= 0)
			return n;
		if (errno != ERANGE)
			return -errno;
		n = fd >= 0 ? fgetxattr(fd, name, NULL, 0) : lgetxattr(path, name, NULL, 0);
		if (n < 0)
			return -errno;
		p = realloc(b->value, (size_t)n + 1);
		if (p == NULL)
			return -ENOMEM;
		b->value = p;
		b->value_size = (size_t)n + 1;
	}
}

int cfs_build_read_xattrs(struct build_ctx *ctx, struct xattr_bufs *b, struct cfs_node *node,
			  int fd, const char *path, const char *relpath)
{
	ssize_t n;

	if (ctx->flags & CFS_BUILD_SKIP_XATTRS)
		return 0;
	n = list_xattrs(b, fd, path);
	if (n < 0) {
		cfs_build_fail(ctx, (int)n, relpath, "listxattr");
		return (int)n;
	}
	for (const char *it = b->list; it < b->list + n; it += strlen(it) + 1) {
		ssize_t vlen;
		int r;

		if (!keep_xattr(ctx, it))
			continue;
		vlen = get_xattr(b, fd, path, it);
		if (vlen == -ENODATA)
			continue; /* removed since the listing */
		if (vlen < 0) {
			cfs_build_fail(ctx, (int)vlen, relpath, "getxattr");
			return (int)vlen;
		}
		r = cfs_node_set_xattr(node, it, b->value, (size_t)vlen);
		if (r < 0) {
			cfs_build_fail(ctx, r, relpath, "xattr");
			return r;
		}
	}
	return 0;
}

/*
 * The xattrs of entry @name of @dfd. Without a per-name *at() xattr call we
 * go through the directory's /proc/self/fd link, which resolves @name
 * relative to it (and does not follow @name itself if it is a symlink).
 */
static int read_entry_xattrs(struct build_ctx *ctx, struct cfs_node *node, int dfd,
			     const char *name, const char *relpath)
{
	char procpath[64 + NAME_MAX];
	_cleanup_free_ char *full = NULL;

	if (ctx->flags & CFS_BUILD_SKIP_XATTRS)
		return 0;
	if (ctx->use_proc) {
		snprintf(procpath, sizeof(procpath), "/proc/self/fd/%d/%s", dfd, name);
		return cfs_build_read_xattrs(ctx, &ctx->xb, node, -1, procpath, relpath);
	}
	if (asprintf(&full, "%s/%s", ctx->srcpath, relpath) < 0) {
		full = NULL;
		return -ENOMEM;
	}
	return cfs_build_read_xattrs(ctx, &ctx->xb, node, -1, full, relpath);
}

static int read_symlink(struct build_ctx *ctx, struct cfs_node *node, int dfd, const char *name,
			const struct stat *st, const char *relpath)
{
	size_t size = st->st_size > PATH_MAX ? (size_t)st->st_size + 1 : PATH_MAX + 1;

	for (;;) {
		_cleanup_free_ char *buf = malloc(size);
		ssize_t n;
		int r;

		if (buf == NULL)
			return -ENOMEM;
		n = readlinkat(dfd, name, buf, size);
		if (n < 0) {
			r = -errno;
			cfs_build_fail(ctx, r, relpath, "readlink");
			return r;
		}
		if ((size_t)n < size) {
			buf[n] = '\0';
			r = cfs_node_set_payload(node, buf);
			if (r == 0)
				cfs_node_set_size(node, (uint64_t)n);
			return r;
		}
		size *= 2;
	}
}

static struct cfs_node *node_from_stat(const struct build_ctx *ctx, const struct stat *st)
{
	struct cfs_node *n = cfs_node_new(st->st_mode);

	if (n == NULL)
		return NULL;
	cfs_node_set_uid(n, st->st_uid);
	cfs_node_set_gid(n, st->st_gid);
	if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		cfs_node_set_rdev(n, (uint32_t)st->st_rdev);
	if (S_ISREG(st->st_mode))
		cfs_node_set_size(n, (uint64_t)st->st_size);
	if (!(ctx->flags & CFS_BUILD_USE_EPOCH))
		cfs_node_set_mtime(n, st->st_mtim.tv_sec, (uint32_t)st->st_mtim.tv_nsec);
	return n;
}

static char *join_rel(const char *dir, const char *name)
{
	size_t dlen = strlen(dir), nlen = strlen(name) + 1;
	char *p = malloc(dlen + 1 + nlen);

	if (p == NULL || dlen == 0)
		return p == NULL ? NULL : memcpy(p, name, nlen);
	memcpy(p, dir, dlen);
	p[dlen] = '/';
	memcpy(p + dlen + 1, name, nlen);
	return p;
}

/* One directory entry: stat, xattrs, node, queueing. */
static int scan_entry(struct build_ctx *ctx, struct scan *sc, struct cfs_node *dir, int dfd,
		      struct build_dir *bdir, const char *name, const char *dir_relpath)
{
	_cleanup_free_ char *relpath = join_rel(dir_relpath, name);
	struct cfs_node *node;
	struct stat st;
	int r;

	if (relpath == NULL)
		return -ENOMEM;
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		r = -errno;
		cfs_build_fail(ctx, r, relpath, "stat");
		return r;
	}
	if ((ctx->flags & CFS_BUILD_SKIP_DEVICES) && (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)))
		return 0;

	if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
		struct link key = { .dev = st.st_dev, .ino = st.st_ino };
		struct link *link = cfs_hashset_find(&sc->links, link_hash(&key), &key);

		if (link != NULL) {
			r = cfs_node_add_child(dir, name, link->node, true);
			if (r < 0) {
				cfs_build_fail(ctx, r, relpath, "add entry");
				return r;
			}
			link->count++;
			cfs_node_set_nlink(link->node, link->count);
			return 0;
		}
	}

	node = node_from_stat(ctx, &st);
	if (node == NULL)
		return -ENOMEM;
	r = cfs_node_add_child(dir, name, node, false);
	cfs_node_unref(node); /* the tree holds it now */
	if (r < 0) {
		cfs_build_fail(ctx, r, relpath, "add entry");
		return r;
	}
	if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
		r = link_add(sc, st.st_dev, st.st_ino, node);
		if (r < 0)
			return r;
	}
	/*
	 * A file with content is opened by a worker anyway, a directory by scan_dir(): their
	 * xattrs are read from those descriptors (no path lookup through /proc).
	 */
	if (!(S_ISREG(st.st_mode) && st.st_size > 0) && !S_ISDIR(st.st_mode)) {
		r = read_entry_xattrs(ctx, node, dfd, name, relpath);
		if (r < 0)
			return r;
	}
	if (S_ISLNK(st.st_mode))
		return read_symlink(ctx, node, dfd, name, &st, relpath);
	if (S_ISDIR(st.st_mode))
		return dirq_push(&sc->dirs, node, steal_pointer(&relpath));
	if (S_ISREG(st.st_mode) && st.st_size > 0) {
		size_t name_off = strlen(relpath) - strlen(name);
		char *path = steal_pointer(&relpath);

		ctx->bytes_total += (uint64_t)st.st_size; /* scanner-owned until the scan ends */
		return cfs_build_push_job(ctx, node, path, bdir, path + name_off);
	}
	return 0;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Bytes of directory entries fetched per getdents64(2): a typical directory in one call. */
#define DENTS_BUF_SIZE (32 * 1024)

/* Make room for @len more bytes of names after @used. 0 or -ENOMEM. */
static int names_reserve(struct scan *sc, size_t used, size_t len)
{
	size_t cap = sc->names_cap ? sc->names_cap : DENTS_BUF_SIZE;
	char *p;

	while (cap - used < len)
		cap *= 2;
	if (cap == sc->names_cap)
		return 0;
	p = realloc(sc->names, cap);
	if (p == NULL)
		return -ENOMEM;
	sc->names = p;
	sc->names_cap = cap;
	return 0;
}

/*
 * Read all names of the directory open as @dfd (but . and ..), sorted by byte order, into
 * sc->index (pointing into sc->names; both valid until the next call). getdents64(2) on @dfd
 * itself, with a buffer that holds most directories whole: no duplicated descriptor and no DIR
 * stream (each cost an fcntl, an fstat and a close). The buffers are the walk's, reused for
 * every directory: no allocation per name, none per directory.
 */
static int read_names(struct scan *sc, int dfd, size_t *n_out)
{
	size_t n = 0, used = 0;
	int r = 0;

	for (;;) {
		ssize_t len = getdents64(dfd, sc->dents, DENTS_BUF_SIZE);

		if (len < 0 && errno == EINTR)
			continue;
		if (len < 0)
			return -errno;
		if (len == 0)
			break;
		for (ssize_t pos = 0; pos < len && r == 0;) {
			const struct dirent64 *de = (const struct dirent64 *)(sc->dents + pos);
			size_t nlen;

			pos += de->d_reclen;
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			nlen = strlen(de->d_name) + 1;
			r = names_reserve(sc, used, nlen);
			if (r < 0)
				return r;
			memcpy(sc->names + used, de->d_name, nlen);
			used += nlen;
			n++;
		}
	}
	if (n > sc->index_cap) {
		size_t cap = n > 2 * sc->index_cap ? n : 2 * sc->index_cap;
		char **p = realloc(sc->index, cap * sizeof(*p));

		if (p == NULL)
			return -ENOMEM;
		sc->index = p;
		sc->index_cap = cap;
	}
	/* the names moved while they were collected: point at them only now */
	for (size_t i = 0, off = 0; i < n; i++) {
		sc->index[i] = sc->names + off;
		off += strlen(sc->names + off) + 1;
	}
	if (n > 1)
		qsort(sc->index, n, sizeof(*sc->index), cmp_names);
	*n_out = n;
	return 0;
}

static int scan_dir(struct build_ctx *ctx, struct scan *sc, const struct dir_item *item)
{
	const char *rel = item->relpath[0] ? item->relpath : ".";
	struct build_dir *bdir;
	size_t n = 0;
	int dfd, r;

	/*
	 * Every component was a directory when scanned: a symbolic link now means
	 * the tree changed, and following it could leave the source tree.
	 */
	dfd = cfs_open_beneath(ctx->rootfd, rel, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, true);
	if (dfd < 0) {
		r = dfd;
		cfs_build_fail(ctx, r, item->relpath,
			       r == -ELOOP ? "open directory (changed into a symbolic link)" : "open directory");
		return r;
	}
	/* the root's were read from ctx->rootfd */
	if (item->relpath[0] != '\0') {
		r = cfs_build_read_xattrs(ctx, &ctx->xb, item->node, dfd, NULL, item->relpath);
		if (r < 0) {
			close(dfd);
			return r;
		}
	}
	r = read_names(sc, dfd, &n);
	if (r < 0) {
		cfs_build_fail(ctx, r, item->relpath, "read directory");
		close(dfd);
		return r;
	}
	/* the workers open this directory's files relative to it, if it can stay open */
	bdir = cfs_build_dir_new(ctx, dfd);
	for (size_t i = 0; i < n && r == 0; i++) {
		r = scan_entry(ctx, sc, item->node, dfd, bdir, sc->index[i], item->relpath);
		if (r == -ENOMEM)
			cfs_build_fail(ctx, r, item->relpath, "scan");
	}
	if (bdir != NULL)
		cfs_build_dir_unref(ctx, bdir); /* closes @dfd once the last job ran */
	else
		close(dfd);
	return r;
}

int cfs_build_scan(struct build_ctx *ctx, struct cfs_node **root_out)
{
	struct scan sc = { 0 };
	struct cfs_node *root;
	struct stat st;
	int r;

	*root_out = NULL;
	cfs_hashset_init_keyed(&sc.links, sizeof(struct link), 2 * sizeof(uint64_t));
	sc.dents = malloc(DENTS_BUF_SIZE);
	if (sc.dents == NULL) {
		cfs_build_fail(ctx, -ENOMEM, "", "scan");
		return -ENOMEM;
	}
	if (fstat(ctx->rootfd, &st) < 0) {
		r = -errno;
		cfs_build_fail(ctx, r, "", "stat");
		return r;
	}
	root = node_from_stat(ctx, &st);
	if (root == NULL) {
		cfs_build_fail(ctx, -ENOMEM, "", "scan");
		return -ENOMEM;
	}
	r = cfs_build_read_xattrs(ctx, &ctx->xb, root, ctx->rootfd, NULL, "");
	if (r == 0)
		r = dirq_push(&sc.dirs, root, strdup(""));
	if (r == 0 && sc.dirs.items[0].relpath == NULL)
		r = -ENOMEM;
	while (r == 0 && sc.dirs.head < sc.dirs.n) {
		struct dir_item item = sc.dirs.items[sc.dirs.head++];

		if (atomic_load(&ctx->failed)) {
			free(item.relpath);
			r = -ECANCELED;
			break;
		}
		r = scan_dir(ctx, &sc, &item);
		free(item.relpath);
		cfs_build_report(ctx, true, false);
	}
	dirq_free(&sc.dirs);
	cfs_hashset_free(&sc.links);
	free(sc.dents);
	free(sc.names);
	free(sc.index);
	if (r == -ENOMEM)
		cfs_build_fail(ctx, r, "", "scan");
	*root_out = root; /* even on failure: the caller frees it after the workers stop */
	return r;
}
