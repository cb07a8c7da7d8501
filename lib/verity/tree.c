/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* fs-verity Merkle tree of one file: build, check block ranges, cache save/load. */
#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"
#include "workq.h"
#include "verity-private.h"

#define BLOCK CFS_VERITY_BLOCK_SIZE
/* Data read per pread(2) while building. */
#define READ_CHUNK (1024 * 1024)
/*
 * While building, each part asks the disk for the next HINT_AHEAD bytes, in READ_CHUNK hints
 * (the kernel caps one WILLNEED at the device's read-ahead size), each byte once, whenever what
 * was asked for ahead of the reads shrinks below HINT_REFILL.
 */
#define HINT_AHEAD (32ull * 1024 * 1024)
#define HINT_REFILL (24ull * 1024 * 1024)
/* Files at least this large are hashed by several threads while building. */
#define PARALLEL_MIN_SIZE (16ull * 1024 * 1024)
#define HASH_THREADS_MAX 8u
/* Largest tree accepted from a cache that is not a regular file (size unknown). */
#define CACHE_MAX_UNSIZED (1024ull * 1024 * 1024)

struct cfs_verity_tree {
	struct cfs_verity_hasher h; /* its md is shared by checks; its ctx is unused after creation */
	uint64_t data_size;
	struct cfs_verity_geometry g;
	uint8_t root[CFS_VERITY_MAX_DIGEST];
	uint8_t *blocks; /* g.tree_blocks blocks, top level first, as the kernel stores them */
};

/* The cache file header; all integers little-endian. */
#define CACHE_MAGIC "CFSVTREE"
#define CACHE_VERSION 1
struct cache_header {
	char magic[8];
	uint32_t version;
	uint8_t hash_algorithm;
	uint8_t log_blocksize;
	uint8_t num_levels;
	uint8_t reserved0;
	uint64_t data_size;
	uint64_t tree_blocks;
	uint8_t root_hash[CFS_VERITY_MAX_DIGEST]; /* zero-padded */
	uint8_t reserved[32];
};
static_assert(sizeof(struct cache_header) == 128, "cache header size");

static uint8_t *level_ptr(const struct cfs_verity_tree *t, unsigned level)
{
	return t->blocks + t->g.level_start[level] * BLOCK;
}

/* Where the hash of data block @index is kept. */
static uint8_t *leaf_slot(struct cfs_verity_tree *t, uint64_t index)
{
	if (t->g.num_levels == 0)
		return t->root;
	return level_ptr(t, 0) + index * t->h.digest_size;
}

static const uint8_t *leaf_hash(const struct cfs_verity_tree *t, uint64_t index)
{
	return leaf_slot((struct cfs_verity_tree *)t, index);
}

static int tree_alloc(enum cfs_hash_alg alg, uint64_t data_size, struct cfs_verity_tree **out)
{
	struct cfs_verity_tree *t;
	int r;

	t = calloc(1, sizeof(*t));
	if (t == NULL)
		return -ENOMEM;
	r = cfs_verity_hasher_init(&t->h, alg);
	if (r == 0)
		r = cfs_verity_geometry_compute(data_size, t->h.digest_size, &t->g);
	if (r == 0 && t->g.tree_blocks > 0) {
		if (t->g.tree_blocks > SIZE_MAX / BLOCK)
			r = -EFBIG;
		else if ((t->blocks = calloc(t->g.tree_blocks, BLOCK)) == NULL)
			r = -ENOMEM;
	}
	if (r < 0) {
		cfs_verity_tree_free(t);
		return r;
	}
	t->data_size = data_size;
	*out = t;
	return 0;
}

void cfs_verity_tree_free(struct cfs_verity_tree *t)
{
	if (t == NULL)
		return;
	cfs_verity_hasher_fini(&t->h);
	free(t->blocks);
	free(t);
}

/*
 * Hash every block of each level into the level above, and the top block
 * into @root. With @verify, compare with the stored levels instead of storing
 * into them (-EUCLEAN on the first difference); @root is written either way.
 */
static int hash_upper_levels(struct cfs_verity_tree *t, bool verify, uint8_t *root)
{
	size_t ds = t->h.digest_size;
	uint8_t hash[CFS_VERITY_MAX_DIGEST];
	int r;

	for (unsigned level = 0; level < t->g.num_levels; level++) {
		const uint8_t *src = level_ptr(t, level);
		bool top = level + 1 == t->g.num_levels;
		uint8_t *dst = top ? root : level_ptr(t, level + 1);

		for (uint64_t b = 0; b < t->g.level_blocks[level]; b++) {
			uint8_t *slot = dst + b * ds;

			r = cfs_verity_hash_block(&t->h, src + b * BLOCK, BLOCK, hash);
			if (r < 0)
				return r;
			if (!verify || top)
				memcpy(slot, hash, ds);
			else if (memcmp(slot, hash, ds) != 0)
				return -EUCLEAN;
		}
	}
	return 0;
}

static int check_digest(struct cfs_verity_tree *t, const uint8_t *expected)
{
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	int r = cfs_verity_hash_descriptor(&t->h, t->data_size, t->root, digest);

	if (r < 0)
		return r;
	return memcmp(digest, expected, t->h.digest_size) == 0 ? 0 : -CFS_EDIGEST;
}

/*
 * Hash data blocks [@first, @last) of @fd into their level-0 slots, with @h. Blocks below
 * @keep_len are read into @keep at their file offset (and hashed there), the rest through a
 * chunk buffer; @keep_len is a multiple of BLOCK (or covers the file).
 */
static int hash_range(struct cfs_verity_tree *t, struct cfs_verity_hasher *h, int fd, uint64_t first,
		      uint64_t last, uint8_t *keep, uint64_t keep_len)
{
	_cleanup_free_ uint8_t *chunk = NULL;
	uint64_t off = first * BLOCK, end = last * BLOCK < t->data_size ? last * BLOCK : t->data_size;
	uint64_t index = first, hinted = off;

	while (off < end) {
		size_t want = end - off < READ_CHUNK ? (size_t)(end - off) : READ_CHUNK;
		uint8_t *buf;
		ssize_t n;

		if (off < keep_len) {
			if (want > keep_len - off)
				want = (size_t)(keep_len - off);
			buf = keep + off;
		} else {
			if (chunk == NULL && (chunk = malloc(READ_CHUNK)) == NULL)
				return -ENOMEM;
			buf = chunk;
		}
		/* the disk reads the next chunks while this one is hashed (advice: failures cost only speed) */
		if (hinted < end && hinted - off < HINT_REFILL) {
			uint64_t to = off + HINT_AHEAD < end ? off + HINT_AHEAD : end;

			for (; hinted < to; hinted += READ_CHUNK)
				(void)posix_fadvise(fd, (off_t)hinted, (off_t)(to - hinted < READ_CHUNK ? to - hinted : READ_CHUNK),
						    POSIX_FADV_WILLNEED);
			hinted = to;
		}
		n = cfs_pread_full(fd, buf, want, (off_t)off);
		if (n < 0)
			return (int)n;
		if ((size_t)n < want)
			return -EIO; /* the file shrank under us */
		for (size_t pos = 0; pos < want; pos += BLOCK, index++) {
			size_t len = want - pos < BLOCK ? want - pos : BLOCK;
			int r = cfs_verity_hash_block(h, buf + pos, len, leaf_slot(t, index));

			if (r < 0)
				return r;
		}
		off += want;
	}
	return 0;
}

struct hash_part {
	struct cfs_verity_tree *t;
	int fd;
	uint64_t first, last;
	uint8_t *keep;
	uint64_t keep_len;
	int result;
};

static void hash_part(void *user, size_t i)
{
	struct hash_part *p = (struct hash_part *)user + i;
	struct cfs_verity_hasher h;

	p->result = cfs_verity_hasher_borrow(&h, &p->t->h);
	if (p->result == 0) {
		p->result = hash_range(p->t, &h, p->fd, p->first, p->last, p->keep, p->keep_len);
		cfs_verity_hasher_fini(&h);
	}
}

/*
 * Hash every data block into level 0. Large files are split into one part per
 * usable CPU (at most HASH_THREADS_MAX), hashed in parallel (cfs_parallel_for):
 * each writes only its own blocks' slots.
 */
static int hash_data(struct cfs_verity_tree *t, int fd, uint8_t *keep, uint64_t keep_len)
{
	uint64_t n_blocks = (t->data_size + BLOCK - 1) / BLOCK;
	struct hash_part parts[HASH_THREADS_MAX];
	unsigned n = 1;
	int r = 0;

	/* advice only: a failure changes nothing but speed */
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	if (t->data_size >= PARALLEL_MIN_SIZE)
		n = cfs_thread_count(0, HASH_THREADS_MAX);
	if (n == 1)
		return hash_range(t, &t->h, fd, 0, n_blocks, keep, keep_len);
	for (unsigned i = 0; i < n; i++) {
		/* whole chunks per part, so each part's reads stay chunk-aligned */
		uint64_t per = (n_blocks / n + READ_CHUNK / BLOCK - 1) / (READ_CHUNK / BLOCK) * (READ_CHUNK / BLOCK);
		uint64_t first = i * per, last = i + 1 == n ? n_blocks : (i + 1) * per;

		parts[i] = (struct hash_part){ .t = t, .fd = fd,
					       .first = first < n_blocks ? first : n_blocks,
					       .last = last < n_blocks ? last : n_blocks,
					       .keep = keep, .keep_len = keep_len };
	}
	cfs_parallel_for(n, n, hash_part, parts);
	for (unsigned i = 0; i < n && r == 0; i++)
		r = parts[i].result;
	return r;
}

int cfs_verity_tree_build(int fd, enum cfs_hash_alg alg, const uint8_t *expected_digest,
			  struct cfs_verity_tree **out)
{
	return cfs_verity_tree_build_keep(fd, alg, expected_digest, NULL, 0, out);
}

int cfs_verity_tree_build_keep(int fd, enum cfs_hash_alg alg, const uint8_t *expected_digest, void *keep,
			       size_t keep_len, struct cfs_verity_tree **out)
{
	struct cfs_verity_tree *t = NULL;
	struct stat st;
	int r;

	if (cfs_verity_digest_size(alg) == 0 || (keep == NULL && keep_len != 0))
		return -EINVAL;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	/* a partial last block is kept only when it ends the file */
	if (keep_len % BLOCK != 0 && keep_len < (uint64_t)st.st_size)
		return -EINVAL;
	r = tree_alloc(alg, (uint64_t)st.st_size, &t);
	if (r < 0)
		return r;
	r = hash_data(t, fd, keep, keep_len);
	if (r == 0)
		r = hash_upper_levels(t, false, t->root);
	if (r == 0)
		r = check_digest(t, expected_digest);
	if (r < 0) {
		cfs_verity_tree_free(t);
		return r;
	}
	*out = t;
	return 0;
}

int cfs_verity_tree_check(const struct cfs_verity_tree *t, uint64_t offset, const void *buf,
			  size_t len)
{
	struct cfs_verity_hasher h;
	uint8_t hash[CFS_VERITY_MAX_DIGEST];
	const uint8_t *p = buf;
	uint64_t index;
	int r;

	if (offset % BLOCK != 0 || offset > t->data_size || len > t->data_size - offset)
		return -EINVAL;
	if (len % BLOCK != 0 && offset + len != t->data_size)
		return -EINVAL;
	if (len == 0)
		return 0;
	if (buf == NULL)
		return -EINVAL;
	/* A context per call keeps the tree itself read-only and shareable. */
	r = cfs_verity_hasher_borrow(&h, &t->h);
	if (r < 0)
		return r;
	index = offset / BLOCK;
	for (size_t pos = 0; pos < len; pos += BLOCK, index++) {
		size_t n = len - pos < BLOCK ? len - pos : BLOCK;

		r = cfs_verity_hash_block(&h, p + pos, n, hash);
		if (r < 0)
			break;
		if (memcmp(hash, leaf_hash(t, index), h.digest_size) != 0) {
			r = -CFS_EDIGEST;
			break;
		}
	}
	cfs_verity_hasher_fini(&h);
	return r;
}

uint64_t cfs_verity_tree_file_size(const struct cfs_verity_tree *t)
{
	return t->data_size;
}

enum cfs_hash_alg cfs_verity_tree_alg(const struct cfs_verity_tree *t)
{
	return t->h.alg;
}

size_t cfs_verity_tree_mem_size(const struct cfs_verity_tree *t)
{
	return sizeof(*t) + (size_t)t->g.tree_blocks * BLOCK;
}

int cfs_verity_tree_save(const struct cfs_verity_tree *t, int fd)
{
	struct cache_header hdr;
	int r;

	memset(&hdr, 0, sizeof(hdr));
	memcpy(hdr.magic, CACHE_MAGIC, sizeof(hdr.magic));
	hdr.version = htole32(CACHE_VERSION);
	hdr.hash_algorithm = (uint8_t)t->h.alg;
	hdr.log_blocksize = CFS_VERITY_LOG_BLOCK_SIZE;
	hdr.num_levels = (uint8_t)t->g.num_levels;
	hdr.data_size = htole64(t->data_size);
	hdr.tree_blocks = htole64(t->g.tree_blocks);
	memcpy(hdr.root_hash, t->root, t->h.digest_size);
	r = cfs_write_full(fd, &hdr, sizeof(hdr));
	if (r == 0 && t->g.tree_blocks > 0)
		r = cfs_write_full(fd, t->blocks, (size_t)t->g.tree_blocks * BLOCK);
	return r;
}

static bool all_zero(const uint8_t *p, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (p[i] != 0)
			return false;
	return true;
}

/* Validate the header against @alg; on success @t is allocated for its geometry. */
static int load_header(int fd, enum cfs_hash_alg alg, struct cfs_verity_tree **t)
{
	struct cache_header hdr;
	struct cfs_verity_geometry g;
	struct stat st;
	size_t ds = cfs_verity_digest_size(alg);
	uint64_t tree_blocks, limit;
	ssize_t n;
	int r;

	n = cfs_read_full(fd, &hdr, sizeof(hdr));
	if (n < 0)
		return (int)n;
	if ((size_t)n < sizeof(hdr) || memcmp(hdr.magic, CACHE_MAGIC, sizeof(hdr.magic)) != 0 ||
	    le32toh(hdr.version) != CACHE_VERSION ||
	    hdr.log_blocksize != CFS_VERITY_LOG_BLOCK_SIZE || hdr.reserved0 != 0 ||
	    !all_zero(hdr.reserved, sizeof(hdr.reserved)))
		return -EUCLEAN;
	if (cfs_verity_digest_size(hdr.hash_algorithm) == 0)
		return -EUCLEAN;
	if (hdr.hash_algorithm != (uint8_t)alg)
		return -CFS_EDIGEST;
	if (!all_zero(hdr.root_hash + ds, sizeof(hdr.root_hash) - ds))
		return -EUCLEAN;

	/* The geometry follows from the size; check it before allocating anything. */
	tree_blocks = le64toh(hdr.tree_blocks);
	if (cfs_verity_geometry_compute(le64toh(hdr.data_size), ds, &g) < 0 ||
	    g.num_levels != hdr.num_levels || g.tree_blocks != tree_blocks)
		return -EUCLEAN;
	/* And the tree must fit in what the file can hold. */
	if (fstat(fd, &st) < 0)
		return -errno;
	limit = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : CACHE_MAX_UNSIZED;
	if (tree_blocks > limit / BLOCK)
		return -EUCLEAN;
	r = tree_alloc(alg, le64toh(hdr.data_size), t);
	if (r < 0)
		return r;
	memcpy((*t)->root, hdr.root_hash, ds);
	return 0;
}

int cfs_verity_tree_load(int fd, enum cfs_hash_alg alg, const uint8_t *expected_digest,
			 struct cfs_verity_tree **out)
{
	struct cfs_verity_tree *t = NULL;
	uint8_t root[CFS_VERITY_MAX_DIGEST];
	uint8_t extra;
	ssize_t n;
	int r;

	if (cfs_verity_digest_size(alg) == 0)
		return -EINVAL;
	r = load_header(fd, alg, &t);
	if (r < 0)
		return r;
	if (t->g.tree_blocks > 0) {
		size_t bytes = (size_t)t->g.tree_blocks * BLOCK;

		n = cfs_read_full(fd, t->blocks, bytes);
		r = n < 0 ? (int)n : (size_t)n < bytes ? -EUCLEAN : 0;
	}
	if (r == 0) {
		n = cfs_read_full(fd, &extra, 1);
		r = n < 0 ? (int)n : n > 0 ? -EUCLEAN : 0;
	}
	if (r == 0)
		r = hash_upper_levels(t, true, root);
	if (r == 0 && t->g.num_levels > 0 && memcmp(root, t->root, t->h.digest_size) != 0)
		r = -EUCLEAN;
	if (r == 0 && t->data_size == 0 && !all_zero(t->root, t->h.digest_size))
		r = -EUCLEAN;
	if (r == 0)
		r = check_digest(t, expected_digest);
	if (r < 0) {
		cfs_verity_tree_free(t);
		return r;
	}
	*out = t;
	return 0;
}
