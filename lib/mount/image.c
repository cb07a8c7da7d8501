/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* The image side of a mount: header check and pinning the exact bytes that match the digest. */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <composefs/image.h>
#include <composefs/verity.h>

#include "erofs.h"
#include "mount-private.h"
#include "util.h"

#ifndef F_ADD_SEALS
#define F_ADD_SEALS 1033
#define F_SEAL_SEAL 0x0001
#define F_SEAL_SHRINK 0x0002
#define F_SEAL_GROW 0x0004
#define F_SEAL_WRITE 0x0008
#endif

/* Validate the image with the library's one reader before handing it to the kernel. */
static int check_header(int fd, bool *has_acl, struct cfs_mount_err *e)
{
	struct cfs_image *img = NULL;
	struct cfs_image_info info;
	char msg[256] = "";
	int r;

	r = cfs_image_open_fd_err(fd, NULL, &img, msg, sizeof(msg));
	if (r == -EUCLEAN || r == -EOPNOTSUPP || r == -EINVAL)
		return cfs_mount_fail(e, r, false, "%s", msg[0] ? msg : "not a composefs image");
	if (r < 0)
		return cfs_mount_fail(e, r, true, "cannot read the image");
	cfs_image_get_info(img, &info);
	*has_acl = (info.header_flags & CFS_HEADER_FLAG_HAS_ACL) != 0;
	cfs_image_close(img);
	return 0;
}

/* Copy all of @src into @dst (a fresh memfd); the source may be on any file system. */
static int copy_all(int src, int dst)
{
	uint8_t buf[1 << 16];
	off_t off = 0;

	for (;;) {
		ssize_t n = cfs_pread_full(src, buf, sizeof(buf), off);
		int r;

		if (n < 0)
			return (int)n;
		if (n == 0)
			return 0;
		r = cfs_write_full(dst, buf, (size_t)n);
		if (r < 0)
			return r;
		off += n;
	}
}

/*
 * Without a kernel measurement, the bytes we hash must be the bytes the kernel
 * reads later, even if someone rewrites the image file in between: copy it
 * into an anonymous memory file, seal that against any change, hash the copy,
 * and mount the copy.
 */
static int sealed_copy(int image_fd, const struct cfs_mount_opts *o, int *fd_out,
		       struct cfs_mount_err *e)
{
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	size_t dlen = cfs_verity_digest_size(o->digest_alg);
	_cleanup_close_ int mfd = -1;
	int r;

	mfd = memfd_create("composefs-image", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (mfd < 0)
		return cfs_mount_fail(e, -errno, true,
				      "cannot create a memory file for the image copy");
	r = copy_all(image_fd, mfd);
	if (r < 0)
		return cfs_mount_fail(e, r, true, "cannot copy the image into memory");
	if (fcntl(mfd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL) < 0)
		return cfs_mount_fail(e, -errno, true, "cannot seal the image copy");
	r = cfs_verity_digest_fd(mfd, (enum cfs_hash_alg)o->digest_alg, digest);
	if (r < 0)
		return cfs_mount_fail(e, r, true, "cannot compute the image digest");
	if (memcmp(digest, o->digest, dlen) != 0) {
		char want[2 * CFS_VERITY_MAX_DIGEST + 1], got[2 * CFS_VERITY_MAX_DIGEST + 1];

		cfs_hex_encode(o->digest, dlen, want);
		cfs_hex_encode(digest, dlen, got);
		return cfs_mount_fail(e, -CFS_EDIGEST, false,
				      "image digest mismatch: expected %s, image has %s", want, got);
	}
	*fd_out = cfs_steal_fd(&mfd);
	return 0;
}

static int pin_image(int image_fd, const struct cfs_mount_opts *o, int *fd_out,
		     struct cfs_mount_err *e)
{
	uint8_t digest[CFS_VERITY_MAX_DIGEST];
	size_t dlen = cfs_verity_digest_size(o->digest_alg);
	int r;

	if (o->digest_alg == 0)
		goto plain;
	r = cfs_verity_kernel_measure(image_fd, (enum cfs_hash_alg)o->digest_alg, digest);
	if (r == 0) {
		/* The kernel checks every read of a verity file against this digest. */
		if (memcmp(digest, o->digest, dlen) != 0) {
			char want[2 * CFS_VERITY_MAX_DIGEST + 1], got[2 * CFS_VERITY_MAX_DIGEST + 1];

			cfs_hex_encode(o->digest, dlen, want);
			cfs_hex_encode(digest, dlen, got);
			return cfs_mount_fail(e, -CFS_EDIGEST, false,
					      "image digest mismatch: expected %s, the kernel measured %s",
					      want, got);
		}
		goto plain;
	}
	if (r != -EOPNOTSUPP && r != -ENODATA && r != -EINVAL)
		return cfs_mount_fail(e, r, true, "cannot measure the image");
	return sealed_copy(image_fd, o, fd_out, e);

plain:
	*fd_out = fcntl(image_fd, F_DUPFD_CLOEXEC, 3);
	if (*fd_out < 0)
		return cfs_mount_fail(e, -errno, true, "image");
	return 0;
}

int cfs_mount_prepare_image(int image_fd, const struct cfs_mount_opts *o, int *fd_out,
			    bool *has_acl, struct cfs_mount_err *e)
{
	_cleanup_close_ int fd = -1;
	struct stat st;
	int r;

	if (fstat(image_fd, &st) < 0)
		return cfs_mount_fail(e, -errno, true, "image");
	if (S_ISDIR(st.st_mode))
		return cfs_mount_fail(e, -EISDIR, true, "image");
	if (!S_ISREG(st.st_mode) && !S_ISBLK(st.st_mode))
		return cfs_mount_fail(e, -EUCLEAN, false,
				      "not a composefs image (not a regular file)");
	/* Cheap check first, so a wrong file is not copied and hashed. */
	r = check_header(image_fd, has_acl, e);
	if (r < 0)
		return r;
	r = pin_image(image_fd, o, &fd, e);
	if (r < 0)
		return r;
	/* What gets mounted is what we check, should the file have changed meanwhile. */
	r = check_header(fd, has_acl, e);
	if (r < 0)
		return r;
	*fd_out = cfs_steal_fd(&fd);
	return 0;
}
