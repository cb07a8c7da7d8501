/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Private state of a repository handle, shared by the lib/store/repo*.c files. */
#ifndef CFS_STORE_REPO_PRIVATE_H
#define CFS_STORE_REPO_PRIVATE_H

#include <stdarg.h>
#include <dirent.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <composefs/repo.h>
#include <composefs/store.h>

#define CFS_REPO_META_NAME "meta.json"
/* The EROFS formats of composefs-rs: 0 and 1 are the C layouts, 2 is its own. */
#define CFS_REPO_EROFS_UNSET (-1)

struct cfs_repo {
	int dirfd;        /* repository directory; carries the flock */
	int objects_fd;   /* objects/ */
	unsigned flags;
	enum cfs_hash_alg alg;
	size_t dsize;
	bool writable;
	const char *ro_why;
	uint32_t min_version;
	struct cfs_objstore *store;
	cfs_repo_progress_fn progress;
	void *progress_user;
	char errmsg[512];
};

/* What we understood from meta.json. */
struct cfs_repo_meta {
	uint32_t version;
	enum cfs_hash_alg alg;
	int erofs_default;         /* CFS_REPO_EROFS_UNSET when absent */
	bool erofs_extra;          /* "extra" formats besides the default requested */
	uint32_t erofs_extra_mask; /* bit per extra format version */
	bool v1_flag;              /* read-only-compatible "v1_erofs" */
	char unknown_ro[64];       /* first unknown read-only-compatible feature, "" if none */
	char unknown_incompat[64]; /* first unknown incompatible feature, "" if none */
};

/* repo-meta.c */
int cfs_repo_meta_parse(const char *buf, size_t len, struct cfs_repo_meta *m, char *err, size_t errlen);
/* Render meta.json for a new repository (format version 1, EROFS format 1). */
int cfs_repo_meta_render(enum cfs_hash_alg alg, char *buf, size_t len);

/* repo.c */
__attribute__((format(printf, 3, 4))) int cfs_repo_fail(struct cfs_repo *repo, int err, const char *fmt, ...);
void cfs_repo_progress(struct cfs_repo *repo, const char *phase, uint64_t done, uint64_t total);
/* Parse "XX/rest" (an object path, optional leading '/', optional "objects/") into a digest. */
int cfs_repo_parse_object_path(const struct cfs_repo *repo, const char *path, uint8_t *digest);
/* "objects/XX/rest" relative to the repository; buf >= 160 bytes. */
void cfs_repo_object_relpath(const struct cfs_repo *repo, const uint8_t *digest, char *buf, size_t len);
/* Whether a directory entry name is one of the temporary files writers leave. */
bool cfs_repo_is_temp_name(const char *name);
/* fsync a directory (relative to the repository; "" for itself). */
int cfs_repo_sync_dir(struct cfs_repo *repo, const char *rel);
/*
 * Remove the ref symlink @top/@name (@top: "images/refs" or "streams/refs"; @name already
 * checked), then the directories only it kept, up to @top, and sync the last one changed.
 */
int cfs_repo_remove_ref_link(struct cfs_repo *repo, const char *top, const char *name);
/* -EROFS unless the repository was opened writable; with @need_store also -ENOENT without objects/. */
int cfs_repo_require_writable(struct cfs_repo *repo, bool need_store);
/*
 * Open @rel (flags as openat(2)) inside the repository, following no symbolic
 * link on the way: every repository directory is untrusted. Returns fd or -errno.
 */
int cfs_repo_openat(struct cfs_repo *repo, const char *rel, int flags);
/* Open the object of @digest: a regular file, never a FIFO or a link. fd or -errno. */
int cfs_repo_open_object(struct cfs_repo *repo, const uint8_t *digest);
/* Open the repository subdirectory @rel for reading; a missing one gives 0 and *@out NULL. */
int cfs_repo_opendir(struct cfs_repo *repo, const char *rel, DIR **out);
/* Read images/refs/<name> style symlink and return the image digest it names. */
int cfs_repo_read_ref(struct cfs_repo *repo, int dirfd, const char *name, uint8_t *digest);
/* Read images/<hex> and check that it points to ../objects/XX/rest of the same digest. */
int cfs_repo_read_image_link(struct cfs_repo *repo, const char *hexname, uint8_t *digest);
/* images/<hex> -> ../objects/XX/rest, durably; the object must be durable already. */
int cfs_repo_link_image(struct cfs_repo *repo, const uint8_t *digest);
/* cfs_repo_link_image(), then images/refs/@name (if not NULL) durably. */
int cfs_repo_publish(struct cfs_repo *repo, const uint8_t *digest, const char *name);
/* Create or atomically replace the symlink @rel (relative to the repository) pointing at @target. */
int cfs_repo_replace_symlink(struct cfs_repo *repo, const char *target, const char *rel);
/* streams.c: read a streams/NAME style link ("../objects/XX/REST") under @dirfd. */
int cfs_repo_stream_read_link(struct cfs_repo *repo, int dirfd, const char *name, uint8_t *digest);
/* Take the lock again in @op (LOCK_SH or LOCK_EX), honouring CFS_REPO_NOWAIT. */
int cfs_repo_relock(struct cfs_repo *repo, int op);

/* repo-objects.c: a sorted set of digests */
struct cfs_digest_set {
	uint8_t *v;
	size_t n;
	size_t cap;
	size_t dsize;
	bool sorted;
};
void cfs_digest_set_init(struct cfs_digest_set *s, size_t dsize);
void cfs_digest_set_clear(struct cfs_digest_set *s);
int cfs_digest_set_add(struct cfs_digest_set *s, const uint8_t *d);
/* Sort and deduplicate; needed before _has. */
void cfs_digest_set_finish(struct cfs_digest_set *s);
bool cfs_digest_set_has(const struct cfs_digest_set *s, const uint8_t *d);
/* Add every object image @fd refers to. -EUCLEAN (message in err) for a bad image. */
int cfs_repo_collect_image_objects(struct cfs_repo *repo, int fd, struct cfs_digest_set *set, char *err,
				   size_t errlen);
/* Also refuse (-EINVAL, message in err) a file whose digest is not of the repository's algorithm:
 * for images entering the repository (import, pull). */
#define CFS_REPO_COLLECT_STRICT (1u << 0)
int cfs_repo_collect_image_objects_flags(struct cfs_repo *repo, int fd, struct cfs_digest_set *set, unsigned flags,
					 char *err, size_t errlen);
/* -EINVAL (message in err) when a file of the tree has a digest of another algorithm than the repository's. */
int cfs_repo_check_tree_alg(struct cfs_repo *repo, struct cfs_node *root, char *err, size_t errlen);

#endif
