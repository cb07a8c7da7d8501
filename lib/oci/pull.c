/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* cfs_oci_pull(): resolve an image in its source, import (or reuse) each layer, merge, name. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include <composefs/image.h>
#include <composefs/oci.h>
#include <composefs/repo.h>

#include "oci-meta.h"
#include "oci-private.h"
#include "splitstream.h"
#include "util.h"
#include "workq.h"

struct pull {
	struct cfs_repo *repo;
	struct oci_source *src;
	const struct cfs_oci_pull_opts *o;
	char *err;
	size_t errlen;
	char manifest_digest[OCI_DIGEST_LEN + 1];
	char config_digest[OCI_DIGEST_LEN + 1];
	size_t n_layers;
	char **layer_paths;        /* where each layer is in the source */
	char **layer_digests;      /* its digest, NULL when the source does not say */
	int64_t *layer_sizes;      /* -1 when unknown */
	char **diff_ids;
	uint8_t *layer_streams;    /* the split stream of each layer (digest size each) */
	char *manifest_json, *config_json; /* as read (the manifest NULL for docker-archive) */
	size_t manifest_len, config_len;
};

void cfs_oci_pull_opts_init(struct cfs_oci_pull_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->retries = 4;
	o->retry_delay_ms = 250;
	o->timeout_ms = 30000;
}

/* A JSON blob of the layout, checked against its descriptor. */
static int read_json_blob(struct pull *p, const char *digest, uint64_t size, char **buf, size_t *len)
{
	char path[128], actual[OCI_DIGEST_LEN + 1], msg[256] = "";
	int r;

	if (size > OCI_JSON_MAX)
		return cfs_errbuf_set(p->err, p->errlen, -EFBIG, "blob %s: %llu bytes, more than a document may have", digest,
				(unsigned long long)size);
	oci_blob_path(digest, path, sizeof(path));
	r = oci_source_read_file(p->src, path, OCI_JSON_MAX, buf, len, msg, sizeof(msg));
	if (r < 0)
		return cfs_errbuf_set(p->err, p->errlen, r, "blob %s: %s", digest, msg);
	oci_sha256_digest(*buf, *len, actual);
	if (strcmp(actual, digest) != 0 || *len != size) {
		free(*buf);
		*buf = NULL;
		return cfs_errbuf_set(p->err, p->errlen, -CFS_EDIGEST, "blob %s: content has digest %s and %zu bytes, expected %llu",
				digest, actual, *len, (unsigned long long)size);
	}
	return 0;
}

static int alloc_layers(struct pull *p, size_t n)
{
	p->n_layers = n;
	p->layer_paths = calloc(n ? n : 1, sizeof(char *));
	p->layer_digests = calloc(n ? n : 1, sizeof(char *));
	p->layer_sizes = calloc(n ? n : 1, sizeof(int64_t));
	p->layer_streams = calloc(n ? n : 1, CFS_VERITY_MAX_DIGEST);
	return p->layer_paths && p->layer_digests && p->layer_sizes && p->layer_streams ? 0 : -ENOMEM;
}

static int read_config(struct pull *p, const char *buf, size_t len, size_t n_layers)
{
	char msg[256] = "";
	size_t n = 0;
	int r = oci_config_parse(buf, len, &p->diff_ids, &n, msg, sizeof(msg));

	if (r < 0)
		return cfs_errbuf_set(p->err, p->errlen, -EUCLEAN, "config %s: %s", p->config_digest, msg);
	if (n != n_layers) {
		oci_strv_free(p->diff_ids, n);
		p->diff_ids = NULL;
		return cfs_errbuf_set(p->err, p->errlen, -EUCLEAN, "config %s: %zu diff_ids for %zu layers", p->config_digest, n,
				n_layers);
	}
	return 0;
}

/* The manifest's descriptor in index.json: the one tagged @tag, or the only one. */
static int pick_top(struct pull *p, const struct oci_doc *idx, size_t *which)
{
	const char *tag = oci_source_tag(p->src);

	for (size_t i = 0; tag != NULL && i < idx->n_descs; i++) {
		if (idx->descs[i].ref_name != NULL && strcmp(idx->descs[i].ref_name, tag) == 0) {
			*which = i;
			return 0;
		}
	}
	if (tag != NULL)
		return cfs_errbuf_set(p->err, p->errlen, -ENOENT, "index.json: no image tagged %s", tag);
	if (idx->n_descs != 1)
		return cfs_errbuf_set(p->err, p->errlen, -ENOENT, "index.json holds %zu images: name one with :TAG",
				idx->n_descs);
	*which = 0;
	return 0;
}

/*
 * The image manifest @doc (@digest) is the one to pull: its layers, then its config, read and
 * kept (with the manifest's bytes, already in p->manifest_json) for their split streams.
 */
static int take_manifest(struct pull *p, const char *digest, const struct oci_doc *doc)
{
	char *buf = NULL;
	size_t len;
	int r;

	memcpy(p->manifest_digest, digest, sizeof(p->manifest_digest));
	memcpy(p->config_digest, doc->config.digest, sizeof(p->config_digest));
	r = alloc_layers(p, doc->n_descs);
	for (size_t i = 0; r == 0 && i < doc->n_descs; i++) {
		char path[128];

		oci_blob_path(doc->descs[i].digest, path, sizeof(path));
		p->layer_paths[i] = strdup(path);
		p->layer_digests[i] = strdup(doc->descs[i].digest);
		p->layer_sizes[i] = doc->descs[i].size > INT64_MAX ? -1 : (int64_t)doc->descs[i].size;
		if (p->layer_paths[i] == NULL || p->layer_digests[i] == NULL)
			r = -ENOMEM;
	}
	if (r == 0)
		r = read_json_blob(p, doc->config.digest, doc->config.size, &buf, &len);
	if (r == 0) {
		r = read_config(p, buf, len, doc->n_descs);
		p->config_json = buf;
		p->config_len = len;
	}
	return r;
}

/* index.json -> (nested indexes, by platform) -> manifest -> config. */
static int resolve_layout(struct pull *p)
{
	struct oci_doc doc;
	char digest[OCI_DIGEST_LEN + 1], plat[64], msg[256] = "", *buf = NULL;
	const char *platform = p->o->platform;
	uint64_t size;
	size_t len, w;
	int r;

	if (platform == NULL) {
		oci_host_platform(plat, sizeof(plat));
		platform = plat;
	}
	r = oci_source_read_file(p->src, "index.json", OCI_JSON_MAX, &buf, &len, msg, sizeof(msg));
	if (r < 0)
		return cfs_errbuf_set(p->err, p->errlen, r, "%s", msg);
	r = oci_doc_parse(buf, len, &doc, msg, sizeof(msg));
	free(buf);
	if (r == 0 && doc.kind != OCI_DOC_INDEX)
		r = cfs_errbuf_set(msg, sizeof(msg), -EINVAL, "not an image index");
	if (r < 0)
		return cfs_errbuf_set(p->err, p->errlen, -EUCLEAN, "index.json: %s", msg);
	for (int depth = 0;; depth++) {
		r = depth == 0 ? pick_top(p, &doc, &w) : oci_index_select(&doc, platform, &w, msg, sizeof(msg));
		if (r < 0 && depth > 0)
			r = cfs_errbuf_set(p->err, p->errlen, r, "index %s: %s", digest, msg);
		if (r == 0 && depth == 8)
			r = cfs_errbuf_set(p->err, p->errlen, -EUCLEAN, "image indexes nested too deep");
		if (r < 0) {
			oci_doc_clear(&doc);
			return r;
		}
		memcpy(digest, doc.descs[w].digest, sizeof(digest));
		size = doc.descs[w].size;
		oci_doc_clear(&doc);
		r = read_json_blob(p, digest, size, &buf, &len);
		if (r < 0)
			return r;
		r = oci_doc_parse(buf, len, &doc, msg, sizeof(msg));
		if (r < 0) {
			free(buf);
			return cfs_errbuf_set(p->err, p->errlen, r == -EOPNOTSUPP ? r : -EUCLEAN, "manifest %s: %s", digest, msg);
		}
		if (doc.kind == OCI_DOC_MANIFEST) {
			/* kept for its split stream */
			p->manifest_json = buf;
			p->manifest_len = len;
			break;
		}
		free(buf);
	}
	r = take_manifest(p, digest, &doc);
	oci_doc_clear(&doc);
	return r;
}

/* A manifest or index of the registry by digest (checked there), or the top one by tag. */
static int registry_doc(struct pull *p, const char *reference, struct oci_doc *doc, char *digest)
{
	char msg[512] = "", *buf = NULL;
	size_t len;
	int r = oci_registry_manifest(oci_source_registry(p->src), reference, &buf, &len, p->err, p->errlen);

	if (r < 0)
		return r;
	oci_sha256_digest(buf, len, digest);
	r = oci_doc_parse(buf, len, doc, msg, sizeof(msg));
	if (r == 0 && doc->kind == OCI_DOC_MANIFEST) {
		/* kept for its split stream */
		free(p->manifest_json);
		p->manifest_json = buf;
		p->manifest_len = len;
	} else {
		free(buf);
	}
	if (r < 0)
		return cfs_errbuf_set(p->err, p->errlen, r == -EOPNOTSUPP ? r : -EUCLEAN, "manifest %s: %s", digest, msg);
	return 0;
}

/* docker://: the tag's (or digest's) manifest, through indexes by platform, then the config. */
static int resolve_registry(struct pull *p)
{
	const struct oci_regref *ref = oci_registry_ref(oci_source_registry(p->src));
	char digest[OCI_DIGEST_LEN + 1], plat[64], msg[256] = "";
	const char *platform = p->o->platform;
	struct oci_doc doc;
	size_t w;
	int r;

	if (platform == NULL) {
		oci_host_platform(plat, sizeof(plat));
		platform = plat;
	}
	r = registry_doc(p, ref->digest[0] ? ref->digest : ref->tag, &doc, digest);
	for (int depth = 0; r == 0 && doc.kind == OCI_DOC_INDEX; depth++) {
		char want[OCI_DIGEST_LEN + 1];
		uint64_t size;

		r = oci_index_select(&doc, platform, &w, msg, sizeof(msg));
		if (r < 0)
			r = cfs_errbuf_set(p->err, p->errlen, r, "index %s: %s", digest, msg);
		else if (depth == 8)
			r = cfs_errbuf_set(p->err, p->errlen, -EUCLEAN, "image indexes nested too deep");
		if (r < 0) {
			oci_doc_clear(&doc);
			return r;
		}
		memcpy(want, doc.descs[w].digest, sizeof(want));
		size = doc.descs[w].size;
		oci_doc_clear(&doc);
		r = size > OCI_JSON_MAX ? cfs_errbuf_set(p->err, p->errlen, -EFBIG, "manifest %s: %llu bytes, more than a "
						 "document may have", want, (unsigned long long)size)
					: registry_doc(p, want, &doc, digest);
	}
	if (r < 0)
		return r;
	r = take_manifest(p, digest, &doc);
	oci_doc_clear(&doc);
	return r;
}

/* The digest a docker-archive member's name claims: blobs/sha256/<hex> or <hex>.tar. */
static char *digest_from_name(const char *path)
{
	char d[OCI_DIGEST_LEN + 1];
	const char *base = strrchr(path, '/');

	base = base != NULL ? base + 1 : path;
	if (strlen(base) < 64)
		return NULL;
	snprintf(d, sizeof(d), "sha256:%.64s", base);
	if (!oci_digest_valid(d) || !(base[64] == '\0' || strcmp(base + 64, ".tar") == 0))
		return NULL;
	return strdup(d);
}

static int resolve_docker(struct pull *p)
{
	char msg[256] = "", *buf = NULL, *config = NULL, **layers = NULL;
	size_t len, n = 0;
	int r;

	r = oci_source_read_file(p->src, "manifest.json", OCI_JSON_MAX, &buf, &len, msg, sizeof(msg));
	if (r < 0)
		return cfs_errbuf_set(p->err, p->errlen, r, "%s", msg);
	r = oci_docker_manifest_parse(buf, len, oci_source_tag(p->src), &config, &layers, &n, msg, sizeof(msg));
	free(buf);
	if (r < 0)
		return cfs_errbuf_set(p->err, p->errlen, r == -ENOENT ? r : -EUCLEAN, "manifest.json: %s", msg);
	r = oci_source_read_file(p->src, config, OCI_JSON_MAX, &buf, &len, msg, sizeof(msg));
	if (r < 0) {
		r = cfs_errbuf_set(p->err, p->errlen, r, "config: %s", msg);
		goto out;
	}
	oci_sha256_digest(buf, len, p->config_digest);
	r = read_config(p, buf, len, n);
	p->config_json = buf;
	p->config_len = len;
	if (r == 0)
		r = alloc_layers(p, n);
	for (size_t i = 0; r == 0 && i < n; i++) {
		p->layer_paths[i] = layers[i];
		layers[i] = NULL;
		p->layer_digests[i] = digest_from_name(p->layer_paths[i]);
		p->layer_sizes[i] = -1;
	}
out:
	free(config);
	oci_strv_free(layers, n);
	return r;
}

static ssize_t blob_read(void *user, void *buf, size_t len)
{
	return oci_blob_read(user, buf, len);
}

/*
 * A layer imported before (its split stream @digest), its tree rebuilt from the stream, when
 * every object the stream references is still in the store (@threads for that check, 0: one
 * per CPU). *@lost: the failure is an object gone (the stream's own or one it references),
 * which importing the layer again writes back.
 */
static int load_layer(struct pull *p, const uint8_t *digest, unsigned threads, struct cfs_node **tree, bool *lost,
		      char *msg, size_t msglen)
{
	struct cfs_splitstream *s = NULL;
	char err[512] = "", hex[2 * CFS_VERITY_MAX_DIGEST + 1];
	uint8_t *buf = NULL;
	size_t len = 0, missing = 0;
	int r = oci_stream_load(p->repo, digest, &buf, &len, msg, msglen);

	*lost = r == -ENOENT;
	if (r < 0)
		return r;
	r = cfs_splitstream_open_mem(buf, len, cfs_repo_hash_alg(p->repo), CFS_SPLITSTREAM_CT_OCI_LAYER, &s, err,
				     sizeof(err));
	if (r == 0) {
		/* the tree names objects by digest only: one that is gone makes a broken image */
		r = oci_stream_objects_present(cfs_repo_objstore(p->repo), s, threads, &missing);
		if (r == -ENOENT || r == -EUCLEAN) {
			cfs_repo_digest_hex(p->repo, cfs_splitstream_object(s, missing), hex);
			*lost = r == -ENOENT;
			cfs_errbuf_set(err, sizeof(err), r, "object %s %s", hex,
				       r == -ENOENT ? "is missing" : "is not a regular file");
		} else if (r < 0) {
			cfs_errbuf_set(err, sizeof(err), r, "checking its objects: %s", strerror(-r));
		}
	}
	if (r == 0)
		r = oci_layer_from_stream(s, cfs_repo_hash_alg(p->repo), tree, err, sizeof(err));
	if (r < 0)
		cfs_errbuf_set(msg, msglen, r, "split stream: %s", err[0] ? err : strerror(-r));
	cfs_splitstream_free(s);
	free(buf);
	return r;
}

/* Store @len bytes as an object of the repository (staged until the next sync): its digest. */
static int put_object(struct pull *p, const void *buf, size_t len, uint8_t *digest)
{
	int r = cfs_verity_digest_buf(cfs_repo_hash_alg(p->repo), buf, len, digest);

	if (r == 0 && cfs_objstore_has(cfs_repo_objstore(p->repo), digest) != 1)
		r = cfs_objstore_put_buf(cfs_repo_objstore(p->repo), buf, len, digest);
	return r;
}

/* Finish the split stream in @w and store it as an object: its digest. */
static int put_stream(struct pull *p, struct cfs_splitstream_writer *w, uint8_t *digest)
{
	uint8_t *buf = NULL;
	size_t len = 0;
	int r = cfs_splitstream_writer_finish(w, &buf, &len);

	if (r == 0)
		r = put_object(p, buf, len, digest);
	free(buf);
	return r;
}

static void progress(struct pull *p, const char *phase, uint64_t done);

/*
 * Layer @i: rebuilt from its split stream when it was imported before and all its objects are
 * there (*@reused), else read from the source; *@again when it was imported before but objects
 * were gone (they are written back: objects still present are not rewritten).
 */
static int import_layer(struct pull *p, size_t i, struct cfs_node **tree, bool *reused, bool *again)
{
	struct oci_layer_check chk = { p->layer_digests[i], p->layer_sizes[i], p->diff_ids[i] };
	const char *what = p->layer_digests[i] != NULL ? p->layer_digests[i] : p->layer_paths[i];
	uint8_t *stream = p->layer_streams + i * CFS_VERITY_MAX_DIGEST;
	char sname[128], msg[512] = "", why[600] = "";
	struct cfs_splitstream_writer *ss = NULL;
	struct oci_blob *b = NULL;
	bool lost = false;
	int r;

	*reused = *again = false;
	if (*tree != NULL) {
		*reused = true;
		return 0; /* rebuilt by preload_layers() */
	}
	snprintf(sname, sizeof(sname), CFS_OCI_LAYER_STREAM_PREFIX "%s", p->diff_ids[i]);
	/* known by its diff_id: its split stream, named only once the layer was complete, holds
	 * its tree (repositories of older versions may have only a layer image: the layer is
	 * read again to write its stream) */
	if (cfs_repo_stream_get(p->repo, sname, stream) == 0) {
		r = load_layer(p, stream, 0, tree, &lost, msg, sizeof(msg));
		if (r == 0) {
			*reused = true;
			return 0;
		}
		if (!lost)
			return cfs_errbuf_set(p->err, p->errlen, r, "layer %s: stored as %s: %s (see composefs oci fsck)",
					p->diff_ids[i], sname, msg);
		/* an object is gone (deleted, a damaged disk, a partial copy): the stream would
		 * give an image pointing at nothing; reading the layer again writes it back */
		*again = true;
		snprintf(why, sizeof(why), " (read again because %s: %s)", sname, msg);
		snprintf(msg, sizeof(msg), "layer %zu/%zu %.19s: objects missing, reading it again", i + 1, p->n_layers,
			 p->diff_ids[i]);
		progress(p, msg, i);
		msg[0] = '\0';
	}
	r = cfs_splitstream_writer_new(cfs_repo_hash_alg(p->repo), CFS_SPLITSTREAM_CT_OCI_LAYER, &ss);
	if (r == 0)
		r = oci_blob_open(p->src, p->layer_paths[i], &b, msg, sizeof(msg));
	if (r == 0)
		r = oci_layer_read(blob_read, b, &chk, cfs_repo_objstore(p->repo), cfs_repo_hash_alg(p->repo), ss,
				   tree, NULL, msg, sizeof(msg));
	if (r < 0 && b != NULL && oci_blob_errmsg(b)[0] != '\0')
		snprintf(msg, sizeof(msg), "%s", oci_blob_errmsg(b));
	oci_blob_close(b);
	if (r == 0 && (r = put_stream(p, ss, stream)) < 0)
		snprintf(msg, sizeof(msg), "storing its split stream: %s", strerror(-r));
	cfs_splitstream_writer_free(ss);
	if (r < 0) {
		if (*tree != NULL) {
			cfs_node_unref(*tree);
			*tree = NULL;
		}
		return cfs_errbuf_set(p->err, p->errlen, r, "layer %s: %s%s", what, msg[0] ? msg : strerror(-r), why);
	}
	/* verified: its objects and stream may now be published (one sync), then the stream is
	 * named by its diff_id: the name, set atomically last, marks the layer complete */
	r = cfs_repo_stream_set(p->repo, sname, stream);
	if (r < 0) {
		cfs_node_unref(*tree);
		*tree = NULL;
		return cfs_errbuf_set(p->err, p->errlen, r, "layer %s: %s", what, cfs_repo_errmsg(p->repo));
	}
	return 0;
}

/* Layers imported before, rebuilt from their split streams on every CPU at once. */
struct preload {
	struct pull *p;
	struct cfs_node **trees;
	bool *known; /* its split stream is named (layer_streams[i] holds it) */
	unsigned threads; /* for each layer's object check: the CPUs shared among the layers */
};

static void preload_one(void *user, size_t i)
{
	struct preload *pl = user;
	char msg[512];
	bool lost;

	/* any failure leaves the layer to import_layer(), which reports it in order (or, when
	 * objects are missing, reads the layer again) */
	if (pl->known[i] && load_layer(pl->p, pl->p->layer_streams + i * CFS_VERITY_MAX_DIGEST, pl->threads,
				       &pl->trees[i], &lost, msg, sizeof(msg)) < 0)
		pl->trees[i] = NULL;
}

/* @trees[i]: layer i's tree when it was imported before (n_layers entries, NULL otherwise). */
static void preload_layers(struct pull *p, struct cfs_node **trees)
{
	struct preload pl = { p, trees, calloc(p->n_layers ? p->n_layers : 1, sizeof(bool)) };
	size_t n_known = 0;
	char sname[128];

	if (pl.known == NULL)
		return; /* import_layer() loads them one by one */
	/* the lookups here, on this thread: a missing stream sets the repository's message */
	for (size_t i = 0; i < p->n_layers; i++) {
		snprintf(sname, sizeof(sname), CFS_OCI_LAYER_STREAM_PREFIX "%s", p->diff_ids[i]);
		pl.known[i] = cfs_repo_stream_get(p->repo, sname, p->layer_streams + i * CFS_VERITY_MAX_DIGEST) == 0;
		n_known += pl.known[i];
	}
	if (n_known > 1) {
		unsigned cpus = cfs_usable_cpus();

		pl.threads = n_known < cpus ? (unsigned)((cpus + n_known - 1) / n_known) : 1;
		cfs_parallel_for(0, p->n_layers, preload_one, &pl);
	}
	free(pl.known);
}

/*
 * The config and manifest as composefs-rs stores them: streams oci-config-<digest> (the
 * config JSON as one object, a named reference per diff_id to its layer stream) and
 * oci-manifest-<digest> (the manifest JSON, "config:<digest>" and the diff_ids), and the
 * tag streams/refs/oci/<NAME, '%' and '/' %-escaped> to the manifest. A docker-archive has
 * no manifest: its tag is streams/refs/oci-config/<NAME> to the config.
 */
static int write_streams(struct pull *p, const char *name)
{
	struct cfs_repo *repo = p->repo;
	struct cfs_splitstream_writer *w = NULL;
	uint8_t obj[CFS_VERITY_MAX_DIGEST], config[CFS_VERITY_MAX_DIGEST], manifest[CFS_VERITY_MAX_DIGEST];
	char cname[128], mname[128], ref[1100], key[128];
	int r;

	r = cfs_splitstream_writer_new(cfs_repo_hash_alg(repo), CFS_SPLITSTREAM_CT_OCI_CONFIG, &w);
	for (size_t i = 0; r == 0 && i < p->n_layers; i++)
		r = cfs_splitstream_add_named_ref(w, p->diff_ids[i], p->layer_streams + i * CFS_VERITY_MAX_DIGEST);
	if (r == 0)
		r = put_object(p, p->config_json, p->config_len, obj);
	if (r == 0)
		r = cfs_splitstream_write_external(w, obj, p->config_len);
	if (r == 0)
		r = put_stream(p, w, config);
	cfs_splitstream_writer_free(w);
	w = NULL;
	if (r < 0)
		return cfs_errbuf_set(p->err, p->errlen, r, "config %s: split stream: %s", p->config_digest, strerror(-r));
	snprintf(cname, sizeof(cname), "oci-config-%s", p->config_digest);
	r = cfs_repo_stream_set(repo, cname, config);
	if (r < 0)
		return cfs_errbuf_set(p->err, p->errlen, r, "%s", cfs_repo_errmsg(repo));
	oci_tag_ref(name, p->manifest_json != NULL, ref, sizeof(ref));
	if (p->manifest_json == NULL) {
		r = cfs_repo_stream_ref_set(repo, ref, cname);
		return r < 0 ? cfs_errbuf_set(p->err, p->errlen, r, "%s", cfs_repo_errmsg(repo)) : 0;
	}
	r = cfs_splitstream_writer_new(cfs_repo_hash_alg(repo), CFS_SPLITSTREAM_CT_OCI_MANIFEST, &w);
	snprintf(key, sizeof(key), "config:%s", p->config_digest);
	if (r == 0)
		r = cfs_splitstream_add_named_ref(w, key, config);
	for (size_t i = 0; r == 0 && i < p->n_layers; i++)
		r = cfs_splitstream_add_named_ref(w, p->diff_ids[i], p->layer_streams + i * CFS_VERITY_MAX_DIGEST);
	if (r == 0)
		r = put_object(p, p->manifest_json, p->manifest_len, obj);
	if (r == 0)
		r = cfs_splitstream_write_external(w, obj, p->manifest_len);
	if (r == 0)
		r = put_stream(p, w, manifest);
	cfs_splitstream_writer_free(w);
	if (r < 0)
		return cfs_errbuf_set(p->err, p->errlen, r, "manifest %s: split stream: %s", p->manifest_digest, strerror(-r));
	snprintf(mname, sizeof(mname), "oci-manifest-%s", p->manifest_digest);
	r = cfs_repo_stream_set(repo, mname, manifest);
	if (r == 0)
		r = cfs_repo_stream_ref_set(repo, ref, mname);
	return r < 0 ? cfs_errbuf_set(p->err, p->errlen, r, "%s", cfs_repo_errmsg(repo)) : 0;
}

/*
 * Older versions kept each layer also as an image (images/refs/oci-layer/<diff_id>), a gc root.
 * Once this image is tagged through its streams (which keep the layers' streams and objects),
 * those refs of its layers go: gc then removes the layer images.
 */
static int drop_layer_images(struct pull *p)
{
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	char ref[128];

	for (size_t i = 0; i < p->n_layers; i++) {
		snprintf(ref, sizeof(ref), CFS_OCI_LAYER_REF_PREFIX "%s", p->diff_ids[i]);
		if (cfs_repo_resolve(p->repo, ref, digest, NULL) == 0 && cfs_repo_untag(p->repo, ref) < 0)
			return cfs_errbuf_set(p->err, p->errlen, -EIO, "%s", cfs_repo_errmsg(p->repo));
	}
	return 0;
}

static void progress(struct pull *p, const char *phase, uint64_t done)
{
	if (p->o->progress != NULL)
		p->o->progress(p->o->progress_user, phase, done, p->n_layers);
}

static int import_all(struct pull *p, const char *source, const char *name, struct cfs_oci_pull_result *res)
{
	struct oci_merge *m = NULL;
	struct cfs_node *root = NULL, **trees = calloc(p->n_layers ? p->n_layers : 1, sizeof(*trees));
	char phase[128], msg[256] = "";
	int r = trees == NULL ? -ENOMEM : oci_merge_new(&m);

	if (r == 0)
		preload_layers(p, trees);
	for (size_t i = 0; r == 0 && i < p->n_layers; i++) {
		struct cfs_node *tree = trees[i];
		bool reused, again;

		trees[i] = NULL;

		snprintf(phase, sizeof(phase), "layer %zu/%zu %.19s", i + 1, p->n_layers, p->diff_ids[i]);
		progress(p, phase, i);
		r = import_layer(p, i, &tree, &reused, &again);
		if (r == 0) {
			res->n_layers_reused += reused;
			res->n_layers_reimported += again;
			r = oci_merge_add(m, tree, msg, sizeof(msg));
			if (r < 0)
				r = cfs_errbuf_set(p->err, p->errlen, r, "layer %s: %s", p->diff_ids[i], msg);
		}
		cfs_node_unref(tree);
	}
	for (size_t i = 0; trees != NULL && i < p->n_layers; i++)
		cfs_node_unref(trees[i]);
	free(trees);
	progress(p, "merging layers", p->n_layers);
	if (r == 0)
		r = oci_merge_finish(m, &root, p->err, p->errlen);
	oci_merge_free(m);
	if (r == 0) {
		r = cfs_repo_commit_tree(p->repo, root, name, res->image_digest);
		if (r < 0)
			r = cfs_errbuf_set(p->err, p->errlen, r, "%s", cfs_repo_errmsg(p->repo));
	}
	cfs_node_unref(root);
	if (r == 0)
		r = write_streams(p, name);
	if (r == 0) {
		struct oci_record rec = {
			.name = name, .source = source, .config = p->config_digest, .manifest = p->manifest_digest,
			.image = res->image_digest, .n_layers = p->n_layers, .diff_ids = (const char *const *)p->diff_ids,
		};

		r = oci_record_write(p->repo, &rec, p->err, p->errlen);
	}
	if (r == 0)
		r = drop_layer_images(p);
	return r;
}

int cfs_oci_pull(struct cfs_repo *repo, const char *source, const char *name, const struct cfs_oci_pull_opts *o,
		 struct cfs_oci_pull_result *res, char *errbuf, size_t errlen)
{
	struct cfs_oci_pull_opts defaults;
	struct cfs_oci_pull_result scratch;
	struct pull p = { .repo = repo, .err = errbuf, .errlen = errlen };
	int r;

	if (o == NULL) {
		cfs_oci_pull_opts_init(&defaults);
		o = &defaults;
	}
	p.o = o;
	if (res == NULL)
		res = &scratch;
	memset(res, 0, sizeof(*res));
	if ((o->flags & ~CFS_OCI_PULL_TLS_NO_VERIFY) != 0 || o->reserved[0] != 0 || source == NULL || name == NULL)
		return cfs_errbuf_set(errbuf, errlen, -EINVAL, "invalid arguments");
	if (!cfs_repo_ref_name_valid(name) ||
	    strncmp(name, CFS_OCI_LAYER_REF_PREFIX, strlen(CFS_OCI_LAYER_REF_PREFIX)) == 0 ||
	    strcmp(name, "oci-layer") == 0)
		return cfs_errbuf_set(errbuf, errlen, -EINVAL, "invalid image name \"%s\"", name);
	if (!cfs_repo_writable(repo, NULL))
		return cfs_errbuf_set(errbuf, errlen, -EROFS, "the repository is not writable");
	r = oci_source_open(source, o, &p.src, errbuf, errlen);
	if (r < 0)
		return r;
	switch (oci_source_kind(p.src)) {
	case OCI_SRC_DOCKER_ARCHIVE: r = resolve_docker(&p); break;
	case OCI_SRC_REGISTRY: r = resolve_registry(&p); break;
	default: r = resolve_layout(&p); break;
	}
	if (r == 0)
		r = import_all(&p, source, name, res);
	if (r == 0) {
		memcpy(res->config_digest, p.config_digest, sizeof(res->config_digest));
		memcpy(res->manifest_digest, p.manifest_digest, sizeof(res->manifest_digest));
		res->n_layers = (uint32_t)p.n_layers;
	}
	oci_strv_free(p.layer_paths, p.n_layers);
	oci_strv_free(p.layer_digests, p.n_layers);
	oci_strv_free(p.diff_ids, p.diff_ids != NULL ? p.n_layers : 0);
	free(p.layer_sizes);
	free(p.layer_streams);
	free(p.manifest_json);
	free(p.config_json);
	oci_source_free(p.src);
	return r;
}
