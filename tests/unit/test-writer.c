/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Unit tests of the image writer: golden images, structure, digests and error cases. */
#include <endian.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <composefs/composefs.h>

#include "erofs.h"
#include "testutil.h"
#include "writer/writer-internal.h"

struct membuf {
	uint8_t *data;
	size_t len, cap;
	int fail_after; /* fail the n-th call (1-based), 0 = never */
	int calls;
};

static int mem_sink(void *user, const void *buf, size_t len)
{
	struct membuf *m = user;

	if (m->fail_after && ++m->calls >= m->fail_after)
		return -ENOSPC;
	if (m->len + len > m->cap) {
		size_t cap = (m->len + len) * 2;
		uint8_t *p = realloc(m->data, cap);

		if (p == NULL)
			return -ENOMEM;
		m->data = p;
		m->cap = cap;
	}
	memcpy(m->data + m->len, buf, len);
	m->len += len;
	return 0;
}

static void sha256_hex(const uint8_t *buf, size_t len, char out[65])
{
	uint8_t md[32];
	unsigned int mdlen = 0;

	CHECK(EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL) == 1);
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static void hex32(const uint8_t *d, char out[65])
{
	for (int i = 0; i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static struct cfs_node *mk(struct cfs_node *dir, const char *name, uint32_t mode)
{
	struct cfs_node *n = cfs_node_new(mode);

	CHECK(n != NULL);
	cfs_node_set_mtime(n, 1700000000, 5); /* "1700000000.5" in a dump */
	if (dir != NULL) {
		CHECK_EQ_INT(cfs_node_add_child(dir, name, n, false), 0);
		cfs_node_unref(n); /* the directory holds it */
	}
	return n;
}

/*
 * The tree of this dump (its reference images' sha256 and fs-verity digests
 * were recorded from the reference mkcomposefs):
 *   / 4096 40755 2 0 0 0 1700000000.5 - - - security.selinux=system_u:object_r:root_t:s0
 * user.shared=v /a 4096 40711 2 1000 1000 0 1700000000.5 - - - trusted.overlay.opaque=y
 * user.shared=v /a/ext 123456 100644 2 0 0 0 1700000000.5 ab/cdef0123 - <digest i*37+11>
 * user.shared=v /a/link 0 @100644 0 0 0 0 0.0 /a/ext - - /a/wh 0 20644 1 0 0 0 1700000000.5 - - -
 *   /b 4096 40755 2 70000 0 0 1600000000.0 - - -
 *   /b/big 5000 100644 1 0 0 0 1700000000.5 - <bytes i*7> -
 *   /b/dev 0 60660 1 0 6 2049 1700000000.5 - - -
 *   /b/fifo 0 10644 1 0 0 0 1700000000.5 - - -
 *   /b/inline 11 100600 1 0 0 0 1700000000.5 - hello\x20world -
 *   /b/sym 7 120777 1 0 0 0 1700000000.5 /target - -
 */
static struct cfs_node *golden_tree(void)
{
	static const char sel[] = "system_u:object_r:root_t:s0";
	struct cfs_node *root = mk(NULL, NULL, S_IFDIR | 0755);
	struct cfs_node *a, *b, *n;
	uint8_t digest[32], big[5000];

	CHECK_EQ_INT(cfs_node_set_xattr(root, "security.selinux", sel, strlen(sel)), 0);
	CHECK_EQ_INT(cfs_node_set_xattr(root, "user.shared", "v", 1), 0);

	a = mk(root, "a", S_IFDIR | 0711);
	cfs_node_set_uid(a, 1000);
	cfs_node_set_gid(a, 1000);
	CHECK_EQ_INT(cfs_node_set_xattr(a, "trusted.overlay.opaque", "y", 1), 0);
	CHECK_EQ_INT(cfs_node_set_xattr(a, "user.shared", "v", 1), 0);

	n = mk(a, "ext", S_IFREG | 0644);
	cfs_node_set_size(n, 123456);
	cfs_node_set_nlink(n, 2);
	CHECK_EQ_INT(cfs_node_set_payload(n, "ab/cdef0123"), 0);
	for (int i = 0; i < 32; i++)
		digest[i] = (uint8_t)(i * 37 + 11);
	cfs_node_set_digest(n, digest);
	CHECK_EQ_INT(cfs_node_set_xattr(n, "user.shared", "v", 1), 0);
	CHECK_EQ_INT(cfs_node_add_child(a, "link", n, true), 0);

	n = mk(a, "wh", S_IFCHR | 0644);

	b = mk(root, "b", S_IFDIR | 0755);
	cfs_node_set_uid(b, 70000);
	cfs_node_set_mtime(b, 1600000000, 0);

	n = mk(b, "big", S_IFREG | 0644);
	for (int i = 0; i < 5000; i++)
		big[i] = (uint8_t)(i * 7);
	cfs_node_set_size(n, sizeof(big));
	CHECK_EQ_INT(cfs_node_set_content(n, big, sizeof(big)), 0);

	n = mk(b, "dev", S_IFBLK | 0660);
	cfs_node_set_gid(n, 6);
	cfs_node_set_rdev(n, 2049);
	mk(b, "fifo", S_IFIFO | 0644);

	n = mk(b, "inline", S_IFREG | 0600);
	cfs_node_set_size(n, 11);
	CHECK_EQ_INT(cfs_node_set_content(n, (const uint8_t *)"hello world", 11), 0);

	n = mk(b, "sym", S_IFLNK | 0777);
	CHECK_EQ_INT(cfs_node_set_payload(n, "/target"), 0);
	cfs_node_set_size(n, 7);
	return root;
}

static void write_mem(struct cfs_node *root, uint32_t min_v, uint32_t max_v, struct membuf *m,
		      uint8_t *digest)
{
	struct cfs_write_opts o;
	char err[256];
	int r;

	cfs_write_opts_init(&o);
	o.min_version = min_v;
	o.max_version = max_v;
	memset(m, 0, sizeof(*m));
	r = cfs_write_image(root, &o, mem_sink, m, digest, err, sizeof(err));
	if (r != 0)
		fprintf(stderr, "write failed: %d %s\n", r, err);
	CHECK_EQ_INT(r, 0);
}

static void test_golden(void)
{
	struct cfs_node *root = golden_tree();
	struct membuf m;
	uint8_t digest[32], check[32];
	char hex[65];

	write_mem(root, 0, 0, &m, digest);
	sha256_hex(m.data, m.len, hex);
	CHECK_EQ_STR(hex, "3b1fea6230565d580447f799e38fd62d8919fd84539d3fa05145439aa5f17926");
	hex32(digest, hex);
	CHECK_EQ_STR(hex, "715655dfc83960623d48e2957b3c3478ebad9035ccdc70417545a257d8d203a9");
	CHECK_EQ_INT(cfs_verity_digest_buf(CFS_HASH_SHA256, m.data, m.len, check), 0);
	CHECK(memcmp(check, digest, 32) == 0);
	free(m.data);

	/* the whiteout raises the version to 1 when allowed */
	write_mem(root, 0, 1, &m, digest);
	sha256_hex(m.data, m.len, hex);
	CHECK_EQ_STR(hex, "b53d1a2384c00fb4c3cfa1505cace496d74e20c1979e2b0ffcebef4b6c29374f");
	hex32(digest, hex);
	CHECK_EQ_STR(hex, "39bb9f75fc7665dcf1073fec6735f6501eecfe47900d48989b3235ee15664837");
	free(m.data);

	/* the tree is unchanged and can be written again, identically */
	CHECK_EQ_INT(cfs_node_n_children(root), 2);
	CHECK_EQ_INT(cfs_node_n_xattrs(root), 2);
	CHECK(cfs_node_get_xattr(cfs_node_lookup(root, "a"), "trusted.overlay.opaque", NULL) !=
	      NULL);
	CHECK_EQ_INT(cfs_node_get_mode(cfs_node_lookup(cfs_node_lookup(root, "a"), "wh")),
		     S_IFCHR | 0644);
	write_mem(root, 1, 1, &m, NULL);
	sha256_hex(m.data, m.len, hex);
	CHECK_EQ_STR(hex, "b53d1a2384c00fb4c3cfa1505cace496d74e20c1979e2b0ffcebef4b6c29374f");
	free(m.data);
	cfs_node_unref(root);
}

/* Decode what a minimal tree must look like on disk. */
static void test_structure(void)
{
	struct cfs_node *root = mk(NULL, NULL, S_IFDIR | 0755);
	const struct cfs_disk_header *h;
	const struct erofs_disk_super *sb;
	const struct erofs_disk_inode_compact *ri;
	struct membuf m;

	cfs_node_set_uid(root, 7);
	write_mem(root, 0, 1, &m, NULL);
	CHECK(m.len % CFS_BLOCK_SIZE == 0);
	h = (const void *)m.data;
	CHECK_EQ_INT(le32toh(h->magic), CFS_MAGIC);
	CHECK_EQ_INT(le32toh(h->version), CFS_HEADER_VERSION);
	CHECK_EQ_INT(le32toh(h->composefs_version), 0); /* no whiteout: stays at min */
	CHECK_EQ_INT(le32toh(h->flags), 0);
	sb = (const void *)(m.data + EROFS_SUPER_OFFSET);
	CHECK_EQ_INT(le32toh(sb->magic), EROFS_SUPER_MAGIC_V1);
	CHECK_EQ_INT(sb->blkszbits, 12);
	CHECK_EQ_INT(le64toh(sb->inos), 1 + 256); /* root + 00..ff whiteouts */
	CHECK_EQ_INT(le64toh(sb->build_time), 1700000000);
	CHECK_EQ_INT(le32toh(sb->build_time_nsec), 5);
	CHECK_EQ_INT(le32toh(sb->feature_compat),
		     EROFS_FEATURE_COMPAT_MTIME | EROFS_FEATURE_COMPAT_XATTR_FILTER);
	CHECK_EQ_INT(le16toh(sb->root_nid), (EROFS_SUPER_OFFSET + 128) / 32);
	CHECK_EQ_INT((uint64_t)le32toh(sb->blocks) * CFS_BLOCK_SIZE, m.len);
	ri = (const void *)(m.data + le16toh(sb->root_nid) * 32u);
	CHECK_EQ_INT(le16toh(ri->i_mode), S_IFDIR | 0755);
	CHECK_EQ_INT(le16toh(ri->i_nlink), 2);
	CHECK_EQ_INT(le16toh(ri->i_uid), 7);
	CHECK_EQ_INT(le16toh(ri->i_format) & 1, 0); /* compact */
	CHECK(le16toh(ri->i_xattr_icount) > 0);	    /* trusted.overlay.opaque */
	/* 258 entries of 12 + 1..2 bytes do not fit half a block: data in blocks */
	CHECK_EQ_INT((le16toh(ri->i_format) >> 1) & 7, EROFS_INODE_FLAT_PLAIN);
	free(m.data);
	cfs_node_unref(root);
}

static void test_xxh32(void)
{
	static const char s[] = "Nobody inspects the spammish repetition";

	CHECK_EQ_INT(cfs_xxh32("", 0, 0), 0x02CC5D05u);
	CHECK_EQ_INT(cfs_xxh32("abc", 3, 0), 0x32D153FFu);
	CHECK_EQ_INT(cfs_xxh32(s, strlen(s), 0), 0xE2293B2Fu);
}

static int expect_error(struct cfs_node *root, const struct cfs_write_opts *o, int expected)
{
	struct membuf m = {0};
	char err[256] = "";
	int r = cfs_write_image(root, o, mem_sink, &m, NULL, err, sizeof(err));

	free(m.data);
	if (r != expected)
		fprintf(stderr, "got %d (%s), expected %d\n", r, err, expected);
	CHECK_EQ_INT(r, expected);
	CHECK(err[0] != '\0');
	return r;
}

static void test_errors(void)
{
	struct cfs_write_opts o;
	struct cfs_node *root, *f, *orphan;
	struct membuf m = {0};

	root = mk(NULL, NULL, S_IFDIR | 0755);
	cfs_write_opts_init(&o);
	o.max_version = 2;
	expect_error(root, &o, -EINVAL);
	cfs_write_opts_init(&o);
	o.flags = 1;
	expect_error(root, &o, -EINVAL);

	/* a file larger than 1024 chunks of 2^43 bytes */
	f = mk(root, "huge", S_IFREG | 0644);
	cfs_node_set_size(f, (1ull << 53) + 1);
	expect_error(root, NULL, -EFBIG);
	cfs_node_set_size(f, 1ull << 53);
	m.fail_after = 1; /* the sink's error comes back */
	CHECK_EQ_INT(cfs_write_image(root, NULL, mem_sink, &m, NULL, NULL, 0), -ENOSPC);
	free(m.data);

	/* symlink without target */
	mk(root, "sym", S_IFLNK | 0777);
	expect_error(root, NULL, -EINVAL);
	cfs_node_unref(root);

	/* hard link to an inode that is nowhere in the tree as a primary entry */
	root = mk(NULL, NULL, S_IFDIR | 0755);
	orphan = mk(NULL, NULL, S_IFREG | 0644);
	CHECK_EQ_INT(cfs_node_add_child(root, "l", orphan, true), 0);
	expect_error(root, NULL, -EINVAL);
	cfs_node_unref(orphan);
	cfs_node_unref(root);

	/* inline content that disagrees with the size */
	root = mk(NULL, NULL, S_IFDIR | 0755);
	f = mk(root, "f", S_IFREG | 0644);
	CHECK_EQ_INT(cfs_node_set_content(f, (const uint8_t *)"abc", 3), 0);
	cfs_node_set_size(f, 4);
	expect_error(root, NULL, -EINVAL);
	cfs_node_unref(root);

	/* not a directory at the root */
	root = mk(NULL, NULL, S_IFREG | 0644);
	expect_error(root, NULL, -EINVAL);
	cfs_node_unref(root);

	/*
	 * An xattr name whose part after the prefix does not fit the 8-bit
	 * on-disk length (only reachable by filling the node directly, as
	 * library builders may): refused, not silently truncated.
	 */
	root = mk(NULL, NULL, S_IFDIR | 0755);
	f = mk(root, "f", S_IFREG | 0644);
	CHECK_EQ_INT(cfs_node_set_xattr(f, "user.x", "v", 1), 0);
	{
		char *longname = malloc(300);

		CHECK(longname != NULL);
		memset(longname, 'a', 299);
		memcpy(longname, "user.", 5);
		longname[299] = '\0';
		free(f->xattrs[0].name);
		f->xattrs[0].name = longname;
	}
	expect_error(root, NULL, -ERANGE);
	cfs_node_unref(root);
}

/* Many equal xattrs: shared table, at most 128 shared per inode, still valid. */
static void test_shared_xattrs(void)
{
	struct cfs_node *root = mk(NULL, NULL, S_IFDIR | 0755);
	const struct erofs_disk_super *sb;
	struct membuf m;
	char name[32];

	for (int d = 0; d < 3; d++) {
		struct cfs_node *dir;

		snprintf(name, sizeof(name), "~%d", d); /* sorts after the 00..ff whiteouts */
		dir = mk(root, name, S_IFDIR | 0755);
		for (int i = 0; i < 200; i++) {
			snprintf(name, sizeof(name), "user.k%03d", i);
			CHECK_EQ_INT(cfs_node_set_xattr(dir, name, "v", 1), 0);
		}
	}
	write_mem(root, 0, 1, &m, NULL);
	sb = (const void *)(m.data + EROFS_SUPER_OFFSET);
	/* 200 shared entries of round_up(4 + 4 + 1, 4) = 12 bytes after the inodes */
	CHECK(le32toh(sb->xattr_blkaddr) > 0);
	for (uint64_t i = 0; i < 3; i++) {
		/* every directory inode references exactly 128 shared xattrs */
		size_t nids = 0;

		for (size_t off = le32toh(sb->meta_blkaddr) * 4096u + 1152; off + 44 < m.len;
		     off += 32) {
			const struct erofs_disk_inode_compact *ino = (const void *)(m.data + off);
			const struct erofs_disk_xattr_ibody_header *xh = (const void *)(ino + 1);

			if (le16toh(ino->i_mode) == (S_IFDIR | 0755) &&
			    le32toh(ino->i_ino) == 257 + i) {
				CHECK_EQ_INT(xh->h_shared_count, 128);
				nids++;
			}
		}
		CHECK_EQ_INT(nids, 1);
	}
	free(m.data);
	cfs_node_unref(root);
}

int main(void)
{
	test_xxh32();
	test_golden();
	test_structure();
	test_errors();
	test_shared_xattrs();
	printf("test-writer: ok\n");
	return 0;
}
