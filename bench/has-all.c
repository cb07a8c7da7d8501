/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/*
 * cfs-bench-has-all OBJECTS_DIR [ROUNDS]: what checking that objects are present costs, the check
 * `composefs oci pull` makes before it reuses a layer. Every object of the store (in a shuffled
 * order, as a layer lists them) is checked by a stat each (cfs_objstore_has()) and by
 * cfs_objstore_has_all() on one thread and on every CPU; rounds interleaved, medians printed.
 * The first round of each runs on whatever the page cache holds; drop the caches first
 * (echo 2 > /proc/sys/vm/drop_caches) to see the cold case.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <composefs/store.h>
#include <composefs/verity.h>

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Every object name under @dir (XX/REST of @dsize-byte digests) into *@out. */
static size_t collect(const char *dir, size_t dsize, uint8_t **out)
{
	size_t n = 0, cap = 0;
	uint8_t *v = NULL;

	for (unsigned b = 0; b < 256; b++) {
		char sub[4096], path[4096];
		struct dirent *de;
		DIR *d;

		snprintf(sub, sizeof(sub), "%s/%02x", dir, b);
		d = opendir(sub);
		if (d == NULL)
			continue;
		while ((de = readdir(d)) != NULL) {
			snprintf(path, sizeof(path), "%02x/%s", b, de->d_name);
			if (n == cap) {
				cap = cap ? 2 * cap : 4096;
				v = realloc(v, cap * dsize);
				if (v == NULL)
					exit(1);
			}
			if (cfs_objstore_parse_path(path, dsize, v + n * dsize) == 0)
				n++;
		}
		closedir(d);
	}
	*out = v;
	return n;
}

int main(int argc, char **argv)
{
	static const char *const what[] = { "a stat each (cfs_objstore_has), 1 thread", "cfs_objstore_has_all, 1 thread",
					    "cfs_objstore_has_all, every CPU" };
	enum cfs_hash_alg alg = CFS_HASH_SHA256;
	int rounds = argc > 2 ? atoi(argv[2]) : 5;
	struct cfs_objstore *s;
	double *t[3];
	uint8_t *v, tmp[CFS_VERITY_MAX_DIGEST];
	size_t n, dsize;

	if (argc < 2 || rounds < 1) {
		fprintf(stderr, "usage: %s OBJECTS_DIR [ROUNDS]\n", argv[0]);
		return 2;
	}
	/* the digest size from the first name found */
	n = collect(argv[1], 32, &v);
	if (n == 0) {
		free(v);
		alg = CFS_HASH_SHA512;
		n = collect(argv[1], 64, &v);
	}
	dsize = cfs_verity_digest_size(alg);
	if (n == 0 || cfs_objstore_open(AT_FDCWD, argv[1], 0, alg, &s) != 0) {
		fprintf(stderr, "%s: no objects, or not an object store\n", argv[1]);
		return 1;
	}
	srand(1);
	for (size_t i = n - 1; i > 0; i--) {
		size_t j = (size_t)rand() % (i + 1);

		memcpy(tmp, v + i * dsize, dsize);
		memcpy(v + i * dsize, v + j * dsize, dsize);
		memcpy(v + j * dsize, tmp, dsize);
	}
	for (int m = 0; m < 3; m++)
		t[m] = calloc((size_t)rounds, sizeof(double));
	for (int r = 0; r < rounds; r++) {
		for (int m = 0; m < 3; m++) {
			double t0 = now();
			int rc = 0;

			if (m == 0) {
				for (size_t i = 0; i < n && rc == 0; i++)
					rc = cfs_objstore_has(s, v + i * dsize) == 1 ? 0 : -1;
			} else {
				rc = cfs_objstore_has_all(s, v, n, m == 1 ? 1 : 0, NULL);
			}
			t[m][r] = now() - t0;
			if (rc != 0) {
				fprintf(stderr, "%s: an object went missing\n", what[m]);
				return 1;
			}
		}
	}
	printf("%zu objects, %d round(s)\n", n, rounds);
	for (int m = 0; m < 3; m++) {
		double first = t[m][0];

		qsort(t[m], (size_t)rounds, sizeof(double), cmp_double);
		printf("%-42s first %.3f s, median %.3f s (%.2f us per object)\n", what[m], first, t[m][rounds / 2],
		       t[m][rounds / 2] * 1e6 / (double)n);
		free(t[m]);
	}
	cfs_objstore_free(s);
	free(v);
	return 0;
}
