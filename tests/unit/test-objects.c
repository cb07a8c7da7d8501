/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* lib/objects: verified opens and reads, size checks, reports once, lazy fetch shared by concurrent opens, ranged fetch. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <composefs/composefs.h>

#include "testutil.h"

static char tmpdir[] = "/tmp/cfs-test-objects.XXXXXX";

/* Write @len bytes of pattern @seed as object XX/<rest> under @dir; digest out. */
static void put_object(const char *dir, size_t len, unsigned seed, uint8_t digest[32], char *rel)
{
	uint8_t *data = malloc(len ? len : 1);
	char path[512];
	int fd;

	CHECK(data != NULL);
	for (size_t i = 0; i < len; i++)
		data[i] = (uint8_t)(i * 31 + seed);
	CHECK_EQ_INT(cfs_verity_digest_buf(CFS_HASH_SHA256, data, len, digest), 0);
	CHECK(cfs_objstore_digest_path(digest, 32, rel, 80) > 0);
	snprintf(path, sizeof(path), "%s/%.2s", dir, rel);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	CHECK(fd >= 0);
	CHECK(write(fd, data, len) == (ssize_t)len);
	close(fd);
	free(data);
}

struct reports {
	atomic_int n;
	char last[256];
};

static void on_report(void *user, const char *path, const char *why, int err)
{
	struct reports *r = user;

	(void)err;
	atomic_fetch_add(&r->n, 1);
	snprintf(r->last, sizeof(r->last), "%s: %s", path, why);
}

static int open_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	CHECK(fd >= 0);
	return fd;
}

static void test_verified(void)
{
	char a[300], rel[80], rel2[80], path[400];
	uint8_t d[32], d2[32], buf[70000], wrong[32];
	struct cfs_objects_opts oo;
	struct cfs_objects *c;
	struct cfs_object *o;
	struct reports rep = { 0 };
	int fd;

	snprintf(a, sizeof(a), "%s/a", tmpdir);
	mkdir(a, 0755);
	put_object(a, 3 * 4096 + 100, 1, d, rel);
	put_object(a, 10, 2, d2, rel2);
	fd = open_dir(a);
	cfs_objects_opts_init(&oo);
	oo.report = on_report;
	oo.report_user = &rep;
	CHECK_EQ_INT(cfs_objects_new(&fd, 0, &oo, &c), -EINVAL);
	oo.flags = 1;
	CHECK_EQ_INT(cfs_objects_new(&fd, 1, &oo, &c), -EINVAL);
	oo.flags = 0;
	CHECK_EQ_INT(cfs_objects_new(&fd, 1, &oo, &c), 0);
	close(fd); /* the set keeps its own descriptor */

	/* verified, by path and by digest; every range reads the right bytes */
	CHECK_EQ_INT(cfs_objects_open(c, rel, d, 3 * 4096 + 100, &o), 0);
	CHECK_EQ_INT(cfs_object_size(o), 3 * 4096 + 100);
	CHECK_EQ_STR(cfs_object_path(o), rel);
	CHECK_EQ_INT(cfs_object_pread(o, buf, sizeof(buf), 0), 3 * 4096 + 100);
	for (size_t i = 0; i < 3 * 4096 + 100; i++)
		CHECK_EQ_INT(buf[i], (uint8_t)(i * 31 + 1));
	CHECK_EQ_INT(cfs_object_pread(o, buf, 10, 4095), 10);
	CHECK_EQ_INT(buf[1], (uint8_t)(4096 * 31 + 1));
	CHECK_EQ_INT(cfs_object_pread(o, buf, 10, 3 * 4096 + 95), 5);
	CHECK_EQ_INT(cfs_object_pread(o, buf, 10, 1 << 20), 0);
	cfs_object_close(o);
	CHECK_EQ_INT(cfs_objects_open_digest(c, d2, &o), 0);
	CHECK_EQ_INT(cfs_object_pread(o, buf, sizeof(buf), 0), 10);
	cfs_object_close(o);

	/* the wrong digest, the wrong size, a missing object: refused, each reported once */
	memcpy(wrong, d, 32);
	wrong[5] ^= 1;
	CHECK_EQ_INT(cfs_objects_open(c, rel, wrong, CFS_OBJECT_SIZE_ANY, &o), -CFS_EDIGEST);
	CHECK(o == NULL);
	CHECK_EQ_INT(atomic_load(&rep.n), 1);
	CHECK(strstr(rep.last, "does not match") != NULL);
	CHECK_EQ_INT(cfs_objects_open(c, rel2, d2, 11, &o), -EIO);
	CHECK_EQ_INT(cfs_objects_open(c, rel2, NULL, 9, &o), -EIO); /* unverified too */
	CHECK_EQ_INT(atomic_load(&rep.n), 2);
	CHECK(strstr(rep.last, "size differs") != NULL);
	CHECK_EQ_INT(cfs_objects_open(c, "ff/00", NULL, CFS_OBJECT_SIZE_ANY, &o), -ENOENT);
	CHECK_EQ_INT(cfs_objects_open(c, "ff/00", NULL, CFS_OBJECT_SIZE_ANY, &o), -ENOENT);
	CHECK_EQ_INT(atomic_load(&rep.n), 3);
	/* confined to the basedir */
	CHECK_EQ_INT(cfs_objects_open(c, "../a/x", NULL, CFS_OBJECT_SIZE_ANY, &o) < 0, 1);

	/* content changed after the open: the read fails, nothing is copied */
	CHECK_EQ_INT(cfs_objects_open(c, rel, d, CFS_OBJECT_SIZE_ANY, &o), 0);
	snprintf(path, sizeof(path), "%s/%s", a, rel);
	fd = open(path, O_WRONLY);
	CHECK(fd >= 0);
	CHECK(pwrite(fd, "X", 1, 5000) == 1);
	close(fd);
	memset(buf, 0x55, 100);
	CHECK_EQ_INT(cfs_object_pread(o, buf, 100, 4096), -CFS_EDIGEST);
	CHECK_EQ_INT(buf[0], 0x55);
	/* the first block is still good */
	CHECK_EQ_INT(cfs_object_pread(o, buf, 100, 0), 100);
	cfs_object_close(o);
	cfs_objects_free(c);
}

/* ---- lazy fetch ------------------------------------------------------------------------ */

struct remote {
	char from[300], to[300];
	atomic_int calls;
};

static int fetch_cb(void *user, const char *path, const uint8_t *digest)
{
	struct remote *r = user;
	char src[700], dst[700], cmd[2200];

	(void)digest;
	atomic_fetch_add(&r->calls, 1);
	usleep(200000); /* slow enough that concurrent opens overlap */
	snprintf(src, sizeof(src), "%s/%s", r->from, path);
	if (access(src, F_OK) != 0)
		return -ENOENT;
	snprintf(dst, sizeof(dst), "%s/%s", r->to, path);
	snprintf(cmd, sizeof(cmd), "mkdir -p \"$(dirname '%s')\" && cp '%s' '%s'", dst, src, dst);
	return system(cmd) == 0 ? 0 : -EIO;
}

struct opener {
	struct cfs_objects *c;
	const char *rel;
	const uint8_t *digest;
	int result;
};

static void *open_thread(void *arg)
{
	struct opener *op = arg;
	struct cfs_object *o;

	op->result = cfs_objects_open(op->c, op->rel, op->digest, CFS_OBJECT_SIZE_ANY, &o);
	if (op->result == 0)
		cfs_object_close(o);
	return NULL;
}

static void test_fetch(void)
{
	struct remote rem = { 0 };
	struct cfs_objects_opts oo;
	struct cfs_objects *c;
	struct cfs_object *o;
	struct opener ops[4];
	pthread_t t[4];
	char rel[80];
	uint8_t d[32], buf[64];
	int fd;

	snprintf(rem.from, sizeof(rem.from), "%s/remote", tmpdir);
	snprintf(rem.to, sizeof(rem.to), "%s/local", tmpdir);
	mkdir(rem.from, 0755);
	mkdir(rem.to, 0755);
	put_object(rem.from, 5000, 7, d, rel);
	fd = open_dir(rem.to);
	cfs_objects_opts_init(&oo);
	oo.fetch = fetch_cb;
	oo.fetch_user = &rem;
	CHECK_EQ_INT(cfs_objects_new(&fd, 1, &oo, &c), 0);
	close(fd);
	for (int i = 0; i < 4; i++) {
		ops[i] = (struct opener){ .c = c, .rel = rel, .digest = d };
		CHECK_EQ_INT(pthread_create(&t[i], NULL, open_thread, &ops[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ_INT(ops[i].result, 0);
	}
	CHECK_EQ_INT(atomic_load(&rem.calls), 1); /* one download for four first opens */
	CHECK_EQ_INT(cfs_objects_open(c, rel, d, 5000, &o), 0);
	CHECK_EQ_INT(cfs_object_pread(o, buf, sizeof(buf), 4096), 64);
	CHECK_EQ_INT(buf[0], (uint8_t)(4096 * 31 + 7));
	cfs_object_close(o);
	CHECK_EQ_INT(atomic_load(&rem.calls), 1); /* present now */
	CHECK_EQ_INT(cfs_objects_open(c, "ab/cd", NULL, CFS_OBJECT_SIZE_ANY, &o), -ENOENT);
	CHECK_EQ_INT(atomic_load(&rem.calls), 2);
	cfs_objects_free(c);
}

/* Flip one byte of the object file at @off (the store changing under an open object). */
static void flip_byte(const char *path, off_t off)
{
	int fd = open(path, O_RDWR);
	uint8_t b;

	CHECK(fd >= 0);
	CHECK(pread(fd, &b, 1, off) == 1);
	b ^= 0xff;
	CHECK(pwrite(fd, &b, 1, off) == 1);
	close(fd);
}

/*
 * keep_mem: the open that builds a tree (on several threads: the objects are
 * large) keeps the object's start as it hashed it. Those bytes, and only
 * those, are served without a second check, also after the file changed;
 * everything else is still checked, and a build over tampered content keeps
 * nothing.
 */
static void test_keep(void)
{
	const size_t big = 24u * 1024 * 1024 + 100; /* partial last block */
	char a[300], rel[80], rel2[80], path[400], path2[400];
	uint8_t d[32], d2[32], *buf = malloc(big);
	struct cfs_objects_opts oo;
	struct cfs_objects *c;
	struct cfs_object *o, *o2;
	const void *kept;
	struct reports rep = { 0 };
	int fd;

	CHECK(buf != NULL);
	snprintf(a, sizeof(a), "%s/keep", tmpdir);
	mkdir(a, 0755);
	put_object(a, big, 7, d, rel);
	put_object(a, big, 8, d2, rel2);
	snprintf(path, sizeof(path), "%s/%s", a, rel);
	snprintf(path2, sizeof(path2), "%s/%s", a, rel2);
	fd = open_dir(a);
	cfs_objects_opts_init(&oo);
	oo.report = on_report;
	oo.report_user = &rep;
	oo.keep_mem = 8u * 1024 * 1024 + 1000; /* not a block multiple: rounded down */
	CHECK_EQ_INT(cfs_objects_new(&fd, 1, &oo, &c), 0);

	/* the first open builds the tree and keeps the first 8 MiB */
	CHECK_EQ_INT(cfs_objects_open(c, rel, d, big, &o), 0);
	CHECK(cfs_object_kept_data(o, &kept) == 8u * 1024 * 1024);
	for (size_t i = 0; i < 8u * 1024 * 1024; i++)
		if (((const uint8_t *)kept)[i] != (uint8_t)(i * 31 + 7))
			CHECK(!"kept bytes differ from the object's");
	/* the budget is used up: a second build keeps nothing */
	CHECK_EQ_INT(cfs_objects_open(c, rel2, d2, big, &o2), 0);
	CHECK(cfs_object_kept_data(o2, &kept) == 0 && kept == NULL);
	cfs_object_close(o2);

	/* the store changes after the open, inside and outside the kept range */
	flip_byte(path, 4096 * 10 + 5);
	flip_byte(path, 16u * 1024 * 1024 + 3);
	CHECK(cfs_object_pread(o, buf, 8192, 4096 * 10) == 8192);
	CHECK(buf[5] == (uint8_t)((4096 * 10 + 5) * 31 + 7)); /* the verified byte, not the new one */
	CHECK_EQ_INT((int)cfs_object_pread(o, buf, 4096, 16u * 1024 * 1024), -CFS_EDIGEST);
	CHECK(cfs_object_pread(o, buf, 4096, 12u * 1024 * 1024) == 4096);
	/* read-ahead is advice only: any end, in any order, and the changed block still fails */
	cfs_object_read_ahead(o, 0);
	cfs_object_read_ahead(o, 15u * 1024 * 1024);
	cfs_object_read_ahead(o, 4096);
	cfs_object_read_ahead(o, big);
	cfs_object_read_ahead(o, UINT64_MAX);
	CHECK_EQ_INT((int)cfs_object_pread(o, buf, 4096, 16u * 1024 * 1024), -CFS_EDIGEST);
	/* released, the kept range is read and checked like the rest */
	cfs_object_kept_drop(o);
	CHECK(cfs_object_kept_data(o, &kept) == 0);
	CHECK_EQ_INT((int)cfs_object_pread(o, buf, 4096, 4096 * 10), -CFS_EDIGEST);
	cfs_object_close(o);
	cfs_objects_free(c);

	/* a tampered object: the build fails, keeps nothing, gives the budget back */
	oo.keep_mem = 64u * 1024 * 1024;
	oo.tree_mem = 0;
	CHECK_EQ_INT(cfs_objects_new(&fd, 1, &oo, &c), 0);
	CHECK_EQ_INT(cfs_objects_open(c, rel, d, big, &o), -CFS_EDIGEST);
	/* all of a file that fits, its partial last block too */
	CHECK_EQ_INT(cfs_objects_open(c, rel2, d2, big, &o2), 0);
	CHECK(cfs_object_kept_data(o2, &kept) == big);
	CHECK(((const uint8_t *)kept)[big - 1] == (uint8_t)((big - 1) * 31 + 8));
	CHECK(cfs_object_pread(o2, buf, big, 0) == (ssize_t)big);
	for (size_t i = 0; i < big; i++)
		if (buf[i] != (uint8_t)(i * 31 + 8))
			CHECK(!"read differs from the object");
	cfs_object_close(o2);
	/* a tree from the LRU is not a build: nothing kept */
	oo.tree_mem = 1u << 30;
	cfs_objects_free(c);
	CHECK_EQ_INT(cfs_objects_new(&fd, 1, &oo, &c), 0);
	CHECK_EQ_INT(cfs_objects_open(c, rel2, d2, big, &o2), 0);
	CHECK(cfs_object_kept_data(o2, &kept) == big);
	cfs_object_close(o2);
	CHECK_EQ_INT(cfs_objects_open(c, rel2, d2, big, &o2), 0);
	CHECK(cfs_object_kept_data(o2, &kept) == 0);
	cfs_object_close(o2);
	cfs_objects_free(c);
	close(fd);
	free(buf);
}

/* ---- ranged fetch ---------------------------------------------------------------------- */

struct ranged {
	struct remote rem;
	atomic_int trees, ranges;
	int corrupt_chunk; /* -1: none */
	bool no_tree, no_range;
};

static int tree_cb(void *user, const char *path, const uint8_t *digest, uint64_t size,
		   struct cfs_verity_tree **out)
{
	struct ranged *r = user;
	char src[700];
	int fd, ret;

	(void)size;
	atomic_fetch_add(&r->trees, 1);
	if (r->no_tree)
		return -ENOENT;
	snprintf(src, sizeof(src), "%s/%s", r->rem.from, path);
	fd = open(src, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -ENOENT;
	ret = cfs_verity_tree_build(fd, CFS_HASH_SHA256, digest, out);
	close(fd);
	return ret;
}

static int range_cb(void *user, const uint8_t *digest, const struct cfs_verity_tree *tree, void *buf, size_t len,
		    uint64_t offset)
{
	struct ranged *r = user;
	char rel[80], src[700];
	int fd;
	ssize_t n;

	(void)tree;
	atomic_fetch_add(&r->ranges, 1);
	usleep(50000); /* concurrent readers of a chunk overlap */
	if (r->no_range)
		return -EOPNOTSUPP;
	CHECK(cfs_objstore_digest_path(digest, 32, rel, sizeof(rel)) > 0);
	snprintf(src, sizeof(src), "%s/%s", r->rem.from, rel);
	fd = open(src, O_RDONLY | O_CLOEXEC);
	CHECK(fd >= 0);
	n = pread(fd, buf, len, (off_t)offset);
	close(fd);
	CHECK(n == (ssize_t)len);
	/* a lying hook: the set checks again and must refuse */
	if (r->corrupt_chunk >= 0 && offset == (uint64_t)r->corrupt_chunk << 20)
		((uint8_t *)buf)[17] ^= 1;
	return 0;
}

static int fetch_ranged_cb(void *user, const char *path, const uint8_t *digest)
{
	return fetch_cb(&((struct ranged *)user)->rem, path, digest);
}

struct reader {
	struct cfs_object *o;
	uint64_t off;
	ssize_t result;
};

static void *read_thread(void *arg)
{
	struct reader *rd = arg;
	uint8_t buf[4096];

	rd->result = cfs_object_pread(rd->o, buf, sizeof(buf), rd->off);
	return NULL;
}

static void test_ranges(void)
{
	const size_t size = (5u << 20) + 123;
	struct ranged rg = { .corrupt_chunk = -1 };
	struct cfs_objects_opts oo;
	struct cfs_objects *c;
	struct cfs_object *o, *o2;
	struct reader rds[4];
	pthread_t t[4];
	char rel[80], rel2[80], path[800];
	uint8_t d[32], d2[32], got[32], *buf = malloc(size);
	int fd;

	CHECK(buf != NULL);
	snprintf(rg.rem.from, sizeof(rg.rem.from), "%s/rremote", tmpdir);
	snprintf(rg.rem.to, sizeof(rg.rem.to), "%s/rlocal", tmpdir);
	mkdir(rg.rem.from, 0755);
	mkdir(rg.rem.to, 0755);
	put_object(rg.rem.from, size, 3, d, rel);
	put_object(rg.rem.from, size, 4, d2, rel2);
	fd = open_dir(rg.rem.to);
	cfs_objects_opts_init(&oo);
	oo.fetch = fetch_ranged_cb;
	oo.fetch_user = &rg;
	oo.fetch_tree = tree_cb;
	CHECK_EQ_INT(cfs_objects_new(&fd, 1, &oo, &c), -EINVAL); /* a tree hook needs a range hook */
	oo.fetch_range = range_cb;
	CHECK_EQ_INT(cfs_objects_new(&fd, 1, &oo, &c), 0);
	close(fd);

	/* the open fetches only the tree; a small read one chunk */
	CHECK_EQ_INT(cfs_objects_open(c, rel, d, size, &o), 0);
	CHECK_EQ_INT(atomic_load(&rg.trees), 1);
	CHECK_EQ_INT(atomic_load(&rg.rem.calls), 0);
	CHECK_EQ_INT(cfs_object_size(o), size);
	CHECK_EQ_INT(cfs_object_pread(o, buf, 4096, 8192), 4096);
	CHECK_EQ_INT(buf[0], (uint8_t)(8192 * 31 + 3));
	CHECK_EQ_INT(atomic_load(&rg.ranges), 1);
	snprintf(path, sizeof(path), "%s/%s", rg.rem.to, rel);
	CHECK(access(path, F_OK) != 0); /* not complete: no name */
	CHECK_EQ_INT(cfs_object_lseek(o, 5, SEEK_HOLE), (off_t)size);
	/* nothing to ask the disk for: no chunk is fetched by a read-ahead */
	cfs_object_read_ahead(o, 0);
	cfs_object_read_ahead(o, 4096);
	CHECK_EQ_INT(atomic_load(&rg.ranges), 1);

	/* four readers of one chunk: one range */
	for (int i = 0; i < 4; i++) {
		rds[i] = (struct reader){ .o = o, .off = (2u << 20) + (uint64_t)i * 4096 };
		CHECK_EQ_INT(pthread_create(&t[i], NULL, read_thread, &rds[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		CHECK_EQ_INT(rds[i].result, 4096);
	}
	CHECK_EQ_INT(atomic_load(&rg.ranges), 2);

	/* a chunk that does not match the tree: -EIO for it, others fine, asked again later */
	rg.corrupt_chunk = 3;
	CHECK_EQ_INT(cfs_object_pread(o, buf, 4096, 3u << 20), -EIO);
	CHECK_EQ_INT(cfs_object_pread(o, buf, 4096, 4u << 20), 4096);
	rg.corrupt_chunk = -1;

	/* all of it: the object is named, with its digest; a second open of the same object shares it */
	CHECK_EQ_INT(cfs_objects_open(c, rel, d, CFS_OBJECT_SIZE_ANY, &o2), 0);
	CHECK_EQ_INT(atomic_load(&rg.trees), 1);
	CHECK_EQ_INT(cfs_object_pread(o2, buf, size, 0), (ssize_t)size);
	for (size_t i = 0; i < size; i += 4099)
		CHECK_EQ_INT(buf[i], (uint8_t)(i * 31 + 3));
	CHECK_EQ_INT(atomic_load(&rg.ranges), 6 + 1); /* 6 chunks, the refused one twice */
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0);
	CHECK_EQ_INT(cfs_verity_digest_fd(fd, CFS_HASH_SHA256, got), 0);
	CHECK(memcmp(got, d, 32) == 0);
	close(fd);
	cfs_object_close(o2);
	cfs_object_close(o);
	CHECK_EQ_INT(cfs_objects_open(c, rel, d, size, &o), 0);
	CHECK_EQ_INT(atomic_load(&rg.trees), 1); /* from the basedir now */
	cfs_object_close(o);

	/* a server without ranges: the first read waits for the whole object */
	rg.no_range = true;
	CHECK_EQ_INT(cfs_objects_open(c, rel2, d2, size, &o), 0);
	CHECK_EQ_INT(atomic_load(&rg.rem.calls), 0);
	CHECK_EQ_INT(cfs_object_pread(o, buf, 4096, 1u << 20), 4096);
	CHECK_EQ_INT(buf[0], (uint8_t)((1u << 20) * 31 + 4));
	CHECK_EQ_INT(atomic_load(&rg.rem.calls), 1);
	CHECK_EQ_INT(cfs_object_pread(o, buf, size, 0), (ssize_t)size);
	CHECK_EQ_INT(atomic_load(&rg.rem.calls), 1);
	cfs_object_close(o);
	cfs_objects_free(c);

	/* no tree: the whole object at the open */
	snprintf(rg.rem.to, sizeof(rg.rem.to), "%s/rlocal2", tmpdir);
	mkdir(rg.rem.to, 0755);
	fd = open_dir(rg.rem.to);
	CHECK_EQ_INT(cfs_objects_new(&fd, 1, &oo, &c), 0);
	close(fd);
	rg.no_tree = true;
	CHECK_EQ_INT(cfs_objects_open(c, rel, d, size, &o), 0);
	CHECK_EQ_INT(atomic_load(&rg.rem.calls), 2);
	cfs_object_close(o);
	/* an incomplete object leaves nothing behind when the set goes */
	rg.no_tree = false;
	rg.no_range = false;
	CHECK_EQ_INT(cfs_objects_open(c, rel2, d2, size, &o), 0);
	CHECK_EQ_INT(cfs_object_pread(o, buf, 4096, 0), 4096);
	cfs_object_close(o);
	cfs_objects_free(c);
	snprintf(path, sizeof(path), "find '%s' -type f | grep -q .", rg.rem.to);
	CHECK(system(path) == 0); /* the whole object fetched above */
	snprintf(path, sizeof(path), "test \"$(find '%s' -type f | wc -l)\" = 1", rg.rem.to);
	CHECK(system(path) == 0);
	free(buf);
}

int main(void)
{
	char cmd[300];

	CHECK(mkdtemp(tmpdir) != NULL);
	test_verified();
	test_fetch();
	test_keep();
	test_ranges();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	CHECK(system(cmd) == 0);
	printf("test-objects: all checks passed\n");
	return 0;
}
