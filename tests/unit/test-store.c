/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Unit tests of the object store: paths, put/has/open, dedup, batching, atomicity. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <composefs/store.h>
#include <composefs/verity.h>

#include "objstore-private.h"
#include "testutil.h"

static char tmpdir[] = "/tmp/cfs-test-store.XXXXXX";

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
	uint32_t x = seed * 2654435761u + 1;

	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		buf[i] = (uint8_t)(x >> 16);
	}
}

static void digest_of(const void *buf, size_t len, uint8_t *d)
{
	CHECK_EQ_INT(cfs_verity_digest_buf(CFS_HASH_SHA256, buf, len, d), 0);
}

/* Count regular files below @dir (recursively), and temporary files among them. */
static void count_files(int dirfd, size_t *objects, size_t *temps)
{
	int fd = dup(dirfd);
	DIR *d;
	struct dirent *de;

	CHECK(fd >= 0);
	lseek(fd, 0, SEEK_SET);
	d = fdopendir(fd);
	CHECK(d != NULL);
	while ((de = readdir(d)) != NULL) {
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		CHECK(fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0);
		if (strncmp(de->d_name, ".tmp", 4) == 0) {
			/* a writer lock belongs to the open handle, not to an object */
			size_t len = strlen(de->d_name);

			if (len < 5 || strcmp(de->d_name + len - 5, ".lock") != 0)
				(*temps)++;
		} else if (S_ISDIR(st.st_mode)) {
			int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY);

			CHECK(sub >= 0);
			count_files(sub, objects, temps);
			close(sub);
		} else {
			CHECK(S_ISREG(st.st_mode));
			(*objects)++;
		}
	}
	closedir(d);
}

static void check_counts(struct cfs_objstore *s, size_t want_objects, size_t want_temps)
{
	size_t objects = 0, temps = 0;

	count_files(cfs_objstore_get_dirfd(s), &objects, &temps);
	CHECK_EQ_INT(objects, want_objects);
	CHECK_EQ_INT(temps, want_temps);
}

static void check_content(struct cfs_objstore *s, const uint8_t *digest, const uint8_t *want,
			  size_t len)
{
	uint8_t *got = malloc(len + 1);
	struct stat st;
	int fd = -1;
	ssize_t n;

	CHECK(got != NULL);
	CHECK_EQ_INT(cfs_objstore_open_object(s, digest, &fd), 0);
	CHECK(fd >= 0);
	CHECK(fstat(fd, &st) == 0);
	CHECK_EQ_INT(st.st_size, len);
	n = pread(fd, got, len + 1, 0);
	CHECK_EQ_INT(n, len);
	CHECK(memcmp(got, want, len) == 0);
	close(fd);
	free(got);
}

static void test_open_and_path(void)
{
	struct cfs_objstore *s = NULL;
	uint8_t d[32];
	char path[80], small[10];
	char dir[256];

	snprintf(dir, sizeof(dir), "%s/nostore", tmpdir);
	CHECK_EQ_INT(cfs_objstore_open(AT_FDCWD, dir, 0, CFS_HASH_SHA256, &s), -ENOENT);
	CHECK(s == NULL);
	CHECK_EQ_INT(cfs_objstore_open(AT_FDCWD, dir, 1u << 7, CFS_HASH_SHA256, &s), -EINVAL);
	CHECK_EQ_INT(cfs_objstore_open(AT_FDCWD, dir, CFS_OBJSTORE_CREATE, (enum cfs_hash_alg)9, &s),
		     -EINVAL);
	CHECK_EQ_INT(cfs_objstore_open(AT_FDCWD, "/dev/null", 0, CFS_HASH_SHA256, &s), -ENOTDIR);
	CHECK_EQ_INT(cfs_objstore_open(AT_FDCWD, dir, CFS_OBJSTORE_CREATE, CFS_HASH_SHA256, &s), 0);
	CHECK(cfs_objstore_get_alg(s) == CFS_HASH_SHA256);

	for (int i = 0; i < 32; i++)
		d[i] = (uint8_t)(i * 17 + 3);
	CHECK_EQ_INT(cfs_objstore_object_path(s, d, path, sizeof(path)), 65);
	CHECK_EQ_STR(path, "03/1425364758697a8b9cadbecfe0f102132435465768798a9bacbdcedff00112");
	CHECK_EQ_INT(cfs_objstore_object_path(s, d, small, sizeof(small)), -ERANGE);
	CHECK_EQ_INT(cfs_objstore_object_path(s, d, path, 66), 65);
	CHECK_EQ_INT(cfs_objstore_object_path(s, d, path, 65), -ERANGE);
	CHECK_EQ_INT(cfs_objstore_has(s, d), 0);
	{
		int fd = 123;

		CHECK_EQ_INT(cfs_objstore_open_object(s, d, &fd), -ENOENT);
		CHECK_EQ_INT(fd, -1);
	}
	cfs_objstore_free(s);
	cfs_objstore_free(NULL);

	/* missing parents are created too */
	snprintf(dir, sizeof(dir), "%s/a/b/c/store", tmpdir);
	CHECK_EQ_INT(cfs_objstore_open(AT_FDCWD, dir, CFS_OBJSTORE_CREATE, CFS_HASH_SHA256, &s), 0);
	cfs_objstore_free(s);
	snprintf(dir, sizeof(dir), "%s/nostore", tmpdir);

	/* sha512 stores name objects by 64-byte digests */
	CHECK_EQ_INT(cfs_objstore_open(AT_FDCWD, dir, 0, CFS_HASH_SHA512, &s), 0);
	{
		uint8_t d64[64] = { 0xab };
		char p[200];

		CHECK_EQ_INT(cfs_objstore_object_path(s, d64, p, sizeof(p)), 129);
		CHECK(strncmp(p, "ab/0000", 7) == 0);
	}
	cfs_objstore_free(s);
}

/* The layout's one definition, both ways, for both digest sizes. */
static void test_layout(void)
{
	uint8_t d[64], back[64];
	char path[140];

	for (size_t i = 0; i < sizeof(d); i++)
		d[i] = (uint8_t)(i * 37 + 11);
	CHECK_EQ_INT(cfs_objstore_digest_path(d, 32, path, sizeof(path)), 65);
	CHECK(strncmp(path, "0b/30", 5) == 0 && path[2] == '/');
	CHECK_EQ_INT(cfs_objstore_parse_path(path, 32, back), 0);
	CHECK(memcmp(d, back, 32) == 0);
	CHECK_EQ_INT(cfs_objstore_digest_path(d, 64, path, sizeof(path)), 129);
	CHECK_EQ_INT(cfs_objstore_parse_path(path, 64, back), 0);
	CHECK(memcmp(d, back, 64) == 0);
	CHECK_EQ_INT(cfs_objstore_parse_path(path, 32, back), -EINVAL); /* wrong length */
	CHECK_EQ_INT(cfs_objstore_digest_path(d, 32, path, 65), -ERANGE);
	CHECK_EQ_INT(cfs_objstore_digest_path(d, 0, path, sizeof(path)), -EINVAL);
	cfs_objstore_digest_path(d, 32, path, sizeof(path));
	path[10] = 'A'; /* upper case decodes as hex, but is not an object name */
	CHECK_EQ_INT(cfs_objstore_parse_path(path, 32, back), -EINVAL);
	cfs_objstore_digest_path(d, 32, path, sizeof(path));
	path[2] = 'x';
	CHECK_EQ_INT(cfs_objstore_parse_path(path, 32, back), -EINVAL);
	CHECK_EQ_INT(cfs_objstore_parse_path("0b", 32, back), -EINVAL);
}

static void test_put_immediate(void)
{
	struct cfs_objstore *s;
	uint8_t data[10000], other[10000], d1[32], d2[32];
	char dir[256], path[80];
	struct stat st;
	int fd;

	snprintf(dir, sizeof(dir), "%s/imm", tmpdir);
	CHECK_EQ_INT(cfs_objstore_open(AT_FDCWD, dir, CFS_OBJSTORE_CREATE, CFS_HASH_SHA256, &s), 0);
	fill(data, sizeof(data), 1);
	fill(other, sizeof(other), 2);
	digest_of(data, sizeof(data), d1);
	digest_of(other, 5000, d2);

	CHECK_EQ_INT(cfs_objstore_put_buf(s, data, sizeof(data), d1), 0);
	CHECK_EQ_INT(cfs_objstore_has(s, d1), 1);
	check_content(s, d1, data, sizeof(data));
	check_counts(s, 1, 0);
	cfs_objstore_object_path(s, d1, path, sizeof(path));
	CHECK(fstatat(cfs_objstore_get_dirfd(s), path, &st, 0) == 0);
	CHECK_EQ_INT(st.st_mode & 07777, 0644);

	/* dedup: the existing object is kept, even if different bytes are offered */
	CHECK_EQ_INT(cfs_objstore_put_buf(s, other, sizeof(other), d1), 0);
	check_content(s, d1, data, sizeof(data));
	check_counts(s, 1, 0);

	/* put_fd reads from offset 0 whatever the file position, exactly size bytes */
	{
		char src[256];

		snprintf(src, sizeof(src), "%s/src", tmpdir);
		fd = open(src, O_RDWR | O_CREAT | O_TRUNC, 0600);
		CHECK(fd >= 0);
		CHECK_EQ_INT(write(fd, other, sizeof(other)), sizeof(other));
		CHECK_EQ_INT(cfs_objstore_put_fd(s, fd, 5000, d2), 0);
		check_content(s, d2, other, 5000);
		check_counts(s, 2, 0);

		/* a source shorter than promised fails and leaves nothing */
		{
			uint8_t d3[32], longer[20000];

			fill(longer, sizeof(longer), 3);
			digest_of(longer, sizeof(longer), d3);
			CHECK_EQ_INT(cfs_objstore_put_fd(s, fd, 20000, d3), -EIO);
			CHECK_EQ_INT(cfs_objstore_has(s, d3), 0);
			check_counts(s, 2, 0);
		}
		close(fd);
	}

	/* staged objects: commit publishes, free discards */
	{
		struct cfs_objstore_stage *st1 = NULL, *st2 = NULL;
		uint8_t d4[32];

		fill(data, 3000, 4);
		digest_of(data, 3000, d4);
		CHECK_EQ_INT(cfs_objstore_stage_new(s, &st1), 0);
		CHECK_EQ_INT(cfs_objstore_stage_new(s, &st2), 0);
		CHECK_EQ_INT(write(cfs_objstore_stage_fd(st1), data, 3000), 3000);
		CHECK_EQ_INT(write(cfs_objstore_stage_fd(st2), data, 100), 100);
		check_counts(s, 2, 2); /* two temporary files, no new object yet */
		CHECK_EQ_INT(cfs_objstore_has(s, d4), 0);
		cfs_objstore_stage_free(st2);
		CHECK_EQ_INT(cfs_objstore_stage_commit(st1, d4), 0);
		check_content(s, d4, data, 3000);
		check_counts(s, 3, 0);

		/* committing under the name of an existing object keeps the existing one */
		CHECK_EQ_INT(cfs_objstore_stage_new(s, &st1), 0);
		CHECK_EQ_INT(write(cfs_objstore_stage_fd(st1), "other", 5), 5);
		CHECK_EQ_INT(cfs_objstore_stage_commit(st1, d4), 0);
		check_content(s, d4, data, 3000);
		check_counts(s, 3, 0);
	}
	cfs_objstore_free(s);
}

static void test_batch(void)
{
	struct cfs_objstore *s;
	uint8_t data[3][7000], d[3][32];
	char dir[256], path[80];
	struct stat st;

	snprintf(dir, sizeof(dir), "%s/batch", tmpdir);
	CHECK_EQ_INT(cfs_objstore_open(AT_FDCWD, dir, CFS_OBJSTORE_CREATE | CFS_OBJSTORE_BATCH,
				       CFS_HASH_SHA256, &s),
		     0);
	for (int i = 0; i < 3; i++) {
		fill(data[i], sizeof(data[i]), 10 + (unsigned)i);
		digest_of(data[i], sizeof(data[i]), d[i]);
	}
	CHECK_EQ_INT(cfs_objstore_put_buf(s, data[0], sizeof(data[0]), d[0]), 0);
	CHECK_EQ_INT(cfs_objstore_put_buf(s, data[1], sizeof(data[1]), d[1]), 0);
	CHECK_EQ_INT(cfs_objstore_put_buf(s, data[1], sizeof(data[1]), d[1]), 0); /* dedup */
	CHECK_EQ_INT(cfs_objstore_n_staged(s), 2);
	/* staged: visible to has/open, but no final name yet */
	CHECK_EQ_INT(cfs_objstore_has(s, d[0]), 1);
	check_content(s, d[1], data[1], sizeof(data[1]));
	cfs_objstore_object_path(s, d[0], path, sizeof(path));
	CHECK(fstatat(cfs_objstore_get_dirfd(s), path, &st, 0) < 0 && errno == ENOENT);
	check_counts(s, 0, 2);

	CHECK_EQ_INT(cfs_objstore_sync(s), 0);
	CHECK_EQ_INT(cfs_objstore_n_staged(s), 0);
	CHECK(fstatat(cfs_objstore_get_dirfd(s), path, &st, 0) == 0);
	check_counts(s, 2, 0);
	check_content(s, d[0], data[0], sizeof(data[0]));
	CHECK_EQ_INT(cfs_objstore_sync(s), 0); /* nothing to do */

	/* closing without sync discards what was staged */
	CHECK_EQ_INT(cfs_objstore_put_buf(s, data[2], sizeof(data[2]), d[2]), 0);
	check_counts(s, 2, 1);
	cfs_objstore_free(s);
	CHECK_EQ_INT(cfs_objstore_open(AT_FDCWD, dir, 0, CFS_HASH_SHA256, &s), 0);
	check_counts(s, 2, 0);
	CHECK_EQ_INT(cfs_objstore_has(s, d[2]), 0);
	CHECK_EQ_INT(cfs_objstore_has(s, d[1]), 1);
	cfs_objstore_free(s);
}

/* The background publisher: a kick publishes what is staged; free waits for it. */
static void test_syncer(void)
{
	struct cfs_objstore_syncer *y;
	struct cfs_objstore *s;
	uint8_t data[2][6000], d[2][32];
	char dir[256];

	snprintf(dir, sizeof(dir), "%s/syncer", tmpdir);
	CHECK_EQ_INT(cfs_objstore_open(AT_FDCWD, dir, CFS_OBJSTORE_CREATE | CFS_OBJSTORE_BATCH,
				       CFS_HASH_SHA256, &s),
		     0);
	CHECK_EQ_INT(cfs_objstore_syncer_new(s, &y), 0);
	for (int i = 0; i < 2; i++) {
		fill(data[i], sizeof(data[i]), 500 + (unsigned)i);
		digest_of(data[i], sizeof(data[i]), d[i]);
		CHECK_EQ_INT(cfs_objstore_put_buf(s, data[i], sizeof(data[i]), d[i]), 0);
	}
	CHECK_EQ_INT(cfs_objstore_n_staged(s), 2);
	CHECK_EQ_INT(cfs_objstore_syncer_kick(y), 0);
	CHECK_EQ_INT(cfs_objstore_syncer_free(y), 0);
	CHECK_EQ_INT(cfs_objstore_n_staged(s), 0);
	check_counts(s, 2, 0);
	check_content(s, d[1], data[1], sizeof(data[1]));
	cfs_objstore_free(s);
}

/* Several threads putting overlapping content into one batching store. */
#define NTHREADS 4
#define NOBJ 40

struct thread_arg {
	struct cfs_objstore *s;
	unsigned id;
	int result;
};

static void *put_thread(void *p)
{
	struct thread_arg *a = p;

	for (unsigned i = 0; i < NOBJ; i++) {
		unsigned k = (i + a->id * 7) % NOBJ;
		uint8_t buf[5000], d[32];

		fill(buf, sizeof(buf), 100 + k);
		digest_of(buf, sizeof(buf), d);
		if (cfs_objstore_put_buf(a->s, buf, sizeof(buf), d) != 0)
			a->result = -1;
	}
	return NULL;
}

static void test_threads(void)
{
	struct thread_arg args[NTHREADS];
	pthread_t t[NTHREADS];
	struct cfs_objstore *s;
	char dir[256];

	snprintf(dir, sizeof(dir), "%s/threads", tmpdir);
	CHECK_EQ_INT(cfs_objstore_open(AT_FDCWD, dir, CFS_OBJSTORE_CREATE | CFS_OBJSTORE_BATCH,
				       CFS_HASH_SHA256, &s),
		     0);
	for (unsigned i = 0; i < NTHREADS; i++) {
		args[i] = (struct thread_arg){ .s = s, .id = i };
		CHECK(pthread_create(&t[i], NULL, put_thread, &args[i]) == 0);
	}
	for (unsigned i = 0; i < NTHREADS; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ_INT(args[i].result, 0);
	}
	CHECK_EQ_INT(cfs_objstore_n_staged(s), NOBJ);
	CHECK_EQ_INT(cfs_objstore_sync(s), 0);
	check_counts(s, NOBJ, 0);
	for (unsigned k = 0; k < NOBJ; k++) {
		uint8_t buf[5000], d[32];

		fill(buf, sizeof(buf), 100 + k);
		digest_of(buf, sizeof(buf), d);
		check_content(s, d, buf, sizeof(buf));
	}
	cfs_objstore_free(s);
}

/*
 * cfs_objstore_sync() on one thread while others stage, look up and open objects: each
 * object staged is found (staged or published) at every moment, and all end up published.
 */
#define NSYNC_OBJ 600

struct stager_arg {
	struct cfs_objstore *s;
	unsigned id;
	int result;
};

static void *stage_and_read(void *p)
{
	struct stager_arg *a = p;

	for (unsigned i = 0; i < NSYNC_OBJ; i++) {
		unsigned k = a->id * NSYNC_OBJ + i;
		uint8_t buf[3000], got[3000], d[32];
		int fd = -1;

		fill(buf, sizeof(buf), 5000 + k);
		digest_of(buf, sizeof(buf), d);
		if (cfs_objstore_put_buf(a->s, buf, sizeof(buf), d) != 0 || cfs_objstore_has(a->s, d) != 1 ||
		    cfs_objstore_open_object(a->s, d, &fd) != 0 ||
		    pread(fd, got, sizeof(got), 0) != (ssize_t)sizeof(got) || memcmp(got, buf, sizeof(buf)) != 0)
			a->result = -1;
		if (fd >= 0)
			close(fd);
	}
	return NULL;
}

static void test_sync_while_staging(void)
{
	struct stager_arg args[2];
	pthread_t t[2];
	struct cfs_objstore *s;
	char dir[256];
	unsigned syncs = 0;

	snprintf(dir, sizeof(dir), "%s/syncing", tmpdir);
	CHECK_EQ_INT(cfs_objstore_open(AT_FDCWD, dir, CFS_OBJSTORE_CREATE | CFS_OBJSTORE_BATCH,
				       CFS_HASH_SHA256, &s),
		     0);
	for (unsigned i = 0; i < 2; i++) {
		args[i] = (struct stager_arg){ .s = s, .id = i };
		CHECK(pthread_create(&t[i], NULL, stage_and_read, &args[i]) == 0);
	}
	/* sync over and over until both stagers are done */
	for (;;) {
		bool busy = pthread_tryjoin_np(t[0], NULL) == EBUSY;

		CHECK_EQ_INT(cfs_objstore_sync(s), 0);
		syncs++;
		if (!busy)
			break;
	}
	pthread_join(t[1], NULL);
	CHECK_EQ_INT(args[0].result, 0);
	CHECK_EQ_INT(args[1].result, 0);
	CHECK_EQ_INT(cfs_objstore_sync(s), 0);
	CHECK(syncs > 1);
	CHECK_EQ_INT(cfs_objstore_n_staged(s), 0);
	check_counts(s, 2 * NSYNC_OBJ, 0);
	for (unsigned k = 0; k < 2 * NSYNC_OBJ; k += 97) {
		uint8_t buf[3000], d[32];

		fill(buf, sizeof(buf), 5000 + k);
		digest_of(buf, sizeof(buf), d);
		check_content(s, d, buf, sizeof(buf));
	}
	cfs_objstore_free(s);
}

static void touch_at(int dirfd, const char *name)
{
	int fd = openat(dirfd, name, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);

	CHECK(fd >= 0);
	CHECK(write(fd, "data", 4) == 4);
	close(fd);
}

static bool exists_at(int dirfd, const char *name)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

/* cfs_objstore_clean(): the temporaries of writers whose lock is free go, nothing else. */
static void test_clean(void)
{
	char path[400];
	struct cfs_objstore *s;
	struct cfs_objstore_stage *st;
	uint64_t files = 99, bytes = 99;
	int dfd, live, n_own = 0;
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "%s/clean", tmpdir);
	CHECK_EQ_INT(cfs_objstore_open(AT_FDCWD, path, CFS_OBJSTORE_CREATE | CFS_OBJSTORE_BATCH,
				       CFS_HASH_SHA256, &s), 0);
	dfd = cfs_objstore_get_dirfd(s);
	/* our own staged object: a lock held by this handle */
	CHECK_EQ_INT(cfs_objstore_stage_new(s, &st), 0);
	/* a dead writer: lock file nobody holds */
	touch_at(dfd, ".tmp-00000000000000aa.lock");
	touch_at(dfd, ".tmp-00000000000000aa-0000000000000001");
	touch_at(dfd, ".tmp-00000000000000aa-0000000000000002");
	/* a live writer (another open file description holds the flock) */
	touch_at(dfd, ".tmp-00000000000000bb.lock");
	touch_at(dfd, ".tmp-00000000000000bb-0000000000000001");
	live = openat(dfd, ".tmp-00000000000000bb.lock", O_RDONLY | O_CLOEXEC);
	CHECK(live >= 0);
	CHECK(flock(live, LOCK_EX | LOCK_NB) == 0);
	/* temporaries without a lock file, and other names: not ours to judge */
	touch_at(dfd, ".tmp-00000000000000cc-0000000000000001");
	touch_at(dfd, ".tmp-0123456789abcdef");
	touch_at(dfd, ".tmp-XYZ.lock");

	CHECK_EQ_INT(cfs_objstore_clean(s, 1, NULL, NULL), -EINVAL);
	CHECK_EQ_INT(cfs_objstore_clean(s, 0, &files, &bytes), 0);
	CHECK_EQ_INT(files, 3);
	CHECK_EQ_INT(bytes, 8);
	CHECK(!exists_at(dfd, ".tmp-00000000000000aa.lock"));
	CHECK(!exists_at(dfd, ".tmp-00000000000000aa-0000000000000001"));
	CHECK(exists_at(dfd, ".tmp-00000000000000bb.lock"));
	CHECK(exists_at(dfd, ".tmp-00000000000000bb-0000000000000001"));
	CHECK(exists_at(dfd, ".tmp-00000000000000cc-0000000000000001"));
	CHECK(exists_at(dfd, ".tmp-0123456789abcdef"));
	CHECK(exists_at(dfd, ".tmp-XYZ.lock"));
	/* our own lock and staged file survive; once the live writer is gone, its files go */
	d = opendir(path);
	CHECK(d != NULL);
	while ((de = readdir(d)) != NULL)
		if (strncmp(de->d_name, ".tmp-", 5) == 0 && strcmp(de->d_name, ".tmp-00000000000000bb.lock") != 0 &&
		    strcmp(de->d_name, ".tmp-00000000000000bb-0000000000000001") != 0 &&
		    strcmp(de->d_name, ".tmp-00000000000000cc-0000000000000001") != 0 &&
		    strcmp(de->d_name, ".tmp-0123456789abcdef") != 0 && strcmp(de->d_name, ".tmp-XYZ.lock") != 0)
			n_own++;
	closedir(d);
	CHECK_EQ_INT(n_own, 2);
	close(live);
	CHECK_EQ_INT(cfs_objstore_clean(s, 0, &files, NULL), 0);
	CHECK_EQ_INT(files, 2);
	CHECK(!exists_at(dfd, ".tmp-00000000000000bb-0000000000000001"));
	cfs_objstore_stage_free(st);
	cfs_objstore_free(s);
	/* a freed handle leaves no lock behind */
	d = opendir(path);
	CHECK(d != NULL);
	n_own = 0;
	while ((de = readdir(d)) != NULL)
		n_own += strstr(de->d_name, ".lock") != NULL && strcmp(de->d_name, ".tmp-XYZ.lock") != 0;
	closedir(d);
	CHECK_EQ_INT(n_own, 0);
}

/* cfs_basedir_has_payload(): present only beneath the basedir, as composefs-fuse finds it. */
static void test_basedir_payload(void)
{
	char base[400], path[500];
	int fd;

	snprintf(base, sizeof(base), "%s/basedir", tmpdir);
	CHECK(mkdir(base, 0755) == 0);
	snprintf(path, sizeof(path), "%s/ab", base);
	CHECK(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/ab/obj", base);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	CHECK(fd >= 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/outside", tmpdir);
	fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
	CHECK(fd >= 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/up", base);
	CHECK(symlink("..", path) == 0);
	snprintf(path, sizeof(path), "%s/abs", base);
	CHECK(symlink(tmpdir, path) == 0);
	snprintf(path, sizeof(path), "%s/ab/fifo", base);
	CHECK(mkfifo(path, 0644) == 0);

	fd = open(base, O_PATH | O_DIRECTORY | O_CLOEXEC);
	CHECK(fd >= 0);
	CHECK_EQ_INT(cfs_basedir_has_payload(fd, "ab/obj"), 1);
	CHECK_EQ_INT(cfs_basedir_has_payload(fd, "/ab/obj"), 1); /* as the redirect "/" + payload */
	CHECK_EQ_INT(cfs_basedir_has_payload(fd, "ab/none"), 0);
	CHECK_EQ_INT(cfs_basedir_has_payload(fd, "ab"), 0);      /* a directory */
	CHECK_EQ_INT(cfs_basedir_has_payload(fd, "ab/fifo"), 0); /* and no hang */
	CHECK_EQ_INT(cfs_basedir_has_payload(fd, "../outside"), 0);
	CHECK_EQ_INT(cfs_basedir_has_payload(fd, "ab/../../outside"), 0);
	CHECK_EQ_INT(cfs_basedir_has_payload(fd, "up/outside"), 0);
	CHECK_EQ_INT(cfs_basedir_has_payload(fd, "abs/outside"), 0);
	CHECK_EQ_INT(cfs_basedir_has_payload(fd, "up/basedir/ab/obj"), 0);
	CHECK_EQ_INT(cfs_basedir_has_payload(fd, "ab/obj/x"), 0);
	CHECK_EQ_INT(cfs_basedir_has_payload(fd, ""), -EINVAL);
	CHECK_EQ_INT(cfs_basedir_has_payload(fd, "/"), -EINVAL);
	CHECK_EQ_INT(cfs_basedir_has_payload(fd, NULL), -EINVAL);
	close(fd);
}

/* Create the file of object @digest by hand (content irrelevant here), its XX/ if needed. */
static void touch_object(struct cfs_objstore *s, const uint8_t *digest)
{
	char path[80];
	int fd;

	cfs_objstore_object_path(s, digest, path, sizeof(path));
	path[2] = '\0';
	mkdirat(cfs_objstore_get_dirfd(s), path, 0755);
	path[2] = '/';
	fd = openat(cfs_objstore_get_dirfd(s), path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	CHECK(fd >= 0);
	close(fd);
}

/*
 * cfs_objstore_has_all(): 12000 objects (about 47 per XX/, so the directories are listed) and a
 * few (asked for one by one) give the same answers: staged ones count, the lowest index of
 * those missing is named whatever the threads, a directory under an object's name is refused.
 */
static void test_has_all(void)
{
	enum { N = 12000 };
	struct cfs_objstore *s;
	uint8_t *d = malloc((size_t)(N + 1) * 32), buf[12], few[4 * 32];
	char dir[256], path[80];
	size_t missing = 0;
	int dfd;

	CHECK(d != NULL);
	snprintf(dir, sizeof(dir), "%s/has-all", tmpdir);
	CHECK_EQ_INT(cfs_objstore_open(AT_FDCWD, dir, CFS_OBJSTORE_CREATE | CFS_OBJSTORE_BATCH, CFS_HASH_SHA256, &s),
		     0);
	dfd = cfs_objstore_get_dirfd(s);
	/* names only (a put of each, synced, would make this test slow on a busy disk) */
	for (unsigned i = 0; i < N; i++) {
		fill(buf, sizeof(buf), 100000 + i);
		digest_of(buf, sizeof(buf), d + (size_t)i * 32);
		touch_object(s, d + (size_t)i * 32);
	}
	CHECK_EQ_INT(cfs_objstore_has_all(s, d, N, 0, &missing), 0);
	CHECK_EQ_INT(cfs_objstore_has_all(s, d, N, 1, NULL), 0);
	CHECK_EQ_INT(cfs_objstore_has_all(s, d, 0, 0, NULL), 0);
	CHECK_EQ_INT(cfs_objstore_has_all(s, NULL, 1, 0, NULL), -EINVAL);
	/* one more, staged only: no listing shows it, asking by name does */
	fill(buf, sizeof(buf), 99999);
	digest_of(buf, sizeof(buf), d + (size_t)N * 32);
	CHECK_EQ_INT(cfs_objstore_put_buf(s, buf, sizeof(buf), d + (size_t)N * 32), 0);
	CHECK_EQ_INT(cfs_objstore_has_all(s, d, N + 1, 0, &missing), 0);

	/* two gone: the lower index is named, on one thread or several */
	cfs_objstore_object_path(s, d + 11000 * 32, path, sizeof(path));
	CHECK_EQ_INT(unlinkat(dfd, path, 0), 0);
	cfs_objstore_object_path(s, d + 9876 * 32, path, sizeof(path));
	CHECK_EQ_INT(unlinkat(dfd, path, 0), 0);
	for (unsigned threads = 0; threads <= 3; threads++) {
		missing = 0;
		CHECK_EQ_INT(cfs_objstore_has_all(s, d, N + 1, threads, &missing), -ENOENT);
		CHECK_EQ_INT(missing, 9876);
	}
	/* a few, among them the missing one twice (asked for by name) */
	memcpy(few, d + 3 * 32, 32);
	memcpy(few + 32, d + 11000 * 32, 32);
	memcpy(few + 64, d + 11000 * 32, 32);
	memcpy(few + 96, d + 4 * 32, 32);
	CHECK_EQ_INT(cfs_objstore_has_all(s, few, 4, 0, &missing), -ENOENT);
	CHECK_EQ_INT(missing, 1);
	/* the same 50 many times over: duplicates in listed directories are all found */
	{
		uint8_t *many = malloc((size_t)N * 32);

		CHECK(many != NULL);
		for (size_t i = 0; i < N; i++)
			memcpy(many + i * 32, d + (i % 50) * 32, 32);
		CHECK_EQ_INT(cfs_objstore_has_all(s, many, N, 0, &missing), 0);
		memcpy(many + (N - 1) * 32, d + 9876 * 32, 32);
		CHECK_EQ_INT(cfs_objstore_has_all(s, many, N, 0, &missing), -ENOENT);
		CHECK_EQ_INT(missing, N - 1);
		free(many);
	}
	/* an object present only under an uppercase name is not there (a listing sees the name) */
	{
		char upper[80];

		cfs_objstore_object_path(s, d + 11000 * 32, path, sizeof(path));
		snprintf(upper, sizeof(upper), "%s", path);
		for (char *c = upper + 3; *c; c++)
			if (*c >= 'a' && *c <= 'f')
				*c = (char)(*c - 'a' + 'A');
		CHECK(strcmp(upper, path) != 0);
		CHECK(close(openat(dfd, upper, O_CREAT | O_WRONLY | O_CLOEXEC, 0644)) == 0);
		CHECK_EQ_INT(cfs_objstore_has_all(s, d, N + 1, 0, &missing), -ENOENT);
		CHECK_EQ_INT(missing, 9876);
		touch_object(s, d + 9876 * 32);
		CHECK_EQ_INT(cfs_objstore_has_all(s, d, N + 1, 0, &missing), -ENOENT);
		CHECK_EQ_INT(missing, 11000);
		CHECK_EQ_INT(unlinkat(dfd, upper, 0), 0);
	}
	/* back (9876 came back above) */
	touch_object(s, d + 11000 * 32);
	CHECK_EQ_INT(cfs_objstore_has_all(s, d, N + 1, 0, &missing), 0);

	/* not a regular file under an object's name */
	cfs_objstore_object_path(s, d + 123 * 32, path, sizeof(path));
	CHECK_EQ_INT(unlinkat(dfd, path, 0), 0);
	CHECK_EQ_INT(mkdirat(dfd, path, 0755), 0);
	CHECK_EQ_INT(cfs_objstore_has_all(s, d, N, 0, &missing), -EUCLEAN);
	CHECK_EQ_INT(missing, 123);
	CHECK_EQ_INT(cfs_objstore_has_all(s, d + 123 * 32, 1, 0, &missing), -EUCLEAN);
	CHECK_EQ_INT(missing, 0);
	cfs_objstore_free(s);
	free(d);
}

int main(void)
{
	char cmd[300];

	CHECK(mkdtemp(tmpdir) != NULL);
	test_open_and_path();
	test_layout();
	test_put_immediate();
	test_batch();
	test_syncer();
	test_threads();
	test_sync_while_staging();
	test_basedir_payload();
	test_clean();
	test_has_all();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	CHECK(system(cmd) == 0);
	printf("test-store: all checks passed\n");
	return 0;
}
