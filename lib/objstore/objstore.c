/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Object store: atomic, deduplicated, batch-synced `XX/<hex>` objects. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <composefs/store.h>

#include "hashset.h"
#include "objstore-private.h"
#include "util.h"

#define OBJ_MODE 0644
#define DIR_MODE 0755
#define TMP_PREFIX ".tmp-"
#define WRITER_ID_HEX 16 /* 8 random bytes name a writer (one store handle) */
#define LOCK_SUFFIX ".lock"
/* ".tmp-" writer "-" random, or ".tmp-" writer ".lock" */
#define TMPNAME_SIZE 48
#define COPY_BUF_SIZE (256 * 1024)
/* more touched directories than this: one syncfs() instead of one fsync() each */
#define SYNCFS_DIR_THRESHOLD 8

struct staged {
	char tmpname[TMPNAME_SIZE];
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
};

struct cfs_objstore {
	int dirfd;
	unsigned flags;
	enum cfs_hash_alg alg;
	size_t dsize;
	bool created; /* the store directory itself was made by us: sync its parent */
	bool need_fchmod; /* the umask (read at open) may take bits of OBJ_MODE away */
	atomic_int verity_unsupported;
	atomic_uint_fast64_t tmp_serial; /* names this writer's temporary files */

	pthread_mutex_t sync_lock; /* one cfs_objstore_sync() at a time; taken before lock */

	pthread_mutex_t lock; /* protects everything below */
	struct staged *staged;
	size_t n_staged, cap_staged;
	struct cfs_hashset set; /* uint32_t: index into staged[], by digest */
	uint8_t dir_known[32]; /* bitmap over the first digest byte: XX exists */
	uint8_t dir_touched[32]; /* XX got new names since the last directory sync */
	bool root_touched;
	/* the writer lock, taken before the first temporary file is made */
	int writer_fd;
	char writer_id[WRITER_ID_HEX + 1];
};

struct cfs_objstore_stage {
	struct cfs_objstore *s;
	int fd;
	char tmpname[TMPNAME_SIZE];
};

static bool bit_get(const uint8_t *map, unsigned i)
{
	return (map[i / 8] >> (i % 8)) & 1;
}

static void bit_set(uint8_t *map, unsigned i)
{
	map[i / 8] |= (uint8_t)(1u << (i % 8));
}

/* mkdir -p relative to @atdirfd; true in *@created when the last component was made. */
static int mkdir_parents(int atdirfd, const char *path, bool *created)
{
	_cleanup_free_ char *p = strdup(path);
	char *slash;

	*created = false;
	if (p == NULL)
		return -ENOMEM;
	if (mkdirat(atdirfd, p, DIR_MODE) == 0) {
		*created = true;
		return 0;
	}
	if (errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return -errno;
	/* create the missing ancestors, then the directory itself */
	for (slash = strchr(p + 1, '/'); slash != NULL; slash = strchr(slash + 1, '/')) {
		*slash = '\0';
		if (mkdirat(atdirfd, p, DIR_MODE) < 0 && errno != EEXIST)
			return -errno;
		*slash = '/';
	}
	if (mkdirat(atdirfd, p, DIR_MODE) == 0)
		*created = true;
	else if (errno != EEXIST)
		return -errno;
	return 0;
}

static bool staged_eq(const void *elem, const void *key, void *arg);

/*
 * Whether files created with OBJ_MODE need an fchmod(): the umask, read once
 * from /proc (umask(2) cannot read it without changing it for every thread).
 * When it cannot be read, every file gets its fchmod().
 */
static bool umask_narrows_obj_mode(void)
{
	char line[128];
	bool narrows = true;
	FILE *fp = fopen("/proc/self/status", "re");

	if (fp == NULL)
		return true;
	while (fgets(line, sizeof(line), fp) != NULL) {
		unsigned mask;

		if (sscanf(line, "Umask: %o", &mask) == 1) {
			narrows = (mask & OBJ_MODE) != 0;
			break;
		}
	}
	fclose(fp);
	return narrows;
}

int cfs_objstore_open(int atdirfd, const char *path, unsigned flags, enum cfs_hash_alg alg,
		      struct cfs_objstore **out)
{
	struct cfs_objstore *s;
	size_t dsize = cfs_verity_digest_size(alg);
	bool created = false;
	int fd, r;

	*out = NULL;
	if ((flags & ~(CFS_OBJSTORE_CREATE | CFS_OBJSTORE_BATCH)) != 0 || dsize == 0 ||
	    path == NULL || path[0] == '\0')
		return -EINVAL;
	if (flags & CFS_OBJSTORE_CREATE) {
		r = mkdir_parents(atdirfd, path, &created);
		if (r < 0)
			return r;
	}
	fd = openat(atdirfd, path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	s = calloc(1, sizeof(*s));
	if (s != NULL)
		cfs_hashset_init(&s->set, sizeof(uint32_t), staged_eq, s);
	if (s == NULL) {
		close(fd);
		return -ENOMEM;
	}
	r = pthread_mutex_init(&s->lock, NULL);
	if (r == 0) {
		r = pthread_mutex_init(&s->sync_lock, NULL);
		if (r != 0)
			pthread_mutex_destroy(&s->lock);
	}
	if (r != 0) {
		close(fd);
		free(s);
		return -r;
	}
	s->need_fchmod = umask_narrows_obj_mode();
	s->dirfd = fd;
	s->writer_fd = -1;
	s->flags = flags;
	s->alg = alg;
	s->dsize = dsize;
	s->created = created;
	*out = s;
	return 0;
}

void cfs_objstore_free(struct cfs_objstore *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->n_staged; i++)
		unlinkat(s->dirfd, s->staged[i].tmpname, 0);
	if (s->writer_id[0] != '\0') {
		char name[TMPNAME_SIZE];

		snprintf(name, sizeof(name), TMP_PREFIX "%s" LOCK_SUFFIX, s->writer_id);
		unlinkat(s->dirfd, name, 0);
	}
	if (s->writer_fd >= 0)
		close(s->writer_fd);
	free(s->staged);
	cfs_hashset_free(&s->set);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->sync_lock);
	close(s->dirfd);
	free(s);
}

enum cfs_hash_alg cfs_objstore_get_alg(const struct cfs_objstore *s)
{
	return s->alg;
}

int cfs_objstore_get_dirfd(const struct cfs_objstore *s)
{
	return s->dirfd;
}

int cfs_objstore_digest_path(const uint8_t *digest, size_t dsize, char *buf, size_t len)
{
	size_t need = 2 * dsize + 2;

	if (dsize == 0)
		return -EINVAL;
	if (len < need)
		return -ERANGE;
	cfs_hex_encode(digest, 1, buf);
	buf[2] = '/';
	cfs_hex_encode(digest + 1, dsize - 1, buf + 3);
	return (int)(need - 1);
}

int cfs_objstore_parse_path(const char *path, size_t dsize, uint8_t *digest)
{
	char hex[2 * CFS_VERITY_MAX_DIGEST];
	size_t n = 2 * dsize;

	if (dsize == 0 || dsize > CFS_VERITY_MAX_DIGEST || strlen(path) != n + 1 || path[2] != '/')
		return -EINVAL;
	memcpy(hex, path, 2);
	memcpy(hex + 2, path + 3, n - 2);
	/* upper-case hex would decode but is not how objects are named */
	for (size_t i = 0; i < n; i++)
		if (!((hex[i] >= '0' && hex[i] <= '9') || (hex[i] >= 'a' && hex[i] <= 'f')))
			return -EINVAL;
	return cfs_hex_decode(hex, n, digest, dsize);
}

int cfs_objstore_object_path(const struct cfs_objstore *s, const uint8_t *digest, char *buf,
			     size_t len)
{
	return cfs_objstore_digest_path(digest, s->dsize, buf, len);
}

/* ---- the set of staged digests (caller holds the lock) ------------------- */

static bool staged_eq(const void *elem, const void *key, void *arg)
{
	const struct cfs_objstore *s = arg;

	return memcmp(s->staged[*(const uint32_t *)elem].digest, key, s->dsize) == 0;
}

static uint64_t digest_hash(const struct cfs_objstore *s, const uint8_t *digest)
{
	return cfs_hash64(digest, s->dsize, 0);
}

static struct staged *set_find(const struct cfs_objstore *s, const uint8_t *digest)
{
	const uint32_t *i = cfs_hashset_find(&s->set, digest_hash(s, digest), digest);

	return i != NULL ? &s->staged[*i] : NULL;
}

/* Index staged[@idx] (not in the set yet). 0 or -ENOMEM. */
static int set_insert_index(struct cfs_objstore *s, size_t idx)
{
	uint32_t *slot;
	int r = cfs_hashset_insert(&s->set, digest_hash(s, s->staged[idx].digest), s->staged[idx].digest,
				   (void **)&slot);

	if (r < 0)
		return r;
	*slot = (uint32_t)idx;
	return 0;
}

static int staged_add(struct cfs_objstore *s, const char *tmpname, const uint8_t *digest)
{
	struct staged *e;
	int r;

	if (s->n_staged >= UINT32_MAX - 1)
		return -ENOSPC;
	if (s->n_staged == s->cap_staged) {
		size_t cap = s->cap_staged ? 2 * s->cap_staged : 256;

		e = realloc(s->staged, cap * sizeof(*e));
		if (e == NULL)
			return -ENOMEM;
		s->staged = e;
		s->cap_staged = cap;
	}
	r = cfs_hashset_reserve(&s->set, s->n_staged + 1);
	if (r < 0)
		return r;
	e = &s->staged[s->n_staged];
	memset(e, 0, sizeof(*e));
	snprintf(e->tmpname, sizeof(e->tmpname), "%s", tmpname);
	memcpy(e->digest, digest, s->dsize);
	(void)set_insert_index(s, s->n_staged); /* reserved above: cannot fail */
	s->n_staged++;
	return 0;
}

/* ---- lookups --------------------------------------------------------------- */

int cfs_objstore_has(struct cfs_objstore *s, const uint8_t *digest)
{
	char path[2 * CFS_VERITY_MAX_DIGEST + 2];
	struct stat st;
	bool staged;

	pthread_mutex_lock(&s->lock);
	staged = set_find(s, digest) != NULL;
	pthread_mutex_unlock(&s->lock);
	if (staged)
		return 1;
	cfs_objstore_object_path(s, digest, path, sizeof(path));
	if (fstatat(s->dirfd, path, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	return S_ISREG(st.st_mode) ? 1 : -EUCLEAN;
}

int cfs_basedir_has_payload(int basedir_fd, const char *payload)
{
	int fd;

	if (payload == NULL)
		return -EINVAL;
	/* the image's redirect is "/" + payload; composefs-fuse skips the slashes too */
	while (*payload == '/')
		payload++;
	if (*payload == '\0')
		return -EINVAL;
	fd = cfs_open_regular_beneath(basedir_fd, payload, false);
	if (fd >= 0) {
		close(fd);
		return 1;
	}
	/* absent, outside (EXDEV), not a regular file, a looping or too deep path, a
	 * file where a directory should be: all mean a mount finds nothing there */
	if (fd == -ENOENT || fd == -EXDEV || fd == -CFS_ENOTREG || fd == -ELOOP || fd == -ENOTDIR ||
	    fd == -ENAMETOOLONG)
		return 0;
	return fd;
}

int cfs_objstore_open_object(struct cfs_objstore *s, const uint8_t *digest, int *fd_out)
{
	char path[2 * CFS_VERITY_MAX_DIGEST + 2];
	struct staged *e;
	bool staged;
	int fd = -1, err = 0;

	*fd_out = -1;
	cfs_objstore_object_path(s, digest, path, sizeof(path));
	pthread_mutex_lock(&s->lock);
	e = set_find(s, digest);
	staged = e != NULL;
	if (staged) {
		fd = openat(s->dirfd, e->tmpname, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		err = fd < 0 ? errno : 0;
	}
	pthread_mutex_unlock(&s->lock);
	/* not staged, or renamed to its name by a cfs_objstore_sync() running meanwhile */
	if (!staged || err == ENOENT) {
		fd = openat(s->dirfd, path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		err = fd < 0 ? errno : 0;
	}
	if (fd < 0)
		return -err;
	*fd_out = fd;
	return 0;
}

/* ---- writer locks: which temporary files belong to a live writer ---------- */

/*
 * A store has no lock of its own (a plain --digest-store directory may be
 * shared by unrelated programs), so each writer announces itself: before its
 * first temporary file it creates `.tmp-<id>.lock` and holds flock(LOCK_EX) on
 * it for the life of the handle; its temporary files are `.tmp-<id>-<random>`.
 * The kernel drops the lock when the writer exits or is killed, so a lock
 * that can be taken marks temporary files nobody will ever finish
 * (cfs_objstore_clean()). Caller holds s->lock.
 */
static int writer_lock(struct cfs_objstore *s)
{
	for (int tries = 0; tries < 16; tries++) {
		uint8_t rnd[WRITER_ID_HEX / 2];
		char id[WRITER_ID_HEX + 1], name[TMPNAME_SIZE];
		struct stat a, b;
		int fd;

		if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd))
			return -errno;
		cfs_hex_encode(rnd, sizeof(rnd), id);
		snprintf(name, sizeof(name), TMP_PREFIX "%s" LOCK_SUFFIX, id);
		fd = openat(s->dirfd, name, O_CREAT | O_EXCL | O_RDONLY | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0) {
			if (errno == EEXIST)
				continue;
			return -errno;
		}
		if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
			int err = errno;

			if (err == EWOULDBLOCK) {
				/* a cleaner found it between our create and lock */
				close(fd);
				continue;
			}
			/* no flock here (some network file systems): write unlocked, and
			 * cleaners, unable to lock either, leave our files alone */
		}
		/* a cleaner that locked and removed the file before us leaves us
		 * holding a lock nobody can see: start over under a new name */
		if (fstat(fd, &a) < 0 || fstatat(s->dirfd, name, &b, AT_SYMLINK_NOFOLLOW) < 0 ||
		    a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
			close(fd);
			continue;
		}
		s->writer_fd = fd;
		memcpy(s->writer_id, id, sizeof(id));
		return 0;
	}
	return -EEXIST;
}

static bool is_lower_hex(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return false;
	return true;
}

/* The writer id of a temporary file or writer lock name, or false if @name is neither. */
static bool writer_of(const char *name, char id[WRITER_ID_HEX + 1], bool *is_lock)
{
	size_t plen = strlen(TMP_PREFIX);
	const char *rest = name + plen + WRITER_ID_HEX;

	if (strncmp(name, TMP_PREFIX, plen) != 0 || strlen(name) <= plen + WRITER_ID_HEX ||
	    !is_lower_hex(name + plen, WRITER_ID_HEX))
		return false;
	if (strcmp(rest, LOCK_SUFFIX) == 0)
		*is_lock = true;
	else if (rest[0] == '-' && rest[1] != '\0')
		*is_lock = false;
	else
		return false;
	memcpy(id, name + plen, WRITER_ID_HEX);
	id[WRITER_ID_HEX] = '\0';
	return true;
}

/*
 * Take the lock of writer @id in @dirfd with flock @op (| LOCK_NB): the lock's descriptor when
 * the writer is gone; -ENOENT when it has no lock file; -EBUSY or the open's error when it
 * cannot be told gone (its lock held, no flock here, not a regular file, a lock we may not open).
 */
static int take_writer_lock(int dirfd, const char *id, int op)
{
	char lock[TMPNAME_SIZE];
	struct stat st;
	int fd;

	snprintf(lock, sizeof(lock), TMP_PREFIX "%s" LOCK_SUFFIX, id);
	/* O_NONBLOCK: a FIFO planted under the name must not hang us */
	fd = openat(dirfd, lock, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || flock(fd, op | LOCK_NB) < 0) {
		close(fd);
		return -EBUSY;
	}
	return fd;
}

bool cfs_objstore_temp_in_use(int dirfd, const char *name)
{
	char id[WRITER_ID_HEX + 1];
	bool is_lock;
	int fd;

	if (!writer_of(name, id, &is_lock))
		return false;
	fd = take_writer_lock(dirfd, id, LOCK_SH);
	if (fd >= 0)
		close(fd); /* gone: we could lock it (closing drops our lock) */
	return fd != -ENOENT && fd < 0;
}

struct dead_writer {
	char id[WRITER_ID_HEX + 1];
	int fd; /* its lock, held by us until its files are gone */
};

static void dead_writers_free(struct dead_writer *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		close(v[i].fd);
	free(v);
}

int cfs_objstore_clean(struct cfs_objstore *s, unsigned flags, uint64_t *files_removed,
		       uint64_t *bytes_removed)
{
	struct dead_writer *dead = NULL;
	size_t n_dead = 0, cap = 0;
	uint64_t files = 0, bytes = 0;
	struct dirent *de;
	DIR *d;
	int fd, r = 0;

	if (files_removed != NULL)
		*files_removed = 0;
	if (bytes_removed != NULL)
		*bytes_removed = 0;
	if (flags != 0)
		return -EINVAL;
	fd = openat(s->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	d = fdopendir(fd);
	if (d == NULL) {
		r = -errno;
		close(fd);
		return r;
	}
	/* first the writers that are gone: their lock can be taken */
	while ((de = readdir(d)) != NULL) {
		char id[WRITER_ID_HEX + 1];
		bool is_lock;
		int lfd;

		if (!writer_of(de->d_name, id, &is_lock) || !is_lock)
			continue;
		pthread_mutex_lock(&s->lock);
		is_lock = strcmp(id, s->writer_id) == 0; /* our own: alive */
		pthread_mutex_unlock(&s->lock);
		if (is_lock)
			continue;
		lfd = take_writer_lock(s->dirfd, id, LOCK_EX);
		if (lfd < 0)
			continue; /* gone meanwhile, alive, or not ours to judge */
		if (n_dead == cap) {
			size_t ncap = cap ? 2 * cap : 8;
			struct dead_writer *v = realloc(dead, ncap * sizeof(*v));

			if (v == NULL) {
				close(lfd);
				r = -ENOMEM;
				break;
			}
			dead = v;
			cap = ncap;
		}
		memcpy(dead[n_dead].id, id, sizeof(id));
		dead[n_dead++].fd = lfd;
	}
	/* then their temporary files, then (still holding it) each lock */
	if (r == 0 && n_dead > 0) {
		rewinddir(d);
		while ((de = readdir(d)) != NULL) {
			char id[WRITER_ID_HEX + 1];
			bool is_lock, found = false;
			struct stat st;

			if (!writer_of(de->d_name, id, &is_lock) || is_lock)
				continue;
			for (size_t i = 0; i < n_dead && !found; i++)
				found = strcmp(dead[i].id, id) == 0;
			if (!found || fstatat(s->dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			    S_ISDIR(st.st_mode))
				continue;
			if (unlinkat(s->dirfd, de->d_name, 0) < 0) {
				if (errno != ENOENT && r == 0)
					r = -errno;
				continue;
			}
			files++;
			bytes += (uint64_t)st.st_size;
		}
		for (size_t i = 0; i < n_dead; i++) {
			char name[TMPNAME_SIZE];

			snprintf(name, sizeof(name), TMP_PREFIX "%s" LOCK_SUFFIX, dead[i].id);
			if (unlinkat(s->dirfd, name, 0) == 0)
				files++;
			else if (errno != ENOENT && r == 0)
				r = -errno;
		}
	}
	closedir(d);
	dead_writers_free(dead, n_dead);
	if (files_removed != NULL)
		*files_removed = files;
	if (bytes_removed != NULL)
		*bytes_removed = bytes;
	return r;
}

/* ---- staging and publishing ---------------------------------------------- */

int cfs_objstore_stage_new(struct cfs_objstore *s, struct cfs_objstore_stage **out)
{
	struct cfs_objstore_stage *st = calloc(1, sizeof(*st));
	int r = 0;

	*out = NULL;
	if (st == NULL)
		return -ENOMEM;
	st->s = s;
	pthread_mutex_lock(&s->lock);
	if (s->writer_id[0] == '\0')
		r = writer_lock(s);
	pthread_mutex_unlock(&s->lock);
	if (r < 0) {
		free(st);
		return r;
	}
	for (int tries = 0;; tries++) {
		/*
		 * The writer id is ours while we hold its lock, so a serial number makes the name
		 * unique; O_EXCL still guards against files someone else made under our prefix.
		 */
		uint64_t serial = atomic_fetch_add(&s->tmp_serial, 1);

		/* writer_id is set once and never changes while the handle lives */
		snprintf(st->tmpname, sizeof(st->tmpname), TMP_PREFIX "%s-%016llx", s->writer_id,
			 (unsigned long long)serial);
		st->fd = openat(s->dirfd, st->tmpname, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, OBJ_MODE);
		if (st->fd >= 0)
			break;
		if (errno != EEXIST || tries >= 16) {
			r = -errno;
			free(st);
			return r;
		}
	}
	/* the umask may have narrowed the mode; objects are world-readable */
	if (s->need_fchmod && fchmod(st->fd, OBJ_MODE) < 0) {
		r = -errno;
		cfs_objstore_stage_free(st);
		return r;
	}
	*out = st;
	return 0;
}

int cfs_objstore_stage_fd(const struct cfs_objstore_stage *st)
{
	return st->fd;
}

void cfs_objstore_stage_free(struct cfs_objstore_stage *st)
{
	if (st == NULL)
		return;
	if (st->fd >= 0)
		close(st->fd);
	unlinkat(st->s->dirfd, st->tmpname, 0);
	free(st);
}

int cfs_objstore_stage_clone(struct cfs_objstore_stage *st, int src_fd)
{
	if (ioctl(st->fd, FICLONE, src_fd) == 0)
		return 0;
	if (errno == EXDEV || errno == EINVAL || errno == ENOTTY || errno == EOPNOTSUPP ||
	    errno == ENOSYS)
		return -EOPNOTSUPP;
	return -errno;
}

/* Create XX (for the object @digest) if needed. Caller holds the lock. */
static int ensure_subdir(struct cfs_objstore *s, const uint8_t *digest)
{
	char name[3];

	if (bit_get(s->dir_known, digest[0]))
		return 0;
	cfs_hex_encode(digest, 1, name);
	name[2] = '\0';
	if (mkdirat(s->dirfd, name, DIR_MODE) == 0)
		s->root_touched = true;
	else if (errno != EEXIST)
		return -errno;
	bit_set(s->dir_known, digest[0]);
	return 0;
}

/*
 * Give a synced temporary file its final name (its XX exists). Touches no state of the
 * handle, so it runs without the lock; the caller marks XX touched.
 */
static int rename_into_place(struct cfs_objstore *s, const char *tmpname, const uint8_t *digest)
{
	char path[2 * CFS_VERITY_MAX_DIGEST + 2];

	cfs_objstore_object_path(s, digest, path, sizeof(path));
	if (renameat2(s->dirfd, tmpname, s->dirfd, path, RENAME_NOREPLACE) < 0) {
		if (errno == EEXIST) {
			/* a concurrent writer won: identical content by construction */
			unlinkat(s->dirfd, tmpname, 0);
			return 0;
		}
		if (errno != EINVAL && errno != ENOSYS)
			return -errno;
		/* no RENAME_NOREPLACE on this filesystem: link + unlink is equivalent */
		if (linkat(s->dirfd, tmpname, s->dirfd, path, 0) < 0 && errno != EEXIST)
			return -errno;
		unlinkat(s->dirfd, tmpname, 0);
	}
	return 0;
}

static int fsync_at(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int r = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		r = -errno;
	close(fd);
	return r;
}

/*
 * Sync the directories that got new entries. The caller holds sync_lock (not lock): the
 * syncs run without the lock, so staging goes on meanwhile, and one at a time, so a
 * caller that returns knows its names are durable even when another took its marks.
 */
static int sync_dirs(struct cfs_objstore *s)
{
	uint8_t touched[sizeof(s->dir_touched)];
	bool root_touched, created;
	unsigned n_touched = 0;
	int r = 0, r2;

	pthread_mutex_lock(&s->lock);
	memcpy(touched, s->dir_touched, sizeof(touched));
	memset(s->dir_touched, 0, sizeof(s->dir_touched));
	root_touched = s->root_touched;
	created = s->created;
	s->root_touched = s->created = false;
	pthread_mutex_unlock(&s->lock);

	for (unsigned i = 0; i < sizeof(touched); i++)
		n_touched += (unsigned)__builtin_popcount(touched[i]);
	if (n_touched > SYNCFS_DIR_THRESHOLD) {
		/*
		 * Each directory fsync costs a device cache flush on common
		 * filesystems; one filesystem sync commits all the renames at once.
		 */
		if (syncfs(s->dirfd) < 0) {
			r = -errno;
		} else {
			memset(touched, 0, sizeof(touched));
			root_touched = false;
		}
	}
	for (unsigned i = 0; r == 0 && i < 256; i++) {
		char name[3];

		if (!bit_get(touched, i))
			continue;
		snprintf(name, sizeof(name), "%02x", i);
		r2 = fsync_at(s->dirfd, name);
		if (r2 < 0 && r == 0)
			r = r2;
		else if (r2 == 0)
			touched[i / 8] &= (uint8_t)~(1u << (i % 8));
	}
	if (r == 0 && root_touched) {
		if (fsync(s->dirfd) < 0)
			r = -errno;
		else
			root_touched = false;
	}
	if (r == 0 && created) {
		r = fsync_at(s->dirfd, "..");
		if (r == 0)
			created = false;
	}
	/* what is not synced yet is left for the next call */
	pthread_mutex_lock(&s->lock);
	for (unsigned i = 0; i < sizeof(touched); i++)
		s->dir_touched[i] |= touched[i];
	s->root_touched |= root_touched;
	s->created |= created;
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* fs-verity needs a read-only descriptor and no writers; failure is not fatal. */
static void try_enable_verity(struct cfs_objstore *s, const char *tmpname)
{
	int fd, r;

	if (atomic_load(&s->verity_unsupported))
		return;
	fd = openat(s->dirfd, tmpname, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return;
	r = cfs_verity_kernel_enable(fd, s->alg);
	if (r == -EOPNOTSUPP || r == -ENOTTY || r == -ENOSYS)
		atomic_store(&s->verity_unsupported, 1);
	close(fd);
}

int cfs_objstore_stage_commit(struct cfs_objstore_stage *st, const uint8_t *digest)
{
	struct cfs_objstore *s = st->s;
	bool batch = (s->flags & CFS_OBJSTORE_BATCH) != 0;
	char path[2 * CFS_VERITY_MAX_DIGEST + 2];
	struct stat sb;
	int r = 0;

	/* already published (e.g. by an earlier run): nothing to sync or stage */
	cfs_objstore_object_path(s, digest, path, sizeof(path));
	if (fstatat(s->dirfd, path, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(sb.st_mode))
		goto out;
	if (!batch && fsync(st->fd) < 0) {
		r = -errno;
		goto out;
	}
	close(st->fd);
	st->fd = -1;
	try_enable_verity(s, st->tmpname);

	pthread_mutex_lock(&s->lock);
	if (set_find(s, digest) != NULL) {
		pthread_mutex_unlock(&s->lock);
		goto out; /* same content staged by someone else */
	}
	if (batch) {
		r = staged_add(s, st->tmpname, digest);
		if (r == 0)
			st->tmpname[0] = '\0'; /* now owned by the store */
		pthread_mutex_unlock(&s->lock);
		goto out;
	}
	r = ensure_subdir(s, digest);
	pthread_mutex_unlock(&s->lock);
	if (r == 0)
		r = rename_into_place(s, st->tmpname, digest);
	if (r == 0) {
		st->tmpname[0] = '\0';
		pthread_mutex_lock(&s->lock);
		bit_set(s->dir_touched, digest[0]);
		pthread_mutex_unlock(&s->lock);
		pthread_mutex_lock(&s->sync_lock);
		r = sync_dirs(s);
		pthread_mutex_unlock(&s->sync_lock);
	}
out:
	if (st->tmpname[0] == '\0') {
		free(st);
		return r;
	}
	cfs_objstore_stage_free(st);
	return r;
}

/* Forget staged[0, @n), now published; index the rest again. Caller holds the lock. */
static int staged_drop_first(struct cfs_objstore *s, size_t n)
{
	int r;

	memmove(s->staged, s->staged + n, (s->n_staged - n) * sizeof(*s->staged));
	s->n_staged -= n;
	/* the indices moved (room for them was reserved before) */
	cfs_hashset_free(&s->set);
	cfs_hashset_init(&s->set, sizeof(uint32_t), staged_eq, s);
	r = cfs_hashset_reserve(&s->set, s->n_staged);
	for (size_t i = 0; r == 0 && i < s->n_staged; i++)
		r = set_insert_index(s, i);
	return r;
}

int cfs_objstore_sync(struct cfs_objstore *s)
{
	struct staged *batch = NULL;
	size_t n, done = 0;
	int r = 0, r2;

	/*
	 * Only this function removes staged entries, one call at a time: the first n stay
	 * ours while other threads stage more, so the filesystem sync and the renames run
	 * without the lock (cfs_objstore_open_object() finds an object renamed meanwhile under
	 * its name). The batch is copied because staging more may move the array.
	 */
	pthread_mutex_lock(&s->sync_lock);
	pthread_mutex_lock(&s->lock);
	n = s->n_staged;
	if (n > 0 && (batch = malloc(n * sizeof(*batch))) == NULL)
		r = -ENOMEM;
	for (size_t i = 0; r == 0 && i < n; i++) {
		batch[i] = s->staged[i];
		r = ensure_subdir(s, batch[i].digest); /* before the sync, which makes it durable */
	}
	pthread_mutex_unlock(&s->lock);
	if (r == 0 && n > 0 && syncfs(s->dirfd) < 0)
		r = -errno;
	/* on an error, what is not renamed stays staged: a later call retries */
	for (; r == 0 && done < n; done++) {
		r = rename_into_place(s, batch[done].tmpname, batch[done].digest);
		if (r < 0)
			break;
	}
	pthread_mutex_lock(&s->lock);
	for (size_t i = 0; i < done; i++)
		bit_set(s->dir_touched, batch[i].digest[0]);
	if (done > 0) {
		r2 = staged_drop_first(s, done);
		if (r == 0)
			r = r2;
	}
	pthread_mutex_unlock(&s->lock);
	free(batch);
	r2 = sync_dirs(s);
	if (r == 0)
		r = r2;
	pthread_mutex_unlock(&s->sync_lock);
	return r;
}

size_t cfs_objstore_n_staged(struct cfs_objstore *s)
{
	size_t n;

	pthread_mutex_lock(&s->lock);
	n = s->n_staged;
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* ---- convenience puts -------------------------------------------------------- */

static int copy_rw(int src_fd, int dst_fd, uint64_t off, uint64_t size)
{
	_cleanup_free_ uint8_t *buf = malloc(COPY_BUF_SIZE);

	if (buf == NULL)
		return -ENOMEM;
	while (off < size) {
		size_t want = size - off < COPY_BUF_SIZE ? (size_t)(size - off) : COPY_BUF_SIZE;
		ssize_t n = cfs_pread_full(src_fd, buf, want, (off_t)off);
		int r;

		if (n < 0)
			return (int)n;
		if (n == 0)
			return -EIO; /* source shorter than promised */
		r = cfs_write_full(dst_fd, buf, (size_t)n);
		if (r < 0)
			return r;
		off += (uint64_t)n;
	}
	return 0;
}

static int copy_data(int src_fd, int dst_fd, uint64_t size)
{
	loff_t in_off = 0;

	while ((uint64_t)in_off < size) {
		size_t want = size - (uint64_t)in_off > (1u << 30) ? (1u << 30)
								   : (size_t)(size - (uint64_t)in_off);
		ssize_t n = copy_file_range(src_fd, &in_off, dst_fd, NULL, want, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (in_off == 0 && (errno == EXDEV || errno == ENOSYS || errno == EINVAL ||
					    errno == EOPNOTSUPP || errno == EPERM || errno == EBADF))
				return copy_rw(src_fd, dst_fd, 0, size);
			return -errno;
		}
		if (n == 0) {
			/* some filesystems claim success and copy nothing: do it by hand */
			return copy_rw(src_fd, dst_fd, (uint64_t)in_off, size);
		}
	}
	return 0;
}

/* Stage a new object unless @digest is stored already: 1 (stored, *@out NULL), 0 (staged) or -errno. */
static int stage_unless_stored(struct cfs_objstore *s, const uint8_t *digest, struct cfs_objstore_stage **out)
{
	int r = cfs_objstore_has(s, digest);

	*out = NULL;
	if (r != 0)
		return r < 0 ? r : 1;
	return cfs_objstore_stage_new(s, out);
}

/* Commit @st under @digest when filling it succeeded (@r == 0), else drop it. */
static int finish_stage(struct cfs_objstore_stage *st, int r, const uint8_t *digest)
{
	if (r < 0) {
		cfs_objstore_stage_free(st);
		return r;
	}
	return cfs_objstore_stage_commit(st, digest);
}

int cfs_objstore_put_fd(struct cfs_objstore *s, int src_fd, uint64_t size, const uint8_t *digest)
{
	struct cfs_objstore_stage *st;
	struct stat sb;
	int r;

	r = stage_unless_stored(s, digest, &st);
	if (r != 0)
		return r < 0 ? r : 0;
	r = cfs_objstore_stage_clone(st, src_fd);
	if (r == 0) {
		if (fstat(st->fd, &sb) < 0)
			r = -errno;
		else if ((uint64_t)sb.st_size != size)
			r = -EIO;
	} else if (r == -EOPNOTSUPP) {
		r = copy_data(src_fd, st->fd, size);
	}
	return finish_stage(st, r, digest);
}

int cfs_objstore_put_buf(struct cfs_objstore *s, const void *buf, size_t len,
			 const uint8_t *digest)
{
	struct cfs_objstore_stage *st;
	int r;

	r = stage_unless_stored(s, digest, &st);
	if (r != 0)
		return r < 0 ? r : 0;
	return finish_stage(st, cfs_write_full(st->fd, buf, len), digest);
}
