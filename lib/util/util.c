/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Private helpers: error buffers, hex, full I/O, atomic file creation. */
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>

#include "util.h"

int cfs_errbuf_vset(char *buf, size_t len, int err, const char *fmt, va_list ap)
{
	if (buf != NULL && len > 0)
		vsnprintf(buf, len, fmt, ap);
	return err;
}

int cfs_errbuf_set(char *buf, size_t len, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cfs_errbuf_vset(buf, len, err, fmt, ap);
	va_end(ap);
	return err;
}

void cfs_hex_encode(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int cfs_hex_decode(const char *hex, size_t hexlen, uint8_t *out, size_t len)
{
	if (hexlen != 2 * len)
		return -EINVAL;
	for (size_t i = 0; i < len; i++) {
		int hi = hexval(hex[2 * i]), lo = hexval(hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int cfs_write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The one short-read loop: positional (pread) when @offset >= 0, else read(2). */
static ssize_t read_loop(int fd, void *buf, size_t len, off_t offset)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = offset >= 0 ? pread(fd, (uint8_t *)buf + done, len - done, offset + (off_t)done)
				       : read(fd, (uint8_t *)buf + done, len - done);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		done += (size_t)n;
	}
	return (ssize_t)done;
}

ssize_t cfs_pread_full(int fd, void *buf, size_t len, off_t offset)
{
	if (offset < 0)
		return -EINVAL;
	return read_loop(fd, buf, len, offset);
}

ssize_t cfs_read_full(int fd, void *buf, size_t len)
{
	return read_loop(fd, buf, len, -1);
}

static int split_path(int atdirfd, const char *path, int *dirfd, char **base)
{
	const char *slash = strrchr(path, '/');
	char *dir;

	if (slash == NULL) {
		*dirfd = atdirfd == AT_FDCWD ? open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
					     : fcntl(atdirfd, F_DUPFD_CLOEXEC, 3);
		if (*dirfd < 0)
			return -errno;
		*base = strdup(path);
	} else {
		if (slash[1] == '\0')
			return -EISDIR;
		dir = slash == path ? strdup("/") : strndup(path, (size_t)(slash - path));
		if (dir == NULL)
			return -ENOMEM;
		*dirfd = openat(atdirfd, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		free(dir);
		if (*dirfd < 0)
			return -errno;
		*base = strdup(slash + 1);
	}
	if (*base == NULL) {
		close(*dirfd);
		return -ENOMEM;
	}
	return 0;
}

int cfs_atomic_file_open(int atdirfd, const char *path, mode_t mode, struct cfs_atomic_file *af)
{
	int r;

	*af = (struct cfs_atomic_file){ .dirfd = -1, .fd = -1 };
	r = split_path(atdirfd, path, &af->dirfd, &af->name);
	if (r < 0)
		return r;

	af->fd = openat(af->dirfd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, mode);
	if (af->fd >= 0)
		return 0;
	if (errno != EOPNOTSUPP && errno != EISDIR && errno != ENOENT && errno != EINVAL) {
		r = -errno;
		cfs_atomic_file_abort(af);
		return r;
	}
	/* No O_TMPFILE here: a hidden name that no reader takes for a final one. */
	for (int tries = 0; tries < 100; tries++) {
		uint32_t rnd;
		char buf[NAME_MAX + 1];

		if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
			rnd = (uint32_t)getpid() ^ (uint32_t)tries;
		snprintf(buf, sizeof(buf), ".tmp-%08x-%.*s", rnd, NAME_MAX - 20, af->name);
		af->fd = openat(af->dirfd, buf, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, mode);
		if (af->fd >= 0) {
			af->tmpname = strdup(buf);
			if (af->tmpname == NULL) {
				unlinkat(af->dirfd, buf, 0);
				cfs_atomic_file_abort(af);
				return -ENOMEM;
			}
			/* like the O_TMPFILE path and open(2): @mode is narrowed by the umask */
			return 0;
		}
		if (errno != EEXIST) {
			r = -errno;
			cfs_atomic_file_abort(af);
			return r;
		}
	}
	cfs_atomic_file_abort(af);
	return -EEXIST;
}

int cfs_atomic_file_commit(struct cfs_atomic_file *af, bool replace, bool sync)
{
	int r = 0;

	if (sync && fsync(af->fd) < 0) {
		r = -errno;
		goto out;
	}
	if (af->tmpname == NULL) {
		char proc[64];

		snprintf(proc, sizeof(proc), "/proc/self/fd/%d", af->fd);
		if (linkat(AT_FDCWD, proc, af->dirfd, af->name, AT_SYMLINK_FOLLOW) == 0)
			goto out;
		if (errno != EEXIST || !replace) {
			r = -errno;
			goto out;
		}
		/* replace: link under a hidden name, then rename over the target */
		for (int tries = 0; tries < 100; tries++) {
			char buf[NAME_MAX + 1];
			uint32_t rnd = 0;

			if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
				rnd = (uint32_t)tries;
			snprintf(buf, sizeof(buf), ".tmp-%08x-%.*s", rnd, NAME_MAX - 20, af->name);
			if (linkat(AT_FDCWD, proc, af->dirfd, buf, AT_SYMLINK_FOLLOW) < 0) {
				if (errno == EEXIST)
					continue;
				r = -errno;
				goto out;
			}
			if (renameat(af->dirfd, buf, af->dirfd, af->name) < 0) {
				r = -errno;
				unlinkat(af->dirfd, buf, 0);
			}
			goto out;
		}
		r = -EEXIST;
		goto out;
	}
	if (replace) {
		if (renameat(af->dirfd, af->tmpname, af->dirfd, af->name) < 0)
			r = -errno;
	} else {
		if (linkat(af->dirfd, af->tmpname, af->dirfd, af->name, 0) < 0)
			r = -errno;
	}
out:
	cfs_atomic_file_abort(af);
	return r;
}

void cfs_atomic_file_abort(struct cfs_atomic_file *af)
{
	if (af->tmpname != NULL) {
		/* after a successful rename this fails harmlessly with ENOENT */
		unlinkat(af->dirfd, af->tmpname, 0);
		free(af->tmpname);
		af->tmpname = NULL;
	}
	if (af->fd >= 0)
		close(af->fd);
	if (af->dirfd >= 0)
		close(af->dirfd);
	free(af->name);
	af->fd = af->dirfd = -1;
	af->name = NULL;
}

/*
 * Without openat2(): refuse absolute paths and ".." components; with
 * @no_symlinks open component by component with O_NOFOLLOW. (Symbolic links
 * that are allowed are not checked here: those kernels cannot confine them.)
 */
int cfs_open_beneath_compat(int dirfd, const char *path, int flags, bool no_symlinks)
{
	_cleanup_free_ char *copy = NULL;
	char *comp, *next;
	int cur = dirfd, fd;

	if (path[0] == '/')
		return -EXDEV;
	copy = strdup(path);
	if (copy == NULL)
		return -ENOMEM;
	for (comp = copy; comp != NULL; comp = next) {
		next = strchr(comp, '/');
		if (next != NULL)
			*next++ = '\0';
		if (strcmp(comp, "..") == 0)
			return -EXDEV;
	}
	if (!no_symlinks) {
		fd = openat(dirfd, path, flags);
		return fd >= 0 ? fd : -errno;
	}
	strcpy(copy, path);
	for (comp = copy; comp != NULL; comp = next) {
		next = strchr(comp, '/');
		if (next != NULL)
			*next++ = '\0';
		if (comp[0] == '\0' && next != NULL)
			continue; /* "a//b" */
		fd = openat(cur, comp[0] ? comp : ".",
			    (next == NULL ? flags : O_PATH | O_DIRECTORY | O_CLOEXEC) | O_NOFOLLOW);
		if (fd < 0) {
			struct stat st;

			fd = -errno;
			/* O_PATH | O_NOFOLLOW on a link gives ENOTDIR: report the link */
			if (fd == -ENOTDIR && fstatat(cur, comp, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISLNK(st.st_mode))
				fd = -ELOOP;
		}
		if (cur != dirfd)
			close(cur);
		if (fd < 0 || next == NULL)
			return fd;
		cur = fd;
	}
	return -EINVAL; /* not reached: the last component returns above */
}

int cfs_open_beneath(int dirfd, const char *path, int flags, bool no_symlinks)
{
	struct open_how how = {
		.flags = (uint64_t)(unsigned)flags,
		.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS | (no_symlinks ? RESOLVE_NO_SYMLINKS : 0),
	};
	long fd;

	do
		fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));
	while (fd < 0 && errno == EAGAIN);
	if (fd >= 0)
		return (int)fd;
	if (errno != ENOSYS)
		return -errno;
	return cfs_open_beneath_compat(dirfd, path, flags, no_symlinks);
}

int cfs_open_regular_beneath(int dirfd, const char *path, bool no_symlinks)
{
	struct stat st;
	int fd = cfs_open_beneath(dirfd, path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | O_NOFOLLOW,
				  no_symlinks);

	int r;

	if (fd < 0)
		return fd;
	if (fstat(fd, &st) < 0)
		r = -errno;
	else if (!S_ISREG(st.st_mode))
		r = -CFS_ENOTREG;
	else
		return fd;
	close(fd);
	return r;
}
