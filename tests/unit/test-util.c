/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Unit test of the private helpers: hex, full reads/writes, atomic file creation. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "testutil.h"
#include "util/util.h"

static void test_hex(void)
{
	const uint8_t in[] = { 0x00, 0x7f, 0xa5, 0xff };
	uint8_t out[4];
	char hex[9];

	cfs_hex_encode(in, sizeof(in), hex);
	CHECK_EQ_STR(hex, "007fa5ff");
	CHECK_EQ_INT(cfs_hex_decode("007FA5fF", 8, out, 4), 0);
	CHECK(memcmp(in, out, 4) == 0);
	CHECK_EQ_INT(cfs_hex_decode("007fa5f", 7, out, 4), -EINVAL);
	CHECK_EQ_INT(cfs_hex_decode("007fa5fg", 8, out, 4), -EINVAL);
	CHECK_EQ_INT(cfs_hex_decode("0x", 2, out, 1), -EINVAL);
}

static void test_full_io(const char *dir)
{
	char path[4096], buf[64];
	int fd;

	snprintf(path, sizeof(path), "%s/io", dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	CHECK(fd >= 0);
	CHECK_EQ_INT(cfs_write_full(fd, "hello world", 11), 0);
	/* positional: from anywhere, short only at the end of the file */
	CHECK_EQ_INT(cfs_pread_full(fd, buf, 5, 6), 5);
	CHECK(memcmp(buf, "world", 5) == 0);
	CHECK_EQ_INT(cfs_pread_full(fd, buf, sizeof(buf), 6), 5);
	CHECK_EQ_INT(cfs_pread_full(fd, buf, sizeof(buf), 100), 0);
	CHECK_EQ_INT(cfs_pread_full(fd, buf, 1, -1), -EINVAL);
	/* sequential: continues from the file position */
	CHECK(lseek(fd, 0, SEEK_SET) == 0);
	CHECK_EQ_INT(cfs_read_full(fd, buf, 6), 6);
	CHECK_EQ_INT(cfs_read_full(fd, buf, sizeof(buf)), 5);
	CHECK(memcmp(buf, "world", 5) == 0);
	CHECK_EQ_INT(cfs_read_full(fd, buf, sizeof(buf)), 0);
	CHECK_EQ_INT(cfs_read_full(-1, buf, 1), -EBADF);
	close(fd);
	unlink(path);
}

/* The final file exists only after commit, with the mode narrowed by the umask. */
static void test_atomic(const char *dir)
{
	struct cfs_atomic_file af;
	char path[4096];
	struct stat st;
	mode_t old = umask(022);

	snprintf(path, sizeof(path), "%s/final", dir);
	CHECK_EQ_INT(cfs_atomic_file_open(AT_FDCWD, path, 0666, &af), 0);
	CHECK_EQ_INT(cfs_write_full(af.fd, "data", 4), 0);
	CHECK(stat(path, &st) < 0 && errno == ENOENT);
	CHECK_EQ_INT(cfs_atomic_file_commit(&af, false, true), 0);
	CHECK(stat(path, &st) == 0);
	CHECK_EQ_INT(st.st_size, 4);
	CHECK_EQ_INT(st.st_mode & 07777, 0644);

	/* link semantics refuse an existing name, rename semantics replace it */
	CHECK_EQ_INT(cfs_atomic_file_open(AT_FDCWD, path, 0600, &af), 0);
	CHECK_EQ_INT(cfs_atomic_file_commit(&af, false, false), -EEXIST);
	CHECK_EQ_INT(cfs_atomic_file_open(AT_FDCWD, path, 0600, &af), 0);
	CHECK_EQ_INT(cfs_atomic_file_commit(&af, true, false), 0);
	CHECK(stat(path, &st) == 0);
	CHECK_EQ_INT(st.st_size, 0);
	CHECK_EQ_INT(st.st_mode & 07777, 0600);

	/* abort leaves nothing; a second abort is harmless */
	unlink(path);
	CHECK_EQ_INT(cfs_atomic_file_open(AT_FDCWD, path, 0644, &af), 0);
	cfs_atomic_file_abort(&af);
	cfs_atomic_file_abort(&af);
	CHECK(stat(path, &st) < 0 && errno == ENOENT);
	CHECK_EQ_INT(cfs_atomic_file_open(AT_FDCWD, "/nonexistent-dir/x", 0644, &af), -ENOENT);
	umask(old);
}

/* Both the openat2() path and the one for kernels without it. */
static void test_beneath(const char *dir)
{
	int (*fns[])(int, const char *, int, bool) = { cfs_open_beneath, cfs_open_beneath_compat };
	char path[256];
	int root, fd;

	snprintf(path, sizeof(path), "%s/b", dir);
	CHECK(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/b/d", dir);
	CHECK(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/b/d/f", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	CHECK(fd >= 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/b/up", dir); /* a link out of the tree */
	CHECK(symlink("..", path) == 0);
	snprintf(path, sizeof(path), "%s/b/in", dir); /* a link within it */
	CHECK(symlink("d", path) == 0);
	snprintf(path, sizeof(path), "%s/b", dir);
	root = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	CHECK(root >= 0);
	for (size_t i = 0; i < 2; i++) {
		fd = fns[i](root, "d/f", O_RDONLY | O_CLOEXEC, true);
		CHECK(fd >= 0);
		close(fd);
		fd = fns[i](root, "d//f", O_RDONLY | O_CLOEXEC, true);
		CHECK(fd >= 0);
		close(fd);
		fd = fns[i](root, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC, true);
		CHECK(fd >= 0);
		close(fd);
		CHECK_EQ_INT(fns[i](root, "d/missing", O_RDONLY | O_CLOEXEC, true), -ENOENT);
		CHECK_EQ_INT(fns[i](root, "../b/d/f", O_RDONLY | O_CLOEXEC, false), -EXDEV);
		CHECK_EQ_INT(fns[i](root, "d/../../b/d/f", O_RDONLY | O_CLOEXEC, false), -EXDEV);
		CHECK_EQ_INT(fns[i](root, path, O_RDONLY | O_CLOEXEC, false), -EXDEV);
		/* no symbolic link in any component when asked, even one within the tree */
		CHECK_EQ_INT(fns[i](root, "in/f", O_RDONLY | O_CLOEXEC, true), -ELOOP);
		CHECK_EQ_INT(fns[i](root, "in", O_RDONLY | O_DIRECTORY | O_CLOEXEC, true), -ELOOP);
	}
	/* with symbolic links allowed, openat2() follows those that stay inside only */
	fd = cfs_open_beneath(root, "in/f", O_RDONLY | O_CLOEXEC, false);
	CHECK(fd >= 0);
	close(fd);
	CHECK_EQ_INT(cfs_open_beneath(root, "up/b/d/f", O_RDONLY | O_CLOEXEC, false), -EXDEV);
	close(root);
	for (const char *const *n = (const char *const[]){ "b/d/f", "b/d", "b/up", "b/in", "b", NULL }; *n; n++) {
		snprintf(path, sizeof(path), "%s/%s", dir, *n);
		CHECK(remove(path) == 0);
	}
}

int main(void)
{
	char dir[] = "/tmp/cfs-test-util-XXXXXX";

	CHECK(mkdtemp(dir) != NULL);
	test_hex();
	test_full_io(dir);
	test_atomic(dir);
	test_beneath(dir);
	CHECK(rmdir(dir) == 0); /* nothing left behind */
	printf("util: ok\n");
	return 0;
}
