/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Writer output: the header, superblock, inodes, shared xattrs and data blocks, buffered. */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <composefs/verity.h>

#include "writer-internal.h"

#define OUTBUF_SIZE (512u * 1024u)

struct cfs_wout {
	uint8_t *buf;
	size_t len;
	uint64_t pos; /* bytes produced so far */
	cfs_write_fn fn;
	void *user;
	struct cfs_verity_ctx *verity;
	int err;
};

static void out_flush(struct cfs_wout *o)
{
	int r;

	if (o->err || o->len == 0)
		return;
	if (o->verity) {
		r = cfs_verity_update(o->verity, o->buf, o->len);
		if (r < 0) {
			o->err = r;
			return;
		}
	}
	r = o->fn(o->user, o->buf, o->len);
	if (r < 0)
		o->err = r;
	else if (r > 0)
		o->err = -EIO;
	o->len = 0;
}

static void out_put(struct cfs_wout *o, const void *data, size_t len)
{
	const uint8_t *p = data;

	o->pos += len;
	while (len > 0 && !o->err) {
		size_t n = OUTBUF_SIZE - o->len;

		if (n > len)
			n = len;
		memcpy(o->buf + o->len, p, n);
		o->len += n;
		p += n;
		len -= n;
		if (o->len == OUTBUF_SIZE)
			out_flush(o);
	}
}

static void out_fill(struct cfs_wout *o, uint8_t byte, uint64_t len)
{
	o->pos += len;
	while (len > 0 && !o->err) {
		size_t n = OUTBUF_SIZE - o->len;

		if (n > len)
			n = (size_t)len;
		memset(o->buf + o->len, byte, n);
		o->len += n;
		len -= n;
		if (o->len == OUTBUF_SIZE)
			out_flush(o);
	}
}

static void out_align(struct cfs_wout *o, uint64_t a)
{
	uint64_t rem = o->pos % a;

	if (rem)
		out_fill(o, 0, a - rem);
}

static void put_le16(struct cfs_wout *o, uint16_t v)
{
	uint16_t le = htole16(v);

	out_put(o, &le, sizeof(le));
}

static void put_le32(struct cfs_wout *o, uint32_t v)
{
	uint32_t le = htole32(v);

	out_put(o, &le, sizeof(le));
}

static void put_le64(struct cfs_wout *o, uint64_t v)
{
	uint64_t le = htole64(v);

	out_put(o, &le, sizeof(le));
}

static void emit_super(struct cfs_wctx *ctx, struct cfs_wout *o)
{
	struct cfs_disk_header h = {0};
	struct erofs_disk_super sb = {0};

	h.magic = htole32(CFS_MAGIC);
	h.version = htole32(CFS_HEADER_VERSION);
	h.flags = htole32(ctx->has_acl ? CFS_HEADER_FLAG_HAS_ACL : 0);
	h.composefs_version = htole32(ctx->version);
	out_put(o, &h, sizeof(h));
	out_fill(o, 0, EROFS_SUPER_OFFSET - sizeof(h));

	sb.magic = htole32(EROFS_SUPER_MAGIC_V1);
	sb.feature_compat = htole32(EROFS_FEATURE_COMPAT_MTIME | EROFS_FEATURE_COMPAT_XATTR_FILTER);
	sb.blkszbits = CFS_BLOCK_BITS;
	sb.root_nid = htole16((uint16_t)ctx->inodes[0].nid);
	sb.inos = htole64(ctx->n_inodes);
	sb.build_time = htole64((uint64_t)ctx->min_mtime_sec);
	sb.build_time_nsec = htole32(ctx->min_mtime_nsec);
	sb.blocks = htole32((uint32_t)(ctx->data_start / CFS_BLOCK_SIZE + ctx->n_data_blocks));
	sb.meta_blkaddr = htole32((EROFS_SUPER_OFFSET + sizeof(sb)) / CFS_BLOCK_SIZE);
	sb.xattr_blkaddr = htole32((uint32_t)(ctx->inodes_end / CFS_BLOCK_SIZE));
	out_put(o, &sb, sizeof(sb));
}

static uint8_t file_type(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
		return EROFS_FT_REG_FILE;
	case S_IFDIR:
		return EROFS_FT_DIR;
	case S_IFCHR:
		return EROFS_FT_CHRDEV;
	case S_IFBLK:
		return EROFS_FT_BLKDEV;
	case S_IFIFO:
		return EROFS_FT_FIFO;
	case S_IFSOCK:
		return EROFS_FT_SOCK;
	case S_IFLNK:
		return EROFS_FT_SYMLINK;
	default:
		return EROFS_FT_UNKNOWN;
	}
}

/* One block's worth of entries [first, end): dirents, then the names. */
static void emit_dirent_chunk(struct cfs_wctx *ctx, struct cfs_wout *o, const struct cfs_wdirent *d,
			      uint32_t first, uint32_t end, uint64_t align)
{
	uint32_t nameoff = (end - first) * (uint32_t)sizeof(struct erofs_disk_dirent);

	for (uint32_t i = first; i < end; i++) {
		struct erofs_disk_dirent de = {0};
		const struct cfs_winode *t = &ctx->inodes[d[i].target];

		de.nid = htole64(t->nid);
		de.nameoff = htole16((uint16_t)nameoff);
		de.file_type = file_type(t->mode);
		out_put(o, &de, sizeof(de));
		nameoff += d[i].name_len;
	}
	for (uint32_t i = first; i < end; i++)
		out_put(o, d[i].name, d[i].name_len);
	out_align(o, align);
}

/* Directory entries: full blocks (@blocks) or the inline tail (!@blocks). */
static void emit_dirents(struct cfs_wctx *ctx, struct cfs_wout *o, const struct cfs_winode *w,
			 bool blocks)
{
	const struct cfs_wdirent *d = ctx->dirents + w->dirent_start;
	uint32_t first = 0, used = 0, written = 0;

	for (uint32_t i = 0; i < w->n_dirents; i++) {
		uint32_t len = cfs_w_dirent_size(&d[i]);

		if (used + len > CFS_BLOCK_SIZE) {
			if (blocks)
				emit_dirent_chunk(ctx, o, d, first, i, CFS_BLOCK_SIZE);
			written++;
			used = 0;
			first = i;
		}
		used += len;
	}
	if (written < w->n_blocks) {
		if (blocks)
			emit_dirent_chunk(ctx, o, d, first, w->n_dirents, CFS_BLOCK_SIZE);
		used = 0;
		first = w->n_dirents;
	}
	if (!blocks && used > 0)
		emit_dirent_chunk(ctx, o, d, first, w->n_dirents, 1);
}

static void emit_xattr(struct cfs_wout *o, const char *name, uint16_t name_len, uint8_t prefix_len,
		       uint8_t index, const uint8_t *value, uint16_t value_len)
{
	struct erofs_disk_xattr_entry e = {0};

	e.e_name_len = (uint8_t)(name_len - prefix_len);
	e.e_name_index = index;
	e.e_value_size = htole16(value_len);
	out_put(o, &e, sizeof(e));
	out_put(o, name + prefix_len, name_len - prefix_len);
	out_put(o, value, value_len);
	out_align(o, 4);
}

static void emit_inode_xattrs(struct cfs_wctx *ctx, struct cfs_wout *o, const struct cfs_winode *w)
{
	const struct cfs_wxattr *xs = ctx->xattrs + w->xattr_start;
	struct erofs_disk_xattr_ibody_header h = {0};
	uint64_t base = ctx->inodes_end % CFS_BLOCK_SIZE;

	if (w->xattr_size == 0)
		return;
	h.h_name_filter = htole32(cfs_w_xattr_filter(ctx, w));
	h.h_shared_count = (uint8_t)w->n_shared;
	out_put(o, &h, sizeof(h));
	for (uint32_t k = 0; k < w->n_xattrs; k++)
		if (xs[k].shared >= 0)
			put_le32(o, (uint32_t)((base + ctx->entries[xs[k].shared].shared_off) / 4));
	for (uint32_t k = 0; k < w->n_xattrs; k++)
		if (xs[k].shared < 0)
			emit_xattr(o, xs[k].name, xs[k].name_len, xs[k].prefix_len, xs[k].index,
				   xs[k].value, xs[k].value_len);
}

static uint64_t inode_disk_size(const struct cfs_winode *w)
{
	switch (w->mode & S_IFMT) {
	case S_IFDIR:
		return (uint64_t)w->n_blocks * CFS_BLOCK_SIZE + w->tailsize;
	case S_IFREG:
		return w->size;
	case S_IFLNK:
		return w->n_blocks == 0 ? w->tailsize : w->size;
	default:
		return 0;
	}
}

/* The i_u word: block address, device number or chunk format. */
static uint32_t inode_u(const struct cfs_winode *w, bool chunked)
{
	uint32_t type = w->mode & S_IFMT, u = 0;

	if (type == S_IFCHR || type == S_IFBLK)
		return w->rdev;
	if (w->n_blocks > 0 && (type == S_IFDIR || type == S_IFREG || type == S_IFLNK))
		u = w->blkaddr;
	if (chunked) /* the format half-word overlays the low half of the address */
		u = (u & 0xffff0000u) | w->chunk_format;
	return u;
}

static void emit_inode_head(struct cfs_wout *o, const struct cfs_winode *w, uint32_t ino)
{
	bool chunked = S_ISREG(w->mode) && w->chunk_count > 0;
	uint16_t layout = chunked	    ? EROFS_INODE_CHUNK_BASED
			  : w->tailsize > 0 ? EROFS_INODE_FLAT_INLINE
					    : EROFS_INODE_FLAT_PLAIN;
	uint16_t format = (uint16_t)(layout << EROFS_I_DATALAYOUT_BIT | (w->compact ? 0 : 1));
	uint16_t icount = (uint16_t)(w->xattr_size == 0 ? 0 : (w->xattr_size - 12) / 4 + 1);
	uint64_t size = inode_disk_size(w);
	uint32_t u = inode_u(w, chunked);

	put_le16(o, format);
	put_le16(o, icount);
	put_le16(o, (uint16_t)w->mode);
	if (w->compact) {
		put_le16(o, (uint16_t)w->nlink);
		put_le32(o, (uint32_t)size);
		put_le32(o, 0);
		put_le32(o, u);
		put_le32(o, ino);
		put_le16(o, (uint16_t)w->uid);
		put_le16(o, (uint16_t)w->gid);
		put_le32(o, 0);
	} else {
		put_le16(o, 0);
		put_le64(o, size);
		put_le32(o, u);
		put_le32(o, ino);
		put_le32(o, w->uid);
		put_le32(o, w->gid);
		put_le64(o, (uint64_t)w->mtime_sec);
		put_le32(o, w->mtime_nsec);
		put_le32(o, w->nlink);
		out_fill(o, 0, 16);
	}
}

static void emit_inode(struct cfs_wctx *ctx, struct cfs_wout *o, const struct cfs_winode *w,
		       uint32_t ino)
{
	out_fill(o, 0, w->ipad);
	emit_inode_head(o, w, ino);
	emit_inode_xattrs(ctx, o, w);

	switch (w->mode & S_IFMT) {
	case S_IFDIR:
		emit_dirents(ctx, o, w, false);
		break;
	case S_IFLNK:
		if (w->n_blocks == 0)
			out_put(o, w->payload, w->tailsize);
		break;
	case S_IFREG:
		if (w->tailsize == 0)
			break;
		if (w->content != NULL)
			out_put(o, w->content + w->size - w->tailsize, w->tailsize);
		else
			out_fill(o, 0xff, (uint64_t)w->chunk_count * 4); /* EROFS_NULL_ADDR */
		break;
	default:
		break;
	}
}

/* Data blocks of one inode (directory blocks, then file or symlink data). */
static void emit_data(struct cfs_wctx *ctx, struct cfs_wout *o, const struct cfs_winode *w)
{
	uint64_t len;

	if (w->n_blocks == 0)
		return;
	if (S_ISDIR(w->mode)) {
		emit_dirents(ctx, o, w, true);
	} else if (S_ISREG(w->mode)) {
		if (w->content == NULL) {
			out_fill(o, 0xff, CFS_BLOCK_SIZE); /* a block of null chunk addresses */
			return;
		}
		/* only the first block is stored, as the reference does */
		len = w->size < CFS_BLOCK_SIZE ? w->size : CFS_BLOCK_SIZE;
		out_put(o, w->content, len);
		out_align(o, CFS_BLOCK_SIZE);
	} else if (S_ISLNK(w->mode)) {
		len = w->size < CFS_BLOCK_SIZE ? w->size : CFS_BLOCK_SIZE;
		out_put(o, w->payload, len);
		out_align(o, CFS_BLOCK_SIZE);
	}
}

static int emit_all(struct cfs_wctx *ctx, struct cfs_wout *o)
{
	emit_super(ctx, o);
	for (size_t i = 0; i < ctx->n_inodes && !o->err; i++)
		emit_inode(ctx, o, &ctx->inodes[i], (uint32_t)i);
	out_align(o, EROFS_ISLOT_SIZE);
	if (!o->err && o->pos != ctx->inodes_end)
		return cfs_w_error(ctx, -EPROTO, "internal error: inode area size mismatch");
	for (size_t i = 0; i < ctx->n_shared && !o->err; i++) {
		const struct cfs_wentry *e = &ctx->entries[ctx->shared[i]];

		emit_xattr(o, e->name, e->name_len, e->prefix_len, e->index, e->value,
			   e->value_len);
	}
	out_align(o, CFS_BLOCK_SIZE);
	if (!o->err && o->pos != ctx->data_start)
		return cfs_w_error(ctx, -EPROTO, "internal error: metadata size mismatch");
	for (size_t i = 0; i < ctx->n_inodes && !o->err; i++)
		emit_data(ctx, o, &ctx->inodes[i]);
	if (!o->err && o->pos != ctx->data_start + ctx->n_data_blocks * CFS_BLOCK_SIZE)
		return cfs_w_error(ctx, -EPROTO, "internal error: data size mismatch");
	out_flush(o);
	if (o->err) {
		char buf[128];

		return cfs_w_error(ctx, o->err, "writing the image failed: %s",
				   strerror_r(-o->err, buf, sizeof(buf)));
	}
	return 0;
}

int cfs_w_emit(struct cfs_wctx *ctx, cfs_write_fn fn, void *user, uint8_t *digest_out)
{
	struct cfs_wout o = {.fn = fn, .user = user};
	int r;

	o.buf = malloc(OUTBUF_SIZE);
	if (o.buf == NULL)
		return -ENOMEM;
	if (digest_out != NULL) {
		r = cfs_verity_ctx_new(ctx->hash_alg, &o.verity);
		if (r < 0) {
			free(o.buf);
			return cfs_w_error(ctx, r, "cannot start the image digest");
		}
	}
	r = emit_all(ctx, &o);
	if (r == 0 && o.verity != NULL) {
		r = cfs_verity_final(o.verity, digest_out);
		if (r < 0)
			cfs_w_error(ctx, r, "cannot compute the image digest");
	}
	cfs_verity_ctx_free(o.verity);
	free(o.buf);
	return r;
}
