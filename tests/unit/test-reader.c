/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Unit tests of the image reader: API behaviour, crafted corruption, mutations, threads. */
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <composefs/composefs.h>
#include <composefs/image.h>
#include <composefs/writer.h>

#include "testutil.h"

struct membuf {
	uint8_t *p;
	size_t len, cap;
};

static int mem_write(void *user, const void *buf, size_t len)
{
	struct membuf *m = user;

	if (m->len + len > m->cap) {
		size_t cap = (m->len + len) * 2;
		uint8_t *p = realloc(m->p, cap);

		if (p == NULL)
			return -ENOMEM;
		m->p = p;
		m->cap = cap;
	}
	memcpy(m->p + m->len, buf, len);
	m->len += len;
	return 0;
}

static const uint8_t digest_a[32] = { 0xab, 0xcd, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
				      15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30 };

static struct cfs_node *mk(uint32_t mode)
{
	struct cfs_node *n = cfs_node_new(mode);

	CHECK(n != NULL);
	cfs_node_set_mtime(n, 1700000000, 5);
	return n;
}

static void add(struct cfs_node *dir, const char *name, struct cfs_node *child, bool hardlink)
{
	CHECK_EQ_INT(cfs_node_add_child(dir, name, child, hardlink), 0);
}

/* A small tree with every kind of inode the reader must decode. */
static struct cfs_node *build_tree(void)
{
	struct cfs_node *root = mk(S_IFDIR | 0755), *sub = mk(S_IFDIR | 0700), *big = mk(S_IFDIR | 0755);
	struct cfs_node *f = mk(S_IFREG | 0644), *ext = mk(S_IFREG | 0644), *lnk = mk(S_IFLNK | 0777);
	struct cfs_node *dev = mk(S_IFCHR | 0600);
	char name[64];
	uint8_t content[3000];

	for (size_t i = 0; i < sizeof(content); i++)
		content[i] = (uint8_t)(i * 7);
	CHECK_EQ_INT(cfs_node_set_content(f, content, sizeof(content)), 0);
	cfs_node_set_size(f, sizeof(content));
	CHECK_EQ_INT(cfs_node_set_xattr(f, "user.color", "blue", 4), 0);
	CHECK_EQ_INT(cfs_node_set_xattr(f, "trusted.overlay.custom", "esc", 3), 0);
	cfs_node_set_size(ext, 1 << 20);
	CHECK_EQ_INT(cfs_node_set_payload(ext, "ab/cdef"), 0);
	cfs_node_set_digest(ext, digest_a);
	cfs_node_set_nlink(ext, 2);
	CHECK_EQ_INT(cfs_node_set_payload(lnk, "../target/of/link"), 0);
	cfs_node_set_size(lnk, strlen("../target/of/link"));
	cfs_node_set_rdev(dev, 0x0501);
	cfs_node_set_uid(sub, 100000);
	cfs_node_set_gid(sub, 7);

	add(root, "file", f, false);
	add(root, "ext", ext, false);
	add(root, "link", lnk, false);
	add(root, "dev", dev, false);
	add(root, "sub", sub, false);
	add(sub, "ext-again", ext, true);
	add(root, "big", big, false);
	/* enough entries for several dirent blocks */
	for (int i = 0; i < 600; i++) {
		struct cfs_node *e = mk(S_IFREG | 0600);

		snprintf(name, sizeof(name), "entry-%04d-%s", i, i % 3 ? "long-name-padding" : "x");
		add(big, name, e, false);
		cfs_node_unref(e);
	}
	cfs_node_unref(sub);
	cfs_node_unref(big);
	cfs_node_unref(f);
	cfs_node_unref(ext);
	cfs_node_unref(lnk);
	cfs_node_unref(dev);
	return root;
}

static struct membuf write_tree(struct cfs_node *root)
{
	struct membuf m = { 0 };
	struct cfs_write_opts o;
	char err[256] = "";

	cfs_write_opts_init(&o);
	if (cfs_write_image(root, &o, mem_write, &m, NULL, err, sizeof(err)) != 0) {
		fprintf(stderr, "writer: %s\n", err);
		exit(1);
	}
	return m;
}

static uint64_t lookup(struct cfs_image *img, uint64_t dir, const char *name)
{
	uint64_t nid = UINT64_MAX;

	CHECK_EQ_INT(cfs_image_lookup(img, dir, name, strlen(name), &nid), 0);
	return nid;
}

struct count {
	int n;
	bool saw_dot, saw_dotdot;
	char last[300];
	bool sorted;
};

static int count_cb(void *user, const char *name, size_t namelen, uint64_t nid, unsigned dtype)
{
	struct count *c = user;
	char buf[300];

	(void)nid;
	CHECK(namelen < sizeof(buf));
	memcpy(buf, name, namelen);
	buf[namelen] = '\0';
	if (strcmp(buf, ".") == 0)
		c->saw_dot = dtype == DT_DIR;
	if (strcmp(buf, "..") == 0)
		c->saw_dotdot = dtype == DT_DIR;
	if (c->n > 0 && strcmp(c->last, buf) >= 0)
		c->sorted = false;
	snprintf(c->last, sizeof(c->last), "%s", buf);
	c->n++;
	return 0;
}

static int stop_cb(void *user, const char *name, size_t namelen, uint64_t nid, unsigned dtype)
{
	(void)name, (void)namelen, (void)nid, (void)dtype;
	return ++*(int *)user == 2 ? 1 : 0;
}

static void test_api(const struct membuf *m)
{
	struct cfs_image *img;
	struct cfs_stat st;
	char buf[4096];
	uint8_t data[4000], digest[32];
	char *redirect = NULL;
	bool has_digest = false;
	uint64_t root, nid, sub, big;
	struct count c = { .sorted = true };
	int stop = 0;
	uint32_t v;
	int n;

	CHECK_EQ_INT(cfs_image_open_mem(m->p, m->len, NULL, &img), 0);
	root = cfs_image_root(img);
	CHECK_EQ_INT(cfs_image_header_version(img, &v), 0);
	CHECK(v <= 1);
	CHECK_EQ_INT(cfs_image_stat(img, root, &st), 0);
	CHECK(S_ISDIR(st.mode));

	nid = lookup(img, root, "file");
	CHECK_EQ_INT(cfs_image_stat(img, nid, &st), 0);
	CHECK_EQ_INT(st.mode, S_IFREG | 0644);
	CHECK_EQ_INT(st.size, 3000);
	CHECK_EQ_INT(st.mtime_sec, 1700000000);
	CHECK_EQ_INT(cfs_image_read_inline(img, nid, data, sizeof(data), 0), 3000);
	for (int i = 0; i < 3000; i++)
		CHECK_EQ_INT(data[i], (uint8_t)(i * 7));
	CHECK_EQ_INT(cfs_image_read_inline(img, nid, data, 10, 2995), 5);
	CHECK_EQ_INT(data[0], (uint8_t)(2995 * 7));
	CHECK_EQ_INT(cfs_image_read_inline(img, nid, data, 10, 5000), 0);
	n = cfs_image_listxattr(img, nid, CFS_XATTR_VIEW_DUMP, NULL, 0);
	CHECK_EQ_INT(n, (int)(sizeof("user.color") + sizeof("trusted.overlay.custom")));
	CHECK_EQ_INT(cfs_image_listxattr(img, nid, CFS_XATTR_VIEW_DUMP, buf, 3), -ERANGE);
	CHECK_EQ_INT(cfs_image_listxattr(img, nid, CFS_XATTR_VIEW_DUMP, buf, sizeof(buf)), n);
	CHECK(memmem(buf, (size_t)n, "trusted.overlay.custom", sizeof("trusted.overlay.custom")) != NULL);
	CHECK(memmem(buf, (size_t)n, "user.color", sizeof("user.color")) != NULL);
	CHECK_EQ_INT(cfs_image_getxattr(img, nid, CFS_XATTR_VIEW_DUMP, "user.color", buf, sizeof(buf)), 4);
	CHECK(memcmp(buf, "blue", 4) == 0);
	CHECK_EQ_INT(cfs_image_getxattr(img, nid, CFS_XATTR_VIEW_DUMP, "user.color", NULL, 0), 4);
	CHECK_EQ_INT(cfs_image_getxattr(img, nid, CFS_XATTR_VIEW_DUMP, "user.color", buf, 2), -ERANGE);
	CHECK_EQ_INT(cfs_image_getxattr(img, nid, CFS_XATTR_VIEW_DUMP, "trusted.overlay.custom", buf, sizeof(buf)), 3);
	CHECK_EQ_INT(cfs_image_getxattr(img, nid, CFS_XATTR_VIEW_DUMP, "trusted.overlay.overlay.custom", buf, sizeof(buf)), -ENODATA);
	CHECK_EQ_INT(cfs_image_getxattr(img, nid, CFS_XATTR_VIEW_DUMP, "user.none", buf, sizeof(buf)), -ENODATA);

	nid = lookup(img, root, "ext");
	CHECK_EQ_INT(cfs_image_stat(img, nid, &st), 0);
	CHECK_EQ_INT(st.size, 1 << 20);
	CHECK_EQ_INT(st.nlink, 2);
	CHECK_EQ_INT(cfs_image_read_inline(img, nid, data, 10, 0), -ENODATA);
	CHECK_EQ_INT(cfs_image_get_backing(img, nid, &redirect, digest, &has_digest), 0);
	CHECK_EQ_STR(redirect, "ab/cdef");
	CHECK(has_digest && memcmp(digest, digest_a, 32) == 0);
	free(redirect);
	{
		/* what an open needs, in one walk: the same answers as the separate calls */
		enum cfs_hash_alg alg = 0;
		bool followed = false;

		CHECK_EQ_INT(cfs_image_get_backing_full(img, nid, &redirect, &alg, digest, &followed), 0);
		CHECK_EQ_STR(redirect, "ab/cdef");
		CHECK(alg == CFS_HASH_SHA256 && memcmp(digest, digest_a, 32) == 0);
		CHECK(followed);
		CHECK_EQ_INT(cfs_image_redirect_followed(img, nid), 1);
		free(redirect);
		CHECK_EQ_INT(cfs_image_get_backing_full(img, root, NULL, NULL, NULL, &followed), -EINVAL);
	}
	/* the overlay xattrs carrying that are not user-visible */
	CHECK_EQ_INT(cfs_image_listxattr(img, nid, CFS_XATTR_VIEW_DUMP, buf, sizeof(buf)), 0);
	CHECK_EQ_INT(cfs_image_getxattr(img, nid, CFS_XATTR_VIEW_DUMP, "trusted.overlay.redirect", buf, sizeof(buf)), -ENODATA);
	/* nor in the view of a mount, which hides the same structure */
	CHECK_EQ_INT(cfs_image_listxattr(img, nid, CFS_XATTR_VIEW_MOUNT, buf, sizeof(buf)), 0);
	CHECK_EQ_INT(cfs_image_getxattr(img, nid, CFS_XATTR_VIEW_MOUNT, "trusted.overlay.metacopy", buf, sizeof(buf)), -ENODATA);

	nid = lookup(img, root, "link");
	CHECK_EQ_INT(cfs_image_readlink(img, nid, buf, sizeof(buf)), 17);
	CHECK_EQ_STR(buf, "../target/of/link");
	CHECK_EQ_INT(cfs_image_readlink(img, nid, buf, 4), 17);
	CHECK_EQ_STR(buf, "../");
	CHECK_EQ_INT(cfs_image_readlink(img, root, buf, sizeof(buf)), -EINVAL);

	nid = lookup(img, root, "dev");
	CHECK_EQ_INT(cfs_image_stat(img, nid, &st), 0);
	CHECK(S_ISCHR(st.mode));
	CHECK_EQ_INT(st.rdev, 0x0501);

	sub = lookup(img, root, "sub");
	CHECK_EQ_INT(cfs_image_stat(img, sub, &st), 0);
	CHECK_EQ_INT(st.uid, 100000);
	CHECK_EQ_INT(st.gid, 7);
	CHECK_EQ_INT(lookup(img, sub, "ext-again"), lookup(img, root, "ext"));
	CHECK_EQ_INT(lookup(img, sub, ".."), root);
	CHECK_EQ_INT(lookup(img, sub, "."), sub);
	CHECK_EQ_INT(cfs_image_lookup(img, sub, "nope", 4, &nid), -ENOENT);
	CHECK_EQ_INT(cfs_image_lookup(img, lookup(img, root, "file"), "x", 1, &nid), -ENOTDIR);

	big = lookup(img, root, "big");
	CHECK_EQ_INT(cfs_image_stat(img, big, &st), 0);
	CHECK(st.size > 3 * 4096); /* several blocks */
	CHECK_EQ_INT(cfs_image_readdir(img, big, 0, count_cb, &c), 0);
	CHECK_EQ_INT(c.n, 602);
	CHECK(c.saw_dot && c.saw_dotdot && c.sorted);
	for (int i = 0; i < 600; i++) {
		snprintf(buf, sizeof(buf), "entry-%04d-%s", i, i % 3 ? "long-name-padding" : "x");
		CHECK_EQ_INT(cfs_image_stat(img, lookup(img, big, buf), &st), 0);
		CHECK(S_ISREG(st.mode));
		snprintf(buf, sizeof(buf), "entry-%04d-%s", i, i % 3 ? "long-name-paddinh" : "y");
		CHECK_EQ_INT(cfs_image_lookup(img, big, buf, strlen(buf), &nid), -ENOENT);
	}
	CHECK_EQ_INT(cfs_image_lookup(img, big, "a", 1, &nid), -ENOENT);
	CHECK_EQ_INT(cfs_image_lookup(img, big, "zzz", 3, &nid), -ENOENT);
	c = (struct count){ .sorted = true };
	CHECK_EQ_INT(cfs_image_readdir(img, big, 500, count_cb, &c), 0);
	CHECK_EQ_INT(c.n, 102);
	c = (struct count){ .sorted = true };
	CHECK_EQ_INT(cfs_image_readdir(img, big, 602, count_cb, &c), 0);
	CHECK_EQ_INT(c.n, 0);
	CHECK_EQ_INT(cfs_image_readdir(img, big, 0, stop_cb, &stop), 0);
	CHECK_EQ_INT(stop, 2);
	CHECK_EQ_INT(cfs_image_stat(img, UINT64_MAX / 2, &st), -EUCLEAN);
	CHECK(strstr(cfs_image_errmsg(img), "inode") != NULL);
	cfs_image_close(img);
}

static void test_load(struct cfs_node *orig, const struct membuf *m)
{
	struct cfs_image *img;
	struct cfs_node *root, *ext, *sub, *again;
	const char *filters[] = { "sub", NULL };
	bool hardlink;
	const char *name;
	size_t len;

	CHECK_EQ_INT(cfs_image_open_mem(m->p, m->len, NULL, &img), 0);
	CHECK_EQ_INT(cfs_image_load_tree(img, &root), 0);
	CHECK_EQ_INT(cfs_node_n_children(root), cfs_node_n_children(orig));
	ext = cfs_node_lookup(root, "ext");
	sub = cfs_node_lookup(root, "sub");
	CHECK(ext != NULL && sub != NULL);
	again = cfs_node_lookup(sub, "ext-again");
	CHECK(again == ext); /* one shared node */
	CHECK(cfs_node_child_at(sub, 0, &name, &hardlink) == ext && hardlink);
	/* like the reference's loader, up to two bytes after a 4-aligned redirect
	 * value leak into the payload; get_backing() is exact */
	CHECK(strncmp(cfs_node_get_payload(ext), "ab/cdef", 7) == 0 && strlen(cfs_node_get_payload(ext)) <= 9);
	CHECK(memcmp(cfs_node_get_digest(ext), digest_a, 32) == 0);
	CHECK(cfs_node_get_content(cfs_node_lookup(root, "file"), &len) != NULL && len == 3000);
	CHECK(cfs_node_get_xattr(cfs_node_lookup(root, "file"), "trusted.overlay.custom", &len) != NULL);
	CHECK_EQ_INT(cfs_node_n_children(cfs_node_lookup(root, "big")), 600);
	/* no overlay whiteouts (00..ff) or private xattrs leak into the tree */
	CHECK(cfs_node_lookup(root, "00") == NULL && cfs_node_lookup(root, "ff") == NULL);
	CHECK(cfs_node_get_xattr(ext, "trusted.overlay.redirect", &len) == NULL);
	cfs_node_unref(root);

	/* with a filter the first name seen inside it becomes the primary */
	CHECK_EQ_INT(cfs_image_load_tree_filtered(img, filters, &root), 0);
	CHECK_EQ_INT(cfs_node_n_children(root), 1);
	sub = cfs_node_lookup(root, "sub");
	CHECK(cfs_node_child_at(sub, 0, &name, &hardlink) != NULL && !hardlink);
	cfs_node_unref(root);
	cfs_image_close(img);
}

/* Byte offset of the dirent of @nid (with file type @ft) inside a directory block. */
static size_t find_dirent(const struct membuf *m, uint64_t nid, uint8_t ft, size_t from)
{
	uint64_t le = htole64(nid);

	for (size_t off = from; off + 12 <= m->len; off += 4) {
		if (memcmp(m->p + off, &le, 8) == 0 && m->p[off + 10] == ft && m->p[off + 11] == 0)
			return off;
	}
	return SIZE_MAX;
}

static void expect_corrupt(struct membuf *m, const char *what, int want, const char *msgpart)
{
	struct cfs_image *img = NULL;
	struct cfs_node *root = NULL;
	char err[256] = "";
	int r = cfs_image_open_mem_err(m->p, m->len, NULL, &img, err, sizeof(err));

	if (r == 0) {
		r = cfs_image_load_tree(img, &root);
		snprintf(err, sizeof(err), "%s", cfs_image_errmsg(img));
	}
	if (r != want || strstr(err, msgpart) == NULL) {
		fprintf(stderr, "%s: got %d (%s), expected %d with \"%s\"\n", what, r, err, want, msgpart);
		exit(1);
	}
	cfs_node_unref(root);
	cfs_image_close(img);
}

static void test_crafted(const struct membuf *orig)
{
	struct membuf m = { malloc(orig->len), orig->len, orig->len };
	struct cfs_image *img;
	uint64_t root, sub, ext;
	size_t off;

	CHECK(m.p != NULL);
	CHECK_EQ_INT(cfs_image_open_mem(orig->p, orig->len, NULL, &img), 0);
	root = cfs_image_root(img);
	sub = lookup(img, root, "sub");
	ext = lookup(img, sub, "ext-again");
	cfs_image_close(img);

	/* cycle: sub/ext-again -> root */
	memcpy(m.p, orig->p, m.len);
	off = find_dirent(&m, ext, 1 /* regular file */, 0);
	off = find_dirent(&m, ext, 1 /* regular file */, off + 12); /* second name: inside sub */
	CHECK(off != SIZE_MAX);
	{
		uint64_t le = htole64(root);
		memcpy(m.p + off, &le, 8);
	}
	expect_corrupt(&m, "cycle", -EUCLEAN, "reached twice");

	/* unknown incompat feature */
	memcpy(m.p, orig->p, m.len);
	m.p[1024 + 80] |= 0x80;
	expect_corrupt(&m, "incompat", -EOPNOTSUPP, "not a composefs image we can read");
	/* bad magic */
	memcpy(m.p, orig->p, m.len);
	m.p[0] ^= 1;
	expect_corrupt(&m, "magic", -EUCLEAN, "not a composefs image we can read");
	/* future format version */
	memcpy(m.p, orig->p, m.len);
	m.p[12] = 9;
	expect_corrupt(&m, "version", -EOPNOTSUPP, "format version 9");
	/* truncated */
	memcpy(m.p, orig->p, m.len);
	m.len = 1100;
	expect_corrupt(&m, "short", -EUCLEAN, "too small");
	free(m.p);
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rnd(void)
{
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return rng_state;
}

/* Mutated images must load or fail cleanly, never crash (run under ASan in CI). */
static void test_mutations(const struct membuf *orig)
{
	struct membuf m = { malloc(orig->len), orig->len, orig->len };
	int ok = 0, bad = 0;

	CHECK(m.p != NULL);
	for (int iter = 0; iter < 3000; iter++) {
		struct cfs_image *img;
		struct cfs_node *root;
		int r, nmut = 1 + (int)(rnd() % 4);

		memcpy(m.p, orig->p, orig->len);
		m.len = orig->len;
		for (int k = 0; k < nmut; k++) {
			size_t pos = rnd() % m.len;

			switch (rnd() % 4) {
			case 0:
				m.p[pos] ^= (uint8_t)(1u << (rnd() % 8));
				break;
			case 1:
				if (pos + 4 <= m.len) {
					uint32_t v = (uint32_t)rnd();
					memcpy(m.p + pos, &v, 4);
				}
				break;
			case 2:
				m.p[pos] = (uint8_t)rnd();
				break;
			default:
				if (iter % 8 == 0)
					m.len = pos;
			}
		}
		r = cfs_image_open_mem(m.p, m.len, NULL, &img);
		if (r < 0) {
			CHECK(r == -EUCLEAN || r == -EOPNOTSUPP);
			bad++;
			continue;
		}
		r = cfs_image_load_tree(img, &root);
		if (r == 0) {
			cfs_node_unref(root);
			ok++;
		} else {
			CHECK(r == -EUCLEAN || r == -EOPNOTSUPP || r == -E2BIG);
			CHECK(cfs_image_errmsg(img)[0] != '\0');
			bad++;
		}
		cfs_image_close(img);
	}
	printf("mutations: %d loaded, %d rejected\n", ok, bad);
	CHECK(bad > 0);
	free(m.p);
}

/*
 * The writer refuses directories nested deeper than 2047 (-ELOOP); a hostile
 * image with one more level is refused by the reader, not recursed into. That
 * image is a 2047-deep one whose deepest entry, a file, is patched into a
 * directory.
 */
static void test_depth(void)
{
	struct cfs_node *root = mk(S_IFDIR | 0755), *cur = root, *f = mk(S_IFREG | 0644), *d;
	struct cfs_image *img;
	struct cfs_node *loaded = NULL;
	uint32_t meta_blkaddr;
	uint64_t nid;
	uint16_t mode = htole16(S_IFDIR | 0755);
	struct membuf m;
	char err[256] = "";
	int r;

	for (int i = 0; i < 2047; i++) {
		d = mk(S_IFDIR | 0755);
		add(cur, "d", d, false);
		cfs_node_unref(d);
		cur = d;
	}
	add(cur, "f", f, false);
	cfs_node_unref(f);
	m = write_tree(root);
	CHECK_EQ_INT(cfs_image_open_mem(m.p, m.len, NULL, &img), 0);
	CHECK_EQ_INT(cfs_image_load_tree(img, &loaded), 0);
	cfs_node_unref(loaded);
	loaded = NULL;
	nid = cfs_image_root(img);
	for (int i = 0; i < 2047; i++)
		CHECK_EQ_INT(cfs_image_lookup(img, nid, "d", 1, &nid), 0);
	CHECK_EQ_INT(cfs_image_lookup(img, nid, "f", 1, &nid), 0);
	cfs_image_close(img);
	/* erofs_super_block.meta_blkaddr: 40 bytes into the superblock at 1024 */
	memcpy(&meta_blkaddr, m.p + 1024 + 40, sizeof(meta_blkaddr));
	/* i_mode: 4 bytes into the inode, compact or extended */
	memcpy(m.p + (uint64_t)le32toh(meta_blkaddr) * 4096 + nid * 32 + 4, &mode, sizeof(mode));
	CHECK_EQ_INT(cfs_image_open_mem(m.p, m.len, NULL, &img), 0);
	r = cfs_image_load_tree(img, &loaded);
	CHECK_EQ_INT(r, -EUCLEAN);
	CHECK(strstr(cfs_image_errmsg(img), "nested deeper") != NULL);
	cfs_image_close(img);
	free(m.p);

	/* one level more than the reader takes: the writer says no */
	d = mk(S_IFDIR | 0755);
	add(cur, "e", d, false);
	cfs_node_unref(d);
	{
		struct cfs_write_opts o;
		struct membuf m2 = { 0 };

		cfs_write_opts_init(&o);
		r = cfs_write_image(root, &o, mem_write, &m2, NULL, err, sizeof(err));
		free(m2.p);
	}
	CHECK_EQ_INT(r, -ELOOP);
	CHECK(strstr(err, "nested deeper than 2047") != NULL);
	cfs_node_unref(root);
}

struct thread_arg {
	struct cfs_image *img;
	int errors;
};

static void *thread_main(void *p)
{
	struct thread_arg *a = p;
	uint64_t root = cfs_image_root(a->img), big, nid;
	char name[64];

	if (cfs_image_lookup(a->img, root, "big", 3, &big) != 0) {
		a->errors++;
		return NULL;
	}
	for (int rep = 0; rep < 20; rep++) {
		for (int i = 0; i < 600; i += 7) {
			struct cfs_stat st;

			snprintf(name, sizeof(name), "entry-%04d-%s", i, i % 3 ? "long-name-padding" : "x");
			if (cfs_image_lookup(a->img, big, name, strlen(name), &nid) != 0 ||
			    cfs_image_stat(a->img, nid, &st) != 0)
				a->errors++;
		}
	}
	return NULL;
}

static void test_threads(const struct membuf *m)
{
	char path[] = "/tmp/test-reader-XXXXXX";
	struct cfs_image_opts o = { 0 };
	struct cfs_image *img;
	pthread_t t[4];
	struct thread_arg a[4];
	int fd = mkstemp(path);

	CHECK(fd >= 0);
	unlink(path);
	CHECK(write(fd, m->p, m->len) == (ssize_t)m->len);
	for (int copy = 0; copy < 2; copy++) {
		o.flags = copy ? CFS_IMAGE_OPEN_COPY : 0;
		CHECK_EQ_INT(cfs_image_open_fd(fd, &o, &img), 0);
		for (int i = 0; i < 4; i++) {
			a[i] = (struct thread_arg){ img, 0 };
			CHECK_EQ_INT(pthread_create(&t[i], NULL, thread_main, &a[i]), 0);
		}
		for (int i = 0; i < 4; i++) {
			pthread_join(t[i], NULL);
			CHECK_EQ_INT(a[i].errors, 0);
		}
		cfs_image_close(img);
	}
	o.flags = 1u << 30;
	CHECK_EQ_INT(cfs_image_open_fd(fd, &o, &img), -EINVAL);
	close(fd);
}

/*
 * The longest overlay xattr name a dump may hold (255 bytes) is 8 bytes
 * longer on disk once escaped (trusted.overlay.overlay.*): it must read back.
 */
static void test_long_escaped_name(void)
{
	struct cfs_node *root = mk(S_IFDIR | 0755), *f = mk(S_IFREG | 0644), *back;
	char name[CFS_XATTR_NAME_MAX + 2];
	struct cfs_image *img;
	struct membuf m;
	size_t len;

	memset(name, 'x', sizeof(name));
	memcpy(name, "trusted.overlay.", 16);
	name[CFS_XATTR_NAME_MAX] = '\0';
	CHECK_EQ_INT(cfs_node_set_xattr(f, name, "v", 1), 0);
	add(root, "f", f, false);
	cfs_node_unref(f);
	m = write_tree(root);
	CHECK_EQ_INT(cfs_image_open_mem(m.p, m.len, NULL, &img), 0);
	CHECK_EQ_INT(cfs_image_load_tree(img, &back), 0);
	CHECK(cfs_node_get_xattr(cfs_node_lookup(back, "f"), name, &len) != NULL && len == 1);
	cfs_node_unref(back);
	cfs_image_close(img);
	cfs_node_unref(root);
	free(m.p);
}

/* Names in the image are not xattr entries; entries are found under their prefix encodings. */
static void test_may_store_xattr(void)
{
	struct cfs_node *root = mk(S_IFDIR | 0755), *f = mk(S_IFREG | 0644), *g = mk(S_IFREG | 0644);
	struct cfs_image *img;
	struct membuf m;

	add(root, "security.selinux", f, false);
	add(root, "selinux", g, false);
	CHECK_EQ_INT(cfs_node_set_xattr(g, "user.selinux", "x", 1), 0);
	CHECK_EQ_INT(cfs_node_set_xattr(g, "trusted.overlay.opaque2", "y", 1), 0);
	m = write_tree(root);
	CHECK_EQ_INT(cfs_image_open_mem(m.p, m.len, NULL, &img), 0);
	CHECK(!cfs_image_may_store_xattr(img, "security.selinux"));
	CHECK(cfs_image_may_store_xattr(img, "user.selinux"));
	CHECK(!cfs_image_may_store_xattr(img, "user.selinu"));
	/* stored names: the overlay one is escaped on disk */
	CHECK(cfs_image_may_store_xattr(img, "trusted.overlay.overlay.opaque2"));
	CHECK(!cfs_image_may_store_xattr(img, "user.other"));
	cfs_image_close(img);
	free(m.p);

	CHECK_EQ_INT(cfs_node_set_xattr(f, "security.selinux", "system_u:object_r:usr_t:s0", 26), 0);
	m = write_tree(root);
	CHECK_EQ_INT(cfs_image_open_mem(m.p, m.len, NULL, &img), 0);
	CHECK(cfs_image_may_store_xattr(img, "security.selinux"));
	cfs_image_close(img);
	free(m.p);
	cfs_node_unref(f);
	cfs_node_unref(g);
	cfs_node_unref(root);
}

/* A sha512 digest: a 68-byte metacopy {0, 68, 0, 2, digest}, read back with its algorithm. */
static void test_sha512(void)
{
	struct cfs_node *root = mk(S_IFDIR | 0755), *f = mk(S_IFREG | 0644), *loaded = NULL;
	struct cfs_write_opts o;
	struct membuf m = { 0 };
	struct cfs_image *img = NULL;
	uint8_t d[64], got[64], img_digest[64], check[64];
	enum cfs_hash_alg alg = 0;
	char *redirect = NULL, payload[130];
	bool has = true;
	uint64_t nid;

	for (int i = 0; i < 64; i++)
		d[i] = (uint8_t)(i * 3 + 1);
	cfs_digest_to_hex(d, 1, payload);
	payload[2] = '/';
	cfs_digest_to_hex(d + 1, 63, payload + 3);
	cfs_node_set_size(f, 10000);
	CHECK_EQ_INT(cfs_node_set_payload(f, payload), 0);
	CHECK_EQ_INT(cfs_node_set_digest_alg(f, 7, d), -EINVAL);
	CHECK(cfs_node_get_digest_alg(f) == 0);
	CHECK_EQ_INT(cfs_node_set_digest_alg(f, CFS_HASH_SHA512, d), 0);
	CHECK(cfs_node_get_digest_alg(f) == CFS_HASH_SHA512);
	add(root, "f", f, false);
	cfs_node_unref(f);
	cfs_write_opts_init(&o);
	o.hash_alg = CFS_HASH_SHA512;
	CHECK_EQ_INT(cfs_write_image(root, &o, mem_write, &m, img_digest, NULL, 0), 0);
	CHECK_EQ_INT(cfs_verity_digest_buf(CFS_HASH_SHA512, m.p, m.len, check), 0);
	CHECK(memcmp(check, img_digest, 64) == 0);
	o.hash_alg = 9;
	CHECK_EQ_INT(cfs_write_image(root, &o, mem_write, &m, img_digest, NULL, 0), -EINVAL);

	CHECK_EQ_INT(cfs_image_open_mem(m.p, m.len, NULL, &img), 0);
	nid = lookup(img, cfs_image_root(img), "f");
	CHECK_EQ_INT(cfs_image_get_backing_digest(img, nid, &redirect, &alg, got), 0);
	CHECK(alg == CFS_HASH_SHA512 && memcmp(got, d, 64) == 0);
	CHECK_EQ_STR(redirect, payload);
	free(redirect);
	has = false;
	CHECK_EQ_INT(cfs_image_get_backing_full(img, nid, NULL, &alg, got, &has), 0);
	CHECK(alg == CFS_HASH_SHA512 && memcmp(got, d, 64) == 0 && has);
	/* the 32-byte interface does not report (or overflow with) a sha512 digest */
	CHECK_EQ_INT(cfs_image_get_backing(img, nid, NULL, got, &has), 0);
	CHECK(!has);
	CHECK_EQ_INT(cfs_image_load_tree(img, &loaded), 0);
	CHECK(cfs_node_get_digest_alg(cfs_node_lookup(loaded, "f")) == CFS_HASH_SHA512);
	CHECK(memcmp(cfs_node_get_digest(cfs_node_lookup(loaded, "f")), d, 64) == 0);
	cfs_node_unref(loaded);
	cfs_image_close(img);
	cfs_node_unref(root);
	free(m.p);
}

int main(void)
{
	struct cfs_node *root = build_tree();
	struct membuf m = write_tree(root);

	test_api(&m);
	test_load(root, &m);
	test_crafted(&m);
	test_mutations(&m);
	test_threads(&m);
	test_depth();
	test_long_escaped_name();
	test_may_store_xattr();
	test_sha512();
	cfs_node_unref(root);
	free(m.p);
	printf("test-reader: ok\n");
	return 0;
}
