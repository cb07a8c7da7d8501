/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* libcomposefs drop-in: fs-verity digests (computed by our verity module) and the kernel's verity. */
#include <string.h>
#include <unistd.h>

#include "lcfs-private.h"
#include "libcomposefs/lcfs-mount.h"

LCFS_PUBLIC int lcfs_compute_fsverity_from_content(uint8_t *digest, void *file, lcfs_read_cb read_cb)
{
	struct cfs_verity_ctx *ctx;
	uint8_t buf[4096];
	int r = cfs_verity_ctx_new(CFS_HASH_SHA256, &ctx);

	if (r < 0)
		return lcfs_fail(r);
	for (;;) {
		ssize_t n = read_cb(file, buf, sizeof(buf));

		if (n < 0) {
			r = -ENODATA;
			break;
		}
		if (n == 0) {
			r = cfs_verity_final(ctx, digest);
			break;
		}
		r = cfs_verity_update(ctx, buf, (size_t)n);
		if (r < 0)
			break;
	}
	cfs_verity_ctx_free(ctx);
	return r < 0 ? lcfs_fail(r) : 0;
}

static ssize_t fd_read(void *file, void *buf, size_t count)
{
	ssize_t n;

	do
		n = read(*(int *)file, buf, count);
	while (n < 0 && errno == EINTR);
	return n;
}

LCFS_PUBLIC int lcfs_compute_fsverity_from_fd(uint8_t *digest, int fd)
{
	return lcfs_compute_fsverity_from_content(digest, &fd, fd_read);
}

LCFS_PUBLIC int lcfs_compute_fsverity_from_data(uint8_t *digest, uint8_t *data, size_t data_len)
{
	int r = cfs_verity_digest_buf(CFS_HASH_SHA256, data, data_len, digest);

	return r < 0 ? lcfs_fail(r) : 0;
}

LCFS_PUBLIC int lcfs_node_set_fsverity_from_content(struct lcfs_node_s *node, void *file, lcfs_read_cb read_cb)
{
	uint8_t digest[LCFS_DIGEST_SIZE];

	if (lcfs_compute_fsverity_from_content(digest, file, read_cb) < 0)
		return -1;
	lcfs_node_set_fsverity_digest(node, digest);
	return 0;
}

LCFS_PUBLIC int lcfs_node_set_fsverity_from_fd(struct lcfs_node_s *node, int fd)
{
	return lcfs_node_set_fsverity_from_content(node, &fd, fd_read);
}

/* These return a negative errno (and set errno), as the reference's do. */
LCFS_PUBLIC int lcfs_fd_measure_fsverity(uint8_t *digest, int fd)
{
	int r = cfs_verity_kernel_measure(fd, CFS_HASH_SHA256, digest);

	if (r == -EOPNOTSUPP || r == -ENODATA)
		r = -ENOVERITY;
	else if (r == -EINVAL)
		r = -EWRONGVERITY; /* verity with another algorithm */
	if (r < 0)
		errno = -r;
	return r;
}

LCFS_PUBLIC int lcfs_fd_get_fsverity(uint8_t *digest, int fd)
{
	int r = lcfs_fd_measure_fsverity(digest, fd);

	if (r != -ENOVERITY)
		return r;
	if (lseek(fd, 0, SEEK_SET) < 0)
		return -errno;
	if (lcfs_compute_fsverity_from_fd(digest, fd) < 0)
		return -errno;
	return 0;
}

LCFS_PUBLIC int lcfs_fd_enable_fsverity(int fd)
{
	int r = cfs_verity_kernel_enable(fd, CFS_HASH_SHA256);

	if (r < 0)
		errno = -r;
	return r;
}
