/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* libcomposefs drop-in (composefs-c): mounting composefs images. */
#ifndef LIBCOMPOSEFS_LCFS_MOUNT_H
#define LIBCOMPOSEFS_LCFS_MOUNT_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#ifdef __cplusplus
extern "C" {
#endif

#ifndef LCFS_EXTERN
#define LCFS_EXTERN extern
#endif

/*
 * Error convention: both functions return 0, or -1 with errno set. Besides
 * the usual values, errno can be one of these names for existing codes:
 */
/** The image (or file) has no fs-verity where a measurement was needed. */
#define ENOVERITY ENOTTY
/** The image's fs-verity digest is not the expected one. */
#define EWRONGVERITY EILSEQ
/** A signature was required but is missing or not valid. */
#define ENOSIGNATURE EBADMSG

/** Mount flags (struct lcfs_mount_options_s.flags). */
enum lcfs_mount_flags_t {
	LCFS_MOUNT_FLAGS_NONE = 0,
	/** Overlayfs verity=require: every object must have the fs-verity digest the image records. */
	LCFS_MOUNT_FLAGS_REQUIRE_VERITY = (1 << 0),
	/** Make the overlay mount read-only. */
	LCFS_MOUNT_FLAGS_READONLY = (1 << 1),
	/** Apply the ID mapping of the user namespace @idmap_fd to the image. */
	LCFS_MOUNT_FLAGS_IDMAP = (1 << 3),
	/** Require verity where the kernel and the object directories support it. */
	LCFS_MOUNT_FLAGS_TRY_VERITY = (1 << 4),

	/** Every bit accepted (bit 2 is accepted and has no effect). */
	LCFS_MOUNT_FLAGS_MASK = (1 << 5) - 1,
};

/**
 * struct lcfs_mount_options_s - what to mount. Zero-initialise, then fill in.
 * @objdirs:   @n_objdirs object directories (at least one), searched in order.
 * @n_objdirs: number of entries in @objdirs.
 * @workdir:   overlayfs work directory; given together with @upperdir or not at all.
 * @upperdir:  overlayfs upper directory (writes go there).
 * @expected_fsverity_digest: NULL, or the hex fs-verity digest the image must have.
 * @flags:     enum lcfs_mount_flags_t bits.
 * @idmap_fd:  user namespace file descriptor, used with LCFS_MOUNT_FLAGS_IDMAP.
 * @image_mountdir: where the image may be mounted temporarily (see libcomposefs(3)).
 * @reserved, @reserved2: zero.
 */
struct lcfs_mount_options_s {
	const char **objdirs;
	size_t n_objdirs;
	const char *workdir;
	const char *upperdir;
	const char *expected_fsverity_digest;
	uint32_t flags;
	int idmap_fd;
	const char *image_mountdir;

	uint32_t reserved[4];
	void *reserved2[4];
};

/**
 * lcfs_mount_image() - mount the composefs image file @path at @mountpoint.
 * Returns 0, or -1 with errno: EINVAL (bad options, not a composefs image),
 * EWRONGVERITY (the image does not have the expected digest), ENOENT,
 * EPERM, EOPNOTSUPP or another error of the kernel.
 */
LCFS_EXTERN int lcfs_mount_image(const char *path, const char *mountpoint,
				 struct lcfs_mount_options_s *options);
/**
 * lcfs_mount_fd() - as lcfs_mount_image(), for an image open on @fd (which
 * stays the caller's).
 */
LCFS_EXTERN int lcfs_mount_fd(int fd, const char *mountpoint, struct lcfs_mount_options_s *options);

#ifdef __cplusplus
}
#endif
#endif
