/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/*
 * The least work any image builder or verifying reader that uses read() must ask of this
 * kernel, measured so the benchmarks can print it beside our times. Not a tool: no hashing,
 * no image, nothing written.
 *
 *   cfs-bench-floor tree DIR   walk DIR as a builder must: every entry's stat, every
 *                              directory's and file's xattr list, every link's target,
 *                              every regular file opened and its content read once per
 *                              inode with 1 MiB reads
 *   cfs-bench-floor read FILE  read FILE once with 1 MiB reads (from the page cache when it
 *                              is there: the cost of one copy out of it)
 *
 * Prints one line: "entries N bytes B cpu S" where S is the CPU seconds (user + system) the
 * work took on this one thread.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <search.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#define BUF_SIZE (1u << 20)

struct floor {
	char *buf;
	uint64_t entries, bytes;
	void *inodes; /* tsearch tree of struct stat of files with more than one link */
};

static int cmp_ino(const void *a, const void *b)
{
	const struct stat *x = a, *y = b;

	if (x->st_dev != y->st_dev)
		return x->st_dev < y->st_dev ? -1 : 1;
	return x->st_ino < y->st_ino ? -1 : x->st_ino > y->st_ino;
}

static int read_all(struct floor *f, int fd)
{
	for (;;) {
		ssize_t n = read(fd, f->buf, BUF_SIZE);

		if (n == 0)
			return 0;
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		f->bytes += (uint64_t)n;
	}
}

/* true when @st is a hard link met before (its content is read once) */
static int seen(struct floor *f, const struct stat *st)
{
	struct stat *copy, **found;

	if (st->st_nlink < 2)
		return 0;
	copy = malloc(sizeof(*copy));
	if (copy == NULL)
		return -ENOMEM;
	*copy = *st;
	found = tsearch(copy, &f->inodes, cmp_ino);
	if (found == NULL) {
		free(copy);
		return -ENOMEM;
	}
	if (*found != copy) {
		free(copy);
		return 1;
	}
	return 0;
}

static int file(struct floor *f, int dfd, const char *name)
{
	char xattrs[65536];
	struct stat st;
	int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY), r = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) < 0 || flistxattr(fd, xattrs, sizeof(xattrs)) < 0)
		r = -errno;
	if (r == 0)
		r = seen(f, &st);
	if (r == 0)
		r = read_all(f, fd);
	close(fd);
	return r < 0 ? r : 0;
}

static int walk(struct floor *f, int dfd)
{
	DIR *d = fdopendir(dfd);
	struct dirent *e;
	int r = 0;

	if (d == NULL) {
		close(dfd);
		return -errno;
	}
	while (r == 0 && (errno = 0, e = readdir(d)) != NULL) {
		char xattrs[65536], target[4096];
		struct stat st;
		int fd;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		f->entries++;
		if (e->d_type == DT_REG) {
			r = file(f, dfd, e->d_name);
			continue;
		}
		if (fstatat(dfd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			return closedir(d), -errno;
		if (S_ISLNK(st.st_mode)) {
			if (readlinkat(dfd, e->d_name, target, sizeof(target)) < 0)
				r = -errno;
		} else if (S_ISDIR(st.st_mode)) {
			fd = openat(dfd, e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (fd < 0 || flistxattr(fd, xattrs, sizeof(xattrs)) < 0)
				r = -errno;
			else
				r = walk(f, fd);
		} else if (S_ISREG(st.st_mode)) {
			r = file(f, dfd, e->d_name);
		}
	}
	if (r == 0 && errno != 0)
		r = -errno;
	closedir(d);
	return r;
}

int main(int argc, char **argv)
{
	struct floor f = { 0 };
	struct rusage ru;
	int fd, r;

	if (argc != 3 || (strcmp(argv[1], "tree") != 0 && strcmp(argv[1], "read") != 0)) {
		fprintf(stderr, "usage: cfs-bench-floor tree DIR | read FILE\n");
		return 2;
	}
	f.buf = malloc(BUF_SIZE);
	if (f.buf == NULL) {
		fprintf(stderr, "cfs-bench-floor: out of memory\n");
		return 1;
	}
	if (strcmp(argv[1], "tree") == 0) {
		fd = open(argv[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		r = fd < 0 ? -errno : walk(&f, fd);
	} else {
		fd = open(argv[2], O_RDONLY | O_CLOEXEC);
		r = fd < 0 ? -errno : read_all(&f, fd);
		if (fd >= 0)
			close(fd);
	}
	if (r < 0) {
		fprintf(stderr, "cfs-bench-floor: %s: %s\n", argv[2], strerror(-r));
		return 1;
	}
	getrusage(RUSAGE_SELF, &ru);
	printf("entries %llu bytes %llu cpu %.3f\n", (unsigned long long)f.entries, (unsigned long long)f.bytes,
	       (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) + (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	free(f.buf);
	return 0;
}
