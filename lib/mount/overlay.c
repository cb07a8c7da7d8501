/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* The overlayfs half of a composefs mount: new mount API first, mount(2) option string as fallback. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "mount-private.h"
#include "util.h"

/* Discard what the kernel logged for a probe we expected might fail. */
static void drain_messages(int fsfd)
{
	char buf[512];

	for (int i = 0; i < 16 && read(fsfd, buf, sizeof(buf)) > 0; i++)
		;
}

static int set_string(int fsfd, const char *key, const char *value, struct cfs_mount_err *e)
{
	if (cfs_sys_fsconfig(fsfd, CFS_FSCONFIG_SET_STRING, key, value, 0) < 0)
		return cfs_mount_fail_fs(e, fsfd, -errno, "overlayfs: %s=%s", key, value);
	return 0;
}

/*
 * The EROFS mount becomes the single lower layer.
 *
 * The mount fd from fsmount() is an O_PATH fd of the root of a detached mount.
 * Overlayfs takes layers as fds since 6.13, but fsconfig(FSCONFIG_SET_FD)
 * refuses O_PATH fds before 6.15 (EBADF; before 6.13, EINVAL: "lowerdir+" is
 * a string), and 6.15 is also when overlayfs learnt to use a detached mount
 * as a layer (clone_private_mount() of the root of an anonymous namespace).
 * So the fd is accepted exactly where the detached mount works: the first try.
 *
 * Where it is refused, the /proc/self/fd path names the same mount, which
 * tells whether overlayfs has "lowerdir+" at all (6.7; -ENOSYS before). With
 * the mount still detached, creating the overlay would only fail, and log
 * "overlayfs: failed to clone lowerpath" in the kernel log: -EXDEV instead,
 * so that the caller attaches the mount and comes back.
 */
static int add_lower(int fsfd, const struct cfs_overlay_args *a, struct cfs_mount_err *e)
{
	char path[64];

	if (cfs_sys_fsconfig(fsfd, CFS_FSCONFIG_SET_FD, "lowerdir+", NULL, a->erofs_mnt_fd) == 0)
		return 0;
	drain_messages(fsfd);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", a->erofs_mnt_fd);
	if (cfs_sys_fsconfig(fsfd, CFS_FSCONFIG_SET_STRING, "lowerdir+", path, 0) == 0)
		return a->erofs_detached ? -EXDEV : 0;
	if (errno == EINVAL) {
		drain_messages(fsfd);
		return -ENOSYS;
	}
	return cfs_mount_fail_fs(e, fsfd, -errno, "overlayfs: lowerdir+ (image mount)");
}

static int set_verity(int fsfd, const struct cfs_overlay_args *a, struct cfs_mount_err *e)
{
	if (!a->verity)
		return 0;
	if (cfs_sys_fsconfig(fsfd, CFS_FSCONFIG_SET_STRING, "verity", "require", 0) == 0)
		return 0;
	if (errno == EINVAL) {
		drain_messages(fsfd);
		if (a->try_verity)
			return 0;
		return cfs_mount_fail(e, -EOPNOTSUPP, false,
				      "kernel too old: overlayfs has no verity option (Linux 6.6)");
	}
	return cfs_mount_fail_fs(e, fsfd, -errno, "overlayfs: verity=require");
}

static int configure(int fsfd, const struct cfs_overlay_args *a, struct cfs_mount_err *e)
{
	const struct cfs_mount_opts *o = a->o;
	int r;

	r = set_string(fsfd, "source", o->source ? o->source : "composefs", e);
	if (r == 0)
		r = set_string(fsfd, "metacopy", "on", e);
	if (r == 0)
		r = set_string(fsfd, "redirect_dir", "on", e);
	if (r == 0)
		r = set_verity(fsfd, a, e);
	if (r == 0)
		r = add_lower(fsfd, a, e);
	for (uint32_t i = 0; r == 0 && i < o->n_basedirs; i++)
		r = set_string(fsfd, "datadir+", o->basedirs[i], e);
	if (r == 0 && o->upperdir != NULL)
		r = set_string(fsfd, "upperdir", o->upperdir, e);
	if (r == 0 && o->workdir != NULL)
		r = set_string(fsfd, "workdir", o->workdir, e);
	return r;
}

static unsigned overlay_attrs(const struct cfs_mount_opts *o)
{
	unsigned attr = (unsigned)o->mount_attr;

	if (o->flags & CFS_MOUNT_READONLY)
		attr |= CFS_MOUNT_ATTR_RDONLY;
	return attr;
}

int cfs_overlay_fsmount(const struct cfs_overlay_args *a, int *mnt_fd, struct cfs_mount_err *e)
{
	_cleanup_close_ int fsfd = -1;
	int fd, r;

	fsfd = cfs_mount_fsopen("overlay", "overlayfs", "CONFIG_OVERLAY_FS", e);
	if (fsfd < 0)
		return fsfd;
	/*
	 * Before overlayfs parsed options itself (6.5), fsconfig() accepted any
	 * key and the string went to the legacy parser at creation: no way to
	 * append layers. A key it must reject tells us which one we have.
	 */
	if (cfs_sys_fsconfig(fsfd, CFS_FSCONFIG_SET_STRING, "composefs-probe", "1", 0) == 0)
		return -ENOSYS;
	drain_messages(fsfd);

	r = configure(fsfd, a, e);
	if (r < 0)
		return r;
	if (cfs_sys_fsconfig(fsfd, CFS_FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		/*
		 * add_lower() already sent kernels before 6.15 back with -EXDEV; should
		 * one that took the fd still refuse the detached mount as a layer, the
		 * same fallback applies.
		 */
		if (errno == EINVAL && a->erofs_detached) {
			drain_messages(fsfd);
			return -EXDEV;
		}
		return cfs_mount_fail_fs(e, fsfd, -errno, "overlayfs: cannot create the mount");
	}
	fd = cfs_sys_fsmount(fsfd, CFS_FSMOUNT_CLOEXEC, overlay_attrs(a->o));
	if (fd < 0)
		return cfs_mount_fail_fs(e, fsfd, -errno, "overlayfs: fsmount");
	*mnt_fd = fd;
	return 0;
}

/* ---- mount(2) with an option string ---------------------------------------- */

struct strbuf {
	char *p;
	size_t len, cap;
	bool oom;
};

static void sb_add(struct strbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *p = realloc(b->p, cap);

		if (p == NULL) {
			b->oom = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void sb_str(struct strbuf *b, const char *s)
{
	sb_add(b, s, strlen(s));
}

/* Overlayfs splits options at ',' and layers at ':'; a backslash protects either. */
static void sb_escaped(struct strbuf *b, const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s == ',' || *s == ':' || *s == '\\')
			sb_add(b, "\\", 1);
		sb_add(b, s, 1);
	}
}

static int legacy_options(const struct cfs_overlay_args *a, bool verity, char **out)
{
	const struct cfs_mount_opts *o = a->o;
	struct strbuf b = { 0 };
	sb_str(&b, "metacopy=on,redirect_dir=on,lowerdir=");
	sb_escaped(&b, a->erofs_path);
	for (uint32_t i = 0; i < o->n_basedirs; i++) {
		sb_str(&b, "::"); /* "::" makes the following layers data-only */
		sb_escaped(&b, o->basedirs[i]);
	}
	if (o->upperdir != NULL) {
		sb_str(&b, ",upperdir=");
		sb_escaped(&b, o->upperdir);
		sb_str(&b, ",workdir=");
		sb_escaped(&b, o->workdir);
	}
	if (verity)
		sb_str(&b, ",verity=require");
	if (b.oom) {
		free(b.p);
		return -ENOMEM;
	}
	*out = b.p;
	return 0;
}

static unsigned long legacy_flags(const struct cfs_mount_opts *o)
{
	unsigned long f = MS_SILENT;
	unsigned atime = (unsigned)o->mount_attr & CFS_MOUNT_ATTR__ATIME;

	if (o->flags & CFS_MOUNT_READONLY)
		f |= MS_RDONLY;
	if (o->mount_attr & CFS_MOUNT_ATTR_NOSUID)
		f |= MS_NOSUID;
	if (o->mount_attr & CFS_MOUNT_ATTR_NODEV)
		f |= MS_NODEV;
	if (o->mount_attr & CFS_MOUNT_ATTR_NOEXEC)
		f |= MS_NOEXEC;
	if (o->mount_attr & CFS_MOUNT_ATTR_NODIRATIME)
		f |= MS_NODIRATIME;
	if (atime == CFS_MOUNT_ATTR_NOATIME)
		f |= MS_NOATIME;
	else if (atime == CFS_MOUNT_ATTR_STRICTATIME)
		f |= MS_STRICTATIME;
	else
		f |= MS_RELATIME;
	return f;
}

int cfs_overlay_legacy(const struct cfs_overlay_args *a, const char *target,
		       struct cfs_mount_err *e)
{
	const char *source = a->o->source ? a->o->source : "composefs";
	bool verity = a->verity;
	int r;

	for (;;) {
		_cleanup_free_ char *opts = NULL;

		r = legacy_options(a, verity, &opts);
		if (r < 0)
			return cfs_mount_fail(e, r, true, "overlayfs options");
		/* mount(2) passes at most one page of options; more would be cut silently. */
		if (strlen(opts) >= 4096)
			return cfs_mount_fail(e, -E2BIG, false,
					      "overlayfs options longer than 4095 bytes (too many or too long basedirs for this kernel)");
		if (mount(source, target, "overlay", legacy_flags(a->o), opts) == 0)
			return 0;
		r = -errno;
		if (r == -EINVAL && verity && a->try_verity) {
			verity = false;
			continue;
		}
		break;
	}
	if (r == -EINVAL)
		return cfs_mount_fail(e, -EOPNOTSUPP, false,
				      "overlayfs refused the mount: kernel too old? (data-only lower layers need Linux 6.5, verity=require 6.6)");
	if (r == -EPERM)
		return cfs_mount_fail(e, r, false, "permission denied: mounting needs CAP_SYS_ADMIN");
	return cfs_mount_fail(e, r, true, "cannot mount overlayfs on %s", target);
}
