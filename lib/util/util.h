/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Private helpers: cleanup attributes, error buffers, hex, full reads/writes, atomic file creation. */
#ifndef CFS_UTIL_H
#define CFS_UTIL_H

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

static inline void cfs_freep(void *p)
{
	free(*(void **)p);
}
static inline void cfs_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}
#define _cleanup_free_ __attribute__((cleanup(cfs_freep)))
#define _cleanup_close_ __attribute__((cleanup(cfs_closep)))

static inline void *cfs_steal_ptr(void *pp)
{
	void **p = (void **)pp;
	void *v = *p;
	*p = NULL;
	return v;
}
#define steal_pointer(pp) ((__typeof__(*(pp)))cfs_steal_ptr(pp))

static inline int cfs_steal_fd(int *fd)
{
	int v = *fd;
	*fd = -1;
	return v;
}

#define CFS_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define CFS_ALIGN_UP(x, a) ((((x) + (a)-1) / (a)) * (a))

/*
 * The error convention of the library's functions that take a caller's buffer
 * (`char *errbuf, size_t errlen`): format a message into @buf of @len bytes
 * (truncated, always NUL-terminated; nothing when @buf is NULL or @len is 0)
 * and return @err, so that an error path reads
 * `return cfs_errbuf_set(errbuf, errlen, -EINVAL, "%s: ...", name);`.
 */
__attribute__((format(printf, 4, 5))) int cfs_errbuf_set(char *buf, size_t len, int err,
							 const char *fmt, ...);
__attribute__((format(printf, 4, 0))) int cfs_errbuf_vset(char *buf, size_t len, int err,
							  const char *fmt, va_list ap);

/* Lower-case hex of @len bytes into @out (2*len+1 bytes, NUL-terminated). */
void cfs_hex_encode(const uint8_t *in, size_t len, char *out);
/* Parse exactly 2*@len hex characters (either case) from @hex; 0 or -EINVAL. */
int cfs_hex_decode(const char *hex, size_t hexlen, uint8_t *out, size_t len);

/* Loop over short reads/writes and EINTR. Return 0 or negative errno; pread_full
 * returns the byte count read (short only at end of file) or negative errno. */
int cfs_write_full(int fd, const void *buf, size_t len);
ssize_t cfs_pread_full(int fd, void *buf, size_t len, off_t offset);
ssize_t cfs_read_full(int fd, void *buf, size_t len);

/*
 * Open @path relative to @dirfd without leaving @dirfd's tree: no absolute
 * path, no "..", no magic links, and with @no_symlinks no symbolic link in any
 * component (openat2() with RESOLVE_BENEATH; on kernels without it the same
 * checks by hand, component by component). @flags as for openat(2).
 * Returns the fd or -errno (-EXDEV: the path would leave the tree; -ELOOP: a
 * symbolic link with @no_symlinks).
 */
int cfs_open_beneath(int dirfd, const char *path, int flags, bool no_symlinks);
/*
 * Open the regular file @path beneath @dirfd for reading without waiting and
 * without following a symlink in its last component (nor any, with
 * @no_symlinks): O_NONBLOCK, so a FIFO planted where a file should be never
 * blocks the open, and the type is checked before anyone reads. Returns the fd,
 * -CFS_ENOTREG for anything but a regular file, or -errno.
 */
#define CFS_ENOTREG EINVAL
int cfs_open_regular_beneath(int dirfd, const char *path, bool no_symlinks);
/* What cfs_open_beneath() does where openat2() is missing (exposed for tests). */
int cfs_open_beneath_compat(int dirfd, const char *path, int flags, bool no_symlinks);

/*
 * Atomic file creation: data goes to an anonymous (O_TMPFILE) or hidden
 * temporary file in the destination directory and only appears under its final
 * name on commit, after its data was synced (unless @sync is false, for callers
 * that batch syncs themselves). On abort or error nothing remains.
 */
struct cfs_atomic_file {
	int dirfd;      /* directory of the final name (owned) */
	int fd;         /* write here */
	char *name;     /* final name within dirfd */
	char *tmpname;  /* NULL when O_TMPFILE is used */
};

/* Open a temporary file for @path (relative to @atdirfd, or AT_FDCWD) with @mode,
 * narrowed by the umask as with open(2) (whichever way the file is created). */
int cfs_atomic_file_open(int atdirfd, const char *path, mode_t mode, struct cfs_atomic_file *af);
/*
 * Publish it under the final name. @replace: overwrite an existing file
 * (rename semantics) or fail with -EEXIST (link semantics, -EEXIST also when a
 * concurrent writer won; the caller decides whether that is success).
 * @sync: fsync the data first. Always releases @af.
 */
int cfs_atomic_file_commit(struct cfs_atomic_file *af, bool replace, bool sync);
/* Discard the temporary file and release @af. Safe to call twice. */
void cfs_atomic_file_abort(struct cfs_atomic_file *af);

#endif
