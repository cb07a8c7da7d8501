/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Repository check: objects re-hashed, images parsed, links and refs resolved, temporaries found. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>

#include <openssl/evp.h>

#include "objstore-private.h"
#include "repo-private.h"
#include "splitstream.h"
#include "util.h"
#include "workq.h"

struct fsck {
	struct cfs_repo *repo;
	unsigned flags;
	cfs_repo_problem_fn fn;
	void *user;
	struct cfs_repo_fsck_stats *st;
	uint64_t total;  /* objects expected, for progress */
	/* objects are checked on several threads: this guards st, the callbacks,
	 * the handle's error message and the fields below */
	pthread_mutex_t lock;
	int stop;        /* first error or non-zero callback value */
	char (*dirs)[3]; /* objects/XX directories to check */
	size_t n_dirs;
};

#define MAX_THREADS 8

const char *cfs_repo_problem_name(enum cfs_repo_problem kind)
{
	switch (kind) {
	case CFS_REPO_PROBLEM_META: return "bad-metadata";
	case CFS_REPO_PROBLEM_DIGEST: return "digest-mismatch";
	case CFS_REPO_PROBLEM_OBJECT_READ: return "object-unreadable";
	case CFS_REPO_PROBLEM_BAD_NAME: return "unexpected-entry";
	case CFS_REPO_PROBLEM_TEMP_FILE: return "temporary-file";
	case CFS_REPO_PROBLEM_BROKEN_LINK: return "broken-image-link";
	case CFS_REPO_PROBLEM_DANGLING_REF: return "dangling-ref";
	case CFS_REPO_PROBLEM_BAD_IMAGE: return "invalid-image";
	case CFS_REPO_PROBLEM_MISSING_OBJECT: return "missing-object";
	case CFS_REPO_PROBLEM_SIGNATURE: return "bad-signature-entry";
	case CFS_REPO_PROBLEM_BAD_TREE: return "bad-tree";
	case CFS_REPO_PROBLEM_BAD_STREAM: return "bad-stream";
	}
	return "unknown";
}

static int report(struct fsck *f, enum cfs_repo_problem kind, const char *path, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static int report(struct fsck *f, enum cfs_repo_problem kind, const char *path, const char *fmt, ...)
{
	char detail[512];
	va_list ap;
	int r;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	pthread_mutex_lock(&f->lock);
	f->st->problems++;
	if (kind == CFS_REPO_PROBLEM_TEMP_FILE)
		f->st->temp_files++;
	r = f->fn != NULL ? f->fn(f->user, kind, path, detail) : 0;
	pthread_mutex_unlock(&f->lock);
	return r;
}

/* Count a bad object (under the lock) and report it. */
static void count_bad(struct fsck *f)
{
	pthread_mutex_lock(&f->lock);
	f->st->objects_bad++;
	pthread_mutex_unlock(&f->lock);
}

/*
 * A temporary file @name in @dirfd (@path from the repository). One that a running
 * writer owns is skipped. With CFS_REPO_FSCK_REPAIR the exclusive lock is held, so
 * no other writer that takes it runs: the file was left by one that died, and goes.
 */
static int report_temp(struct fsck *f, int dirfd, const char *name, const char *path)
{
	struct stat st;
	int r;

	/* a writer still at work (a lazy mount, a pull) owns it: nothing is wrong */
	if (cfs_objstore_temp_in_use(dirfd, name))
		return 0;
	if (!(f->flags & CFS_REPO_FSCK_REPAIR))
		return report(f, CFS_REPO_PROBLEM_TEMP_FILE, path,
			      "left by an interrupted writer; removable ('composefs gc' or 'fsck --repair' deletes it)");
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : report(f, CFS_REPO_PROBLEM_TEMP_FILE, path, "%s", strerror(errno));
	if (S_ISDIR(st.st_mode))
		return report(f, CFS_REPO_PROBLEM_TEMP_FILE, path, "a directory; not removed");
	if (unlinkat(dirfd, name, 0) < 0)
		return report(f, CFS_REPO_PROBLEM_TEMP_FILE, path, "cannot remove it: %s", strerror(errno));
	pthread_mutex_lock(&f->lock);
	f->st->temp_removed++;
	r = f->fn != NULL ? f->fn(f->user, CFS_REPO_PROBLEM_TEMP_FILE, path, "removed (left by an interrupted writer)")
			  : 0;
	pthread_mutex_unlock(&f->lock);
	return r;
}

static int check_meta(struct fsck *f)
{
	struct cfs_repo *repo = f->repo;
	_cleanup_close_ int fd = cfs_open_regular_beneath(repo->dirfd, CFS_REPO_META_NAME, true);
	struct cfs_repo_meta m;
	char buf[65536], err[256] = "";
	ssize_t n;

	if (fd < 0)
		return report(f, CFS_REPO_PROBLEM_META, CFS_REPO_META_NAME, "%s",
			      fd == -CFS_ENOTREG ? "not a regular file" : strerror(-fd));
	n = cfs_read_full(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		return report(f, CFS_REPO_PROBLEM_META, CFS_REPO_META_NAME, "%s", strerror((int)-n));
	if (cfs_repo_meta_parse(buf, (size_t)n, &m, err, sizeof(err)) < 0)
		return report(f, CFS_REPO_PROBLEM_META, CFS_REPO_META_NAME, "%s", err);
	if (m.alg != repo->alg)
		return report(f, CFS_REPO_PROBLEM_META, CFS_REPO_META_NAME, "algorithm changed while open");
	return 0;
}

static bool is_hex2(const char *s)
{
	return strlen(s) == 2 && strchr("0123456789abcdef", s[0]) && strchr("0123456789abcdef", s[1]);
}

static int check_object(struct fsck *f, int dirfd, const char *sub, const char *name)
{
	struct cfs_repo *repo = f->repo;
	char path[300], got_hex[2 * CFS_VERITY_MAX_DIGEST + 1];
	uint8_t want[CFS_VERITY_MAX_DIGEST], got[CFS_VERITY_MAX_DIGEST];
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r;

	snprintf(path, sizeof(path), "objects/%s/%s", sub, name);
	if (cfs_repo_is_temp_name(name))
		return report_temp(f, dirfd, name, path);
	if (cfs_objstore_parse_path(path + strlen("objects/"), repo->dsize, want) < 0)
		return report(f, CFS_REPO_PROBLEM_BAD_NAME, path, "not an object name");
	pthread_mutex_lock(&f->lock);
	f->st->objects_checked++;
	cfs_repo_progress(repo, "checking objects", f->st->objects_checked, f->total);
	pthread_mutex_unlock(&f->lock);
	/* opened, not stat'ed by name: a FIFO must neither block us nor be read */
	fd = cfs_open_regular_beneath(dirfd, name, true);
	if (fd == -CFS_ENOTREG) {
		count_bad(f);
		return report(f, CFS_REPO_PROBLEM_BAD_NAME, path, "not a regular file");
	}
	if (fd < 0 || fstat(fd, &st) < 0) {
		count_bad(f);
		return report(f, CFS_REPO_PROBLEM_OBJECT_READ, path, "%s", strerror(fd < 0 ? -fd : errno));
	}
	if (f->flags & CFS_REPO_FSCK_METADATA_ONLY)
		return 0;
	r = cfs_verity_measure_fd(fd, repo->alg, got, NULL);
	if (r < 0) {
		count_bad(f);
		return report(f, CFS_REPO_PROBLEM_OBJECT_READ, path, "%s", strerror(-r));
	}
	pthread_mutex_lock(&f->lock);
	f->st->bytes_checked += (uint64_t)st.st_size;
	pthread_mutex_unlock(&f->lock);
	if (memcmp(got, want, repo->dsize) != 0) {
		count_bad(f);
		return report(f, CFS_REPO_PROBLEM_DIGEST, path, "content has digest %s",
			      cfs_repo_digest_hex(repo, got, got_hex));
	}
	return 0;
}

/* Calls @fn for every entry of directory @rel except . and .. */
static int each_entry(struct fsck *f, int atfd, const char *rel,
		      int (*fn)(struct fsck *f, int dirfd, const char *rel, const struct dirent *de))
{
	/* no symbolic link anywhere on the way: a linked objects/ or images/ is reported */
	int fd = cfs_open_beneath(atfd, rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW, true);
	struct dirent *de;
	DIR *d;
	int r = 0;

	if (fd < 0) {
		if (fd == -ENOENT)
			return 0;
		r = fd;
		pthread_mutex_lock(&f->lock);
		cfs_repo_fail(f->repo, r, "%s: %s", rel, strerror(-r));
		pthread_mutex_unlock(&f->lock);
		return r;
	}
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -ENOMEM;
	}
	while (r == 0 && (de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		r = fn(f, fd, rel, de);
	}
	closedir(d);
	return r;
}

static int object_entry(struct fsck *f, int dirfd, const char *rel, const struct dirent *de)
{
	if (__atomic_load_n(&f->stop, __ATOMIC_RELAXED) != 0)
		return f->stop;
	return check_object(f, dirfd, rel + strlen("objects/"), de->d_name);
}

static int count_entry(struct fsck *f, int dirfd, const char *rel, const struct dirent *de)
{
	(void)dirfd;
	(void)rel;
	(void)de;
	f->total++;
	return 0;
}

static int objects_top_entry(struct fsck *f, int dirfd, const char *rel, const struct dirent *de)
{
	char path[300];

	snprintf(path, sizeof(path), "%s/%s", rel, de->d_name);
	if (cfs_repo_is_temp_name(de->d_name))
		return report_temp(f, dirfd, de->d_name, path);
	if (!is_hex2(de->d_name))
		return report(f, CFS_REPO_PROBLEM_BAD_NAME, path, "unexpected entry in objects/");
	if (f->n_dirs == 256)
		return -EUCLEAN; /* cannot happen: 256 distinct two-digit names */
	memcpy(f->dirs[f->n_dirs++], de->d_name, 3);
	return 0;
}

static void object_dir(void *user, size_t i)
{
	struct fsck *f = user;
	char path[16];
	int r;

	if (__atomic_load_n(&f->stop, __ATOMIC_RELAXED) != 0)
		return;
	snprintf(path, sizeof(path), "objects/%s", f->dirs[i]);
	r = each_entry(f, f->repo->dirfd, path, object_entry);
	if (r != 0) {
		pthread_mutex_lock(&f->lock);
		if (f->stop == 0)
			__atomic_store_n(&f->stop, r, __ATOMIC_RELAXED);
		pthread_mutex_unlock(&f->lock);
	}
}

/* Re-hashing dominates: spread the objects/XX directories over the CPUs. */
static int check_objects(struct fsck *f)
{
	int r;

	f->dirs = calloc(256, sizeof(*f->dirs));
	if (f->dirs == NULL)
		return -ENOMEM;
	r = each_entry(f, f->repo->dirfd, "objects", objects_top_entry);
	if (r == 0)
		cfs_parallel_for(cfs_thread_count(0, MAX_THREADS), f->n_dirs, object_dir, f);
	free(f->dirs);
	f->dirs = NULL;
	return r != 0 ? r : f->stop;
}

static int count_top_entry(struct fsck *f, int dirfd, const char *rel, const struct dirent *de)
{
	char path[300];

	(void)dirfd;
	if (!is_hex2(de->d_name))
		return 0;
	snprintf(path, sizeof(path), "%s/%s", rel, de->d_name);
	return each_entry(f, f->repo->dirfd, path, count_entry);
}

static int check_image(struct fsck *f, const char *path, const uint8_t *digest)
{
	struct cfs_repo *repo = f->repo;
	struct cfs_digest_set set;
	_cleanup_close_ int fd = -1;
	char err[256], opath[300];
	bool bad = false;
	int r;

	fd = cfs_repo_open_object(repo, digest);
	if (fd < 0) {
		f->st->images_bad++;
		return report(f, CFS_REPO_PROBLEM_BROKEN_LINK, path, "its object is %s",
			      fd == -CFS_ENOTREG ? "not a regular file" : fd == -ENOENT ? "missing" : strerror(-fd));
	}
	cfs_digest_set_init(&set, repo->dsize);
	r = cfs_repo_collect_image_objects(repo, fd, &set, err, sizeof(err));
	if (r == -ENOMEM) {
		cfs_digest_set_clear(&set);
		return r;
	}
	if (r < 0) {
		cfs_digest_set_clear(&set);
		f->st->images_bad++;
		return report(f, CFS_REPO_PROBLEM_BAD_IMAGE, path, "does not parse: %s", err);
	}
	cfs_digest_set_finish(&set);
	for (size_t i = 0; i < set.n && r == 0; i++) {
		const uint8_t *d = set.v + i * set.dsize;
		struct stat st;

		cfs_repo_object_relpath(repo, d, opath, sizeof(opath));
		if (fstatat(repo->dirfd, opath, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
			continue;
		bad = true;
		r = report(f, CFS_REPO_PROBLEM_MISSING_OBJECT, path, "refers to %s, which is missing", opath);
	}
	cfs_digest_set_clear(&set);
	if (bad)
		f->st->images_bad++;
	return r;
}

static int image_entry(struct fsck *f, int dirfd, const char *rel, const struct dirent *de)
{
	struct cfs_repo *repo = f->repo;
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	char path[300];
	struct stat st;
	int r;

	if (strcmp(de->d_name, "refs") == 0)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", rel, de->d_name);
	if (cfs_repo_is_temp_name(de->d_name))
		return report_temp(f, dirfd, de->d_name, path);
	f->st->images_checked++;
	if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISLNK(st.st_mode)) {
		f->st->images_bad++;
		return report(f, CFS_REPO_PROBLEM_BAD_NAME, path, "not a link to an image object");
	}
	r = cfs_repo_read_image_link(repo, de->d_name, digest);
	if (r < 0) {
		f->st->images_bad++;
		return report(f, CFS_REPO_PROBLEM_BROKEN_LINK, path, "does not point to the object of its name");
	}
	return check_image(f, path, digest);
}

static bool dir_empty(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	struct dirent *de;
	bool empty = true;
	DIR *d;

	if (fd < 0)
		return false;
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return false;
	}
	while (empty && (de = readdir(d)) != NULL)
		empty = strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0;
	closedir(d);
	return empty;
}

static int ref_entry(struct fsck *f, int dirfd, const char *rel, const struct dirent *de)
{
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	char path[PATH_MAX], hex[2 * CFS_VERITY_MAX_DIGEST + 1], img[300];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", rel, de->d_name);
	if (cfs_repo_is_temp_name(de->d_name))
		return report_temp(f, dirfd, de->d_name, path);
	if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return report(f, CFS_REPO_PROBLEM_DANGLING_REF, path, "%s", strerror(errno));
	if (S_ISDIR(st.st_mode)) {
		/* components of the refs inside: one per '/' after "images/refs" */
		int depth = 0;

		for (const char *c = path + strlen("images/refs"); *c; c++)
			depth += *c == '/';
		if (depth >= CFS_REPO_REF_MAX_COMPONENTS && !dir_empty(dirfd, de->d_name)) {
			f->st->refs_bad++;
			return report(f, CFS_REPO_PROBLEM_BAD_NAME, path,
				      "refs nested deeper than %d components: gc refuses to run until they are "
				      "removed ('composefs untag')",
				      CFS_REPO_REF_MAX_COMPONENTS);
		}
		return each_entry(f, f->repo->dirfd, path, ref_entry);
	}
	f->st->refs_checked++;
	if (!S_ISLNK(st.st_mode)) {
		f->st->refs_bad++;
		return report(f, CFS_REPO_PROBLEM_BAD_NAME, path, "not a ref (symbolic link)");
	}
	if (cfs_repo_read_ref(f->repo, dirfd, de->d_name, digest) < 0) {
		f->st->refs_bad++;
		return report(f, CFS_REPO_PROBLEM_DANGLING_REF, path, "does not name an image");
	}
	cfs_repo_digest_hex(f->repo, digest, hex);
	snprintf(img, sizeof(img), "images/%s", hex);
	if (fstatat(f->repo->dirfd, img, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		f->st->refs_bad++;
		return report(f, CFS_REPO_PROBLEM_DANGLING_REF, path, "image %s is not in the repository", hex);
	}
	if (fstatat(dirfd, de->d_name, &st, 0) < 0) {
		f->st->refs_bad++;
		return report(f, CFS_REPO_PROBLEM_DANGLING_REF, path, "does not resolve to image %s", hex);
	}
	return 0;
}

/* signatures/<hex>/<name>: 64 hex digits, the SHA-256 of the file's bytes. */
static bool sig_file_name(const char *n)
{
	return strlen(n) == 64 && strspn(n, "0123456789abcdef") == 64;
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int sha256_fd(int fd, uint8_t *md)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t buf[16384];
	ssize_t n = 0;
	int ok;

	ok = ctx != NULL && EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) == 1;
	while (ok && (n = cfs_read_full(fd, buf, sizeof(buf))) > 0)
		ok = EVP_DigestUpdate(ctx, buf, (size_t)n) == 1;
	ok = ok && n == 0 && EVP_DigestFinal_ex(ctx, md, NULL) == 1;
	EVP_MD_CTX_free(ctx);
	return ok ? 0 : -EIO;
}

/* Is the index of @dirfd exactly the sorted names, one per line? */
static int check_sig_index(struct fsck *f, int dirfd, const char *rel, char **names, size_t n)
{
	_cleanup_close_ int fd = openat(dirfd, "index", O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	char path[400], *want, *got;
	struct stat st;
	ssize_t len;
	int r = 0;

	snprintf(path, sizeof(path), "%s/index", rel);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return n == 0 && fd < 0 && errno == ENOENT
			       ? 0
			       : report(f, CFS_REPO_PROBLEM_SIGNATURE, path, "missing or not a regular file");
	want = malloc(n * 65 + 1);
	got = malloc(n * 65 + 2);
	if (want == NULL || got == NULL) {
		free(want);
		free(got);
		return -ENOMEM;
	}
	qsort(names, n, sizeof(*names), cmp_name);
	for (size_t i = 0; i < n; i++) {
		memcpy(want + 65 * i, names[i], 64);
		want[65 * i + 64] = '\n';
	}
	len = cfs_read_full(fd, got, n * 65 + 1);
	if (len != (ssize_t)(n * 65) || memcmp(want, got, n * 65) != 0)
		r = report(f, CFS_REPO_PROBLEM_SIGNATURE, path,
			   "does not list exactly the %zu signature(s) of the directory; "
			   "'composefs sign' rewrites it", n);
	free(want);
	free(got);
	return r;
}

/* One signatures/<hex> directory. */
static int check_sig_dir(struct fsck *f, int sigfd, const char *name)
{
	struct cfs_repo *repo = f->repo;
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	char rel[300], path[PATH_MAX], img[300];
	size_t n = 0, cap = 0;
	char **names = NULL;
	struct dirent *de;
	struct stat st;
	int fd, r = 0;
	DIR *d;

	snprintf(rel, sizeof(rel), "signatures/%s", name);
	if (strlen(name) != 2 * repo->dsize || strspn(name, "0123456789abcdef") != 2 * repo->dsize ||
	    cfs_hex_decode(name, 2 * repo->dsize, digest, repo->dsize) < 0 ||
	    fstatat(sigfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
		return report(f, CFS_REPO_PROBLEM_BAD_NAME, rel,
			      "unexpected entry in signatures/ (expected a directory named by an image digest)");
	snprintf(img, sizeof(img), "images/%s", name);
	if (fstatat(repo->dirfd, img, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		r = report(f, CFS_REPO_PROBLEM_SIGNATURE, rel,
			   "signatures of an image that is not in the repository; 'composefs gc' removes them");
		if (r != 0)
			return r;
	}
	fd = openat(sigfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return report(f, CFS_REPO_PROBLEM_SIGNATURE, rel, "%s", strerror(errno));
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return -ENOMEM;
	}
	while (r == 0 && (de = readdir(d)) != NULL) {
		_cleanup_close_ int sfd = -1;
		uint8_t md[32];
		char hex[65];

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 ||
		    strcmp(de->d_name, "index") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", rel, de->d_name);
		if (cfs_repo_is_temp_name(de->d_name)) {
			r = report_temp(f, fd, de->d_name, path);
			continue;
		}
		f->st->signatures_checked++;
		if (!sig_file_name(de->d_name)) {
			f->st->signatures_bad++;
			r = report(f, CFS_REPO_PROBLEM_BAD_NAME, path, "unexpected entry (not a signature name)");
			continue;
		}
		sfd = openat(fd, de->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
		if (sfd < 0 || fstat(sfd, &st) < 0 || !S_ISREG(st.st_mode) || sha256_fd(sfd, md) < 0) {
			f->st->signatures_bad++;
			r = report(f, CFS_REPO_PROBLEM_SIGNATURE, path, "not a readable signature file");
			continue;
		}
		cfs_hex_encode(md, sizeof(md), hex);
		if (strcmp(hex, de->d_name) != 0) {
			f->st->signatures_bad++;
			r = report(f, CFS_REPO_PROBLEM_SIGNATURE, path, "content has SHA-256 %s (damaged)", hex);
			continue;
		}
		if (n == cap) {
			char **nn = realloc(names, (cap ? cap * 2 : 8) * sizeof(*names));

			if (nn == NULL) {
				r = -ENOMEM;
				break;
			}
			names = nn;
			cap = cap ? cap * 2 : 8;
		}
		names[n] = strdup(de->d_name);
		if (names[n] == NULL) {
			r = -ENOMEM;
			break;
		}
		n++;
	}
	if (r == 0)
		r = check_sig_index(f, fd, rel, names, n);
	closedir(d);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return r;
}

static int signature_entry(struct fsck *f, int dirfd, const char *rel, const struct dirent *de)
{
	char path[300];

	snprintf(path, sizeof(path), "%s/%s", rel, de->d_name);
	if (cfs_repo_is_temp_name(de->d_name))
		return report_temp(f, dirfd, de->d_name, path);
	return check_sig_dir(f, dirfd, de->d_name);
}

/* trees/XX/<rest>: the valid tree of the object of that name, which is present. */
static int tree_entry(struct fsck *f, int dirfd, const char *rel, const struct dirent *de)
{
	struct cfs_repo *repo = f->repo;
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	struct cfs_verity_tree *t = NULL;
	_cleanup_close_ int fd = -1;
	char path[300];
	int r;

	snprintf(path, sizeof(path), "%s/%s", rel, de->d_name);
	if (cfs_repo_is_temp_name(de->d_name))
		return report_temp(f, dirfd, de->d_name, path);
	if (cfs_objstore_parse_path(path + strlen("trees/"), repo->dsize, digest) < 0)
		return report(f, CFS_REPO_PROBLEM_BAD_NAME, path, "not a tree name");
	fd = cfs_open_regular_beneath(dirfd, de->d_name, true);
	if (fd < 0)
		return report(f, fd == -CFS_ENOTREG ? CFS_REPO_PROBLEM_BAD_NAME : CFS_REPO_PROBLEM_BAD_TREE, path, "%s",
			      fd == -CFS_ENOTREG ? "not a regular file" : strerror(-fd));
	r = cfs_repo_open_object(repo, digest);
	if (r < 0)
		return report(f, CFS_REPO_PROBLEM_BAD_TREE, path, "%s",
			      r == -ENOENT ? "its object is not in the repository ('composefs gc' removes it)"
					   : strerror(-r));
	close(r);
	if (f->flags & CFS_REPO_FSCK_METADATA_ONLY)
		return 0;
	r = cfs_verity_tree_load(fd, repo->alg, digest, &t);
	cfs_verity_tree_free(t);
	if (r < 0)
		return report(f, CFS_REPO_PROBLEM_BAD_TREE, path, "%s",
			      r == -CFS_EDIGEST ? "the tree of another object (its root does not give the name)"
			      : r == -EUCLEAN   ? "not a valid tree file"
						: strerror(-r));
	return 0;
}

static int trees_top_entry(struct fsck *f, int dirfd, const char *rel, const struct dirent *de)
{
	char path[300];

	snprintf(path, sizeof(path), "%s/%s", rel, de->d_name);
	if (cfs_repo_is_temp_name(de->d_name))
		return report_temp(f, dirfd, de->d_name, path);
	if (!is_hex2(de->d_name))
		return report(f, CFS_REPO_PROBLEM_BAD_NAME, path, "unexpected entry in trees/");
	return each_entry(f, f->repo->dirfd, path, tree_entry);
}

/* Report each of the @n digests @get gives for @s that has no object ("@path: @what objects/..."). */
static int check_stream_refs(struct fsck *f, const char *path, const char *what, size_t n,
			     const uint8_t *(*get)(const struct cfs_splitstream *s, size_t i),
			     const struct cfs_splitstream *s, bool *bad)
{
	char opath[300];
	struct stat st;
	int r = 0;

	for (size_t i = 0; i < n && r == 0; i++) {
		cfs_repo_object_relpath(f->repo, get(s, i), opath, sizeof(opath));
		if (fstatat(f->repo->dirfd, opath, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
			continue;
		*bad = true;
		r = report(f, CFS_REPO_PROBLEM_MISSING_OBJECT, path, "%s %s, which is missing", what, opath);
	}
	return r;
}

/*
 * streams/NAME (composefs-rs' named split streams; OCI layers, configs and manifests): a link
 * to an object that is present and parses as a split stream, and every object and stream it
 * references is present. A layer stream with an object gone would give later pulls an image
 * pointing at nothing (they now read such a layer again, but nothing else repairs it).
 */
static int stream_entry(struct fsck *f, int dirfd, const char *rel, const struct dirent *de)
{
	struct cfs_repo *repo = f->repo;
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	struct cfs_splitstream *s = NULL;
	char path[PATH_MAX], opath[300], err[256] = "";
	bool bad = false;
	int fd, r;

	if (strcmp(de->d_name, "refs") == 0)
		return 0;
	snprintf(path, sizeof(path), "%s/%s", rel, de->d_name);
	if (cfs_repo_is_temp_name(de->d_name))
		return report_temp(f, dirfd, de->d_name, path);
	f->st->streams_checked++;
	if (cfs_repo_stream_read_link(repo, dirfd, de->d_name, digest) < 0) {
		f->st->streams_bad++;
		return report(f, CFS_REPO_PROBLEM_BAD_NAME, path, "not a link to an object (../objects/XX/REST)");
	}
	cfs_repo_object_relpath(repo, digest, opath, sizeof(opath));
	fd = cfs_repo_open_object(repo, digest);
	if (fd < 0) {
		f->st->streams_bad++;
		return report(f, fd == -ENOENT ? CFS_REPO_PROBLEM_MISSING_OBJECT : CFS_REPO_PROBLEM_BAD_STREAM, path,
			      "its split stream %s is %s", opath,
			      fd == -ENOENT ? "missing" : fd == -CFS_ENOTREG ? "not a regular file" : strerror(-fd));
	}
	r = cfs_splitstream_open_fd(fd, repo->alg, 0, &s, err, sizeof(err));
	close(fd);
	if (r == -ENOMEM)
		return r;
	if (r < 0) {
		f->st->streams_bad++;
		return report(f, CFS_REPO_PROBLEM_BAD_STREAM, path, "%s is not a valid split stream: %s", opath,
			      err[0] ? err : strerror(-r));
	}
	r = check_stream_refs(f, path, "refers to", cfs_splitstream_n_objects(s), cfs_splitstream_object, s, &bad);
	if (r == 0)
		r = check_stream_refs(f, path, "names", cfs_splitstream_n_stream_refs(s), cfs_splitstream_stream_ref, s,
				      &bad);
	cfs_splitstream_free(s);
	if (bad)
		f->st->streams_bad++;
	return r;
}

static int root_entry(struct fsck *f, int dirfd, const char *rel, const struct dirent *de)
{
	(void)rel;
	return cfs_repo_is_temp_name(de->d_name) ? report_temp(f, dirfd, de->d_name, de->d_name) : 0;
}

int cfs_repo_fsck(struct cfs_repo *repo, unsigned flags, cfs_repo_problem_fn fn, void *user,
		  struct cfs_repo_fsck_stats *stats)
{
	struct cfs_repo_fsck_stats local;
	struct fsck f = { .repo = repo, .flags = flags, .fn = fn, .user = user };
	int r;

	if (flags & ~(CFS_REPO_FSCK_METADATA_ONLY | CFS_REPO_FSCK_REPAIR))
		return cfs_repo_fail(repo, -EINVAL, "invalid flags");
	f.st = stats ? stats : &local;
	*f.st = (struct cfs_repo_fsck_stats){ 0 };
	repo->errmsg[0] = '\0';
	if (flags & CFS_REPO_FSCK_REPAIR) {
		if (!repo->writable)
			return cfs_repo_fail(repo, -EROFS, "repository is read-only: %s", repo->ro_why);
		/* as for gc: with every writer locked out, a temporary file is garbage */
		r = cfs_repo_relock(repo, LOCK_EX);
		if (r < 0)
			return r;
	}
	pthread_mutex_init(&f.lock, NULL);
	r = check_meta(&f);
	if (r == 0)
		r = each_entry(&f, repo->dirfd, ".", root_entry);
	if (r == 0 && repo->progress != NULL)
		r = each_entry(&f, repo->dirfd, "objects", count_top_entry);
	if (r == 0)
		r = check_objects(&f);
	if (r == 0)
		r = each_entry(&f, repo->dirfd, "trees", trees_top_entry);
	if (r == 0)
		r = each_entry(&f, repo->dirfd, "images", image_entry);
	if (r == 0)
		r = each_entry(&f, repo->dirfd, "images/refs", ref_entry);
	if (r == 0)
		r = each_entry(&f, repo->dirfd, "streams", stream_entry);
	if (r == 0)
		r = each_entry(&f, repo->dirfd, "signatures", signature_entry);
	pthread_mutex_destroy(&f.lock);
	if (flags & CFS_REPO_FSCK_REPAIR) {
		int r2 = cfs_repo_relock(repo, LOCK_SH);

		if (r == 0)
			r = r2;
	}
	return r;
}
