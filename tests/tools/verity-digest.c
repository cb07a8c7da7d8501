/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Test helper: print our fs-verity digests like `fsverity digest`, or generate test data. */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <composefs/composefs.h>

static const char *prog = "verity-digest";

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: %s [--hash-alg=sha256|sha512] [--chunk=N] [--tree] FILE...\n"
		"       %s --generate=SEED SIZE\n"
		"Print each FILE's fs-verity digest as \"ALG:HEX FILE\" (like `fsverity digest`).\n"
		"  --chunk=N     feed the streaming API N bytes per read(2) instead of\n"
		"                cfs_verity_digest_fd()\n"
		"  --tree        also build the Merkle tree with that digest and check every block\n"
		"  --generate    write SIZE deterministic pseudo-random bytes (seeded) to stdout\n",
		prog, prog);
}

/* splitmix64: the same generator the unit test uses for its known answers. */
static uint64_t next_random(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static int generate(uint64_t seed, uint64_t size)
{
	static uint8_t buf[1 << 16];
	uint64_t state = seed;

	while (size > 0) {
		size_t n = size < sizeof(buf) ? (size_t)size : sizeof(buf);

		for (size_t i = 0; i < n; i += 8) {
			uint64_t v = next_random(&state);

			for (size_t k = 0; k < 8 && i + k < n; k++)
				buf[i + k] = (uint8_t)(v >> (8 * k));
		}
		if (fwrite(buf, 1, n, stdout) != n) {
			fprintf(stderr, "%s: write: %s\n", prog, strerror(errno));
			return 1;
		}
		size -= n;
	}
	return fflush(stdout) == 0 ? 0 : 1;
}

static int digest_chunked(int fd, enum cfs_hash_alg alg, size_t chunk, uint8_t *digest)
{
	struct cfs_verity_ctx *ctx = NULL;
	uint8_t *buf = malloc(chunk);
	int r = buf ? cfs_verity_ctx_new(alg, &ctx) : -ENOMEM;

	while (r == 0) {
		ssize_t n = read(fd, buf, chunk);

		if (n < 0) {
			r = -errno;
			break;
		}
		if (n == 0) {
			r = cfs_verity_final(ctx, digest);
			break;
		}
		r = cfs_verity_update(ctx, buf, (size_t)n);
	}
	cfs_verity_ctx_free(ctx);
	free(buf);
	return r;
}

static int check_tree(int fd, enum cfs_hash_alg alg, const uint8_t *digest)
{
	struct cfs_verity_tree *t = NULL;
	size_t chunk = 1 << 20;
	uint8_t *buf = malloc(chunk);
	uint64_t off = 0;
	int r = buf ? cfs_verity_tree_build(fd, alg, digest, &t) : -ENOMEM;

	while (r == 0 && off < cfs_verity_tree_file_size(t)) {
		ssize_t n = pread(fd, buf, chunk, (off_t)off);

		if (n <= 0) {
			r = n < 0 ? -errno : -EIO;
			break;
		}
		r = cfs_verity_tree_check(t, off, buf, (size_t)n);
		off += (uint64_t)n;
	}
	cfs_verity_tree_free(t);
	free(buf);
	return r;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "hash-alg", required_argument, NULL, 'a' },
		{ "chunk", required_argument, NULL, 'c' },
		{ "tree", no_argument, NULL, 't' },
		{ "generate", required_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	enum cfs_hash_alg alg = CFS_HASH_SHA256;
	const char *seed = NULL;
	unsigned long long chunk = 0;
	bool tree = false;
	int c, status = 0;

	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'a':
			if (cfs_hash_alg_from_name(optarg, &alg) < 0) {
				fprintf(stderr, "%s: --hash-alg: unknown algorithm '%s'\n", prog, optarg);
				return 2;
			}
			break;
		case 'c':
			chunk = strtoull(optarg, NULL, 10);
			if (chunk == 0 || chunk > (1ull << 30)) {
				fprintf(stderr, "%s: --chunk: invalid size '%s'\n", prog, optarg);
				return 2;
			}
			break;
		case 't':
			tree = true;
			break;
		case 'g':
			seed = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (seed != NULL) {
		if (argc - optind != 1) {
			usage(stderr);
			return 2;
		}
		return generate(strtoull(seed, NULL, 0), strtoull(argv[optind], NULL, 0));
	}
	if (optind >= argc) {
		usage(stderr);
		return 2;
	}
	for (int i = optind; i < argc; i++) {
		uint8_t digest[CFS_VERITY_MAX_DIGEST];
		char hex[2 * CFS_VERITY_MAX_DIGEST + 1];
		size_t ds = cfs_verity_digest_size(alg);
		int fd = open(argv[i], O_RDONLY | O_CLOEXEC);
		int r = fd < 0 ? -errno : 0;

		if (r == 0)
			r = chunk ? digest_chunked(fd, alg, (size_t)chunk, digest)
				  : cfs_verity_digest_fd(fd, alg, digest);
		if (r == 0 && tree)
			r = check_tree(fd, alg, digest);
		if (fd >= 0)
			close(fd);
		if (r < 0) {
			fprintf(stderr, "%s: %s: %s\n", prog, argv[i], strerror(-r));
			status = 1;
			continue;
		}
		for (size_t k = 0; k < ds; k++)
			snprintf(hex + 2 * k, 3, "%02x", digest[k]);
		printf("%s:%s %s\n", cfs_hash_alg_name(alg), hex, argv[i]);
	}
	return status;
}
