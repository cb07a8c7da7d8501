/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* New mount API system calls, loop devices and error messages for lib/mount. */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/loop.h>

#include "mount-private.h"
#include "util.h"

#ifndef LOOP_CONFIGURE
#define LOOP_CONFIGURE 0x4C0A
struct loop_config {
	uint32_t fd;
	uint32_t block_size;
	struct loop_info64 info;
	uint64_t __reserved[8];
};
#endif

static int sys_ret(long r)
{
	return (int)r;
}

int cfs_sys_fsopen(const char *fsname, unsigned flags)
{
#ifdef __NR_fsopen
	return sys_ret(syscall(__NR_fsopen, fsname, flags));
#else
	(void)fsname, (void)flags;
	errno = ENOSYS;
	return -1;
#endif
}

int cfs_sys_fsconfig(int fsfd, unsigned cmd, const char *key, const void *value, int aux)
{
#ifdef __NR_fsconfig
	return sys_ret(syscall(__NR_fsconfig, fsfd, cmd, key, value, aux));
#else
	(void)fsfd, (void)cmd, (void)key, (void)value, (void)aux;
	errno = ENOSYS;
	return -1;
#endif
}

int cfs_sys_fsmount(int fsfd, unsigned flags, unsigned attr_flags)
{
#ifdef __NR_fsmount
	return sys_ret(syscall(__NR_fsmount, fsfd, flags, attr_flags));
#else
	(void)fsfd, (void)flags, (void)attr_flags;
	errno = ENOSYS;
	return -1;
#endif
}

int cfs_sys_move_mount(int from_dfd, const char *from_path, int to_dfd, const char *to_path,
		       unsigned flags)
{
#ifdef __NR_move_mount
	return sys_ret(syscall(__NR_move_mount, from_dfd, from_path, to_dfd, to_path, flags));
#else
	(void)from_dfd, (void)from_path, (void)to_dfd, (void)to_path, (void)flags;
	errno = ENOSYS;
	return -1;
#endif
}

int cfs_sys_mount_setattr(int dfd, const char *path, unsigned flags,
			  struct cfs_mount_attr_arg *attr, size_t size)
{
#ifdef __NR_mount_setattr
	return sys_ret(syscall(__NR_mount_setattr, dfd, path, flags, attr, size));
#else
	(void)dfd, (void)path, (void)flags, (void)attr, (void)size;
	errno = ENOSYS;
	return -1;
#endif
}

int cfs_mount_fsopen(const char *fsname, const char *label, const char *kconfig,
		     struct cfs_mount_err *e)
{
	int fd = cfs_sys_fsopen(fsname, CFS_FSOPEN_CLOEXEC);

	if (fd >= 0)
		return fd;
	if (errno == ENOSYS)
		return -ENOSYS;
	if (errno == ENODEV)
		return cfs_mount_fail(e, -EOPNOTSUPP, false, "kernel has no %s (%s)", label, kconfig);
	if (errno == EPERM)
		return cfs_mount_fail(e, -EPERM, false,
				      "permission denied: mounting needs CAP_SYS_ADMIN");
	return cfs_mount_fail(e, -errno, true, "%s: fsopen", label);
}

static void vfail(struct cfs_mount_err *e, int err, bool with_errno, const char *fmt, va_list ap)
	__attribute__((format(printf, 4, 0)));

static void vfail(struct cfs_mount_err *e, int err, bool with_errno, const char *fmt, va_list ap)
{
	size_t n;

	if (e == NULL || e->set || e->buf == NULL || e->len == 0)
		return;
	e->set = true;
	cfs_errbuf_vset(e->buf, e->len, err, fmt, ap);
	n = strlen(e->buf);
	if (with_errno && n < e->len)
		snprintf(e->buf + n, e->len - n, ": %s", strerror(-err));
}

int cfs_mount_fail(struct cfs_mount_err *e, int err, bool with_errno, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(e, err, with_errno, fmt, ap);
	va_end(ap);
	return err;
}

/*
 * Messages queued on a file system context read as "e overlay: text" (error),
 * "w ..." (warning) or "i ..." (info), one per read(2). Keep the error and
 * warning texts, joined by "; ".
 */
static void read_fs_messages(int fsfd, char *out, size_t outlen)
{
	char line[512];
	size_t used = 0;

	out[0] = '\0';
	for (int i = 0; i < 16; i++) {
		ssize_t n = read(fsfd, line, sizeof(line) - 1);

		if (n <= 0)
			break;
		line[n] = '\0';
		if (n > 0 && line[n - 1] == '\n')
			line[n - 1] = '\0';
		if ((line[0] != 'e' && line[0] != 'w') || line[1] != ' ')
			continue;
		int w = snprintf(out + used, outlen - used, "%s%s", used ? "; " : "", line + 2);
		if (w < 0 || (size_t)w >= outlen - used)
			break;
		used += (size_t)w;
	}
}

int cfs_mount_fail_fs(struct cfs_mount_err *e, int fsfd, int err, const char *fmt, ...)
{
	char kmsg[768], head[512];
	va_list ap;

	if (e == NULL || e->set || e->buf == NULL || e->len == 0)
		return err;
	kmsg[0] = '\0';
	if (fsfd >= 0)
		read_fs_messages(fsfd, kmsg, sizeof(kmsg));
	va_start(ap, fmt);
	vsnprintf(head, sizeof(head), fmt, ap);
	va_end(ap);
	if (kmsg[0] != '\0')
		return cfs_mount_fail(e, err, false, "%s: %s (kernel: %s)", head, strerror(-err),
				      kmsg);
	return cfs_mount_fail(e, err, true, "%s", head);
}

static int loop_configure(int loopfd, int fd, bool direct_io)
{
	struct loop_config cfg;

	memset(&cfg, 0, sizeof(cfg));
	cfg.fd = (uint32_t)fd;
	cfg.block_size = 4096;
	cfg.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
	if (direct_io)
		cfg.info.lo_flags |= LO_FLAGS_DIRECT_IO;
	memcpy(cfg.info.lo_file_name, "composefs", sizeof("composefs"));
	if (ioctl(loopfd, LOOP_CONFIGURE, &cfg) < 0)
		return -errno;
	return 0;
}

int cfs_loop_attach(int fd, char *devpath, size_t devlen, struct cfs_mount_err *e)
{
	_cleanup_close_ int ctl = open("/dev/loop-control", O_RDWR | O_CLOEXEC);
	int r = 0;

	if (ctl < 0)
		return cfs_mount_fail(e, -errno, true, "cannot use loop devices: /dev/loop-control");

	/* Another process may grab the device between GET_FREE and CONFIGURE. */
	for (int attempt = 0; attempt < 16; attempt++) {
		long nr = ioctl(ctl, LOOP_CTL_GET_FREE);
		_cleanup_close_ int loopfd = -1;

		if (nr < 0)
			return cfs_mount_fail(e, -errno, true, "cannot allocate a loop device");
		snprintf(devpath, devlen, "/dev/loop%ld", nr);
		loopfd = open(devpath, O_RDONLY | O_CLOEXEC);
		if (loopfd < 0)
			return cfs_mount_fail(e, -errno, true, "%s", devpath);
		/* Direct I/O avoids caching the image twice; not every file supports it. */
		r = loop_configure(loopfd, fd, true);
		if (r == -EINVAL)
			r = loop_configure(loopfd, fd, false);
		if (r == 0)
			return cfs_steal_fd(&loopfd);
		if (r != -EBUSY)
			break;
	}
	return cfs_mount_fail(e, r, true, "cannot attach the image to %s", devpath);
}
