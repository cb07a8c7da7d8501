/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* libcomposefs drop-in: lcfs_mount_image() and lcfs_mount_fd() through our mount module. */
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <unistd.h>

#include "lcfs-private.h"
#include "libcomposefs/lcfs-mount.h"

#if defined(__LP64__)
_Static_assert(sizeof(struct lcfs_mount_options_s) == 104, "lcfs_mount_options_s size");
_Static_assert(offsetof(struct lcfs_mount_options_s, flags) == 40, "flags offset");
_Static_assert(offsetof(struct lcfs_mount_options_s, image_mountdir) == 48, "image_mountdir offset");
_Static_assert(offsetof(struct lcfs_mount_options_s, reserved2) == 72, "reserved2 offset");
#endif

/* The reference's checks, in its order; fills @o. */
static int convert_options(const struct lcfs_mount_options_s *lo, struct cfs_mount_opts *o)
{
	cfs_mount_opts_init(o);
	if (lo->flags & ~(uint32_t)LCFS_MOUNT_FLAGS_MASK)
		return -EINVAL;
	if (lo->n_objdirs == 0 || lo->objdirs == NULL || lo->n_objdirs > CFS_MOUNT_MAX_BASEDIRS)
		return -EINVAL;
	if ((lo->upperdir == NULL) != (lo->workdir == NULL))
		return -EINVAL;
	if (lo->expected_fsverity_digest != NULL &&
	    cfs_mount_opts_set_digest(o, lo->expected_fsverity_digest) < 0)
		return -EINVAL;
	if ((lo->flags & LCFS_MOUNT_FLAGS_IDMAP) && lo->idmap_fd < 0)
		return -EINVAL;
	if (lo->flags & LCFS_MOUNT_FLAGS_REQUIRE_VERITY)
		o->flags |= CFS_MOUNT_VERITY;
	if (lo->flags & LCFS_MOUNT_FLAGS_TRY_VERITY)
		o->flags |= CFS_MOUNT_TRY_VERITY;
	if (lo->flags & LCFS_MOUNT_FLAGS_READONLY)
		o->flags |= CFS_MOUNT_READONLY;
	if (lo->flags & LCFS_MOUNT_FLAGS_IDMAP)
		o->idmap_fd = lo->idmap_fd;
	o->n_basedirs = (uint32_t)lo->n_objdirs;
	o->basedirs = (const char *const *)lo->objdirs;
	o->upperdir = lo->upperdir;
	o->workdir = lo->workdir;
	/* image_mountdir is not needed: our EROFS mount is detached or in a directory of its own */
	return 0;
}

static int mount_fd(int fd, const char *mountpoint, const struct cfs_mount_opts *o)
{
	int r = cfs_mount_image(fd, mountpoint, o, NULL, 0);

	if (r == -CFS_EDIGEST)
		r = -EWRONGVERITY;
	else if (r == -EUCLEAN)
		r = -EINVAL; /* not a composefs image */
	return r;
}

LCFS_PUBLIC int lcfs_mount_fd(int fd, const char *mountpoint, struct lcfs_mount_options_s *options)
{
	struct cfs_mount_opts o;
	int r = convert_options(options, &o);

	if (r == 0)
		r = mount_fd(fd, mountpoint, &o);
	return r < 0 ? lcfs_fail(r) : 0;
}

LCFS_PUBLIC int lcfs_mount_image(const char *path, const char *mountpoint, struct lcfs_mount_options_s *options)
{
	struct cfs_mount_opts o;
	int fd, r = convert_options(options, &o);

	if (r < 0)
		return lcfs_fail(r);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	r = mount_fd(fd, mountpoint, &o);
	close(fd);
	return r < 0 ? lcfs_fail(r) : 0;
}
