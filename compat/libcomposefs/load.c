/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* libcomposefs drop-in: trees from images (our reader) and from files and directories. */
#include <dirent.h>
#include <endian.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "lcfs-private.h"
#include "libcomposefs/lcfs-erofs.h"

/* ---- images ---------------------------------------------------------------------------------- */

/* Our reader's errors in the reference's terms: a corrupt or foreign file is EINVAL. */
static int load_err(int r)
{
	return r == -EUCLEAN || r == -E2BIG ? -EINVAL : r;
}

static struct lcfs_node_s *load_image(struct cfs_image *img, const struct lcfs_read_options_s *opts)
{
	struct cfs_node *tree = NULL;
	struct lcfs_node_s *root = NULL;
	int r = cfs_image_load_tree_filtered(img, opts ? opts->toplevel_entries : NULL, &tree);

	if (r == 0)
		r = lcfs_from_cfs(tree, &root);
	cfs_node_unref(tree);
	cfs_image_close(img);
	if (r < 0) {
		errno = -load_err(r);
		return NULL;
	}
	return root;
}

LCFS_PUBLIC struct lcfs_node_s *lcfs_load_node_from_image_ext(const uint8_t *image_data, size_t image_data_size,
							      const struct lcfs_read_options_s *opts)
{
	struct cfs_image *img;
	int r = cfs_image_open_mem(image_data, image_data_size, NULL, &img);

	if (r < 0) {
		errno = -load_err(r);
		return NULL;
	}
	return load_image(img, opts);
}

LCFS_PUBLIC struct lcfs_node_s *lcfs_load_node_from_image(const uint8_t *image_data, size_t image_data_size)
{
	return lcfs_load_node_from_image_ext(image_data, image_data_size, NULL);
}

LCFS_PUBLIC struct lcfs_node_s *lcfs_load_node_from_fd_ext(int fd, const struct lcfs_read_options_s *opts)
{
	struct cfs_image *img;
	int r = cfs_image_open_fd(fd, NULL, &img);

	if (r < 0) {
		errno = -load_err(r);
		return NULL;
	}
	return load_image(img, opts);
}

LCFS_PUBLIC struct lcfs_node_s *lcfs_load_node_from_fd(int fd)
{
	return lcfs_load_node_from_fd_ext(fd, NULL);
}

LCFS_PUBLIC int lcfs_version_from_fd(int fd)
{
	struct lcfs_erofs_header_s h;
	ssize_t n = pread(fd, &h, sizeof(h), 0);

	if (n < 0)
		return -1;
	if ((size_t)n != sizeof(h) || le32toh(h.magic) != LCFS_EROFS_MAGIC ||
	    le32toh(h.version) != LCFS_EROFS_VERSION)
		return lcfs_fail(-EINVAL);
	return (int)le32toh(h.composefs_version);
}

/* ---- files ----------------------------------------------------------------------------------- */

#define BUILD_FLAGS_ALL                                                                            \
	(LCFS_BUILD_SKIP_XATTRS | LCFS_BUILD_USE_EPOCH | LCFS_BUILD_SKIP_DEVICES |                 \
	 LCFS_BUILD_COMPUTE_DIGEST | LCFS_BUILD_NO_INLINE | LCFS_BUILD_USER_XATTRS |               \
	 LCFS_BUILD_BY_DIGEST)

/* Every xattr of @fname (not followed), in the order the kernel lists them. */
static int read_xattrs(struct lcfs_node_s *node, int dirfd, const char *fname, bool user_only)
{
	char path[64], *list = NULL, *value = NULL;
	int fd = openat(dirfd, fname, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	ssize_t n;
	int r = 0;

	if (fd < 0)
		return -errno;
	/* O_PATH descriptors take no xattr calls; their /proc link, followed, reaches the file itself (a symlink too) */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = listxattr(path, NULL, 0);
	if (n > 0 && (list = malloc((size_t)n)) != NULL)
		n = listxattr(path, list, (size_t)n);
	if (n < 0 || (n > 0 && list == NULL))
		r = n < 0 ? -errno : -ENOMEM;
	for (char *it = list; r == 0 && it != NULL && it < list + n; it += strlen(it) + 1) {
		ssize_t len;

		if (user_only && strncmp(it, "user.", 5) != 0)
			continue;
		len = getxattr(path, it, NULL, 0);
		free(value);
		value = len >= 0 ? malloc(len ? (size_t)len : 1) : NULL;
		if (len >= 0 && value != NULL)
			len = getxattr(path, it, value, (size_t)len);
		if (len < 0)
			r = -errno;
		else if (value == NULL)
			r = -ENOMEM;
		else
			r = lcfs_xattr_set(node, it, value, (size_t)len, LCFS_INODE_EXTERNAL_XATTR_MAX);
	}
	free(value);
	free(list);
	close(fd);
	return r;
}

/* read(2) exactly @len bytes; ENODATA when the file is shorter. */
static int read_all(int fd, uint8_t *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = read(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ENODATA;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int set_from_content(struct lcfs_node_s *node, int dirfd, const char *fname, int flags)
{
	bool by_digest = flags & LCFS_BUILD_BY_DIGEST, compute = flags & LCFS_BUILD_COMPUTE_DIGEST;
	bool do_digest = node->size > 0 && (compute || by_digest);
	bool do_inline = node->size > 0 && !(flags & LCFS_BUILD_NO_INLINE) &&
			 node->size <= LCFS_RECOMMENDED_INLINE_CONTENT_MAX;
	uint8_t digest[LCFS_DIGEST_SIZE], buf[LCFS_RECOMMENDED_INLINE_CONTENT_MAX];
	int fd, r = 0;

	if (!do_digest && !do_inline)
		return 0;
	fd = openat(dirfd, fname, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	if (do_digest) {
		r = cfs_verity_digest_fd(fd, CFS_HASH_SHA256, digest);
		if (r == 0 && compute)
			lcfs_node_set_fsverity_digest(node, digest);
		if (r == 0 && by_digest) {
			/* the object's path in the store: xx/yyyy... */
			char hex[2 * LCFS_DIGEST_SIZE + 1], path[2 * LCFS_DIGEST_SIZE + 2];

			cfs_digest_to_hex(digest, sizeof(digest), hex);
			snprintf(path, sizeof(path), "%.2s/%s", hex, hex + 2);
			if (lcfs_node_set_payload(node, path) < 0)
				r = -errno;
		}
	}
	if (r == 0 && do_inline) {
		r = read_all(fd, buf, node->size);
		if (r == 0 && lcfs_node_set_content(node, buf, node->size) < 0)
			r = -errno;
	}
	close(fd);
	return r;
}

LCFS_PUBLIC int lcfs_node_set_from_content(struct lcfs_node_s *node, int dirfd, const char *fname, int buildflags)
{
	int r;

	if (node == NULL)
		return lcfs_fail(-EINVAL);
	r = set_from_content(node, dirfd, fname, buildflags);
	return r < 0 ? lcfs_fail(r) : 0;
}

static int load_file(int dirfd, const char *fname, int flags, struct lcfs_node_s **out)
{
	struct lcfs_node_s *node;
	struct stat st;
	int r = 0;

	if ((flags & ~BUILD_FLAGS_ALL) ||
	    ((flags & LCFS_BUILD_SKIP_XATTRS) && (flags & LCFS_BUILD_USER_XATTRS)))
		return -EINVAL;
	if (fstatat(dirfd, fname, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return -errno;
	node = lcfs_node_new();
	if (node == NULL)
		return -ENOMEM;
	node->mode = st.st_mode;
	node->uid = st.st_uid;
	node->gid = st.st_gid;
	node->rdev = (uint32_t)st.st_rdev;
	node->size = (uint64_t)st.st_size;
	if (S_ISREG(st.st_mode)) {
		r = set_from_content(node, dirfd, fname, flags);
	} else if (S_ISLNK(st.st_mode)) {
		char target[PATH_MAX + 1];
		ssize_t n = readlinkat(dirfd, fname, target, sizeof(target) - 1);

		if (n < 0)
			r = -errno;
		else {
			target[n] = '\0';
			if (lcfs_node_set_symlink_payload(node, target) < 0)
				r = -errno;
		}
	}
	if (!(flags & LCFS_BUILD_USE_EPOCH)) {
		node->mtime_sec = st.st_mtim.tv_sec;
		node->mtime_nsec = (uint32_t)st.st_mtim.tv_nsec;
	}
	if (r == 0 && !(flags & LCFS_BUILD_SKIP_XATTRS))
		r = read_xattrs(node, dirfd, fname, flags & LCFS_BUILD_USER_XATTRS);
	if (r < 0) {
		lcfs_node_unref(node);
		return r;
	}
	*out = node;
	return 0;
}

LCFS_PUBLIC struct lcfs_node_s *lcfs_load_node_from_file(int dirfd, const char *fname, int buildflags)
{
	struct lcfs_node_s *node;
	int r = load_file(dirfd, fname, buildflags, &node);

	if (r < 0) {
		errno = -r;
		return NULL;
	}
	return node;
}

/* "a/b" (or "a" when @b is NULL), malloc'ed. */
static char *join(const char *a, const char *b)
{
	char *s;
	size_t la = strlen(a);

	if (b == NULL)
		return strdup(a);
	if (asprintf(&s, "%s%s%s", a, la > 0 && a[la - 1] != '/' ? "/" : "", b) < 0)
		return NULL;
	return s;
}

/* Load the entries of directory @dfd into @dir; on failure *@failed names the entry (malloc'ed). */
static int build_dir(struct lcfs_node_s *dir, int dfd, int flags, char **failed)
{
	DIR *d = fdopendir(dfd);
	int r = 0;

	if (d == NULL) {
		r = -errno;
		close(dfd);
		return r;
	}
	for (;;) {
		struct lcfs_node_s *child = NULL;
		struct dirent *de;
		char *sub = NULL;
		bool isdir;

		errno = 0;
		de = readdir(d);
		if (de == NULL) {
			r = errno ? -errno : 0;
			break;
		}
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		isdir = de->d_type == DT_DIR;
		if (de->d_type == DT_UNKNOWN) {
			struct stat st;

			if (fstatat(dfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
				r = -errno;
				*failed = strdup(de->d_name);
				break;
			}
			isdir = S_ISDIR(st.st_mode);
		}
		if (!isdir && (flags & LCFS_BUILD_SKIP_DEVICES) &&
		    (de->d_type == DT_BLK || de->d_type == DT_CHR))
			continue;
		if (isdir) {
			child = lcfs_build(dfd, de->d_name, flags, &sub);
			r = child == NULL ? -errno : 0;
			if (r < 0) {
				*failed = sub;
				break;
			}
		} else {
			r = load_file(dfd, de->d_name, flags, &child);
			if (r < 0) {
				*failed = strdup(de->d_name);
				break;
			}
		}
		if (lcfs_node_add_child(dir, child, de->d_name) < 0) {
			r = -errno;
			lcfs_node_unref(child);
			break;
		}
	}
	closedir(d);
	return r;
}

LCFS_PUBLIC struct lcfs_node_s *lcfs_build(int dirfd, const char *fname, int buildflags, char **failed_path_out)
{
	struct lcfs_node_s *node = NULL;
	char *failed = NULL;
	int dfd, r = load_file(dirfd, fname, buildflags, &node);

	if (r == 0 && !S_ISDIR(node->mode))
		return node;
	if (r == 0) {
		dfd = openat(dirfd, fname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		r = dfd < 0 ? -errno : build_dir(node, dfd, buildflags, &failed);
	}
	if (r == 0)
		return node;
	if (failed_path_out != NULL)
		*failed_path_out = join(fname, failed);
	free(failed);
	lcfs_node_unref(node);
	errno = -r;
	return NULL;
}
