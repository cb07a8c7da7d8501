/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* composefs-setup-root: free the initramfs's memory before handing over the root. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "freeroot.h"

#define RAMFS_MAGIC_ 0x858458f6
#define TMPFS_MAGIC_ 0x01021994

/* Depth is bounded so that a hostile tree cannot exhaust the stack. */
#define MAX_DEPTH 256

static void empty_dir(int dfd, dev_t dev, int depth, struct sr_free_stats *st)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;

	if (d == NULL) {
		close(dfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat sb;

		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (fstatat(dirfd(d), de->d_name, &sb, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		if (sb.st_dev != dev) {
			st->kept++; /* another file system mounted here: never crossed */
			continue;
		}
		if (S_ISDIR(sb.st_mode)) {
			int sub;

			if (depth >= MAX_DEPTH) {
				st->kept++;
				continue;
			}
			sub = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub < 0) {
				st->kept++;
				continue;
			}
			empty_dir(sub, dev, depth + 1, st);
			if (unlinkat(dirfd(d), de->d_name, AT_REMOVEDIR) == 0)
				st->removed++;
			else
				st->kept++; /* a mount point inside it kept it */
		} else if (unlinkat(dirfd(d), de->d_name, 0) == 0) {
			st->removed++;
			st->bytes += (uint64_t)sb.st_blocks * 512;
		} else {
			st->kept++;
		}
	}
	closedir(d);
}

bool sr_is_ram_root(int dfd)
{
	struct statfs sfs;

	if (fstatfs(dfd, &sfs) < 0)
		return false;
	return (unsigned long)sfs.f_type == RAMFS_MAGIC_ || (unsigned long)sfs.f_type == TMPFS_MAGIC_;
}

int sr_free_tree(int dfd, struct sr_free_stats *st)
{
	struct stat sb;
	int fd;

	memset(st, 0, sizeof(*st));
	if (fstat(dfd, &sb) < 0)
		return -errno;
	if (!S_ISDIR(sb.st_mode))
		return -ENOTDIR;
	if (!sr_is_ram_root(dfd))
		return -EXDEV; /* only ever a file system that lives in memory */
	fd = openat(dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	empty_dir(fd, sb.st_dev, 0, st);
	return 0;
}
