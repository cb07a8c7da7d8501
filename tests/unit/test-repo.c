/* SPDX-License-Identifier: Apache-2.0 OR GPL-2.0-or-later */
/* Unit tests of the repository: meta.json, names, digest sets, commit/resolve/tag, gc, fsck, locking. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <composefs/repo.h>
#include <composefs/store.h>
#include <composefs/tree.h>
#include <composefs/verity.h>

#include "repo/repo-private.h"
#include "splitstream.h"
#include "testutil.h"

static char tmpdir[] = "/tmp/cfs-test-repo.XXXXXX";

static void test_meta(void)
{
	struct cfs_repo_meta m;
	char buf[1024], err[256];
	int n;

	n = cfs_repo_meta_render(CFS_HASH_SHA512, buf, sizeof(buf));
	CHECK(n > 0);
	CHECK_EQ_INT(cfs_repo_meta_parse(buf, (size_t)n, &m, err, sizeof(err)), 0);
	CHECK_EQ_INT(m.version, 1);
	CHECK_EQ_INT(m.alg, CFS_HASH_SHA512);
	CHECK(m.v1_flag);
	CHECK_EQ_INT(m.erofs_default, 1);
	CHECK(!m.erofs_extra);
	CHECK_EQ_STR(m.unknown_ro, "");

	static const char odd[] = " {\"x\\\"y\": [1, -2.5e3, true, false, null, {\"a\": []}], \"version\": 1,"
				  "\"algorithm\": \"fsverity-sha256-12\", \"features\": {\"compatible\": [\"c\"],"
				  "\"incompatible\": [\"z\\u0041\"]}, \"erofs_formats\": {\"extra\": [2, 0],"
				  "\"default\": 0}} \n";
	CHECK_EQ_INT(cfs_repo_meta_parse(odd, strlen(odd), &m, err, sizeof(err)), 0);
	CHECK_EQ_INT(m.alg, CFS_HASH_SHA256);
	CHECK_EQ_STR(m.unknown_incompat, "zA");
	CHECK_EQ_INT(m.erofs_default, 0);
	CHECK(m.erofs_extra); /* 2 besides the default 0 */

	static const char *const bad[] = {
		"", "{", "[]", "{\"version\": 1}", "{\"algorithm\": \"fsverity-sha256-12\"}",
		"{\"version\": -1, \"algorithm\": \"fsverity-sha256-12\"}",
		"{\"version\": 1, \"algorithm\": \"fsverity-sha256-13\"}",
		"{\"version\": 1, \"algorithm\": \"fsverity-sha256-12\"} x",
		"{\"version\": 1, \"algorithm\": \"fsverity-sha256-12\",}",
		"{\"version\": 1 \"algorithm\": \"fsverity-sha256-12\"}",
		"{\"version\": 1, \"algorithm\": \"fsverity-sha256-12\", \"x\": \"\\q\"}",
		"{\"version\": 1, \"algorithm\": \"fsverity-sha256-12\", \"x\": [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		CHECK_EQ_INT(cfs_repo_meta_parse(bad[i], strlen(bad[i]), &m, err, sizeof(err)), -EPROTO);
		CHECK(strncmp(err, "meta.json: ", 11) == 0);
	}
}

static void test_names(void)
{
	static const char *const good[] = { "a", "os/v1", "a-b_c.d", "x/y/z", "name with space" };
	static const char *const bad[] = { "", "/a", "a/", "a//b", ".", "..", "a/../b", ".hidden", "a/.b",
					   "tab\there" };

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		CHECK(cfs_repo_ref_name_valid(good[i]));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK(!cfs_repo_ref_name_valid(bad[i]));
}

static void test_digest_set(void)
{
	struct cfs_digest_set s;
	uint8_t d[64];

	cfs_digest_set_init(&s, 64);
	for (int i = 0; i < 1000; i++) {
		memset(d, 0, sizeof(d));
		d[63] = (uint8_t)(i % 300);
		d[0] = (uint8_t)((i % 300) >> 8);
		CHECK_EQ_INT(cfs_digest_set_add(&s, d), 0);
	}
	cfs_digest_set_finish(&s);
	CHECK_EQ_INT(s.n, 300);
	memset(d, 0, sizeof(d));
	d[63] = 44;
	CHECK(cfs_digest_set_has(&s, d));
	d[62] = 1;
	CHECK(!cfs_digest_set_has(&s, d));
	cfs_digest_set_clear(&s);
}

struct count {
	int images;
	int names;
	int64_t objects;
	int problems[16];
};

static int count_image(void *user, const struct cfs_repo_image_info *info)
{
	struct count *c = user;

	c->images++;
	c->names += (int)info->n_names;
	c->objects += info->n_objects;
	return 0;
}

static int count_object(void *user, const uint8_t *digest)
{
	(void)digest;
	((struct count *)user)->objects++;
	return 0;
}

static int count_problem(void *user, enum cfs_repo_problem kind, const char *path, const char *detail)
{
	(void)path;
	(void)detail;
	((struct count *)user)->problems[kind]++;
	return 0;
}

static struct cfs_node *make_tree(struct cfs_repo *repo, const char *text, uint8_t *digest)
{
	struct cfs_node *root = cfs_node_new(S_IFDIR | 0755), *f = cfs_node_new(S_IFREG | 0644);
	char path[200];

	CHECK(root != NULL && f != NULL);
	CHECK_EQ_INT(cfs_verity_digest_buf(CFS_HASH_SHA256, text, strlen(text), digest), 0);
	CHECK_EQ_INT(cfs_objstore_put_buf(cfs_repo_objstore(repo), text, strlen(text), digest), 0);
	CHECK(cfs_objstore_object_path(cfs_repo_objstore(repo), digest, path, sizeof(path)) > 0);
	CHECK_EQ_INT(cfs_node_set_payload(f, path), 0);
	cfs_node_set_digest(f, digest);
	cfs_node_set_size(f, strlen(text));
	CHECK_EQ_INT(cfs_node_add_child(root, "file", f, false), 0);
	cfs_node_unref(f);
	return root;
}

static void test_repository(void)
{
	char path[300], hex[129], spec[140], err[256] = "";
	uint8_t d1[32], d2[32], obj1[32], obj2[32], got[32];
	struct cfs_repo *repo = NULL, *other = NULL;
	struct cfs_repo_gc_stats gs;
	struct cfs_repo_fsck_stats fs;
	struct count c = { 0 };
	struct cfs_node *t1, *t2;
	bool by_digest;
	int fd;

	snprintf(path, sizeof(path), "%s/repo", tmpdir);
	CHECK_EQ_INT(cfs_repo_open(AT_FDCWD, path, 0, &repo, err, sizeof(err)), -ENOENT);
	CHECK_EQ_INT(cfs_repo_init(AT_FDCWD, path, CFS_HASH_SHA256, 0, err, sizeof(err)), 0);
	CHECK_EQ_INT(cfs_repo_init(AT_FDCWD, path, CFS_HASH_SHA256, 0, err, sizeof(err)), 0);
	CHECK_EQ_INT(cfs_repo_init(AT_FDCWD, path, CFS_HASH_SHA512, 0, err, sizeof(err)), -EEXIST);
	CHECK_EQ_INT(cfs_repo_open(AT_FDCWD, path, 0, &repo, err, sizeof(err)), 0);
	CHECK(cfs_repo_writable(repo, NULL));
	CHECK_EQ_INT(cfs_repo_digest_size(repo), 32);
	CHECK_EQ_INT(cfs_repo_image_min_version(repo), 1);

	t1 = make_tree(repo, "first file content, longer than nothing", obj1);
	t2 = make_tree(repo, "second file content, different", obj2);
	CHECK_EQ_INT(cfs_repo_commit_tree(repo, t1, "one", d1), 0);
	CHECK_EQ_INT(cfs_repo_commit_tree(repo, t2, "two/nested", d2), 0);
	CHECK_EQ_INT(cfs_repo_commit_tree(repo, t2, "../bad", d2), -EINVAL);
	cfs_node_unref(t1);
	cfs_node_unref(t2);

	CHECK_EQ_INT(cfs_repo_resolve(repo, "one", got, &by_digest), 0);
	CHECK(!by_digest && memcmp(got, d1, 32) == 0);
	CHECK_EQ_INT(cfs_repo_resolve(repo, "refs/two/nested", got, NULL), 0);
	CHECK(memcmp(got, d2, 32) == 0);
	cfs_repo_digest_hex(repo, d2, hex);
	snprintf(spec, sizeof(spec), "sha256:%s", hex);
	CHECK_EQ_INT(cfs_repo_resolve(repo, spec, got, &by_digest), 0);
	CHECK(by_digest && memcmp(got, d2, 32) == 0);
	snprintf(spec, sizeof(spec), "sha512:%s", hex);
	CHECK_EQ_INT(cfs_repo_resolve(repo, spec, got, NULL), -ENOENT);
	CHECK_EQ_INT(cfs_repo_resolve(repo, "nope", got, NULL), -ENOENT);
	CHECK_EQ_INT(cfs_repo_open_image(repo, d1, true, &fd), 0);
	close(fd);

	CHECK_EQ_INT(cfs_repo_list_images(repo, true, count_image, &c), 0);
	CHECK_EQ_INT(c.images, 2);
	CHECK_EQ_INT(c.names, 2);
	CHECK_EQ_INT(c.objects, 2);
	c.objects = 0;
	CHECK_EQ_INT(cfs_repo_image_objects(repo, d1, count_object, &c), 0);
	CHECK_EQ_INT(c.objects, 1);

	/* gc needs the exclusive lock: another handle open means waiting or -EWOULDBLOCK */
	CHECK_EQ_INT(cfs_repo_open(AT_FDCWD, path, CFS_REPO_NOWAIT, &other, err, sizeof(err)), 0);
	CHECK_EQ_INT(cfs_repo_gc(other, 0, &gs), -EWOULDBLOCK);
	CHECK_EQ_INT(cfs_repo_gc(repo, CFS_REPO_GC_DRY_RUN, &gs), 0); /* shared lock suffices */
	CHECK_EQ_INT(gs.objects_removed, 0);
	cfs_repo_free(other);

	CHECK_EQ_INT(cfs_repo_untag(repo, "two/nested"), 0);
	CHECK_EQ_INT(cfs_repo_untag(repo, "two/nested"), -ENOENT);
	CHECK_EQ_INT(cfs_repo_gc(repo, 0, &gs), 0);
	CHECK_EQ_INT(gs.objects_removed, 2); /* image two and its file */
	CHECK_EQ_INT(gs.images_removed, 1);
	CHECK_EQ_INT(gs.objects_kept, 2);
	CHECK_EQ_INT(cfs_objstore_has(cfs_repo_objstore(repo), obj2), 0);
	CHECK_EQ_INT(cfs_objstore_has(cfs_repo_objstore(repo), obj1), 1);
	CHECK_EQ_INT(cfs_repo_tag(repo, d2, "gone"), -ENOENT);
	CHECK_EQ_INT(cfs_repo_tag(repo, d1, "again"), 0);

	memset(&c, 0, sizeof(c));
	CHECK_EQ_INT(cfs_repo_fsck(repo, 0, count_problem, &c, &fs), 0);
	CHECK_EQ_INT(fs.problems, 0);
	CHECK_EQ_INT(fs.objects_checked, 2);
	CHECK_EQ_INT(fs.refs_checked, 2);

	/* damage: a byte of the file object, and a temporary file */
	cfs_repo_object_relpath(repo, obj1, spec, sizeof(spec));
	snprintf(path, sizeof(path), "%s/repo/%s", tmpdir, spec);
	fd = open(path, O_WRONLY);
	CHECK(fd >= 0 && pwrite(fd, "X", 1, 3) == 1);
	close(fd);
	snprintf(path, sizeof(path), "%s/repo/images/.tmp-1-x", tmpdir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0);
	close(fd);
	memset(&c, 0, sizeof(c));
	CHECK_EQ_INT(cfs_repo_fsck(repo, 0, count_problem, &c, &fs), 0);
	CHECK_EQ_INT(c.problems[CFS_REPO_PROBLEM_DIGEST], 1);
	CHECK_EQ_INT(c.problems[CFS_REPO_PROBLEM_TEMP_FILE], 1);
	CHECK_EQ_INT(fs.problems, 2);
	CHECK_EQ_INT(cfs_repo_fsck(repo, CFS_REPO_FSCK_METADATA_ONLY, NULL, NULL, &fs), 0);
	CHECK_EQ_INT(fs.problems, 1);
	cfs_repo_free(repo);
}

/* An object holding @text; its digest into @digest. */
static void put_text(struct cfs_repo *repo, const char *text, uint8_t *digest)
{
	CHECK_EQ_INT(cfs_verity_digest_buf(CFS_HASH_SHA256, text, strlen(text), digest), 0);
	CHECK_EQ_INT(cfs_objstore_put_buf(cfs_repo_objstore(repo), text, strlen(text), digest), 0);
}

static bool has_object(struct cfs_repo *repo, const uint8_t *digest)
{
	return cfs_objstore_has(cfs_repo_objstore(repo), digest) == 1;
}

static void make_file(const char *dir, const char *name)
{
	char path[600];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	CHECK(fd >= 0);
	close(fd);
}

/*
 * gc keeps what an image ref, a stream ref and a stream's named reference reach, and
 * removes an orphan object, an untagged image, dangling refs of both kinds, a stream link
 * no ref reaches, temporaries in ref directories and empty ref directories. A dry run
 * counts the same and removes nothing.
 */
static void test_gc(void)
{
	char root[200], path[512], hex[129], err[256] = "";
	uint8_t got[32], keep_img[32], keep_obj[32], drop_img[32], drop_obj[32], orphan[32], layer_obj[32], layer[32];
	uint8_t named_img[32], named_obj[32], loose[32], *buf = NULL;
	struct cfs_splitstream_writer *w = NULL;
	struct cfs_repo *repo = NULL;
	struct cfs_repo_gc_stats gs;
	struct cfs_repo_fsck_stats fs;
	struct cfs_node *t;
	size_t len;

	snprintf(root, sizeof(root), "%s/gc", tmpdir);
	CHECK_EQ_INT(cfs_repo_init(AT_FDCWD, root, CFS_HASH_SHA256, 0, err, sizeof(err)), 0);
	CHECK_EQ_INT(cfs_repo_open(AT_FDCWD, root, 0, &repo, err, sizeof(err)), 0);

	t = make_tree(repo, "kept through a nested image ref", keep_obj);
	CHECK_EQ_INT(cfs_repo_commit_tree(repo, t, "a/b/kept", keep_img), 0);
	cfs_node_unref(t);
	t = make_tree(repo, "an image whose ref goes", drop_obj);
	CHECK_EQ_INT(cfs_repo_commit_tree(repo, t, "dropped", drop_img), 0);
	cfs_node_unref(t);
	CHECK_EQ_INT(cfs_repo_untag(repo, "dropped"), 0);
	/* an image with no ref of its own, named by a stream (as composefs.image names one) */
	t = make_tree(repo, "an image only a stream names", named_obj);
	CHECK_EQ_INT(cfs_repo_commit_tree(repo, t, NULL, named_img), 0);
	cfs_node_unref(t);
	put_text(repo, "an object nothing names", orphan);

	/* a split stream (external object + named image) behind streams/refs/x/y */
	put_text(repo, "layer content kept by the stream", layer_obj);
	CHECK_EQ_INT(cfs_splitstream_writer_new(CFS_HASH_SHA256, 0, &w), 0);
	CHECK_EQ_INT(cfs_splitstream_write_inline(w, "header", 6), 0);
	CHECK_EQ_INT(cfs_splitstream_write_external(w, layer_obj, strlen("layer content kept by the stream")), 0);
	CHECK_EQ_INT(cfs_splitstream_add_named_ref(w, "composefs.image", named_img), 0);
	CHECK_EQ_INT(cfs_splitstream_writer_finish(w, &buf, &len), 0);
	cfs_splitstream_writer_free(w);
	CHECK_EQ_INT(cfs_verity_digest_buf(CFS_HASH_SHA256, buf, len, layer), 0);
	CHECK_EQ_INT(cfs_objstore_put_buf(cfs_repo_objstore(repo), buf, len, layer), 0);
	free(buf);
	CHECK_EQ_INT(cfs_repo_stream_set(repo, "layer", layer), 0);
	CHECK_EQ_INT(cfs_repo_stream_ref_set(repo, "x/y", "layer"), 0);
	/* a stream no ref reaches: its link and object go */
	put_text(repo, "a stream nobody refers to", loose);
	CHECK_EQ_INT(cfs_repo_stream_set(repo, "loose", loose), 0);

	/* dangling refs of both kinds, a temporary in a ref directory, empty ref directories */
	cfs_repo_digest_hex(repo, orphan, hex);
	snprintf(path, sizeof(path), "%s/images/refs/dangling", root);
	snprintf(err, sizeof(err), "../%s", hex);
	CHECK(symlink(err, path) == 0);
	snprintf(path, sizeof(path), "%s/streams/refs/gone", root);
	CHECK(symlink("../nosuchstream", path) == 0);
	snprintf(path, sizeof(path), "%s/images/refs/a", root);
	make_file(path, ".tmp-1-ref");
	snprintf(path, sizeof(path), "%s/images/refs/empty", root);
	CHECK(mkdir(path, 0755) == 0);
	snprintf(path, sizeof(path), "%s/images/refs/empty/deeper", root);
	CHECK(mkdir(path, 0755) == 0);

	for (int dry = 1; dry >= 0; dry--) {
		CHECK_EQ_INT(cfs_repo_gc(repo, dry ? CFS_REPO_GC_DRY_RUN : 0, &gs), 0);
		CHECK_EQ_INT(gs.objects_removed, 4); /* drop_img, drop_obj, orphan, loose */
		CHECK_EQ_INT(gs.objects_kept, 6);    /* keep_img, keep_obj, named_img, named_obj, layer, layer_obj */
		CHECK_EQ_INT(gs.images_removed, 1);
		CHECK_EQ_INT(gs.images_kept, 2);
		CHECK_EQ_INT(gs.refs_removed, 3); /* both dangling refs, streams/loose */
		CHECK_EQ_INT(gs.temp_removed, 1); /* .tmp-1-ref; our own live store handle's lock in objects/ stays */
		CHECK(has_object(repo, orphan) == (dry != 0));
		CHECK(has_object(repo, drop_obj) == (dry != 0));
		CHECK(has_object(repo, drop_img) == (dry != 0));
		CHECK(has_object(repo, loose) == (dry != 0));
		CHECK(has_object(repo, keep_img) && has_object(repo, keep_obj) && has_object(repo, layer) &&
		      has_object(repo, layer_obj) && has_object(repo, named_img) && has_object(repo, named_obj));
		snprintf(path, sizeof(path), "%s/images/refs/empty", root);
		CHECK((access(path, F_OK) == 0) == (dry != 0));
		snprintf(path, sizeof(path), "%s/images/refs/a/.tmp-1-ref", root);
		CHECK((access(path, F_OK) == 0) == (dry != 0));
		snprintf(path, sizeof(path), "%s/images/refs/dangling", root);
		CHECK((faccessat(AT_FDCWD, path, F_OK, AT_SYMLINK_NOFOLLOW) == 0) == (dry != 0));
	}
	CHECK_EQ_INT(cfs_repo_resolve(repo, "a/b/kept", got, NULL), 0);
	CHECK(memcmp(got, keep_img, 32) == 0);
	CHECK_EQ_INT(cfs_repo_stream_ref_get(repo, "x/y", path, sizeof(path)), 0);
	CHECK_EQ_STR(path, "layer");
	CHECK_EQ_INT(cfs_repo_stream_get(repo, "loose", layer), -ENOENT);
	CHECK_EQ_INT(cfs_repo_stream_ref_get(repo, "gone", path, sizeof(path)), -ENOENT);

	/* a second run finds nothing more, and the repository is clean */
	CHECK_EQ_INT(cfs_repo_gc(repo, 0, &gs), 0);
	CHECK_EQ_INT(gs.objects_removed + gs.images_removed + gs.refs_removed + gs.temp_removed, 0);
	CHECK_EQ_INT(gs.objects_kept, 6);
	CHECK_EQ_INT(cfs_repo_fsck(repo, 0, NULL, NULL, &fs), 0);
	CHECK_EQ_INT(fs.problems, 0);
	cfs_repo_free(repo);
}

int main(void)
{
	char cmd[100];

	CHECK(mkdtemp(tmpdir) != NULL);
	test_meta();
	test_names();
	test_digest_set();
	test_repository();
	test_gc();
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	CHECK(system(cmd) == 0);
	printf("repo tests passed\n");
	return 0;
}
