/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Unit test of lib/verity: known fs-verity digests, streaming, Merkle tree, cache, ioctls. */
#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <composefs/composefs.h>

#include "testutil.h"
#include "verity-private.h"

#define MIB (1024 * 1024)
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Known answers: `fsverity digest --hash-alg=ALG` (fsverity-utils 1.5) of files
 * holding the splitmix64 stream with seed 1 (generate() below; the helper
 * `verity-digest --generate=1 SIZE` writes the same bytes). The empty-file
 * sha256 value is also what the kernel reports for an empty verity file.
 * 1 MiB + 1 bytes makes a two-level tree, 16 MiB + 4097 a three-level one
 * for sha512 (two levels for sha256).
 */
static const struct {
	size_t size;
	const char *sha256, *sha512;
} known[] = {
	{ 0, "3d248ca542a24fc62d1c43b916eae5016878e2533c88238480b26128a1f1af95",
	  "ccf9e5aea1c2a64efa2f2354a6024b90dffde6bbc017825045dce374474e13d1"
	  "0adb9dadcc6ca8e17a3c075fbd31336e8f266ae6fa93a6c3bed66f9e784e5abf" },
	{ 1, "6e6ac288caef802a54d9da8ab2d085052c14a3ca6d8bd0ba1aee009ca594aabe",
	  "4762d4be27fefa3097b5b8d1a0f15cf2ad81a579c32b68308ff69769b1f13a0c"
	  "89d8e7549abf639485f440e5bd95add0f5c7d72191fa55b538b8c968778a0d47" },
	{ 4095, "16c3bf151b8fd757c00276ae6f491b6d5970dacec06bc96fd780d297f6303cd6",
	  "89a9a7ba68a0ecb2114797f4e2e6032751a6901be841d3de5f3c0da4c5db9373"
	  "72e09f9f1922601955e5cd2269707c4a8ce89912dcff31732bcd4def2e6dfb5f" },
	{ 4096, "cd608ed6ee5e5e936a13ce41fb2c50ea8227fca155f442093c06ad3a03a8919b",
	  "dff5e051b29b3cdc4aee826a687dc39a72c77ed73c7ae210fec0c7f563d27e72"
	  "15f79c340b56e65cb84904e87de8a2e283de4c43d6625b71ed250356233f038a" },
	{ 4097, "c8cd36264797adc76eb177caaac49ea68475e6fdb18fc8d05aa34f772d7f424c",
	  "5e6b67171e6866fe2ddab2771b47837a90ef4e5a054a6d0902ee4dbe88332015"
	  "18ed4bc072464f5f1841254682b8991e605a0ed08edd05b78bd5fe35b6bf291c" },
	{ MIB + 1, "82dd9a2e6ac8447af9196d5e5c9015264253f329857d495ee3ec1a88eefea329",
	  "7a488285f36197fdcda48d0f0c74b9b46f275fc919d5b075a52168432c4e46f4"
	  "e54268565994040ecd185bb2c4addba84a705a4850b913be8f15f3d8d8be8ca9" },
	{ 16 * MIB + 4097, "19937c5406684aa5771c976dc0b01b8fbe5bc1a06518d2dd601498449a317509",
	  "2a6d9413653b95021db30da31502020ef94e87d831eb421c060db6e146a67a3c"
	  "08a0f9078d54f384c65d1f980be029a37efe8f2f02aa1ed2b0f686389a9afc81" },
};

/* `fsverity digest` of 64 MiB + 4097 zero bytes: three tree levels for sha256 too. */
#define ZEROS_SIZE (64 * MIB + 4097)
static const char zeros_sha256[] =
	"8c2d4e6e9572fa836808a53b1c9172a606f3416f30f09291b9aa8465d7ac3171";
static const char zeros_sha512[] =
	"4739d4f9ef175b83e914e5fccd09dfcf9ef640a52fe9d18748073f870750b4a2"
	"a8e0a667e41be62ab4d96d3f9164ce031c65b8b2000261cf80f60bebe756a3ad";

static const enum cfs_hash_alg algs[] = { CFS_HASH_SHA256, CFS_HASH_SHA512 };

static uint8_t *generate(size_t size)
{
	uint8_t *buf = malloc(size ? size : 1);
	uint64_t state = 1;

	CHECK(buf != NULL);
	for (size_t i = 0; i < size; i += 8) {
		uint64_t z = (state += 0x9e3779b97f4a7c15ull);

		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		z ^= z >> 31;
		for (size_t k = 0; k < 8 && i + k < size; k++)
			buf[i + k] = (uint8_t)(z >> (8 * k));
	}
	return buf;
}

static void hex_digest(const char *hex, enum cfs_hash_alg alg, uint8_t *out)
{
	CHECK_EQ_INT(strlen(hex), 2 * cfs_verity_digest_size(alg));
	for (size_t i = 0; i < cfs_verity_digest_size(alg); i++) {
		unsigned v;

		CHECK(sscanf(hex + 2 * i, "%2x", &v) == 1);
		out[i] = (uint8_t)v;
	}
}

static void expected_digest(size_t idx, enum cfs_hash_alg alg, uint8_t *out)
{
	hex_digest(alg == CFS_HASH_SHA256 ? known[idx].sha256 : known[idx].sha512, alg, out);
}

static void check_digest_eq(const uint8_t *got, const uint8_t *want, enum cfs_hash_alg alg,
			    size_t size, const char *what)
{
	if (memcmp(got, want, cfs_verity_digest_size(alg)) != 0) {
		fprintf(stderr, "%s: %s digest of %zu bytes differs from the known answer\n", what,
			cfs_hash_alg_name(alg), size);
		exit(1);
	}
}

static int temp_file_with(const uint8_t *data, size_t size)
{
	const char *dir = getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp";
	char path[4096];
	int fd, ro;

	snprintf(path, sizeof(path), "%s/test-verity-XXXXXX", dir);
	fd = mkstemp(path);
	CHECK(fd >= 0);
	for (size_t off = 0; off < size;) {
		ssize_t n = write(fd, data + off, size - off);

		CHECK(n > 0);
		off += (size_t)n;
	}
	CHECK(close(fd) == 0);
	/* Read-only and no writer left: what FS_IOC_ENABLE_VERITY requires. */
	ro = open(path, O_RDONLY | O_CLOEXEC);
	CHECK(ro >= 0);
	CHECK(unlink(path) == 0);
	return ro;
}

static int temp_empty_file(void)
{
	return temp_file_with((const uint8_t *)"", 0);
}

static void test_names(void)
{
	enum cfs_hash_alg a = 0;

	CHECK_EQ_INT(cfs_verity_digest_size(CFS_HASH_SHA256), 32);
	CHECK_EQ_INT(cfs_verity_digest_size(CFS_HASH_SHA512), 64);
	CHECK_EQ_INT(cfs_verity_digest_size((enum cfs_hash_alg)3), 0);
	CHECK_EQ_INT(cfs_verity_digest_size((enum cfs_hash_alg)0), 0);
	CHECK_EQ_STR(cfs_hash_alg_name(CFS_HASH_SHA256), "sha256");
	CHECK_EQ_STR(cfs_hash_alg_name(CFS_HASH_SHA512), "sha512");
	CHECK(cfs_hash_alg_name((enum cfs_hash_alg)7) == NULL);
	CHECK_EQ_INT(cfs_hash_alg_from_name("sha512", &a), 0);
	CHECK_EQ_INT(a, CFS_HASH_SHA512);
	CHECK_EQ_INT(cfs_hash_alg_from_name("sha256", &a), 0);
	CHECK_EQ_INT(a, CFS_HASH_SHA256);
	CHECK_EQ_INT(cfs_hash_alg_from_name("SHA256", &a), -EINVAL);
	CHECK_EQ_INT(cfs_hash_alg_from_name("sha1", &a), -EINVAL);
	CHECK_EQ_INT(cfs_hash_alg_from_name("", &a), -EINVAL);
	CHECK_EQ_INT(a, CFS_HASH_SHA256);
}

static void test_errors(void)
{
	struct cfs_verity_ctx *ctx = NULL;
	struct cfs_verity_tree *t = NULL;
	uint8_t d[CFS_VERITY_MAX_DIGEST];
	int pfd[2], dfd;

	CHECK_EQ_INT(cfs_verity_ctx_new((enum cfs_hash_alg)9, &ctx), -EINVAL);
	CHECK(ctx == NULL);
	CHECK_EQ_INT(cfs_verity_digest_buf((enum cfs_hash_alg)9, "x", 1, d), -EINVAL);
	CHECK_EQ_INT(cfs_verity_digest_buf(CFS_HASH_SHA256, NULL, 1, d), -EINVAL);
	CHECK_EQ_INT(cfs_verity_ctx_new(CFS_HASH_SHA256, &ctx), 0);
	CHECK_EQ_INT(cfs_verity_update(ctx, NULL, 5), -EINVAL);
	CHECK_EQ_INT(cfs_verity_update(ctx, NULL, 0), 0);
	cfs_verity_ctx_free(ctx);
	cfs_verity_ctx_free(NULL);
	cfs_verity_tree_free(NULL);

	CHECK_EQ_INT(cfs_verity_digest_fd(-1, CFS_HASH_SHA256, d), -EBADF);
	CHECK(pipe(pfd) == 0);
	CHECK_EQ_INT(cfs_verity_digest_fd(pfd[0], CFS_HASH_SHA256, d), -ESPIPE);
	CHECK_EQ_INT(cfs_verity_tree_build(pfd[0], CFS_HASH_SHA256, d, &t), -EINVAL);
	close(pfd[0]);
	close(pfd[1]);
	dfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(dfd >= 0);
	CHECK_EQ_INT(cfs_verity_digest_fd(dfd, CFS_HASH_SHA256, d), -EISDIR);
	CHECK_EQ_INT(cfs_verity_tree_build(dfd, CFS_HASH_SHA256, d, &t), -EINVAL);
	close(dfd);
	CHECK(t == NULL);
}

/* Feed @data in chunks of @chunk bytes (0: a varying pattern). */
static void stream_digest(struct cfs_verity_ctx *ctx, const uint8_t *data, size_t size,
			  size_t chunk, uint8_t *out)
{
	static const size_t pattern[] = { 1, 4095, 7, 4097, 8192, 3, 65536, 12289 };
	size_t off = 0, i = 0;

	while (off < size) {
		size_t n = chunk ? chunk : pattern[i++ % ARRAY_SIZE(pattern)];

		if (n > size - off)
			n = size - off;
		CHECK_EQ_INT(cfs_verity_update(ctx, data + off, n), 0);
		off += n;
	}
	CHECK_EQ_INT(cfs_verity_final(ctx, out), 0);
}

/* What a sink received: a copy of the file, and whether every piece kept the promised shape. */
struct sink_copy {
	uint8_t *data;
	size_t size;
	bool bad_shape, fail;
};

static int sink_into(void *user, const void *buf, size_t len, uint64_t off)
{
	struct sink_copy *c = user;

	if ((uintptr_t)buf % CFS_VERITY_BLOCK_SIZE != 0 || off % CFS_VERITY_BLOCK_SIZE != 0 ||
	    (len % CFS_VERITY_BLOCK_SIZE != 0 && off + len != c->size) || off + len > c->size)
		c->bad_shape = true;
	else
		memcpy(c->data + off, buf, len);
	return c->fail ? -ENOSPC : 0;
}

/* The threaded digest with a sink: same digest, and the pieces make up the file exactly. */
static void test_digest_sink(int fd, enum cfs_hash_alg alg, size_t size, unsigned threads,
			     const uint8_t *want)
{
	struct sink_copy c = { .data = malloc(size + 1), .size = size };
	uint8_t *file = malloc(size + 1);
	uint8_t got[CFS_VERITY_MAX_DIGEST];

	CHECK(c.data != NULL && file != NULL);
	memset(c.data, 0xa5, size);
	CHECK_EQ_INT(cfs_verity_digest_fd_sink(fd, alg, size, threads, sink_into, &c, got), 0);
	check_digest_eq(got, want, alg, size, "digest_fd_sink");
	CHECK(!c.bad_shape);
	CHECK_EQ_INT((int)pread(fd, file, size, 0), (int)size);
	CHECK(memcmp(c.data, file, size) == 0);
	/* the sink's error ends the digest (with data to hand over), as does a changed length */
	c.fail = true;
	if (size > 0)
		CHECK_EQ_INT(cfs_verity_digest_fd_sink(fd, alg, size, threads, sink_into, &c, got), -ENOSPC);
	c.fail = false;
	CHECK_EQ_INT(cfs_verity_digest_fd_sink(fd, alg, size + 1, threads, sink_into, &c, got), -ESTALE);
	free(c.data);
	free(file);
}

/* The windowed, multi-threaded digest of a file: read or mapped, any thread count. */
static void test_digest_threads(int fd, enum cfs_hash_alg alg, size_t size, const uint8_t *want)
{
	static const unsigned threads[] = { 1, 2, 3, 0 };
	uint8_t got[CFS_VERITY_MAX_DIGEST];

	for (size_t t = 0; t < ARRAY_SIZE(threads); t++)
		test_digest_sink(fd, alg, size, threads[t], want);

	for (size_t t = 0; t < ARRAY_SIZE(threads); t++) {
		for (int map = 0; map < 2; map++) {
			memset(got, 0x5a, sizeof(got));
			CHECK_EQ_INT(cfs_verity_digest_fd_threads(fd, alg, size, threads[t], map, got), 0);
			check_digest_eq(got, want, alg, size, map ? "digest_fd_threads (mapped)" : "digest_fd_threads");
			/* a file of another length than promised: it changed */
			CHECK_EQ_INT(cfs_verity_digest_fd_threads(fd, alg, size + 1, threads[t], map, got), -ESTALE);
			if (size > 0)
				CHECK_EQ_INT(cfs_verity_digest_fd_threads(fd, alg, size - 1, threads[t], map, got),
					     -ESTALE);
		}
	}
}

static void test_digests(size_t idx, const uint8_t *data)
{
	static const size_t chunks[] = { 1, 7, 4095, 4097, MIB, 0 };
	size_t size = known[idx].size;
	bool big = size > 2 * MIB;

	for (size_t a = 0; a < ARRAY_SIZE(algs); a++) {
		enum cfs_hash_alg alg = algs[a];
		struct cfs_verity_ctx *ctx = NULL;
		uint8_t want[CFS_VERITY_MAX_DIGEST], got[CFS_VERITY_MAX_DIGEST];
		bool from_kernel = true;
		int fd;

		expected_digest(idx, alg, want);
		CHECK_EQ_INT(cfs_verity_digest_buf(alg, data, size, got), 0);
		check_digest_eq(got, want, alg, size, "digest_buf");

		/* One context reused for every chunking: final() resets it. */
		CHECK_EQ_INT(cfs_verity_ctx_new(alg, &ctx), 0);
		for (size_t c = 0; c < ARRAY_SIZE(chunks); c++) {
			if (big && chunks[c] < 64)
				continue; /* millions of calls: keep the unit test quick */
			memset(got, 0xa5, sizeof(got));
			stream_digest(ctx, data, size, chunks[c], got);
			check_digest_eq(got, want, alg, size, "streaming");
		}
		cfs_verity_ctx_free(ctx);

		fd = temp_file_with(data, size);
		memset(got, 0, sizeof(got));
		CHECK_EQ_INT(cfs_verity_digest_fd(fd, alg, got), 0);
		check_digest_eq(got, want, alg, size, "digest_fd");
		memset(got, 0, sizeof(got));
		CHECK_EQ_INT(cfs_verity_measure_fd(fd, alg, got, &from_kernel), 0);
		check_digest_eq(got, want, alg, size, "measure_fd");
		CHECK(!from_kernel); /* this kernel has no fs-verity; the file is not enabled */
		test_digest_threads(fd, alg, size, want);
		close(fd);
	}
}

/* Deep trees: hashed in one go and streamed in 1 MiB chunks. */
static void test_zeros(void)
{
	uint8_t *zeros = calloc(1, ZEROS_SIZE);

	CHECK(zeros != NULL);
	for (size_t a = 0; a < ARRAY_SIZE(algs); a++) {
		enum cfs_hash_alg alg = algs[a];
		uint8_t want[CFS_VERITY_MAX_DIGEST], got[CFS_VERITY_MAX_DIGEST];
		struct cfs_verity_ctx *ctx = NULL;

		hex_digest(alg == CFS_HASH_SHA256 ? zeros_sha256 : zeros_sha512, alg, want);
		CHECK_EQ_INT(cfs_verity_digest_buf(alg, zeros, ZEROS_SIZE, got), 0);
		check_digest_eq(got, want, alg, ZEROS_SIZE, "digest_buf of zeros");
		CHECK_EQ_INT(cfs_verity_ctx_new(alg, &ctx), 0);
		memset(got, 0, sizeof(got));
		stream_digest(ctx, zeros, ZEROS_SIZE, MIB, got);
		check_digest_eq(got, want, alg, ZEROS_SIZE, "streamed zeros");
		cfs_verity_ctx_free(ctx);
	}
	free(zeros);
	printf("size %d (zeros): deep tree digests ok\n", ZEROS_SIZE);
}

/* A partial final() must not leak state into the next digest. */
static void test_ctx_reuse(void)
{
	struct cfs_verity_ctx *ctx = NULL;
	uint8_t *data = generate(3 * 4096 + 5);
	uint8_t a[64], b[64], empty[64];

	CHECK_EQ_INT(cfs_verity_ctx_new(CFS_HASH_SHA256, &ctx), 0);
	CHECK_EQ_INT(cfs_verity_update(ctx, data, 3 * 4096 + 5), 0);
	CHECK_EQ_INT(cfs_verity_final(ctx, a), 0);
	CHECK_EQ_INT(cfs_verity_final(ctx, empty), 0);
	CHECK_EQ_INT(cfs_verity_update(ctx, data, 3 * 4096 + 5), 0);
	CHECK_EQ_INT(cfs_verity_final(ctx, b), 0);
	CHECK(memcmp(a, b, 32) == 0);
	CHECK_EQ_INT(cfs_verity_digest_buf(CFS_HASH_SHA256, NULL, 0, b), 0);
	CHECK(memcmp(empty, b, 32) == 0);
	cfs_verity_ctx_free(ctx);
	free(data);
}

static int save_to_file(const struct cfs_verity_tree *t, uint8_t **bytes, size_t *len)
{
	int fd = temp_empty_file();
	int wfd;
	char path[64];
	struct stat st;

	/* The temp file is read-only; write the cache through /proc. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	wfd = open(path, O_WRONLY | O_CLOEXEC);
	CHECK(wfd >= 0);
	CHECK_EQ_INT(cfs_verity_tree_save(t, wfd), 0);
	close(wfd);
	CHECK(fstat(fd, &st) == 0);
	*len = (size_t)st.st_size;
	*bytes = malloc(*len);
	CHECK(*bytes != NULL);
	CHECK(pread(fd, *bytes, *len, 0) == (ssize_t)*len);
	return fd;
}

/* Load a cache from an in-memory image of it (in a memfd: cheap, and a regular file). */
static int load_bytes(const uint8_t *bytes, size_t len, enum cfs_hash_alg alg,
		      const uint8_t *digest, struct cfs_verity_tree **out)
{
	int fd = memfd_create("test-verity-cache", MFD_CLOEXEC);
	int r;

	CHECK(fd >= 0);
	CHECK(pwrite(fd, bytes, len, 0) == (ssize_t)len);
	r = cfs_verity_tree_load(fd, alg, digest, out);

	close(fd);
	return r;
}

static void check_all_blocks(const struct cfs_verity_tree *t, const uint8_t *data, size_t size)
{
	for (size_t off = 0; off < size; off += 4096) {
		size_t n = size - off < 4096 ? size - off : 4096;

		CHECK_EQ_INT(cfs_verity_tree_check(t, off, data + off, n), 0);
	}
	CHECK_EQ_INT(cfs_verity_tree_check(t, 0, data, size), 0);
	CHECK_EQ_INT(cfs_verity_tree_check(t, size / 4096 * 4096, data, 0), 0);
}

static void test_tree_misuse(const struct cfs_verity_tree *t, const uint8_t *data, size_t size)
{
	if (size == 0) {
		CHECK_EQ_INT(cfs_verity_tree_check(t, 0, data, 1), -EINVAL);
		CHECK_EQ_INT(cfs_verity_tree_check(t, 4096, data, 0), -EINVAL);
		return;
	}
	CHECK_EQ_INT(cfs_verity_tree_check(t, 1, data + 1, size - 1), -EINVAL);
	CHECK_EQ_INT(cfs_verity_tree_check(t, 0, data, size + 1), -EINVAL);
	CHECK_EQ_INT(cfs_verity_tree_check(t, (size + 4095) / 4096 * 4096 + 4096, data, 0),
		     -EINVAL);
	if (size > 4096) /* a short block that does not end the file */
		CHECK_EQ_INT(cfs_verity_tree_check(t, 0, data, 4095), -EINVAL);
	CHECK_EQ_INT(cfs_verity_tree_check(t, 0, NULL, size), -EINVAL);
}

static void test_tree_tamper(const struct cfs_verity_tree *t, const uint8_t *data, size_t size)
{
	uint8_t *copy;

	if (size == 0)
		return;
	copy = malloc(size);
	CHECK(copy != NULL);
	memcpy(copy, data, size);
	/* First byte of the file, last byte of the file, one in the middle. */
	const size_t spots[] = { 0, size - 1, size / 2 };
	for (size_t i = 0; i < ARRAY_SIZE(spots); i++) {
		size_t pos = spots[i], blk = pos / 4096 * 4096;
		size_t n = size - blk < 4096 ? size - blk : 4096;

		copy[pos] ^= 0x01;
		CHECK_EQ_INT(cfs_verity_tree_check(t, blk, copy + blk, n), -CFS_EDIGEST);
		if (size <= 2 * MIB) /* rehashing the whole of big files is slow */
			CHECK_EQ_INT(cfs_verity_tree_check(t, 0, copy, size), -CFS_EDIGEST);
		copy[pos] ^= 0x01;
	}
	CHECK_EQ_INT(cfs_verity_tree_check(t, 0, copy, size), 0);
	/* Genuine data presented at the wrong offset. */
	if (size >= 8192)
		CHECK_EQ_INT(cfs_verity_tree_check(t, 0, copy + 4096, 4096), -CFS_EDIGEST);
	free(copy);
}

static void test_cache(const struct cfs_verity_tree *t, enum cfs_hash_alg alg,
		       const uint8_t *want, const uint8_t *data, size_t size)
{
	struct cfs_verity_tree *l = NULL;
	uint8_t wrong[CFS_VERITY_MAX_DIGEST];
	uint8_t *bytes;
	size_t len;
	int fd = save_to_file(t, &bytes, &len);

	CHECK(len >= 128);
	CHECK(memcmp(bytes, "CFSVTREE", 8) == 0);
	CHECK_EQ_INT(lseek(fd, 0, SEEK_SET), 0);
	CHECK_EQ_INT(cfs_verity_tree_load(fd, alg, want, &l), 0);
	CHECK_EQ_INT(cfs_verity_tree_file_size(l), size);
	CHECK_EQ_INT(cfs_verity_tree_mem_size(l), cfs_verity_tree_mem_size(t));
	check_all_blocks(l, data, size);
	if (size <= 2 * MIB)
		test_tree_tamper(l, data, size);
	cfs_verity_tree_free(l);
	l = NULL;
	close(fd);

	/* Stale caches: another digest, another algorithm. */
	memcpy(wrong, want, sizeof(wrong));
	wrong[0] ^= 0x80;
	CHECK_EQ_INT(load_bytes(bytes, len, alg, wrong, &l), -CFS_EDIGEST);
	CHECK_EQ_INT(load_bytes(bytes, len, alg == CFS_HASH_SHA256 ? CFS_HASH_SHA512 : CFS_HASH_SHA256,
				want, &l),
		     -CFS_EDIGEST);
	CHECK_EQ_INT(load_bytes(bytes, len, (enum cfs_hash_alg)5, want, &l), -EINVAL);
	/* Truncated anywhere, or with trailing data. */
	CHECK_EQ_INT(load_bytes(bytes, 0, alg, want, &l), -EUCLEAN);
	CHECK_EQ_INT(load_bytes(bytes, 100, alg, want, &l), -EUCLEAN);
	if (len > 128)
		CHECK_EQ_INT(load_bytes(bytes, len - 1, alg, want, &l), -EUCLEAN);
	{
		uint8_t *longer = malloc(len + 1);

		CHECK(longer != NULL);
		memcpy(longer, bytes, len);
		longer[len] = 0;
		CHECK_EQ_INT(load_bytes(longer, len + 1, alg, want, &l), -EUCLEAN);
		free(longer);
	}
	/* A huge tree size must be refused before any allocation. */
	{
		uint8_t saved[8];

		memcpy(saved, bytes + 24, 8);
		memset(bytes + 24, 0xff, 8);
		CHECK_EQ_INT(load_bytes(bytes, len, alg, want, &l), -EUCLEAN);
		memcpy(bytes + 24, saved, 8);
	}
	/*
	 * A consistent header for a 64 PiB file: the tree it announces (hundreds
	 * of TiB) is not in the file and must be refused before allocating it.
	 */
	{
		uint8_t hdr[128];
		uint64_t data_size = 1ull << 56, blocks = data_size / 4096, tree = 0;
		uint64_t arity = 4096 / cfs_verity_digest_size(alg);
		uint8_t levels = 0;

		while (blocks > 1) {
			blocks = (blocks + arity - 1) / arity;
			tree += blocks;
			levels++;
		}
		memcpy(hdr, bytes, 128);
		hdr[14] = levels;
		for (int i = 0; i < 8; i++) {
			hdr[16 + i] = (uint8_t)(data_size >> (8 * i));
			hdr[24 + i] = (uint8_t)(tree >> (8 * i));
		}
		CHECK_EQ_INT(load_bytes(hdr, 128, alg, want, &l), -EUCLEAN);
	}
	/*
	 * Every single flipped bit must be caught: in the header, the root hash
	 * or any hash block (every byte of small caches; the header and 64 samples
	 * of big ones).
	 */
	size_t step = len <= 8192 + 128 ? 1 : (len - 128) / 64 + 1;
	for (size_t pos = 0; pos < len; pos += pos < 128 ? 1 : step) {
		int r;

		bytes[pos] ^= 0x10;
		r = load_bytes(bytes, len, alg, want, &l);
		if (r != -EUCLEAN && r != -CFS_EDIGEST) {
			fprintf(stderr, "cache with byte %zu of %zu flipped: load returned %d\n", pos,
				len, r);
			exit(1);
		}
		bytes[pos] ^= 0x10;
	}
	CHECK(l == NULL);
	CHECK_EQ_INT(load_bytes(bytes, len, alg, want, &l), 0);
	cfs_verity_tree_free(l);
	free(bytes);
}

/* cfs_verity_tree_build_keep(): the kept bytes are the file's; bad lengths refused. */
static void test_tree_keep(int fd, enum cfs_hash_alg alg, const uint8_t *want, const uint8_t *data, size_t size)
{
	size_t cap = size + 8192;
	uint8_t *keep = malloc(cap);
	struct cfs_verity_tree *t = NULL;
	size_t lens[] = { 0, 4096, 3 * 4096, size, cap };

	CHECK(keep != NULL);
	for (size_t i = 0; i < ARRAY_SIZE(lens); i++) {
		size_t len = lens[i], got = len < size ? len : size;

		if ((len % 4096 != 0 && len < size) || len > cap)
			continue;
		memset(keep, 0xa5, cap);
		CHECK_EQ_INT(cfs_verity_tree_build_keep(fd, alg, want, len ? keep : NULL, len, &t), 0);
		CHECK(memcmp(keep, data, got) == 0);
		for (size_t j = got; j < len; j++)
			CHECK(keep[j] == 0xa5); /* nothing past the end */
		CHECK_EQ_INT(cfs_verity_tree_file_size(t), size);
		check_all_blocks(t, data, size);
		cfs_verity_tree_free(t);
		t = NULL;
	}
	if (size > 4096) {
		CHECK_EQ_INT(cfs_verity_tree_build_keep(fd, alg, want, keep, 100, &t), -EINVAL);
		CHECK(t == NULL);
	}
	CHECK_EQ_INT(cfs_verity_tree_build_keep(fd, alg, want, NULL, 4096, &t), -EINVAL);
	free(keep);
}

static void test_tree(size_t idx, const uint8_t *data)
{
	size_t size = known[idx].size;

	for (size_t a = 0; a < ARRAY_SIZE(algs); a++) {
		enum cfs_hash_alg alg = algs[a];
		struct cfs_verity_tree *t = NULL;
		uint8_t want[CFS_VERITY_MAX_DIGEST];
		int fd = temp_file_with(data, size);

		expected_digest(idx, alg, want);
		want[cfs_verity_digest_size(alg) - 1] ^= 1;
		CHECK_EQ_INT(cfs_verity_tree_build(fd, alg, want, &t), -CFS_EDIGEST);
		CHECK(t == NULL);
		want[cfs_verity_digest_size(alg) - 1] ^= 1;
		CHECK_EQ_INT(cfs_verity_tree_build(fd, (enum cfs_hash_alg)0, want, &t), -EINVAL);
		CHECK_EQ_INT(cfs_verity_tree_build(fd, alg, want, &t), 0);
		test_tree_keep(fd, alg, want, data, size);
		close(fd);

		CHECK_EQ_INT(cfs_verity_tree_file_size(t), size);
		CHECK(cfs_verity_tree_mem_size(t) >= size / 4096 * cfs_verity_digest_size(alg));
		check_all_blocks(t, data, size);
		test_tree_misuse(t, data, size);
		test_tree_tamper(t, data, size);
		test_cache(t, alg, want, data, size);
		cfs_verity_tree_free(t);
	}
}

static void test_kernel(void)
{
	uint8_t *data = generate(5000);
	uint8_t want[CFS_VERITY_MAX_DIGEST], got[CFS_VERITY_MAX_DIGEST];
	int fd = temp_file_with(data, 5000);
	bool from_kernel = true;
	int r;

	CHECK_EQ_INT(cfs_verity_digest_buf(CFS_HASH_SHA256, data, 5000, want), 0);
	CHECK_EQ_INT(cfs_verity_kernel_measure(fd, (enum cfs_hash_alg)3, got), -EINVAL);
	CHECK_EQ_INT(cfs_verity_kernel_enable(fd, (enum cfs_hash_alg)3), -EINVAL);
	CHECK_EQ_INT(cfs_verity_kernel_measure(-1, CFS_HASH_SHA256, got), -EBADF);
	CHECK_EQ_INT(cfs_verity_measure_fd(-1, CFS_HASH_SHA256, got, NULL), -EBADF);

	/* Not enabled: no verity in this kernel or file system, or not yet enabled. */
	r = cfs_verity_kernel_measure(fd, CFS_HASH_SHA256, got);
	if (r != -EOPNOTSUPP && r != -ENODATA) {
		fprintf(stderr, "kernel_measure on a plain file returned %d\n", r);
		exit(1);
	}
	r = cfs_verity_kernel_enable(fd, CFS_HASH_SHA256);
	if (r == 0) {
		/* A kernel with fs-verity: it must agree with us. */
		CHECK_EQ_INT(cfs_verity_kernel_measure(fd, CFS_HASH_SHA256, got), 0);
		CHECK(memcmp(got, want, 32) == 0);
		CHECK_EQ_INT(cfs_verity_kernel_measure(fd, CFS_HASH_SHA512, got), -EINVAL);
		CHECK_EQ_INT(cfs_verity_measure_fd(fd, CFS_HASH_SHA256, got, &from_kernel), 0);
		CHECK(from_kernel);
		printf("kernel fs-verity available: enable + measure agree\n");
	} else {
		if (r != -EOPNOTSUPP) {
			fprintf(stderr, "kernel_enable without fs-verity returned %d\n", r);
			exit(1);
		}
		memset(got, 0, sizeof(got));
		CHECK_EQ_INT(cfs_verity_measure_fd(fd, CFS_HASH_SHA256, got, &from_kernel), 0);
		CHECK(!from_kernel);
		printf("kernel fs-verity unavailable (-EOPNOTSUPP): measure_fd fell back\n");
	}
	CHECK(memcmp(got, want, 32) == 0);
	close(fd);

	/* tmpfs answers ENOTTY, which must come back as -EOPNOTSUPP. */
	fd = memfd_create("test-verity-kernel", MFD_CLOEXEC);
	CHECK(fd >= 0);
	CHECK(pwrite(fd, data, 5000, 0) == 5000);
	r = cfs_verity_kernel_measure(fd, CFS_HASH_SHA256, got);
	CHECK(r == -EOPNOTSUPP || r == -ENODATA);
	r = cfs_verity_kernel_enable(fd, CFS_HASH_SHA256);
	CHECK(r == -EOPNOTSUPP || r == -ETXTBSY || r == 0);
	close(fd);
	free(data);
}

int main(void)
{
	test_names();
	test_errors();
	test_ctx_reuse();
	for (size_t i = 0; i < ARRAY_SIZE(known); i++) {
		uint8_t *data = generate(known[i].size);

		test_digests(i, data);
		test_tree(i, data);
		free(data);
		printf("size %zu: digests, streaming, tree, cache ok\n", known[i].size);
	}
	test_zeros();
	test_kernel();
	printf("test-verity: all passed\n");
	return 0;
}
