/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* HTTP client for repositories served as static files: verified object downloads and pull. */
#ifndef COMPOSEFS_FETCH_H
#define COMPOSEFS_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <composefs/verity.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * A served repository is the repository directory published by any web
 * server (the layout of composefs-rs, see composefs(1)):
 *
 *   meta.json                      format version and digest algorithm
 *   objects/XX/<rest of hex>       every object, named by its fs-verity digest
 *   images/<hex>                   an image (a symlink on disk)
 *   images/refs/<name>             the name of an image (a symlink on disk)
 *   signatures/<hex>/index         names of the signatures of an image
 *   signatures/<hex>/<sha256>      one signature, named by its SHA-256
 *   trees/XX/<rest of hex>         Merkle tree of a large object (optional; see
 *                                  cfs_repo_publish_trees())
 *
 * A server may answer for a symlink either with the file it leads to (what
 * static servers such as nginx do) or with the link's target as the body and
 * the content type "text/x-symlink-target" (the composefs-rs convention).
 * Bodies may come with a Content-Encoding curl decodes (gzip, zstd, ...).
 * Nothing the server says is trusted: an object is stored only when the
 * fs-verity digest of its bytes equals its name, a signature only when its
 * SHA-256 equals its name, and everything else is size-bounded and parsed as
 * hostile input.
 */

/** An HTTP client for one served repository (libcurl multi handle, connection cache). */
struct cfs_fetch;
struct cfs_objstore;
struct cfs_verity_tree;

/** Do not check the server's TLS certificate or host name (never the default). */
#define CFS_FETCH_INSECURE (1u << 0)
/** Speak HTTP/1.1 only (by default HTTP/2 is used where the server offers it over TLS). */
#define CFS_FETCH_HTTP1 (1u << 1)

/** Progress of a cfs_fetch_run(), reported at most ten times a second and once at the end. */
struct cfs_fetch_progress {
	uint64_t objects_done;   /* objects stored (or already present) */
	uint64_t objects_failed; /* objects given up on */
	uint64_t objects_total;  /* objects queued since the handle was made */
	uint64_t bytes;          /* body bytes received (after content decoding), all files */
	uint64_t retries;        /* attempts repeated after a failure */
	double seconds;          /* since the handle was made */
	uint64_t reserved[4];
};

/** cfs_fetch_progress_fn - optional progress callback (called from cfs_fetch_run()'s thread). */
typedef void (*cfs_fetch_progress_fn)(void *user, const struct cfs_fetch_progress *p);

/** Options of a fetch handle; initialise with cfs_fetch_opts_init(). */
struct cfs_fetch_opts {
	unsigned flags;              /* CFS_FETCH_* */
	unsigned jobs;               /* transfers at once (default 16, at most 1024) */
	unsigned retries;            /* further attempts after a failed one (default 4) */
	unsigned retry_delay_ms;     /* wait before the first retry, doubled each time up to 30 s (default 250) */
	unsigned connect_timeout_ms; /* to establish a connection (default 10000) */
	unsigned stall_timeout_ms;   /* a transfer receiving nothing for this long fails (default 30000) */
	uint64_t max_object_size;    /* bytes; larger objects fail (default 0: no limit) */
	const char *cacert;          /* PEM file of the CAs to trust instead of the system's, or NULL */
	cfs_fetch_progress_fn progress;
	void *progress_user;
	uint64_t reserved[8];        /* must be zero */
};

/** cfs_fetch_opts_init() - set @o to the defaults. */
void cfs_fetch_opts_init(struct cfs_fetch_opts *o);

/**
 * cfs_fetch_new() - a client for the repository served at @base_url
 * ("http://host:port/path" or "https://..."; a missing final '/' is added).
 * @o: options (NULL for the defaults); copied, including @o->cacert.
 * @out: receives the handle; release it with cfs_fetch_free().
 * @errbuf (may be NULL) receives a message on failure.
 * Returns 0; -EINVAL for another URL scheme, unknown flags, non-zero reserved
 * fields or jobs over 1024; -ENOMEM; -EIO when libcurl cannot be set up.
 * Thread-safety: a handle is used by one thread at a time; handles are
 * independent (libcurl's global setup is done once, thread-safely). A handle
 * that downloads objects starts one thread of its own that hashes and commits
 * them (into the caller's store, whose functions are thread-safe); it ends in
 * cfs_fetch_free(). Callbacks are called from the caller's thread only.
 */
int cfs_fetch_new(const char *base_url, const struct cfs_fetch_opts *o, struct cfs_fetch **out,
		  char *errbuf, size_t errlen);

/** cfs_fetch_free() - abort what is still queued (without callbacks) and free @f. Accepts NULL. */
void cfs_fetch_free(struct cfs_fetch *f);

/** cfs_fetch_errmsg() - detail of the last failure on @f ("" if none). */
const char *cfs_fetch_errmsg(const struct cfs_fetch *f);

/** cfs_fetch_get_progress() - the counters so far. */
void cfs_fetch_get_progress(const struct cfs_fetch *f, struct cfs_fetch_progress *p);

/**
 * cfs_fetch_done_fn - end of one queued object.
 * @status: 0 (stored, or already present), -ENOENT (the server has no such
 * file), -CFS_EDIGEST (its bytes kept having another digest), -EFBIG (over
 * max_object_size), -ETIMEDOUT, -ECONNREFUSED, -EIO (other transfer or HTTP
 * failures), or a local error (-ENOSPC, ...). @detail says what happened last
 * ("HTTP 500 (5 attempts)"); with status 0 it is "already present" when the
 * store had the object before a download started, else "". Called from
 * cfs_fetch_run().
 */
typedef void (*cfs_fetch_done_fn)(void *user, const uint8_t *digest, int status, const char *detail);

/**
 * cfs_fetch_queue_object() - queue objects/XX/<rest> for download into @store.
 * The body streams into a staged object of @store, which is hashed once
 * received (on the handle's checker thread, while other transfers go on) and
 * committed under @digest only when the fs-verity digest of all its bytes is
 * @digest; otherwise it is discarded and the download retried. In a
 * CFS_OBJSTORE_BATCH store the object is staged until cfs_objstore_sync().
 * Nothing is downloaded for an object @store already has. @fn (may be NULL) is
 * called when the object is done. @store must outlive the run.
 * Returns 0, -ENOMEM, or -EINVAL when @store's algorithm differs from the
 * first store queued on @f.
 */
int cfs_fetch_queue_object(struct cfs_fetch *f, struct cfs_objstore *store, const uint8_t *digest,
			   cfs_fetch_done_fn fn, void *user);

/**
 * cfs_fetch_run() - download everything queued, at most opts.jobs at once
 * over reused connections, retrying failures with backoff; returns when the
 * queue is empty. Per-object results go to the callbacks.
 * Returns 0 when every object succeeded, -EIO when some failed (see the
 * callbacks and cfs_fetch_progress.objects_failed), or -ENOMEM.
 */
int cfs_fetch_run(struct cfs_fetch *f);

/**
 * cfs_fetch_object() - fetch one object into @store now (queue + run): for a
 * first access that cannot wait for a bulk pull. Returns the status the
 * callback would get (see cfs_fetch_done_fn), with details on @f. Only
 * objects queued before are run along with it.
 */
int cfs_fetch_object(struct cfs_fetch *f, struct cfs_objstore *store, const uint8_t *digest);

/**
 * cfs_fetch_object_range() - read bytes [@offset, @offset + @len) of the
 * remote object @digest into @buf with an HTTP range request, and check them
 * against @tree, the object's Merkle tree (built by cfs_verity_tree_build()
 * or loaded by cfs_verity_tree_load() against @digest, so it is trusted).
 * @offset must be a multiple of 4096; the range is cut at the end of the
 * object; @len must be a multiple of 4096 unless the range reaches the end.
 * @got_out receives the number of bytes stored in @buf. The object's path
 * comes from @digest and the tree's algorithm, so no store need have been
 * queued on @f.
 * Returns 0; -EINVAL (misaligned, beyond the end, a tree of another
 * algorithm than the handle's stores); -CFS_EDIGEST (the bytes do not match
 * the tree, after retries); -EOPNOTSUPP (the server ignores Range and
 * answers 200 with the whole object, for a range that is not all of it:
 * fetch the object instead); or a transfer error as for cfs_fetch_done_fn.
 * Nothing is written to any store.
 */
int cfs_fetch_object_range(struct cfs_fetch *f, const struct cfs_verity_tree *tree, const uint8_t *digest,
			   void *buf, size_t len, uint64_t offset, size_t *got_out);

/**
 * cfs_fetch_tree() - download the published Merkle tree of object @digest
 * ("trees/XX/<rest>", written by cfs_repo_publish_trees()) and load it with
 * cfs_verity_tree_load() against @digest and @alg, so the tree returned is
 * as trustworthy as one built from the object. @size: the object's size when
 * known (the tree must describe exactly that many bytes, and bounds the
 * download), else UINT64_MAX (at most 1 GiB is accepted).
 * @out receives the tree (free with cfs_verity_tree_free()).
 * Returns 0; -ENOENT (the server publishes no tree for it); -EUCLEAN (not a
 * tree file); -CFS_EDIGEST (the tree of another object, or of another size);
 * -EFBIG; transfer errors as for cfs_fetch_done_fn. Message on @f.
 */
int cfs_fetch_tree(struct cfs_fetch *f, enum cfs_hash_alg alg, const uint8_t *digest, uint64_t size,
		   struct cfs_verity_tree **out);

/** Kinds of body for cfs_fetch_file() and cfs_fetch_resolve(). */
#define CFS_FETCH_BODY_SYMLINK (1u << 0) /* content type text/x-symlink-target */

/**
 * cfs_fetch_file() - download the small file @path (relative to the base URL,
 * '/'-separated, each component percent-encoded here) into memory.
 * @max_len: larger bodies fail with -EFBIG.
 * @buf_out: receives a malloc()ed copy (NUL-terminated, the NUL not counted).
 * @kind_out (may be NULL): CFS_FETCH_BODY_* bits.
 * Retries like object downloads. Returns 0; -ENOENT (HTTP 404 or 410);
 * -EFBIG; -EINVAL (a path with an empty, "." or ".." component); other
 * transfer errors as for cfs_fetch_done_fn.
 */
int cfs_fetch_file(struct cfs_fetch *f, const char *path, size_t max_len, uint8_t **buf_out,
		   size_t *len_out, unsigned *kind_out);

/**
 * cfs_fetch_resolve() - find the object a symlink on the server leads to
 * (e.g. "images/refs/NAME"). A text/x-symlink-target answer is parsed (its
 * last component a full hex digest, or "XX/<rest>" under objects/); any other
 * answer is the object itself, streamed into @store while hashed and stored
 * under its digest. @stored_out (may be NULL) tells which happened.
 * Returns 0 with the digest in @digest_out (cfs_verity_digest_size() of the
 * store's algorithm); -ENOENT; -EBADMSG for a target that names no object;
 * -EFBIG; transfer errors as for cfs_fetch_done_fn.
 */
int cfs_fetch_resolve(struct cfs_fetch *f, struct cfs_objstore *store, const char *path, uint8_t *digest_out,
		      bool *stored_out);

/* ---- Pull: a served repository's image into a local repository --------------- */

struct cfs_repo;
struct cfs_trust;

/** Refuse (-EPERM) before any object is fetched unless a fetched signature verifies. */
#define CFS_PULL_REQUIRE_SIGNATURE (1u << 0)
/**
 * Fetch the image (and its signatures) but none of its objects: for a lazy
 * mount that fetches each object on first use. The image is named as usual,
 * so gc keeps it and the objects fetched later; fsck reports the objects not
 * yet fetched as missing until a full pull completes the image.
 */
#define CFS_PULL_IMAGE_ONLY (1u << 1)

/** cfs_pull_object_fn - an object the pull could not get (arguments as cfs_fetch_done_fn). */
typedef void (*cfs_pull_object_fn)(void *user, const uint8_t *digest, int status, const char *detail);

/** Options of cfs_repo_pull(); initialise with cfs_pull_opts_init(). */
struct cfs_pull_opts {
	unsigned flags;            /* CFS_PULL_* */
	const char *name;          /* local name of the image; NULL: the ref pulled (or its hex digest) */
	struct cfs_trust *trust;   /* for CFS_PULL_REQUIRE_SIGNATURE */
	cfs_pull_object_fn failed; /* called for every object that could not be fetched */
	void *user;
	uint64_t reserved[8];      /* must be zero */
};

/** cfs_pull_opts_init() - set @o to the defaults. */
void cfs_pull_opts_init(struct cfs_pull_opts *o);

/** What a pull did. */
struct cfs_pull_stats {
	uint64_t objects;            /* objects the image refers to */
	uint64_t objects_present;    /* of those, already in the repository */
	uint64_t objects_fetched;    /* downloaded and stored now */
	uint64_t objects_failed;
	uint64_t bytes;              /* body bytes received, all files */
	uint64_t retries;
	uint64_t signatures;         /* signatures fetched whose SHA-256 matched their name */
	uint64_t signatures_bad;     /* listed signatures missing or not matching their name */
	uint64_t signatures_trusted; /* with a trust set: those that verified */
	bool image_fetched;          /* the image itself was downloaded */
	bool by_digest;              /* the ref was a digest */
	double seconds;
	uint64_t reserved[6];
};

/**
 * cfs_repo_pull() - copy image @ref from the repository served by @f into
 * @repo: resolve @ref (a name under images/refs/, optionally "refs/"-prefixed,
 * or a digest, optionally "sha256:"/"sha512:"-prefixed, which the fetched
 * image must then have), check the server's meta.json (when it has one)
 * names the repository's algorithm, fetch the image's signatures (their
 * index, then each, checked against its name), with
 * CFS_PULL_REQUIRE_SIGNATURE refuse unless one verifies with @o->trust, fetch
 * the image and every object it refers to that @repo lacks (through @f,
 * verified), make them durable, store the signatures, then publish the image
 * and name it (@o->name, else @ref). The repository's shared lock is held
 * throughout, so gc waits, and concurrent pulls are safe. An interruption
 * leaves only complete objects (and temporary files gc removes).
 * @digest_out (may be NULL) receives the image digest; @stats (may be NULL)
 * the counts, also on failure.
 * Returns 0; -EINVAL (bad ref or options); -ENOENT (no such ref or image);
 * -EPROTO (the served repository is incompatible); -CFS_EDIGEST; -EUCLEAN
 * (not a valid image); -EPERM (no trusted signature); -EIO (objects failed,
 * each reported to @o->failed); -EROFS; other -errno. @errbuf gets details.
 */
int cfs_repo_pull(struct cfs_repo *repo, struct cfs_fetch *f, const char *ref, const struct cfs_pull_opts *o,
		  uint8_t *digest_out, struct cfs_pull_stats *stats, char *errbuf, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
