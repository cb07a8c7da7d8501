/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Image reader: directory blocks, lookup by binary search, readdir. */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "reader.h"

/* One directory block: dirent array followed by the names. */
struct dblock {
	const uint8_t *p;
	size_t len;
	unsigned n;
	unsigned long long dir_nid;
	uint64_t index; /* block number, for messages */
};

static uint16_t rd16(const uint8_t *p)
{
	uint16_t v;
	memcpy(&v, p, sizeof(v));
	return le16toh(v);
}

static uint64_t dir_nblocks(const struct cfs_inode *dir)
{
	return dir->size / CFS_BLOCK_SIZE + (dir->size % CFS_BLOCK_SIZE != 0);
}

static int block_open(struct cfs_image *img, const struct cfs_inode *dir, uint64_t bi, struct dblock *b)
{
	uint64_t off = bi * CFS_BLOCK_SIZE;
	uint64_t left = dir->size - off;
	unsigned nameoff0;
	int r;

	b->len = left < CFS_BLOCK_SIZE ? (size_t)left : CFS_BLOCK_SIZE;
	b->dir_nid = (unsigned long long)dir->nid;
	b->index = bi;
	r = cfs_inode_data(img, dir, off, b->len, &b->p);
	if (r < 0)
		return r == -ENODATA ? -EUCLEAN : r;
	if (b->len < sizeof(struct erofs_disk_dirent))
		return cfs_image_fail(img, -EUCLEAN, "inode %llu: directory block %llu too short", b->dir_nid,
				      (unsigned long long)bi);
	nameoff0 = rd16(b->p + offsetof(struct erofs_disk_dirent, nameoff));
	if (nameoff0 < sizeof(struct erofs_disk_dirent) || nameoff0 % sizeof(struct erofs_disk_dirent) != 0 ||
	    nameoff0 >= b->len)
		return cfs_image_fail(img, -EUCLEAN, "inode %llu: directory block %llu: bad first name offset %u",
				      b->dir_nid, (unsigned long long)bi, nameoff0);
	b->n = nameoff0 / sizeof(struct erofs_disk_dirent);
	return 0;
}

static int block_entry(struct cfs_image *img, const struct dblock *b, unsigned i, const char **name, size_t *namelen,
		       uint64_t *nid, uint8_t *ftype)
{
	const uint8_t *de = b->p + (size_t)i * sizeof(struct erofs_disk_dirent);
	unsigned nameoff = rd16(de + offsetof(struct erofs_disk_dirent, nameoff));
	unsigned first = b->n * (unsigned)sizeof(struct erofs_disk_dirent);
	size_t len;
	uint64_t v;

	if (nameoff < first || nameoff >= b->len)
		goto bad;
	if (i + 1 < b->n) {
		unsigned next = rd16(de + sizeof(struct erofs_disk_dirent) + offsetof(struct erofs_disk_dirent, nameoff));

		if (next <= nameoff || next > b->len)
			goto bad;
		len = next - nameoff;
		if (memchr(b->p + nameoff, '\0', len) != NULL)
			goto bad;
	} else {
		len = strnlen((const char *)b->p + nameoff, b->len - nameoff);
		if (len == 0)
			goto bad;
	}
	if (len > CFS_NAME_MAX)
		goto bad;
	memcpy(&v, de + offsetof(struct erofs_disk_dirent, nid), sizeof(v));
	*nid = le64toh(v);
	*ftype = de[offsetof(struct erofs_disk_dirent, file_type)];
	*name = (const char *)b->p + nameoff;
	*namelen = len;
	return 0;
bad:
	return cfs_image_fail(img, -EUCLEAN, "inode %llu: directory block %llu: bad name of entry %u", b->dir_nid,
			      (unsigned long long)b->index, i);
}

int cfs_dir_iterate(struct cfs_image *img, const struct cfs_inode *dir, uint64_t start, cfs_dirent_fn fn, void *user)
{
	uint64_t nb = dir_nblocks(dir);

	for (uint64_t bi = 0; bi < nb; bi++) {
		struct dblock b;
		int r = block_open(img, dir, bi, &b);

		if (r < 0)
			return r;
		if (start >= b.n) {
			start -= b.n;
			continue;
		}
		for (unsigned i = (unsigned)start; i < b.n; i++) {
			const char *name;
			size_t len;
			uint64_t nid;
			uint8_t ft;

			r = block_entry(img, &b, i, &name, &len, &nid, &ft);
			if (r < 0)
				return r;
			r = fn(user, name, len, nid, ft);
			if (r != 0)
				return r;
		}
		start = 0;
	}
	return 0;
}

/* Directory name order: bytes, then length (what EROFS sorts by). */
static int name_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	int c = memcmp(a, b, alen < blen ? alen : blen);

	if (c != 0)
		return c;
	return alen < blen ? -1 : alen > blen;
}

static int dir_open(struct cfs_image *img, uint64_t nid, struct cfs_inode *dir)
{
	int r = cfs_inode_read(img, nid, dir);

	if (r < 0)
		return r;
	return S_ISDIR(dir->mode) ? 0 : -ENOTDIR;
}

/*
 * A binary search that missed: -ENOENT if block @b is sorted (then the name is
 * not in it), -EUCLEAN if it is not, since then the answer depends on how the
 * search probes, and the kernel's probes differ from ours: a name it finds
 * must not be ENOENT here (composefs-fuse turns -EUCLEAN into EIO).
 */
static int block_missed(struct cfs_image *img, const struct dblock *b)
{
	const char *prev = NULL, *en;
	size_t prevlen = 0, elen;
	uint64_t nid;
	uint8_t ft;

	for (unsigned i = 0; i < b->n; i++) {
		int r = block_entry(img, b, i, &en, &elen, &nid, &ft);

		if (r < 0)
			return r;
		if (prev != NULL && name_cmp(prev, prevlen, en, elen) >= 0)
			return cfs_image_fail(img, -EUCLEAN, "directory entries out of order");
		prev = en;
		prevlen = elen;
	}
	return -ENOENT;
}

int cfs_image_lookup(struct cfs_image *img, uint64_t dir_nid, const char *name, size_t namelen, uint64_t *nid_out)
{
	struct cfs_inode dir;
	struct dblock b;
	uint64_t lo = 0, hi, best = UINT64_MAX;
	const char *en;
	size_t elen;
	uint64_t nid;
	uint8_t ft;
	int r = dir_open(img, dir_nid, &dir);

	if (r < 0)
		return r;
	if (namelen == 0 || namelen > CFS_NAME_MAX)
		return -ENOENT;
	hi = dir_nblocks(&dir);
	/* last block whose first name is <= name */
	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		int c;

		r = block_open(img, &dir, mid, &b);
		if (r == 0)
			r = block_entry(img, &b, 0, &en, &elen, &nid, &ft);
		if (r < 0)
			return r;
		c = name_cmp(name, namelen, en, elen);
		if (c == 0) {
			*nid_out = nid;
			return 0;
		}
		if (c < 0) {
			hi = mid;
		} else {
			best = mid;
			lo = mid + 1;
		}
	}
	if (best == UINT64_MAX) {
		if (dir_nblocks(&dir) == 0)
			return -ENOENT;
		r = block_open(img, &dir, 0, &b);
		return r < 0 ? r : block_missed(img, &b);
	}
	r = block_open(img, &dir, best, &b);
	if (r < 0)
		return r;
	for (unsigned l = 0, h = b.n; l < h;) {
		unsigned mid = l + (h - l) / 2;
		int c;

		r = block_entry(img, &b, mid, &en, &elen, &nid, &ft);
		if (r < 0)
			return r;
		c = name_cmp(name, namelen, en, elen);
		if (c == 0) {
			*nid_out = nid;
			return 0;
		}
		if (c < 0)
			h = mid;
		else
			l = mid + 1;
	}
	return block_missed(img, &b);
}

static unsigned ftype_to_dtype(uint8_t ft)
{
	switch (ft) {
	case EROFS_FT_REG_FILE: return DT_REG;
	case EROFS_FT_DIR: return DT_DIR;
	case EROFS_FT_CHRDEV: return DT_CHR;
	case EROFS_FT_BLKDEV: return DT_BLK;
	case EROFS_FT_FIFO: return DT_FIFO;
	case EROFS_FT_SOCK: return DT_SOCK;
	case EROFS_FT_SYMLINK: return DT_LNK;
	default: return DT_UNKNOWN;
	}
}

struct readdir_ctx {
	cfs_readdir_fn fn;
	void *user;
};

static int readdir_one(void *user, const char *name, size_t namelen, uint64_t nid, uint8_t ftype)
{
	struct readdir_ctx *c = user;

	return c->fn(c->user, name, namelen, nid, ftype_to_dtype(ftype));
}

int cfs_image_readdir(struct cfs_image *img, uint64_t dir_nid, uint64_t start_index, cfs_readdir_fn fn, void *user)
{
	struct readdir_ctx c = { fn, user };
	struct cfs_inode dir;
	int r = dir_open(img, dir_nid, &dir);

	if (r < 0)
		return r;
	r = cfs_dir_iterate(img, &dir, start_index, readdir_one, &c);
	return r > 0 ? 0 : r;
}
