/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Kernel mounts of composefs images: EROFS for the metadata, overlayfs over the object store. */
#ifndef COMPOSEFS_MOUNT_H
#define COMPOSEFS_MOUNT_H

#include <stddef.h>
#include <stdint.h>

#include <composefs/verity.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * How a composefs image is mounted
 * --------------------------------
 * The image is an EROFS file system holding every inode, directory and xattr;
 * regular files that are not inline carry overlayfs "metacopy" and "redirect"
 * xattrs pointing at an object (XX/<hex>) in one of the base directories.
 * cfs_mount_image() therefore makes two mounts:
 *
 *   1. a private, read-only EROFS mount of the image, created with the new
 *      mount API (fsopen/fsconfig/fsmount). Overlayfs takes it as a detached
 *      mount (Linux 6.15+); older kernels need it attached while the overlay
 *      is created, so it is attached at the target itself (or, for mount(2)
 *      and for detached results, at a fresh /run/.composefs-XXXXXX or
 *      /tmp/.composefs-XXXXXX directory) and detached (and the directory
 *      removed) as soon as the overlay exists. The image is read straight
 *      from its file (EROFS file-backed mounts, Linux 6.12) or, where the
 *      kernel cannot do that, through a read-only, auto-clearing loop device;
 *   2. an overlayfs mount with the EROFS mount as its only lower layer, the
 *      base directories as data-only layers (Linux 6.5), metacopy=on and
 *      redirect_dir=on, optionally verity=require and an upper/work directory.
 *      This one is attached at the target (or handed back detached).
 *
 * Kernels whose overlayfs lacks "lowerdir+" (before 6.7) get the same mount
 * through mount(2) with an escaped option string. Nothing is left behind: no
 * mount but the overlay, no directory, no loop device once it is unmounted;
 * when the call fails nothing stays mounted.
 *
 * Error convention: functions return 0 or a negative errno. When @errbuf is
 * not NULL it receives a one-line human-readable explanation of the failure
 * (without a program name or trailing newline), e.g.
 * "basedir /srv/objects: No such file or directory" or
 * "kernel too old: overlayfs has no data-only lower layers (Linux 6.5)".
 * The library never prints. All functions are thread-safe; they keep no
 * state between calls. Mounting needs CAP_SYS_ADMIN (-EPERM otherwise).
 */

/**
 * CFS_MOUNT_VERITY - ask overlayfs for verity=require: every file backed by
 * an object must record an fs-verity digest in the image, and the object
 * must have fs-verity enabled with exactly that digest (the kernel checks
 * this when the file is opened; reads fail with EIO otherwise). Needs
 * fs-verity in the kernel and the base directories' file system, and
 * overlayfs verity support (Linux 6.6).
 */
#define CFS_MOUNT_VERITY (1u << 0)
/**
 * CFS_MOUNT_TRY_VERITY - like CFS_MOUNT_VERITY when every base directory
 * lies on a file system with working fs-verity and overlayfs knows the
 * option, otherwise mount without verity. The probe asks the kernel to
 * measure an object (or the directory itself when it holds none):
 * "not supported" means no verity, anything else means verity. Ignored when
 * CFS_MOUNT_VERITY is set.
 */
#define CFS_MOUNT_TRY_VERITY (1u << 1)
/** CFS_MOUNT_READONLY - make the overlay mount read-only (useful with an upper directory). */
#define CFS_MOUNT_READONLY (1u << 2)
/**
 * CFS_MOUNT_FORCE_LOOP - always read the image through a loop device, even
 * where the kernel could mount the file directly. Mainly for testing.
 */
#define CFS_MOUNT_FORCE_LOOP (1u << 3)
/**
 * CFS_MOUNT_FORCE_LEGACY - mount overlayfs with mount(2) and an option
 * string, as on kernels before 6.7, even where "lowerdir+" exists. Not valid
 * with cfs_mount_image_detached(). Mainly for testing.
 */
#define CFS_MOUNT_FORCE_LEGACY (1u << 4)
/** All flags defined by this version; others make the calls fail with -EINVAL. */
#define CFS_MOUNT_ALL_FLAGS 0x1fu

/** Largest number of base directories accepted. */
#define CFS_MOUNT_MAX_BASEDIRS 256

/**
 * struct cfs_mount_opts - what to mount and how. Initialise with
 * cfs_mount_opts_init(), then set the fields you need. The structure only
 * borrows the strings it points to, for the duration of the call.
 *
 * @flags:      CFS_MOUNT_* bits.
 * @basedirs:   @n_basedirs paths (at least one) of object stores, searched in
 *              this order for the objects the image refers to. Relative
 *              paths are resolved against the current directory.
 * @upperdir:   optional overlayfs upper directory (writes land here); needs
 *              @workdir, an empty directory on the same file system.
 * @workdir:    see @upperdir. Both NULL for a read-only mount.
 * @idmap_fd:   -1, or an open file descriptor of a user namespace
 *              (/proc/PID/ns/user) whose ID mapping is applied to the image
 *              (an idmapped EROFS mount; Linux 5.12 and EROFS support).
 * @digest_alg: 0 for no expected image digest, else the algorithm of @digest.
 * @digest:     the expected fs-verity digest of the image file. When the
 *              kernel can measure the image (fs-verity enabled on it, same
 *              algorithm), its measurement is compared and the file mounted
 *              as is. Otherwise the image is copied into a sealed memory file
 *              (memfd, no further writes possible), the digest is computed
 *              from that copy, and exactly that copy is mounted. A mismatch
 *              fails with -CFS_EDIGEST before anything is mounted.
 * @mount_attr: MOUNT_ATTR_NOSUID, _NODEV, _NOEXEC and one of the atime
 *              modes (_RELATIME, _NOATIME, _STRICTATIME) plus _NODIRATIME,
 *              from <linux/mount.h>, applied to the overlay mount. Read-only
 *              is @flags' CFS_MOUNT_READONLY. Other bits: -EINVAL.
 * @source:     the "source" shown for the overlay mount in /proc/self/mountinfo;
 *              NULL means "composefs".
 * @reserved:   must stay zero (room to grow without breaking the ABI).
 */
struct cfs_mount_opts {
	uint32_t flags;
	uint32_t n_basedirs;
	const char *const *basedirs;
	const char *upperdir;
	const char *workdir;
	int idmap_fd;
	uint32_t digest_alg;
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	uint64_t mount_attr;
	const char *source;
	uint64_t reserved[8];
};

/**
 * cfs_mount_opts_init() - set @o to the defaults: no flags, no base
 * directories (the caller must add at least one), no upper directory,
 * @idmap_fd -1, no expected digest, no mount attributes, source "composefs".
 */
void cfs_mount_opts_init(struct cfs_mount_opts *o);

/**
 * cfs_mount_opts_set_digest() - set the expected image digest from hex.
 * @hex: 64 hex digits (a sha256 fs-verity digest) or 128 (sha512), either
 *       case, NUL-terminated.
 * Returns 0, or -EINVAL (wrong length or not hex; @o is unchanged).
 */
int cfs_mount_opts_set_digest(struct cfs_mount_opts *o, const char *hex);

/**
 * cfs_mount_image() - mount the composefs image open on @image_fd at @target.
 * @image_fd: the image, a regular file (or block device) open for reading.
 *            Only used during the call; the caller keeps and closes it.
 * @target:   an existing directory, the mount point.
 * @o:        options; see struct cfs_mount_opts.
 * @errbuf, @errlen: optional buffer for a one-line explanation on failure.
 *
 * Checks the options, the base and upper directories and the image header
 * before mounting, so common mistakes fail with a precise message and leave
 * nothing mounted.
 *
 * Returns 0, or:
 *   -EINVAL       invalid options (unknown flag, no basedir, upperdir without
 *                 workdir, bad digest algorithm or mount_attr), or overlayfs
 *                 refused its options (the kernel's reason is in @errbuf);
 *   -EUCLEAN      the file is not a composefs image (bad magic);
 *   -CFS_EDIGEST  the image does not have the expected digest;
 *   -ENOENT, -ENOTDIR, -EACCES  an image, base, upper or work directory or
 *                 the target is missing or unusable (@errbuf names it);
 *   -EOPNOTSUPP   the kernel lacks a needed feature (@errbuf names it:
 *                 EROFS, overlayfs data-only layers, overlayfs verity, ...);
 *   -EPERM        not allowed to mount (needs CAP_SYS_ADMIN);
 *   -ENOMEM, or another negative errno from the kernel.
 */
int cfs_mount_image(int image_fd, const char *target, const struct cfs_mount_opts *o,
		    char *errbuf, size_t errlen);

/**
 * cfs_mount_image_detached() - like cfs_mount_image() but attach the overlay
 * nowhere: return it as a mount file descriptor (from fsmount(2)) that the
 * caller can attach with move_mount(2), inspect through openat(), or close to
 * drop it. Needs the new mount API with "lowerdir+" in overlayfs (Linux 6.7);
 * -EOPNOTSUPP otherwise, and with CFS_MOUNT_FORCE_LEGACY.
 * @mnt_fd_out: receives the mount fd (close-on-exec); the caller owns it.
 * Returns 0 or the errors of cfs_mount_image().
 */
int cfs_mount_image_detached(int image_fd, const struct cfs_mount_opts *o, int *mnt_fd_out,
			     char *errbuf, size_t errlen);

#ifdef __cplusplus
}
#endif
#endif
