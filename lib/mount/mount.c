/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Public entry points of lib/mount: validate, pin the image, mount EROFS, stack overlayfs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/utsname.h>

#include <composefs/mount.h>

#include "mount-private.h"
#include "util.h"

#define ALLOWED_ATTRS                                                                      \
	(CFS_MOUNT_ATTR_NOSUID | CFS_MOUNT_ATTR_NODEV | CFS_MOUNT_ATTR_NOEXEC |                \
	 CFS_MOUNT_ATTR__ATIME | CFS_MOUNT_ATTR_NODIRATIME)

void cfs_mount_opts_init(struct cfs_mount_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->idmap_fd = -1;
}

int cfs_mount_opts_set_digest(struct cfs_mount_opts *o, const char *hex)
{
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	size_t len = strlen(hex);
	enum cfs_hash_alg alg;

	if (len == 2 * cfs_verity_digest_size(CFS_HASH_SHA256))
		alg = CFS_HASH_SHA256;
	else if (len == 2 * cfs_verity_digest_size(CFS_HASH_SHA512))
		alg = CFS_HASH_SHA512;
	else
		return -EINVAL;
	if (cfs_hex_decode(hex, len, digest, len / 2) < 0)
		return -EINVAL;
	memset(o->digest, 0, sizeof(o->digest));
	memcpy(o->digest, digest, len / 2);
	o->digest_alg = alg;
	return 0;
}

static int validate(const struct cfs_mount_opts *o, struct cfs_mount_err *e)
{
	unsigned atime = (unsigned)o->mount_attr & CFS_MOUNT_ATTR__ATIME;

	if (o->flags & ~CFS_MOUNT_ALL_FLAGS)
		return cfs_mount_fail(e, -EINVAL, false, "unknown mount flags 0x%x",
				      o->flags & ~CFS_MOUNT_ALL_FLAGS);
	if (o->n_basedirs == 0 || o->basedirs == NULL)
		return cfs_mount_fail(e, -EINVAL, false, "no basedir given");
	if (o->n_basedirs > CFS_MOUNT_MAX_BASEDIRS)
		return cfs_mount_fail(e, -EINVAL, false, "more than %d basedirs",
				      CFS_MOUNT_MAX_BASEDIRS);
	if ((o->upperdir == NULL) != (o->workdir == NULL))
		return cfs_mount_fail(e, -EINVAL, false, "upperdir and workdir go together");
	if (o->digest_alg != 0 && cfs_verity_digest_size((enum cfs_hash_alg)o->digest_alg) == 0)
		return cfs_mount_fail(e, -EINVAL, false, "unknown digest algorithm %u",
				      o->digest_alg);
	if ((o->mount_attr & ~(uint64_t)ALLOWED_ATTRS) != 0 ||
	    (atime != 0 && atime != CFS_MOUNT_ATTR_NOATIME && atime != CFS_MOUNT_ATTR_STRICTATIME))
		return cfs_mount_fail(e, -EINVAL, false, "unsupported mount attributes 0x%llx",
				      (unsigned long long)o->mount_attr);
	for (size_t i = 0; i < CFS_ARRAY_SIZE(o->reserved); i++)
		if (o->reserved[i] != 0)
			return cfs_mount_fail(e, -EINVAL, false, "reserved option fields not zero");
	return 0;
}

static int check_dir(const char *what, const char *path, struct cfs_mount_err *e)
{
	struct stat st;

	if (path == NULL || path[0] == '\0')
		return cfs_mount_fail(e, -EINVAL, false, "%s: empty path", what);
	if (stat(path, &st) < 0)
		return cfs_mount_fail(e, -errno, true, "%s %s", what, path);
	if (!S_ISDIR(st.st_mode))
		return cfs_mount_fail(e, -ENOTDIR, true, "%s %s", what, path);
	return 0;
}

static int check_dirs(const struct cfs_mount_opts *o, const char *target,
		      struct cfs_mount_err *e)
{
	int r = 0;

	for (uint32_t i = 0; r == 0 && i < o->n_basedirs; i++)
		r = check_dir("basedir", o->basedirs[i], e);
	if (r == 0 && o->upperdir != NULL)
		r = check_dir("upperdir", o->upperdir, e);
	if (r == 0 && o->workdir != NULL)
		r = check_dir("workdir", o->workdir, e);
	if (r == 0 && target != NULL)
		r = check_dir("mount point", target, e);
	return r;
}

/* An object of the store at @store_fd (first entry of the first XX/ directory), or -1. */
static int open_some_object(int store_fd)
{
	_cleanup_close_ int dup_fd = fcntl(store_fd, F_DUPFD_CLOEXEC, 3);
	DIR *d = dup_fd >= 0 ? fdopendir(dup_fd) : NULL;
	struct dirent *de;
	int fd = -1;

	if (d == NULL)
		return -1;
	dup_fd = -1; /* owned by d now */
	for (int seen = 0; fd < 0 && seen < 512 && (de = readdir(d)) != NULL; seen++) {
		_cleanup_close_ int sub = -1;
		DIR *sd;
		struct dirent *oe;

		if (strlen(de->d_name) != 2 || de->d_name[0] == '.')
			continue;
		sub = openat(store_fd, de->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (sub < 0 || (sd = fdopendir(sub)) == NULL)
			continue;
		sub = -1;
		while ((oe = readdir(sd)) != NULL) {
			if (oe->d_name[0] == '.')
				continue;
			fd = openat(dirfd(sd), oe->d_name,
				    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
			break;
		}
		closedir(sd);
	}
	closedir(d);
	return fd;
}

/*
 * Does the file system of @dir do fs-verity? Measure an object (or the
 * directory): "not supported" (ENOTTY, EOPNOTSUPP) is the only answer that
 * means no; ENODATA (verity possible, just not enabled) and anything else
 * count as yes, so that doubt ends in verity being required.
 */
static bool dir_supports_verity(const char *dir)
{
	_cleanup_close_ int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	_cleanup_close_ int obj = -1;
	uint8_t digest[CFS_VERITY_MAX_DIGEST];

	if (dfd < 0)
		return true;
	obj = open_some_object(dfd);
	return cfs_verity_kernel_measure(obj >= 0 ? obj : dfd, CFS_HASH_SHA256, digest) !=
	       -EOPNOTSUPP;
}

static int erofs_context(const char *source, bool has_acl, int *fsfd_out,
			 struct cfs_mount_err *e)
{
	_cleanup_close_ int fsfd = cfs_mount_fsopen("erofs", "EROFS", "CONFIG_EROFS_FS", e);

	if (fsfd < 0)
		return fsfd;
	if (cfs_sys_fsconfig(fsfd, CFS_FSCONFIG_SET_STRING, "source", source, 0) < 0 ||
	    cfs_sys_fsconfig(fsfd, CFS_FSCONFIG_SET_FLAG, "ro", NULL, 0) < 0)
		return cfs_mount_fail_fs(e, fsfd, -errno, "erofs: source %s", source);
	/* Without ACLs in the image, spare the kernel looking for them. */
	if (!has_acl && cfs_sys_fsconfig(fsfd, CFS_FSCONFIG_SET_FLAG, "noacl", NULL, 0) < 0) {
		char buf[256];

		while (read(fsfd, buf, sizeof(buf)) > 0)
			;
	}
	*fsfd_out = cfs_steal_fd(&fsfd);
	return 0;
}

/* One attempt at a detached EROFS mount from @source; -ENOTBLK: try a loop device. */
static int erofs_fsmount(const char *source, bool has_acl, int *mnt_out, struct cfs_mount_err *e)
{
	_cleanup_close_ int fsfd = -1;
	int r, mfd;

	r = erofs_context(source, has_acl, &fsfd, e);
	if (r < 0)
		return r;
	if (cfs_sys_fsconfig(fsfd, CFS_FSCONFIG_CMD_CREATE, NULL, NULL, 0) < 0) {
		if (errno == ENOTBLK)
			return -ENOTBLK;
		return cfs_mount_fail_fs(e, fsfd, -errno, "erofs: cannot mount the image");
	}
	mfd = cfs_sys_fsmount(fsfd, CFS_FSMOUNT_CLOEXEC, CFS_MOUNT_ATTR_RDONLY);
	if (mfd < 0)
		return cfs_mount_fail_fs(e, fsfd, -errno, "erofs: fsmount");
	*mnt_out = mfd;
	return 0;
}

static int apply_idmap(int mnt_fd, int userns_fd, struct cfs_mount_err *e)
{
	struct cfs_mount_attr_arg attr = {
		.attr_set = CFS_MOUNT_ATTR_IDMAP,
		.userns_fd = (uint64_t)userns_fd,
	};

	if (cfs_sys_mount_setattr(mnt_fd, "", CFS_AT_EMPTY_PATH, &attr, sizeof(attr)) == 0)
		return 0;
	if (errno == ENOSYS || errno == EINVAL)
		return cfs_mount_fail(e, -EOPNOTSUPP, true,
				      "idmap: kernel cannot make an idmapped EROFS mount (Linux 5.12+ and EROFS support needed)");
	return cfs_mount_fail(e, -errno, true, "idmap");
}

/*
 * Detached, read-only EROFS mount of @img_fd: from the file itself where EROFS
 * can read files (6.12), through a loop device otherwise.
 */
static int mount_erofs(int img_fd, bool has_acl, const struct cfs_mount_opts *o, int *mnt_out,
		       struct cfs_mount_err *e)
{
	char source[64];
	_cleanup_close_ int loopfd = -1;
	_cleanup_close_ int mnt = -1;
	int r = -ENOTBLK;

	snprintf(source, sizeof(source), "/proc/self/fd/%d", img_fd);
	/* Without /proc the file cannot be named; a loop device needs no name. */
	if (!(o->flags & CFS_MOUNT_FORCE_LOOP) && access(source, F_OK) == 0)
		r = erofs_fsmount(source, has_acl, &mnt, e);
	if (r == -ENOTBLK) {
		loopfd = cfs_loop_attach(img_fd, source, sizeof(source), e);
		if (loopfd < 0)
			return loopfd;
		r = erofs_fsmount(source, has_acl, &mnt, e);
		if (r == -ENOTBLK)
			r = cfs_mount_fail(e, r, true, "erofs: %s", source);
	}
	if (r < 0)
		return r;
	if (o->idmap_fd >= 0) {
		r = apply_idmap(mnt, o->idmap_fd, e);
		if (r < 0)
			return r;
	}
	*mnt_out = cfs_steal_fd(&mnt);
	return 0;
}

/*
 * A private, temporary mount point, for kernels that need the EROFS mount
 * attached somewhere while the overlay is made: mount(2) without the new
 * API, and overlayfs before 6.15, which cannot take a detached mount as a
 * layer. It is detached and removed as soon as the overlay exists.
 */
struct tmp_mnt {
	char path[64];
	bool made, mounted;
};

static int tmp_mnt_make(struct tmp_mnt *t, struct cfs_mount_err *e)
{
	static const char *const parents[] = { "/run", "/tmp" };
	int r = -ENOENT;

	for (size_t i = 0; i < CFS_ARRAY_SIZE(parents); i++) {
		snprintf(t->path, sizeof(t->path), "%s/.composefs-XXXXXX", parents[i]);
		if (mkdtemp(t->path) != NULL) {
			t->made = true;
			return 0;
		}
		r = -errno;
	}
	return cfs_mount_fail(e, r, true, "cannot create a temporary mount point");
}

static void tmp_mnt_drop(struct tmp_mnt *t)
{
	if (t->mounted)
		umount2(t->path, MNT_DETACH);
	if (t->made)
		rmdir(t->path);
	t->made = t->mounted = false;
}

static int attach(int mnt_fd, const char *where, struct cfs_mount_err *e)
{
	if (cfs_sys_move_mount(mnt_fd, "", AT_FDCWD, where, CFS_MOVE_MOUNT_F_EMPTY_PATH) < 0)
		return cfs_mount_fail(e, -errno, true, "cannot attach the mount at %s", where);
	return 0;
}

/* Kernels without fsopen(): EROFS with mount(2) at a temporary place. */
static int mount_erofs_legacy(int img_fd, bool has_acl, const struct cfs_mount_opts *o,
			      const char *where, struct cfs_mount_err *e)
{
	char source[64];
	_cleanup_close_ int loopfd = -1;
	const char *data = has_acl ? NULL : "noacl";
	int r = -ENOTBLK;

	if (o->idmap_fd >= 0)
		return cfs_mount_fail(e, -EOPNOTSUPP, false,
				      "idmap: needs the new mount API (Linux 5.12+)");
	snprintf(source, sizeof(source), "/proc/self/fd/%d", img_fd);
	if (!(o->flags & CFS_MOUNT_FORCE_LOOP) && access(source, F_OK) == 0)
		r = mount(source, where, "erofs", MS_RDONLY | MS_SILENT, data) == 0 ? 0 : -errno;
	if (r == -ENOTBLK) {
		loopfd = cfs_loop_attach(img_fd, source, sizeof(source), e);
		if (loopfd < 0)
			return loopfd;
		r = mount(source, where, "erofs", MS_RDONLY | MS_SILENT, data) == 0 ? 0 : -errno;
	}
	if (r == -ENODEV)
		return cfs_mount_fail(e, -EOPNOTSUPP, false, "kernel has no EROFS (CONFIG_EROFS_FS)");
	if (r < 0)
		return cfs_mount_fail(e, r, true, "erofs: cannot mount the image");
	return 0;
}

/* Overlay via mount(2), with the EROFS mount attached at a temporary place. */
static int overlay_legacy(struct cfs_overlay_args *a, int img, bool has_acl, const char *target,
			  struct cfs_mount_err *e)
{
	struct tmp_mnt tmp = { 0 };
	int r;

	if (target == NULL)
		return cfs_mount_fail(e, -EOPNOTSUPP, false,
				      "a detached mount needs overlayfs \"lowerdir+\" (Linux 6.7)");
	r = tmp_mnt_make(&tmp, e);
	if (r < 0)
		return r;
	if (a->erofs_mnt_fd >= 0)
		r = attach(a->erofs_mnt_fd, tmp.path, e);
	else
		r = mount_erofs_legacy(img, has_acl, a->o, tmp.path, e);
	if (r == 0) {
		tmp.mounted = true;
		a->erofs_path = tmp.path;
		r = cfs_overlay_legacy(a, target, e);
	}
	tmp_mnt_drop(&tmp);
	return r;
}

/*
 * Whether overlayfs may take the EROFS mount detached (Linux 6.15). Before, an
 * attempt fails only at creation, after the whole configuration, and the
 * kernel logs "failed to clone lowerpath": a boot that knows the answer from
 * the release skips it. A release it cannot read is tried.
 */
static bool detached_layers_likely(void)
{
	unsigned major = 0, minor = 0;
	struct utsname u;

	if (uname(&u) < 0 || sscanf(u.release, "%u.%u", &major, &minor) != 2)
		return true;
	return major > 6 || (major == 6 && minor >= 15);
}

/* The overlay with the new mount API; returns -ENOSYS when only mount(2) can do it. */
static int overlay_fsmount(struct cfs_overlay_args *a, const char *target, int *ovl,
			   struct cfs_mount_err *e)
{
	struct tmp_mnt tmp = { 0 };
	const char *where = target;
	int r;

	if (detached_layers_likely()) {
		a->erofs_detached = true;
		r = cfs_overlay_fsmount(a, ovl, e);
		if (r != -EXDEV)
			return r;
	}
	/*
	 * Attach the EROFS mount where the overlay goes (or at a temporary place)
	 * just while the overlay is created: it holds its own private clone.
	 */
	a->erofs_detached = false;
	if (where == NULL) {
		r = tmp_mnt_make(&tmp, e);
		if (r < 0)
			return r;
		where = tmp.path;
	}
	r = attach(a->erofs_mnt_fd, where, e);
	if (r == 0) {
		r = cfs_overlay_fsmount(a, ovl, e);
		umount2(where, MNT_DETACH);
	}
	tmp_mnt_drop(&tmp);
	return r;
}

/* @target NULL: hand back a detached overlay in *@mnt_out. */
static int do_mount(int image_fd, const char *target, const struct cfs_mount_opts *o,
		    int *mnt_out, struct cfs_mount_err *e)
{
	_cleanup_close_ int img = -1;
	_cleanup_close_ int erofs = -1;
	_cleanup_close_ int ovl = -1;
	struct cfs_overlay_args args = { .o = o, .erofs_mnt_fd = -1 };
	bool has_acl = false;
	int r;

	r = validate(o, e);
	if (r == 0)
		r = check_dirs(o, target, e);
	if (r == 0)
		r = cfs_mount_prepare_image(image_fd, o, &img, &has_acl, e);
	if (r < 0)
		return r;

	if (o->flags & CFS_MOUNT_VERITY) {
		args.verity = true;
	} else if (o->flags & CFS_MOUNT_TRY_VERITY) {
		args.verity = args.try_verity = true;
		for (uint32_t i = 0; args.verity && i < o->n_basedirs; i++)
			args.verity = dir_supports_verity(o->basedirs[i]);
	}

	r = mount_erofs(img, has_acl, o, &erofs, e);
	if (r == -ENOSYS)
		return overlay_legacy(&args, img, has_acl, target, e);
	if (r < 0)
		return r;
	args.erofs_mnt_fd = erofs;

	if (!(o->flags & CFS_MOUNT_FORCE_LEGACY)) {
		r = overlay_fsmount(&args, target, &ovl, e);
		if (r == 0 && target == NULL) {
			*mnt_out = cfs_steal_fd(&ovl);
			return 0;
		}
		if (r == 0)
			return attach(ovl, target, e);
		if (r != -ENOSYS)
			return r;
	}
	return overlay_legacy(&args, img, has_acl, target, e);
}

int cfs_mount_image(int image_fd, const char *target, const struct cfs_mount_opts *o,
		    char *errbuf, size_t errlen)
{
	struct cfs_mount_err e = { .buf = errbuf, .len = errlen };

	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if (target == NULL || o == NULL)
		return cfs_mount_fail(&e, -EINVAL, false, "no mount point or options given");
	return do_mount(image_fd, target, o, NULL, &e);
}

int cfs_mount_image_detached(int image_fd, const struct cfs_mount_opts *o, int *mnt_fd_out,
			     char *errbuf, size_t errlen)
{
	struct cfs_mount_err e = { .buf = errbuf, .len = errlen };

	if (errbuf != NULL && errlen > 0)
		errbuf[0] = '\0';
	if (o == NULL || mnt_fd_out == NULL)
		return cfs_mount_fail(&e, -EINVAL, false, "no options given");
	if (o->flags & CFS_MOUNT_FORCE_LEGACY)
		return cfs_mount_fail(&e, -EOPNOTSUPP, false,
				      "a detached mount cannot use the legacy mount(2) path");
	return do_mount(image_fd, NULL, o, mnt_fd_out, &e);
}
