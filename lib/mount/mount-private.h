/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Private helpers of lib/mount: kernel mount API wrappers, error reporting, shared state. */
#ifndef CFS_MOUNT_PRIVATE_H
#define CFS_MOUNT_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <composefs/mount.h>

/*
 * The kernel ABI of the new mount API, under our own names: glibc and
 * <linux/mount.h> disagree about which of them defines what (and clash when
 * both are included), so we rely on neither.
 */
#define CFS_FSOPEN_CLOEXEC 0x1u
#define CFS_FSMOUNT_CLOEXEC 0x1u
#define CFS_FSCONFIG_SET_FLAG 0u
#define CFS_FSCONFIG_SET_STRING 1u
#define CFS_FSCONFIG_SET_FD 5u
#define CFS_FSCONFIG_CMD_CREATE 6u
#define CFS_MOVE_MOUNT_F_EMPTY_PATH 0x4u
#define CFS_AT_EMPTY_PATH 0x1000u

#define CFS_MOUNT_ATTR_RDONLY 0x1u
#define CFS_MOUNT_ATTR_NOSUID 0x2u
#define CFS_MOUNT_ATTR_NODEV 0x4u
#define CFS_MOUNT_ATTR_NOEXEC 0x8u
#define CFS_MOUNT_ATTR__ATIME 0x70u
#define CFS_MOUNT_ATTR_NOATIME 0x10u
#define CFS_MOUNT_ATTR_STRICTATIME 0x20u
#define CFS_MOUNT_ATTR_NODIRATIME 0x80u
#define CFS_MOUNT_ATTR_IDMAP 0x100000u

struct cfs_mount_attr_arg {
	uint64_t attr_set;
	uint64_t attr_clr;
	uint64_t propagation;
	uint64_t userns_fd;
};

/* Report failures into the caller's buffer; the first message wins. */
struct cfs_mount_err {
	char *buf;
	size_t len;
	bool set;
};

/*
 * Record "fmt..." (plus ": strerror(-err)" when @with_errno) and return @err
 * (a negative errno), so callers can write `return cfs_mount_fail(...)`.
 */
int cfs_mount_fail(struct cfs_mount_err *e, int err, bool with_errno, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/*
 * Like cfs_mount_fail(), but first collect what the kernel logged on the
 * file system context @fsfd ("e overlay: ..." lines), which usually says
 * precisely what it disliked, and append it.
 */
int cfs_mount_fail_fs(struct cfs_mount_err *e, int fsfd, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* The new mount API via syscall(2): each returns -1 and sets errno on failure. */
int cfs_sys_fsopen(const char *fsname, unsigned flags);
int cfs_sys_fsconfig(int fsfd, unsigned cmd, const char *key, const void *value, int aux);
int cfs_sys_fsmount(int fsfd, unsigned flags, unsigned attr_flags);
int cfs_sys_move_mount(int from_dfd, const char *from_path, int to_dfd, const char *to_path,
		       unsigned flags);
int cfs_sys_mount_setattr(int dfd, const char *path, unsigned flags,
			  struct cfs_mount_attr_arg *attr, size_t size);

/*
 * fsopen(2) of @fsname with close-on-exec, its failures described in @e
 * (@label names the file system in messages, @kconfig the kernel option
 * that provides it). Returns the fd, -ENOSYS without a recorded message when
 * the kernel lacks the new mount API, or another negative errno.
 */
int cfs_mount_fsopen(const char *fsname, const char *label, const char *kconfig,
		     struct cfs_mount_err *e);

/*
 * Attach @fd (a regular file) to a free loop device: read-only, 4096-byte
 * blocks, auto-clearing (the device goes away with its last user).
 * @devpath receives "/dev/loopN". Returns an O_RDONLY fd of the device, which
 * keeps it alive until the file system using it is mounted, or negative errno.
 */
int cfs_loop_attach(int fd, char *devpath, size_t devlen, struct cfs_mount_err *e);

/*
 * The image as it will be mounted: check the expected digest (if any) and
 * return in *@fd_out an fd whose bytes are exactly the checked ones: a dup of
 * @image_fd when there is no digest or the kernel vouches for it, else a
 * sealed memfd copy. *@has_acl: header flag (mount EROFS without "noacl").
 */
int cfs_mount_prepare_image(int image_fd, const struct cfs_mount_opts *o, int *fd_out,
			    bool *has_acl, struct cfs_mount_err *e);

/* Everything the overlay step needs. */
struct cfs_overlay_args {
	const struct cfs_mount_opts *o;
	int erofs_mnt_fd;        /* EROFS mount (fsmount fd), for the new mount API */
	bool erofs_detached;     /* ... and it is not attached anywhere yet */
	const char *erofs_path;  /* where the EROFS mount is attached, for mount(2) */
	bool verity;             /* ask for verity=require */
	bool try_verity;         /* verity was only probed: drop it silently if overlayfs lacks it */
};

/*
 * Create the overlay with the new mount API and return its detached mount fd
 * in *@mnt_fd. -ENOSYS means "this kernel needs the legacy path" (no
 * "lowerdir+"); -EXDEV (only with erofs_detached) means "this kernel cannot
 * use a detached mount as a layer (before 6.15): attach it and retry". In
 * both cases nothing is recorded in @e; other errors are final and described.
 */
int cfs_overlay_fsmount(const struct cfs_overlay_args *a, int *mnt_fd, struct cfs_mount_err *e);

/* Mount the overlay at @target with mount(2) and an escaped option string. */
int cfs_overlay_legacy(const struct cfs_overlay_args *a, const char *target,
		       struct cfs_mount_err *e);

#endif
