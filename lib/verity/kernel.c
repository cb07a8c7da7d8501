/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Kernel fs-verity: enable and measure ioctls, with a userspace fallback. */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>

#include <linux/fsverity.h>

#include "verity-private.h"

/* Every way a kernel or file system says "no fs-verity here" becomes -EOPNOTSUPP. */
static int normalise_errno(int e)
{
	if (e == ENOTTY || e == ENOSYS || e == EOPNOTSUPP)
		return -EOPNOTSUPP;
	return -e;
}

static int ioctl_retry(int fd, unsigned long req, void *arg)
{
	int r;

	do
		r = ioctl(fd, req, arg);
	while (r < 0 && errno == EINTR);
	return r < 0 ? normalise_errno(errno) : 0;
}

/*
 * The measured digest only equals ours when the file uses 4096-byte blocks and
 * no salt. Kernels without FS_IOC_READ_VERITY_METADATA (before 5.12) cannot
 * tell; the block size was then the page size, 4096 on the usual platforms.
 */
static int check_parameters(int fd)
{
	struct fsverity_descriptor desc;
	struct fsverity_read_metadata_arg arg = {
		.metadata_type = FS_VERITY_METADATA_TYPE_DESCRIPTOR,
		.offset = 0,
		.length = sizeof(desc),
		.buf_ptr = (uint64_t)(uintptr_t)&desc,
	};
	int r;

	memset(&desc, 0, sizeof(desc));
	do
		r = ioctl(fd, FS_IOC_READ_VERITY_METADATA, &arg);
	while (r < 0 && errno == EINTR);
	if (r < 0)
		return 0;
	if ((size_t)r < offsetof(struct fsverity_descriptor, data_size))
		return 0;
	if (desc.log_blocksize != CFS_VERITY_LOG_BLOCK_SIZE || desc.salt_size != 0)
		return -EINVAL;
	return 0;
}

int cfs_verity_kernel_measure(int fd, enum cfs_hash_alg alg, uint8_t *digest)
{
	size_t ds = cfs_verity_digest_size(alg);
	union {
		struct fsverity_digest d;
		uint8_t space[sizeof(struct fsverity_digest) + CFS_VERITY_MAX_DIGEST];
	} m;
	int r;

	if (ds == 0)
		return -EINVAL;
	memset(&m, 0, sizeof(m));
	m.d.digest_size = CFS_VERITY_MAX_DIGEST;
	r = ioctl_retry(fd, FS_IOC_MEASURE_VERITY, &m.d);
	if (r < 0)
		return r;
	if (m.d.digest_algorithm != (uint16_t)alg || m.d.digest_size != ds)
		return -EINVAL;
	r = check_parameters(fd);
	if (r < 0)
		return r;
	memcpy(digest, m.d.digest, ds);
	return 0;
}

int cfs_verity_kernel_enable(int fd, enum cfs_hash_alg alg)
{
	struct fsverity_enable_arg arg;

	if (cfs_verity_digest_size(alg) == 0)
		return -EINVAL;
	memset(&arg, 0, sizeof(arg));
	arg.version = 1;
	arg.hash_algorithm = (uint32_t)alg;
	arg.block_size = CFS_VERITY_BLOCK_SIZE;
	return ioctl_retry(fd, FS_IOC_ENABLE_VERITY, &arg);
}

int cfs_verity_measure_fd(int fd, enum cfs_hash_alg alg, uint8_t *digest, bool *from_kernel)
{
	int r = cfs_verity_kernel_measure(fd, alg, digest);

	if (from_kernel != NULL)
		*from_kernel = r == 0;
	if (r == 0)
		return 0;
	if (r != -EOPNOTSUPP && r != -ENODATA && r != -EINVAL)
		return r;
	return cfs_verity_digest_fd(fd, alg, digest);
}
