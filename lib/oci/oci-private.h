/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* lib/oci internals: JSON documents, image sources, layer streams, layer merging. */
#ifndef CFS_OCI_PRIVATE_H
#define CFS_OCI_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <composefs/oci.h>
#include <composefs/store.h>
#include <composefs/tree.h>

#include "util.h"

/* "sha256:" + 64 hex digits */
#define OCI_DIGEST_LEN (7 + 64)
/* Largest manifest, index or config document read (the registries' own limit is 4 MiB). */
#define OCI_JSON_MAX (4u << 20)

/* Report a failure into @err (may be NULL) and return @r. */
/* "sha256:<hex>" of @len bytes at @buf into @out (OCI_DIGEST_LEN + 1 bytes). */
void oci_sha256_digest(const void *buf, size_t len, char *out);

/* --- manifest.c: OCI / Docker JSON documents (all untrusted) --- */

struct oci_desc {
	char *media_type;           /* may be NULL (Docker archives) */
	char digest[OCI_DIGEST_LEN + 1];
	uint64_t size;
	char *os, *arch, *variant;  /* index entries: platform, if given */
	char *ref_name;             /* org.opencontainers.image.ref.name, if given */
};

enum oci_doc_kind { OCI_DOC_INDEX, OCI_DOC_MANIFEST };

/* An index (OCI image index or Docker manifest list) or an image manifest. */
struct oci_doc {
	enum oci_doc_kind kind;
	struct oci_desc config;     /* manifests */
	struct oci_desc *descs;     /* index: manifests; manifest: layers */
	size_t n_descs;
};

/* A strict "sha256:<64 lower-case hex>" check. */
bool oci_digest_valid(const char *s);
/* Parse an index or a manifest; @expect_media may be NULL (then the document's own mediaType,
 * or the presence of "manifests"/"layers", decides). Returns 0, -EINVAL (malformed) with a message. */
int oci_doc_parse(const char *buf, size_t len, struct oci_doc *out, char *err, size_t errlen);
void oci_doc_clear(struct oci_doc *d);
/* The config's rootfs.diff_ids (each a valid digest). */
int oci_config_parse(const char *buf, size_t len, char ***diff_ids, size_t *n, char *err, size_t errlen);
void oci_strv_free(char **v, size_t n);
/* Docker archive manifest.json: the entry whose RepoTags holds @tag (or the only entry when
 * @tag is NULL): its Config path and Layers paths. */
int oci_docker_manifest_parse(const char *buf, size_t len, const char *tag, char **config, char ***layers,
			      size_t *n_layers, char *err, size_t errlen);
/* Index entry for @platform ("os/arch[/variant]"); -ENOENT when none matches. */
int oci_index_select(const struct oci_doc *idx, const char *platform, size_t *which, char *err, size_t errlen);
/* The host's platform in OCI spelling ("linux/amd64"). */
void oci_host_platform(char *buf, size_t len);

/* --- source.c: where blobs come from --- */

struct oci_source;
struct oci_blob;

enum oci_source_kind { OCI_SRC_DIR, OCI_SRC_OCI_ARCHIVE, OCI_SRC_DOCKER_ARCHIVE, OCI_SRC_REGISTRY };

/* @o: the pull's options (registries: credentials, TLS, retries); NULL for the defaults. */
int oci_source_open(const char *spec, const struct cfs_oci_pull_opts *o, struct oci_source **out, char *err,
		    size_t errlen);
void oci_source_free(struct oci_source *s);
enum oci_source_kind oci_source_kind(const struct oci_source *s);
/* The tag in "oci:DIR:TAG" or "docker-archive:FILE:TAG" (NULL if none). */
const char *oci_source_tag(const struct oci_source *s);
/* The registry of an OCI_SRC_REGISTRY source. */
struct oci_registry *oci_source_registry(struct oci_source *s);
/* Open the file @path of the source (a layout path such as "blobs/sha256/<hex>"). */
int oci_blob_open(struct oci_source *s, const char *path, struct oci_blob **out, char *err, size_t errlen);
/* Read up to @len bytes; 0 at the end; -errno. */
ssize_t oci_blob_read(struct oci_blob *b, void *buf, size_t len);
void oci_blob_close(struct oci_blob *b);
/* What went wrong last on @b beyond its -errno ("" if nothing is known). */
const char *oci_blob_errmsg(const struct oci_blob *b);
/* Read a whole file of at most @max bytes (NUL-terminated copy in *@buf). */
int oci_source_read_file(struct oci_source *s, const char *path, size_t max, char **buf, size_t *len, char *err,
			 size_t errlen);
/* The layout path of a digest: "blobs/sha256/<hex>". */
void oci_blob_path(const char *digest, char *buf, size_t len);

/* --- registry-parse.c: texts a registry, a user or an auth file gives (all untrusted) --- */

/* docker://HOST[:PORT]/REPO[:TAG|@DIGEST], without the "docker://". */
struct oci_regref {
	char *host;      /* as named (auth file key): "127.0.0.1:5000", "docker.io" */
	char *api_host;  /* where the API answers: the same, or registry-1.docker.io */
	char *repo;      /* "library/debian" */
	char *tag;       /* NULL when pulled by digest */
	char digest[OCI_DIGEST_LEN + 1]; /* "" when pulled by tag */
};
/* Returns 0, -EINVAL (malformed) or -EOPNOTSUPP (digest algorithm) with a message, -ENOMEM. */
int oci_regref_parse(const char *s, struct oci_regref *out, char *err, size_t errlen);
void oci_regref_clear(struct oci_regref *r);

enum oci_auth_scheme { OCI_AUTH_NONE, OCI_AUTH_OTHER, OCI_AUTH_BASIC, OCI_AUTH_BEARER };

/* The challenge chosen from a WWW-Authenticate value (Bearer over Basic over others). */
struct oci_challenge {
	enum oci_auth_scheme scheme;
	char *realm, *service, *scope; /* NULL when not given */
};
/* Returns 0, -EINVAL (malformed, no challenge, Bearer without realm), -ENOMEM. */
int oci_challenge_parse(const char *hdr, size_t len, struct oci_challenge *out);
void oci_challenge_clear(struct oci_challenge *c);

struct oci_cred {
	char *user, *password;
};
/* The credentials for HOST/REPO in an auth file ({"auths": {KEY: {"auth": base64(user:pass)}}},
 * the longest matching KEY); -ENOENT when it has none, -EINVAL (malformed) with a message. */
int oci_authfile_lookup(const char *buf, size_t len, const char *host, const char *repo, struct oci_cred *cred,
			char *err, size_t errlen);
void oci_cred_clear(struct oci_cred *c);
/* The token of a token server's answer ({"token": ...} or {"access_token": ...}). */
int oci_token_parse(const char *buf, size_t len, char **token, char *err, size_t errlen);
/* Base64 (OpenSSL) of @len bytes, malloc()ed. */
int oci_base64_encode(const void *data, size_t len, char **out);

/* --- registry.c: the OCI distribution API over libcurl --- */

struct oci_registry;
struct oci_rblob;
/* Resolve credentials, find the API (https, or http with CFS_OCI_PULL_TLS_NO_VERIFY), ping it and
 * authenticate when it asks to. Returns 0; -ENOENT; -EACCES (refused or no credentials);
 * -ECONNREFUSED, -ETIMEDOUT, -EIO (unreachable, after the retries); -EINVAL; with a message. */
int oci_registry_open(const char *ref, const struct cfs_oci_pull_opts *o, struct oci_registry **out, char *err,
		      size_t errlen);
void oci_registry_free(struct oci_registry *r);
const struct oci_regref *oci_registry_ref(const struct oci_registry *r);
/* The manifest (or index) @reference (a tag or a digest), at most OCI_JSON_MAX bytes,
 * NUL-terminated; a digest reference is checked against the bytes (-CFS_EDIGEST). */
int oci_registry_manifest(struct oci_registry *r, const char *reference, char **buf, size_t *len, char *err,
			  size_t errlen);
/* Stream blob @digest (checking it is the caller's job): reads resume after failures with
 * Range requests, up to the retry bound. */
int oci_registry_blob_open(struct oci_registry *r, const char *digest, struct oci_rblob **out, char *err,
			   size_t errlen);
ssize_t oci_rblob_read(struct oci_rblob *b, void *buf, size_t len);
const char *oci_rblob_errmsg(const struct oci_rblob *b);
void oci_rblob_close(struct oci_rblob *b);

/* --- layer.c: one layer stream -> tree + objects --- */

typedef ssize_t (*oci_read_fn)(void *user, void *buf, size_t len);

struct oci_layer_check {
	const char *digest;         /* expected digest of the bytes as read (NULL: not checked) */
	int64_t size;               /* expected size of them (-1: not checked) */
	const char *diff_id;        /* expected digest of the uncompressed tar (NULL: not checked) */
};

/* Name of the marker xattr of directories a layer implies but does not contain. */
#define OCI_IMPLICIT_XATTR "trusted.cfs-oci.implicit"

struct cfs_splitstream_writer;

/*
 * Read a layer (tar, gzip- or zstd-compressed tar) from @fn, check it against @chk, and build
 * the layer's literal tree (whiteouts kept as `.wh.` entries, directories the tar does not
 * contain marked with OCI_IMPLICIT_XATTR). Regular files longer than CFS_OCI_INLINE_MAX go
 * into @store (when not NULL) under the digest @alg. @ss (may be NULL) receives the tar as a
 * split stream: every byte inline except the data of those files, which are references to
 * their objects (composefs-rs' rule). @diff_id_out (may be NULL) receives the "sha256:..." of
 * the tar. Returns 0, -CFS_EDIGEST for a digest or size mismatch, -EUCLEAN for
 * a malformed or hostile stream, other -errno; @err says what.
 */
int oci_layer_read(oci_read_fn fn, void *user, const struct oci_layer_check *chk, struct cfs_objstore *store,
		   enum cfs_hash_alg alg, struct cfs_splitstream_writer *ss, struct cfs_node **root_out,
		   char *diff_id_out, char *err, size_t errlen);

struct cfs_splitstream;

/*
 * The same literal tree, rebuilt from the layer's split stream @s as oci_layer_read() wrote it
 * (content type "ocilayer", digests of @alg): the tar headers and small files are inline, and
 * the data of each regular file of more than CFS_OCI_INLINE_MAX bytes is exactly one object
 * reference, whose digest names the file's content. No object is read. Returns 0; -EUCLEAN
 * for a malformed stream or tar, or a stream not laid out that way; -ENOMEM; @err says what.
 */
int oci_layer_from_stream(struct cfs_splitstream *s, enum cfs_hash_alg alg, struct cfs_node **root_out, char *err,
			  size_t errlen);

/* Recompute primary hard-link entries (first in depth-first name order) and nlink of non-directories. */
void oci_tree_fix_links(struct cfs_node *root);

/* --- merge.c: layers -> one tree --- */

struct oci_merge;
int oci_merge_new(struct oci_merge **out);
/* Apply one layer's literal tree on top of what is merged so far (whiteouts act on lower layers). */
int oci_merge_add(struct oci_merge *m, struct cfs_node *layer, char *err, size_t errlen);
/* The merged tree (root metadata from /usr when present); the caller owns it. */
int oci_merge_finish(struct oci_merge *m, struct cfs_node **root_out, char *err, size_t errlen);
void oci_merge_free(struct oci_merge *m);

/* --- streams --- */

/* Name of a layer's split stream: this prefix and its diff_id (composefs-rs' naming). */
#define CFS_OCI_LAYER_STREAM_PREFIX "oci-layer-"
struct cfs_repo;
/* The split stream object @digest of @repo, read whole (*@buf, malloc'd) and checked against its
 * digest. 0; -ENOENT (missing), -CFS_EDIGEST, -EFBIG, -errno; @msg says what. */
int oci_stream_load(struct cfs_repo *repo, const uint8_t *digest, uint8_t **buf, size_t *len, char *msg,
		    size_t msglen);
/* Whether every object the split stream @s references is in @store (cfs_objstore_has_all():
 * no hashing; large streams on up to @threads threads, 0: one per CPU). 0; -ENOENT when one
 * is missing, -EUCLEAN when one is not a regular file, other -errno; *@missing (may be NULL)
 * is then the index of that object (the first in the stream among those that failed). */
int oci_stream_objects_present(struct cfs_objstore *store, const struct cfs_splitstream *s, unsigned threads,
			       size_t *missing);
/* The stream ref that tags OCI image @name: "oci/<name, '%' and '/' %-escaped>" (with a
 * manifest), "oci-config/<...>" (without). */
void oci_tag_ref(const char *name, bool manifest, char *buf, size_t len);

#endif
