/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Which objects images refer to, digest sets, and the listing of images with their refs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <composefs/image.h>

#include "node.h"
#include "repo-private.h"
#include "util.h"

void cfs_digest_set_init(struct cfs_digest_set *s, size_t dsize)
{
	*s = (struct cfs_digest_set){ .dsize = dsize, .sorted = true };
}

void cfs_digest_set_clear(struct cfs_digest_set *s)
{
	free(s->v);
	cfs_digest_set_init(s, s->dsize);
}

int cfs_digest_set_add(struct cfs_digest_set *s, const uint8_t *d)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 256;
		uint8_t *v = realloc(s->v, cap * s->dsize);

		if (v == NULL)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	memcpy(s->v + s->n * s->dsize, d, s->dsize);
	s->n++;
	s->sorted = false;
	return 0;
}

/* qsort has no context argument; the digest size is the only state, and both
 * sizes are fixed, so one comparator per size keeps the library free of globals. */
static int cmp32(const void *a, const void *b)
{
	return memcmp(a, b, 32);
}

static int cmp64(const void *a, const void *b)
{
	return memcmp(a, b, 64);
}

void cfs_digest_set_finish(struct cfs_digest_set *s)
{
	size_t out = 0;

	if (s->sorted)
		return;
	qsort(s->v, s->n, s->dsize, s->dsize == 64 ? cmp64 : cmp32);
	for (size_t i = 0; i < s->n; i++) {
		if (out > 0 && memcmp(s->v + (out - 1) * s->dsize, s->v + i * s->dsize, s->dsize) == 0)
			continue;
		if (out != i)
			memcpy(s->v + out * s->dsize, s->v + i * s->dsize, s->dsize);
		out++;
	}
	s->n = out;
	s->sorted = true;
}

bool cfs_digest_set_has(const struct cfs_digest_set *s, const uint8_t *d)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = memcmp(s->v + mid * s->dsize, d, s->dsize);

		if (c == 0)
			return true;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

struct collect {
	struct cfs_repo *repo;
	struct cfs_digest_set *set; /* NULL: only check */
	bool strict;
	char *err;
	size_t errlen;
};

/* A digest of another algorithm names no object of this repository. */
static int check_alg(const struct collect *c, const struct cfs_walk_entry *e)
{
	enum cfs_hash_alg alg = cfs_node_get_digest_alg(e->node);

	if (!c->strict || alg == 0 || alg == c->repo->alg)
		return 0;
	return cfs_errbuf_set(c->err, c->errlen, -EINVAL,
			      "%s: its fs-verity digest is %s, the repository's algorithm is %s", e->path,
			      cfs_hash_alg_name(alg), cfs_hash_alg_name(c->repo->alg));
}

/* Images are untrusted and may nest deeper than the C stack allows: the walk has its own. */
static int collect_node(const struct cfs_walk_entry *e, void *user)
{
	const struct collect *c = user;
	const struct cfs_node *node = e->node;
	uint8_t d[CFS_VERITY_MAX_DIGEST];
	int r;

	if (!S_ISREG(node->mode) || node->content != NULL)
		return 0;
	r = check_alg(c, e);
	if (r < 0 || c->set == NULL)
		return r;
	if (node->payload != NULL && cfs_repo_parse_object_path(c->repo, node->payload, d) == 0)
		return cfs_digest_set_add(c->set, d);
	if (node->payload == NULL && node->has_digest && node->digest_alg == c->repo->alg)
		return cfs_digest_set_add(c->set, node->digest);
	return 0;
}

int cfs_repo_check_tree_alg(struct cfs_repo *repo, struct cfs_node *root, char *err, size_t errlen)
{
	struct collect c = { repo, NULL, true, err, errlen };

	return cfs_node_walk(root, 0, collect_node, NULL, &c);
}

int cfs_repo_collect_image_objects(struct cfs_repo *repo, int fd, struct cfs_digest_set *set, char *err,
				   size_t errlen)
{
	return cfs_repo_collect_image_objects_flags(repo, fd, set, 0, err, errlen);
}

int cfs_repo_collect_image_objects_flags(struct cfs_repo *repo, int fd, struct cfs_digest_set *set, unsigned flags,
					 char *err, size_t errlen)
{
	struct collect c = { repo, set, (flags & CFS_REPO_COLLECT_STRICT) != 0, err, errlen };
	struct cfs_image *img = NULL;
	struct cfs_node *root = NULL;
	int r;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	r = cfs_image_open_fd_err(fd, NULL, &img, err, errlen);
	if (r < 0)
		return r == -ENOMEM ? r : -EUCLEAN;
	r = cfs_image_load_tree(img, &root);
	if (r < 0) {
		cfs_errbuf_set(err, errlen, r, "%s", cfs_image_errmsg(img)[0] ? cfs_image_errmsg(img) : strerror(-r));
		cfs_image_close(img);
		return r == -ENOMEM ? r : -EUCLEAN;
	}
	cfs_image_close(img);
	r = cfs_node_walk(root, 0, collect_node, NULL, &c);
	cfs_node_unref(root);
	return r;
}

int cfs_repo_image_objects(struct cfs_repo *repo, const uint8_t *digest, cfs_repo_object_fn fn, void *user)
{
	struct cfs_digest_set set;
	_cleanup_close_ int fd = -1;
	char err[256];
	int r;

	r = cfs_repo_open_image(repo, digest, false, &fd);
	if (r < 0)
		return r;
	cfs_digest_set_init(&set, repo->dsize);
	r = cfs_repo_collect_image_objects(repo, fd, &set, err, sizeof(err));
	if (r < 0) {
		cfs_digest_set_clear(&set);
		return cfs_repo_fail(repo, r, "image does not parse: %s", err);
	}
	cfs_digest_set_finish(&set);
	for (size_t i = 0; i < set.n && r == 0; i++)
		r = fn(user, set.v + i * set.dsize);
	cfs_digest_set_clear(&set);
	return r;
}

struct image_entry {
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	char **names;
	size_t n_names;
};

struct image_list {
	struct image_entry *v;
	size_t n;
	size_t dsize;
};

static void image_list_free(struct image_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		for (size_t j = 0; j < l->v[i].n_names; j++)
			free(l->v[i].names[j]);
		free(l->v[i].names);
	}
	free(l->v);
}

static int entry_cmp(const void *a, const void *b)
{
	return memcmp(((const struct image_entry *)a)->digest, ((const struct image_entry *)b)->digest,
		      CFS_VERITY_MAX_DIGEST);
}

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int read_images(struct cfs_repo *repo, struct image_list *l)
{
	DIR *d;
	struct dirent *de;
	size_t cap = 0;
	int r;

	r = cfs_repo_opendir(repo, "images", &d);
	if (r < 0 || d == NULL)
		return r;
	while ((de = readdir(d)) != NULL) {
		uint8_t dg[CFS_VERITY_MAX_DIGEST] = { 0 };

		if (strlen(de->d_name) != 2 * repo->dsize ||
		    cfs_hex_decode(de->d_name, 2 * repo->dsize, dg, repo->dsize) < 0)
			continue;
		if (l->n == cap) {
			struct image_entry *v = realloc(l->v, (cap ? cap * 2 : 16) * sizeof(*v));

			if (v == NULL) {
				r = -ENOMEM;
				break;
			}
			l->v = v;
			cap = cap ? cap * 2 : 16;
		}
		l->v[l->n] = (struct image_entry){ 0 };
		memcpy(l->v[l->n].digest, dg, sizeof(dg));
		l->n++;
	}
	closedir(d);
	if (l->n > 0)
		qsort(l->v, l->n, sizeof(*l->v), entry_cmp);
	return r;
}

static int add_name(struct image_entry *e, const char *name)
{
	char **v = realloc(e->names, (e->n_names + 2) * sizeof(*v));

	if (v == NULL)
		return -ENOMEM;
	e->names = v;
	v[e->n_names] = strdup(name);
	if (v[e->n_names] == NULL)
		return -ENOMEM;
	e->n_names++;
	v[e->n_names] = NULL;
	return 0;
}

/* Attach every ref under @dirfd (path @prefix) to the image it names. */
static int read_refs(struct cfs_repo *repo, int dirfd, const char *prefix, struct image_list *l, int depth)
{
	DIR *d;
	struct dirent *de;
	int r = 0;

	if (depth > 64)
		return 0;
	d = fdopendir(dirfd);
	if (d == NULL) {
		close(dirfd);
		return -ENOMEM;
	}
	while (r == 0 && (de = readdir(d)) != NULL) {
		char name[PATH_MAX];
		struct image_entry key = { 0 }, *e;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0 || cfs_repo_is_temp_name(de->d_name))
			continue;
		snprintf(name, sizeof(name), "%s%s%s", prefix, prefix[0] ? "/" : "", de->d_name);
		if (de->d_type == DT_UNKNOWN) { /* file systems that do not fill in d_type */
			struct stat st;

			if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode))
				de->d_type = DT_DIR;
		}
		if (de->d_type == DT_DIR) {
			int sub = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);

			if (sub >= 0)
				r = read_refs(repo, sub, name, l, depth + 1);
			continue;
		}
		if (cfs_repo_read_ref(repo, dirfd, de->d_name, key.digest) < 0)
			continue;
		e = l->n ? bsearch(&key, l->v, l->n, sizeof(*l->v), entry_cmp) : NULL;
		if (e != NULL)
			r = add_name(e, name);
	}
	closedir(d);
	return r;
}

static void count_objects(struct cfs_repo *repo, int fd, struct cfs_repo_image_info *info)
{
	struct cfs_digest_set set;
	char rel[200];
	int r;

	cfs_digest_set_init(&set, repo->dsize);
	r = cfs_repo_collect_image_objects(repo, fd, &set, NULL, 0);
	if (r < 0) {
		info->n_objects = r;
		cfs_digest_set_clear(&set);
		return;
	}
	cfs_digest_set_finish(&set);
	info->n_objects = (int64_t)set.n;
	for (size_t i = 0; i < set.n; i++) {
		struct stat st;

		cfs_repo_object_relpath(repo, set.v + i * set.dsize, rel, sizeof(rel));
		if (fstatat(repo->dirfd, rel, &st, AT_SYMLINK_NOFOLLOW) == 0)
			info->objects_size += (uint64_t)st.st_size;
	}
	cfs_digest_set_clear(&set);
}

int cfs_repo_list_images(struct cfs_repo *repo, bool with_objects, cfs_repo_image_fn fn, void *user)
{
	struct image_list l = { .dsize = repo->dsize };
	static const char *const no_names[] = { NULL };
	int refs, r;

	r = read_images(repo, &l);
	refs = r == 0 ? cfs_repo_openat(repo, "images/refs", O_RDONLY | O_DIRECTORY) : -1;
	if (refs >= 0)
		r = read_refs(repo, refs, "", &l, 0);
	else if (r == 0 && refs != -ENOENT)
		r = cfs_repo_fail(repo, refs, "images/refs: %s", strerror(-refs));
	for (size_t i = 0; r == 0 && i < l.n; i++) {
		struct image_entry *e = &l.v[i];
		struct cfs_repo_image_info info = { .digest = e->digest };
		_cleanup_close_ int fd = -1;

		if (e->n_names > 1)
			qsort(e->names, e->n_names, sizeof(char *), name_cmp);
		info.names = e->names ? (const char *const *)e->names : no_names;
		info.n_names = e->n_names;
		if (cfs_repo_open_image(repo, e->digest, false, &fd) == 0) {
			struct stat st;

			if (fstat(fd, &st) == 0)
				info.size = (uint64_t)st.st_size;
			if (with_objects)
				count_objects(repo, fd, &info);
		} else {
			info.n_objects = -ENOENT;
		}
		r = fn(user, &info);
	}
	image_list_free(&l);
	repo->errmsg[0] = r == 0 ? '\0' : repo->errmsg[0];
	return r;
}
