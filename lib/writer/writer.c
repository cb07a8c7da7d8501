/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Writer entry points: options, the writer context and its stages. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util.h"
#include "writer-internal.h"

#define ARENA_CHUNK (256u * 1024u)

struct cfs_warena_chunk {
	struct cfs_warena_chunk *next;
	size_t used, size;
	uint8_t data[];
};

void cfs_write_opts_init(struct cfs_write_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->min_version = CFS_FORMAT_VERSION_DEFAULT_MIN;
	o->max_version = CFS_FORMAT_VERSION_DEFAULT_MAX;
	o->hash_alg = CFS_HASH_SHA256;
}

int cfs_w_error(struct cfs_wctx *ctx, int err, const char *fmt, ...)
{
	va_list ap;

	/* the first error is the one to explain */
	if (ctx->errbuf != NULL && ctx->errlen > 0 && ctx->errbuf[0] == '\0') {
		va_start(ap, fmt);
		cfs_errbuf_vset(ctx->errbuf, ctx->errlen, err, fmt, ap);
		va_end(ap);
	}
	return err;
}

void *cfs_w_alloc(struct cfs_wctx *ctx, size_t len)
{
	struct cfs_warena_chunk *c = ctx->arena;
	void *p;

	if (c == NULL || c->size - c->used < len) {
		size_t size = len > ARENA_CHUNK ? len : ARENA_CHUNK;

		c = malloc(sizeof(*c) + size);
		if (c == NULL)
			return NULL;
		c->used = 0;
		c->size = size;
		c->next = ctx->arena;
		ctx->arena = c;
	}
	p = c->data + c->used;
	c->used += len;
	return p;
}

int cfs_w_grow(void **arr, size_t *cap, size_t need, size_t elem)
{
	size_t ncap;
	void *p;

	if (need <= *cap)
		return 0;
	ncap = *cap ? *cap : 64;
	while (ncap < need)
		ncap *= 2;
	if (ncap > SIZE_MAX / elem)
		return -ENOMEM;
	p = realloc(*arr, ncap * elem);
	if (p == NULL)
		return -ENOMEM;
	*arr = p;
	*cap = ncap;
	return 0;
}

static void ctx_release(struct cfs_wctx *ctx)
{
	while (ctx->arena != NULL) {
		struct cfs_warena_chunk *next = ctx->arena->next;

		free(ctx->arena);
		ctx->arena = next;
	}
	free(ctx->inodes);
	free(ctx->xattrs);
	free(ctx->dirents);
	free(ctx->entries);
	cfs_hashset_free(&ctx->pairs);
	free(ctx->shared);
}

static int check_opts(struct cfs_wctx *ctx, const struct cfs_write_opts *o)
{
	if (o->flags != 0)
		return cfs_w_error(ctx, -EINVAL, "unknown writer flags 0x%x", o->flags);
	for (size_t i = 0; i < CFS_ARRAY_SIZE(o->reserved); i++)
		if (o->reserved[i] != 0)
			return cfs_w_error(ctx, -EINVAL, "reserved writer option set");
	if (o->min_version > CFS_FORMAT_VERSION_MAX || o->max_version > CFS_FORMAT_VERSION_MAX)
		return cfs_w_error(ctx, -EINVAL, "unsupported format version %u",
				   o->min_version > o->max_version ? o->min_version
								   : o->max_version);
	if (o->hash_alg != 0 && cfs_verity_digest_size((enum cfs_hash_alg)o->hash_alg) == 0)
		return cfs_w_error(ctx, -EINVAL, "unknown image digest algorithm %u", o->hash_alg);
	ctx->hash_alg = o->hash_alg != 0 ? (enum cfs_hash_alg)o->hash_alg : CFS_HASH_SHA256;
	ctx->version = o->min_version;
	ctx->max_version = o->max_version < o->min_version ? o->min_version : o->max_version;
	return 0;
}

static int write_stages(struct cfs_wctx *ctx, struct cfs_node *root, cfs_write_fn fn, void *user,
			uint8_t *digest_out)
{
	int r;

	r = cfs_w_collect(ctx, root);
	if (r < 0)
		return r;
	/* a whiteout in the tree needs format 1 when the caller allows it */
	if (ctx->has_whiteout && ctx->version < 1 && ctx->max_version >= 1)
		ctx->version = 1;
	r = cfs_w_build_xattrs(ctx);
	if (r < 0)
		return r;
	r = cfs_w_share_xattrs(ctx);
	if (r < 0)
		return r;
	r = cfs_w_layout(ctx);
	if (r < 0)
		return r;
	return cfs_w_emit(ctx, fn, user, digest_out);
}

int cfs_write_image(struct cfs_node *root, const struct cfs_write_opts *o, cfs_write_fn fn,
		    void *user, uint8_t *digest_out, char *errbuf, size_t errlen)
{
	struct cfs_write_opts defaults;
	struct cfs_wctx ctx = {.errbuf = errbuf, .errlen = errlen};
	int r;

	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if (root == NULL || fn == NULL)
		return cfs_w_error(&ctx, -EINVAL, "no tree or no output");
	if (o == NULL) {
		cfs_write_opts_init(&defaults);
		o = &defaults;
	}
	r = check_opts(&ctx, o);
	if (r < 0)
		return r;
	for (int i = 0; i < 256; i++)
		snprintf(ctx.whiteout_names[i], sizeof(ctx.whiteout_names[i]), "%02x", i);

	r = write_stages(&ctx, root, fn, user, digest_out);
	if (r == -ENOMEM)
		cfs_w_error(&ctx, r, "out of memory");
	ctx_release(&ctx);
	return r;
}

static int fd_sink(void *user, const void *buf, size_t len)
{
	return cfs_write_full(*(int *)user, buf, len);
}

int cfs_write_image_fd(struct cfs_node *root, const struct cfs_write_opts *o, int fd,
		       uint8_t *digest_out, char *errbuf, size_t errlen)
{
	return cfs_write_image(root, o, fd_sink, &fd, digest_out, errbuf, errlen);
}

int cfs_write_image_at(struct cfs_node *root, const struct cfs_write_opts *o, int dirfd,
		       const char *path, unsigned int mode, uint8_t *digest_out, char *errbuf,
		       size_t errlen)
{
	struct cfs_atomic_file af;
	int syncfd, r;

	r = cfs_atomic_file_open(dirfd, path, (mode_t)mode, &af);
	if (r < 0)
		return r;
	r = cfs_write_image_fd(root, o, af.fd, digest_out, errbuf, errlen);
	if (r < 0) {
		cfs_atomic_file_abort(&af);
		return r;
	}
	/* the new name must be durable too: sync the directory after the rename */
	syncfd = fcntl(af.dirfd, F_DUPFD_CLOEXEC, 3);
	if (syncfd < 0) {
		r = -errno;
		cfs_atomic_file_abort(&af);
		return r;
	}
	r = cfs_atomic_file_commit(&af, true, true);
	if (r == 0 && fsync(syncfd) < 0)
		r = -errno;
	close(syncfd);
	return r;
}
