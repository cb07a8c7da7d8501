/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* One layer in one pass: blob digest, decompression, diff_id and tar entries -> tree + objects. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <openssl/evp.h>

#include <composefs/oci.h>
#include <composefs/verity.h>

#include "node.h"
#include "oci-private.h"
#include "splitstream.h"
#include "util.h"

#define CHUNK (64u << 10)
/* files up to this size are hashed in memory and written only when their object is new */
#define MEM_MAX (1u << 20)
/* deeper than any real tree; the writer refuses 2048 */
#define MAX_DEPTH 1024

struct layer {
	/* the blob as read, then the tar as decompressed */
	oci_read_fn fn;
	void *user;
	EVP_MD_CTX *raw_md, *tar_md;
	uint64_t raw_bytes;
	int read_err;
	struct archive *outer, *inner;
	uint8_t raw_buf[CHUNK], tar_buf[CHUNK];
	/* the tree */
	struct cfs_node *root;
	struct cfs_objstore *store;
	enum cfs_hash_alg alg;
	struct cfs_verity_ctx *vctx;
	uint8_t *mem;
	char *err;
	size_t errlen;
	const char *path; /* entry being read, for messages */
	/* the split stream of the tar (NULL: none written): every tar byte passes through
	 * tar_read() at offset pos; those not yet known to be inline or file data wait in
	 * pend (they start at offset pend_start); file data below skip_end is dropped,
	 * the object holding it takes its place */
	struct cfs_splitstream_writer *ss;
	uint64_t pos, pend_start, skip_end;
	uint8_t *pend;
	size_t pend_n, pend_cap;
	int ss_err;
	/* rebuilding from a split stream instead (src not NULL): its current chunk, of which
	 * cur_left bytes are not yet handed to the tar reader (an object's bytes are zeros: only
	 * its reference matters); the object reference the current file's data must be
	 * (ext_want: expected at tar offset ext_start, ext_size bytes; ext_found: it was) */
	struct cfs_splitstream *src;
	struct cfs_splitstream_chunk cur;
	uint64_t cur_left, ext_start, ext_size;
	bool ext_want, ext_found;
	uint8_t ext_digest[CFS_VERITY_MAX_DIGEST];
	int src_err;
};

static const char *errstr(struct archive *a)
{
	const char *s = archive_error_string(a);

	return s != NULL ? s : "malformed archive";
}

static la_ssize_t raw_read(struct archive *a, void *client, const void **buf)
{
	struct layer *l = client;
	ssize_t n = l->fn(l->user, l->raw_buf, sizeof(l->raw_buf));

	if (n < 0) {
		l->read_err = (int)n;
		archive_set_error(a, EIO, "read error");
		return -1;
	}
	EVP_DigestUpdate(l->raw_md, l->raw_buf, (size_t)n);
	l->raw_bytes += (uint64_t)n;
	*buf = l->raw_buf;
	return n;
}

/* Tar bytes at offset l->pos: dropped when they are file data an object holds, else kept. */
static void split_feed(struct layer *l, const uint8_t *buf, size_t n)
{
	uint64_t off = l->pos;

	l->pos += n;
	if (l->ss == NULL || l->ss_err != 0)
		return;
	if (off < l->skip_end) {
		size_t k = l->skip_end - off < n ? (size_t)(l->skip_end - off) : n;

		buf += k;
		n -= k;
		off += k;
	}
	if (n == 0)
		return;
	if (l->pend_n == 0)
		l->pend_start = off;
	if (n > l->pend_cap - l->pend_n) {
		size_t cap = l->pend_cap ? l->pend_cap : CHUNK;
		uint8_t *p;

		while (cap < l->pend_n + n)
			cap *= 2;
		p = realloc(l->pend, cap);
		if (p == NULL) {
			l->ss_err = -ENOMEM;
			return;
		}
		l->pend = p;
		l->pend_cap = cap;
	}
	memcpy(l->pend + l->pend_n, buf, n);
	l->pend_n += n;
}

/* The kept bytes below tar offset @upto are inline bytes of the stream: write them out. */
static int split_flush(struct layer *l, uint64_t upto)
{
	size_t k;
	int r;

	if (l->ss == NULL)
		return 0;
	if (l->ss_err != 0)
		return l->ss_err;
	if (l->pend_n == 0 || upto <= l->pend_start)
		return 0;
	k = upto - l->pend_start < l->pend_n ? (size_t)(upto - l->pend_start) : l->pend_n;
	r = cfs_splitstream_write_inline(l->ss, l->pend, k);
	if (r < 0)
		return l->ss_err = r;
	memmove(l->pend, l->pend + k, l->pend_n - k);
	l->pend_n -= k;
	l->pend_start += k;
	return 0;
}

/* Tar bytes [@start, @end) are the data of a file stored as an object: what came before is
 * inline, those bytes are not kept (the object reference written by split_external() stands
 * for them). */
static int split_skip(struct layer *l, uint64_t start, uint64_t end)
{
	int r = split_flush(l, start);

	if (r < 0 || l->ss == NULL)
		return r;
	if (l->pend_n > 0 && l->pend_start != start)
		return l->ss_err = -EUCLEAN; /* the tar reader's offsets are not what we expect */
	if (l->pend_n > 0) {
		size_t k = end - start < l->pend_n ? (size_t)(end - start) : l->pend_n;

		memmove(l->pend, l->pend + k, l->pend_n - k);
		l->pend_n -= k;
		l->pend_start += k;
	}
	l->skip_end = end;
	return 0;
}

static la_ssize_t tar_read(struct archive *a, void *client, const void **buf)
{
	struct layer *l = client;
	la_ssize_t n = archive_read_data(l->outer, l->tar_buf, sizeof(l->tar_buf));

	if (n < 0) {
		archive_set_error(a, EIO, "%s", errstr(l->outer));
		return -1;
	}
	EVP_DigestUpdate(l->tar_md, l->tar_buf, (size_t)n);
	split_feed(l, l->tar_buf, (size_t)n);
	*buf = l->tar_buf;
	return n;
}

__attribute__((format(printf, 3, 4))) static int lfail(struct layer *l, int r, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (l->path != NULL)
		return cfs_errbuf_set(l->err, l->errlen, r, "%s: %s", l->path, msg);
	return cfs_errbuf_set(l->err, l->errlen, r, "%s", msg);
}

/* --- rebuilding a layer from its split stream --- */

/* The next chunk of the split stream when the current one is used up: 1, 0 at its end, -errno. */
static int src_next(struct layer *l)
{
	char msg[256] = "";
	int r;

	if (l->src_err < 0)
		return l->src_err;
	while (l->cur_left == 0) {
		r = cfs_splitstream_next(l->src, &l->cur, msg, sizeof(msg));
		if (r < 0)
			return l->src_err = lfail(l, r, "split stream: %s", msg);
		if (r == 0)
			return 0;
		if (l->cur.external) {
			/* only the data of the file just read may be an object, all of it */
			if (!l->ext_want || l->pos != l->ext_start)
				return l->src_err = lfail(l, -EUCLEAN,
							  "split stream: an object reference at tar offset %llu, "
							  "where no file data of more than %d bytes starts",
							  (unsigned long long)l->pos, CFS_OCI_INLINE_MAX);
			memcpy(l->ext_digest, l->cur.digest, cfs_verity_digest_size(l->alg));
			l->ext_want = false;
			l->ext_found = true;
			l->cur_left = l->ext_size;
		} else {
			if (l->ext_want && l->pos + l->cur.len > l->ext_start)
				return l->src_err = lfail(l, -EUCLEAN, "split stream: file data of more than %d bytes "
							  "inline at tar offset %llu", CFS_OCI_INLINE_MAX,
							  (unsigned long long)l->ext_start);
			l->cur_left = l->cur.len;
		}
	}
	return 1;
}

static la_ssize_t src_read(struct archive *a, void *client, const void **buf)
{
	struct layer *l = client;
	int r = src_next(l);
	size_t n;

	if (r < 0) {
		archive_set_error(a, EIO, "split stream unusable");
		return -1;
	}
	if (r == 0)
		return 0;
	if (l->cur.external) {
		/* an object's bytes are never looked at: the tar reader skips file data */
		n = l->cur_left < sizeof(l->tar_buf) ? (size_t)l->cur_left : sizeof(l->tar_buf);
		*buf = l->tar_buf;
	} else {
		n = (size_t)l->cur_left;
		*buf = l->cur.data + (l->cur.len - n);
	}
	l->cur_left -= n;
	l->pos += n;
	return (la_ssize_t)n;
}

/* The tar reader skips file data: an object's share of it costs nothing. */
static la_int64_t src_skip(struct archive *a, void *client, la_int64_t request)
{
	struct layer *l = client;
	int r = src_next(l);
	uint64_t n;

	(void)a;
	/* libarchive takes no error from a skip callback: 0 makes it read, and the read fails */
	if (r <= 0 || !l->cur.external || request <= 0)
		return 0; /* inline bytes are read */
	n = l->cur_left < (uint64_t)request ? l->cur_left : (uint64_t)request;
	l->cur_left -= n;
	l->pos += n;
	return (la_int64_t)n;
}

/* Split @path into components: no absolute paths, no "..", "." and empty ones dropped. */
static int split_path(struct layer *l, const char *path, char *copy, char **comps, size_t *n_out)
{
	size_t n = 0;
	char *save = NULL;

	while (path[0] == '.' && path[1] == '/')
		path += 2;
	if (path[0] == '/')
		return lfail(l, -EUCLEAN, "absolute path in layer");
	if (strlen(path) >= 4096)
		return lfail(l, -EUCLEAN, "path longer than 4095 bytes");
	strcpy(copy, path);
	for (char *c = strtok_r(copy, "/", &save); c != NULL; c = strtok_r(NULL, "/", &save)) {
		if (strcmp(c, ".") == 0)
			continue;
		if (strcmp(c, "..") == 0)
			return lfail(l, -EUCLEAN, "path with \"..\"");
		if (strlen(c) > CFS_NAME_MAX)
			return lfail(l, -EUCLEAN, "name longer than 255 bytes");
		if (n == MAX_DEPTH)
			return lfail(l, -EUCLEAN, "path deeper than 1024 components");
		comps[n++] = c;
	}
	*n_out = n;
	return 0;
}

static struct cfs_node *new_dir(bool implicit)
{
	struct cfs_node *d = cfs_node_new(S_IFDIR | 0755);

	if (d != NULL && implicit && cfs_node_set_xattr(d, OCI_IMPLICIT_XATTR, "1", 1) < 0) {
		cfs_node_unref(d);
		d = NULL;
	}
	return d;
}

static void clear_xattrs(struct cfs_node *n)
{
	while (cfs_node_n_xattrs(n) > 0)
		cfs_node_remove_xattr(n, cfs_node_xattr_at(n, 0, NULL, NULL));
}

/* Owner, mode bits, mtime (seconds: what composefs-rs keeps) and xattrs of @e onto @n. */
static int set_meta(struct layer *l, struct cfs_node *n, struct archive_entry *e)
{
	const char *name;
	const void *value;
	size_t size;
	int64_t uid = archive_entry_uid(e), gid = archive_entry_gid(e);

	if (uid < 0 || uid > UINT32_MAX || gid < 0 || gid > UINT32_MAX)
		return lfail(l, -EUCLEAN, "owner out of range");
	cfs_node_set_mode(n, (cfs_node_get_mode(n) & S_IFMT) | ((uint32_t)archive_entry_perm(e) & 07777));
	cfs_node_set_uid(n, (uint32_t)uid);
	cfs_node_set_gid(n, (uint32_t)gid);
	cfs_node_set_mtime(n, (int64_t)archive_entry_mtime(e), 0);
	clear_xattrs(n);
	archive_entry_xattr_reset(e);
	while (archive_entry_xattr_next(e, &name, &value, &size) == ARCHIVE_OK) {
		int r;

		if (name == NULL || strcmp(name, OCI_IMPLICIT_XATTR) == 0)
			return lfail(l, -EUCLEAN, "invalid xattr name");
		r = cfs_node_set_xattr(n, name, value, size);
		if (r < 0)
			return lfail(l, -EUCLEAN, "xattr %s: invalid or too long", name);
	}
	return 0;
}

static int read_err(struct layer *l)
{
	if (l->src_err < 0)
		return l->src_err; /* already explained */
	if (l->read_err < 0)
		return lfail(l, l->read_err, "read error: %s", strerror(-l->read_err));
	return lfail(l, -EUCLEAN, "%s", errstr(l->inner));
}

/* @n is the file of @size bytes whose content is the object @digest. */
static int set_object(struct layer *l, struct cfs_node *n, const uint8_t *digest, uint64_t size)
{
	char payload[2 * CFS_VERITY_MAX_DIGEST + 2];
	int r = cfs_objstore_digest_path(digest, cfs_verity_digest_size(l->alg), payload, sizeof(payload));

	cfs_node_set_size(n, size);
	if (r >= 0)
		r = cfs_node_set_payload(n, payload);
	if (r >= 0)
		r = cfs_node_set_digest_alg(n, l->alg, digest);
	return r < 0 ? r : 0;
}

/* From a split stream: the file's data is skipped, the object reference standing for it taken. */
static int skip_content(struct layer *l, struct cfs_node *n, int64_t size)
{
	int64_t start = archive_filter_bytes(l->inner, 0);

	if (start < 0)
		return lfail(l, -EIO, "tar reader position unknown");
	l->ext_want = true;
	l->ext_found = false;
	l->ext_start = (uint64_t)start;
	l->ext_size = (uint64_t)size;
	if (archive_read_data_skip(l->inner) != ARCHIVE_OK)
		return read_err(l);
	if (!l->ext_found)
		return lfail(l, -EUCLEAN, "split stream: the data of a file of more than %d bytes is not one object "
				"reference", CFS_OCI_INLINE_MAX);
	l->ext_found = false;
	return set_object(l, n, l->ext_digest, (uint64_t)size);
}

/* Content of a regular file: inline up to CFS_OCI_INLINE_MAX, else an object. */
static int read_content(struct layer *l, struct cfs_node *n, int64_t size)
{
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	struct cfs_objstore_stage *st = NULL;
	uint64_t total = 0;
	bool spilled = false;
	int r = 0;

	if (size < 0)
		return lfail(l, -EUCLEAN, "negative size");
	if (size > CFS_OCI_INLINE_MAX && l->src != NULL)
		return skip_content(l, n, size);
	if (size > CFS_OCI_INLINE_MAX && l->ss != NULL) {
		/* the data starts where the tar reader stands after the header */
		int64_t start = archive_filter_bytes(l->inner, 0);

		r = start < 0 ? -EIO : split_skip(l, (uint64_t)start, (uint64_t)start + (uint64_t)size);
		if (r < 0)
			return lfail(l, r, "split stream: %s", strerror(-r));
	}
	for (;;) {
		uint8_t *dst = spilled ? l->mem : l->mem + total;
		size_t room = spilled ? MEM_MAX : MEM_MAX - (size_t)total;
		la_ssize_t k;

		if (room == 0) {
			/* larger than the memory buffer: the rest streams into a staged object */
			if (l->store != NULL) {
				r = cfs_objstore_stage_new(l->store, &st);
				if (r == 0)
					r = cfs_write_full(cfs_objstore_stage_fd(st), l->mem, (size_t)total);
				if (r < 0) {
					r = lfail(l, r, "staging object: %s", strerror(-r));
					goto out;
				}
			}
			spilled = true;
			continue;
		}
		k = archive_read_data(l->inner, dst, room);
		if (k < 0) {
			r = read_err(l);
			goto out;
		}
		if (k == 0)
			break;
		if (size > CFS_OCI_INLINE_MAX)
			cfs_verity_update(l->vctx, dst, (size_t)k);
		if (st != NULL) {
			r = cfs_write_full(cfs_objstore_stage_fd(st), dst, (size_t)k);
			if (r < 0) {
				r = lfail(l, r, "staging object: %s", strerror(-r));
				goto out;
			}
		}
		total += (uint64_t)k;
		if (total > (uint64_t)size)
			break;
	}
	if (total != (uint64_t)size) {
		r = lfail(l, -EUCLEAN, "content length differs from the header");
		goto out;
	}
	cfs_node_set_size(n, total);
	if (size == 0)
		goto out;
	if (size <= CFS_OCI_INLINE_MAX) {
		r = cfs_node_set_content(n, l->mem, (size_t)size);
		goto out;
	}
	r = cfs_verity_final(l->vctx, digest);
	if (r < 0)
		goto out;
	if (l->ss != NULL && (r = cfs_splitstream_write_external(l->ss, digest, (uint64_t)size)) < 0) {
		r = lfail(l, r, "split stream: %s", strerror(-r));
		goto out;
	}
	if (l->store != NULL) {
		if (st != NULL) {
			r = cfs_objstore_stage_commit(st, digest);
			st = NULL;
		} else if ((r = cfs_objstore_has(l->store, digest)) == 0) {
			r = cfs_objstore_put_buf(l->store, l->mem, (size_t)size, digest);
		}
		if (r < 0) {
			r = lfail(l, r, "storing object: %s", strerror(-r));
			goto out;
		}
		r = 0;
	}
	r = set_object(l, n, digest, total);
out:
	cfs_objstore_stage_free(st);
	return r;
}

/* Find (@create: make implicit directories for) the parent of comps[n-1]. */
static int walk(struct layer *l, char **comps, size_t n, bool create, struct cfs_node **dir_out)
{
	struct cfs_node *dir = l->root;

	for (size_t i = 0; i + 1 < n; i++) {
		struct cfs_node *c = cfs_node_lookup(dir, comps[i]);

		if (c == NULL && create) {
			int r;

			c = new_dir(true);
			if (c == NULL)
				return -ENOMEM;
			r = cfs_node_add_child(dir, comps[i], c, false);
			cfs_node_unref(c);
			if (r < 0)
				return lfail(l, r, "adding directory: %s", strerror(-r));
		}
		if (c == NULL)
			return lfail(l, -EUCLEAN, "a parent directory is missing");
		if (!S_ISDIR(cfs_node_get_mode(c)))
			return lfail(l, -EUCLEAN, "a parent is not a directory");
		dir = c;
	}
	*dir_out = dir;
	return 0;
}

/* Put @node under @dir as @name, replacing an earlier entry of the same name. */
static int place(struct layer *l, struct cfs_node *dir, const char *name, struct cfs_node *node)
{
	struct cfs_dirent *de = cfs_node_find_entry(dir, name);
	int r;

	if (de == NULL) {
		r = cfs_node_add_child(dir, name, node, false);
		return r < 0 ? lfail(l, r, "adding entry: %s", strerror(-r)) : 0;
	}
	if (de->node == node)
		return 0;
	{
		/* reference the new node first: it may live only inside the entry it replaces
		 * (a hard link to a file under a directory of the same name) */
		struct cfs_node *old = de->node;

		de->node = cfs_node_ref(node);
		cfs_node_unref(old);
	}
	de->hardlink = false;
	if (S_ISDIR(cfs_node_get_mode(node)))
		node->parent = dir;
	return 0;
}

static int add_hardlink(struct layer *l, struct cfs_node *dir, const char *name, const char *target)
{
	char *comps[MAX_DEPTH], copy[4096];
	struct cfs_node *tdir, *t;
	size_t n;
	int r = split_path(l, target, copy, comps, &n);

	if (r < 0)
		return r;
	if (n == 0)
		return lfail(l, -EUCLEAN, "hard link to the root");
	t = walk(l, comps, n, false, &tdir) == 0 ? cfs_node_lookup(tdir, comps[n - 1]) : NULL;
	if (t == NULL)
		return lfail(l, -EUCLEAN, "hard link to %s, which is not earlier in this layer", target);
	if (S_ISDIR(cfs_node_get_mode(t)))
		return lfail(l, -EUCLEAN, "hard link to a directory");
	return place(l, dir, name, t);
}

static int add_entry(struct layer *l, struct archive_entry *e)
{
	char *comps[MAX_DEPTH], copy[4096];
	const char *path = archive_entry_pathname(e), *link = archive_entry_hardlink(e);
	unsigned type = archive_entry_filetype(e);
	struct cfs_node *dir, *n, *old;
	size_t nc;
	int r;

	l->path = path;
	if (path == NULL)
		return lfail(l, -EUCLEAN, "entry without a name");
	if (archive_entry_sparse_count(e) > 0)
		return lfail(l, -EUCLEAN, "sparse files are not supported (composefs-rs refuses them too)");
	/* no file data starts before what the tar reader has consumed: the rest is inline */
	r = split_flush(l, (uint64_t)archive_filter_bytes(l->inner, 0));
	if (r < 0)
		return lfail(l, r, "split stream: %s", strerror(-r));
	r = split_path(l, path, copy, comps, &nc);
	if (r < 0)
		return r;
	if (nc == 0) {
		if (type != AE_IFDIR || link != NULL)
			return lfail(l, -EUCLEAN, "the root is not a directory");
		return set_meta(l, l->root, e);
	}
	r = walk(l, comps, nc, true, &dir);
	if (r < 0)
		return r;
	if (link != NULL)
		return add_hardlink(l, dir, comps[nc - 1], link);
	old = cfs_node_lookup(dir, comps[nc - 1]);
	if (type == AE_IFDIR && old != NULL && S_ISDIR(cfs_node_get_mode(old)))
		return set_meta(l, old, e); /* the same directory again: newest metadata, same children */
	switch (type) {
	case AE_IFREG: case AE_IFDIR: case AE_IFLNK: case AE_IFCHR: case AE_IFBLK: case AE_IFIFO:
		break;
	default:
		return lfail(l, -EUCLEAN, "unsupported entry type");
	}
	n = type == AE_IFDIR ? new_dir(false) : cfs_node_new(type);
	if (n == NULL)
		return -ENOMEM;
	r = set_meta(l, n, e);
	if (r == 0 && type == AE_IFREG)
		r = read_content(l, n, archive_entry_size(e));
	if (r == 0 && type == AE_IFLNK) {
		const char *target = archive_entry_symlink(e);

		if (target == NULL || target[0] == '\0' || strlen(target) >= 4096)
			r = lfail(l, -EUCLEAN, "symbolic link without a valid target");
		else
			r = cfs_node_set_payload(n, target);
		if (r == 0)
			cfs_node_set_size(n, strlen(target));
	}
	if (r == 0 && (type == AE_IFCHR || type == AE_IFBLK)) {
		dev_t d = makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));

		if (d > UINT32_MAX)
			r = lfail(l, -EUCLEAN, "device number out of range");
		cfs_node_set_rdev(n, (uint32_t)d);
	}
	if (r == 0)
		r = place(l, dir, comps[nc - 1], n);
	cfs_node_unref(n);
	return r;
}

static void fix_counts(struct cfs_node *dir, int pass)
{
	for (size_t i = 0; i < dir->n_entries; i++) {
		struct cfs_dirent *de = &dir->entries[i];
		struct cfs_node *n = de->node;

		if (S_ISDIR(n->mode)) {
			fix_counts(n, pass);
			continue;
		}
		if (pass == 0) {
			n->scratch_u64 = 0;
		} else if (pass == 1) {
			de->hardlink = n->scratch_u64 > 0;
			n->scratch_u64++;
		} else {
			n->nlink = (uint32_t)n->scratch_u64;
		}
	}
}

void oci_tree_fix_links(struct cfs_node *root)
{
	for (int pass = 0; pass < 3; pass++)
		fix_counts(root, pass);
}

static void hex_digest(EVP_MD_CTX *md, char *out)
{
	uint8_t d[32];
	unsigned len = 0;

	EVP_DigestFinal_ex(md, d, &len);
	memcpy(out, "sha256:", 7);
	cfs_hex_encode(d, 32, out + 7);
	out[OCI_DIGEST_LEN] = '\0';
}

static int read_entries(struct layer *l)
{
	struct archive_entry *e;
	int r;

	for (;;) {
		l->path = NULL;
		r = archive_read_next_header(l->inner, &e);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
			return read_err(l);
		r = add_entry(l, e);
		if (r < 0)
			return r;
	}
}

/* Read what the tar reader left (padding after the end marker) so both digests cover everything. */
static int drain(struct layer *l)
{
	const void *buf;
	la_ssize_t n;

	while ((n = tar_read(l->inner, l, &buf)) > 0)
		;
	if (n < 0)
		return read_err(l);
	while ((n = raw_read(l->outer, l, &buf)) > 0)
		;
	return n < 0 ? read_err(l) : 0;
}

static int open_streams(struct layer *l)
{
	struct archive_entry *e;

	l->outer = archive_read_new();
	l->inner = archive_read_new();
	if (l->outer == NULL || l->inner == NULL)
		return -ENOMEM;
	/* compression is recognised by its magic, whatever the media type claims */
	if (archive_read_support_filter_gzip(l->outer) < ARCHIVE_WARN ||
	    archive_read_support_filter_zstd(l->outer) < ARCHIVE_WARN ||
	    archive_read_support_format_raw(l->outer) != ARCHIVE_OK ||
	    archive_read_support_format_tar(l->inner) != ARCHIVE_OK ||
	    archive_read_support_format_gnutar(l->inner) != ARCHIVE_OK)
		return lfail(l, -EOPNOTSUPP, "libarchive lacks gzip, zstd or tar support");
	if (archive_read_open(l->outer, l, NULL, raw_read, NULL) != ARCHIVE_OK ||
	    archive_read_next_header(l->outer, &e) != ARCHIVE_OK) {
		if (l->read_err < 0)
			return lfail(l, l->read_err, "read error: %s", strerror(-l->read_err));
		return lfail(l, -EUCLEAN, "%s", errstr(l->outer));
	}
	if (archive_read_open(l->inner, l, NULL, tar_read, NULL) != ARCHIVE_OK)
		return read_err(l);
	return 0;
}

int oci_layer_read(oci_read_fn fn, void *user, const struct oci_layer_check *chk, struct cfs_objstore *store,
		   enum cfs_hash_alg alg, struct cfs_splitstream_writer *ss, struct cfs_node **root_out,
		   char *diff_id_out, char *err, size_t errlen)
{
	struct layer *l = calloc(1, sizeof(*l));
	char raw_digest[OCI_DIGEST_LEN + 1], diff_id[OCI_DIGEST_LEN + 1];
	int r;

	if (l == NULL)
		return -ENOMEM;
	l->fn = fn;
	l->user = user;
	l->store = store;
	l->alg = alg;
	l->err = err;
	l->errlen = errlen;
	l->ss = ss;
	l->raw_md = EVP_MD_CTX_new();
	l->tar_md = EVP_MD_CTX_new();
	l->mem = malloc(MEM_MAX);
	l->root = new_dir(true);
	r = cfs_verity_ctx_new(alg, &l->vctx);
	if (r == 0 && (l->raw_md == NULL || l->tar_md == NULL || l->mem == NULL || l->root == NULL))
		r = -ENOMEM;
	if (r == 0 && (EVP_DigestInit_ex(l->raw_md, EVP_sha256(), NULL) != 1 ||
		       EVP_DigestInit_ex(l->tar_md, EVP_sha256(), NULL) != 1))
		r = -ENOMEM;
	if (r == 0)
		r = open_streams(l);
	if (r == 0)
		r = read_entries(l);
	l->path = NULL;
	if (r == 0)
		r = drain(l);
	if (r == 0 && ss != NULL) {
		r = split_flush(l, l->pos);
		if (r == 0 && (l->pend_n != 0 || cfs_splitstream_writer_size(ss) != l->pos))
			r = -EUCLEAN;
		if (r < 0)
			r = lfail(l, r, "split stream: %s", strerror(-r));
	}
	if (r == 0) {
		hex_digest(l->raw_md, raw_digest);
		hex_digest(l->tar_md, diff_id);
		if (chk != NULL && chk->size >= 0 && (uint64_t)chk->size != l->raw_bytes)
			r = cfs_errbuf_set(err, errlen, -CFS_EDIGEST, "size is %llu bytes, expected %lld",
				     (unsigned long long)l->raw_bytes, (long long)chk->size);
		else if (chk != NULL && chk->digest != NULL && strcmp(chk->digest, raw_digest) != 0)
			r = cfs_errbuf_set(err, errlen, -CFS_EDIGEST, "content has digest %s", raw_digest);
		else if (chk != NULL && chk->diff_id != NULL && strcmp(chk->diff_id, diff_id) != 0)
			r = cfs_errbuf_set(err, errlen, -CFS_EDIGEST, "uncompressed content has digest %s, expected diff_id %s",
				     diff_id, chk->diff_id);
	}
	if (r == 0) {
		oci_tree_fix_links(l->root);
		if (diff_id_out != NULL)
			memcpy(diff_id_out, diff_id, OCI_DIGEST_LEN + 1);
		*root_out = l->root;
		l->root = NULL;
	}
	if (l->inner != NULL)
		archive_read_free(l->inner);
	if (l->outer != NULL)
		archive_read_free(l->outer);
	cfs_node_unref(l->root);
	cfs_verity_ctx_free(l->vctx);
	EVP_MD_CTX_free(l->raw_md);
	EVP_MD_CTX_free(l->tar_md);
	free(l->mem);
	free(l->pend);
	free(l);
	return r;
}

int oci_layer_from_stream(struct cfs_splitstream *s, enum cfs_hash_alg alg, struct cfs_node **root_out, char *err,
			  size_t errlen)
{
	struct layer *l = calloc(1, sizeof(*l));
	int r = 0;

	if (l == NULL)
		return -ENOMEM;
	l->src = s;
	l->alg = alg;
	l->err = err;
	l->errlen = errlen;
	l->mem = malloc(MEM_MAX);
	l->root = new_dir(true);
	l->inner = archive_read_new();
	if (l->mem == NULL || l->root == NULL || l->inner == NULL)
		r = -ENOMEM;
	if (r == 0 && cfs_splitstream_content_type(s) != CFS_SPLITSTREAM_CT_OCI_LAYER)
		r = lfail(l, -EUCLEAN, "split stream: not a layer");
	if (r == 0 && (archive_read_support_format_tar(l->inner) != ARCHIVE_OK ||
		       archive_read_support_format_gnutar(l->inner) != ARCHIVE_OK))
		r = lfail(l, -EOPNOTSUPP, "libarchive lacks tar support");
	if (r == 0) {
		archive_read_set_read_callback(l->inner, src_read);
		archive_read_set_skip_callback(l->inner, src_skip);
		archive_read_set_callback_data(l->inner, l);
		if (archive_read_open1(l->inner) != ARCHIVE_OK)
			r = read_err(l);
	}
	if (r == 0)
		r = read_entries(l);
	l->path = NULL;
	if (r == 0) {
		/* what follows the end marker: inline bytes only */
		const void *buf;
		la_ssize_t n;

		while ((n = src_read(l->inner, l, &buf)) > 0)
			;
		if (n < 0)
			r = read_err(l);
	}
	if (r == 0 && l->pos != cfs_splitstream_stream_size(s))
		r = lfail(l, -EUCLEAN, "split stream: %llu bytes, its header says %llu", (unsigned long long)l->pos,
			  (unsigned long long)cfs_splitstream_stream_size(s));
	if (r == 0) {
		oci_tree_fix_links(l->root);
		*root_out = l->root;
		l->root = NULL;
	}
	if (l->inner != NULL)
		archive_read_free(l->inner);
	cfs_node_unref(l->root);
	free(l->mem);
	free(l);
	return r;
}
