/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Image reader: extended attributes (inline and shared), overlay escapes, backing info. */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "reader.h"
#include "util.h"

#define OVL_PREFIX "trusted.overlay."
#define OVL_ESCAPE_PREFIX "trusted.overlay.overlay."

/* EROFS short name prefixes by e_name_index; index 0 is "no prefix". */
static const char *const xattr_prefixes[] = {
	"", "user.", "system.posix_acl_access", "system.posix_acl_default", "trusted.", "lustre.", "security.",
};

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/*
 * Payload from a redirect value: a leading '/' is dropped and the string ends
 * at the first NUL or at the end of the value. The reference's loader reads up
 * to two bytes past the value when it drops the '/'; those bytes belong to
 * whatever follows (a chunk index, the next xattr), so we never do.
 */
static char *redirect_payload(const uint8_t *value, size_t len)
{
	size_t start = 0, n;
	char *s;

	if (len > 1 && value[0] == '/')
		start = 1;
	for (n = 0; start + n < len && value[start + n] != '\0'; n++)
		;
	s = malloc(n + 1);
	if (s == NULL)
		return NULL;
	memcpy(s, value + start, n);
	s[n] = '\0';
	return s;
}

/* One on-disk entry at @e with @avail bytes available; returns its size or -errno. */
static int visit_entry(struct cfs_image *img, const struct cfs_inode *ino, struct cfs_xattr_visit *v,
		       const uint8_t *e, uint64_t avail)
{
	unsigned long long nid = (unsigned long long)ino->nid;
	char name[512];
	uint8_t name_len, index;
	uint16_t value_len;
	const uint8_t *value;
	size_t plen, full;
	uint16_t raw;

	if (avail < sizeof(struct erofs_disk_xattr_entry))
		return cfs_image_fail(img, -EUCLEAN, "inode %llu: truncated xattr entry", nid);
	name_len = e[0];
	index = e[1];
	memcpy(&raw, e + 2, sizeof(raw));
	value_len = le16toh(raw);
	if (sizeof(struct erofs_disk_xattr_entry) + (uint64_t)name_len + value_len > avail)
		return cfs_image_fail(img, -EUCLEAN, "inode %llu: xattr entry exceeds its area", nid);
	if (index >= sizeof(xattr_prefixes) / sizeof(xattr_prefixes[0]))
		return cfs_image_fail(img, -EOPNOTSUPP, "inode %llu: unsupported xattr name index %u", nid, index);
	plen = strlen(xattr_prefixes[index]);
	full = plen + name_len;
	/*
	 * The limit applies to the name users see: an escaped overlay xattr
	 * (trusted.overlay.overlay.*) is 8 bytes longer on disk.
	 */
	if (full == 0)
		return cfs_image_fail(img, -EUCLEAN, "inode %llu: empty xattr name", nid);
	if (memchr(e + 4, '\0', name_len) != NULL)
		return cfs_image_fail(img, -EUCLEAN, "inode %llu: NUL byte in xattr name", nid);
	memcpy(name, xattr_prefixes[index], plen);
	memcpy(name + plen, e + 4, name_len);
	name[full] = '\0';
	value = e + 4 + name_len;
	if (full - (has_prefix(name, OVL_ESCAPE_PREFIX) ? strlen("overlay.") : 0) > CFS_XATTR_NAME_MAX)
		return cfs_image_fail(img, -EUCLEAN, "inode %llu: xattr name length %zu", nid, full);

	if (v->raw) {
		int r = v->fn(v->user, name, full, value, value_len);

		if (r < 0)
			return r;
		return (int)(sizeof(struct erofs_disk_xattr_entry) + name_len + value_len);
	}
	/* A name given twice (only a crafted image does that): the first entry counts, as for
	 * the kernel's getxattr, so this reader and a kernel mount follow the same object. */
	if (strcmp(name, OVL_PREFIX "redirect") == 0) {
		if (S_ISREG(ino->mode) && v->want_backing && !v->seen_redirect) {
			v->seen_redirect = true;
			v->redirect = redirect_payload(value, value_len);
			if (v->redirect == NULL)
				return -ENOMEM;
		}
	} else if (strcmp(name, OVL_PREFIX "metacopy") == 0) {
		if (v->has_metacopy)
			return (int)(sizeof(struct erofs_disk_xattr_entry) + name_len + value_len);
		v->has_metacopy = true;
		v->metacopy_len = value_len;
		/* struct ovl_metacopy: its length says which digest it carries (36:
		 * sha256, 68: sha512), as it does for overlayfs */
		if (S_ISREG(ino->mode) && (value_len == 4 + 32 || value_len == 4 + 64)) {
			v->has_digest = true;
			v->digest_alg = value_len == 4 + 32 ? CFS_HASH_SHA256 : CFS_HASH_SHA512;
			memcpy(v->digest, value + 4, value_len - 4u);
		}
	} else if (!v->mount_view && strcmp(name, OVL_ESCAPE_PREFIX "whiteout") == 0 && S_ISREG(ino->mode)) {
		v->escaped_whiteout = true;
	} else if (!v->mount_view &&
		   (strcmp(name, OVL_ESCAPE_PREFIX "whiteouts") == 0 || strcmp(name, "user.overlay.whiteout") == 0 ||
		    strcmp(name, "user.overlay.whiteouts") == 0)) {
		/* markers for overlayfs only: the dump shows what they stand for, not them */
	} else if (has_prefix(name, OVL_PREFIX)) {
		if (has_prefix(name, OVL_ESCAPE_PREFIX)) {
			size_t skip = strlen("overlay.");

			memmove(name + strlen(OVL_PREFIX), name + strlen(OVL_ESCAPE_PREFIX),
				full - strlen(OVL_ESCAPE_PREFIX) + 1);
			full -= skip;
			if (v->fn != NULL) {
				int r = v->fn(v->user, name, full, value, value_len);
				if (r < 0)
					return r;
			}
		}
		/* other overlayfs-private xattrs are not part of the content */
	} else if (v->fn != NULL) {
		int r = v->fn(v->user, name, full, value, value_len);
		if (r < 0)
			return r;
	}
	return (int)(sizeof(struct erofs_disk_xattr_entry) + name_len + value_len);
}

static int walk(struct cfs_image *img, const struct cfs_inode *ino, struct cfs_xattr_visit *v)
{
	unsigned long long nid = (unsigned long long)ino->nid;
	const uint8_t *base = img->data + ino->xattr_off;
	uint64_t pos, end = ino->xattr_size;
	unsigned shared;
	int r;

	if (ino->xattr_size == 0)
		return 0;
	shared = base[offsetof(struct erofs_disk_xattr_ibody_header, h_shared_count)];
	/* cfs_inode_read() checked that the shared ids fit the area */
	pos = sizeof(struct erofs_disk_xattr_ibody_header) + 4ull * shared;
	while (pos < end) {
		r = visit_entry(img, ino, v, base + pos, end - pos);
		if (r < 0)
			return r;
		pos += CFS_ALIGN_UP((uint64_t)r, 4);
	}
	for (unsigned i = 0; i < shared; i++) {
		uint32_t id;
		uint64_t off;

		memcpy(&id, base + sizeof(struct erofs_disk_xattr_ibody_header) + 4u * i, sizeof(id));
		id = le32toh(id);
		off = img->xattr_off + 4ull * id;
		if (off >= img->size)
			return cfs_image_fail(img, -EUCLEAN, "inode %llu: shared xattr %u beyond end of image", nid, id);
		r = visit_entry(img, ino, v, img->data + off, img->size - off);
		if (r < 0)
			return r;
	}
	return 0;
}

int cfs_xattr_walk(struct cfs_image *img, const struct cfs_inode *ino, struct cfs_xattr_visit *v)
{
	return walk(img, ino, v);
}

int cfs_inode_is_escaped_whiteout(struct cfs_image *img, const struct cfs_inode *ino, bool *res)
{
	struct cfs_xattr_visit v = { 0 };
	int r;

	*res = false;
	if (!S_ISREG(ino->mode) || ino->xattr_size == 0)
		return 0;
	r = walk(img, ino, &v);
	if (r < 0)
		return r;
	*res = v.escaped_whiteout;
	return 0;
}

/* overlayfs follows a redirect only with a metacopy xattr, empty or of at least 4 bytes (1 to 3: an error). */
static bool redirect_followed(const struct cfs_xattr_visit *v)
{
	return v->has_metacopy && (v->metacopy_len == 0 || v->metacopy_len >= 4);
}

int cfs_image_get_backing_full(struct cfs_image *img, uint64_t nid, char **redirect_out, enum cfs_hash_alg *alg_out,
			       uint8_t *digest_out, bool *followed_out)
{
	struct cfs_xattr_visit v = { .want_backing = redirect_out != NULL };
	struct cfs_inode ino;
	int r = cfs_inode_read(img, nid, &ino);

	if (r < 0)
		return r;
	if (!S_ISREG(ino.mode))
		return -EINVAL;
	r = walk(img, &ino, &v);
	if (r < 0) {
		free(v.redirect);
		return r;
	}
	if (redirect_out != NULL)
		*redirect_out = v.redirect;
	if (alg_out != NULL)
		*alg_out = v.has_digest ? v.digest_alg : 0;
	if (digest_out != NULL && v.has_digest)
		memcpy(digest_out, v.digest, v.digest_alg == CFS_HASH_SHA512 ? 64 : 32);
	if (followed_out != NULL)
		*followed_out = redirect_followed(&v);
	return 0;
}

int cfs_image_get_backing_digest(struct cfs_image *img, uint64_t nid, char **redirect_out, enum cfs_hash_alg *alg_out,
				 uint8_t *digest_out)
{
	return cfs_image_get_backing_full(img, nid, redirect_out, alg_out, digest_out, NULL);
}

int cfs_image_get_backing(struct cfs_image *img, uint64_t nid, char **redirect_out, uint8_t digest_out[32], bool *has_digest)
{
	uint8_t d[CFS_VERITY_MAX_DIGEST];
	enum cfs_hash_alg alg = 0;
	int r = cfs_image_get_backing_digest(img, nid, redirect_out, &alg, d);

	if (r < 0)
		return r;
	/* 32 bytes of room: a sha512 digest is left to cfs_image_get_backing_digest() */
	if (has_digest != NULL)
		*has_digest = alg == CFS_HASH_SHA256;
	if (digest_out != NULL && alg == CFS_HASH_SHA256)
		memcpy(digest_out, d, 32);
	return 0;
}

struct list_ctx {
	char *buf;
	size_t size;
	size_t used;
};

static int list_one(void *user, const char *name, size_t namelen, const uint8_t *value, size_t len)
{
	struct list_ctx *c = user;

	(void)value;
	(void)len;
	if (c->size != 0) {
		if (c->size - c->used < namelen + 1)
			return -ERANGE;
		memcpy(c->buf + c->used, name, namelen + 1);
	}
	c->used += namelen + 1;
	return 0;
}

int cfs_image_listxattr(struct cfs_image *img, uint64_t nid, enum cfs_xattr_view view, char *buf,
			size_t size)
{
	struct list_ctx c = { buf, size, 0 };
	struct cfs_xattr_visit v = { .fn = list_one, .user = &c, .mount_view = view == CFS_XATTR_VIEW_MOUNT };
	struct cfs_inode ino;
	int r = cfs_inode_read(img, nid, &ino);

	if (r < 0)
		return r;
	r = walk(img, &ino, &v);
	if (r < 0)
		return r;
	if (c.used > INT32_MAX)
		return -E2BIG;
	return (int)c.used;
}

struct get_ctx {
	const char *name;
	void *buf;
	size_t size;
	int result;
};

static int get_one(void *user, const char *name, size_t namelen, const uint8_t *value, size_t len)
{
	struct get_ctx *c = user;

	(void)namelen;
	if (strcmp(name, c->name) != 0)
		return 0;
	if (c->size != 0 && len > c->size)
		c->result = -ERANGE;
	else {
		if (c->size != 0)
			memcpy(c->buf, value, len);
		c->result = (int)len;
	}
	return 0;
}

int cfs_image_getxattr(struct cfs_image *img, uint64_t nid, enum cfs_xattr_view view, const char *name,
		       void *buf, size_t size)
{
	struct get_ctx c = { name, buf, size, -ENODATA };
	struct cfs_xattr_visit v = { .fn = get_one, .user = &c, .mount_view = view == CFS_XATTR_VIEW_MOUNT };
	struct cfs_inode ino;
	int r = cfs_inode_read(img, nid, &ino);

	if (r < 0)
		return r;
	r = walk(img, &ino, &v);
	if (r < 0)
		return r;
	return c.result;
}

struct raw_ctx {
	cfs_xattr_fn fn;
	void *user;
	bool stopped;
};

static int raw_one(void *user, const char *name, size_t namelen, const uint8_t *value, size_t len)
{
	struct raw_ctx *c = user;
	int r = c->fn(c->user, name, namelen, value, len);

	if (r > 0) {
		c->stopped = true;
		return -ECANCELED;
	}
	return r;
}

int cfs_image_xattr_iterate(struct cfs_image *img, uint64_t nid, cfs_xattr_fn fn, void *user)
{
	struct raw_ctx c = { fn, user, false };
	struct cfs_xattr_visit v = { .fn = raw_one, .user = &c, .raw = true };
	struct cfs_inode ino;
	int r = cfs_inode_read(img, nid, &ino);

	if (r < 0)
		return r;
	r = walk(img, &ino, &v);
	return (r < 0 && c.stopped) ? 0 : r;
}

bool cfs_image_may_store_xattr(const struct cfs_image *img, const char *name)
{
	size_t name_len = strlen(name);

	for (size_t index = 0; index < sizeof(xattr_prefixes) / sizeof(xattr_prefixes[0]); index++) {
		size_t plen = strlen(xattr_prefixes[index]), slen = name_len - plen, at = 0;
		const char *suffix = name + plen;

		/* the entry stores e_name_len (1 byte), e_name_index, e_value_size (2), then the suffix */
		if (!has_prefix(name, xattr_prefixes[index]) || slen > UINT8_MAX || (slen == 0 && index == 0))
			continue;
		while (at < img->size) {
			const uint8_t *hit = slen == 0 ? img->data + at : memmem(img->data + at, img->size - at, suffix, slen);
			size_t pos;

			if (hit == NULL)
				break;
			pos = (size_t)(hit - img->data);
			if (pos >= 4 && hit[-4] == slen && hit[-3] == index)
				return true;
			at = pos + 1;
		}
	}
	return false;
}

int cfs_image_redirect_followed(struct cfs_image *img, uint64_t nid)
{
	struct cfs_xattr_visit v = { 0 };
	struct cfs_inode ino;
	int r = cfs_inode_read(img, nid, &ino);

	if (r < 0)
		return r;
	r = walk(img, &ino, &v);
	if (r < 0)
		return r;
	return redirect_followed(&v);
}
