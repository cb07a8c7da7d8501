/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Writer xattrs: overlay escaping and generated xattrs, name prefixes, sharing, name filter. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util.h"
#include "writer-internal.h"

#define OVL "trusted.overlay."
#define OVL_ESC "trusted.overlay.overlay."

/* ---- xxh32 (the kernel's EROFS name filter hash), written from the xxHash spec ---- */

#define XXP1 0x9E3779B1u
#define XXP2 0x85EBCA77u
#define XXP3 0xC2B2AE3Du
#define XXP4 0x27D4EB2Fu
#define XXP5 0x165667B1u

static uint32_t rotl32(uint32_t v, unsigned r)
{
	return (v << r) | (v >> (32 - r));
}

static uint32_t load_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint32_t xx_round(uint32_t acc, uint32_t lane)
{
	return rotl32(acc + lane * XXP2, 13) * XXP1;
}

uint32_t cfs_xxh32(const void *buf, size_t len, uint32_t seed)
{
	const uint8_t *p = buf, *end = p + len;
	uint32_t h;

	if (len >= 16) {
		uint32_t a = seed + XXP1 + XXP2, b = seed + XXP2, c = seed, d = seed - XXP1;

		for (; end - p >= 16; p += 16) {
			a = xx_round(a, load_le32(p));
			b = xx_round(b, load_le32(p + 4));
			c = xx_round(c, load_le32(p + 8));
			d = xx_round(d, load_le32(p + 12));
		}
		h = rotl32(a, 1) + rotl32(b, 7) + rotl32(c, 12) + rotl32(d, 18);
	} else {
		h = seed + XXP5;
	}
	h += (uint32_t)len;
	for (; end - p >= 4; p += 4)
		h = rotl32(h + load_le32(p) * XXP3, 17) * XXP4;
	for (; p < end; p++)
		h = rotl32(h + *p * XXP5, 11) * XXP1;
	h ^= h >> 15;
	h *= XXP2;
	h ^= h >> 13;
	h *= XXP3;
	h ^= h >> 16;
	return h;
}

/* ---- name prefixes ---- */

static const struct {
	const char *prefix;
	uint8_t len;
	uint8_t index;
} prefixes[] = {
	{"user.", 5, EROFS_XATTR_INDEX_USER},
	{"system.posix_acl_access", 23, EROFS_XATTR_INDEX_POSIX_ACL_ACCESS},
	{"system.posix_acl_default", 24, EROFS_XATTR_INDEX_POSIX_ACL_DEFAULT},
	{"trusted.", 8, EROFS_XATTR_INDEX_TRUSTED},
	{"security.", 9, EROFS_XATTR_INDEX_SECURITY},
};

static void name_prefix(const char *name, size_t len, uint8_t *index, uint8_t *plen)
{
	for (size_t i = 0; i < CFS_ARRAY_SIZE(prefixes); i++) {
		if (len >= prefixes[i].len &&
		    memcmp(name, prefixes[i].prefix, prefixes[i].len) == 0) {
			*index = prefixes[i].index;
			*plen = prefixes[i].len;
			return;
		}
	}
	*index = 0;
	*plen = 0;
}

uint32_t cfs_w_xattr_entry_size(const struct cfs_wxattr *x)
{
	uint32_t len = (uint32_t)sizeof(struct erofs_disk_xattr_entry) + x->name_len -
		       x->prefix_len + x->value_len;

	return (len + 3u) & ~3u;
}

/* ---- (name, value) dedup table ---- */

static uint64_t pair_hash(const struct cfs_wxattr *x)
{
	return cfs_hash64(x->value, x->value_len, cfs_hash64(x->name, x->name_len, 0));
}

static bool pair_eq(const void *elem, const void *key, void *arg)
{
	const struct cfs_wctx *ctx = arg;
	const struct cfs_wentry *e = &ctx->entries[*(const uint32_t *)elem];
	const struct cfs_wxattr *x = key;

	return e->name_len == x->name_len && e->value_len == x->value_len &&
	       memcmp(e->name, x->name, x->name_len) == 0 && memcmp(e->value, x->value, x->value_len) == 0;
}

/* Count one use of @x's (name, value); sets x->entry. */
static int count_pair(struct cfs_wctx *ctx, struct cfs_wxattr *x)
{
	uint32_t *slot;
	int r;

	r = cfs_hashset_insert(&ctx->pairs, pair_hash(x), x, (void **)&slot);
	if (r < 0)
		return r;
	if (r == 0) {
		ctx->entries[*slot].count++;
		x->entry = *slot;
		return 0;
	}
	if (ctx->n_entries >= UINT32_MAX - 1)
		r = -EFBIG;
	else
		r = cfs_w_grow((void **)&ctx->entries, &ctx->cap_entries, ctx->n_entries + 1,
			       sizeof(*ctx->entries));
	if (r < 0) {
		cfs_hashset_remove_at(&ctx->pairs, slot);
		return r;
	}
	ctx->entries[ctx->n_entries] = (struct cfs_wentry){
		.name = x->name,
		.value = x->value,
		.name_len = x->name_len,
		.value_len = x->value_len,
		.count = 1,
		.index = x->index,
		.prefix_len = x->prefix_len,
	};
	x->entry = (uint32_t)ctx->n_entries;
	*slot = (uint32_t)ctx->n_entries++;
	return 0;
}

/* ---- per-inode xattr list ---- */

struct gen_xattr {
	const char *name;
	const uint8_t *value;
	size_t len;
};

/* The xattrs the format adds to @w, in the order the reference adds them. */
static int generated_xattrs(struct cfs_wctx *ctx, size_t idx, struct gen_xattr *g, size_t *n)
{
	const struct cfs_winode *w = &ctx->inodes[idx];
	static const uint8_t empty[1] = {0};
	size_t k = 0;

	if (S_ISREG(w->mode) && !w->whiteout && w->size > 0 && w->content == NULL) {
		const struct cfs_node *node = w->node;
		uint8_t *mc = NULL;
		size_t mclen = 0;

		if (node->has_digest) {
			/* struct ovl_metacopy: the length covers the digest of its algorithm */
			mclen = 4 + (size_t)node->digest_size;
			mc = cfs_w_alloc(ctx, mclen);
			if (mc == NULL)
				return -ENOMEM;
			mc[0] = 0;		 /* version */
			mc[1] = (uint8_t)mclen;	 /* length */
			mc[2] = 0;		 /* flags */
			mc[3] = node->digest_alg; /* FS_VERITY_HASH_ALG_* */
			memcpy(mc + 4, node->digest, node->digest_size);
		}
		g[k++] = (struct gen_xattr){OVL "metacopy", mc ? mc : empty, mclen};
		if (w->payload != NULL && w->payload[0] != '\0') {
			size_t plen = strlen(w->payload);
			char *path = cfs_w_alloc(ctx, plen + 2);

			if (path == NULL)
				return -ENOMEM;
			path[0] = '/';
			memcpy(path + 1, w->payload, plen + 1);
			g[k++] =
				(struct gen_xattr){OVL "redirect", (const uint8_t *)path, plen + 1};
		}
	}
	if (w->whiteout) {
		g[k++] = (struct gen_xattr){OVL_ESC "whiteout", empty, 0};
		g[k++] = (struct gen_xattr){"user.overlay.whiteout", empty, 0};
	}
	if (w->whiteout_child) {
		g[k++] = (struct gen_xattr){OVL_ESC "whiteouts", empty, 0};
		g[k++] = (struct gen_xattr){"user.overlay.whiteouts", empty, 0};
		if (ctx->version >= 1) {
			g[k++] = (struct gen_xattr){OVL_ESC "opaque", (const uint8_t *)"x", 1};
			g[k++] = (struct gen_xattr){"user.overlay.opaque", (const uint8_t *)"x", 1};
		}
	}
	if (idx == 0)
		g[k++] = (struct gen_xattr){OVL "opaque", (const uint8_t *)"y", 1};
	*n = k;
	return 0;
}

static int push_xattr(struct cfs_wctx *ctx, const char *name, size_t nlen, const uint8_t *value,
		      size_t vlen)
{
	struct cfs_wxattr *x;
	int r;

	if (nlen == 0 || nlen > UINT16_MAX || vlen > UINT16_MAX)
		return cfs_w_error(ctx, -ERANGE, "xattr %s: name or value too long", name);
	r = cfs_w_grow((void **)&ctx->xattrs, &ctx->cap_xattrs, ctx->n_xattrs + 1,
		       sizeof(*ctx->xattrs));
	if (r < 0)
		return r;
	x = &ctx->xattrs[ctx->n_xattrs++];
	x->name = name;
	x->name_len = (uint16_t)nlen;
	x->value = value;
	x->value_len = (uint16_t)vlen;
	x->shared = -1;
	x->entry = 0;
	name_prefix(name, nlen, &x->index, &x->prefix_len);
	/* the on-disk entry stores the name after its prefix in 8 bits */
	if (nlen - x->prefix_len > UINT8_MAX) {
		ctx->n_xattrs--;
		return cfs_w_error(ctx, -ERANGE, "xattr %s: name too long", name);
	}
	return 0;
}

/*
 * The reference refuses an image when the xattrs it generates overflow a
 * per-inode budget. Its copy of the tree starts that budget at 0 whatever
 * xattrs the inode already has, and replacing an xattr subtracts the
 * replaced entry's size in unsigned arithmetic (so it can wrap). Mirror that
 * exactly so that we fail on the same inputs.
 */
static int check_budget(struct cfs_wctx *ctx, size_t n, const struct gen_xattr *g, size_t ng,
			const size_t *replaced_len, const bool *replaces)
{
	uint64_t used = 0;

	for (size_t k = 0; k < ng; k++) {
		uint64_t nlen = strlen(g[k].name), entry;

		if (replaces[k]) {
			n--;
			used = n > 0 ? used - (7 + nlen + replaced_len[k]) : 0;
		}
		entry = 7 + nlen + g[k].len + (n == 0 ? 12 : 0);
		if (used + entry > CFS_W_XATTR_BUDGET)
			return cfs_w_error(ctx, -ERANGE, "xattrs of an inode are too large");
		used += entry;
		n++;
	}
	return 0;
}

static int cmp_xattr(const void *a, const void *b)
{
	return strcmp(((const struct cfs_wxattr *)a)->name, ((const struct cfs_wxattr *)b)->name);
}

static int inode_xattrs(struct cfs_wctx *ctx, size_t idx, const struct cfs_xattr *selinux)
{
	struct cfs_winode *w = &ctx->inodes[idx];
	const struct cfs_node *node = w->node;
	struct gen_xattr g[10];
	size_t ng = 0, start = ctx->n_xattrs, replaced_len[10] = {0};
	bool replaces[10] = {false};
	int r;

	r = generated_xattrs(ctx, idx, g, &ng);
	if (r < 0)
		return r;

	for (size_t i = 0; node != NULL && i < node->n_xattrs; i++) {
		const struct cfs_xattr *x = &node->xattrs[i];
		size_t nlen = strlen(x->name);
		const char *name = x->name;
		bool skip = false;

		if (nlen >= sizeof(OVL) - 1 && memcmp(name, OVL, sizeof(OVL) - 1) == 0) {
			char *esc = cfs_w_alloc(ctx, nlen + 9);

			if (esc == NULL)
				return -ENOMEM;
			memcpy(esc, OVL_ESC, sizeof(OVL_ESC) - 1);
			memcpy(esc + sizeof(OVL_ESC) - 1, name + sizeof(OVL) - 1,
			       nlen - (sizeof(OVL) - 1) + 1);
			name = esc;
			nlen += 8;
		}
		for (size_t k = 0; k < ng; k++) {
			if (strcmp(g[k].name, name) == 0) {
				replaces[k] = true;
				replaced_len[k] = x->len;
				skip = true;
			}
		}
		if (skip)
			continue;
		r = push_xattr(ctx, name, nlen, x->value, x->len);
		if (r < 0)
			return r;
	}
	if (node == NULL && selinux != NULL) {
		r = push_xattr(ctx, selinux->name, strlen(selinux->name), selinux->value,
			       selinux->len);
		if (r < 0)
			return r;
	}
	if (node == NULL && selinux != NULL) {
		struct gen_xattr sx = {selinux->name, selinux->value, selinux->len};
		bool no = false;

		r = check_budget(ctx, 0, &sx, 1, replaced_len, &no);
		if (r < 0)
			return r;
	}
	r = check_budget(ctx, node ? node->n_xattrs : 0, g, ng, replaced_len, replaces);
	if (r < 0)
		return r;
	for (size_t k = 0; k < ng; k++) {
		r = push_xattr(ctx, g[k].name, strlen(g[k].name), g[k].value, g[k].len);
		if (r < 0)
			return r;
	}

	w = &ctx->inodes[idx];
	w->xattr_start = start;
	w->n_xattrs = (uint32_t)(ctx->n_xattrs - start);
	qsort(ctx->xattrs + start, w->n_xattrs, sizeof(*ctx->xattrs), cmp_xattr);
	for (size_t i = start; i < ctx->n_xattrs; i++) {
		struct cfs_wxattr *x = &ctx->xattrs[i];

		if (strcmp(x->name, "system.posix_acl_access") == 0 ||
		    strcmp(x->name, "system.posix_acl_default") == 0)
			ctx->has_acl = true;
		r = count_pair(ctx, x);
		if (r < 0)
			return r;
	}
	return 0;
}

int cfs_w_build_xattrs(struct cfs_wctx *ctx)
{
	const struct cfs_xattr *selinux = NULL;
	const struct cfs_node *root = ctx->inodes[0].node;
	int r;

	/* a regular file's redirect is a pair of its own: size the table once for that */
	cfs_hashset_init(&ctx->pairs, sizeof(uint32_t), pair_eq, ctx);
	r = cfs_hashset_reserve(&ctx->pairs, ctx->n_inodes);
	if (r < 0)
		return r;
	for (size_t i = 0; i < root->n_xattrs; i++)
		if (strcmp(root->xattrs[i].name, "security.selinux") == 0)
			selinux = &root->xattrs[i];

	for (size_t i = 0; i < ctx->n_inodes; i++) {
		r = inode_xattrs(ctx, i, selinux);
		if (r < 0)
			return r;
	}
	return 0;
}

/* ---- shared xattr table ---- */

/* Descending by name, then value length, then value bytes. */
static int cmp_shared(const void *a, const void *b, void *arg)
{
	const struct cfs_wctx *ctx = arg;
	const struct cfs_wentry *ea = &ctx->entries[*(const uint32_t *)a];
	const struct cfs_wentry *eb = &ctx->entries[*(const uint32_t *)b];
	int c = strcmp(eb->name, ea->name);

	if (c != 0)
		return c;
	if (ea->value_len != eb->value_len)
		return (int)eb->value_len - (int)ea->value_len;
	return memcmp(eb->value, ea->value, ea->value_len);
}

int cfs_w_share_xattrs(struct cfs_wctx *ctx)
{
	uint64_t off = 0;

	ctx->shared = malloc((ctx->n_entries ? ctx->n_entries : 1) * sizeof(*ctx->shared));
	if (ctx->shared == NULL)
		return -ENOMEM;
	for (size_t i = 0; i < ctx->n_entries; i++)
		if (ctx->entries[i].count > 1)
			ctx->shared[ctx->n_shared++] = (uint32_t)i;
	qsort_r(ctx->shared, ctx->n_shared, sizeof(*ctx->shared), cmp_shared, ctx);
	for (size_t i = 0; i < ctx->n_shared; i++) {
		struct cfs_wentry *e = &ctx->entries[ctx->shared[i]];
		struct cfs_wxattr tmp = {.name_len = e->name_len,
					 .value_len = e->value_len,
					 .prefix_len = e->prefix_len};

		if (off > UINT32_MAX)
			return cfs_w_error(ctx, -EFBIG, "shared xattr table too large");
		e->shared_off = (uint32_t)off;
		off += cfs_w_xattr_entry_size(&tmp);
	}
	ctx->shared_size = off;

	for (size_t i = 0; i < ctx->n_inodes; i++) {
		struct cfs_winode *w = &ctx->inodes[i];
		struct cfs_wxattr *xs = ctx->xattrs + w->xattr_start;
		uint64_t inline_size = 0, size;

		w->n_shared = 0;
		for (uint32_t k = 0; k < w->n_xattrs; k++) {
			if (ctx->entries[xs[k].entry].count > 1 && w->n_shared < CFS_W_MAX_SHARED) {
				xs[k].shared = (int32_t)xs[k].entry;
				w->n_shared++;
			} else {
				xs[k].shared = -1;
				inline_size += cfs_w_xattr_entry_size(&xs[k]);
			}
		}
		size = w->n_xattrs == 0 ? 0
					: ((sizeof(struct erofs_disk_xattr_ibody_header) +
					    4u * (uint64_t)w->n_shared + inline_size + 3) &
					   ~(uint64_t)3);
		if (size > 0 &&
		    (size - sizeof(struct erofs_disk_xattr_ibody_header)) / 4 + 1 > UINT16_MAX)
			return cfs_w_error(ctx, -ERANGE, "xattrs of an inode are too large");
		w->xattr_size = (uint32_t)size;
	}
	return 0;
}

uint32_t cfs_w_xattr_filter(const struct cfs_wctx *ctx, const struct cfs_winode *w)
{
	const struct cfs_wxattr *xs = ctx->xattrs + w->xattr_start;
	uint32_t bits = 0;

	for (uint32_t k = 0; k < w->n_xattrs; k++) {
		const struct cfs_wxattr *x = &xs[k];
		uint32_t h = cfs_xxh32(x->name + x->prefix_len, x->name_len - x->prefix_len,
				       EROFS_XATTR_FILTER_SEED + x->index);

		bits |= 1u << (h & (EROFS_XATTR_FILTER_BITS - 1));
	}
	return EROFS_XATTR_FILTER_DEFAULT & ~bits;
}
