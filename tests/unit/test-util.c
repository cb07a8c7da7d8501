/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Unit test of the private helpers: error buffers, hex, full reads/writes, atomic file creation,
 * hash set, work queue. */
#include <errno.h>
#include <stdatomic.h>
#include <time.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "util/hashset.h"
#include "util/util.h"
#include "util/workq.h"

static void test_errbuf(void)
{
	char buf[8];

	memset(buf, 'x', sizeof(buf));
	CHECK_EQ_INT(cfs_errbuf_set(buf, sizeof(buf), -EINVAL, "%s %d", "ab", 12), -EINVAL);
	CHECK_EQ_STR(buf, "ab 12");
	/* truncated, still terminated */
	CHECK_EQ_INT(cfs_errbuf_set(buf, sizeof(buf), -ENOENT, "%s", "0123456789"), -ENOENT);
	CHECK_EQ_STR(buf, "0123456");
	/* no buffer or an empty one: only the error comes back, nothing is written */
	CHECK_EQ_INT(cfs_errbuf_set(NULL, 100, -EIO, "x"), -EIO);
	buf[0] = 'y';
	CHECK_EQ_INT(cfs_errbuf_set(buf, 0, -EIO, "x"), -EIO);
	CHECK(buf[0] == 'y');
}

static void test_hex(void)
{
	const uint8_t in[] = { 0x00, 0x7f, 0xa5, 0xff };
	uint8_t out[4];
	char hex[9];

	cfs_hex_encode(in, sizeof(in), hex);
	CHECK_EQ_STR(hex, "007fa5ff");
	CHECK_EQ_INT(cfs_hex_decode("007FA5fF", 8, out, 4), 0);
	CHECK(memcmp(in, out, 4) == 0);
	CHECK_EQ_INT(cfs_hex_decode("007fa5f", 7, out, 4), -EINVAL);
	CHECK_EQ_INT(cfs_hex_decode("007fa5fg", 8, out, 4), -EINVAL);
	CHECK_EQ_INT(cfs_hex_decode("0x", 2, out, 1), -EINVAL);
}

static void test_full_io(const char *dir)
{
	char path[4096], buf[64];
	int fd;

	snprintf(path, sizeof(path), "%s/io", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	CHECK_EQ_INT(cfs_write_full(fd, "hello world", 11), 0);
	/* positional: from anywhere, short only at the end of the file */
	CHECK_EQ_INT(cfs_pread_full(fd, buf, 5, 6), 5);
	CHECK(memcmp(buf, "world", 5) == 0);
	CHECK_EQ_INT(cfs_pread_full(fd, buf, sizeof(buf), 6), 5);
	CHECK_EQ_INT(cfs_pread_full(fd, buf, sizeof(buf), 100), 0);
	CHECK_EQ_INT(cfs_pread_full(fd, buf, 1, -1), -EINVAL);
	/* sequential: continues from the file position */
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	CHECK_EQ_INT(cfs_read_full(fd, buf, 6), 6);
	CHECK_EQ_INT(cfs_read_full(fd, buf, sizeof(buf)), 5);
	CHECK(memcmp(buf, "world", 5) == 0);
	CHECK_EQ_INT(cfs_read_full(fd, buf, sizeof(buf)), 0);
	CHECK_EQ_INT(cfs_read_full(-1, buf, 1), -EBADF);
	close(fd);
	unlink(path);
}

/* The final file exists only after commit, with the mode narrowed by the umask. */
static void test_atomic(const char *dir)
{
	struct cfs_atomic_file af;
	char path[4096];
	struct stat st;
	mode_t old = umask(022);

	snprintf(path, sizeof(path), "%s/final", dir);
	CHECK_EQ_INT(cfs_atomic_file_open(AT_FDCWD, path, 0666, &af), 0);
	CHECK_EQ_INT(cfs_write_full(af.fd, "data", 4), 0);
	CHECK(stat(path, &st) < 0 && errno == ENOENT);
	CHECK_EQ_INT(cfs_atomic_file_commit(&af, false, true), 0);
	CHECK(stat(path, &st) == 0);
	CHECK_EQ_INT(st.st_size, 4);
	CHECK_EQ_INT(st.st_mode & 07777, 0644);

	/* link semantics refuse an existing name, rename semantics replace it */
	CHECK_EQ_INT(cfs_atomic_file_open(AT_FDCWD, path, 0600, &af), 0);
	CHECK_EQ_INT(cfs_atomic_file_commit(&af, false, false), -EEXIST);
	CHECK_EQ_INT(cfs_atomic_file_open(AT_FDCWD, path, 0600, &af), 0);
	CHECK_EQ_INT(cfs_atomic_file_commit(&af, true, false), 0);
	CHECK(stat(path, &st) == 0);
	CHECK_EQ_INT(st.st_size, 0);
	CHECK_EQ_INT(st.st_mode & 07777, 0600);

	/* abort leaves nothing; a second abort is harmless */
	unlink(path);
	CHECK_EQ_INT(cfs_atomic_file_open(AT_FDCWD, path, 0644, &af), 0);
	cfs_atomic_file_abort(&af);
	cfs_atomic_file_abort(&af);
	CHECK(stat(path, &st) < 0 && errno == ENOENT);
	CHECK_EQ_INT(cfs_atomic_file_open(AT_FDCWD, "/nonexistent-dir/x", 0644, &af), -ENOENT);
	umask(old);
}

/* Both the openat2() path and the one for kernels without it. */
static void test_beneath(const char *dir)
{
	int (*fns[])(int, const char *, int, bool) = { cfs_open_beneath, cfs_open_beneath_compat };
	char path[256];
	int root, fd;

	snprintf(path, sizeof(path), "%s/b", dir);
	CHECK(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/b/d", dir);
	CHECK(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/b/d/f", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	CHECK(fd >= 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/b/up", dir); /* a link out of the tree */
	CHECK(symlink("..", path) == 0);
	snprintf(path, sizeof(path), "%s/b/in", dir); /* a link within it */
	CHECK(symlink("d", path) == 0);
	snprintf(path, sizeof(path), "%s/b", dir);
	root = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(root >= 0);
	for (size_t i = 0; i < 2; i++) {
		fd = fns[i](root, "d/f", O_RDONLY | O_CLOEXEC, true);
		CHECK(fd >= 0);
		close(fd);
		fd = fns[i](root, "d//f", O_RDONLY | O_CLOEXEC, true);
		CHECK(fd >= 0);
		close(fd);
		fd = fns[i](root, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC, true);
		CHECK(fd >= 0);
		close(fd);
		CHECK_EQ_INT(fns[i](root, "d/missing", O_RDONLY | O_CLOEXEC, true), -ENOENT);
		CHECK_EQ_INT(fns[i](root, "../b/d/f", O_RDONLY | O_CLOEXEC, false), -EXDEV);
		CHECK_EQ_INT(fns[i](root, "d/../../b/d/f", O_RDONLY | O_CLOEXEC, false), -EXDEV);
		CHECK_EQ_INT(fns[i](root, path, O_RDONLY | O_CLOEXEC, false), -EXDEV);
		/* no symbolic link in any component when asked, even one within the tree */
		CHECK_EQ_INT(fns[i](root, "in/f", O_RDONLY | O_CLOEXEC, true), -ELOOP);
		CHECK_EQ_INT(fns[i](root, "in", O_RDONLY | O_DIRECTORY | O_CLOEXEC, true), -ELOOP);
	}
	/* with symbolic links allowed, openat2() follows those that stay inside only */
	fd = cfs_open_beneath(root, "in/f", O_RDONLY | O_CLOEXEC, false);
	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ_INT(cfs_open_beneath(root, "up/b/d/f", O_RDONLY | O_CLOEXEC, false), -EXDEV);
	close(root);
	for (const char *const *n = (const char *const[]){ "b/d/f", "b/d", "b/up", "b/in", "b", NULL }; *n; n++) {
		snprintf(path, sizeof(path), "%s/%s", dir, *n);
		CHECK(remove(path) == 0);
	}
}

/* ---- hash set ---- */

/*
 * The test links with -Wl,--wrap=calloc: every calloc of the library and the
 * test comes here, and fails while fail_malloc is set, so the out-of-memory
 * paths run for real.
 */
void *__real_calloc(size_t n, size_t size);
void *__wrap_calloc(size_t n, size_t size);
static bool fail_malloc;
static unsigned n_malloc;

void *__wrap_calloc(size_t n, size_t size)
{
	n_malloc++;
	return fail_malloc ? NULL : __real_calloc(n, size);
}

static uint64_t rng_state = 0x853c49e6748fea9bULL;

static uint64_t rng(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

static void test_hash64(void)
{
	static const char fox[] = "The quick brown fox jumps over the lazy dog";
	uint8_t bytes[100];

	/* XXH64 as libxxhash computes it: every tail length and the 32-byte stripes */
	CHECK(cfs_hash64("", 0, 0) == 0xef46db3751d8e999ULL);
	CHECK(cfs_hash64("a", 1, 0) == 0xd24ec4f1a98c6e5bULL);
	CHECK(cfs_hash64("abc", 3, 0) == 0x44bc2cf5ad770999ULL);
	CHECK(cfs_hash64("abcd", 4, 0) == 0xde0327b0d25d92ccULL);
	CHECK(cfs_hash64("0123456789abcdef", 16, 0) == 0x5c5b90c34e376d0bULL);
	CHECK(cfs_hash64(fox, strlen(fox), 0) == 0x0b242d361fda71bcULL);
	CHECK(cfs_hash64(fox, strlen(fox), 1) == 0xdf5091b6dad2c6dbULL);
	for (size_t i = 0; i < sizeof(bytes); i++)
		bytes[i] = (uint8_t)i;
	CHECK(cfs_hash64(bytes, sizeof(bytes), 0x123456789abcdefULL) == 0x40e8f4ec2207f62cULL);
	/* integers: distinct inputs, distinct and well-spread outputs */
	CHECK(cfs_hash_u64(0) != cfs_hash_u64(1));
	CHECK((cfs_hash_u64(1) & 0xffff) != (cfs_hash_u64(2) & 0xffff));
}

struct kv {
	uint64_t key;
	uint64_t value;
};

/* A map keyed by bytes: growth from empty to 100000, lookups, a full iteration. */
static void test_hashset_growth(void)
{
	enum { N = 100000 };
	struct cfs_hashset s;
	unsigned char *seen = calloc(N, 1);
	size_t it = 0, visited = 0;
	struct kv *e;

	CHECK(seen != NULL);
	cfs_hashset_init_keyed(&s, sizeof(struct kv), sizeof(uint64_t));
	CHECK(cfs_hashset_find(&s, cfs_hash_u64(1), &(uint64_t){ 1 }) == NULL);
	CHECK(cfs_hashset_next(&s, &it) == NULL);
	for (uint64_t k = 0; k < N; k++) {
		void *p;

		CHECK_EQ_INT(cfs_hashset_insert(&s, cfs_hash_u64(k), &k, &p), 1);
		*(struct kv *)p = (struct kv){ k, k * 3 };
		CHECK_EQ_INT(cfs_hashset_count(&s), k + 1);
		CHECK(s.n * 2 <= s.cap && (s.cap & (s.cap - 1)) == 0);
	}
	for (uint64_t k = 0; k < N; k++) {
		void *p;

		e = cfs_hashset_find(&s, cfs_hash_u64(k), &k);
		CHECK(e != NULL && e->key == k && e->value == k * 3);
		/* insert-or-find: present, nothing changes */
		CHECK_EQ_INT(cfs_hashset_insert(&s, cfs_hash_u64(k), &k, &p), 0);
		CHECK(p == e);
	}
	for (uint64_t k = N; k < N + 1000; k++)
		CHECK(cfs_hashset_find(&s, cfs_hash_u64(k), &k) == NULL);
	CHECK_EQ_INT(cfs_hashset_count(&s), N);
	for (it = 0; (e = cfs_hashset_next(&s, &it)) != NULL; visited++) {
		CHECK(e->key < N && !seen[e->key]);
		seen[e->key] = 1;
	}
	CHECK_EQ_INT(visited, N);
	CHECK(cfs_hashset_next(&s, &it) == NULL);
	cfs_hashset_free(&s);
	CHECK(s.cap == 0 && s.n == 0 && cfs_hashset_find(&s, 0, &(uint64_t){ 0 }) == NULL);
	cfs_hashset_free(&s); /* twice is fine */
	free(seen);
}

/* Elements are indices into the caller's array, compared through @arg. */
struct coll_ctx {
	uint64_t keys[512];
	unsigned eq_calls;
};

static bool coll_eq(const void *elem, const void *key, void *arg)
{
	struct coll_ctx *c = arg;
	uint32_t i;

	memcpy(&i, elem, sizeof(i));
	c->eq_calls++;
	return c->keys[i] == *(const uint64_t *)key;
}

/* 16 hash values for 512 keys, homes in the last slots: long runs that wrap around. */
static uint64_t coll_hash(uint64_t key)
{
	return 0xfffffff0u + (key % 16);
}

static void coll_check(struct cfs_hashset *s, struct coll_ctx *c, const bool *present)
{
	size_t n = 0;

	for (uint32_t i = 0; i < 512; i++) {
		uint32_t *e = cfs_hashset_find(s, coll_hash(c->keys[i]), &c->keys[i]);

		CHECK(present[i] ? e != NULL && *e == i : e == NULL);
		n += present[i];
	}
	CHECK_EQ_INT(cfs_hashset_count(s), n);
}

static void test_hashset_collisions(void)
{
	struct coll_ctx c = { .eq_calls = 0 };
	bool present[512] = { false };
	struct cfs_hashset s;
	uint32_t removed;

	for (uint32_t i = 0; i < 512; i++)
		c.keys[i] = (uint64_t)i * 7919 + 1;
	cfs_hashset_init(&s, sizeof(uint32_t), coll_eq, &c);
	for (uint32_t i = 0; i < 512; i++) {
		void *p;

		CHECK_EQ_INT(cfs_hashset_insert(&s, coll_hash(c.keys[i]), &c.keys[i], &p), 1);
		memcpy(p, &i, sizeof(i));
		present[i] = true;
	}
	coll_check(&s, &c, present);
	/* the stored 32 bits of hash keep @eq for keys of the same hash */
	c.eq_calls = 0;
	CHECK(cfs_hashset_find(&s, 0x12345678, &c.keys[0]) == NULL);
	CHECK_EQ_INT(c.eq_calls, 0);

	/* random removals and re-insertions, checked against the model every time */
	for (int round = 0; round < 3000; round++) {
		uint32_t i = (uint32_t)(rng() % 512);

		if (present[i]) {
			CHECK(cfs_hashset_remove(&s, coll_hash(c.keys[i]), &c.keys[i], &removed));
			CHECK_EQ_INT(removed, i);
			present[i] = false;
			CHECK(!cfs_hashset_remove(&s, coll_hash(c.keys[i]), &c.keys[i], NULL));
		} else {
			void *p;

			CHECK_EQ_INT(cfs_hashset_insert(&s, coll_hash(c.keys[i]), &c.keys[i], &p), 1);
			memcpy(p, &i, sizeof(i));
			present[i] = true;
		}
		if (round % 50 == 0)
			coll_check(&s, &c, present);
	}
	coll_check(&s, &c, present);
	/* empty it through remove_at, then it is as new */
	for (uint32_t i = 0; i < 512; i++) {
		void *e = cfs_hashset_find(&s, coll_hash(c.keys[i]), &c.keys[i]);

		if (e != NULL) {
			cfs_hashset_remove_at(&s, e);
			present[i] = false;
			coll_check(&s, &c, present);
		}
	}
	CHECK_EQ_INT(cfs_hashset_count(&s), 0);
	for (size_t k = 0; k < s.cap; k++)
		CHECK(s.tags[k] == 0);
	cfs_hashset_free(&s);
}

/* A set of owned strings, as a tool or a cache of names would keep it. */
static void test_hashset_strings(void)
{
	static const char *const words[] = { "alpha", "beta", "gamma", "beta", "", "alpha", "delta" };
	struct cfs_hashset s;
	size_t it = 0;
	char **e, *gone;

	cfs_hashset_init(&s, sizeof(char *), cfs_hashset_eq_str, NULL);
	for (size_t i = 0; i < CFS_ARRAY_SIZE(words); i++) {
		void *p;
		int r = cfs_hashset_insert(&s, cfs_hash64(words[i], strlen(words[i]), 0), words[i], &p);

		CHECK(r >= 0);
		if (r == 1) {
			char *copy = strdup(words[i]);

			CHECK(copy != NULL);
			memcpy(p, &copy, sizeof(copy));
		}
	}
	CHECK_EQ_INT(cfs_hashset_count(&s), 5);
	e = cfs_hashset_find(&s, cfs_hash64("gamma", 5, 0), "gamma");
	CHECK(e != NULL);
	CHECK_EQ_STR(*e, "gamma");
	CHECK(cfs_hashset_remove(&s, cfs_hash64("beta", 4, 0), "beta", &gone));
	CHECK_EQ_STR(gone, "beta");
	free(gone);
	CHECK(cfs_hashset_find(&s, cfs_hash64("beta", 4, 0), "beta") == NULL);
	CHECK(cfs_hashset_find(&s, cfs_hash64("", 0, 0), "") != NULL);
	while ((e = cfs_hashset_next(&s, &it)) != NULL)
		free(*e);
	cfs_hashset_free(&s);
}

/* Allocation failures leave the set as it was, and usable. */
static void test_hashset_oom(void)
{
	struct cfs_hashset s;
	uint64_t k = 7;
	void *p;

	cfs_hashset_init_keyed(&s, sizeof(struct kv), sizeof(uint64_t));
	fail_malloc = true;
	CHECK_EQ_INT(cfs_hashset_insert(&s, cfs_hash_u64(k), &k, &p), -ENOMEM);
	CHECK_EQ_INT(cfs_hashset_reserve(&s, 100), -ENOMEM);
	fail_malloc = false;
	CHECK(s.cap == 0 && s.n == 0 && cfs_hashset_find(&s, cfs_hash_u64(k), &k) == NULL);

	/* fill to the growth threshold; the next new key needs memory */
	CHECK_EQ_INT(cfs_hashset_reserve(&s, 8), 0);
	CHECK_EQ_INT(s.cap, 16);
	for (k = 0; k < 8; k++) {
		CHECK_EQ_INT(cfs_hashset_insert(&s, cfs_hash_u64(k), &k, &p), 1);
		*(struct kv *)p = (struct kv){ k, k };
	}
	fail_malloc = true;
	n_malloc = 0;
	CHECK_EQ_INT(cfs_hashset_insert(&s, cfs_hash_u64(k), &k, &p), -ENOMEM);
	CHECK_EQ_INT(n_malloc, 1);
	/* present keys need none */
	k = 3;
	CHECK_EQ_INT(cfs_hashset_insert(&s, cfs_hash_u64(k), &k, &p), 0);
	CHECK(((struct kv *)p)->value == 3);
	fail_malloc = false;
	CHECK_EQ_INT(cfs_hashset_count(&s), 8);
	CHECK_EQ_INT(s.cap, 16);
	for (k = 0; k < 8; k++)
		CHECK(cfs_hashset_find(&s, cfs_hash_u64(k), &k) != NULL);
	/* sizes that cannot be allocated are refused before any allocation */
	n_malloc = 0;
	CHECK_EQ_INT(cfs_hashset_reserve(&s, SIZE_MAX / 2), -ENOMEM);
	CHECK_EQ_INT(cfs_hashset_reserve(&s, SIZE_MAX), -ENOMEM);
	CHECK_EQ_INT(n_malloc, 0);
	/* a slot taken but not wanted after all is given back */
	k = 100;
	CHECK_EQ_INT(cfs_hashset_insert(&s, cfs_hash_u64(k), &k, &p), 1);
	cfs_hashset_remove_at(&s, p);
	CHECK_EQ_INT(cfs_hashset_count(&s), 8);
	CHECK(cfs_hashset_find(&s, cfs_hash_u64(k), &k) == NULL);
	cfs_hashset_free(&s);
}

static atomic_uint wq_done;

static void wq_item(void *state, void *arg)
{
	struct timespec ts = { .tv_nsec = 1000000 }; /* far slower than the producer */

	(void)state;
	(void)arg;
	nanosleep(&ts, NULL);
	atomic_fetch_add(&wq_done, 1);
}

/* With max_pending, a fast producer never has more than that many items unfinished. */
static void test_workq_bounded(void)
{
	struct cfs_workq_opts o = { .threads = 2, .max_pending = 8 };
	struct cfs_workq *q;
	unsigned most = 0;

	atomic_init(&wq_done, 0);
	CHECK_EQ_INT(cfs_workq_new(&o, &q), 0);
	for (unsigned i = 1; i <= 200; i++) {
		unsigned unfinished;

		CHECK_EQ_INT(cfs_workq_submit(q, wq_item, NULL), 0);
		unfinished = i - atomic_load(&wq_done);
		CHECK(unfinished <= 8);
		if (unfinished > most)
			most = unfinished;
	}
	CHECK(most >= 4); /* the bound was reached: the producer did wait */
	cfs_workq_wait(q, 0, NULL, NULL);
	CHECK_EQ_INT((int)atomic_load(&wq_done), 200);
	cfs_workq_free(q);

	/* without it, nothing waits: everything is queued at once */
	o.max_pending = 0;
	atomic_init(&wq_done, 0);
	CHECK_EQ_INT(cfs_workq_new(&o, &q), 0);
	for (unsigned i = 0; i < 200; i++)
		CHECK_EQ_INT(cfs_workq_submit(q, wq_item, NULL), 0);
	CHECK(atomic_load(&wq_done) < 100);
	cfs_workq_free(q); /* runs what is queued */
	CHECK_EQ_INT((int)atomic_load(&wq_done), 200);
}

int main(void)
{
	char dir[] = "/tmp/cfs-test-util-XXXXXX";

	CHECK(mkdtemp(dir) != NULL);
	test_errbuf();
	test_hex();
	test_full_io(dir);
	test_atomic(dir);
	test_beneath(dir);
	test_hash64();
	test_hashset_growth();
	test_hashset_collisions();
	test_hashset_strings();
	test_hashset_oom();
	test_workq_bounded();
	CHECK(rmdir(dir) == 0); /* nothing left behind */
	printf("util: ok\n");
	return 0;
}
