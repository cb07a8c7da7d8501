/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* cfs_objstore_has_all(): whether many objects are present, listing a directory where that costs less than a stat each. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <composefs/store.h>

#include "util.h"
#include "workq.h"

/*
 * A stat by name walks two path components and reads the object's inode (from disk when it
 * is not cached: one random read per object). Listing XX/ reads only its directory blocks and
 * costs a small fraction of a stat per entry. So a directory is listed when many of the
 * objects asked for are in it and it holds not many more: at least LIST_MIN of them, and at
 * most LIST_RATIO entries per object asked for, estimated from the directory's size (about
 * 8 bytes plus the name per entry on ext4; the estimate errs high on btrfs and xfs, which then
 * stat more, and low on tmpfs, where listing is cheap anyway). What the listing does not show
 * as a regular file (absent, another type, a file system that gives no d_type, an object
 * staged by this process) is asked for by name (cfs_objstore_has()), so the answer is the
 * same either way.
 */
#define LIST_MIN 32
#define LIST_RATIO 8
/* below this many objects, one thread */
#define PARALLEL_MIN 4096

struct has_all {
	struct cfs_objstore *s;
	const uint8_t *digests;
	size_t dsize;
	size_t *order;     /* indexes grouped by first digest byte */
	size_t start[257]; /* bucket b is order[start[b] .. start[b + 1]) */
	pthread_mutex_t lock;
	int result;        /* 0 or the failure of the lowest index found (under lock) */
	size_t missing;
};

static const uint8_t *digest_at(const struct has_all *h, size_t i)
{
	return h->digests + i * h->dsize;
}

static int cmp_digest(const void *a, const void *b, void *arg)
{
	const struct has_all *h = arg;

	return memcmp(digest_at(h, *(const size_t *)a), digest_at(h, *(const size_t *)b), h->dsize);
}

static void fail_at(struct has_all *h, size_t i, int r)
{
	pthread_mutex_lock(&h->lock);
	/* of several failures, the one of the lowest index, so the answer does not depend on threads */
	if (h->result == 0 || i < h->missing) {
		h->result = r;
		h->missing = i;
	}
	pthread_mutex_unlock(&h->lock);
}

/* Whether bucket @b's directory is worth listing for its @n objects. */
static bool worth_listing(const struct has_all *h, unsigned b, size_t n)
{
	int dirfd = cfs_objstore_get_dirfd(h->s);
	size_t per_entry = (8 + 2 * h->dsize - 2 + 3) & ~(size_t)3;
	char name[3];
	struct stat st;

	if (n < LIST_MIN)
		return false;
	cfs_hex_encode((const uint8_t[]){ (uint8_t)b }, 1, name);
	name[2] = '\0';
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
		return false;
	return (uint64_t)st.st_size / per_entry <= (uint64_t)LIST_RATIO * n;
}

/* Mark in @seen (parallel to order[start[b]..], sorted by digest) the objects listed in XX/. */
static void list_bucket(struct has_all *h, unsigned b, size_t *idx, size_t n, bool *seen)
{
	int fd, dirfd = cfs_objstore_get_dirfd(h->s);
	size_t hexlen = 2 * h->dsize - 2;
	uint8_t want[CFS_VERITY_MAX_DIGEST];
	struct dirent *de;
	char name[3];
	DIR *d;

	cfs_hex_encode((const uint8_t[]){ (uint8_t)b }, 1, name);
	name[2] = '\0';
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return; /* every object is then asked for by name */
	d = fdopendir(fd);
	if (d == NULL) {
		close(fd);
		return;
	}
	want[0] = (uint8_t)b;
	while ((de = readdir(d)) != NULL) {
		size_t lo = 0, hi = n;

		/* only lowercase hex, as cfs_objstore_has() asks by name: "AB…" is not the object */
		if (de->d_type != DT_REG || strlen(de->d_name) != hexlen ||
		    strspn(de->d_name, "0123456789abcdef") != hexlen ||
		    cfs_hex_decode(de->d_name, hexlen, want + 1, h->dsize - 1) < 0)
			continue;
		while (lo < hi) {
			size_t mid = lo + (hi - lo) / 2;
			int c = memcmp(digest_at(h, idx[mid]), want, h->dsize);

			if (c == 0) {
				/* a digest asked for twice: mark each */
				for (size_t j = mid; j < n && memcmp(digest_at(h, idx[j]), want, h->dsize) == 0; j++)
					seen[j] = true;
				for (size_t j = mid; j-- > 0 && memcmp(digest_at(h, idx[j]), want, h->dsize) == 0;)
					seen[j] = true;
				break;
			}
			if (c < 0)
				lo = mid + 1;
			else
				hi = mid;
		}
	}
	closedir(d);
}

static void check_bucket(void *user, size_t b)
{
	struct has_all *h = user;
	size_t *idx = h->order + h->start[b], n = h->start[b + 1] - h->start[b];
	bool *seen = NULL;

	if (n == 0)
		return;
	if (worth_listing(h, (unsigned)b, n) && (seen = calloc(n, sizeof(*seen))) != NULL) {
		qsort_r(idx, n, sizeof(*idx), cmp_digest, h);
		list_bucket(h, (unsigned)b, idx, n, seen);
	}
	for (size_t j = 0; j < n; j++) {
		int r;

		if (seen != NULL && seen[j])
			continue;
		r = cfs_objstore_has(h->s, digest_at(h, idx[j]));
		if (r != 1)
			fail_at(h, idx[j], r == 0 ? -ENOENT : r);
	}
	free(seen);
}

int cfs_objstore_has_all(struct cfs_objstore *s, const uint8_t *digests, size_t n, unsigned threads,
			 size_t *missing)
{
	struct has_all h = { .s = s, .digests = digests, .dsize = cfs_verity_digest_size(cfs_objstore_get_alg(s)) };
	size_t fill[256];

	if (n == 0)
		return 0;
	if (digests == NULL || h.dsize < 2)
		return -EINVAL;
	h.order = malloc(n * sizeof(*h.order));
	if (h.order == NULL)
		return -ENOMEM;
	/* counting sort by the first byte: one bucket per objects/XX directory */
	memset(h.start, 0, sizeof(h.start));
	for (size_t i = 0; i < n; i++)
		h.start[digests[i * h.dsize] + 1]++;
	for (unsigned b = 0; b < 256; b++)
		h.start[b + 1] += h.start[b];
	memcpy(fill, h.start, sizeof(fill));
	for (size_t i = 0; i < n; i++)
		h.order[fill[digests[i * h.dsize]]++] = i;
	pthread_mutex_init(&h.lock, NULL);
	cfs_parallel_for(n < PARALLEL_MIN ? 1 : threads, 256, check_bucket, &h);
	pthread_mutex_destroy(&h.lock);
	free(h.order);
	if (h.result != 0 && missing != NULL)
		*missing = h.missing;
	return h.result;
}
