/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Layer split streams read back: the tar re-created (cat-layer) and checked against its diff_id (fsck). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <composefs/objects.h>
#include <composefs/oci.h>
#include <composefs/repo.h>

#include "oci-meta.h"
#include "oci-private.h"
#include "splitstream.h"
#include "util.h"

#define IOBUF (1u << 20)

void oci_tag_ref(const char *name, bool manifest, char *buf, size_t len)
{
	size_t pos = (size_t)snprintf(buf, len, "%s", manifest ? "oci/" : "oci-config/");

	/* composefs-rs' encode_tag(): '%' first, then '/' */
	for (const char *c = name; *c != '\0' && pos + 4 < len; c++) {
		if (*c == '%' || *c == '/')
			pos += (size_t)snprintf(buf + pos, len - pos, "%%%s", *c == '%' ? "25" : "2F");
		else
			buf[pos++] = *c;
	}
	buf[pos < len ? pos : len - 1] = '\0';
}

/* The split stream object @digest, read whole and checked against its digest. */
int oci_stream_load(struct cfs_repo *repo, const uint8_t *digest, uint8_t **buf, size_t *len, char *msg,
		    size_t msglen)
{
	uint8_t actual[CFS_VERITY_MAX_DIGEST];
	char hex[2 * CFS_VERITY_MAX_DIGEST + 1];
	int fd = -1, r = cfs_objstore_open_object(cfs_repo_objstore(repo), digest, &fd);
	off_t size;

	cfs_repo_digest_hex(repo, digest, hex);
	if (r < 0)
		return cfs_errbuf_set(msg, msglen, r, "its split stream object %s is %s", hex,
				r == -ENOENT ? "missing" : strerror(-r));
	size = lseek(fd, 0, SEEK_END);
	if (size < 0 || (uint64_t)size > CFS_SPLITSTREAM_FILE_MAX) {
		close(fd);
		return cfs_errbuf_set(msg, msglen, size < 0 ? -EIO : -EFBIG, "split stream object %s: unreadable or too large",
				hex);
	}
	*buf = malloc(size ? (size_t)size : 1);
	*len = (size_t)size;
	r = *buf == NULL ? -ENOMEM : (int)cfs_pread_full(fd, *buf, (size_t)size, 0);
	close(fd);
	if (r >= 0 && (size_t)r != *len)
		r = -EIO;
	if (r >= 0)
		r = cfs_verity_digest_buf(cfs_repo_hash_alg(repo), *buf, *len, actual);
	if (r >= 0 && memcmp(actual, digest, cfs_repo_digest_size(repo)) != 0)
		r = cfs_errbuf_set(msg, msglen, -CFS_EDIGEST, "split stream object %s does not match its digest", hex);
	else if (r < 0)
		r = cfs_errbuf_set(msg, msglen, r, "split stream object %s: %s", hex, strerror(-r));
	if (r < 0) {
		free(*buf);
		*buf = NULL;
		return r;
	}
	return 0;
}

int oci_stream_objects_present(struct cfs_objstore *store, const struct cfs_splitstream *s, unsigned threads,
			       size_t *missing)
{
	size_t n = cfs_splitstream_n_objects(s);

	/* the object refs are one array of digests */
	return n == 0 ? 0 : cfs_objstore_has_all(store, cfs_splitstream_object(s, 0), n, threads, missing);
}

struct sink {
	int fd;              /* -1: only hashed */
	EVP_MD_CTX *md;
	uint64_t total;
};

static int sink_put(struct sink *k, const void *buf, size_t len, char *msg, size_t msglen)
{
	EVP_DigestUpdate(k->md, buf, len);
	k->total += len;
	if (k->fd >= 0) {
		int r = cfs_write_full(k->fd, buf, len);

		if (r < 0)
			return cfs_errbuf_set(msg, msglen, r, "writing the tar: %s", strerror(-r));
	}
	return 0;
}

/* The content of object @digest (every block verified) into @k. */
static int copy_object(struct cfs_repo *repo, struct cfs_objects *objs, const uint8_t *digest, uint8_t *io,
		       struct sink *k, char *msg, size_t msglen)
{
	char hex[2 * CFS_VERITY_MAX_DIGEST + 1];
	struct cfs_object *o = NULL;
	uint64_t off = 0;
	int r = cfs_objects_open_digest(objs, digest, &o);

	cfs_repo_digest_hex(repo, digest, hex);
	if (r < 0)
		return cfs_errbuf_set(msg, msglen, r, "object %s: %s", hex,
				r == -ENOENT ? "missing" : r == -CFS_EDIGEST ? "content does not match its digest" : strerror(-r));
	for (;;) {
		ssize_t n = cfs_object_pread(o, io, IOBUF, off);

		if (n < 0) {
			r = cfs_errbuf_set(msg, msglen, (int)n, "object %s: %s", hex,
				     n == -CFS_EDIGEST ? "content does not match its digest" : strerror((int)-n));
			break;
		}
		if (n == 0)
			break;
		r = sink_put(k, io, (size_t)n, msg, msglen);
		if (r < 0)
			break;
		off += (uint64_t)n;
	}
	cfs_object_close(o);
	return r;
}

/* Re-create the tar of layer @diff_id into @out_fd (-1: none) and check it against the diff_id. */
static int layer_reassemble(struct cfs_repo *repo, struct cfs_objects *objs, const char *diff_id, int out_fd,
			    char *msg, size_t msglen)
{
	struct cfs_splitstream *s = NULL;
	struct cfs_splitstream_chunk c;
	struct sink k = { .fd = out_fd };
	uint8_t digest[CFS_VERITY_MAX_DIGEST], *buf = NULL, *io = NULL, md[32];
	char name[128], err[256] = "", actual[OCI_DIGEST_LEN + 1];
	unsigned mdlen = 0;
	size_t len = 0;
	int r;

	snprintf(name, sizeof(name), CFS_OCI_LAYER_STREAM_PREFIX "%s", diff_id);
	r = cfs_repo_stream_get(repo, name, digest);
	if (r < 0)
		return cfs_errbuf_set(msg, msglen, r, "%s", r == -ENOENT ? "no split stream (pulled by an older version?)"
								      : cfs_repo_errmsg(repo));
	r = oci_stream_load(repo, digest, &buf, &len, msg, msglen);
	if (r < 0)
		return r;
	r = cfs_splitstream_open_mem(buf, len, cfs_repo_hash_alg(repo), CFS_SPLITSTREAM_CT_OCI_LAYER, &s, err,
				     sizeof(err));
	if (r < 0) {
		free(buf);
		return cfs_errbuf_set(msg, msglen, r, "split stream: %s", err);
	}
	k.md = EVP_MD_CTX_new();
	io = malloc(IOBUF);
	if (k.md == NULL || io == NULL || EVP_DigestInit_ex(k.md, EVP_sha256(), NULL) != 1)
		r = -ENOMEM;
	while (r == 0 && (r = cfs_splitstream_next(s, &c, err, sizeof(err))) == 1) {
		if (c.external)
			r = copy_object(repo, objs, c.digest, io, &k, msg, msglen);
		else
			r = sink_put(&k, c.data, c.len, msg, msglen);
	}
	if (r < 0 && err[0] != '\0')
		r = cfs_errbuf_set(msg, msglen, r, "split stream: %s", err);
	if (r == 0 && k.total != cfs_splitstream_stream_size(s))
		r = cfs_errbuf_set(msg, msglen, -EUCLEAN, "re-created tar has %llu bytes, the split stream says %llu",
			     (unsigned long long)k.total, (unsigned long long)cfs_splitstream_stream_size(s));
	if (r == 0) {
		EVP_DigestFinal_ex(k.md, md, &mdlen);
		memcpy(actual, "sha256:", 7);
		cfs_hex_encode(md, 32, actual + 7);
		actual[OCI_DIGEST_LEN] = '\0';
		if (strcmp(actual, diff_id) != 0)
			r = cfs_errbuf_set(msg, msglen, -CFS_EDIGEST, "re-created tar has digest %s", actual);
	}
	EVP_MD_CTX_free(k.md);
	free(io);
	cfs_splitstream_free(s);
	free(buf);
	return r;
}

static int objects_new(struct cfs_repo *repo, struct cfs_objects **out)
{
	struct cfs_objects_opts o;
	int fd = cfs_objstore_get_dirfd(cfs_repo_objstore(repo));

	cfs_objects_opts_init(&o);
	o.alg = cfs_repo_hash_alg(repo);
	o.tree_mem = 16u << 20;
	return cfs_objects_new(&fd, 1, &o, out);
}

int cfs_oci_layer_cat(struct cfs_repo *repo, const char *diff_id, int out_fd, char *errbuf, size_t errlen)
{
	struct cfs_objects *objs = NULL;
	char msg[512] = "";
	int r;

	if (diff_id == NULL || !oci_digest_valid(diff_id))
		return cfs_errbuf_set(errbuf, errlen, -EINVAL, "invalid diff_id \"%s\"", diff_id ? diff_id : "");
	if (cfs_repo_objstore(repo) == NULL)
		return cfs_errbuf_set(errbuf, errlen, -ENOENT, "the repository has no objects");
	r = objects_new(repo, &objs);
	if (r == 0)
		r = layer_reassemble(repo, objs, diff_id, out_fd, msg, sizeof(msg));
	cfs_objects_free(objs);
	return r < 0 ? cfs_errbuf_set(errbuf, errlen, r, "layer %s: %s", diff_id, msg[0] ? msg : strerror(-r)) : 0;
}

struct fsck {
	struct cfs_repo *repo;
	struct cfs_objects *objs;
	cfs_oci_fsck_fn fn;
	void *user;
	struct cfs_oci_fsck_stats *st;
	char **seen;
	size_t n_seen;
};

static int fsck_image(void *user, const struct cfs_oci_image_info *info)
{
	struct fsck *f = user;

	for (size_t i = 0; i < info->n_layers; i++) {
		const char *d = info->diff_ids[i];
		char msg[512] = "";
		bool dup = false;
		int r;

		for (size_t j = 0; j < f->n_seen && !dup; j++)
			dup = strcmp(f->seen[j], d) == 0;
		if (dup)
			continue;
		{
			char **v = realloc(f->seen, (f->n_seen + 1) * sizeof(*v));

			if (v == NULL)
				return -ENOMEM;
			f->seen = v;
			if ((v[f->n_seen] = strdup(d)) == NULL)
				return -ENOMEM;
			f->n_seen++;
		}
		r = layer_reassemble(f->repo, f->objs, d, -1, msg, sizeof(msg));
		if (r == -ENOMEM)
			return r;
		f->st->layers_checked++;
		if (r < 0)
			f->st->layers_bad++;
		if (f->fn != NULL) {
			r = f->fn(f->user, info->name, d, r, r < 0 ? msg : "ok");
			if (r != 0)
				return r;
		}
	}
	f->st->images_checked++;
	return 0;
}

int cfs_oci_fsck(struct cfs_repo *repo, const char *name, cfs_oci_fsck_fn fn, void *user,
		 struct cfs_oci_fsck_stats *stats, char *errbuf, size_t errlen)
{
	struct cfs_oci_fsck_stats local;
	struct fsck f = { .repo = repo, .fn = fn, .user = user, .st = stats ? stats : &local };
	int r;

	memset(f.st, 0, sizeof(*f.st));
	if (cfs_repo_objstore(repo) == NULL)
		return cfs_errbuf_set(errbuf, errlen, -ENOENT, "the repository has no objects");
	r = objects_new(repo, &f.objs);
	if (r < 0)
		return cfs_errbuf_set(errbuf, errlen, r, "%s", strerror(-r));
	if (name != NULL)
		r = cfs_oci_image_get(repo, name, fsck_image, &f, errbuf, errlen);
	else
		r = cfs_oci_list_images(repo, fsck_image, &f, errbuf, errlen);
	if (r == -ENOMEM)
		r = cfs_errbuf_set(errbuf, errlen, r, "out of memory");
	for (size_t i = 0; i < f.n_seen; i++)
		free(f.seen[i]);
	free(f.seen);
	cfs_objects_free(f.objs);
	return r;
}
