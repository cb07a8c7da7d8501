/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Image reader: opening, header validation, inode decoding and data access. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "reader.h"
#include "util.h"

#define SUPPORTED_COMPAT (EROFS_FEATURE_COMPAT_MTIME | EROFS_FEATURE_COMPAT_XATTR_FILTER)
#define SUPPORTED_INCOMPAT (EROFS_FEATURE_INCOMPAT_CHUNKED_FILE)
#define MAX_COMPOSEFS_VERSION 1
#define SYMLINK_MAX 4095 /* PATH_MAX - 1: what the reference accepts */

int cfs_image_fail(struct cfs_image *img, int err, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&img->err_lock);
	va_start(ap, fmt);
	cfs_errbuf_vset(img->errmsg, sizeof(img->errmsg), err, fmt, ap);
	va_end(ap);
	pthread_mutex_unlock(&img->err_lock);
	return err;
}

const char *cfs_image_errmsg(const struct cfs_image *img)
{
	return img ? img->errmsg : "";
}

void cfs_image_errmsg_copy(const struct cfs_image *img, char *buf, size_t len)
{
	struct cfs_image *m = (struct cfs_image *)img; /* the lock is not image state */

	if (len == 0)
		return;
	pthread_mutex_lock(&m->err_lock);
	snprintf(buf, len, "%s", img->errmsg);
	pthread_mutex_unlock(&m->err_lock);
}

static uint16_t rd16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;
	memcpy(&v, p, sizeof(v));
	return le32toh(v);
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;
	memcpy(&v, p, sizeof(v));
	return le64toh(v);
}

/* Parse and check both headers; the message goes to the handle. */
static int validate_headers(struct cfs_image *img)
{
	const uint8_t *d = img->data;
	const uint8_t *sb = d + EROFS_SUPER_OFFSET;
	const char *what = "not a composefs image we can read";
	struct cfs_inode root;
	uint32_t v;
	int r;

	if (img->size < EROFS_SUPER_OFFSET + sizeof(struct erofs_disk_super))
		return cfs_image_fail(img, -EUCLEAN, "%s: file too small (%llu bytes)", what,
				      (unsigned long long)img->size);
	if (rd32(d + offsetof(struct cfs_disk_header, magic)) != CFS_MAGIC)
		return cfs_image_fail(img, -EUCLEAN, "%s: bad composefs magic", what);
	img->header_version = rd32(d + offsetof(struct cfs_disk_header, version));
	if (img->header_version != CFS_HEADER_VERSION)
		return cfs_image_fail(img, -EOPNOTSUPP, "%s: composefs header version %u", what, img->header_version);
	img->header_flags = rd32(d + offsetof(struct cfs_disk_header, flags));
	if (img->header_flags & ~CFS_HEADER_FLAG_HAS_ACL)
		return cfs_image_fail(img, -EOPNOTSUPP, "%s: unknown header flags 0x%x", what, img->header_flags);
	img->composefs_version = rd32(d + offsetof(struct cfs_disk_header, composefs_version));
	if (img->composefs_version > MAX_COMPOSEFS_VERSION)
		return cfs_image_fail(img, -EOPNOTSUPP, "%s: format version %u", what, img->composefs_version);

	if (rd32(sb + offsetof(struct erofs_disk_super, magic)) != EROFS_SUPER_MAGIC_V1)
		return cfs_image_fail(img, -EUCLEAN, "%s: bad EROFS superblock magic", what);
	v = sb[offsetof(struct erofs_disk_super, blkszbits)];
	if (v != CFS_BLOCK_BITS)
		return cfs_image_fail(img, -EOPNOTSUPP, "%s: block size 2^%u", what, v);
	img->feature_compat = rd32(sb + offsetof(struct erofs_disk_super, feature_compat));
	if (img->feature_compat & ~SUPPORTED_COMPAT)
		return cfs_image_fail(img, -EOPNOTSUPP, "%s: EROFS compat features 0x%x", what,
				      img->feature_compat & ~SUPPORTED_COMPAT);
	img->feature_incompat = rd32(sb + offsetof(struct erofs_disk_super, feature_incompat));
	if (img->feature_incompat & ~SUPPORTED_INCOMPAT)
		return cfs_image_fail(img, -EOPNOTSUPP, "%s: EROFS incompat features 0x%x", what,
				      img->feature_incompat & ~SUPPORTED_INCOMPAT);
	if (sb[offsetof(struct erofs_disk_super, sb_extslots)] != 0)
		return cfs_image_fail(img, -EOPNOTSUPP, "%s: superblock extension slots", what);
	if (sb[offsetof(struct erofs_disk_super, dirblkbits)] != 0)
		return cfs_image_fail(img, -EOPNOTSUPP, "%s: directory block size", what);
	if (sb[offsetof(struct erofs_disk_super, xattr_prefix_count)] != 0)
		return cfs_image_fail(img, -EOPNOTSUPP, "%s: long xattr name prefixes", what);
	if (rd16(sb + offsetof(struct erofs_disk_super, extra_devices)) != 0)
		return cfs_image_fail(img, -EOPNOTSUPP, "%s: extra devices", what);

	img->root_nid = rd16(sb + offsetof(struct erofs_disk_super, root_nid));
	img->inos = rd64(sb + offsetof(struct erofs_disk_super, inos));
	img->build_time = (int64_t)rd64(sb + offsetof(struct erofs_disk_super, build_time));
	img->build_time_nsec = rd32(sb + offsetof(struct erofs_disk_super, build_time_nsec));
	img->blocks = rd32(sb + offsetof(struct erofs_disk_super, blocks));
	img->meta_blkaddr = rd32(sb + offsetof(struct erofs_disk_super, meta_blkaddr));
	img->xattr_blkaddr = rd32(sb + offsetof(struct erofs_disk_super, xattr_blkaddr));
	img->meta_off = (uint64_t)img->meta_blkaddr * CFS_BLOCK_SIZE;
	img->xattr_off = (uint64_t)img->xattr_blkaddr * CFS_BLOCK_SIZE;
	if (img->meta_off >= img->size)
		return cfs_image_fail(img, -EUCLEAN, "%s: metadata block %u beyond end of image", what,
				      img->meta_blkaddr);
	if (img->xattr_off >= img->size && img->xattr_blkaddr != 0)
		return cfs_image_fail(img, -EUCLEAN, "%s: xattr block %u beyond end of image", what,
				      img->xattr_blkaddr);

	r = cfs_inode_read(img, img->root_nid, &root);
	if (r < 0)
		return r;
	if (!S_ISDIR(root.mode))
		return cfs_image_fail(img, -EUCLEAN, "%s: root inode %llu is not a directory", what,
				      (unsigned long long)img->root_nid);
	return 0;
}

static int check_opts(const struct cfs_image_opts *o)
{
	if (o == NULL)
		return 0;
	if (o->flags & ~CFS_IMAGE_OPEN_COPY)
		return -EINVAL;
	for (size_t i = 0; i < CFS_ARRAY_SIZE(o->reserved); i++)
		if (o->reserved[i] != 0)
			return -EINVAL;
	return 0;
}

static struct cfs_image *image_alloc(void)
{
	struct cfs_image *img = calloc(1, sizeof(*img));

	if (img != NULL && pthread_mutex_init(&img->err_lock, NULL) != 0) {
		free(img);
		return NULL;
	}
	return img;
}

static void copy_err(const struct cfs_image *img, char *errbuf, size_t errlen)
{
	cfs_errbuf_set(errbuf, errlen, 0, "%s", img->errmsg);
}

/* Finish opening: validate, hand out or release. */
static int image_finish(struct cfs_image *img, struct cfs_image **out, char *errbuf, size_t errlen)
{
	int r = validate_headers(img);

	if (r < 0) {
		copy_err(img, errbuf, errlen);
		cfs_image_close(img);
		return r;
	}
	*out = img;
	return 0;
}

int cfs_image_open_mem_err(const void *buf, size_t len, const struct cfs_image_opts *o, struct cfs_image **out,
			   char *errbuf, size_t errlen)
{
	struct cfs_image *img;
	int r = check_opts(o);

	if (r < 0)
		return r;
	if (buf == NULL && len != 0)
		return -EINVAL;
	img = image_alloc();
	if (img == NULL)
		return -ENOMEM;
	if (o != NULL && (o->flags & CFS_IMAGE_OPEN_COPY) && len > 0) {
		img->owned = malloc(len);
		if (img->owned == NULL) {
			cfs_image_close(img);
			return -ENOMEM;
		}
		memcpy(img->owned, buf, len);
		buf = img->owned;
	}
	img->data = buf;
	img->size = len;
	return image_finish(img, out, errbuf, errlen);
}

int cfs_image_open_mem(const void *buf, size_t len, const struct cfs_image_opts *o, struct cfs_image **out)
{
	return cfs_image_open_mem_err(buf, len, o, out, NULL, 0);
}

int cfs_image_open_fd_err(int fd, const struct cfs_image_opts *o, struct cfs_image **out, char *errbuf, size_t errlen)
{
	struct cfs_image *img;
	struct stat st;
	int r = check_opts(o);

	if (r < 0)
		return r;
	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return -EINVAL;
	if ((uint64_t)st.st_size > SIZE_MAX)
		return -EFBIG;
	img = image_alloc();
	if (img == NULL)
		return -ENOMEM;
	img->size = (uint64_t)st.st_size;
	if (st.st_size == 0) {
		img->data = (const uint8_t *)"";
	} else if (o != NULL && (o->flags & CFS_IMAGE_OPEN_COPY)) {
		ssize_t n;

		img->owned = malloc((size_t)st.st_size);
		if (img->owned == NULL) {
			cfs_image_close(img);
			return -ENOMEM;
		}
		n = cfs_pread_full(fd, img->owned, (size_t)st.st_size, 0);
		if (n < 0 || (uint64_t)n != img->size) {
			cfs_image_close(img);
			return n < 0 ? (int)n : -EIO;
		}
		img->data = img->owned;
	} else {
		void *m = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);

		if (m == MAP_FAILED) {
			r = -errno;
			cfs_image_close(img);
			return r;
		}
		img->map = m;
		img->map_len = (size_t)st.st_size;
		img->data = m;
	}
	return image_finish(img, out, errbuf, errlen);
}

int cfs_image_open_fd(int fd, const struct cfs_image_opts *o, struct cfs_image **out)
{
	return cfs_image_open_fd_err(fd, o, out, NULL, 0);
}

void cfs_image_close(struct cfs_image *img)
{
	if (img == NULL)
		return;
	if (img->map != NULL)
		munmap(img->map, img->map_len);
	free(img->owned);
	pthread_mutex_destroy(&img->err_lock);
	free(img);
}

uint64_t cfs_image_root(const struct cfs_image *img)
{
	return img->root_nid;
}

int cfs_image_header_version(const struct cfs_image *img, uint32_t *composefs_version)
{
	*composefs_version = img->composefs_version;
	return 0;
}

int cfs_image_get_info(const struct cfs_image *img, struct cfs_image_info *info)
{
	memset(info, 0, sizeof(*info));
	info->header_version = img->header_version;
	info->composefs_version = img->composefs_version;
	info->header_flags = img->header_flags;
	info->feature_compat = img->feature_compat;
	info->feature_incompat = img->feature_incompat;
	info->inodes = img->inos;
	info->root_nid = img->root_nid;
	info->image_size = img->size;
	info->blocks = img->blocks;
	info->meta_blkaddr = img->meta_blkaddr;
	info->xattr_blkaddr = img->xattr_blkaddr;
	info->build_time = img->build_time;
	info->build_time_nsec = img->build_time_nsec;
	return 0;
}

const void *cfs_image_data(const struct cfs_image *img, size_t *len)
{
	if (len)
		*len = (size_t)img->size;
	return img->data;
}

/* Is [off, off+len) inside the image? Overflow-safe. */
static bool in_image(const struct cfs_image *img, uint64_t off, uint64_t len)
{
	return off <= img->size && len <= img->size - off;
}

static bool valid_type(uint32_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG: case S_IFDIR: case S_IFLNK: case S_IFCHR:
	case S_IFBLK: case S_IFIFO: case S_IFSOCK:
		return true;
	default:
		return false;
	}
}

static void decode_compact(const struct cfs_image *img, const uint8_t *p, struct cfs_inode *ino)
{
	ino->isize = sizeof(struct erofs_disk_inode_compact);
	ino->xattr_icount = rd16(p + offsetof(struct erofs_disk_inode_compact, i_xattr_icount));
	ino->mode = rd16(p + offsetof(struct erofs_disk_inode_compact, i_mode));
	ino->nlink = rd16(p + offsetof(struct erofs_disk_inode_compact, i_nlink));
	ino->size = rd32(p + offsetof(struct erofs_disk_inode_compact, i_size));
	ino->raw_blkaddr = rd32(p + offsetof(struct erofs_disk_inode_compact, i_u));
	ino->uid = rd16(p + offsetof(struct erofs_disk_inode_compact, i_uid));
	ino->gid = rd16(p + offsetof(struct erofs_disk_inode_compact, i_gid));
	ino->mtime = img->build_time;
	ino->mtime_nsec = img->build_time_nsec;
}

static void decode_extended(const uint8_t *p, struct cfs_inode *ino)
{
	ino->isize = sizeof(struct erofs_disk_inode_extended);
	ino->xattr_icount = rd16(p + offsetof(struct erofs_disk_inode_extended, i_xattr_icount));
	ino->mode = rd16(p + offsetof(struct erofs_disk_inode_extended, i_mode));
	ino->size = rd64(p + offsetof(struct erofs_disk_inode_extended, i_size));
	ino->raw_blkaddr = rd32(p + offsetof(struct erofs_disk_inode_extended, i_u));
	ino->uid = rd32(p + offsetof(struct erofs_disk_inode_extended, i_uid));
	ino->gid = rd32(p + offsetof(struct erofs_disk_inode_extended, i_gid));
	ino->mtime = (int64_t)rd64(p + offsetof(struct erofs_disk_inode_extended, i_mtime));
	ino->mtime_nsec = rd32(p + offsetof(struct erofs_disk_inode_extended, i_mtime_nsec));
	ino->nlink = rd32(p + offsetof(struct erofs_disk_inode_extended, i_nlink));
}

/* Check where the data of a flat or chunk-based inode lives. */
static int check_data_layout(struct cfs_image *img, struct cfs_inode *ino)
{
	unsigned long long nid = (unsigned long long)ino->nid;
	uint64_t nblocks = ino->size / CFS_BLOCK_SIZE + (ino->size % CFS_BLOCK_SIZE != 0);
	uint64_t blk_off = (uint64_t)ino->raw_blkaddr * CFS_BLOCK_SIZE;

	if (ino->layout == EROFS_INODE_CHUNK_BASED) {
		uint16_t fmt = (uint16_t)ino->raw_blkaddr;
		unsigned chunkbits = CFS_BLOCK_BITS + (fmt & EROFS_CHUNK_FORMAT_BLKBITS_MASK);
		uint64_t entsize = (fmt & EROFS_CHUNK_FORMAT_INDEXES) ? 8 : 4;
		uint64_t nchunks = (ino->size >> chunkbits) + ((ino->size & ((1ull << chunkbits) - 1)) != 0);

		if (!S_ISREG(ino->mode))
			return cfs_image_fail(img, -EUCLEAN, "inode %llu: chunk-based layout on a non-regular file", nid);
		if (fmt & ~(EROFS_CHUNK_FORMAT_BLKBITS_MASK | EROFS_CHUNK_FORMAT_INDEXES))
			return cfs_image_fail(img, -EOPNOTSUPP, "inode %llu: unknown chunk format 0x%x", nid, fmt);
		if (nchunks > img->size / entsize || !in_image(img, ino->tail_off, nchunks * entsize))
			return cfs_image_fail(img, -EUCLEAN, "inode %llu: chunk table (%llu chunks) beyond end of image",
					      nid, (unsigned long long)nchunks);
		ino->n_blocks = 0;
		ino->tail_len = 0;
		return 0;
	}
	if (ino->size > img->size)
		return cfs_image_fail(img, -EUCLEAN, "inode %llu: size %llu larger than the image", nid,
				      (unsigned long long)ino->size);
	if (ino->layout == EROFS_INODE_FLAT_INLINE && nblocks > 0) {
		ino->n_blocks = nblocks - 1;
		ino->tail_len = (uint32_t)(ino->size - ino->n_blocks * CFS_BLOCK_SIZE);
		if (!in_image(img, ino->tail_off, ino->tail_len))
			return cfs_image_fail(img, -EUCLEAN, "inode %llu: inline data beyond end of image", nid);
		/* like the kernel: inline data must not cross a block boundary */
		if (ino->tail_off % CFS_BLOCK_SIZE + ino->tail_len > CFS_BLOCK_SIZE)
			return cfs_image_fail(img, -EUCLEAN, "inode %llu: inline data crosses a block boundary", nid);
	} else {
		ino->n_blocks = nblocks;
		ino->tail_len = 0;
	}
	if (ino->n_blocks > 0 && !in_image(img, blk_off, ino->n_blocks * CFS_BLOCK_SIZE)) {
		/* the last plain block may be partial at the end of the image */
		uint64_t need = ino->layout == EROFS_INODE_FLAT_PLAIN ? ino->size : ino->n_blocks * CFS_BLOCK_SIZE;

		if (!in_image(img, blk_off, need))
			return cfs_image_fail(img, -EUCLEAN, "inode %llu: data block %u beyond end of image", nid,
					      ino->raw_blkaddr);
	}
	return 0;
}

int cfs_inode_read(struct cfs_image *img, uint64_t nid, struct cfs_inode *ino)
{
	unsigned long long n = (unsigned long long)nid;
	const uint8_t *p;
	uint16_t fmt;
	uint32_t shared;

	memset(ino, 0, sizeof(*ino));
	ino->nid = nid;
	if (nid > (UINT64_MAX - img->meta_off) / EROFS_ISLOT_SIZE ||
	    !in_image(img, img->meta_off + nid * EROFS_ISLOT_SIZE, sizeof(struct erofs_disk_inode_compact)))
		return cfs_image_fail(img, -EUCLEAN, "inode %llu: nid beyond end of image", n);
	ino->off = img->meta_off + nid * EROFS_ISLOT_SIZE;
	p = img->data + ino->off;
	fmt = rd16(p);
	if (fmt & ~EROFS_I_ALL)
		return cfs_image_fail(img, -EOPNOTSUPP, "inode %llu: unknown inode format bits 0x%x", n, fmt);
	ino->layout = (fmt >> EROFS_I_DATALAYOUT_BIT) & EROFS_I_DATALAYOUT_MASK;
	if ((fmt >> EROFS_I_VERSION_BIT) & EROFS_I_VERSION_MASK) {
		if (!in_image(img, ino->off, sizeof(struct erofs_disk_inode_extended)))
			return cfs_image_fail(img, -EUCLEAN, "inode %llu: extended inode beyond end of image", n);
		decode_extended(p, ino);
	} else {
		decode_compact(img, p, ino);
	}
	if (!valid_type(ino->mode))
		return cfs_image_fail(img, -EUCLEAN, "inode %llu: invalid file type in mode 0%o", n, ino->mode);
	if (S_ISCHR(ino->mode) || S_ISBLK(ino->mode))
		ino->rdev = ino->raw_blkaddr;
	switch (ino->layout) {
	case EROFS_INODE_FLAT_PLAIN:
	case EROFS_INODE_FLAT_INLINE:
	case EROFS_INODE_CHUNK_BASED:
		break;
	case EROFS_INODE_COMPRESSED_FULL:
	case EROFS_INODE_COMPRESSED_COMPACT:
		return cfs_image_fail(img, -EOPNOTSUPP, "inode %llu: compressed data layout", n);
	default:
		return cfs_image_fail(img, -EUCLEAN, "inode %llu: invalid data layout %u", n, ino->layout);
	}

	ino->xattr_off = ino->off + ino->isize;
	ino->xattr_size = erofs_xattr_ibody_size(ino->xattr_icount);
	if (!in_image(img, ino->xattr_off, ino->xattr_size))
		return cfs_image_fail(img, -EUCLEAN, "inode %llu: xattr area beyond end of image", n);
	if (ino->xattr_size > 0) {
		shared = img->data[ino->xattr_off + offsetof(struct erofs_disk_xattr_ibody_header, h_shared_count)];
		if (sizeof(struct erofs_disk_xattr_ibody_header) + 4u * shared > ino->xattr_size)
			return cfs_image_fail(img, -EUCLEAN, "inode %llu: %u shared xattrs do not fit the xattr area", n,
					      shared);
	}
	ino->tail_off = ino->xattr_off + ino->xattr_size;

	if (S_ISLNK(ino->mode) && (ino->size == 0 || ino->size > SYMLINK_MAX))
		return cfs_image_fail(img, -EUCLEAN, "inode %llu: symlink target length %llu", n,
				      (unsigned long long)ino->size);
	if (S_ISREG(ino->mode) || S_ISDIR(ino->mode) || S_ISLNK(ino->mode))
		return check_data_layout(img, ino);
	/* device, fifo and socket inodes carry no data; their size is ignored */
	return 0;
}

int cfs_inode_data(struct cfs_image *img, const struct cfs_inode *ino, uint64_t off, size_t len, const uint8_t **p)
{
	uint64_t oob = ino->n_blocks * CFS_BLOCK_SIZE;

	if (off > ino->size || len > ino->size - off)
		return cfs_image_fail(img, -EUCLEAN, "inode %llu: read past end of data", (unsigned long long)ino->nid);
	if (ino->layout == EROFS_INODE_CHUNK_BASED)
		return -ENODATA;
	if (off < oob) {
		if (len > oob - off)
			return -EINVAL; /* caller must split at the tail */
		*p = img->data + (uint64_t)ino->raw_blkaddr * CFS_BLOCK_SIZE + off;
	} else {
		*p = img->data + ino->tail_off + (off - oob);
	}
	return 0;
}

int cfs_inode_copy(struct cfs_image *img, const struct cfs_inode *ino, uint64_t off, size_t len, void *buf)
{
	uint64_t oob = ino->n_blocks * CFS_BLOCK_SIZE;
	uint8_t *out = buf;

	while (len > 0) {
		size_t chunk = len;
		const uint8_t *p = NULL;
		int r;

		if (off < oob && chunk > oob - off)
			chunk = (size_t)(oob - off);
		r = cfs_inode_data(img, ino, off, chunk, &p);
		if (r < 0)
			return r;
		memcpy(out, p, chunk);
		out += chunk;
		off += chunk;
		len -= chunk;
	}
	return 0;
}

int cfs_image_stat(struct cfs_image *img, uint64_t nid, struct cfs_stat *st)
{
	return cfs_image_stat_view(img, nid, CFS_XATTR_VIEW_DUMP, st);
}

int cfs_image_stat_view(struct cfs_image *img, uint64_t nid, enum cfs_xattr_view view, struct cfs_stat *st)
{
	struct cfs_inode ino;
	bool wh = false;
	int r = cfs_inode_read(img, nid, &ino);

	if (r < 0)
		return r;
	/* the dump shows an escaped whiteout as what it stands for; a mount as what is stored */
	if (view == CFS_XATTR_VIEW_DUMP) {
		r = cfs_inode_is_escaped_whiteout(img, &ino, &wh);
		if (r < 0)
			return r;
	}
	memset(st, 0, sizeof(*st));
	st->nid = nid;
	st->mode = ino.mode;
	st->uid = ino.uid;
	st->gid = ino.gid;
	st->nlink = ino.nlink;
	st->rdev = ino.rdev;
	st->size = ino.size;
	st->mtime_sec = ino.mtime;
	st->mtime_nsec = ino.mtime_nsec;
	if (wh) {
		st->mode = (ino.mode & ~(uint32_t)S_IFMT) | S_IFCHR;
		st->rdev = 0;
		st->size = 0;
	}
	/* overlayfs hides a 0/0 character device: the name is a whiteout, not a file */
	if (view == CFS_XATTR_VIEW_MOUNT && S_ISCHR(ino.mode) && ino.rdev == 0)
		return 1;
	return 0;
}

int cfs_image_readlink(struct cfs_image *img, uint64_t nid, char *buf, size_t bufsize)
{
	struct cfs_inode ino;
	size_t n;
	int r = cfs_inode_read(img, nid, &ino);

	if (r < 0)
		return r;
	if (!S_ISLNK(ino.mode))
		return -EINVAL;
	if (bufsize == 0)
		return (int)ino.size;
	n = ino.size < bufsize ? (size_t)ino.size : bufsize - 1;
	r = cfs_inode_copy(img, &ino, 0, n, buf);
	if (r < 0)
		return r;
	buf[n] = '\0';
	return (int)ino.size;
}

int cfs_image_read_inline(struct cfs_image *img, uint64_t nid, void *buf, size_t len, uint64_t offset)
{
	struct cfs_inode ino;
	int r = cfs_inode_read(img, nid, &ino);

	if (r < 0)
		return r;
	if (!S_ISREG(ino.mode))
		return -EINVAL;
	if (ino.layout == EROFS_INODE_CHUNK_BASED)
		return -ENODATA;
	if (offset >= ino.size)
		return 0;
	if (len > ino.size - offset)
		len = (size_t)(ino.size - offset);
	if (len > INT32_MAX)
		len = INT32_MAX & ~(size_t)(CFS_BLOCK_SIZE - 1);
	r = cfs_inode_copy(img, &ino, offset, len, buf);
	return r < 0 ? r : (int)len;
}
