/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Repository: object store plus named images, refs, garbage collection and fsck. */
#ifndef COMPOSEFS_REPO_H
#define COMPOSEFS_REPO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <composefs/builder.h>
#include <composefs/tree.h>
#include <composefs/verity.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * On-disk layout (shared with composefs-rs, so either implementation can use
 * a repository the other created):
 *
 *   meta.json                   {"version": 1, "algorithm": "fsverity-sha256-12", ...}
 *   objects/XX/<rest of hex>    content named by its fs-verity digest
 *   images/<hex>                symlink -> ../objects/XX/<rest>   (an image we built)
 *   images/refs/<name>          symlink -> ../<hex> (one more ../ per '/' in name)
 *
 * Images are objects like any other; images/<hex> marks an object as a
 * mountable image, images/refs/ holds the names that keep images alive
 * through garbage collection. Concurrency uses flock(2) on the repository
 * directory itself: every handle holds a shared lock for its lifetime and
 * cfs_repo_gc() converts it to an exclusive one while it deletes.
 *
 * A handle is not thread-safe; use one per thread.
 */

/** Flags for cfs_repo_open() and cfs_repo_init(). */
#define CFS_REPO_NOWAIT (1u << 0)   /* fail with -EWOULDBLOCK instead of waiting for a lock */
#define CFS_REPO_READONLY (1u << 1) /* no writes will be made (the lock is still taken) */

/** The repository format version this library reads and writes (meta.json "version"). */
#define CFS_REPO_FORMAT_VERSION 1

struct cfs_repo;
struct cfs_objstore;

/**
 * cfs_repo_progress_fn - optional progress report for long operations.
 * @phase: short description ("checking objects", "collecting garbage", ...).
 * @done, @total: units processed so far and expected (@total 0 if unknown).
 */
typedef void (*cfs_repo_progress_fn)(void *user, const char *phase, uint64_t done, uint64_t total);

/**
 * cfs_repo_init() - create (or accept) a repository at @path.
 * Creates the directory (mode 0700, parents not created), objects/, images/refs/
 * and meta.json naming @alg; meta.json is written atomically and made durable.
 * Idempotent: an existing repository with the same algorithm is accepted.
 * @errbuf (may be NULL) receives a message on failure.
 * Returns 0; -EEXIST if a repository with another algorithm (or an
 * unreadable meta.json) is there; -EINVAL for an unknown @alg or flag; other -errno.
 */
int cfs_repo_init(int atdirfd, const char *path, enum cfs_hash_alg alg, unsigned flags, char *errbuf,
		  size_t errlen);

/**
 * cfs_repo_open() - open an initialized repository and take a shared lock on it.
 * A repository without meta.json (made by old composefs-rs versions) is accepted
 * when its algorithm can be inferred from the names of its objects.
 * Returns 0 and the handle in *@out; -ENOENT if there is no repository;
 * -EWOULDBLOCK with CFS_REPO_NOWAIT while garbage collection runs;
 * -EPROTO for a meta.json this library cannot use (newer version, unknown
 * incompatible feature, malformed); other -errno. @errbuf gets details.
 */
int cfs_repo_open(int atdirfd, const char *path, unsigned flags, struct cfs_repo **out, char *errbuf,
		  size_t errlen);

/** cfs_repo_free() - release the lock and the handle. Accepts NULL. */
void cfs_repo_free(struct cfs_repo *repo);

/** cfs_repo_errmsg() - detail of the last failure on @repo ("" if none). */
const char *cfs_repo_errmsg(const struct cfs_repo *repo);

/** cfs_repo_set_progress() - install (or with NULL remove) a progress callback. */
void cfs_repo_set_progress(struct cfs_repo *repo, cfs_repo_progress_fn fn, void *user);

/** cfs_repo_hash_alg() - the repository's fs-verity hash algorithm. */
enum cfs_hash_alg cfs_repo_hash_alg(const struct cfs_repo *repo);

/** cfs_repo_digest_size() - bytes in one of its digests (32 or 64). */
size_t cfs_repo_digest_size(const struct cfs_repo *repo);

/**
 * cfs_repo_writable() - whether this library may write to the repository.
 * False when opened CFS_REPO_READONLY, or when meta.json lists a
 * read-only-compatible feature or an image format this library cannot write
 * (*@why, if not NULL, then points to a static explanation).
 */
bool cfs_repo_writable(const struct cfs_repo *repo, const char **why);

/**
 * cfs_repo_objstore() - the repository's object store (objects/); owned by
 * @repo. Put objects there before committing an image that refers to them.
 */
struct cfs_objstore *cfs_repo_objstore(struct cfs_repo *repo);

/** cfs_repo_dirfd() - a descriptor of the repository directory (owned by @repo). */
int cfs_repo_dirfd(const struct cfs_repo *repo);

/**
 * cfs_repo_image_min_version() - composefs format version images of this
 * repository are written with (meta.json "erofs_formats": 0 = the reference
 * mkcomposefs default, 1 = `--min-version=1`).
 */
uint32_t cfs_repo_image_min_version(const struct cfs_repo *repo);

/**
 * cfs_repo_import_dir() - scan the directory @path (relative to @atdirfd) and
 * put the content of its regular files into the store (made durable before
 * returning). @opts may be NULL for the builder defaults; its store and
 * digest flag are chosen here. The tree, ready for cfs_repo_commit_tree(), is
 * returned in *@root_out (caller owns it). Returns 0, -EROFS, or the
 * builder's error with details on @repo.
 */
int cfs_repo_import_dir(struct cfs_repo *repo, int atdirfd, const char *path, const struct cfs_build_opts *opts,
			struct cfs_node **root_out);

/**
 * cfs_repo_commit_tree() - write @root as an image into the repository.
 * The objects its files refer to must already be in the store (synced with
 * cfs_objstore_sync()). The image is stored as an object, then images/<hex>
 * and, if @name is not NULL, images/refs/@name are published, each only after
 * what it points to is durable. @digest_out (cfs_repo_digest_size() bytes)
 * receives the image digest. Returns 0; -EINVAL for a bad @name; -EROFS when
 * the repository is not writable; other -errno with details on @repo.
 */
int cfs_repo_commit_tree(struct cfs_repo *repo, struct cfs_node *root, const char *name, uint8_t *digest_out);

/**
 * cfs_repo_import_image_fd() - store an existing image file (read from offset 0
 * of @fd to its end) as an image, optionally named. Same publication rules as
 * cfs_repo_commit_tree(). The image is parsed first; -EUCLEAN if it is invalid.
 */
int cfs_repo_import_image_fd(struct cfs_repo *repo, int fd, const char *name, uint8_t *digest_out);

/** Most '/'-separated components a ref name may have (gc and fsck refuse deeper refs). */
#define CFS_REPO_REF_MAX_COMPONENTS 64

/**
 * cfs_repo_ref_name_valid() - whether @name can be a ref: non-empty, at most
 * 1024 bytes and CFS_REPO_REF_MAX_COMPONENTS components separated by single
 * '/', none empty, "." or "..", none starting with '.', no NUL or control
 * characters.
 */
bool cfs_repo_ref_name_valid(const char *name);

/**
 * cfs_repo_tag() - point images/refs/@name at the image @digest (replacing an
 * existing ref atomically). Returns 0; -ENOENT if the image is not in the
 * repository; -EINVAL for a bad name; -EROFS; other -errno.
 */
int cfs_repo_tag(struct cfs_repo *repo, const uint8_t *digest, const char *name);

/**
 * cfs_repo_untag() - remove images/refs/@name (the image stays until gc).
 * Returns 0, -ENOENT if there is no such ref, -EINVAL, -EROFS, other -errno.
 */
int cfs_repo_untag(struct cfs_repo *repo, const char *name);

/**
 * cfs_repo_resolve() - find the image called @spec: a ref name, "refs/<name>",
 * or a hex digest (optionally prefixed "sha256:"/"sha512:"). Sets *@by_digest
 * (may be NULL) when @spec was a digest. Returns 0 with the digest in
 * @digest_out; -ENOENT if there is no such image; -EUCLEAN if a ref or image
 * link is malformed.
 */
int cfs_repo_resolve(struct cfs_repo *repo, const char *spec, uint8_t *digest_out, bool *by_digest);

/**
 * cfs_repo_open_image() - open the image @digest (O_RDONLY) through images/<hex>.
 * With @verify, the file's fs-verity digest (from the kernel when enabled,
 * else computed) must equal @digest, else -CFS_EDIGEST. Returns 0 and the fd
 * in *@fd_out (the caller closes it); -ENOENT; other -errno.
 */
int cfs_repo_open_image(struct cfs_repo *repo, const uint8_t *digest, bool verify, int *fd_out);

/** One image as listed by cfs_repo_list_images(). */
struct cfs_repo_image_info {
	const uint8_t *digest;    /* cfs_repo_digest_size() bytes */
	const char *const *names; /* NULL-terminated refs naming it, sorted (may be empty) */
	size_t n_names;
	uint64_t size;        /* bytes of the image file itself, 0 if unreadable */
	int64_t n_objects;    /* distinct objects it refers to; -errno if it cannot be read */
	uint64_t objects_size; /* bytes of those objects present in the store */
};

/** Called once per image; non-zero return stops the listing and is returned. */
typedef int (*cfs_repo_image_fn)(void *user, const struct cfs_repo_image_info *info);

/**
 * cfs_repo_list_images() - every image under images/ (sorted by digest), with
 * the refs naming it. With @with_objects, each image is parsed to fill
 * n_objects and objects_size (else they are 0). Returns 0, the callback's
 * non-zero value, or -errno.
 */
int cfs_repo_list_images(struct cfs_repo *repo, bool with_objects, cfs_repo_image_fn fn, void *user);

/** Called once per object digest; non-zero return stops and is returned. */
typedef int (*cfs_repo_object_fn)(void *user, const uint8_t *digest);

/**
 * cfs_repo_image_objects() - the distinct objects image @digest refers to,
 * in ascending digest order. Returns 0, the callback's value, -ENOENT,
 * -EUCLEAN for an image that does not parse, other -errno.
 */
int cfs_repo_image_objects(struct cfs_repo *repo, const uint8_t *digest, cfs_repo_object_fn fn, void *user);

/** Flags for cfs_repo_gc(). */
#define CFS_REPO_GC_DRY_RUN (1u << 0) /* report, delete nothing (shared lock only) */

/** What garbage collection removed (or would remove). */
struct cfs_repo_gc_stats {
	uint64_t objects_removed;
	uint64_t bytes_removed;   /* apparent size of removed objects and temporary files */
	uint64_t images_removed;  /* images/<hex> links of unreferenced images */
	uint64_t refs_removed;    /* refs that led nowhere */
	uint64_t temp_removed;    /* leftover temporary files of interrupted writers */
	uint64_t objects_kept;
	uint64_t images_kept;
	uint64_t signatures_removed; /* signature files of removed images (signatures/<hex>/) */
	uint64_t trees_removed;   /* trees/ files of objects removed (or absent) */
	uint64_t reserved[7];
};

/**
 * cfs_repo_gc() - delete what no ref reaches.
 * Takes the exclusive lock (waiting for writers, or -EWOULDBLOCK when the
 * repository was opened CFS_REPO_NOWAIT), then: roots are the images named
 * under images/refs/; live objects are those images and every object they
 * refer to. Dangling refs, images/ links of unreferenced images, the
 * signatures of images no longer in images/ (signatures/<hex>/), unreferenced
 * objects, the published trees (trees/) of objects not kept, and leftover
 * temporary files are removed, in that order, so an interruption leaves only
 * garbage. Split streams are roots when a ref under
 * streams/refs/ reaches them: they, the objects they reference, and the
 * streams and images their named references name (recursively) are kept;
 * streams/ links to collected objects are removed. An image or stream
 * reachable from a ref that cannot be read aborts the collection before
 * anything is deleted (-EUCLEAN).
 * Returns 0 and fills @stats (may be NULL).
 */
int cfs_repo_gc(struct cfs_repo *repo, unsigned flags, struct cfs_repo_gc_stats *stats);

/*
 * Streams (composefs-rs' layout): streams/NAME is a symlink to ../objects/XX/REST, the
 * object holding a split stream (such as an OCI layer tar, "oci-layer-sha256:<diff_id>");
 * streams/refs/REF (REF may hold '/') is a symlink to streams/NAME and a gc root. gc keeps
 * every stream a ref reaches, the objects it references and, through its named references,
 * the streams and images it names.
 */

/**
 * cfs_repo_stream_name_valid() - whether @name can name a stream: one path
 * component of 1 to 255 bytes, not starting with '.', no control characters.
 */
bool cfs_repo_stream_name_valid(const char *name);

/**
 * cfs_repo_stream_get() - the digest of the object streams/@name links to.
 * Returns 0; -ENOENT when there is no such stream; -EINVAL for an invalid
 * name; -EUCLEAN when the link is not "../objects/XX/REST" of a digest of
 * the repository's size.
 */
int cfs_repo_stream_get(struct cfs_repo *repo, const char *name, uint8_t *digest_out);

/**
 * cfs_repo_stream_set() - make streams/@name link to the object @digest,
 * which must be in the store. Objects staged by batch-mode writers are made
 * durable first (the stream, and what it references, exists before its name
 * does); the link is created or atomically replaced, and its directory
 * synced. Returns 0, -EINVAL, -ENOENT (no such object), -EROFS, -errno.
 */
int cfs_repo_stream_set(struct cfs_repo *repo, const char *name, const uint8_t *digest);

/**
 * cfs_repo_stream_ref_set() - streams/refs/@ref (a ref name as
 * cfs_repo_ref_name_valid() accepts) links to the stream @name, which must
 * exist; directories are created as needed, atomically and durably.
 * Returns 0, -EINVAL, -ENOENT, -EROFS, -errno.
 */
int cfs_repo_stream_ref_set(struct cfs_repo *repo, const char *ref, const char *name);

/**
 * cfs_repo_stream_ref_get() - the stream streams/refs/@ref links to: its
 * name into @name (@len bytes). Returns 0, -ENOENT, -EUCLEAN for a link of
 * another form, -ERANGE when @len is too small.
 */
int cfs_repo_stream_ref_get(struct cfs_repo *repo, const char *ref, char *name, size_t len);

/**
 * cfs_repo_stream_ref_remove() - remove streams/refs/@ref (and the
 * directories only it kept). What it kept goes at the next cfs_repo_gc().
 * Returns 0, -ENOENT, -EINVAL, -EROFS, -errno.
 */
int cfs_repo_stream_ref_remove(struct cfs_repo *repo, const char *ref);

/** What cfs_repo_publish_trees() did. */
struct cfs_repo_trees_stats {
	uint64_t objects_large;  /* objects of at least the minimum size */
	uint64_t trees_written;  /* trees written now */
	uint64_t trees_present;  /* trees that were there already (left as they are) */
	uint64_t reserved[5];
};

/** Default minimum object size of `composefs publish-trees` (bytes). */
#define CFS_REPO_TREES_MIN_SIZE_DEFAULT (1024u * 1024u)

/**
 * cfs_repo_publish_trees() - write the Merkle tree of every object of at
 * least @min_size bytes to trees/XX/<rest> (the object's name under trees/),
 * in the file format of cfs_verity_tree_save(), so that a lazy client of the
 * repository served over HTTP can check byte ranges of the object before it
 * has all of it (cfs_fetch_tree()). Each tree is built from the object and
 * checked against its name first (a corrupt object fails the call, -EBADMSG
 * with the object named); each is written to a temporary file, synced and
 * linked into place, and each touched directory synced. Trees already there
 * are kept (idempotent; cfs_repo_fsck() checks them). gc removes the trees of
 * objects it removes. Other implementations ignore trees/.
 * Returns 0 and fills @stats (may be NULL); -EROFS; -errno, message on @repo.
 */
int cfs_repo_publish_trees(struct cfs_repo *repo, uint64_t min_size, struct cfs_repo_trees_stats *stats);

/** Kinds of problem cfs_repo_fsck() reports. */
enum cfs_repo_problem {
	CFS_REPO_PROBLEM_META = 1,        /* meta.json missing, unreadable or inconsistent */
	CFS_REPO_PROBLEM_DIGEST,          /* object content does not match its name */
	CFS_REPO_PROBLEM_OBJECT_READ,     /* object cannot be opened or read */
	CFS_REPO_PROBLEM_BAD_NAME,        /* unexpected entry in objects/ or images/ */
	CFS_REPO_PROBLEM_TEMP_FILE,       /* leftover temporary file (removable; gc deletes it) */
	CFS_REPO_PROBLEM_BROKEN_LINK,     /* images/<hex> missing its object or wrong target */
	CFS_REPO_PROBLEM_DANGLING_REF,    /* images/refs/<name> leads to no image */
	CFS_REPO_PROBLEM_BAD_IMAGE,       /* an image that does not parse */
	CFS_REPO_PROBLEM_MISSING_OBJECT,  /* an image refers to an object not in the store */
	CFS_REPO_PROBLEM_SIGNATURE,       /* signatures/<hex>/: a file not named by its SHA-256, a
					   * stale index, or signatures of an image not in the
					   * repository (gc removes those) */
	CFS_REPO_PROBLEM_BAD_TREE,        /* trees/XX/<rest> not the valid tree of a present object */
	CFS_REPO_PROBLEM_BAD_STREAM,      /* streams/<name>: its object is not a valid split stream */
};

/** cfs_repo_problem_name() - short stable name of a problem kind ("digest-mismatch", ...). */
const char *cfs_repo_problem_name(enum cfs_repo_problem kind);

/**
 * cfs_repo_problem_fn - called once per problem found. @path is relative to
 * the repository ("objects/ab/cd..."); @detail explains it. Non-zero return
 * stops the check and is returned.
 */
typedef int (*cfs_repo_problem_fn)(void *user, enum cfs_repo_problem kind, const char *path,
				   const char *detail);

/** Counts from cfs_repo_fsck(). */
struct cfs_repo_fsck_stats {
	uint64_t objects_checked;
	uint64_t objects_bad;
	uint64_t bytes_checked;
	uint64_t images_checked;
	uint64_t images_bad;
	uint64_t refs_checked;
	uint64_t refs_bad;
	uint64_t temp_files;       /* temporary files found and not removed */
	uint64_t problems;         /* all problems reported and not repaired, temp files included */
	uint64_t temp_removed;     /* temporary files removed (CFS_REPO_FSCK_REPAIR) */
	uint64_t signatures_checked; /* files under signatures/<hex>/ (index files excluded) */
	uint64_t signatures_bad;
	uint64_t streams_checked;  /* links in streams/ (composefs-rs' named split streams) */
	uint64_t streams_bad;      /* not a link to a split stream, or one referring to a missing object */
	uint64_t reserved[2];
};

/** Flags for cfs_repo_fsck(). */
#define CFS_REPO_FSCK_METADATA_ONLY (1u << 0) /* skip re-hashing object content */
/**
 * Remove leftover temporary files instead of only reporting them. Takes the
 * exclusive lock for the whole check, like cfs_repo_gc() (so every temporary
 * file then belongs to a writer that is gone). Nothing else is changed.
 */
#define CFS_REPO_FSCK_REPAIR (1u << 1)

/**
 * cfs_repo_fsck() - check the repository: meta.json; every object re-hashed
 * against its name; every published tree (trees/) loads against its name and
 * has its object; every images/ link resolves to its object and the image
 * parses and all objects it refers to exist; every split stream named in
 * streams/ is an object that parses, and every object and stream it refers
 * to exists (CFS_REPO_PROBLEM_MISSING_OBJECT with the stream's path
 * otherwise); every ref resolves to an image;
 * every stored signature is named by the SHA-256 of its bytes, is listed in its
 * index and belongs to an image in images/ (whether it verifies depends on
 * the trusted certificates, so 'composefs verify' checks that); leftover
 * temporary files. Modifies nothing without CFS_REPO_FSCK_REPAIR,
 * and takes no exclusive lock then, so a concurrent writer's temporary files
 * may be reported as such. With it, each removed temporary file is passed to
 * @fn (kind CFS_REPO_PROBLEM_TEMP_FILE, detail starting "removed") and counted
 * in temp_removed, not in problems; -EROFS when the repository is not
 * writable, -EWOULDBLOCK with CFS_REPO_NOWAIT while writers hold it. Objects are
 * re-hashed on up to 8 threads (one per CPU): @fn and the progress callback
 * may then be called from those threads, but never concurrently.
 * Returns 0 when the check ran (problems are reported through @fn and
 * counted in @stats), the callback's non-zero value, or -errno when the
 * check itself could not run.
 */
int cfs_repo_fsck(struct cfs_repo *repo, unsigned flags, cfs_repo_problem_fn fn, void *user,
		  struct cfs_repo_fsck_stats *stats);

/**
 * cfs_repo_digest_parse() - parse a digest as the repository names it: hex of
 * the repository's digest size, optionally with an "sha256:"/"sha512:" prefix
 * that must match its algorithm. Returns 0 or -EINVAL.
 */
int cfs_repo_digest_parse(const struct cfs_repo *repo, const char *text, uint8_t *digest_out);

/**
 * cfs_repo_digest_hex() - lower-case hex of a repository digest into @buf
 * (at least 2*CFS_VERITY_MAX_DIGEST+1 bytes). Returns @buf.
 */
char *cfs_repo_digest_hex(const struct cfs_repo *repo, const uint8_t *digest, char *buf);

#ifdef __cplusplus
}
#endif
#endif
