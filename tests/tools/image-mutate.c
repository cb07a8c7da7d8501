/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Test helper: write seeded, structure-aware mutations of a composefs image. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/*
 * usage: image-mutate SEED COUNT IMAGE OUTDIR
 * Writes OUTDIR/m-SEED-N.img for N in [0, COUNT): byte flips, random bytes,
 * random little-endian u32/u16 values aimed mostly at the metadata (inodes,
 * inline and shared xattrs, directory blocks), truncations, and interesting
 * values (0, 0xffffffff, sizes just past the image end). Same seed, same files.
 */

static uint64_t state;

static uint64_t rnd(void)
{
	state ^= state << 13;
	state ^= state >> 7;
	state ^= state << 17;
	return state;
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static uint32_t interesting(size_t len)
{
	static const uint32_t v[] = { 0, 1, 2, 0x7f, 0x80, 0xff, 0x100, 0xfff, 0x1000, 0xffff, 0x10000,
				      0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff };

	switch (rnd() % 4) {
	case 0:
		return (uint32_t)len + (uint32_t)(rnd() % 64);
	case 1:
		return (uint32_t)(len / 32) + (uint32_t)(rnd() % 8); /* nid just past the end */
	default:
		return v[rnd() % (sizeof(v) / sizeof(v[0]))];
	}
}

/* Pick an offset: mostly metadata (after the superblock, before the data). */
static size_t pick(size_t len, size_t meta_end)
{
	unsigned r = (unsigned)(rnd() % 10);

	if (r < 6 && meta_end > 1152)
		return 1152 + (size_t)(rnd() % (meta_end - 1152));
	if (r < 7)
		return 1024 + (size_t)(rnd() % 128); /* superblock */
	return (size_t)(rnd() % len);
}

static int write_file(const char *path, const uint8_t *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t off = 0;

	if (fd < 0)
		return -1;
	while (off < len) {
		ssize_t n = write(fd, buf + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			close(fd);
			return -1;
		}
		off += (size_t)n;
	}
	return close(fd);
}

int main(int argc, char **argv)
{
	uint8_t *orig, *buf;
	size_t len, meta_end;
	unsigned long seed, count;
	struct stat st;
	char path[4096];
	int fd;

	if (argc != 5) {
		fprintf(stderr, "usage: image-mutate SEED COUNT IMAGE OUTDIR\n");
		return 2;
	}
	seed = strtoul(argv[1], NULL, 0);
	count = strtoul(argv[2], NULL, 0);
	fd = open(argv[3], O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0 || st.st_size < 2048) {
		perror(argv[3]);
		return 1;
	}
	len = (size_t)st.st_size;
	orig = malloc(len);
	buf = malloc(len);
	if (orig == NULL || buf == NULL || read(fd, orig, len) != (ssize_t)len) {
		perror(argv[3]);
		return 1;
	}
	close(fd);
	/* metadata ends where the shared xattrs end; without them, guess half */
	meta_end = (size_t)le32(orig + 1024 + 44) * 4096 + 4096;
	if (meta_end <= 4096 || meta_end > len)
		meta_end = len / 2;

	for (unsigned long n = 0; n < count; n++) {
		size_t cur = len;
		int muts = 1 + (int)(n % 3);

		state = (seed * 0x9E3779B97F4A7C15ull) ^ (n + 1) * 0xD1B54A32D192ED03ull;
		for (int i = 0; i < 8; i++)
			rnd();
		memcpy(buf, orig, len);
		for (int m = 0; m < muts; m++) {
			size_t off = pick(cur, meta_end);

			switch (rnd() % 8) {
			case 0:
			case 1:
				buf[off] ^= (uint8_t)(1u << (rnd() % 8));
				break;
			case 2:
				buf[off] = (uint8_t)rnd();
				break;
			case 3:
			case 4:
			case 5:
				off &= ~(size_t)1;
				if (off + 4 <= cur)
					put32(buf + off, rnd() % 2 ? interesting(len) : (uint32_t)rnd());
				break;
			case 6:
				if (off + 2 <= cur) {
					uint32_t v = interesting(len);
					buf[off] = (uint8_t)v;
					buf[off + 1] = (uint8_t)(v >> 8);
				}
				break;
			default:
				if (n % 5 == 0 && off > 0)
					cur = off; /* truncate */
				else
					buf[off] = 0;
			}
		}
		snprintf(path, sizeof(path), "%s/m-%lu-%lu.img", argv[4], seed, n);
		if (write_file(path, buf, cur) < 0) {
			perror(path);
			return 1;
		}
	}
	free(orig);
	free(buf);
	return 0;
}
