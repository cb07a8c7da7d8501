/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Test helper: the one-object and byte-range fetch API against a server.
 * fetch-range URL STOREDIR HEX OTHER-HEX [norange]: fetch both objects into a new store, then
 * read ranges of HEX through HTTP range requests checked against its Merkle tree and compare
 * them with the stored bytes; a range checked against OTHER's tree must be refused. With
 * "norange" the server ignores Range: every range but the whole object is -EOPNOTSUPP. */
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <composefs/composefs.h>

static int fails;

#define EXPECT(cond, ...)                                 \
	do {                                              \
		if (!(cond)) {                            \
			fprintf(stderr, "fetch-range: " __VA_ARGS__); \
			fputc('\n', stderr);              \
			fails++;                          \
		}                                         \
	} while (0)

int main(int argc, char **argv)
{
	struct cfs_objstore *s = NULL;
	struct cfs_fetch *f = NULL;
	struct cfs_verity_tree *t = NULL, *other = NULL;
	uint8_t d[32], od[32], *buf, *want;
	char err[256];
	size_t got;
	uint64_t size;
	int fd, ofd, r, n = 0;
	bool norange = argc == 6 && strcmp(argv[5], "norange") == 0;

	if ((argc != 5 && !norange) || cfs_digest_from_hex(argv[3], d, 32) < 0 || cfs_digest_from_hex(argv[4], od, 32) < 0) {
		fprintf(stderr, "usage: fetch-range URL STOREDIR HEX OTHER-HEX [norange]\n");
		return 2;
	}
	if (cfs_objstore_open(AT_FDCWD, argv[2], CFS_OBJSTORE_CREATE, CFS_HASH_SHA256, &s) < 0 ||
	    cfs_fetch_new(argv[1], NULL, &f, err, sizeof(err)) < 0) {
		fprintf(stderr, "fetch-range: setup failed\n");
		return 1;
	}
	r = cfs_fetch_object(f, s, d);
	EXPECT(r == 0, "fetch object: %s", cfs_fetch_errmsg(f));
	r = cfs_fetch_object(f, s, od);
	EXPECT(r == 0, "fetch other object: %s", cfs_fetch_errmsg(f));
	if (fails)
		return 1;
	if (cfs_objstore_open_object(s, d, &fd) < 0 || cfs_objstore_open_object(s, od, &ofd) < 0 ||
	    cfs_verity_tree_build(fd, CFS_HASH_SHA256, d, &t) < 0 ||
	    cfs_verity_tree_build(ofd, CFS_HASH_SHA256, od, &other) < 0) {
		fprintf(stderr, "fetch-range: the fetched objects do not verify\n");
		return 1;
	}
	size = cfs_verity_tree_file_size(t);
	buf = malloc(size + 4096);
	want = malloc(size + 4096);
	if (buf == NULL || want == NULL || pread(fd, want, size, 0) != (ssize_t)size)
		return 1;
	/* ranges of 1, 3 and 8 blocks from every block offset; the last ones are cut at the end */
	for (uint64_t off = 0; off < size; off += 4096) {
		static const size_t lens[] = { 4096, 3 * 4096, 8 * 4096 };

		for (size_t i = 0; i < 3; i++) {
			size_t exp = size - off < lens[i] ? (size_t)(size - off) : lens[i];

			r = cfs_fetch_object_range(f, t, d, buf, lens[i], off, &got);
			if (norange && !(off == 0 && exp == size))
				EXPECT(r == -EOPNOTSUPP, "range %llu+%zu from a server without ranges: %d (%s)",
				       (unsigned long long)off, lens[i], r, cfs_fetch_errmsg(f));
			else
				EXPECT(r == 0 && got == exp && memcmp(buf, want + off, exp) == 0,
				       "range %llu+%zu: %d, %zu bytes (%s)", (unsigned long long)off, lens[i], r, got,
				       cfs_fetch_errmsg(f));
			n++;
		}
	}
	r = cfs_fetch_object_range(f, t, d, buf, 4096, 1, &got);
	EXPECT(r == -EINVAL, "misaligned range: %d", r);
	r = cfs_fetch_object_range(f, t, d, buf, 4096, size + 4096, &got);
	EXPECT(r == -EINVAL, "range beyond the end: %d", r);
	if (norange) {
		r = cfs_fetch_object_range(f, t, d, buf, size, 0, &got);
		EXPECT(r == 0 && got == size && memcmp(buf, want, size) == 0, "the whole object as a range: %d (%s)", r,
		       cfs_fetch_errmsg(f));
	}
	if (!norange && cfs_verity_tree_file_size(other) >= 4096 && size >= 4096) {
		r = cfs_fetch_object_range(f, other, d, buf, 4096, 0, &got);
		EXPECT(r == -CFS_EDIGEST, "a range checked against another object's tree: %d", r);
	}
	if (fails == 0)
		printf(norange ? "%d ranges of a %llu-byte object refused as unsupported, the whole one read\n"
			       : "%d ranges of a %llu-byte object verified; bad requests and a wrong tree refused\n",
		       n, (unsigned long long)size);
	cfs_verity_tree_free(t);
	cfs_verity_tree_free(other);
	close(fd);
	close(ofd);
	free(buf);
	free(want);
	cfs_fetch_free(f);
	cfs_objstore_free(s);
	return fails ? 1 : 0;
}
