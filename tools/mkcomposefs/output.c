/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* mkcomposefs: where the image goes (atomic file, existing special file, or stdout). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mkcomposefs.h"
#include "util.h"

/* N for "/proc/self/fd/N" or "/dev/fd/N", else -1. */
static int fd_path_number(const char *path)
{
	static const char *const prefixes[] = { "/proc/self/fd/", "/dev/fd/" };

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++) {
		size_t plen = strlen(prefixes[i]);
		unsigned long n;
		char *end;

		if (strncmp(path, prefixes[i], plen) != 0 || path[plen] < '0' || path[plen] > '9')
			continue;
		errno = 0;
		n = strtoul(path + plen, &end, 10);
		if (errno == 0 && *end == '\0' && n <= INT_MAX)
			return (int)n;
	}
	return -1;
}

int mkcfs_output_open(const char *path, struct mkcfs_output *out)
{
	struct stat st;
	mode_t mask;

	*out = (struct mkcfs_output){ .fd = -1, .af = { .dirfd = -1, .fd = -1 } };
	if (strcmp(path, "-") == 0) {
		out->kind = MKCFS_OUT_STDOUT;
		out->fd = STDOUT_FILENO;
		return 0;
	}
	/*
	 * A descriptor handed in by a sandboxing parent: use it as it is, since
	 * re-opening it through /proc needs permissions the sandbox may lack.
	 */
	int inherited = fd_path_number(path);
	if (inherited >= 0) {
		out->fd = fcntl(inherited, F_DUPFD_CLOEXEC, 3);
		if (out->fd < 0)
			return -errno;
		out->kind = MKCFS_OUT_DIRECT;
		return 0;
	}
	/*
	 * A symlink (e.g. /dev/stdout),
	 * a device or a pipe is written in place; a regular file is replaced
	 * atomically so that a failure leaves nothing half-written.
	 */
	if (lstat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
		if (S_ISDIR(st.st_mode))
			return -EISDIR;
		out->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOCTTY, 0666);
		if (out->fd < 0)
			return -errno;
		out->kind = MKCFS_OUT_DIRECT;
		return 0;
	}
	mask = umask(0);
	umask(mask);
	out->kind = MKCFS_OUT_ATOMIC;
	int r = cfs_atomic_file_open(AT_FDCWD, path, 0666 & ~mask, &out->af);
	if (r < 0)
		return r;
	out->fd = out->af.fd;
	return 0;
}

int mkcfs_output_commit(struct mkcfs_output *out)
{
	struct stat st;
	int r = 0;

	switch (out->kind) {
	case MKCFS_OUT_ATOMIC: {
		/* the new name must be durable too: sync the directory after the rename */
		int dirfd = fcntl(out->af.dirfd, F_DUPFD_CLOEXEC, 3);

		r = cfs_atomic_file_commit(&out->af, true, true);
		if (r == 0 && dirfd >= 0 && fsync(dirfd) < 0)
			r = -errno;
		if (dirfd >= 0)
			close(dirfd);
		break;
	}
	case MKCFS_OUT_DIRECT:
		if (fstat(out->fd, &st) == 0 && S_ISREG(st.st_mode) && fsync(out->fd) < 0)
			r = -errno;
		if (close(out->fd) < 0 && r == 0)
			r = -errno;
		break;
	case MKCFS_OUT_STDOUT:
		break;
	}
	out->fd = -1;
	return r;
}

void mkcfs_output_abort(struct mkcfs_output *out)
{
	if (out->kind == MKCFS_OUT_ATOMIC)
		cfs_atomic_file_abort(&out->af);
	else if (out->kind == MKCFS_OUT_DIRECT && out->fd >= 0)
		close(out->fd);
	out->fd = -1;
}
