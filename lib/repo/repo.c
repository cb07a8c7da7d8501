/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Repository handle: init, open and locking, meta.json, names, refs and image links. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "repo-private.h"
#include "util.h"

#define META_MAX (64 * 1024)

int cfs_repo_fail(struct cfs_repo *repo, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfs_errbuf_vset(repo->errmsg, sizeof(repo->errmsg), err, fmt, ap);
	va_end(ap);
	return err;
}

void cfs_repo_progress(struct cfs_repo *repo, const char *phase, uint64_t done, uint64_t total)
{
	if (repo->progress != NULL)
		repo->progress(repo->progress_user, phase, done, total);
}

const char *cfs_repo_errmsg(const struct cfs_repo *repo)
{
	return repo->errmsg;
}

void cfs_repo_set_progress(struct cfs_repo *repo, cfs_repo_progress_fn fn, void *user)
{
	repo->progress = fn;
	repo->progress_user = user;
}

enum cfs_hash_alg cfs_repo_hash_alg(const struct cfs_repo *repo)
{
	return repo->alg;
}

size_t cfs_repo_digest_size(const struct cfs_repo *repo)
{
	return repo->dsize;
}

bool cfs_repo_writable(const struct cfs_repo *repo, const char **why)
{
	if (why != NULL)
		*why = repo->ro_why;
	return repo->writable;
}

struct cfs_objstore *cfs_repo_objstore(struct cfs_repo *repo)
{
	return repo->store;
}

int cfs_repo_dirfd(const struct cfs_repo *repo)
{
	return repo->dirfd;
}

uint32_t cfs_repo_image_min_version(const struct cfs_repo *repo)
{
	return repo->min_version;
}

bool cfs_repo_is_temp_name(const char *name)
{
	/* ours (.tmp-*), composefs-rs' object and symlink temporaries */
	return strncmp(name, ".tmp", 4) == 0 || strncmp(name, ".symlink-", 9) == 0;
}

int cfs_repo_sync_dir(struct cfs_repo *repo, const char *rel)
{
	_cleanup_close_ int fd = -1;

	fd = cfs_repo_openat(repo, rel[0] ? rel : ".", O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return cfs_repo_fail(repo, fd, "%s: sync: %s", rel[0] ? rel : ".", strerror(-fd));
	if (fsync(fd) < 0)
		return cfs_repo_fail(repo, -errno, "%s: sync: %s", rel[0] ? rel : ".", strerror(errno));
	return 0;
}

char *cfs_repo_digest_hex(const struct cfs_repo *repo, const uint8_t *digest, char *buf)
{
	cfs_hex_encode(digest, repo->dsize, buf);
	return buf;
}

int cfs_repo_digest_parse(const struct cfs_repo *repo, const char *text, uint8_t *digest_out)
{
	const char *colon = strchr(text, ':');

	if (colon != NULL) {
		size_t plen = (size_t)(colon - text);
		const char *want = repo->alg == CFS_HASH_SHA512 ? "sha512" : "sha256";

		if (plen != strlen(want) || strncmp(text, want, plen) != 0)
			return -EINVAL;
		text = colon + 1;
	}
	if (strlen(text) != repo->dsize * 2)
		return -EINVAL;
	return cfs_hex_decode(text, repo->dsize * 2, digest_out, repo->dsize);
}

int cfs_repo_parse_object_path(const struct cfs_repo *repo, const char *path, uint8_t *digest)
{
	while (*path == '/')
		path++;
	if (strncmp(path, "objects/", 8) == 0)
		path += 8;
	return cfs_objstore_parse_path(path, repo->dsize, digest);
}

void cfs_repo_object_relpath(const struct cfs_repo *repo, const uint8_t *digest, char *buf, size_t len)
{
	char path[2 * CFS_VERITY_MAX_DIGEST + 2];

	cfs_objstore_digest_path(digest, repo->dsize, path, sizeof(path));
	snprintf(buf, len, "objects/%s", path);
}

int cfs_repo_relock(struct cfs_repo *repo, int op)
{
	int nb = (repo->flags & CFS_REPO_NOWAIT) ? LOCK_NB : 0;

	while (flock(repo->dirfd, op | nb) < 0) {
		if (errno == EINTR)
			continue;
		if (errno == EWOULDBLOCK) {
			int saved = -errno;

			/* A refused conversion drops the lock we had: take back a shared one. */
			if (op == LOCK_EX)
				while (flock(repo->dirfd, LOCK_SH) < 0 && errno == EINTR)
					;
			return cfs_repo_fail(repo, saved, "repository is busy (%s)",
					     op == LOCK_EX ? "in use by writers" : "garbage collection running");
		}
		return cfs_repo_fail(repo, -errno, "lock: %s", strerror(errno));
	}
	return 0;
}

static int read_small_file(int dirfd, const char *name, char **out, size_t *len)
{
	_cleanup_close_ int fd = cfs_open_regular_beneath(dirfd, name, true);
	_cleanup_free_ char *buf = NULL;
	ssize_t n;

	if (fd < 0)
		return fd;
	buf = malloc(META_MAX + 1);
	if (buf == NULL)
		return -ENOMEM;
	n = cfs_read_full(fd, buf, META_MAX + 1);
	if (n < 0)
		return (int)n;
	if (n > META_MAX)
		return -EFBIG;
	buf[n] = '\0';
	*len = (size_t)n;
	*out = steal_pointer(&buf);
	return 0;
}

/* Old composefs-rs repositories have no meta.json: the object name length tells. */
static int infer_alg(int dirfd, enum cfs_hash_alg *alg)
{
	DIR *d;
	struct dirent *de;
	int ofd = openat(dirfd, "objects", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = -ENOENT;

	if (ofd < 0)
		return -errno;
	d = fdopendir(ofd);
	if (d == NULL) {
		close(ofd);
		return -ENOMEM;
	}
	while (r == -ENOENT && (de = readdir(d)) != NULL) {
		int sfd;
		DIR *sd;
		struct dirent *se;

		if (strlen(de->d_name) != 2 || de->d_name[0] == '.')
			continue;
		sfd = openat(ofd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (sfd < 0)
			continue;
		sd = fdopendir(sfd);
		if (sd == NULL) {
			close(sfd);
			continue;
		}
		while ((se = readdir(sd)) != NULL) {
			size_t n = strlen(se->d_name);

			if (n == 62 || n == 126) {
				*alg = n == 62 ? CFS_HASH_SHA256 : CFS_HASH_SHA512;
				r = 0;
				break;
			}
		}
		closedir(sd);
	}
	closedir(d);
	return r;
}

static int apply_meta(struct cfs_repo *repo, char *errbuf, size_t errlen)
{
	_cleanup_free_ char *buf = NULL;
	struct cfs_repo_meta m;
	size_t len = 0;
	int r;

	repo->writable = !(repo->flags & CFS_REPO_READONLY);
	repo->ro_why = repo->writable ? NULL : "opened read-only";
	r = read_small_file(repo->dirfd, CFS_REPO_META_NAME, &buf, &len);
	if (r == -ENOENT) {
		r = infer_alg(repo->dirfd, &repo->alg);
		if (r == -ENOENT)
			return cfs_errbuf_set(errbuf, errlen, -ENOENT, "not a composefs repository (no meta.json)");
		if (r < 0)
			return cfs_errbuf_set(errbuf, errlen, r, "objects: %s", strerror(-r));
		/* composefs-rs wrote its own image format into such repositories */
		repo->min_version = 1;
		repo->writable = false;
		repo->ro_why = "repository has no meta.json (made by an old composefs-rs); initialize it first";
		return 0;
	}
	if (r < 0)
		return cfs_errbuf_set(errbuf, errlen, r, "meta.json: %s", strerror(-r));
	r = cfs_repo_meta_parse(buf, len, &m, errbuf, errlen);
	if (r < 0)
		return r;
	if (m.version > CFS_REPO_FORMAT_VERSION)
		return cfs_errbuf_set(errbuf, errlen, -EPROTO,
				   "meta.json: repository format version %u is newer than this tool (%d)",
				   m.version, CFS_REPO_FORMAT_VERSION);
	if (m.unknown_incompat[0])
		return cfs_errbuf_set(errbuf, errlen, -EPROTO, "meta.json: unsupported incompatible feature \"%s\"",
				   m.unknown_incompat);
	repo->alg = m.alg;
	/* composefs-rs: no erofs_formats means its format 2 unless v1_erofs is set */
	if (m.erofs_default == CFS_REPO_EROFS_UNSET)
		m.erofs_default = m.v1_flag ? 1 : 2;
	repo->min_version = m.erofs_default == 0 ? 0 : 1;
	if (m.unknown_ro[0]) {
		repo->writable = false;
		repo->ro_why = "meta.json lists a read-only-compatible feature this tool does not know";
	} else if (m.erofs_default > 1) {
		repo->writable = false;
		repo->ro_why = "repository wants composefs-rs EROFS format 2 images, which this tool cannot write";
	} else if (m.erofs_extra) {
		repo->writable = false;
		repo->ro_why = "repository wants images in several EROFS formats, which this tool cannot write";
	}
	return 0;
}

static int ensure_dir(int dirfd, const char *name, mode_t mode)
{
	if (mkdirat(dirfd, name, mode) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

int cfs_repo_open(int atdirfd, const char *path, unsigned flags, struct cfs_repo **out, char *errbuf,
		  size_t errlen)
{
	struct cfs_repo *repo;
	int r, sflags;

	if (flags & ~(CFS_REPO_NOWAIT | CFS_REPO_READONLY))
		return cfs_errbuf_set(errbuf, errlen, -EINVAL, "invalid flags");
	repo = calloc(1, sizeof(*repo));
	if (repo == NULL)
		return -ENOMEM;
	repo->objects_fd = -1;
	repo->flags = flags;
	repo->dirfd = openat(atdirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (repo->dirfd < 0) {
		r = -errno;
		cfs_errbuf_set(errbuf, errlen, r, "%s: %s", path, strerror(-r));
		goto fail;
	}
	r = cfs_repo_relock(repo, LOCK_SH);
	if (r < 0) {
		cfs_errbuf_set(errbuf, errlen, r, "%s", repo->errmsg);
		goto fail;
	}
	r = apply_meta(repo, errbuf, errlen);
	if (r < 0)
		goto fail;
	repo->dsize = cfs_verity_digest_size(repo->alg);
	if (repo->writable) {
		r = ensure_dir(repo->dirfd, "objects", 0755);
		if (r == 0)
			r = ensure_dir(repo->dirfd, "images", 0755);
		if (r == 0)
			r = ensure_dir(repo->dirfd, "images/refs", 0755);
		if (r < 0) {
			cfs_errbuf_set(errbuf, errlen, r, "creating directories: %s", strerror(-r));
			goto fail;
		}
	}
	/* a symlinked objects/ would let gc delete outside the repository */
	repo->objects_fd = cfs_repo_openat(repo, "objects", O_RDONLY | O_DIRECTORY);
	if (repo->objects_fd < 0 && repo->objects_fd != -ENOENT) {
		r = repo->objects_fd;
		cfs_errbuf_set(errbuf, errlen, r, "objects: %s", r == -ELOOP || r == -ENOTDIR ? "not a directory (a symbolic link?)" : strerror(-r));
		goto fail;
	}
	sflags = CFS_OBJSTORE_BATCH;
	r = cfs_objstore_open(repo->dirfd, "objects", sflags | (repo->writable ? CFS_OBJSTORE_CREATE : 0),
			      repo->alg, &repo->store);
	if (r < 0 && !(r == -ENOENT && !repo->writable)) {
		cfs_errbuf_set(errbuf, errlen, r, "objects: %s", strerror(-r));
		goto fail;
	}
	*out = repo;
	return 0;
fail:
	cfs_repo_free(repo);
	return r;
}

void cfs_repo_free(struct cfs_repo *repo)
{
	if (repo == NULL)
		return;
	cfs_objstore_free(repo->store);
	if (repo->objects_fd >= 0)
		close(repo->objects_fd);
	if (repo->dirfd >= 0)
		close(repo->dirfd); /* releases the flock */
	free(repo);
}

static int write_meta(int dirfd, enum cfs_hash_alg alg)
{
	struct cfs_atomic_file af;
	char buf[1024];
	int n, r;

	n = cfs_repo_meta_render(alg, buf, sizeof(buf));
	if (n < 0)
		return n;
	r = cfs_atomic_file_open(dirfd, CFS_REPO_META_NAME, 0644, &af);
	if (r < 0)
		return r;
	r = cfs_write_full(af.fd, buf, (size_t)n);
	if (r < 0) {
		cfs_atomic_file_abort(&af);
		return r;
	}
	/* link semantics: a concurrent init that won is checked by the caller */
	r = cfs_atomic_file_commit(&af, false, true);
	if (r < 0)
		return r;
	return fsync(dirfd) < 0 ? -errno : 0;
}

int cfs_repo_init(int atdirfd, const char *path, enum cfs_hash_alg alg, unsigned flags, char *errbuf,
		  size_t errlen)
{
	struct cfs_repo *repo = NULL;
	_cleanup_close_ int dirfd = -1;
	int r;

	if (cfs_verity_digest_size(alg) == 0)
		return cfs_errbuf_set(errbuf, errlen, -EINVAL, "unknown hash algorithm");
	if (flags & ~CFS_REPO_NOWAIT)
		return cfs_errbuf_set(errbuf, errlen, -EINVAL, "invalid flags");
	if (mkdirat(atdirfd, path, 0700) < 0 && errno != EEXIST)
		return cfs_errbuf_set(errbuf, errlen, -errno, "%s: %s", path, strerror(errno));
	dirfd = openat(atdirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return cfs_errbuf_set(errbuf, errlen, -errno, "%s: %s", path, strerror(errno));
	r = write_meta(dirfd, alg);
	if (r < 0 && r != -EEXIST)
		return cfs_errbuf_set(errbuf, errlen, r, "%s/meta.json: %s", path, strerror(-r));
	r = cfs_repo_open(atdirfd, path, flags, &repo, errbuf, errlen);
	if (r < 0)
		return r == -EPROTO ? -EEXIST : r;
	if (repo->alg != alg) {
		r = cfs_errbuf_set(errbuf, errlen, -EEXIST, "%s: already a repository using %s", path,
				cfs_hash_alg_name(repo->alg));
	} else if (!repo->writable) {
		r = cfs_errbuf_set(errbuf, errlen, -EEXIST, "%s: already a repository this tool cannot write: %s",
				path, repo->ro_why);
	} else {
		r = cfs_repo_sync_dir(repo, "images");
		if (r == 0)
			r = cfs_repo_sync_dir(repo, "");
		if (r < 0)
			cfs_errbuf_set(errbuf, errlen, r, "%s", repo->errmsg);
	}
	cfs_repo_free(repo);
	return r;
}

/* A valid name, or (with @any_depth) one that is valid but for its depth. */
static bool ref_name_ok(const char *name, bool any_depth)
{
	size_t len = strlen(name), components = 0;
	const char *c = name;

	if (len == 0 || len > 1024)
		return false;
	for (;;) {
		const char *slash = strchr(c, '/');
		size_t n = slash ? (size_t)(slash - c) : strlen(c);

		if (n == 0 || n > NAME_MAX || c[0] == '.')
			return false;
		for (size_t i = 0; i < n; i++)
			if ((unsigned char)c[i] < 0x20 || c[i] == 0x7f)
				return false;
		if (++components > CFS_REPO_REF_MAX_COMPONENTS && !any_depth)
			return false;
		if (slash == NULL)
			return true;
		c = slash + 1;
	}
}

bool cfs_repo_ref_name_valid(const char *name)
{
	return ref_name_ok(name, false);
}

/* The image digest a link target ends in ("../<hex>", "../../images/<hex>", ...). */
static int digest_from_link_target(struct cfs_repo *repo, const char *target, uint8_t *digest)
{
	const char *base = strrchr(target, '/');

	base = base ? base + 1 : target;
	if (strlen(base) != 2 * repo->dsize)
		return -EUCLEAN;
	return cfs_hex_decode(base, 2 * repo->dsize, digest, repo->dsize) < 0 ? -EUCLEAN : 0;
}

int cfs_repo_read_ref(struct cfs_repo *repo, int dirfd, const char *name, uint8_t *digest)
{
	char target[PATH_MAX];
	ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);

	if (n < 0)
		return errno == EINVAL ? -EUCLEAN : -errno;
	target[n] = '\0';
	return digest_from_link_target(repo, target, digest);
}

int cfs_repo_read_image_link(struct cfs_repo *repo, const char *hexname, uint8_t *digest)
{
	char target[PATH_MAX], want[200], rel[200];
	ssize_t n;

	if (strlen(hexname) != 2 * repo->dsize || cfs_hex_decode(hexname, 2 * repo->dsize, digest, repo->dsize) < 0)
		return -EUCLEAN;
	snprintf(rel, sizeof(rel), "images/%s", hexname);
	n = readlinkat(repo->dirfd, rel, target, sizeof(target) - 1);
	if (n < 0)
		return errno == EINVAL ? -EUCLEAN : -errno;
	target[n] = '\0';
	cfs_repo_object_relpath(repo, digest, want + 3, sizeof(want) - 3);
	memcpy(want, "../", 3);
	return strcmp(target, want) == 0 ? 0 : -EUCLEAN;
}

/* Create or atomically replace the symlink @rel (relative to the repository). */
int cfs_repo_replace_symlink(struct cfs_repo *repo, const char *target, const char *rel)
{
	char cur[PATH_MAX], tmp[PATH_MAX];
	const char *slash = strrchr(rel, '/');
	ssize_t n;

	if (symlinkat(target, repo->dirfd, rel) == 0)
		return 0;
	if (errno != EEXIST)
		return -errno;
	n = readlinkat(repo->dirfd, rel, cur, sizeof(cur) - 1);
	if (n >= 0) {
		cur[n] = '\0';
		if (strcmp(cur, target) == 0)
			return 0;
	}
	for (int tries = 0; tries < 100; tries++) {
		uint32_t rnd = 0;

		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			rnd = (uint32_t)getpid() + (uint32_t)tries;
		/* the temporary lives in the same directory, so the rename is atomic */
		snprintf(tmp, sizeof(tmp), "%.*s.tmp-%08x-link", slash ? (int)(slash - rel + 1) : 0, rel, rnd);
		if (symlinkat(target, repo->dirfd, tmp) < 0) {
			if (errno == EEXIST)
				continue;
			return -errno;
		}
		if (renameat(repo->dirfd, tmp, repo->dirfd, rel) < 0) {
			int r = -errno;

			unlinkat(repo->dirfd, tmp, 0);
			return r;
		}
		return 0;
	}
	return -EEXIST;
}

/* mkdir -p of the directories leading to images/refs/<name>; the ref's link target. */
static int prepare_ref(struct cfs_repo *repo, const char *name, const uint8_t *digest, char *target,
		       size_t tlen)
{
	char dir[PATH_MAX], hex[2 * CFS_VERITY_MAX_DIGEST + 1];
	size_t pos = 0;
	int depth = 0;

	for (const char *c = name; (c = strchr(c, '/')) != NULL; c++) {
		int r;

		depth++;
		snprintf(dir, sizeof(dir), "images/refs/%.*s", (int)(c - name), name);
		if (mkdirat(repo->dirfd, dir, 0755) == 0) {
			/* a new directory is only durable once its parent is synced */
			*strrchr(dir, '/') = '\0';
			r = cfs_repo_sync_dir(repo, dir);
			if (r < 0)
				return r;
		} else if (errno != EEXIST) {
			r = -errno;
			return cfs_repo_fail(repo, r, "%s: %s", dir, strerror(-r));
		}
	}
	target[0] = '\0';
	for (int i = 0; i <= depth; i++)
		pos += (size_t)snprintf(target + pos, tlen - pos, "../");
	snprintf(target + pos, tlen - pos, "%s", cfs_repo_digest_hex(repo, digest, hex));
	return 0;
}

int cfs_repo_require_writable(struct cfs_repo *repo, bool need_store)
{
	if (!repo->writable)
		return cfs_repo_fail(repo, -EROFS, "repository is read-only: %s", repo->ro_why);
	if (need_store && repo->store == NULL)
		return cfs_repo_fail(repo, -ENOENT, "repository has no objects/ directory");
	return 0;
}

int cfs_repo_openat(struct cfs_repo *repo, const char *rel, int flags)
{
	return cfs_open_beneath(repo->dirfd, rel, flags | O_CLOEXEC | O_NOFOLLOW, true);
}

int cfs_repo_open_object(struct cfs_repo *repo, const uint8_t *digest)
{
	char rel[200];

	cfs_repo_object_relpath(repo, digest, rel, sizeof(rel));
	return cfs_open_regular_beneath(repo->dirfd, rel, true);
}

int cfs_repo_opendir(struct cfs_repo *repo, const char *rel, DIR **out)
{
	int fd = cfs_repo_openat(repo, rel, O_RDONLY | O_DIRECTORY);

	*out = NULL;
	if (fd < 0)
		return fd == -ENOENT ? 0 : cfs_repo_fail(repo, fd, "%s: %s", rel, strerror(-fd));
	*out = fdopendir(fd);
	if (*out == NULL) {
		int r = -errno;

		close(fd);
		return cfs_repo_fail(repo, r, "%s: %s", rel, strerror(-r));
	}
	return 0;
}

/* Point images/refs/@name at images/<hex>, durably. Caller checked the image. */
static int write_ref(struct cfs_repo *repo, const uint8_t *digest, const char *name)
{
	char target[PATH_MAX], rel[PATH_MAX], dir[PATH_MAX];
	const char *slash;
	int r;

	if (!cfs_repo_ref_name_valid(name))
		return cfs_repo_fail(repo, -EINVAL, "invalid ref name \"%s\"", name);
	r = prepare_ref(repo, name, digest, target, sizeof(target));
	if (r < 0)
		return r;
	snprintf(rel, sizeof(rel), "images/refs/%s", name);
	r = cfs_repo_replace_symlink(repo, target, rel);
	if (r < 0)
		return cfs_repo_fail(repo, r, "%s: %s", rel, strerror(-r));
	slash = strrchr(rel, '/');
	snprintf(dir, sizeof(dir), "%.*s", (int)(slash - rel), rel);
	return cfs_repo_sync_dir(repo, dir);
}

int cfs_repo_link_image(struct cfs_repo *repo, const uint8_t *digest)
{
	char hex[2 * CFS_VERITY_MAX_DIGEST + 1], rel[200], target[200];
	int r;

	cfs_repo_digest_hex(repo, digest, hex);
	snprintf(rel, sizeof(rel), "images/%s", hex);
	memcpy(target, "../", 3);
	cfs_repo_object_relpath(repo, digest, target + 3, sizeof(target) - 3);
	r = cfs_repo_replace_symlink(repo, target, rel);
	if (r < 0)
		return cfs_repo_fail(repo, r, "%s: %s", rel, strerror(-r));
	return cfs_repo_sync_dir(repo, "images");
}

int cfs_repo_publish(struct cfs_repo *repo, const uint8_t *digest, const char *name)
{
	int r = cfs_repo_link_image(repo, digest);

	if (r == 0 && name != NULL)
		r = write_ref(repo, digest, name);
	return r;
}

static int image_present(struct cfs_repo *repo, const uint8_t *digest)
{
	char hex[2 * CFS_VERITY_MAX_DIGEST + 1];
	uint8_t d[CFS_VERITY_MAX_DIGEST];
	int r;

	cfs_repo_digest_hex(repo, digest, hex);
	r = cfs_repo_read_image_link(repo, hex, d);
	if (r == -ENOENT)
		return cfs_repo_fail(repo, r, "no image %s in the repository", hex);
	if (r < 0)
		return cfs_repo_fail(repo, r, "images/%s: malformed image link", hex);
	r = cfs_repo_open_object(repo, d);
	if (r < 0)
		return cfs_repo_fail(repo, -ENOENT, "image %s: its object is %s", hex,
				     r == -CFS_ENOTREG ? "not a regular file" : "missing");
	close(r);
	return 0;
}

int cfs_repo_tag(struct cfs_repo *repo, const uint8_t *digest, const char *name)
{
	int r = cfs_repo_require_writable(repo, false);

	if (r == 0 && !cfs_repo_ref_name_valid(name))
		r = cfs_repo_fail(repo, -EINVAL, "invalid ref name \"%s\"", name);
	if (r == 0)
		r = image_present(repo, digest);
	if (r == 0)
		r = write_ref(repo, digest, name);
	return r;
}

int cfs_repo_remove_ref_link(struct cfs_repo *repo, const char *top, const char *name)
{
	char rel[PATH_MAX], dir[PATH_MAX];
	struct stat st;

	if ((size_t)snprintf(rel, sizeof(rel), "%s/%s", top, name) >= sizeof(rel))
		return cfs_repo_fail(repo, -ENAMETOOLONG, "ref %s: name too long", name);
	if (fstatat(repo->dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return cfs_repo_fail(repo, -errno, "ref %s: %s", name, strerror(errno));
	if (!S_ISLNK(st.st_mode))
		return cfs_repo_fail(repo, -EINVAL, "%s is not a ref", rel);
	if (unlinkat(repo->dirfd, rel, 0) < 0)
		return cfs_repo_fail(repo, -errno, "%s: %s", rel, strerror(errno));
	/* directories the name alone kept are removed with it */
	for (;;) {
		snprintf(dir, sizeof(dir), "%.*s", (int)(strrchr(rel, '/') - rel), rel);
		if (strcmp(dir, top) == 0 || unlinkat(repo->dirfd, dir, AT_REMOVEDIR) < 0)
			break;
		snprintf(rel, sizeof(rel), "%s", dir);
	}
	return cfs_repo_sync_dir(repo, dir);
}

int cfs_repo_untag(struct cfs_repo *repo, const char *name)
{
	int r = cfs_repo_require_writable(repo, false);

	if (r < 0)
		return r;
	if (strncmp(name, "refs/", 5) == 0)
		name += 5;
	/* too deep to be created now, but removable: refs of older versions */
	if (!ref_name_ok(name, true))
		return cfs_repo_fail(repo, -EINVAL, "invalid ref name \"%s\"", name);
	return cfs_repo_remove_ref_link(repo, "images/refs", name);
}

int cfs_repo_resolve(struct cfs_repo *repo, const char *spec, uint8_t *digest_out, bool *by_digest)
{
	_cleanup_close_ int refs = -1;
	int r;

	if (by_digest != NULL)
		*by_digest = false;
	if (cfs_repo_digest_parse(repo, spec, digest_out) == 0) {
		r = image_present(repo, digest_out);
		if (r == 0 && by_digest != NULL)
			*by_digest = true;
		return r;
	}
	if (strncmp(spec, "refs/", 5) == 0)
		spec += 5;
	if (!cfs_repo_ref_name_valid(spec))
		return cfs_repo_fail(repo, -ENOENT, "no image called \"%s\"", spec);
	refs = cfs_repo_openat(repo, "images/refs", O_RDONLY | O_DIRECTORY);
	if (refs < 0)
		return cfs_repo_fail(repo, -ENOENT, "no image called \"%s\"", spec);
	r = cfs_repo_read_ref(repo, refs, spec, digest_out);
	if (r == -ENOENT)
		return cfs_repo_fail(repo, r, "no image called \"%s\"", spec);
	if (r < 0)
		return cfs_repo_fail(repo, r, "ref %s: malformed", spec);
	return image_present(repo, digest_out);
}

int cfs_repo_open_image(struct cfs_repo *repo, const uint8_t *digest, bool verify, int *fd_out)
{
	char hex[2 * CFS_VERITY_MAX_DIGEST + 1];
	uint8_t got[CFS_VERITY_MAX_DIGEST];
	_cleanup_close_ int fd = -1;
	int r;

	cfs_repo_digest_hex(repo, digest, hex);
	/* images/<hex> must name its own object, which is opened without following links */
	r = cfs_repo_read_image_link(repo, hex, got);
	if (r < 0)
		return cfs_repo_fail(repo, r, "image %s: %s", hex,
				     r == -ENOENT ? strerror(ENOENT) : "malformed image link");
	fd = cfs_repo_open_object(repo, digest);
	if (fd < 0)
		return cfs_repo_fail(repo, fd, "image %s: %s", hex,
				     fd == -CFS_ENOTREG ? "its object is not a regular file" : strerror(-fd));
	if (verify) {
		r = cfs_verity_measure_fd(fd, repo->alg, got, NULL);
		if (r < 0)
			return cfs_repo_fail(repo, r, "image %s: %s", hex, strerror(-r));
		if (memcmp(got, digest, repo->dsize) != 0)
			return cfs_repo_fail(repo, -CFS_EDIGEST, "image %s: content does not match its digest", hex);
	}
	*fd_out = cfs_steal_fd(&fd);
	return 0;
}
