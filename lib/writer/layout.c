/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Writer layout: breadth-first inode order, directory entries, inode sizes, padding and nids. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "writer-internal.h"

#define BLKSZ ((uint64_t)CFS_BLOCK_SIZE)

static uint64_t round_up(uint64_t x, uint64_t a)
{
	return (x + a - 1) / a * a;
}

/* Chunk size bits for an external file: the smallest power of two holding
 * the file, at least one block, at most what the chunk format can express. */
static uint32_t chunk_bits_for(uint64_t size)
{
	uint32_t bits = 0;
	uint64_t v = size - 1;

	while (v > 0) {
		bits++;
		v >>= 1;
	}
	if (bits < CFS_BLOCK_BITS)
		bits = CFS_BLOCK_BITS;
	if (bits - CFS_BLOCK_BITS > EROFS_CHUNK_FORMAT_BLKBITS_MASK)
		bits = EROFS_CHUNK_FORMAT_BLKBITS_MASK + CFS_BLOCK_BITS;
	return bits;
}

static int grow_inodes(struct cfs_wctx *ctx)
{
	return cfs_w_grow((void **)&ctx->inodes, &ctx->cap_inodes, ctx->n_inodes + 1,
			  sizeof(*ctx->inodes));
}

/* Fill a new inode from @node; @parent is the index of its directory. */
static int add_node(struct cfs_wctx *ctx, struct cfs_node *node, uint32_t parent)
{
	struct cfs_winode *w;
	uint32_t type = node->mode & S_IFMT;
	size_t plen = node->payload ? strlen(node->payload) : 0;
	int r;

	if (!cfs_node_type_valid(node->mode))
		return cfs_w_error(ctx, -EINVAL, "invalid file type in mode 0%o", node->mode);
	if (ctx->n_inodes >= UINT32_MAX - 1)
		return cfs_w_error(ctx, -EFBIG, "too many inodes");
	if (plen > CFS_W_PAYLOAD_MAX)
		return cfs_w_error(ctx, -ENAMETOOLONG, "payload of %zu bytes is too long", plen);
	if (node->scratch == ctx && node->scratch_u64 < ctx->n_inodes &&
	    ctx->inodes[node->scratch_u64].node == node)
		return cfs_w_error(ctx, -EINVAL, "inode has several primary entries");
	r = grow_inodes(ctx);
	if (r < 0)
		return r;

	w = &ctx->inodes[ctx->n_inodes];
	memset(w, 0, sizeof(*w));
	w->depth = ctx->n_inodes == 0 ? 0 : ctx->inodes[parent].depth + 1;
	if (type == S_IFDIR && w->depth > CFS_DIR_DEPTH_MAX)
		return cfs_w_error(ctx, -ELOOP, "directories nested deeper than %u", CFS_DIR_DEPTH_MAX);
	w->node = node;
	w->parent = parent;
	w->mode = node->mode;
	w->uid = node->uid;
	w->gid = node->gid;
	w->rdev = node->rdev;
	w->nlink = node->nlink;
	w->size = node->size;
	w->mtime_sec = node->mtime_sec;
	w->mtime_nsec = node->mtime_nsec;
	w->payload = node->payload;

	if (type == S_IFREG) {
		if (node->content != NULL && node->content_len > 0) {
			if (node->content_len != node->size)
				return cfs_w_error(
					ctx, -EINVAL,
					"inline content of %zu bytes for a file of size %llu",
					node->content_len, (unsigned long long)node->size);
			w->content = node->content;
		} else if (node->size > 0) {
			uint32_t bits = chunk_bits_for(node->size);
			uint64_t count = (node->size + (1ull << bits) - 1) >> bits;

			if (count > CFS_W_MAX_CHUNKS)
				return cfs_w_error(ctx, -EFBIG, "file size %llu is too large",
						   (unsigned long long)node->size);
		}
	} else if (type == S_IFLNK) {
		if (plen == 0)
			return cfs_w_error(ctx, -EINVAL, "symlink without target");
		w->size = plen;
	} else if (type == S_IFCHR && node->rdev == 0) {
		/* a 0/0 char device is an overlay whiteout: escaped as a regular file */
		w->whiteout = true;
		w->mode = S_IFREG | (node->mode & ~(uint32_t)S_IFMT);
		w->size = 0;
		ctx->has_whiteout = true;
		ctx->inodes[parent].whiteout_child = true;
	}

	node->scratch = ctx;
	node->scratch_u64 = ctx->n_inodes;
	ctx->n_inodes++;
	return 0;
}

/* One of the synthetic 00..ff whiteouts the root gets for overlayfs. */
static int add_root_whiteout(struct cfs_wctx *ctx)
{
	const struct cfs_winode *root;
	struct cfs_winode *w;
	int r = grow_inodes(ctx);

	if (r < 0)
		return r;
	root = &ctx->inodes[0];
	w = &ctx->inodes[ctx->n_inodes];
	memset(w, 0, sizeof(*w));
	w->mode = S_IFCHR | 0644;
	w->uid = root->uid;
	w->gid = root->gid;
	w->nlink = 1;
	w->mtime_sec = root->mtime_sec;
	w->mtime_nsec = root->mtime_nsec;
	ctx->n_inodes++;
	return 0;
}

static int cmp_dirent(const void *a, const void *b)
{
	const struct cfs_wdirent *da = a, *db = b;

	return strcmp(da->name, db->name);
}

static int push_dirent(struct cfs_wctx *ctx, const char *name, uint32_t target,
		       struct cfs_node *node, uint8_t kind)
{
	int r = cfs_w_grow((void **)&ctx->dirents, &ctx->cap_dirents, ctx->n_dirents + 1,
			   sizeof(*ctx->dirents));

	if (r < 0)
		return r;
	ctx->dirents[ctx->n_dirents++] = (struct cfs_wdirent){
		.name = name,
		.name_len = (uint32_t)strlen(name),
		.target = target,
		.node = node,
		.kind = kind,
	};
	return 0;
}

/* Build the sorted entry list of directory @idx and queue its new inodes. */
static int expand_dir(struct cfs_wctx *ctx, uint32_t idx)
{
	struct cfs_node *dir = ctx->inodes[idx].node;
	size_t start = ctx->n_dirents;
	uint32_t nlink = 2;
	int r;

	for (size_t i = 0; i < dir->n_entries; i++) {
		const struct cfs_dirent *e = &dir->entries[i];

		if (S_ISDIR(e->node->mode))
			nlink++;
		r = push_dirent(ctx, e->name, 0, e->node,
				e->hardlink ? CFS_WD_HARDLINK : CFS_WD_PRIMARY);
		if (r < 0)
			return r;
	}
	r = push_dirent(ctx, ".", idx, NULL, CFS_WD_RESOLVED);
	if (r == 0)
		r = push_dirent(ctx, "..", ctx->inodes[idx].parent, NULL, CFS_WD_RESOLVED);
	if (r < 0)
		return r;
	if (idx == 0) {
		for (int i = 0; i < 256; i++) {
			if (cfs_node_lookup(dir, ctx->whiteout_names[i]) != NULL)
				continue;
			r = push_dirent(ctx, ctx->whiteout_names[i], 0, NULL, CFS_WD_WHITEOUT);
			if (r < 0)
				return r;
		}
	}
	qsort(ctx->dirents + start, ctx->n_dirents - start, sizeof(*ctx->dirents), cmp_dirent);

	ctx->inodes[idx].nlink = nlink;
	ctx->inodes[idx].dirent_start = start;
	ctx->inodes[idx].n_dirents = (uint32_t)(ctx->n_dirents - start);

	for (size_t i = start; i < ctx->n_dirents; i++) {
		struct cfs_wdirent *d = &ctx->dirents[i];

		if (d->kind == CFS_WD_PRIMARY) {
			d->target = (uint32_t)ctx->n_inodes;
			r = add_node(ctx, d->node, idx);
		} else if (d->kind == CFS_WD_WHITEOUT) {
			d->target = (uint32_t)ctx->n_inodes;
			r = add_root_whiteout(ctx);
		}
		if (r < 0)
			return r;
	}
	return 0;
}

int cfs_w_collect(struct cfs_wctx *ctx, struct cfs_node *root)
{
	int r;

	if (!S_ISDIR(root->mode))
		return cfs_w_error(ctx, -EINVAL, "root is not a directory");
	r = add_node(ctx, root, 0);
	if (r < 0)
		return r;

	/* ctx->n_inodes grows while we walk: that is the breadth-first queue */
	for (size_t i = 0; i < ctx->n_inodes; i++) {
		if (ctx->inodes[i].node != NULL && S_ISDIR(ctx->inodes[i].mode)) {
			r = expand_dir(ctx, (uint32_t)i);
			if (r < 0)
				return r;
		}
	}

	for (size_t i = 0; i < ctx->n_dirents; i++) {
		struct cfs_wdirent *d = &ctx->dirents[i];
		struct cfs_node *n = d->node;

		if (d->kind != CFS_WD_HARDLINK)
			continue;
		if (n->scratch != ctx || n->scratch_u64 >= ctx->n_inodes ||
		    ctx->inodes[n->scratch_u64].node != n)
			return cfs_w_error(ctx, -EINVAL,
					   "hard link \"%s\" to an inode outside the tree",
					   d->name);
		d->target = (uint32_t)n->scratch_u64;
	}

	ctx->min_mtime_sec = ctx->inodes[0].mtime_sec;
	ctx->min_mtime_nsec = ctx->inodes[0].mtime_nsec;
	for (size_t i = 0; i < ctx->n_inodes; i++) {
		const struct cfs_winode *w = &ctx->inodes[i];

		if (w->mtime_sec < ctx->min_mtime_sec ||
		    (w->mtime_sec == ctx->min_mtime_sec && w->mtime_nsec < ctx->min_mtime_nsec)) {
			ctx->min_mtime_sec = w->mtime_sec;
			ctx->min_mtime_nsec = w->mtime_nsec;
		}
	}
	return 0;
}

uint32_t cfs_w_dirent_size(const struct cfs_wdirent *d)
{
	return (uint32_t)sizeof(struct erofs_disk_dirent) + d->name_len;
}

/* Directory data: full blocks of entries, the last partial block inlined
 * when it takes at most half a block. */
static void dir_size(const struct cfs_wctx *ctx, struct cfs_winode *w)
{
	const struct cfs_wdirent *d = ctx->dirents + w->dirent_start;
	uint32_t blocks = 0, used = 0;

	for (uint32_t i = 0; i < w->n_dirents; i++) {
		uint32_t len = cfs_w_dirent_size(&d[i]);

		if (used + len > CFS_BLOCK_SIZE) {
			blocks++;
			used = 0;
		}
		used += len;
	}
	if (used > CFS_BLOCK_SIZE / 2) {
		blocks++;
		used = 0;
	}
	w->n_blocks = blocks;
	w->tailsize = used;
}

static void data_size(const struct cfs_wctx *ctx, struct cfs_winode *w)
{
	uint32_t type = w->mode & S_IFMT;

	w->n_blocks = 0;
	w->tailsize = 0;
	if (type == S_IFDIR) {
		dir_size(ctx, w);
	} else if (type == S_IFLNK) {
		w->tailsize = (uint32_t)w->size;
	} else if (type == S_IFREG && w->size > 0) {
		if (w->content != NULL) {
			w->n_blocks = (uint32_t)(w->size / BLKSZ);
			w->tailsize = (uint32_t)(w->size % BLKSZ);
			if (w->tailsize > CFS_BLOCK_SIZE / 2) {
				w->n_blocks++;
				w->tailsize = 0;
			}
		} else {
			uint32_t bits = chunk_bits_for(w->size);

			w->chunk_count = (uint32_t)((w->size + (1ull << bits) - 1) >> bits);
			w->chunk_format = (uint16_t)(bits - CFS_BLOCK_BITS);
			w->tailsize = w->chunk_count * (uint32_t)sizeof(uint32_t);
		}
	}
}

static uint64_t disk_size(const struct cfs_winode *w)
{
	if (S_ISDIR(w->mode))
		return (uint64_t)w->n_blocks * BLKSZ + w->tailsize;
	return w->size;
}

static bool fits_compact(const struct cfs_wctx *ctx, const struct cfs_winode *w)
{
	if (w->mtime_sec != ctx->min_mtime_sec || w->mtime_nsec != ctx->min_mtime_nsec)
		return false;
	if (w->nlink > UINT16_MAX || w->uid > UINT16_MAX || w->gid > UINT16_MAX)
		return false;
	return disk_size(w) <= UINT32_MAX;
}

/* Padding before the inode at @pos so its inline tail stays inside one
 * block; may instead move the tail out to a data block. */
static uint64_t tail_padding(struct cfs_winode *w, uint64_t pos, uint64_t head)
{
	uint64_t total = head + w->tailsize;
	uint64_t room;

	if (S_ISLNK(w->mode)) {
		/* symlinks keep inode and target together, else the target moves out */
		bool crosses = pos / BLKSZ != (pos + total - 1) / BLKSZ;

		if (total >= BLKSZ) {
			w->n_blocks++;
			w->tailsize = 0;
		}
		return crosses ? round_up(pos, BLKSZ) - pos : 0;
	}

	room = BLKSZ - (pos + head) % BLKSZ;
	if (room < w->tailsize) {
		uint64_t pad = round_up(room, EROFS_ISLOT_SIZE);

		room = BLKSZ - (pos + head + pad) % BLKSZ;
		if (w->tailsize <= room)
			return pad;
		w->n_blocks++;
		w->tailsize = 0;
		return round_up(pos, BLKSZ) - pos;
	}
	return 0;
}

int cfs_w_layout(struct cfs_wctx *ctx)
{
	uint64_t pos = EROFS_SUPER_OFFSET + sizeof(struct erofs_disk_super);
	uint64_t meta_start = pos / BLKSZ * BLKSZ;
	uint64_t blocks = 0;

	for (size_t i = 0; i < ctx->n_inodes; i++) {
		struct cfs_winode *w = &ctx->inodes[i];
		uint64_t isize, head, aligned, pad;

		data_size(ctx, w);
		w->compact = fits_compact(ctx, w);
		isize = w->compact ? sizeof(struct erofs_disk_inode_compact)
				   : sizeof(struct erofs_disk_inode_extended);
		head = isize + w->xattr_size;

		aligned = round_up(pos, EROFS_ISLOT_SIZE);
		pad = tail_padding(w, aligned, head);
		w->ipad = (uint32_t)(aligned - pos + pad);
		pos = aligned + pad;
		w->nid = (pos - meta_start) / EROFS_ISLOT_SIZE;
		if (w->n_blocks > 0) {
			w->blkaddr = (uint32_t)blocks; /* relative; rebased below */
			blocks += w->n_blocks;
		}
		pos += head + w->tailsize;
	}
	if (ctx->inodes[0].nid > UINT16_MAX - 1)
		return cfs_w_error(ctx, -EFBIG, "root inode too far from the superblock");

	ctx->inodes_end = round_up(pos, EROFS_ISLOT_SIZE);
	ctx->data_start = round_up(ctx->inodes_end + ctx->shared_size, BLKSZ);
	ctx->n_data_blocks = blocks;
	if (ctx->data_start / BLKSZ + blocks > UINT32_MAX)
		return cfs_w_error(ctx, -EFBIG, "image too large");
	for (size_t i = 0; i < ctx->n_inodes; i++) {
		struct cfs_winode *w = &ctx->inodes[i];

		if (w->n_blocks > 0)
			w->blkaddr += (uint32_t)(ctx->data_start / BLKSZ);
	}
	return 0;
}
