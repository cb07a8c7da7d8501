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

/* "sha256:" + 64 hex digits */
#define OCI_DIGEST_LEN (7 + 64)
/* Largest manifest, index or config document read (the registries' own limit is 4 MiB). */
#define OCI_JSON_MAX (4u << 20)

/* Report a failure into @err (may be NULL) and return @r. */
int oci_fail(char *err, size_t errlen, int r, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

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

enum oci_source_kind { OCI_SRC_DIR, OCI_SRC_OCI_ARCHIVE, OCI_SRC_DOCKER_ARCHIVE };

int oci_source_open(const char *spec, struct oci_source **out, char *err, size_t errlen);
void oci_source_free(struct oci_source *s);
enum oci_source_kind oci_source_kind(const struct oci_source *s);
/* The tag in "oci:DIR:TAG" or "docker-archive:FILE:TAG" (NULL if none). */
const char *oci_source_tag(const struct oci_source *s);
/* Open the file @path of the source (a layout path such as "blobs/sha256/<hex>"). */
int oci_blob_open(struct oci_source *s, const char *path, struct oci_blob **out, char *err, size_t errlen);
/* Read up to @len bytes; 0 at the end; -errno. */
ssize_t oci_blob_read(struct oci_blob *b, void *buf, size_t len);
void oci_blob_close(struct oci_blob *b);
/* Read a whole file of at most @max bytes (NUL-terminated copy in *@buf). */
int oci_source_read_file(struct oci_source *s, const char *path, size_t max, char **buf, size_t *len, char *err,
			 size_t errlen);
/* The layout path of a digest: "blobs/sha256/<hex>". */
void oci_blob_path(const char *digest, char *buf, size_t len);

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
/* The stream ref that tags OCI image @name: "oci/<name, '%' and '/' %-escaped>" (with a
 * manifest), "oci-config/<...>" (without). */
void oci_tag_ref(const char *name, bool manifest, char *buf, size_t len);

#endif
