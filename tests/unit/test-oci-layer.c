/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Unit tests of a layer's tree rebuilt from its split stream: the same tree as from the tar; streams
 * not laid out as oci pull writes them are refused; the check that a stream's objects are present. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <fcntl.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include <composefs/composefs.h>

#include "oci-private.h"
#include "splitstream.h"
#include "../tools/mem-io.h"
#include "testutil.h"

/* ustar, 512-byte records: "d/" at 0, "d/small" (10 bytes) at 512 with data at 1024, "d/big"
 * (1000 bytes) at 1536 with data at 2048..3048, "d/link" (hard link to d/big) at 3072, "d/sym"
 * at 3584, then the end blocks. */
#define SMALL_DATA 1024
#define BIG_HDR 1536
#define BIG_DATA 2048
#define BIG_SIZE 1000

static uint8_t tar[16384];
static size_t tar_len;
static uint8_t big[BIG_SIZE];

static void add(struct archive *a, const char *path, unsigned type, const void *data, size_t size, const char *link)
{
	struct archive_entry *e = archive_entry_new();

	archive_entry_set_pathname(e, path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, type == AE_IFDIR ? 0755 : 0644);
	archive_entry_set_mtime(e, 1700000000, 0);
	archive_entry_set_size(e, (la_int64_t)size);
	if (type == AE_IFLNK)
		archive_entry_set_symlink(e, link);
	else if (link != NULL)
		archive_entry_set_hardlink(e, link);
	CHECK(archive_write_header(a, e) == ARCHIVE_OK);
	if (size > 0)
		CHECK(archive_write_data(a, data, size) == (la_ssize_t)size);
	archive_entry_free(e);
}

static void make_tar(void)
{
	struct archive *a = archive_write_new();

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 13 + 7);
	CHECK(archive_write_set_format_ustar(a) == ARCHIVE_OK);
	CHECK(archive_write_set_bytes_per_block(a, 512) == ARCHIVE_OK);
	CHECK(archive_write_open_memory(a, tar, sizeof(tar), &tar_len) == ARCHIVE_OK);
	add(a, "d/", AE_IFDIR, NULL, 0, NULL);
	add(a, "d/small", AE_IFREG, "0123456789", 10, NULL);
	add(a, "d/big", AE_IFREG, big, sizeof(big), NULL);
	add(a, "d/link", AE_IFREG, NULL, 0, "d/big");
	add(a, "d/sym", AE_IFLNK, NULL, 0, "big");
	CHECK(archive_write_close(a) == ARCHIVE_OK);
	archive_write_free(a);
	CHECK(memcmp(tar + SMALL_DATA, "0123456789", 10) == 0);
	CHECK(memcmp(tar + BIG_HDR, "d/big", 5) == 0);
	CHECK(memcmp(tar + BIG_DATA, big, sizeof(big)) == 0);
}

static void write_image(struct cfs_node *root, struct image *im)
{
	char err[256] = "";

	im->p = NULL;
	im->n = 0;
	CHECK(cfs_write_image(root, NULL, collect, im, NULL, err, sizeof(err)) == 0);
}

/* Rebuild from the stream @w made: the result, with its message in @err. */
static int rebuild(struct cfs_splitstream_writer *w, uint64_t type, struct cfs_node **root, char *err, size_t errlen)
{
	struct cfs_splitstream *s = NULL;
	uint8_t *buf = NULL;
	size_t len = 0;
	int r;

	CHECK(cfs_splitstream_writer_finish(w, &buf, &len) == 0);
	cfs_splitstream_writer_free(w);
	CHECK(cfs_splitstream_open_mem(buf, len, CFS_HASH_SHA256, type, &s, err, errlen) == 0);
	err[0] = '\0';
	*root = NULL;
	r = oci_layer_from_stream(s, CFS_HASH_SHA256, root, err, errlen);
	CHECK(r == 0 || err[0] != '\0');
	CHECK((r == 0) == (*root != NULL));
	cfs_splitstream_free(s);
	free(buf);
	return r;
}

static struct cfs_splitstream_writer *writer(uint64_t type)
{
	struct cfs_splitstream_writer *w = NULL;

	CHECK(cfs_splitstream_writer_new(CFS_HASH_SHA256, type, &w) == 0);
	return w;
}

/* The tree read from the tar and the tree rebuilt from the stream written meanwhile write the
 * same image; the big file is an object reference (its digest), the small one inline. */
static void test_round_trip(void)
{
	struct cfs_splitstream_writer *w = writer(CFS_SPLITSTREAM_CT_OCI_LAYER);
	struct mem m = { tar, tar_len, 0 };
	struct cfs_node *a = NULL, *b = NULL, *f;
	struct image ia, ib;
	uint8_t digest[32];
	char err[512] = "";

	CHECK(oci_layer_read(mem_read, &m, NULL, NULL, CFS_HASH_SHA256, w, &a, NULL, err, sizeof(err)) == 0);
	CHECK(rebuild(w, CFS_SPLITSTREAM_CT_OCI_LAYER, &b, err, sizeof(err)) == 0);
	write_image(a, &ia);
	write_image(b, &ib);
	CHECK(ia.n == ib.n && memcmp(ia.p, ib.p, ia.n) == 0);
	f = cfs_node_lookup(cfs_node_lookup(b, "d"), "big");
	CHECK(f != NULL && cfs_node_get_size(f) == BIG_SIZE);
	CHECK(cfs_verity_digest_buf(CFS_HASH_SHA256, big, sizeof(big), digest) == 0);
	CHECK(cfs_node_get_digest(f) != NULL && memcmp(cfs_node_get_digest(f), digest, 32) == 0);
	CHECK(cfs_node_lookup(cfs_node_lookup(b, "d"), "link") == f);
	free(ia.p);
	free(ib.p);
	cfs_node_unref(a);
	cfs_node_unref(b);
}

/* Streams another writer could have made, which a tree cannot be rebuilt from. */
static void test_refused(void)
{
	struct cfs_splitstream_writer *w;
	struct cfs_node *root;
	uint8_t d1[32], d2[32];
	char err[512];

	memset(d1, 0x11, sizeof(d1));
	memset(d2, 0x22, sizeof(d2));

	/* the big file's data inline */
	w = writer(CFS_SPLITSTREAM_CT_OCI_LAYER);
	CHECK(cfs_splitstream_write_inline(w, tar, tar_len) == 0);
	CHECK_EQ_INT(rebuild(w, CFS_SPLITSTREAM_CT_OCI_LAYER, &root, err, sizeof(err)), -EUCLEAN);
	CHECK(strstr(err, "d/big: ") != NULL && strstr(err, "not one object reference") != NULL);

	/* the small file's data as an object */
	w = writer(CFS_SPLITSTREAM_CT_OCI_LAYER);
	CHECK(cfs_splitstream_write_inline(w, tar, SMALL_DATA) == 0);
	CHECK(cfs_splitstream_write_external(w, d1, 512) == 0);
	CHECK(cfs_splitstream_write_inline(w, tar + SMALL_DATA + 512, tar_len - SMALL_DATA - 512) == 0);
	CHECK_EQ_INT(rebuild(w, CFS_SPLITSTREAM_CT_OCI_LAYER, &root, err, sizeof(err)), -EUCLEAN);
	CHECK(strstr(err, "object reference at tar offset 1024") != NULL);

	/* the big file's data as two objects */
	w = writer(CFS_SPLITSTREAM_CT_OCI_LAYER);
	CHECK(cfs_splitstream_write_inline(w, tar, BIG_DATA) == 0);
	CHECK(cfs_splitstream_write_external(w, d1, 500) == 0);
	CHECK(cfs_splitstream_write_external(w, d2, 500) == 0);
	CHECK(cfs_splitstream_write_inline(w, tar + BIG_DATA + BIG_SIZE, tar_len - BIG_DATA - BIG_SIZE) == 0);
	CHECK_EQ_INT(rebuild(w, CFS_SPLITSTREAM_CT_OCI_LAYER, &root, err, sizeof(err)), -EUCLEAN);
	CHECK(strstr(err, "object reference") != NULL);

	/* an object after the end of the tar */
	w = writer(CFS_SPLITSTREAM_CT_OCI_LAYER);
	CHECK(cfs_splitstream_write_inline(w, tar, BIG_DATA) == 0);
	CHECK(cfs_splitstream_write_external(w, d1, BIG_SIZE) == 0);
	CHECK(cfs_splitstream_write_inline(w, tar + BIG_DATA + BIG_SIZE, tar_len - BIG_DATA - BIG_SIZE) == 0);
	CHECK(cfs_splitstream_write_external(w, d2, 4096) == 0);
	CHECK_EQ_INT(rebuild(w, CFS_SPLITSTREAM_CT_OCI_LAYER, &root, err, sizeof(err)), -EUCLEAN);
	CHECK(strstr(err, "object reference") != NULL);

	/* the tar cut short inside a header */
	w = writer(CFS_SPLITSTREAM_CT_OCI_LAYER);
	CHECK(cfs_splitstream_write_inline(w, tar, BIG_HDR + 100) == 0);
	CHECK_EQ_INT(rebuild(w, CFS_SPLITSTREAM_CT_OCI_LAYER, &root, err, sizeof(err)), -EUCLEAN);

	/* not a layer's stream */
	w = writer(CFS_SPLITSTREAM_CT_OCI_CONFIG);
	CHECK(cfs_splitstream_write_inline(w, tar, tar_len) == 0);
	CHECK_EQ_INT(rebuild(w, CFS_SPLITSTREAM_CT_OCI_CONFIG, &root, err, sizeof(err)), -EUCLEAN);
	CHECK(strstr(err, "not a layer") != NULL);
}

/* A file of a terabyte over one object reference: its data is skipped, not read (reading a
 * terabyte of stand-in bytes would take this test hours). */
static void test_huge_skip(void)
{
	struct cfs_splitstream_writer *w = writer(CFS_SPLITSTREAM_CT_OCI_LAYER);
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	struct cfs_node *root, *f;
	uint8_t hdr[4096], d1[32];
	size_t n = 0, hdr_n;
	char err[512];

	memset(d1, 0x33, sizeof(d1));
	CHECK(archive_write_set_format_pax_restricted(a) == ARCHIVE_OK);
	CHECK(archive_write_set_bytes_per_block(a, 0) == ARCHIVE_OK);
	CHECK(archive_write_open_memory(a, hdr, sizeof(hdr), &n) == ARCHIVE_OK);
	archive_entry_set_pathname(e, "huge");
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, (la_int64_t)1 << 40);
	CHECK(archive_write_header(a, e) == ARCHIVE_OK);
	archive_entry_free(e);
	/* unblocked: the headers (pax record for the size, then ustar) are out; the data never comes */
	hdr_n = n;
	archive_write_free(a);
	CHECK(hdr_n >= 1024 && hdr_n % 512 == 0);
	CHECK(cfs_splitstream_write_inline(w, hdr, hdr_n) == 0);
	CHECK(cfs_splitstream_write_external(w, d1, (uint64_t)1 << 40) == 0);
	CHECK_EQ_INT(rebuild(w, CFS_SPLITSTREAM_CT_OCI_LAYER, &root, err, sizeof(err)), 0);
	f = cfs_node_lookup(root, "huge");
	CHECK(f != NULL && cfs_node_get_size(f) == (uint64_t)1 << 40);
	CHECK(memcmp(cfs_node_get_digest(f), d1, 32) == 0);
	cfs_node_unref(root);
}

/* A node of a hand-made layer tree under @dir (NULL: the layer's root), implied or explicit. */
static struct cfs_node *lnode(struct cfs_node *dir, const char *name, uint32_t mode, bool implied)
{
	struct cfs_node *n = cfs_node_new(mode);

	CHECK(n != NULL);
	if (implied)
		CHECK_EQ_INT(cfs_node_set_xattr(n, OCI_IMPLICIT_XATTR, "", 0), 0);
	if (dir != NULL) {
		CHECK_EQ_INT(cfs_node_add_child(dir, name, n, false), 0);
		cfs_node_unref(n); /* the directory holds it */
	}
	return n;
}

static bool is(struct cfs_node *root, const char *path, uint32_t type)
{
	char buf[256], *save = NULL;
	struct cfs_node *n = root;

	snprintf(buf, sizeof(buf), "%s", path);
	for (char *c = strtok_r(buf, "/", &save); n != NULL && c != NULL; c = strtok_r(NULL, "/", &save))
		n = S_ISDIR(cfs_node_get_mode(n)) ? cfs_node_lookup(n, c) : NULL;
	return type == 0 ? n == NULL : n != NULL && (cfs_node_get_mode(n) & S_IFMT) == type;
}

/* Merging layers: whiteouts, opaque directories, replacements both ways, newest explicit metadata. */
static void test_merge(void)
{
	struct cfs_node *l1 = lnode(NULL, NULL, S_IFDIR | 0700, false), *l2 = lnode(NULL, NULL, S_IFDIR | 0755, true);
	struct cfs_node *l3 = lnode(NULL, NULL, S_IFDIR | 0755, true), *usr, *d, *root = NULL;
	struct oci_merge *m = NULL;
	char err[256] = "";
	size_t len;

	/* layer 1: the base */
	usr = lnode(l1, "usr", S_IFDIR | 0751, false);
	CHECK_EQ_INT(cfs_node_set_xattr(usr, "user.a", "1", 1), 0);
	lnode(lnode(usr, "bin", S_IFDIR | 0755, false), "ls", S_IFREG | 0755, false);
	lnode(lnode(l1, "a", S_IFDIR | 0755, false), "x", S_IFREG | 0644, false);
	lnode(l1, "f", S_IFREG | 0644, false);
	lnode(lnode(l1, "d2", S_IFDIR | 0755, false), "y", S_IFREG | 0644, false);
	d = lnode(l1, "opq", S_IFDIR | 0755, false);
	lnode(d, "o1", S_IFREG | 0644, false);
	lnode(d, "o2", S_IFREG | 0644, false);
	/* layer 2: /usr only implied, whiteouts of a file and a directory, a file where a
	 * directory was and a directory where a (whited-out) file was, an opaque directory */
	lnode(lnode(l2, "usr", S_IFDIR | 0700, true), "lib", S_IFREG | 0644, false);
	lnode(l2, ".wh.f", S_IFREG | 0, false);
	lnode(l2, ".wh.a", S_IFREG | 0, false);
	lnode(l2, ".wh.nothing", S_IFREG | 0, false);
	lnode(lnode(l2, "f", S_IFDIR | 0710, false), "inner", S_IFREG | 0644, false);
	lnode(l2, "d2", S_IFREG | 0600, false);
	d = lnode(l2, "opq", S_IFDIR | 0750, false);
	lnode(d, ".wh..wh..opq", S_IFREG | 0, false);
	lnode(d, "c", S_IFREG | 0644, false);

	CHECK_EQ_INT(oci_merge_new(&m), 0);
	CHECK_EQ_INT(oci_merge_add(m, l1, err, sizeof(err)), 0);
	CHECK_EQ_INT(oci_merge_add(m, l2, err, sizeof(err)), 0);
	CHECK_EQ_INT(oci_merge_finish(m, &root, err, sizeof(err)), 0);
	oci_merge_free(m);
	CHECK(is(root, "usr/bin/ls", S_IFREG) && is(root, "usr/lib", S_IFREG));
	CHECK(is(root, "a", 0) && is(root, "a/x", 0));
	CHECK(is(root, "f", S_IFDIR) && is(root, "f/inner", S_IFREG));
	CHECK(is(root, "d2", S_IFREG) && is(root, "d2/y", 0));
	CHECK(is(root, "opq/c", S_IFREG) && is(root, "opq/o1", 0) && is(root, "opq/o2", 0));
	CHECK(is(root, "opq/.wh..wh..opq", 0) && is(root, ".wh.f", 0) && is(root, "nothing", 0));
	CHECK_EQ_INT(cfs_node_n_children(root), 4); /* usr, f, d2, opq */
	/* /usr kept layer 1's explicit metadata (layer 2 only implied it), and the root took it */
	usr = cfs_node_lookup(root, "usr");
	CHECK_EQ_INT(cfs_node_get_mode(usr), S_IFDIR | 0751);
	CHECK_EQ_INT(cfs_node_get_mode(root), S_IFDIR | 0751);
	CHECK(cfs_node_get_xattr(root, "user.a", &len) != NULL && len == 1);
	CHECK(cfs_node_get_xattr(usr, OCI_IMPLICIT_XATTR, &len) == NULL);
	CHECK_EQ_INT(cfs_node_get_mode(cfs_node_lookup(root, "f")), S_IFDIR | 0710);
	CHECK_EQ_INT(cfs_node_get_mode(cfs_node_lookup(root, "opq")), S_IFDIR | 0750);
	cfs_node_unref(root);

	/* without an explicit /usr the root takes the newest explicit root entry (layer 1's) */
	CHECK_EQ_INT(oci_merge_new(&m), 0);
	CHECK_EQ_INT(oci_merge_add(m, l2, err, sizeof(err)), 0);
	CHECK_EQ_INT(oci_merge_add(m, l1, err, sizeof(err)), 0);
	CHECK_EQ_INT(oci_merge_add(m, l2, err, sizeof(err)), 0);
	CHECK_EQ_INT(oci_merge_finish(m, &root, err, sizeof(err)), 0);
	oci_merge_free(m);
	CHECK_EQ_INT(cfs_node_get_mode(cfs_node_lookup(root, "usr")), S_IFDIR | 0751);
	cfs_node_unref(root);
	CHECK_EQ_INT(oci_merge_new(&m), 0);
	CHECK_EQ_INT(oci_merge_add(m, l2, err, sizeof(err)), 0);
	CHECK_EQ_INT(oci_merge_finish(m, &root, err, sizeof(err)), 0);
	oci_merge_free(m);
	CHECK_EQ_INT(cfs_node_get_mode(cfs_node_lookup(root, "usr")), S_IFDIR | 0755); /* only implied */
	CHECK_EQ_INT(cfs_node_get_mode(root), S_IFDIR | 0755);
	CHECK(cfs_node_get_xattr(root, "user.a", &len) == NULL);
	cfs_node_unref(root);

	/* a layer adding files below what a lower one made a file is refused */
	lnode(lnode(l3, "d2", S_IFDIR | 0755, true), "z", S_IFREG | 0644, false);
	CHECK_EQ_INT(oci_merge_new(&m), 0);
	CHECK_EQ_INT(oci_merge_add(m, l2, err, sizeof(err)), 0);
	CHECK_EQ_INT(oci_merge_add(m, l3, err, sizeof(err)), -EUCLEAN);
	CHECK(strstr(err, "d2") != NULL);
	oci_merge_free(m);
	cfs_node_unref(l1);
	cfs_node_unref(l2);
	cfs_node_unref(l3);
}

/* Object @i of the presence test: 8 bytes of its own. */
static void numbered(unsigned i, uint8_t *buf, uint8_t *digest)
{
	memcpy(buf, "obj", 3);
	memcpy(buf + 3, &i, 4);
	buf[7] = 0x5a;
	CHECK(cfs_verity_digest_buf(CFS_HASH_SHA256, buf, 8, digest) == 0);
}

static void object_path(struct cfs_objstore *st, const uint8_t *digest, char *path, size_t len)
{
	CHECK(cfs_objstore_object_path(st, digest, path, len) > 0);
}

/* oci_stream_objects_present(): every object of a stream found; the first one missing (in
 * stream order) named; a non-file refused; staged objects count (cfs_objstore_has_all() itself,
 * directory listings included, is tested in test-store). */
static void test_objects_present(void)
{
	enum { N = 300 };
	char dir[] = "/tmp/test-oci-present.XXXXXX", path[200], cmd[300];
	struct cfs_splitstream_writer *w = writer(CFS_SPLITSTREAM_CT_OCI_LAYER), *w2;
	struct cfs_splitstream *s = NULL, *s2 = NULL;
	struct cfs_objstore *st = NULL;
	uint8_t buf[8], d[32], *file = NULL, *file2 = NULL;
	size_t len = 0, len2 = 0, missing = 0;
	int dfd;
	char err[256];

	CHECK(mkdtemp(dir) != NULL);
	CHECK(cfs_objstore_open(AT_FDCWD, dir, CFS_OBJSTORE_CREATE | CFS_OBJSTORE_BATCH, CFS_HASH_SHA256, &st) == 0);
	dfd = cfs_objstore_get_dirfd(st);
	for (unsigned i = 0; i < N; i++) {
		numbered(i, buf, d);
		CHECK(cfs_objstore_put_buf(st, buf, sizeof(buf), d) == 0);
		CHECK(cfs_splitstream_write_inline(w, "x", 1) == 0);
		CHECK(cfs_splitstream_write_external(w, d, sizeof(buf)) == 0);
	}
	CHECK(cfs_splitstream_writer_finish(w, &file, &len) == 0);
	CHECK(cfs_splitstream_open_mem(file, len, CFS_HASH_SHA256, 0, &s, err, sizeof(err)) == 0);
	CHECK_EQ_INT(cfs_splitstream_n_objects(s), N);
	/* staged, not yet published: present for the pull that staged them */
	CHECK_EQ_INT(oci_stream_objects_present(st, s, 0, NULL), 0);
	CHECK(cfs_objstore_sync(st) == 0);
	CHECK_EQ_INT(oci_stream_objects_present(st, s, 0, &missing), 0);
	CHECK_EQ_INT(oci_stream_objects_present(st, s, 1, NULL), 0);

	/* two gone: the earlier one is named, on any number of threads */
	numbered(250, buf, d);
	object_path(st, d, path, sizeof(path));
	CHECK(unlinkat(dfd, path, 0) == 0);
	numbered(120, buf, d);
	object_path(st, d, path, sizeof(path));
	CHECK(unlinkat(dfd, path, 0) == 0);
	for (unsigned threads = 0; threads <= 3; threads++) {
		missing = 0;
		CHECK_EQ_INT(oci_stream_objects_present(st, s, threads, &missing), -ENOENT);
		CHECK_EQ_INT(missing, 120);
		CHECK(memcmp(cfs_splitstream_object(s, missing), d, 32) == 0);
	}
	/* put back (as a re-import does): the other one is named */
	CHECK(cfs_objstore_put_buf(st, buf, sizeof(buf), d) == 0);
	CHECK(cfs_objstore_sync(st) == 0);
	CHECK_EQ_INT(oci_stream_objects_present(st, s, 0, &missing), -ENOENT);
	CHECK_EQ_INT(missing, 250);
	numbered(250, buf, d);
	CHECK(cfs_objstore_put_buf(st, buf, sizeof(buf), d) == 0);
	CHECK(cfs_objstore_sync(st) == 0);
	CHECK_EQ_INT(oci_stream_objects_present(st, s, 0, &missing), 0);

	/* a directory where an object should be */
	numbered(7, buf, d);
	object_path(st, d, path, sizeof(path));
	CHECK(unlinkat(dfd, path, 0) == 0);
	CHECK(mkdirat(dfd, path, 0755) == 0);
	CHECK_EQ_INT(oci_stream_objects_present(st, s, 0, &missing), -EUCLEAN);
	CHECK_EQ_INT(missing, 7);

	/* one slice, checked on this thread; and a stream without objects */
	w2 = writer(CFS_SPLITSTREAM_CT_OCI_LAYER);
	for (unsigned i = 6; i < 9; i++) {
		numbered(i, buf, d);
		CHECK(cfs_splitstream_write_external(w2, d, sizeof(buf)) == 0);
	}
	CHECK(cfs_splitstream_writer_finish(w2, &file2, &len2) == 0);
	cfs_splitstream_writer_free(w2);
	CHECK(cfs_splitstream_open_mem(file2, len2, CFS_HASH_SHA256, 0, &s2, err, sizeof(err)) == 0);
	CHECK_EQ_INT(oci_stream_objects_present(st, s2, 0, &missing), -EUCLEAN);
	CHECK_EQ_INT(missing, 1);
	cfs_splitstream_free(s2);
	free(file2);
	w2 = writer(CFS_SPLITSTREAM_CT_OCI_LAYER);
	CHECK(cfs_splitstream_write_inline(w2, "only inline", 11) == 0);
	CHECK(cfs_splitstream_writer_finish(w2, &file2, &len2) == 0);
	cfs_splitstream_writer_free(w2);
	CHECK(cfs_splitstream_open_mem(file2, len2, CFS_HASH_SHA256, 0, &s2, err, sizeof(err)) == 0);
	CHECK_EQ_INT(oci_stream_objects_present(st, s2, 0, NULL), 0);

	cfs_splitstream_free(s2);
	free(file2);
	cfs_splitstream_free(s);
	free(file);
	cfs_splitstream_writer_free(w);
	cfs_objstore_free(st);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	CHECK(system(cmd) == 0);
}

int main(void)
{
	make_tar();
	test_round_trip();
	test_refused();
	test_huge_skip();
	test_merge();
	test_objects_present();
	printf("ok\n");
	return 0;
}
