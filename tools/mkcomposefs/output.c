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

	*out = (struct mkcfs_output){ .fd = -1 };
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
	/* written by cfs_write_image_at() */
	out->kind = MKCFS_OUT_ATOMIC;
	return 0;
}

int mkcfs_output_commit(struct mkcfs_output *out)
{
	struct stat st;
	int r = 0;

	switch (out->kind) {
	case MKCFS_OUT_ATOMIC:
		break;
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
	if (out->kind == MKCFS_OUT_DIRECT && out->fd >= 0)
		close(out->fd);
	out->fd = -1;
}
