/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* libFuzzer target: Merkle tree files as a server publishes them (trees/XX/<rest>) and the verity cache stores them. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <composefs/composefs.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int memfd_of(const void *buf, size_t len)
{
	int fd = memfd_create("fuzz-tree", MFD_CLOEXEC);

	if (fd < 0)
		abort();
	if (len > 0 && write(fd, buf, len) != (ssize_t)len)
		abort();
	if (lseek(fd, 0, SEEK_SET) != 0)
		abort();
	return fd;
}

/*
 * Input: a selector byte, then
 *  raw (even selector): the rest is a tree file, loaded against a fixed digest: the header
 *    and level parser meet arbitrary bytes (nothing may be accepted: no tree has that digest);
 *  patched (odd): two bytes give n, the next n bytes are a file, the rest are (offset, value)
 *    triples applied to that file's real tree file; the result is loaded against the file's
 *    real digest. Whatever is accepted must then verify the file's every block: a tree that
 *    loads is as good as one built from the file.
 */
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum cfs_hash_alg alg;
	uint8_t digest[CFS_VERITY_MAX_DIGEST] = { 0 };
	struct cfs_verity_tree *t = NULL, *built = NULL;
	int fd, r;

	if (size < 1)
		return 0;
	alg = (data[0] & 2) ? CFS_HASH_SHA512 : CFS_HASH_SHA256;
	if ((data[0] & 1) == 0) {
		fd = memfd_of(data + 1, size - 1);
		r = cfs_verity_tree_load(fd, alg, digest, &t);
		close(fd);
		if (r == 0)
			abort(); /* a tree whose root gives an all-zero digest: impossible */
		return 0;
	}
	if (size < 3)
		return 0;
	size_t n = ((size_t)data[1] << 8 | data[2]) * 16; /* up to 1 MiB: three levels */
	const uint8_t *rest = data + 3;
	size_t rest_len = size - 3;
	uint8_t *file = calloc(1, n ? n : 1);
	if (file == NULL)
		return 0;
	/* the file: the input's bytes repeated (sparse inputs still give varied blocks) */
	for (size_t i = 0; i < n; i++)
		file[i] = rest_len ? (uint8_t)(rest[i % rest_len] + i / 4096) : (uint8_t)i;
	if (cfs_verity_digest_buf(alg, file, n, digest) != 0)
		abort();
	fd = memfd_of(file, n);
	if (cfs_verity_tree_build(fd, alg, digest, &built) != 0)
		abort();
	close(fd);
	fd = memfd_create("fuzz-tree-file", MFD_CLOEXEC);
	if (fd < 0 || cfs_verity_tree_save(built, fd) != 0)
		abort();
	off_t tlen = lseek(fd, 0, SEEK_END);
	for (size_t i = 0; i + 3 <= rest_len; i += 3) {
		off_t off = (off_t)(((size_t)rest[i] << 8 | rest[i + 1]) % (size_t)(tlen + 1));
		uint8_t v = rest[i + 2];

		if (pwrite(fd, &v, 1, off) != 1)
			abort();
	}
	if (lseek(fd, 0, SEEK_SET) != 0)
		abort();
	r = cfs_verity_tree_load(fd, alg, digest, &t);
	close(fd);
	if (r == 0) {
		if (cfs_verity_tree_file_size(t) != n || cfs_verity_tree_alg(t) != alg)
			abort();
		for (size_t off = 0; off < n; off += 4096) {
			size_t len = n - off < 4096 ? n - off : 4096;

			if (cfs_verity_tree_check(t, off, file + off, len) != 0)
				abort();
		}
		/* and refuses a changed block */
		if (n > 0) {
			size_t blk = (n / 2) & ~(size_t)4095, len = n - blk < 4096 ? n - blk : 4096;

			file[n / 2] ^= 1;
			if (cfs_verity_tree_check(t, blk, file + blk, len) == 0)
				abort();
		}
	}
	cfs_verity_tree_free(t);
	cfs_verity_tree_free(built);
	free(file);
	return 0;
}
