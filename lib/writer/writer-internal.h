/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Private state of the image writer, shared by its layout, xattr and emit stages. */
#ifndef CFS_WRITER_INTERNAL_H
#define CFS_WRITER_INTERNAL_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <composefs/writer.h>

#include "erofs.h"
#include "hashset.h"
#include "node.h"

/* Largest symlink target / backing path the reference accepts (PATH_MAX - 1). */
#define CFS_W_PAYLOAD_MAX 4095
/* Chunk indexes of an external file must fit one block. */
#define CFS_W_MAX_CHUNKS 1024
/* An inode references at most this many shared xattrs (the rest are inline). */
#define CFS_W_MAX_SHARED 128
/* Inline xattr budget of one inode as the reference accounts it. */
#define CFS_W_XATTR_BUDGET (UINT16_MAX / 2)

/* One xattr of one inode, under its final (escaped or generated) name. */
struct cfs_wxattr {
	const char *name;
	const uint8_t *value;
	uint16_t name_len;
	uint16_t value_len;
	uint8_t index;	    /* EROFS name index */
	uint8_t prefix_len; /* bytes of @name the index stands for */
	int32_t shared;	    /* slot in the shared table, -1 when written inline */
	uint32_t entry;	    /* dedup table entry */
};

/* One directory entry as written ("." and ".." included). */
struct cfs_wdirent {
	const char *name;
	uint32_t name_len;
	uint32_t target;       /* inode index, once known */
	struct cfs_node *node; /* tree node behind a primary or hard-link entry */
	uint8_t kind;	       /* CFS_WD_* */
};

enum {
	CFS_WD_RESOLVED = 0, /* "." and "..": target known */
	CFS_WD_PRIMARY,	     /* serialized as its own inode */
	CFS_WD_HARDLINK,     /* points to the inode of a primary entry elsewhere */
	CFS_WD_WHITEOUT,     /* synthetic 00..ff whiteout of the root */
};

/* One inode in breadth-first order. */
struct cfs_winode {
	struct cfs_node *node; /* NULL for the synthetic root whiteouts */
	uint32_t parent;       /* inode index of the containing directory */
	uint32_t depth;        /* directories between it and the root (root: 0) */
	uint32_t mode, uid, gid, rdev, nlink;
	uint64_t size; /* st_size as the reference holds it */
	int64_t mtime_sec;
	uint32_t mtime_nsec;
	const uint8_t *content; /* inline data (size bytes) or NULL */
	const char *payload;
	bool whiteout;	     /* 0/0 char device turned into an escaped whiteout */
	bool whiteout_child; /* a primary entry below is such a whiteout */

	size_t xattr_start; /* into ctx->xattrs */
	uint32_t n_xattrs;
	size_t dirent_start; /* into ctx->dirents */
	uint32_t n_dirents;

	/* layout */
	bool compact;
	uint32_t ipad;
	uint32_t xattr_size;
	uint32_t n_shared;
	uint32_t tailsize;
	uint32_t n_blocks;
	uint32_t blkaddr;
	uint32_t chunk_count;
	uint16_t chunk_format;
	uint64_t nid;
};

/* A distinct (name, value) pair and how many inodes carry it. */
struct cfs_wentry {
	const char *name;
	const uint8_t *value;
	uint16_t name_len;
	uint16_t value_len;
	uint32_t count;
	uint32_t shared_off; /* byte offset in the shared area, if shared */
	uint8_t index;
	uint8_t prefix_len;
};

struct cfs_warena_chunk;

struct cfs_wctx {
	uint32_t version;
	uint32_t max_version;
	enum cfs_hash_alg hash_alg; /* of the image digest */
	char *errbuf;
	size_t errlen;

	struct cfs_winode *inodes;
	size_t n_inodes, cap_inodes;
	struct cfs_wxattr *xattrs;
	size_t n_xattrs, cap_xattrs;
	struct cfs_wdirent *dirents;
	size_t n_dirents, cap_dirents;

	/* dedup of (name, value) pairs */
	struct cfs_wentry *entries;
	size_t n_entries, cap_entries;
	struct cfs_hashset pairs; /* entry indexes (uint32_t), keyed by the pair */

	uint32_t *shared; /* entry indexes of the shared table, in table order */
	size_t n_shared;
	uint64_t shared_size;

	struct cfs_warena_chunk *arena;
	char whiteout_names[256][3];

	int64_t min_mtime_sec;
	uint32_t min_mtime_nsec;
	bool has_acl;
	bool has_whiteout;

	uint64_t inodes_end;
	uint64_t data_start;
	uint64_t n_data_blocks;
};

/* writer.c */
int cfs_w_error(struct cfs_wctx *ctx, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void *cfs_w_alloc(struct cfs_wctx *ctx, size_t len);
int cfs_w_grow(void **arr, size_t *cap, size_t need, size_t elem);

/* layout.c */
int cfs_w_collect(struct cfs_wctx *ctx, struct cfs_node *root);
int cfs_w_layout(struct cfs_wctx *ctx);
uint32_t cfs_w_dirent_size(const struct cfs_wdirent *d);

/* xattr.c */
int cfs_w_build_xattrs(struct cfs_wctx *ctx);
int cfs_w_share_xattrs(struct cfs_wctx *ctx);
uint32_t cfs_w_xattr_filter(const struct cfs_wctx *ctx, const struct cfs_winode *w);
uint32_t cfs_w_xattr_entry_size(const struct cfs_wxattr *x);
uint32_t cfs_xxh32(const void *buf, size_t len, uint32_t seed);

/* emit.c */
struct cfs_wout;
int cfs_w_emit(struct cfs_wctx *ctx, cfs_write_fn fn, void *user, uint8_t *digest_out);

#endif
