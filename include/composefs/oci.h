/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* OCI images: import an image (all layers merged) into a repository as one composefs image. */
#ifndef COMPOSEFS_OCI_H
#define COMPOSEFS_OCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <composefs/repo.h>
#include <composefs/verity.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Layout added to a repository (see docs/design.md, "OCI images"):
 *
 *   images/refs/NAME                       the merged image of an OCI image called NAME
 *   oci/images/<NAME, '/' and '%' %-escaped>
 *                                          JSON record: name, image, config, manifest, source,
 *                                          layers (diff_ids)
 *
 * and composefs-rs' streams (split streams, see cfs_repo_stream_get()):
 *
 *   streams/oci-layer-sha256:<diff_id>     each layer's tar: headers and small files inline,
 *                                          larger files as references to their objects; named
 *                                          once the layer is complete, and how an imported
 *                                          layer is recognised and its tree rebuilt without
 *                                          reading it again
 *   streams/oci-config-sha256:<digest>     the config JSON; named refs diff_id -> layer stream
 *   streams/oci-manifest-sha256:<digest>   the manifest JSON; "config:<digest>" -> config
 *                                          stream, diff_id -> layer stream
 *   streams/refs/oci/<NAME, '%' and '/' %-escaped>
 *                                          the tag: the manifest stream (docker-archive
 *                                          images, which have no manifest, are tagged
 *                                          streams/refs/oci-config/<NAME> to the config)
 *
 * Both kinds of ref are ordinary gc roots, so gc keeps every object an OCI
 * image needs; cfs_oci_remove() drops them again. Older versions also wrote an
 * image per layer, images/refs/oci-layer/sha256:<diff_id> (CFS_OCI_LAYER_REF_PREFIX):
 * gc keeps those as any image; cfs_oci_pull() of an image using the layer
 * removes the name once the image is tagged, and so does cfs_oci_remove().
 */

/** Largest regular file stored inline in the image (as composefs-rs does for OCI layers). */
#define CFS_OCI_INLINE_MAX 64
/** Ref name prefix of the layer images older versions wrote; names of OCI images may not start with it. */
#define CFS_OCI_LAYER_REF_PREFIX "oci-layer/"
/** Length of "sha256:" + 64 hex digits. */
#define CFS_OCI_DIGEST_LEN 71

/**
 * cfs_oci_progress_fn - progress of a pull: @phase ("layer 2/5 sha256:...",
 * "merging", ...); @done/@total in layers.
 */
typedef void (*cfs_oci_progress_fn)(void *user, const char *phase, uint64_t done, uint64_t total);

/**
 * Registries (docker://): accept a registry's TLS certificate unchecked, and
 * speak plain HTTP to one that does not answer HTTPS (as skopeo's
 * --tls-verify=false). Never the default.
 */
#define CFS_OCI_PULL_TLS_NO_VERIFY (1u << 0)

/**
 * struct cfs_oci_pull_opts - options of cfs_oci_pull().
 * @flags: CFS_OCI_PULL_* bits.
 * @platform: "os/arch[/variant]" chosen from an image index; NULL for the
 *            host's ("linux/amd64" on x86_64).
 * @progress, @progress_user: optional progress callback.
 * The rest is for registry sources only:
 * @authfile: credentials file ({"auths": {"HOST[:PORT]": {"auth":
 *            base64(USER:PASSWORD)}}}); NULL: the first of $REGISTRY_AUTH_FILE,
 *            $XDG_RUNTIME_DIR/containers/auth.json,
 *            ~/.config/containers/auth.json and ~/.docker/config.json that
 *            names the registry (as podman and skopeo look).
 * @cacert: PEM file of the CAs to trust instead of the system's, or NULL.
 * @retries: further attempts after a failed request (default 4).
 * @retry_delay_ms: wait before the first retry, doubled each time up to 30 s
 *                  (default 250).
 * @timeout_ms: to connect, and the longest a transfer may receive nothing
 *              (default 30000).
 */
struct cfs_oci_pull_opts {
	uint32_t flags;
	const char *platform;
	cfs_oci_progress_fn progress;
	void *progress_user;
	const char *authfile;
	const char *cacert;
	uint32_t retries;
	uint32_t retry_delay_ms;
	uint32_t timeout_ms;
	uint32_t reserved[1];
};

/** cfs_oci_pull_opts_init() - defaults: no flags, host platform, no progress, 4 retries. */
void cfs_oci_pull_opts_init(struct cfs_oci_pull_opts *o);

/** What cfs_oci_pull() did. Strings are NUL-terminated. */
struct cfs_oci_pull_result {
	uint8_t image_digest[CFS_VERITY_MAX_DIGEST];     /* the merged image */
	char config_digest[CFS_OCI_DIGEST_LEN + 1];      /* the image's config blob ("sha256:...") */
	char manifest_digest[CFS_OCI_DIGEST_LEN + 1];    /* its manifest ("" for docker-archive) */
	uint32_t n_layers;
	uint32_t n_layers_reused;                        /* known by diff_id, not read again */
	uint32_t n_layers_reimported;                    /* known by diff_id, but objects its split
							  * stream references were missing: read
							  * again (not counted as reused) */
	uint32_t reserved32;
	uint64_t reserved[3];
};

/**
 * cfs_oci_pull() - import the OCI image @source into @repo as image @name.
 * @source: "oci:DIR[:TAG]" (an OCI image layout), "oci-archive:FILE[:TAG]"
 *          (a tar of one), "docker-archive:FILE[:TAG]" (docker save) or
 *          "docker://[HOST[:PORT]/]REPO[:TAG|@sha256:HEX]" (a registry
 *          speaking the OCI distribution API; no HOST means Docker Hub).
 *          Image indexes (OCI or Docker manifest lists) are resolved to the
 *          manifest of @o->platform; OCI and Docker schema 2 manifests.
 * @name: ref name of the result (cfs_repo_ref_name_valid(), not under
 *        CFS_OCI_LAYER_REF_PREFIX); replaces an image of that name.
 * @o: options or NULL for the defaults.
 * @res: receives what was done (may be NULL).
 * @errbuf: on failure a message naming the blob ("layer sha256:...: ...").
 *
 * Every document and blob is checked against its digest (and size) while it
 * is read; each layer is read once, decompressed (gzip, zstd) and its tar
 * parsed in the same pass, its diff_id checked, and regular files longer
 * than CFS_OCI_INLINE_MAX stored as objects (deduplicated against the
 * repository). Layers whose diff_id is already imported (their split stream
 * is named) are not read: their trees are rebuilt from the split streams,
 * once every object a stream references is found in the store (a stat each,
 * no hashing). A layer whose stream object or any of those objects is gone
 * is read from @source again, which stores the missing objects (present ones
 * are not rewritten), and counted in @res->n_layers_reimported.
 * Nothing is named before it is verified: objects of a refused layer are
 * never published, and @name is set only after every layer passed.
 *
 * Returns 0; -EINVAL for bad arguments; -CFS_EDIGEST when a blob does not
 * match its digest, size or diff_id; -EUCLEAN for a malformed or hostile
 * document or tar (a path with "..", an absolute path, a path through a
 * non-directory, a hard link out of the layer, ...); -EOPNOTSUPP for
 * unsupported sources or formats; -ENOENT when the source has no such
 * image or platform; -EACCES when a registry refuses us or wants
 * credentials we do not have; -ECONNREFUSED, -ETIMEDOUT or -EIO when a
 * registry cannot be reached (after the retries); -EROFS; other -errno.
 */
int cfs_oci_pull(struct cfs_repo *repo, const char *source, const char *name, const struct cfs_oci_pull_opts *o,
		 struct cfs_oci_pull_result *res, char *errbuf, size_t errlen);

/** One OCI image as listed by cfs_oci_list_images(); strings owned by the library. */
struct cfs_oci_image_info {
	const char *name;
	const char *config_digest;
	const char *manifest_digest;   /* "" when the source had none */
	const char *source;            /* what it was pulled from */
	const uint8_t *image_digest;   /* cfs_repo_digest_size() bytes */
	bool named;                    /* images/refs/NAME still names that image */
	size_t n_layers;
	const char *const *diff_ids;
};

/** cfs_oci_image_fn - called once per image; non-zero stops the listing and is returned. */
typedef int (*cfs_oci_image_fn)(void *user, const struct cfs_oci_image_info *info);

/**
 * cfs_oci_list_images() - call @fn for each OCI image recorded in @repo, in
 * name order. Returns 0, @fn's non-zero value, -EUCLEAN for an unreadable
 * record (named in @errbuf), other -errno.
 */
int cfs_oci_list_images(struct cfs_repo *repo, cfs_oci_image_fn fn, void *user, char *errbuf, size_t errlen);

/**
 * cfs_oci_image_get() - the record of OCI image @name, handed to @fn.
 * Returns 0, -ENOENT if there is none, what @fn returned, -errno.
 */
int cfs_oci_image_get(struct cfs_repo *repo, const char *name, cfs_oci_image_fn fn, void *user, char *errbuf,
		      size_t errlen);

/**
 * cfs_oci_remove() - forget OCI image @name: its record, its ref (if it
 * still names the image pulled), and the refs of its layers that no other
 * OCI image uses. What they held goes at the next cfs_repo_gc().
 * Returns 0, -ENOENT, -EROFS, -errno.
 */
int cfs_oci_remove(struct cfs_repo *repo, const char *name, char *errbuf, size_t errlen);

/**
 * cfs_oci_layer_cat() - re-create the tar of layer @diff_id ("sha256:...")
 * byte for byte from its split stream (streams/oci-layer-<diff_id>): its
 * inline bytes and the content of the objects it references, each read
 * through the verified object reader, written to @out_fd as they come. The
 * split stream object is checked against its digest first, the result
 * against the diff_id at the end: on -CFS_EDIGEST the bytes written are not
 * the layer. Returns 0; -EINVAL (not a diff_id); -ENOENT (no such stream,
 * or an object it needs is missing); -CFS_EDIGEST (a stream, an object or
 * the tar does not match its digest); -EUCLEAN (a malformed split stream);
 * other -errno (of writing, too); @errbuf names the layer and says what.
 */
int cfs_oci_layer_cat(struct cfs_repo *repo, const char *diff_id, int out_fd, char *errbuf, size_t errlen);

/** Counts from cfs_oci_fsck(). */
struct cfs_oci_fsck_stats {
	uint64_t images_checked;
	uint64_t layers_checked;   /* each diff_id once, however many images share it */
	uint64_t layers_bad;
	uint64_t reserved[5];
};

/**
 * cfs_oci_fsck_fn - called once per layer checked: @image the OCI image it
 * was first found in, @result 0 or the negative errno of
 * cfs_oci_layer_cat(), @detail "ok" or what is wrong. Non-zero return stops
 * the check and is returned.
 */
typedef int (*cfs_oci_fsck_fn)(void *user, const char *image, const char *diff_id, int result,
			       const char *detail);

/**
 * cfs_oci_fsck() - re-create the tar of every layer of OCI image @name (NULL:
 * of every recorded OCI image) from its split stream, as cfs_oci_layer_cat()
 * does without writing it, and compare its sha256 with the diff_id. Problems
 * are reported through @fn and counted in @stats (may be NULL).
 * Returns 0 when the check ran, @fn's non-zero value, -ENOENT (no such OCI
 * image), or -errno when it could not run.
 */
int cfs_oci_fsck(struct cfs_repo *repo, const char *name, cfs_oci_fsck_fn fn, void *user,
		 struct cfs_oci_fsck_stats *stats, char *errbuf, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
