/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* fs-verity digests: algorithms, block hashing, descriptor, streaming context. */
#include <assert.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/opensslv.h>

#include "util.h"
#include "verity-private.h"
#include "workq.h"

/* The kernel's struct fsverity_descriptor, whose hash is the file digest. */
struct verity_descriptor {
	uint8_t version;        /* 1 */
	uint8_t hash_algorithm; /* FS_VERITY_HASH_ALG_* */
	uint8_t log_blocksize;
	uint8_t salt_size;
	uint32_t reserved_0x04; /* le, zero */
	uint64_t data_size;     /* le */
	uint8_t root_hash[64];  /* zero-padded */
	uint8_t salt[32];       /* zero-padded */
	uint8_t reserved[144];
};
static_assert(sizeof(struct verity_descriptor) == 256, "fs-verity descriptor size");

static const uint8_t zero_block[CFS_VERITY_BLOCK_SIZE];

/* Streaming buffers: data, then one per hash level, then the level holding the root. */
#define NBUF (CFS_VERITY_MAX_LEVELS + 2)
/* Data read per pread(2) by cfs_verity_digest_fd(). */
#define READ_CHUNK (1024 * 1024)
/*
 * cfs_verity_digest_fd_threads(): a window of PAR_PARTS_PER_THREAD parts per thread is hashed
 * at a time (threads take parts as they finish); each part is read PAR_CHUNK bytes at a time.
 * The copy out of the page cache costs less per byte in larger pieces (0.058 s/GiB at 1 MiB
 * per pread(2) against 0.084 at 128 KiB here), and the hash, bound by its own arithmetic,
 * does not wait on the caches for a piece of 1 MiB; beyond that (the L2 cache) both lose.
 */
#define PAR_PART (4u * 1024 * 1024)
#define PAR_PARTS_PER_THREAD 2u
#define PAR_CHUNK (1024u * 1024)
#define PAR_THREADS_MAX 64u

struct cfs_verity_ctx {
	struct cfs_verity_hasher h;
	uint64_t data_size;
	/*
	 * buf[0] collects data bytes; buf[i] (i >= 1) collects the hashes of
	 * the blocks of buf[i - 1]: it is the kernel's tree level i - 1.
	 * A block is hashed as soon as it is full; pushed[i] counts the hashes
	 * ever appended to buf[i].
	 */
	size_t fill[NBUF];
	uint64_t pushed[NBUF];
	uint8_t buf[NBUF][CFS_VERITY_BLOCK_SIZE];
};

void cfs_digest_to_hex(const uint8_t *digest, size_t len, char *out)
{
	cfs_hex_encode(digest, len, out);
}

int cfs_digest_from_hex(const char *hex, uint8_t *out, size_t len)
{
	return cfs_hex_decode(hex, strlen(hex), out, len);
}

size_t cfs_verity_digest_size(enum cfs_hash_alg alg)
{
	switch (alg) {
	case CFS_HASH_SHA256:
		return 32;
	case CFS_HASH_SHA512:
		return 64;
	}
	return 0;
}

const char *cfs_hash_alg_name(enum cfs_hash_alg alg)
{
	switch (alg) {
	case CFS_HASH_SHA256:
		return "sha256";
	case CFS_HASH_SHA512:
		return "sha512";
	}
	return NULL;
}

int cfs_hash_alg_from_name(const char *name, enum cfs_hash_alg *out)
{
	if (name == NULL)
		return -EINVAL;
	if (strcmp(name, "sha256") == 0)
		*out = CFS_HASH_SHA256;
	else if (strcmp(name, "sha512") == 0)
		*out = CFS_HASH_SHA512;
	else
		return -EINVAL;
	return 0;
}

int cfs_verity_hasher_init(struct cfs_verity_hasher *h, enum cfs_hash_alg alg)
{
	const char *name = alg == CFS_HASH_SHA256 ? "SHA256" : "SHA512";

	memset(h, 0, sizeof(*h));
	h->digest_size = cfs_verity_digest_size(alg);
	if (h->digest_size == 0)
		return -EINVAL;
	h->alg = alg;
#if OPENSSL_VERSION_MAJOR >= 3
	h->md = EVP_MD_fetch(NULL, name, NULL);
#else
	h->md = (EVP_MD *)(alg == CFS_HASH_SHA256 ? EVP_sha256() : EVP_sha512());
	(void)name;
#endif
	if (h->md == NULL)
		return -EIO;
	h->owns_md = true;
	h->ctx = EVP_MD_CTX_new();
	if (h->ctx == NULL) {
		cfs_verity_hasher_fini(h);
		return -ENOMEM;
	}
	return 0;
}

int cfs_verity_hasher_borrow(struct cfs_verity_hasher *h, const struct cfs_verity_hasher *src)
{
	*h = *src;
	h->owns_md = false;
	h->ctx = EVP_MD_CTX_new();
	return h->ctx == NULL ? -ENOMEM : 0;
}

void cfs_verity_hasher_fini(struct cfs_verity_hasher *h)
{
	EVP_MD_CTX_free(h->ctx);
	h->ctx = NULL;
#if OPENSSL_VERSION_MAJOR >= 3
	if (h->owns_md)
		EVP_MD_free(h->md);
#endif
	h->md = NULL;
}

static int hasher_start(struct cfs_verity_hasher *h)
{
#if OPENSSL_VERSION_MAJOR >= 3
	return EVP_DigestInit_ex2(h->ctx, h->md, NULL);
#else
	return EVP_DigestInit_ex(h->ctx, h->md, NULL);
#endif
}

int cfs_verity_hash_block(struct cfs_verity_hasher *h, const void *data, size_t len,
			  uint8_t *out)
{
	assert(len <= CFS_VERITY_BLOCK_SIZE);
	if (!hasher_start(h) || !EVP_DigestUpdate(h->ctx, data, len))
		return -EIO;
	if (len < CFS_VERITY_BLOCK_SIZE &&
	    !EVP_DigestUpdate(h->ctx, zero_block, CFS_VERITY_BLOCK_SIZE - len))
		return -EIO;
	if (!EVP_DigestFinal_ex(h->ctx, out, NULL))
		return -EIO;
	return 0;
}

int cfs_verity_hash_plain(struct cfs_verity_hasher *h, const void *data, size_t len,
			  uint8_t *out)
{
	if (!hasher_start(h) || !EVP_DigestUpdate(h->ctx, data, len) ||
	    !EVP_DigestFinal_ex(h->ctx, out, NULL))
		return -EIO;
	return 0;
}

int cfs_verity_hash_descriptor(struct cfs_verity_hasher *h, uint64_t data_size,
			       const uint8_t *root, uint8_t *out)
{
	struct verity_descriptor d;

	memset(&d, 0, sizeof(d));
	d.version = 1;
	d.hash_algorithm = (uint8_t)h->alg;
	d.log_blocksize = CFS_VERITY_LOG_BLOCK_SIZE;
	d.data_size = htole64(data_size);
	memcpy(d.root_hash, root, h->digest_size);
	return cfs_verity_hash_plain(h, &d, sizeof(d), out);
}

int cfs_verity_geometry_compute(uint64_t data_size, size_t digest_size,
				struct cfs_verity_geometry *g)
{
	uint64_t per_block, blocks;

	memset(g, 0, sizeof(*g));
	if (digest_size == 0 || digest_size > CFS_VERITY_MAX_DIGEST)
		return -EINVAL;
	per_block = CFS_VERITY_BLOCK_SIZE / digest_size;
	blocks = data_size / CFS_VERITY_BLOCK_SIZE + (data_size % CFS_VERITY_BLOCK_SIZE != 0);
	g->data_blocks = blocks;
	while (blocks > 1) {
		if (g->num_levels >= CFS_VERITY_MAX_LEVELS)
			return -EFBIG;
		blocks = blocks / per_block + (blocks % per_block != 0);
		g->level_blocks[g->num_levels++] = blocks;
	}
	/* Top level first, as the kernel stores it. */
	for (unsigned i = g->num_levels; i-- > 0;) {
		g->level_start[i] = g->tree_blocks;
		g->tree_blocks += g->level_blocks[i];
	}
	return 0;
}

/* ---- streaming ---------------------------------------------------------- */

static void ctx_reset(struct cfs_verity_ctx *ctx)
{
	ctx->data_size = 0;
	memset(ctx->fill, 0, sizeof(ctx->fill));
	memset(ctx->pushed, 0, sizeof(ctx->pushed));
}

int cfs_verity_ctx_new(enum cfs_hash_alg alg, struct cfs_verity_ctx **out)
{
	struct cfs_verity_ctx *ctx;
	int r;

	if (cfs_verity_digest_size(alg) == 0)
		return -EINVAL;
	ctx = malloc(sizeof(*ctx));
	if (ctx == NULL)
		return -ENOMEM;
	r = cfs_verity_hasher_init(&ctx->h, alg);
	if (r < 0) {
		free(ctx);
		return r;
	}
	ctx_reset(ctx);
	*out = ctx;
	return 0;
}

void cfs_verity_ctx_free(struct cfs_verity_ctx *ctx)
{
	if (ctx == NULL)
		return;
	cfs_verity_hasher_fini(&ctx->h);
	free(ctx);
}

/* Append a block hash to buf[level]; hash that buffer upwards when it is full. */
static int push_hash(struct cfs_verity_ctx *ctx, unsigned level, const uint8_t *hash)
{
	size_t ds = ctx->h.digest_size;
	uint8_t up[CFS_VERITY_MAX_DIGEST];

	for (;;) {
		/* The last buffer may only ever receive the root hash. */
		if (level >= NBUF || (level == NBUF - 1 && ctx->pushed[level] > 0))
			return -EFBIG;
		memcpy(ctx->buf[level] + ctx->fill[level], hash, ds);
		ctx->fill[level] += ds;
		ctx->pushed[level]++;
		if (ctx->fill[level] < CFS_VERITY_BLOCK_SIZE)
			return 0;
		/* Block full (digest sizes divide the block size): hash it one level up. */
		int r = cfs_verity_hash_block(&ctx->h, ctx->buf[level], CFS_VERITY_BLOCK_SIZE, up);

		if (r < 0)
			return r;
		ctx->fill[level] = 0;
		level++;
		hash = up;
	}
}

int cfs_verity_update(struct cfs_verity_ctx *ctx, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	uint8_t hash[CFS_VERITY_MAX_DIGEST];
	int r;

	if (len == 0)
		return 0;
	if (p == NULL)
		return -EINVAL;
	if (ctx->data_size + len < ctx->data_size)
		return -EFBIG;
	ctx->data_size += len;

	/* Complete a partial block first. */
	if (ctx->fill[0] > 0) {
		size_t n = CFS_VERITY_BLOCK_SIZE - ctx->fill[0];

		if (n > len)
			n = len;
		memcpy(ctx->buf[0] + ctx->fill[0], p, n);
		ctx->fill[0] += n;
		p += n;
		len -= n;
		if (ctx->fill[0] < CFS_VERITY_BLOCK_SIZE)
			return 0;
		r = cfs_verity_hash_block(&ctx->h, ctx->buf[0], CFS_VERITY_BLOCK_SIZE, hash);
		if (r == 0)
			r = push_hash(ctx, 1, hash);
		if (r < 0)
			return r;
		ctx->fill[0] = 0;
	}
	/* Whole blocks straight from the caller's buffer, no copy. */
	while (len >= CFS_VERITY_BLOCK_SIZE) {
		r = cfs_verity_hash_block(&ctx->h, p, CFS_VERITY_BLOCK_SIZE, hash);
		if (r == 0)
			r = push_hash(ctx, 1, hash);
		if (r < 0)
			return r;
		p += CFS_VERITY_BLOCK_SIZE;
		len -= CFS_VERITY_BLOCK_SIZE;
	}
	if (len > 0) {
		memcpy(ctx->buf[0], p, len);
		ctx->fill[0] = len;
	}
	return 0;
}

static int ctx_finish(struct cfs_verity_ctx *ctx, uint8_t *digest)
{
	uint8_t root[CFS_VERITY_MAX_DIGEST] = { 0 };
	uint8_t hash[CFS_VERITY_MAX_DIGEST];
	int r;

	if (ctx->data_size == 0)
		return cfs_verity_hash_descriptor(&ctx->h, 0, root, digest);
	if (ctx->fill[0] > 0) {
		r = cfs_verity_hash_block(&ctx->h, ctx->buf[0], ctx->fill[0], hash);
		if (r == 0)
			r = push_hash(ctx, 1, hash);
		if (r < 0)
			return r;
		ctx->fill[0] = 0;
	}
	/* Going up, the first level that received exactly one hash holds the root. */
	for (unsigned level = 1; level < NBUF; level++) {
		if (ctx->pushed[level] == 1) {
			memcpy(root, ctx->buf[level], ctx->h.digest_size);
			return cfs_verity_hash_descriptor(&ctx->h, ctx->data_size, root, digest);
		}
		if (ctx->fill[level] > 0) {
			r = cfs_verity_hash_block(&ctx->h, ctx->buf[level], ctx->fill[level], hash);
			if (r == 0)
				r = push_hash(ctx, level + 1, hash);
			if (r < 0)
				return r;
			ctx->fill[level] = 0;
		}
	}
	return -EFBIG; /* unreachable: push_hash() limits the depth */
}

int cfs_verity_final(struct cfs_verity_ctx *ctx, uint8_t *digest)
{
	int r = ctx_finish(ctx, digest);

	ctx_reset(ctx);
	return r;
}

int cfs_verity_digest_buf(enum cfs_hash_alg alg, const void *buf, size_t len, uint8_t *digest)
{
	struct cfs_verity_ctx *ctx = NULL;
	int r;

	if (buf == NULL && len > 0)
		return -EINVAL;
	r = cfs_verity_ctx_new(alg, &ctx);
	if (r < 0)
		return r;
	r = cfs_verity_update(ctx, buf, len);
	if (r == 0)
		r = cfs_verity_final(ctx, digest);
	cfs_verity_ctx_free(ctx);
	return r;
}

int cfs_verity_digest_fd(int fd, enum cfs_hash_alg alg, uint8_t *digest)
{
	struct cfs_verity_ctx *ctx = NULL;
	_cleanup_free_ uint8_t *chunk = NULL;
	uint64_t off = 0;
	int r;

	r = cfs_verity_ctx_new(alg, &ctx);
	if (r < 0)
		return r;
	chunk = malloc(READ_CHUNK);
	if (chunk == NULL) {
		cfs_verity_ctx_free(ctx);
		return -ENOMEM;
	}
	for (;;) {
		ssize_t n = cfs_pread_full(fd, chunk, READ_CHUNK, (off_t)off);

		if (n < 0) {
			r = (int)n;
			break;
		}
		r = cfs_verity_update(ctx, chunk, (size_t)n);
		if (r < 0 || n < READ_CHUNK)
			break;
		off += (uint64_t)n;
	}
	if (r == 0)
		r = cfs_verity_final(ctx, digest);
	cfs_verity_ctx_free(ctx);
	return r;
}

/* ---- one large file on several threads --------------------------------------------------- */

/*
 * Read buffers of the threads hashing one file: no more parts run at once than there are
 * threads, so a part always finds a free one. Allocated on first use, kept for the file.
 */
struct par_bufs {
	atomic_bool busy[PAR_THREADS_MAX];
	uint8_t *raw[PAR_THREADS_MAX]; /* as allocated */
	uint8_t *buf[PAR_THREADS_MAX]; /* in it, block-aligned */
	unsigned n;
};

static uint8_t *par_buf_take(struct par_bufs *b, unsigned *slot)
{
	for (unsigned i = 0; i < b->n; i++) {
		if (atomic_exchange(&b->busy[i], true))
			continue;
		/* slot i is ours alone until given back */
		/*
		 * Block-aligned (a sink may write it with O_DIRECT), by hand: aligned_alloc() of this
		 * size is mapped anew for every file (glibc's mmap threshold, raised to the size of
		 * the chunk freed last, is met exactly), and each of its pages faulted in again;
		 * malloc() reuses the memory of the file before.
		 */
		if (b->raw[i] == NULL) {
			b->raw[i] = malloc(PAR_CHUNK + CFS_VERITY_BLOCK_SIZE);
			b->buf[i] = b->raw[i] == NULL ? NULL
				    : (uint8_t *)(((uintptr_t)b->raw[i] + CFS_VERITY_BLOCK_SIZE - 1) &
						  ~(uintptr_t)(CFS_VERITY_BLOCK_SIZE - 1));
		}
		if (b->buf[i] == NULL) {
			atomic_store(&b->busy[i], false);
			return NULL;
		}
		*slot = i;
		return b->buf[i];
	}
	return NULL; /* more parts than threads: not reached */
}

struct par_part {
	const struct cfs_verity_hasher *h;
	struct par_bufs *bufs; /* when read */
	int fd;
	const uint8_t *map; /* the window mapped, or NULL: pread at @base + @off */
	uint64_t base;      /* file offset of the window */
	uint64_t off;       /* of the part in the window */
	size_t len;      /* whole blocks, except at the end of the file */
	uint8_t *leaves; /* one hash per block of the part */
	cfs_verity_sink_fn sink; /* NULL, or given each piece once hashed */
	void *sink_user;
	int result;
};

static void par_hash_part(void *user, size_t i)
{
	struct par_part *p = (struct par_part *)user + i;
	struct cfs_verity_hasher h;
	unsigned slot = 0;
	uint8_t *buf = p->map == NULL ? par_buf_take(p->bufs, &slot) : NULL;
	size_t done = 0;

	p->result = p->map == NULL && buf == NULL ? -ENOMEM : cfs_verity_hasher_borrow(&h, p->h);
	if (p->result < 0) {
		if (buf != NULL)
			atomic_store(&p->bufs->busy[slot], false);
		return;
	}
	while (done < p->len && p->result == 0) {
		size_t want = p->len - done < PAR_CHUNK ? p->len - done : PAR_CHUNK;
		const uint8_t *chunk = p->map != NULL ? p->map + p->off + done : buf;
		ssize_t n = p->map != NULL ? (ssize_t)want
					   : cfs_pread_full(p->fd, buf, want, (off_t)(p->base + p->off + done));

		if (n < 0) {
			p->result = (int)n;
			break;
		}
		if ((size_t)n < want) {
			p->result = -ESTALE; /* the file shrank under us */
			break;
		}
		for (size_t pos = 0; pos < want && p->result == 0; pos += CFS_VERITY_BLOCK_SIZE) {
			size_t len = want - pos < CFS_VERITY_BLOCK_SIZE ? want - pos : CFS_VERITY_BLOCK_SIZE;
			size_t index = (done + pos) / CFS_VERITY_BLOCK_SIZE;

			p->result = cfs_verity_hash_block(&h, chunk + pos, len, p->leaves + index * h.digest_size);
		}
		if (p->result == 0 && p->sink != NULL)
			p->result = p->sink(p->sink_user, chunk, want, p->base + p->off + done);
		done += want;
	}
	cfs_verity_hasher_fini(&h);
	if (buf != NULL)
		atomic_store(&p->bufs->busy[slot], false);
}

/* Feed @n leaf hashes covering @bytes data bytes (block-aligned so far) into @ctx. */
static int ctx_push_leaves(struct cfs_verity_ctx *ctx, const uint8_t *leaves, size_t n,
			   uint64_t bytes)
{
	int r = 0;

	ctx->data_size += bytes;
	for (size_t i = 0; i < n && r == 0; i++)
		r = push_hash(ctx, 1, leaves + i * ctx->h.digest_size);
	return r;
}

static int digest_fd_par(int fd, enum cfs_hash_alg alg, uint64_t size, unsigned threads, bool map,
			 cfs_verity_sink_fn sink, void *sink_user, uint8_t *digest)
{
	struct cfs_verity_ctx *ctx = NULL;
	struct par_part *parts = NULL;
	struct par_bufs bufs;
	uint8_t *leaves = NULL;
	unsigned n_threads = cfs_thread_count(threads, PAR_THREADS_MAX);
	size_t window = (size_t)n_threads * PAR_PARTS_PER_THREAD;
	size_t ds = cfs_verity_digest_size(alg);
	uint64_t off = 0;
	uint8_t extra;
	int r;

	r = cfs_verity_ctx_new(alg, &ctx);
	if (r < 0)
		return r;
	bufs.n = n_threads;
	for (unsigned i = 0; i < PAR_THREADS_MAX; i++) {
		atomic_init(&bufs.busy[i], false);
		bufs.raw[i] = bufs.buf[i] = NULL;
	}
	parts = calloc(window, sizeof(*parts));
	leaves = malloc(window * (PAR_PART / CFS_VERITY_BLOCK_SIZE) * ds);
	if (parts == NULL || leaves == NULL)
		r = -ENOMEM;
	if (r == 0 && map) {
		struct stat st;

		/* mapped a window at a time, only within the size it has now */
		if (fstat(fd, &st) < 0)
			r = -errno;
		else if ((uint64_t)st.st_size != size)
			r = -ESTALE;
	}
	/* advice only: a failure changes nothing but speed */
	(void)posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	while (r == 0 && off < size) {
		size_t n = 0;
		uint64_t bytes = 0, blocks = 0;

		void *mapping = MAP_FAILED;

		for (; n < window && off + bytes < size; n++) {
			uint64_t left = size - off - bytes;
			size_t len = left < PAR_PART ? (size_t)left : PAR_PART;

			parts[n] = (struct par_part){ .h = &ctx->h, .bufs = &bufs, .fd = fd, .off = bytes, .len = len,
						      .leaves = leaves + blocks * ds, .sink = sink,
						      .sink_user = sink_user };
			bytes += len;
			blocks += (len + CFS_VERITY_BLOCK_SIZE - 1) / CFS_VERITY_BLOCK_SIZE;
		}
		/*
		 * Each window is mapped alone (@off is a multiple of PAR_PART, so of the page size):
		 * what the process maps, and so its peak RSS, stays at one window. Parts address the
		 * window, or the file at @base when it is read. No mapping: read instead.
		 */
		if (map)
			mapping = mmap(NULL, (size_t)bytes, PROT_READ, MAP_SHARED | MAP_POPULATE, fd, (off_t)off);
		for (size_t i = 0; i < n; i++) {
			parts[i].map = mapping != MAP_FAILED ? mapping : NULL;
			parts[i].base = off;
		}
		if (n == 1)
			par_hash_part(parts, 0);
		else
			cfs_parallel_for(n_threads, n, par_hash_part, parts);
		if (mapping != MAP_FAILED)
			munmap(mapping, (size_t)bytes);
		for (size_t i = 0; i < n && r == 0; i++)
			r = parts[i].result;
		if (r == 0) {
			/* a partial last block is hashed (padded) here like a whole one */
			r = ctx_push_leaves(ctx, leaves, (size_t)blocks, bytes);
		}
		off += bytes;
	}
	if (r == 0) {
		/* longer than @size: the file grew under us */
		ssize_t n = cfs_pread_full(fd, &extra, 1, (off_t)size);

		r = n < 0 ? (int)n : n > 0 ? -ESTALE : 0;
	}
	if (r == 0)
		r = ctx_finish(ctx, digest);
	for (unsigned i = 0; i < n_threads; i++)
		free(bufs.raw[i]);
	free(leaves);
	free(parts);
	cfs_verity_ctx_free(ctx);
	return r;
}

int cfs_verity_digest_fd_threads(int fd, enum cfs_hash_alg alg, uint64_t size, unsigned threads,
				 bool map, uint8_t *digest)
{
	return digest_fd_par(fd, alg, size, threads, map, NULL, NULL, digest);
}

int cfs_verity_digest_fd_sink(int fd, enum cfs_hash_alg alg, uint64_t size, unsigned threads,
			      cfs_verity_sink_fn sink, void *user, uint8_t *digest)
{
	return digest_fd_par(fd, alg, size, threads, false, sink, user, digest);
}
