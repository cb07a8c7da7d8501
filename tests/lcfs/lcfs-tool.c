/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/*
 * Test helper: programs as users of the reference API write them, on the drop-in.
 *   lcfs-tool dump2img DUMP IMAGE [VERSION]  a dump (parsed by composefs-c) rebuilt node by node
 *                                           with lcfs_* calls and written by lcfs_write_to()
 *   lcfs-tool ostree SRC OBJDIR IMAGE        as ostree does: each regular file is stored as
 *                                           OBJDIR/xx/yyyy.file and referenced by that payload
 *                                           with its fs-verity digest; version 0, max_version 1;
 *                                           prints the image digest
 *   lcfs-tool mount IMAGE OBJDIR MNT [DIGEST] lcfs_mount_image(), read-only; on failure prints
 *                                           the errno name (EWRONGVERITY, ...)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <composefs/dump.h>
#include <composefs/tree.h>
#include <libcomposefs/lcfs-mount.h>
#include <libcomposefs/lcfs-writer.h>

static void die(const char *what)
{
	fprintf(stderr, "lcfs-tool: %s: %s\n", what, strerror(errno));
	exit(1);
}

static ssize_t file_write(void *file, void *buf, size_t count)
{
	return (ssize_t)fwrite(buf, 1, count, file);
}

static void write_image(struct lcfs_node_s *root, const char *path, uint32_t version, uint32_t max,
			bool print)
{
	struct lcfs_write_options_s o = { .format = LCFS_FORMAT_EROFS, .version = version, .max_version = max };
	uint8_t digest[LCFS_DIGEST_SIZE];
	FILE *f = fopen(path, "w");

	if (f == NULL)
		die(path);
	o.file = f;
	o.file_write_cb = file_write;
	o.digest_out = digest;
	if (lcfs_write_to(root, &o) < 0)
		die("lcfs_write_to");
	if (fclose(f) != 0)
		die(path);
	if (print) {
		for (int i = 0; i < LCFS_DIGEST_SIZE; i++)
			printf("%02x", digest[i]);
		printf("\n");
	}
}

/* ---- dump2img: a cfs tree copied with lcfs calls ----------------------------------------------- */

/* inodes that may be hard link targets (nlink > 1), cfs -> lcfs */
struct map {
	const struct cfs_node **c;
	struct lcfs_node_s **l;
	size_t n;
};

static struct lcfs_node_s *copy(const struct cfs_node *c, struct map *m)
{
	struct lcfs_node_s *n = lcfs_node_new();
	struct timespec ts;
	int64_t sec;
	uint32_t nsec;
	size_t len;
	const uint8_t *content = cfs_node_get_content(c, &len);

	if (n == NULL || lcfs_node_try_set_mode(n, cfs_node_get_mode(c)) < 0)
		die("node");
	lcfs_node_set_uid(n, cfs_node_get_uid(c));
	lcfs_node_set_gid(n, cfs_node_get_gid(c));
	lcfs_node_set_nlink(n, cfs_node_get_nlink(c));
	lcfs_node_set_rdev64(n, cfs_node_get_rdev(c));
	lcfs_node_set_size(n, cfs_node_get_size(c));
	cfs_node_get_mtime(c, &sec, &nsec);
	ts.tv_sec = sec;
	ts.tv_nsec = nsec;
	lcfs_node_set_mtime(n, &ts);
	if (S_ISLNK(cfs_node_get_mode(c))) {
		if (lcfs_node_set_symlink_payload(n, cfs_node_get_payload(c)) < 0)
			die("symlink");
	} else if (cfs_node_get_payload(c) && lcfs_node_set_payload(n, cfs_node_get_payload(c)) < 0)
		die("payload");
	if (content != NULL && lcfs_node_set_content(n, content, len) < 0)
		die("content");
	if (cfs_node_get_digest(c) != NULL)
		lcfs_node_set_fsverity_digest(n, (uint8_t *)cfs_node_get_digest(c));
	for (size_t i = 0; i < cfs_node_n_xattrs(c); i++) {
		const void *v;
		const char *name = cfs_node_xattr_at(c, i, &v, &len);

		if (lcfs_node_set_xattr(n, name, v, len) < 0)
			die(name);
	}
	if (!lcfs_node_dirp(n) && cfs_node_get_nlink(c) > 1) {
		m->c = realloc(m->c, (m->n + 1) * sizeof(*m->c));
		m->l = realloc(m->l, (m->n + 1) * sizeof(*m->l));
		if (m->c == NULL || m->l == NULL)
			die("realloc");
		m->c[m->n] = c;
		m->l[m->n++] = n;
	}
	return n;
}

struct pending {
	struct lcfs_node_s *dir;
	const char *name;
	const struct cfs_node *target;
};

static void copy_dir(const struct cfs_node *c, struct lcfs_node_s *dir, struct map *m, struct pending **p, size_t *np)
{
	for (size_t i = 0; i < cfs_node_n_children(c); i++) {
		const char *name;
		bool hardlink;
		struct cfs_node *cc = cfs_node_child_at(c, i, &name, &hardlink);

		if (hardlink) { /* linked once every inode exists */
			*p = realloc(*p, (*np + 1) * sizeof(**p));
			if (*p == NULL)
				die("realloc");
			(*p)[(*np)++] = (struct pending){ dir, name, cc };
			continue;
		}
		struct lcfs_node_s *n = copy(cc, m);

		if (lcfs_node_add_child(dir, n, name) < 0)
			die(name);
		if (lcfs_node_dirp(n))
			copy_dir(cc, n, m, p, np);
	}
}

static int dump2img(int argc, char **argv)
{
	struct map m = { 0 };
	struct pending *p = NULL;
	struct cfs_dump_error err = { 0 };
	struct cfs_node *tree;
	struct lcfs_node_s *root;
	size_t np = 0;
	FILE *f = fopen(argv[2], "r");
	uint32_t v = argc > 4 ? (uint32_t)atoi(argv[4]) : 0;

	if (f == NULL || cfs_dump_parse_file(f, 0, &tree, &err) < 0)
		die(argv[2]);
	fclose(f);
	root = copy(tree, &m);
	copy_dir(tree, root, &m, &p, &np);
	for (size_t i = 0; i < np; i++) {
		struct lcfs_node_s *link = lcfs_node_new(), *target = NULL;

		for (size_t j = 0; j < m.n && target == NULL; j++)
			if (m.c[j] == p[i].target)
				target = m.l[j];
		if (target == NULL)
			errno = ENOENT, die("hard link target");
		/* make_hardlink counts a link; the dump's count already includes it */
		uint32_t nlink = lcfs_node_get_nlink(target);

		lcfs_node_make_hardlink(link, target);
		lcfs_node_set_nlink(target, nlink);
		if (lcfs_node_add_child(p[i].dir, link, p[i].name) < 0)
			die(p[i].name);
	}
	write_image(root, argv[3], v, argc > 4 ? v : 1, false);
	lcfs_node_unref(root);
	cfs_node_unref(tree);
	free(m.c);
	free(m.l);
	free(p);
	return 0;
}

/* ---- ostree: objects named xx/yyyy.file ------------------------------------------------------ */

static void store_object(int dfd, const char *name, struct lcfs_node_s *n, int objfd)
{
	const uint8_t *d;
	char hex[2 * LCFS_DIGEST_SIZE + 1], rel[2 * LCFS_DIGEST_SIZE + 8], buf[65536];
	int in = openat(dfd, name, O_RDONLY), out;
	ssize_t r;

	if (in < 0 || lcfs_node_set_fsverity_from_fd(n, in) < 0)
		die(name);
	d = lcfs_node_get_fsverity_digest(n);
	for (int i = 0; i < LCFS_DIGEST_SIZE; i++)
		sprintf(hex + 2 * i, "%02x", d[i]);
	snprintf(rel, sizeof(rel), "%.2s", hex);
	mkdirat(objfd, rel, 0755);
	snprintf(rel, sizeof(rel), "%.2s/%s.file", hex, hex + 2);
	if (lcfs_node_set_payload(n, rel) < 0)
		die("payload");
	out = openat(objfd, rel, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (out < 0 || lseek(in, 0, SEEK_SET) < 0)
		die(rel);
	while ((r = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)r) != r)
			die(rel);
	close(in);
	close(out);
}

static struct lcfs_node_s *ostree_node(int dfd, const char *name, int objfd)
{
	struct lcfs_node_s *n = lcfs_node_new();
	struct timespec ts;
	struct stat st;

	if (n == NULL || fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		die(name);
	/* ostree sets what it knows from its metadata; no times (all 0 in ostree commits) */
	lcfs_node_set_mode(n, st.st_mode);
	lcfs_node_set_uid(n, st.st_uid);
	lcfs_node_set_gid(n, st.st_gid);
	ts.tv_sec = 0;
	ts.tv_nsec = 0;
	lcfs_node_set_mtime(n, &ts);
	if (S_ISREG(st.st_mode)) {
		lcfs_node_set_size(n, (uint64_t)st.st_size);
		if (st.st_size > 0)
			store_object(dfd, name, n, objfd);
	} else if (S_ISLNK(st.st_mode)) {
		char target[4096];
		ssize_t len = readlinkat(dfd, name, target, sizeof(target) - 1);

		if (len < 0)
			die(name);
		target[len] = '\0';
		if (lcfs_node_set_symlink_payload(n, target) < 0)
			die(name);
	} else if (S_ISDIR(st.st_mode)) {
		int sub = openat(dfd, name, O_RDONLY | O_DIRECTORY);
		DIR *d = fdopendir(sub);
		struct dirent *de;

		if (d == NULL)
			die(name);
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			if (lcfs_node_add_child(n, ostree_node(sub, de->d_name, objfd), de->d_name) < 0)
				die(de->d_name);
		}
		closedir(d);
	}
	return n;
}

static int ostree(char **argv)
{
	int objfd = open(argv[3], O_RDONLY | O_DIRECTORY);
	struct lcfs_node_s *root;

	if (objfd < 0)
		die(argv[3]);
	root = ostree_node(AT_FDCWD, argv[2], objfd);
	write_image(root, argv[4], 0, 1, true);
	lcfs_node_unref(root);
	close(objfd);
	return 0;
}

static int do_mount(int argc, char **argv)
{
	const char *objdirs[] = { argv[3] };
	struct lcfs_mount_options_s o = { .objdirs = objdirs, .n_objdirs = 1 };

	o.flags = LCFS_MOUNT_FLAGS_READONLY;
	o.expected_fsverity_digest = argc > 5 ? argv[5] : NULL;
	if (lcfs_mount_image(argv[2], argv[4], &o) == 0)
		return 0;
	printf("%s\n", errno == EWRONGVERITY ? "EWRONGVERITY" : errno == ENOVERITY ? "ENOVERITY" : strerror(errno));
	return 1;
}

int main(int argc, char **argv)
{
	if (argc >= 4 && strcmp(argv[1], "dump2img") == 0)
		return dump2img(argc, argv);
	if (argc == 5 && strcmp(argv[1], "ostree") == 0)
		return ostree(argv);
	if (argc >= 5 && strcmp(argv[1], "mount") == 0)
		return do_mount(argc, argv);
	fprintf(stderr, "usage: lcfs-tool dump2img DUMP IMAGE [VERSION] | ostree SRC OBJDIR IMAGE | mount IMAGE OBJDIR MNT [DIGEST]\n");
	return 2;
}
