/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Pull: an image of a served repository, its signatures and its objects into a local repository. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <composefs/fetch.h>
#include <composefs/repo.h>
#include <composefs/sign.h>
#include <composefs/store.h>

#include "objstore-private.h"
#include "pull-private.h"
#include "repo-private.h"
#include "util.h"

#define META_MAX (64 * 1024)
/*
 * Publish what arrived every so often, so an interrupted pull keeps most of its work; on a
 * thread of its own, so downloading goes on while the filesystem writes the batch out.
 */
#define SYNC_EVERY_OBJECTS 4096
#define SYNC_EVERY_BYTES (512ull << 20)
#define SYNC_EVERY_SECONDS 2.0

struct sig {
	struct cfs_sig_name name;
	uint8_t *buf;
	size_t len;
};

struct pull {
	struct cfs_repo *repo;
	struct cfs_objstore *store;
	struct cfs_fetch *f;
	const struct cfs_pull_opts *o;
	struct cfs_pull_stats *st;
	size_t dsize;
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	char hex[2 * CFS_VERITY_MAX_DIGEST + 1];
	struct sig *sigs;
	size_t n_sigs;
	uint64_t bytes_at_sync;
	double time_at_sync;
	char *err;

	/* publishes batches while the downloads go on */
	struct cfs_objstore_syncer *syncer;
	int sync_err; /* the first sync error */
	size_t errlen;
};

static int pfail(struct pull *p, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int pfail(struct pull *p, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	err = cfs_errbuf_vset(p->err, p->errlen, err, fmt, ap);
	va_end(ap);
	return err;
}

void cfs_pull_opts_init(struct cfs_pull_opts *o)
{
	memset(o, 0, sizeof(*o));
}

static int cmp_name(const void *a, const void *b)
{
	return strcmp(((const struct cfs_sig_name *)a)->hex, ((const struct cfs_sig_name *)b)->hex);
}

int cfs_pull_parse_sig_index(const char *buf, size_t len, struct cfs_sig_name **out, size_t *n_out)
{
	struct cfs_sig_name *v = NULL;
	size_t n = 0, kept = 0;

	*out = NULL;
	*n_out = 0;
	for (size_t i = 0; i < len;) {
		const char *line = buf + i;
		const char *nl = memchr(line, '\n', len - i);
		size_t ll = nl != NULL ? (size_t)(nl - line) : len - i;

		if (ll != 64 || strspn(line, "0123456789abcdef") < 64 || n == CFS_PULL_SIG_MAX_COUNT) {
			free(v);
			return -EBADMSG;
		}
		if (v == NULL && (v = calloc(CFS_PULL_SIG_MAX_COUNT, sizeof(*v))) == NULL)
			return -ENOMEM;
		memcpy(v[n].hex, line, 64);
		v[n].hex[64] = '\0';
		n++;
		i += ll + (nl != NULL);
	}
	if (n == 0)
		return 0;
	qsort(v, n, sizeof(*v), cmp_name);
	for (size_t i = 0; i < n; i++)
		if (kept == 0 || strcmp(v[kept - 1].hex, v[i].hex) != 0)
			v[kept++] = v[i];
	*out = v;
	*n_out = kept;
	return 0;
}

/* The server's meta.json, when it has one, must describe a repository we can read objects from. */
static int check_meta(struct pull *p)
{
	struct cfs_repo_meta m;
	uint8_t *buf = NULL;
	size_t len = 0;
	char err[256] = "";
	int r;

	r = cfs_fetch_file(p->f, "meta.json", META_MAX, &buf, &len, NULL);
	if (r == -ENOENT)
		return 0; /* made by an older composefs-rs: the digests' length will tell */
	if (r < 0)
		return pfail(p, r, "%s", cfs_fetch_errmsg(p->f));
	r = cfs_repo_meta_parse((const char *)buf, len, &m, err, sizeof(err));
	free(buf);
	if (r < 0)
		return pfail(p, -EPROTO, "served repository: %s", err[0] ? err : "unreadable meta.json");
	if (m.version > CFS_REPO_FORMAT_VERSION)
		return pfail(p, -EPROTO, "served repository: format version %u is newer than this tool's (%d)",
			     m.version, CFS_REPO_FORMAT_VERSION);
	if (m.unknown_incompat[0])
		return pfail(p, -EPROTO, "served repository: unsupported incompatible feature \"%s\"", m.unknown_incompat);
	if (m.alg != cfs_repo_hash_alg(p->repo))
		return pfail(p, -EPROTO, "served repository uses fs-verity %s, this one %s", cfs_hash_alg_name(m.alg),
			     cfs_hash_alg_name(cfs_repo_hash_alg(p->repo)));
	return 0;
}

static void free_sigs(struct pull *p)
{
	for (size_t i = 0; i < p->n_sigs; i++)
		free(p->sigs[i].buf);
	free(p->sigs);
	p->sigs = NULL;
	p->n_sigs = 0;
}

/* signatures/<hex>/index, then each file it names, kept when its SHA-256 is its name. */
static int fetch_signatures(struct pull *p)
{
	_cleanup_free_ struct cfs_sig_name *names = NULL;
	char path[64 + 2 * CFS_VERITY_MAX_DIGEST + 80];
	uint8_t *buf = NULL;
	size_t len = 0, n = 0;
	int r;

	snprintf(path, sizeof(path), "signatures/%s/index", p->hex);
	r = cfs_fetch_file(p->f, path, CFS_PULL_SIG_INDEX_MAX, &buf, &len, NULL);
	if (r == -ENOENT)
		return 0; /* unsigned */
	if (r < 0)
		return pfail(p, r, "%s", cfs_fetch_errmsg(p->f));
	r = cfs_pull_parse_sig_index((const char *)buf, len, &names, &n);
	free(buf);
	if (r < 0)
		return pfail(p, r == -ENOMEM ? r : -EPROTO, "%s: not a signature index", path);
	p->sigs = calloc(n + 1, sizeof(*p->sigs));
	if (p->sigs == NULL)
		return pfail(p, -ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		uint8_t md[32];
		char hex[65];

		snprintf(path, sizeof(path), "signatures/%s/%s", p->hex, names[i].hex);
		r = cfs_fetch_file(p->f, path, CFS_SIGN_MAX_SIZE, &buf, &len, NULL);
		if (r == -ENOENT || r == -EFBIG) {
			p->st->signatures_bad++;
			continue;
		}
		if (r < 0)
			return pfail(p, r, "%s", cfs_fetch_errmsg(p->f));
		if (EVP_Digest(buf, len, md, NULL, EVP_sha256(), NULL) != 1) {
			free(buf);
			return pfail(p, -EIO, "SHA-256 unavailable");
		}
		cfs_hex_encode(md, sizeof(md), hex);
		if (strcmp(hex, names[i].hex) != 0) {
			free(buf);
			p->st->signatures_bad++;
			continue;
		}
		p->sigs[p->n_sigs].name = names[i];
		p->sigs[p->n_sigs].buf = buf;
		p->sigs[p->n_sigs].len = len;
		p->n_sigs++;
		p->st->signatures++;
	}
	return 0;
}

static int check_trust(struct pull *p)
{
	enum cfs_hash_alg alg = cfs_repo_hash_alg(p->repo);

	for (size_t i = 0; i < p->n_sigs; i++)
		if (cfs_trust_verify(p->o->trust, alg, p->digest, p->sigs[i].buf, p->sigs[i].len) == 0)
			p->st->signatures_trusted++;
	if (p->st->signatures_trusted > 0)
		return 0;
	if (p->n_sigs == 0)
		return pfail(p, -EPERM, "image %s has no signature on the server (%llu listed ones unusable)", p->hex,
			     (unsigned long long)p->st->signatures_bad);
	return pfail(p, -EPERM, "none of the %zu signatures of image %s is trusted", p->n_sigs, p->hex);
}

static void on_object(void *user, const uint8_t *digest, int status, const char *detail)
{
	struct pull *p = user;
	struct cfs_fetch_progress fp;

	if (status != 0) {
		p->st->objects_failed++;
		if (p->o->failed != NULL)
			p->o->failed(p->o->user, digest, status, detail);
		return;
	}
	if (strcmp(detail, "already present") == 0) {
		p->st->objects_present++; /* stored meanwhile by someone else */
		return;
	}
	p->st->objects_fetched++;
	cfs_fetch_get_progress(p->f, &fp);
	if (cfs_objstore_n_staged(p->store) >= SYNC_EVERY_OBJECTS || fp.bytes - p->bytes_at_sync >= SYNC_EVERY_BYTES ||
	    fp.seconds - p->time_at_sync >= SYNC_EVERY_SECONDS) {
		p->bytes_at_sync = fp.bytes;
		p->time_at_sync = fp.seconds;
		cfs_objstore_syncer_kick(p->syncer);
	}
}

/* Queue every object of the image that the repository lacks, then run. */
static int fetch_objects(struct pull *p, int image_fd)
{
	struct cfs_digest_set set;
	char err[256] = "";
	int r;

	cfs_digest_set_init(&set, p->dsize);
	r = cfs_repo_collect_image_objects_flags(p->repo, image_fd, &set, CFS_REPO_COLLECT_STRICT, err, sizeof(err));
	if (r < 0) {
		cfs_digest_set_clear(&set);
		if (r == -EINVAL)
			return pfail(p, r, "image %s: of another algorithm: %s", p->hex, err);
		return pfail(p, r, "image %s: not a valid composefs image: %s", p->hex, err[0] ? err : strerror(-r));
	}
	cfs_digest_set_finish(&set);
	p->st->objects = set.n;
	/* those present are told apart when their turn comes (on_object(), "already present") */
	for (size_t i = 0; i < set.n && r == 0; i++)
		r = cfs_fetch_queue_object(p->f, p->store, set.v + i * p->dsize, on_object, p);
	cfs_digest_set_clear(&set);
	if (r < 0)
		return pfail(p, r, "queueing objects: %s", strerror(-r));
	r = cfs_objstore_syncer_new(p->store, &p->syncer);
	if (r < 0)
		return pfail(p, r, "starting the publisher: %s", strerror(-r));
	r = cfs_fetch_run(p->f);
	p->sync_err = cfs_objstore_syncer_free(p->syncer); /* waits for a sync under way */
	p->syncer = NULL;
	if (r < 0 && r != -EIO)
		return pfail(p, r, "%s", cfs_fetch_errmsg(p->f));
	if (p->sync_err == 0)
		p->sync_err = cfs_objstore_sync(p->store);
	if (p->sync_err < 0)
		return pfail(p, p->sync_err, "storing objects: %s", strerror(-p->sync_err));
	if (p->st->objects_failed > 0)
		return pfail(p, -EIO, "%llu of %llu objects of image %s could not be fetched",
			     (unsigned long long)p->st->objects_failed, (unsigned long long)p->st->objects, p->hex);
	return 0;
}

/* The digest @ref stands for, fetching the image on the way when the server follows its symlinks. */
static int resolve_ref(struct pull *p, const char *ref, bool *by_digest)
{
	char path[1100];
	bool stored = false;
	int r;

	*by_digest = cfs_repo_digest_parse(p->repo, ref, p->digest) == 0;
	if (*by_digest)
		return 0;
	if (strncmp(ref, "refs/", 5) == 0)
		ref += 5;
	if (!cfs_repo_ref_name_valid(ref))
		return pfail(p, -EINVAL, "\"%s\" is neither a digest nor a valid name", ref);
	snprintf(path, sizeof(path), "images/refs/%s", ref);
	r = cfs_fetch_resolve(p->f, p->store, path, p->digest, &stored);
	if (r == -ENOENT)
		return pfail(p, r, "the server has no image named \"%s\"", ref);
	if (r == -EBADMSG)
		return pfail(p, -EPROTO, "images/refs/%s: the link names no %s object", ref,
			     cfs_hash_alg_name(cfs_repo_hash_alg(p->repo)));
	if (r < 0)
		return pfail(p, r, "%s", cfs_fetch_errmsg(p->f));
	p->st->image_fetched = stored;
	return 0;
}

static int get_image(struct pull *p, int *fd_out)
{
	int r = cfs_objstore_has(p->store, p->digest);

	if (r == 0) {
		r = cfs_fetch_object(p->f, p->store, p->digest);
		if (r == -ENOENT)
			return pfail(p, r, "the server has no image %s", p->hex);
		if (r < 0)
			return pfail(p, r, "image: %s", cfs_fetch_errmsg(p->f));
		p->st->image_fetched = true;
	}
	if (r < 0)
		return pfail(p, r, "image %s: %s", p->hex, strerror(-r));
	r = cfs_objstore_open_object(p->store, p->digest, fd_out);
	if (r < 0)
		return pfail(p, r, "image %s: %s", p->hex, strerror(-r));
	return 0;
}

/* Objects are durable: store the signatures, then publish and name the image. */
static int publish(struct pull *p, int image_fd, const char *name)
{
	uint8_t got[CFS_VERITY_MAX_DIGEST];
	char err[256] = "";
	int r;

	for (size_t i = 0; i < p->n_sigs; i++) {
		r = cfs_repo_signature_add(p->repo, p->digest, p->sigs[i].buf, p->sigs[i].len, NULL, err, sizeof(err));
		if (r < 0)
			return pfail(p, r, "storing signature %s: %s", p->sigs[i].name.hex, err);
	}
	r = cfs_repo_import_image_fd(p->repo, image_fd, name, got);
	if (r < 0)
		return pfail(p, r, "%s", cfs_repo_errmsg(p->repo));
	if (memcmp(got, p->digest, p->dsize) != 0)
		return pfail(p, -CFS_EDIGEST, "image %s in the repository does not have its digest (run fsck)", p->hex);
	return 0;
}

static int check_opts(const struct cfs_pull_opts *o)
{
	if ((o->flags & ~(CFS_PULL_REQUIRE_SIGNATURE | CFS_PULL_IMAGE_ONLY)) != 0)
		return -EINVAL;
	if ((o->flags & CFS_PULL_REQUIRE_SIGNATURE) && o->trust == NULL)
		return -EINVAL;
	for (size_t i = 0; i < sizeof(o->reserved) / sizeof(o->reserved[0]); i++)
		if (o->reserved[i] != 0)
			return -EINVAL;
	if (o->name != NULL && !cfs_repo_ref_name_valid(o->name))
		return -EINVAL;
	return 0;
}

static int pull(struct pull *p, const char *ref)
{
	_cleanup_close_ int fd = -1;
	bool by_digest;
	const char *why = NULL;
	int r;

	if (check_opts(p->o) < 0)
		return pfail(p, -EINVAL, "invalid pull options (flags, reserved fields, trust or name)");
	if (!cfs_repo_writable(p->repo, &why))
		return pfail(p, -EROFS, "repository is read-only: %s", why != NULL ? why : "opened read-only");
	r = check_meta(p);
	if (r == 0)
		r = resolve_ref(p, ref, &by_digest);
	if (r < 0)
		return r;
	p->st->by_digest = by_digest;
	cfs_repo_digest_hex(p->repo, p->digest, p->hex);
	r = fetch_signatures(p);
	if (r == 0 && (p->o->flags & CFS_PULL_REQUIRE_SIGNATURE))
		r = check_trust(p);
	if (r == 0)
		r = get_image(p, &fd);
	if (r == 0 && !(p->o->flags & CFS_PULL_IMAGE_ONLY))
		r = fetch_objects(p, fd);
	if (r < 0)
		return r;
	if (p->o->name != NULL)
		return publish(p, fd, p->o->name);
	if (by_digest)
		return publish(p, fd, p->hex);
	return publish(p, fd, strncmp(ref, "refs/", 5) == 0 ? ref + 5 : ref);
}

int cfs_repo_pull(struct cfs_repo *repo, struct cfs_fetch *f, const char *ref, const struct cfs_pull_opts *o,
		  uint8_t *digest_out, struct cfs_pull_stats *stats, char *errbuf, size_t errlen)
{
	struct cfs_pull_opts def;
	struct cfs_pull_stats dummy;
	struct cfs_fetch_progress before, after;
	struct pull p = {
		.repo = repo,
		.store = cfs_repo_objstore(repo),
		.f = f,
		.o = o,
		.st = stats != NULL ? stats : &dummy,
		.dsize = cfs_repo_digest_size(repo),
		.err = errbuf,
		.errlen = errlen,
	};
	int r;

	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if (o == NULL) {
		cfs_pull_opts_init(&def);
		p.o = &def;
	}
	memset(p.st, 0, sizeof(*p.st));
	cfs_fetch_get_progress(f, &before);
	if (p.store == NULL)
		r = pfail(&p, -EROFS, "repository has no object store");
	else
		r = pull(&p, ref);
	cfs_fetch_get_progress(f, &after);
	p.st->bytes = after.bytes - before.bytes;
	p.st->retries = after.retries - before.retries;
	p.st->seconds = after.seconds - before.seconds;
	if (r == 0 && digest_out != NULL)
		memcpy(digest_out, p.digest, p.dsize);
	free_sigs(&p);
	return r;
}
