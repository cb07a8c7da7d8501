/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* composefs-fuse: lazy fetch (-o remote=URL): objects missing from the basedirs come from a served repository. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cfs-fuse.h"

/*
 * Objects are fetched on the first open that misses them, verified while they stream (the
 * library stores nothing whose fs-verity digest is not its name) and written into the first
 * basedir; lib/objects makes concurrent opens of one object wait for a single fetch. Objects
 * of at least range_min bytes whose Merkle tree the server publishes are read in ranges
 * instead (lib/objects keeps the chunks and names the object once it is complete). A fetch
 * handle serves one thread at a time, so there is one per worker, lent out under a lock.
 */
struct cfuse_remote {
	struct cfs_objstore *store[2]; /* the first basedir, for sha256 and sha512 names */
	pthread_mutex_t lock;
	pthread_cond_t freed;
	unsigned n;
	struct cfs_fetch **idle; /* handles not lent out */
	unsigned n_idle;
	uint64_t range_min; /* smaller objects are fetched whole without asking for a tree */
};

int cfuse_remote_new(const char *url, const char *basedir, unsigned handles, uint64_t range_min,
		     struct cfuse_remote **out, char *err, size_t errlen)
{
	struct cfuse_remote *rm = calloc(1, sizeof(*rm));
	struct cfs_fetch_opts fo;
	int r;

	*out = NULL;
	if (rm == NULL)
		return -ENOMEM;
	pthread_mutex_init(&rm->lock, NULL);
	pthread_cond_init(&rm->freed, NULL);
	rm->range_min = range_min;
	if (handles == 0)
		handles = 1;
	rm->idle = calloc(handles, sizeof(*rm->idle));
	if (rm->idle == NULL) {
		cfuse_remote_free(rm);
		return -ENOMEM;
	}
	/* objects go where the first basedir will find them; each is durable once it is there */
	r = cfs_objstore_open(AT_FDCWD, basedir, 0, CFS_HASH_SHA256, &rm->store[0]);
	if (r == 0)
		r = cfs_objstore_open(AT_FDCWD, basedir, 0, CFS_HASH_SHA512, &rm->store[1]);
	if (r < 0) {
		snprintf(err, errlen, "basedir %s: %s", basedir, strerror(-r));
		cfuse_remote_free(rm);
		return r;
	}
	cfs_fetch_opts_init(&fo);
	fo.jobs = 1;
	/* a reader waits for the first open: fail in seconds, not in a minute, when the server is gone */
	fo.retries = 2;
	fo.retry_delay_ms = 200;
	fo.connect_timeout_ms = 5000;
	fo.stall_timeout_ms = 15000;
	for (; rm->n < handles; rm->n++) {
		r = cfs_fetch_new(url, &fo, &rm->idle[rm->n], err, errlen);
		if (r < 0) {
			cfuse_remote_free(rm);
			return r;
		}
		rm->n_idle++;
	}
	*out = rm;
	return 0;
}

void cfuse_remote_free(struct cfuse_remote *rm)
{
	if (rm == NULL)
		return;
	for (unsigned i = 0; i < rm->n_idle; i++)
		cfs_fetch_free(rm->idle[i]);
	cfs_objstore_free(rm->store[0]);
	cfs_objstore_free(rm->store[1]);
	pthread_cond_destroy(&rm->freed);
	pthread_mutex_destroy(&rm->lock);
	free(rm->idle);
	free(rm);
}

static struct cfs_fetch *borrow(struct cfuse_remote *rm)
{
	struct cfs_fetch *f;

	pthread_mutex_lock(&rm->lock);
	while (rm->n_idle == 0)
		pthread_cond_wait(&rm->freed, &rm->lock);
	f = rm->idle[--rm->n_idle];
	pthread_mutex_unlock(&rm->lock);
	return f;
}

static void give_back(struct cfuse_remote *rm, struct cfs_fetch *f)
{
	pthread_mutex_lock(&rm->lock);
	rm->idle[rm->n_idle++] = f;
	pthread_cond_signal(&rm->freed);
	pthread_mutex_unlock(&rm->lock);
}

/*
 * Only what can be verified, and only where the image expects it. The name says the
 * algorithm: XX/<62 hex> sha256, XX/<126 hex> sha512 (a served repository has one; the
 * fetch handles refuse the other); *@store_out is the basedir's store for it.
 */
static int fetchable(struct cfuse_remote *rm, const char **path, const uint8_t *digest,
		     struct cfs_objstore **store_out)
{
	char want[2 * CFS_VERITY_MAX_DIGEST + 2];
	struct cfs_objstore *store;
	size_t dsize;

	if (digest == NULL) {
		cfuse_log("object %s: not fetched: the image records no fs-verity digest for it", *path);
		return -EPERM;
	}
	while (**path == '/')
		(*path)++;
	store = strlen(*path) == 2 * 64 + 1 ? rm->store[1] : rm->store[0];
	dsize = cfs_verity_digest_size(cfs_objstore_get_alg(store));
	*store_out = store;
	if (cfs_objstore_digest_path(digest, dsize, want, sizeof(want)) < 0 || strcmp(*path, want) != 0) {
		cfuse_log("object %s: not fetched: the path is not the object's name %s", *path, want);
		return -EPERM;
	}
	return 0;
}

int cfuse_remote_fetch(void *user, const char *path, const uint8_t *digest)
{
	struct cfuse_remote *rm = user;
	struct cfs_objstore *store;
	struct cfs_fetch *f;
	int r = fetchable(rm, &path, digest, &store);

	if (r < 0)
		return r;
	f = borrow(rm);
	r = cfs_fetch_object(f, store, digest);
	if (r < 0 && r != -ENOENT)
		cfuse_log("object %s: fetch failed: %s", path, cfs_fetch_errmsg(f));
	give_back(rm, f);
	return r;
}

/*
 * Ranged fetch, first step: the server's trees/XX/<rest>, trusted only once its root gives
 * the digest. No tree (404) is the common case for small objects and servers that publish
 * none: quietly the whole object then; a tree that does not match is worth a line.
 */
int cfuse_remote_tree(void *user, const char *path, const uint8_t *digest, uint64_t size,
		      struct cfs_verity_tree **tree_out)
{
	struct cfuse_remote *rm = user;
	struct cfs_objstore *store;
	struct cfs_fetch *f;
	int r = fetchable(rm, &path, digest, &store);

	*tree_out = NULL;
	if (r < 0)
		return r;
	if (size != CFS_OBJECT_SIZE_ANY && size < rm->range_min)
		return -ENOENT;
	f = borrow(rm);
	r = cfs_fetch_tree(f, cfs_objstore_get_alg(store), digest, size == CFS_OBJECT_SIZE_ANY ? UINT64_MAX : size, tree_out);
	if (r < 0 && r != -ENOENT)
		cfuse_log("object %s: no ranged fetch, fetching it whole: %s", path, cfs_fetch_errmsg(f));
	give_back(rm, f);
	return r;
}

int cfuse_remote_range(void *user, const uint8_t *digest, const struct cfs_verity_tree *tree, void *buf,
		       size_t len, uint64_t offset)
{
	struct cfuse_remote *rm = user;
	struct cfs_fetch *f = borrow(rm);
	size_t got = 0;
	int r;

	r = cfs_fetch_object_range(f, tree, digest, buf, len, offset, &got);
	if (r == 0 && got != len)
		r = -EIO;
	if (r == -EOPNOTSUPP)
		cfuse_log("%s; fetching the object whole", cfs_fetch_errmsg(f));
	else if (r < 0)
		cfuse_log("range fetch failed: %s", cfs_fetch_errmsg(f));
	give_back(rm, f);
	return r;
}
